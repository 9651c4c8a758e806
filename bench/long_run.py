"""Benchmark program: about 2 * N line events; `marker` changes once, halfway."""

import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
marker = 0
acc = 0
i = 0
while i < N:
    i += 1
    if i == N // 2:
        marker = 1
    acc += i
done = True
