"""Garbage collection at fixed event times, the same in every run and replay.

CPython collects reference cycles when enough objects have been allocated, and the agent's
own work (tracing, scanning, evaluating watches) allocates too, differently in each kind of
run. Finalizers and weakref callbacks of the program's objects (asyncio's tasks, for one)
would then run at other points of a replay than of the run it replays, which takes another
path. So automatic collection is off, and the agent's clock collects every EVENTS events,
with the younger generations more often than the older, as CPython does; finalizers run
there (untraced, since the clock runs inside the trace function). The program's own
gc.enable(), gc.disable() and gc.isenabled() keep working, on fred's schedule.

The oldest generation is collected once every FULL events. A full collection walks every
object the process holds (some 3 ms with nothing but pdb loaded, more as the program's
data grows), and CPython's own rule puts one off until the long-lived objects have grown
by a quarter, which most stretches of a run never do: one every 10^5 events was a fifth
of the time of a scan, for nothing.
"""

import gc

EVENTS = 1000
FULL = 1000000

_real = {"enable": gc.enable, "disable": gc.disable, "isenabled": gc.isenabled}


def next_time(t):
    """The next collection's event time after `t`."""
    return (t // EVENTS + 1) * EVENTS


def collect(agent, t):
    """At event `t` (a multiple of EVENTS): collect as the program's own gc would have."""
    if agent.gc_wanted:
        n = t // EVENTS
        gc.collect(2 if t % FULL == 0 else 1 if n % 10 == 0 else 0)


def install(agent):
    agent.gc_wanted = _real["isenabled"]()
    _real["disable"]()

    def enable():
        agent.gc_wanted = True

    def disable():
        agent.gc_wanted = False

    def isenabled():
        return agent.gc_wanted

    for f in (enable, disable, isenabled):
        agent.hidden_code.add(f.__code__)
    gc.enable, gc.disable, gc.isenabled = enable, disable, isenabled


def release(agent):
    """In a child the program forked, which runs without fred's clock: CPython's own
    collection again, as the program last asked for it."""
    gc.enable, gc.disable, gc.isenabled = (_real["enable"], _real["disable"],
                                           _real["isenabled"])
    if agent.gc_wanted:
        gc.enable()
