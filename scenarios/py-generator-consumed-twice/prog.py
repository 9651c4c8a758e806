"""Average of the valid readings: the count comes out as zero."""


def valid(readings):
    for r in readings:
        if r is not None and r >= 0:
            yield r


readings = [3.5, None, 4.0, -1.0, 5.5, 4.5]
good = valid(readings)
total = sum(good)
count = len(list(good))  # bug: the generator was used up by sum()
print("total", total, "count", count)
average = total / count
