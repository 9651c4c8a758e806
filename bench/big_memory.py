"""Benchmark program: allocates MB megabytes, touches them once, then only steps."""

import sys

MB = int(sys.argv[1]) if len(sys.argv) > 1 else 64
data = bytearray(MB * 1024 * 1024)
for k in range(0, len(data), 4096):
    data[k] = 1
x = 0
while x < 10**9:
    x += 1
