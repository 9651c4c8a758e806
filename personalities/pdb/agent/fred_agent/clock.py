"""The C clock's windows (part of FredPdb): a replay (GOTO) or scan (SCAN) that fred asks
for runs on the C clock (native.py, clock.c) from the moment it is set up to the event it
ends at, and trace_dispatch, the Python clock, takes over again there.

During a window the mode is FAST and the C clock is the trace function; it counts the
events and calls clock_check where trace_dispatch would call check. An event that reaches
trace_dispatch during a window anyway (the program switched tracing off and on again) goes
to check(), which hands it to the C clock (next_check is -1 for that).
"""

import bdb
import sys

from . import untraced

# FAST: a GOTO or SCAN run by the C clock; clock_mode says which.
NORMAL, GOTO, SCAN, FAST = 0, 1, 2, 3


class ClockMixin:
    """Windows of the C clock (part of FredPdb)."""

    def init_clock(self, native):
        """`native`: the C clock's module, or None (the Python clock only)."""
        self.native = native
        self.clock = None
        self.clock_mode = NORMAL
        if native is not None:
            untraced.CLOCK = native.Clock
            self.clock = native.Clock(self, self.trace_dispatch, self.hidden_code,
                                      self.clock_check)

    def now(self):
        """The program's event time, also while the C clock counts (self.t is its time
        only at the last clock_check then)."""
        return self.clock.t if self.mode == FAST else self.t

    def check_soon(self):
        """Let the next event look for an automatic checkpoint (see sleeps.py)."""
        t = self.now() + 1
        self.next_auto = min(self.next_auto, t)
        if self.mode == FAST:
            self.clock.next_check = min(self.clock.next_check, t)
        else:
            self.next_check = min(self.next_check, t)

    def open_clock(self, frame, event, arg, dispatch):
        """Run the replay or scan just set up on the C clock, if there is one.
        `dispatch`: the current event is the stretch's first, still to be scanned."""
        if self.clock is None:
            return
        hook = self.scan_hook if self.mode == SCAN else None
        self.clock.start(self.t, self.next_check, hook, self.botframe)
        self.clock_mode, self.mode = self.mode, FAST
        self.next_check = -1  # an event that reaches trace_dispatch goes to check()
        if dispatch and hook is not None:
            hook(frame, event, arg, self.t)

    def clock_check(self, frame, event, arg, t, adopted):
        """The C clock has reached next_check, at event t: do what trace_dispatch does
        there. Returns what trace_dispatch would return, for an event dealt with here.
        `adopted`: the event came through trace_dispatch, which goes on with it."""
        self.t = t
        self.mode = self.clock_mode
        self.check(frame, event, arg)
        if self.mode == FAST:  # another window, opened by check()
            return self.trace_dispatch
        if self.mode == NORMAL:
            self.close_clock()
            return None if adopted else self.dispatch_rest(frame, event, arg)
        self.clock.next_check = self.next_check
        self.mode = FAST
        self.next_check = -1
        return None

    def close_clock(self):
        """The C clock's window is over: back to trace_dispatch, at the C clock's time."""
        self.t = self.clock.t
        self.clock.stop()
        if self.mode == FAST:
            self.mode = self.clock_mode
        sys.settrace(self.trace_dispatch)
        self.next_check = min(self.next_auto, self.target, self.next_gc)

    def dispatch_rest(self, frame, event, arg):
        """What trace_dispatch does at an event after counting it, in NORMAL mode (for
        the event at which a C clock's window ended; trace_dispatch keeps its own copy
        inline, since it runs at every event)."""
        if self.watches:
            self.check_watches(frame, event)
        if self.stoplineno == -1:
            if event != "line":
                return self.trace_dispatch
            lines = self.break_lines.get(frame.f_code.co_filename, ())
            if lines == ():
                lines = self.break_lines_of(frame.f_code.co_filename)
            if not lines or (frame.f_lineno not in lines
                             and frame.f_code.co_firstlineno not in lines):
                return self.trace_dispatch
        return bdb.Bdb.trace_dispatch(self, frame, event, arg)
