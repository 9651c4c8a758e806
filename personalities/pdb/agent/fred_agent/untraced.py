"""Running the agent's own code on the program's behalf without tracing it: what it runs
there is not the program's, so it must not count in the program's time.

With the Python clock that is sys.settrace(None) and back; the C clock is paused instead
(switching it off and on again would cost more than the work it brackets).
"""

import sys

CLOCK = None  # the C clock's type, once loaded


def stop():
    """Stop tracing; returns what `resume` needs. (Hidden code: its own call is not
    counted.)"""
    previous = sys.gettrace()
    if CLOCK is not None and type(previous) is CLOCK:
        previous.pause()
    else:
        sys.settrace(None)
    return previous


def resume(previous):
    """Trace again as before `stop`."""
    if CLOCK is not None and type(previous) is CLOCK:
        previous.unpause()
    else:
        sys.settrace(previous)
