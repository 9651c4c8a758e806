"""Nondeterminism made replayable: clocks and the OS's randomness.

The values that time.time(), time.monotonic(), time.perf_counter() (and their _ns forms),
os.urandom() and os.getrandom() return to the program while the user runs it forward
(random.SystemRandom and secrets included: they call os.urandom under another name) are
sent to fred with the event time and the place they were taken at. A copy restored from a
checkpoint gets back from fred the values taken after that checkpoint and returns them
again, in order, so a replay takes the same path as the run it replays. `random` is imported
(and so seeded) before the first checkpoint, so its state is part of every checkpoint.

A replay that asks for a value at another time, or another value, than the run it replays
has left the recorded path: the first such place is kept (`diverged`) and fred says so, with
both places, instead of showing a past that never happened. Values the user's own commands
take at a prompt (`p time.time()`) are not the program's: they are neither logged nor
replayed.
"""

import base64
import os
import random  # noqa: F401  (seeded now, before any checkpoint)
import sys
import time

from . import untraced
from .clock import NORMAL


NAMES = (
    (time, "time"), (time, "time_ns"), (time, "monotonic"), (time, "monotonic_ns"),
    (time, "perf_counter"), (time, "perf_counter_ns"), (os, "urandom"), (os, "getrandom"),
)
# Other names the same functions are called by: random.SystemRandom (and so secrets) calls
# os.urandom as random._urandom.
ALIASES = ((random, "_urandom", "urandom"),)


def encode(value):
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    return value


def decode(value):
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return value


def _place(frame):
    code = frame.f_code
    return "%s:%d %s" % (os.path.basename(code.co_filename), frame.f_lineno, code.co_name)


def _wrap(agent, name, real):
    def replayable(*args):
        previous = untraced.stop()
        try:
            if agent.prompting:
                return real(*args)
            queue = agent.replay_values  # the next value is last
            if queue:
                when, recorded, value, where = queue[-1]
                if recorded == name and when == agent.now():
                    queue.pop()
                    return decode(value)
                if agent.mode != NORMAL and agent.diverged is None:
                    agent.diverged = (
                        "the replay took %s at t=%d %s; the recorded run took %s at t=%d %s"
                        % (name, agent.now(), _place(sys._getframe(1)), recorded, when, where))
                queue.clear()  # off the recorded path
            value = real(*args)
            if agent.mode == NORMAL:
                agent.value_log.append([agent.now(), name, encode(value),
                                        _place(sys._getframe(1))])
            return value
        finally:
            untraced.resume(previous)
    return replayable


def install(agent):
    """Replace the nondeterministic functions by recording/replaying ones."""
    agent.replay_values = []
    agent.value_log = []
    agent.diverged = None
    wrappers = {}
    for module, name in NAMES:
        real = getattr(module, name, None)
        if real is not None:
            wrapper = wrappers[name] = _wrap(agent, name, real)
            agent.hidden_code.add(wrapper.__code__)
            setattr(module, name, wrapper)
    for module, attr, name in ALIASES:
        if name in wrappers and hasattr(module, attr):
            setattr(module, attr, wrappers[name])


def random_state():
    """random's state, to restore in a fork child: the random module reseeds itself in every
    child (os.register_at_fork), which would make each copy's random numbers new ones."""
    return random.getstate()


def restore_random(state):
    random.setstate(state)


def take(agent, entries):
    """The values to return again, as fred sent them on a restore: `[time, name, value,
    place]` each (older logs have no place)."""
    agent.replay_values = [(e[0], e[1], e[2], e[3] if len(e) > 3 else "?")
                           for e in reversed(entries or [])]
    agent.diverged = None
