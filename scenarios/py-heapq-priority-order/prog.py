"""A job queue on heapq: the urgent job should run first, but a routine one does."""

import heapq
from collections import namedtuple

Job = namedtuple("Job", "name priority")
queue = []


def submit(job):
    heapq.heappush(queue, (job.name, job.priority))  # bug: orders by name, not priority


for job in [Job("backup", 5), Job("alert", 9), Job("cleanup", 1), Job("deploy", 0)]:
    submit(job)

first = heapq.heappop(queue)
print("running first:", first)
assert first[1] == 0, "the most urgent job (priority 0) should run first"
