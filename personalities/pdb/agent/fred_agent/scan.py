"""Scanning a stretch of the run for the last events that match fred's query."""

import bdb

from . import watch as watchlib
from .watchscan import watch_hook

GEN_FLAGS = getattr(bdb, "GENERATOR_AND_COROUTINE_FLAGS", 0x20 | 0x80 | 0x200)
# The C scans' numbers for events (PyTrace_*), and the bit that says a query names them.
EVENT_NUMBERS = {"call": 0, "exception": 1, "line": 2, "return": 3, "opcode": 7}
KINDS_GIVEN = 1 << 31


class ScanMixin:
    """Find the last stops before a time that match a query (part of FredPdb)."""

    def scan_start(self, frame, event):
        s = self.scan
        depth = self.stop_depth(frame) if frame is not None else 0
        s["d"] = depth - 1 if event == "call" else depth
        s["found"] = []
        s["broke"] = False
        s["entry"] = None
        s["error"] = None
        s.setdefault("keep", 1)
        self.scan_hook = self.scan_event
        if s.get("watch"):
            watchlib.WATCHDOG.start(self.hidden_code)
            self.scan_hook = watch_hook(self, s, frame)
        elif self.native is not None:
            self.scan_hook = self.stop_scan(s)

    def stop_scan(self, s):
        """scan_event in C, for the C clock."""
        kinds = 0
        if s.get("kinds") is not None:
            kinds = KINDS_GIVEN
            for k in s["kinds"]:
                kinds |= 1 << EVENT_NUMBERS.get(k, 30)
        return self.native.StopScan(
            s=s, d=s["d"], kinds=kinds, depth=s.get("depth"), floor=s.get("floor"),
            keep=s["keep"], waiting=bool(getattr(self, "_wait_for_mainpyfile", False)),
            breakpoints=bool(s.get("breakpoints")), gen_flags=GEN_FLAGS,
            found_at=self.found_at, would_break=self.would_break,
            break_lines=lambda filename: self.breaks.get(self.canonic(filename)) or None)

    def is_step_stop(self, frame, event, arg):
        """Would pdb's `step` stop at this event? (bdb's own rules in step mode.)"""
        if getattr(self, "_wait_for_mainpyfile", False):
            return False
        if event == "exception":
            return not (frame.f_code.co_flags & GEN_FLAGS
                        and arg[0] is StopIteration and arg[2] is None)
        return event in ("line", "call", "return")

    def scan_event(self, frame, event, arg, t):
        s = self.scan
        if event == "call":
            s["d"] += 1
        d = s["d"]
        if event == "return":
            s["d"] -= 1
        floor = s.get("floor")
        if floor is not None and d < floor:
            s["found"] = []
            s["broke"] = True
            s["entry"] = None
        kinds = s.get("kinds")
        if kinds is not None and event not in kinds:
            return
        want = s.get("depth")
        if want is not None and d != want:
            return
        if not self.is_step_stop(frame, event, arg):
            return
        if s.get("breakpoints") and not (event == "line" and self.would_break(frame)):
            return
        found = s["found"]
        found.append({"time": t, "depth": d, "event": event,
                      "location": {"file": self.canonic(frame.f_code.co_filename),
                                   "line": frame.f_lineno,
                                   "function": frame.f_code.co_name}})
        if len(found) > s["keep"]:
            del found[0]

    def watch_stuck(self, s, expr, t):
        """The expression did not finish at this stop: give up the search (the program runs
        on to the end of the stretch untouched)."""
        s["error"] = ("%s did not finish within %d s (at t=%d); the search stops"
                      % (expr, watchlib.EVAL_LIMIT_S, t))
        s["found"] = []
        watchlib.WATCHDOG.stop()

    def found_at(self, here):
        t, d, event, code, line = here
        return {"time": t, "depth": d, "event": event,
                "location": {"file": self.canonic(code.co_filename), "line": line,
                             "function": code.co_name}}

    def scan_finish(self, frame, event=None):
        s = self.scan
        finish = getattr(self.scan_hook, "finish", None)
        if finish is not None:
            finish(frame)
        if s.get("watch"):
            watchlib.WATCHDOG.stop()
        reached = None
        if frame is not None:
            reached = {"file": self.canonic(frame.f_code.co_filename), "line": frame.f_lineno,
                       "function": frame.f_code.co_name}
        self.scan_result = {"found": s["found"], "broke": s["broke"], "entry": s["entry"],
                            "error": s["error"], "reached": reached,
                            "reached_event": event if frame is not None else None}
        last = s.pop("last_value", s)
        if last is not s and s.get("watch") and watchlib.calls(s["watch"]["expr"]):
            # An expression that calls code may change what it watches as it is
            # evaluated in place; its value at the end tells fred whether it did.
            self.scan_result["last"] = watchlib.show(last)
        self.scan = None
        self.scan_hook = None

    def would_break(self, frame):
        """Would an enabled breakpoint stop here? Pure: hit and ignore counts are untouched."""
        filename = self.canonic(frame.f_code.co_filename)
        lines = self.breaks.get(filename)
        if not lines:
            return False
        lineno = frame.f_lineno
        if lineno not in lines:
            lineno = frame.f_code.co_firstlineno
            if lineno not in lines:
                return False
        for b in bdb.Breakpoint.bplist.get((filename, lineno), []):
            if not b.enabled or not bdb.checkfuncname(b, frame):
                continue
            if not b.cond:
                return True
            try:
                if eval(b.cond, frame.f_globals, frame.f_locals):
                    return True
            except Exception:
                return True
        return False

