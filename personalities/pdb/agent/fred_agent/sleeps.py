"""A checkpoint soon after the program sleeps.

The agent checkpoints by itself every so many milliseconds of running, but it looks at the
clock only every few thousand events. A program that sleeps between a few events (pacing,
polling) would run on with no checkpoint after its first sleep, and every reverse command
would replay it from there, sleeping again: slower than running it anew. So when
time.sleep() returns and a checkpoint is due, the next event looks.
"""

import time
from time import monotonic  # bound before nondet.install patches the module

from . import untraced


def install(agent):
    real = time.sleep

    def sleep(seconds):
        real(seconds)
        if agent.auto_ms > 0 and monotonic() - agent.last_snapshot_wall >= agent.auto_ms / 1000:
            previous = untraced.stop()  # (the agent's code: not the program's time)
            try:
                agent.check_soon()
            finally:
                untraced.resume(previous)

    agent.hidden_code.add(sleep.__code__)
    sleep.__doc__ = real.__doc__
    time.sleep = sleep
