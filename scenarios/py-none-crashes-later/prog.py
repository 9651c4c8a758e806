"""Orders are priced from a catalogue; one lookup quietly returns None and the program
crashes much later, far from the cause."""

CATALOGUE = {"apple": 0.5, "bread": 2.25, "cheese": 7.0, "dates": 4.5}


def price_of(item):
    return CATALOGUE.get(item.strip().lower())


ledger = []


def priced(order):
    for item, count in order:
        ledger.append((item, count, price_of(item)))
    return ledger


def summary(lines):
    text = []
    for item, count, price in lines:
        text.append("%-8s x%d" % (item, count))
    return text


def total(lines):
    return sum(count * price for _, count, price in lines)


order = [("Apple", 4), ("bread", 1), ("cheeze", 2), ("dates", 3)]
lines = priced(order)
for row in summary(lines):
    print(row)
print("total", total(lines))
