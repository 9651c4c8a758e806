"""Benchmark program: a loop whose `hit` function is called (and breakpointed) 1000 times."""


def work(k):
    s = 0
    for j in range(200):
        s += j * k
    return s


def hit(k):
    return k + 1


total = 0
for i in range(1000):
    total += work(i)
    total = hit(total)
print(total)
