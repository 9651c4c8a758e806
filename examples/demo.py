"""A small program to try fred-pdb on: calls, a loop, recursion and an exception."""


def square(n):
    result = n * n
    return result


def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)


def total(values):
    acc = 0
    for v in values:
        acc += square(v)
    return acc


def main():
    values = [1, 2, 3, 4]
    print("total", total(values))
    print("fact", fact(5))
    ratio = total(values) / (len(values) - 4)
    print("ratio", ratio)


main()
