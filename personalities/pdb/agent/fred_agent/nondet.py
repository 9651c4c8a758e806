"""Nondeterminism made replayable: clocks and the OS's randomness.

The values that time.time(), time.monotonic(), time.perf_counter() (and their _ns forms)
and os.urandom() return to the program while the user runs it forward are sent to fred with
the event time they were taken at. A copy restored from a checkpoint gets back from fred the
values taken after that checkpoint and returns them again, in order, so a replay takes the
same path as the run it replays. `random` is imported (and so seeded) before the first
checkpoint, so its state is part of every checkpoint.
"""

import base64
import os
import random  # noqa: F401  (seeded now, before any checkpoint)
import time

from . import untraced


NAMES = (
    (time, "time"), (time, "time_ns"), (time, "monotonic"), (time, "monotonic_ns"),
    (time, "perf_counter"), (time, "perf_counter_ns"), (os, "urandom"),
)


def encode(value):
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    return value


def decode(value):
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return value


def _wrap(agent, name, real):
    def replayable(*args):
        previous = untraced.stop()
        try:
            queue = agent.replay_values  # the next value is last
            if queue:
                if queue[-1][0] == name:
                    return decode(queue.pop()[1])
                queue.clear()  # off the recorded path: divergence shows elsewhere
            value = real(*args)
            if agent.mode == 0:
                agent.value_log.append([agent.t, name, encode(value)])
            return value
        finally:
            untraced.resume(previous)
    return replayable


def install(agent):
    """Replace the nondeterministic functions by recording/replaying ones."""
    agent.replay_values = []
    agent.value_log = []
    for module, name in NAMES:
        real = getattr(module, name, None)
        if real is not None:
            wrapper = _wrap(agent, name, real)
            agent.hidden_code.add(wrapper.__code__)
            setattr(module, name, wrapper)


def random_state():
    """random's state, to restore in a fork child: the random module reseeds itself in every
    child (os.register_at_fork), which would make each copy's random numbers new ones."""
    return random.getstate()


def restore_random(state):
    random.setstate(state)


def take(agent, entries):
    """The values to return again, as fred sent them on a restore."""
    agent.replay_values = [[name, value] for _, name, value in reversed(entries or [])]
