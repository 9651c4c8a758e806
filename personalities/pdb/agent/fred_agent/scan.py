"""Scanning a stretch of the run for the last events that match fred's query."""

import bdb

from . import watch as watchlib

GEN_FLAGS = getattr(bdb, "GENERATOR_AND_COROUTINE_FLAGS", 0x20 | 0x80 | 0x200)


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
        spec = s.get("watch")
        if spec:
            s["w"] = watchlib.from_spec(spec)
            watchlib.WATCHDOG.start(self.hidden_code)
            s["prev"] = None
            s["lines"] = {}
            s["wframe"] = None
            if spec["local"] and frame is not None:
                f, fd = frame, self.stop_depth(frame)
                while f is not None and fd > spec["depth"]:
                    f, fd = f.f_back, fd - 1
                s["wframe"] = f if fd == spec["depth"] else None

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
        if s["error"]:
            return
        if "w" in s:
            return self.watch_event(s, frame, event, arg, t, d)
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

    def watch_event(self, s, frame, event, arg, t, d):
        """Evaluate the watched expression at a stop; a different value than at the stop
        before means the statement at that stop changed it. (The hot path of a watch
        search: stops are remembered as plain tuples (t, depth, event, code, line).)"""
        w = s["w"]
        if event == "line":
            s["lines"][d] = (frame, (t, d, event, frame.f_code, frame.f_lineno))
        if w.local:
            if d < w.depth:
                s["prev"] = None
                s["wframe"] = None
                return
            if d == w.depth:
                s["wframe"] = frame
            if s["wframe"] is None:
                return
        if event == "exception" and not self.is_step_stop(frame, event, arg):
            return
        try:
            value = w.value_in(s["wframe"])
        except watchlib.Stuck:
            return self.watch_stuck(s, t)
        at = (t, d, event, frame.f_code, frame.f_lineno)
        if s["entry"] is None:
            s["entry"] = self.found_at(at)
        prev = s["prev"]
        if prev is not None and not (prev[0] is value or watchlib.same(prev[0], value)):
            self.record_change(s, prev, value)
        # After a return, the code that runs next is the rest of the caller's line: that
        # is the statement that may change the value.
        if event == "return":
            line = s["lines"].get(d - 1)
            if line is not None and line[0] is frame.f_back:
                at = line[1]
        s["prev"] = (value, at)

    def watch_stuck(self, s, t):
        """The expression did not finish at this stop: give up the search (the program runs
        on to the end of the stretch untouched)."""
        s["error"] = ("%s did not finish within %d s (at t=%d); the search stops"
                      % (s["w"].expr, watchlib.EVAL_LIMIT_S, t))
        del s["w"]
        s["found"] = []
        watchlib.WATCHDOG.stop()

    def compare(self, s, value):
        """Record a change from the previous evaluation to `value`."""
        prev = s["prev"]
        if prev is not None and not watchlib.same(prev[0], value):
            self.record_change(s, prev, value)

    def record_change(self, s, prev, value):
        hit = self.found_at(prev[1])
        hit["old"] = watchlib.show(prev[0])
        hit["new"] = watchlib.show(value)
        s["found"] = [hit]

    def found_at(self, here):
        t, d, event, code, line = here
        return {"time": t, "depth": d, "event": event,
                "location": {"file": self.canonic(code.co_filename), "line": line,
                             "function": code.co_name}}

    def scan_finish(self, frame, event=None):
        s = self.scan
        w = s.get("w")
        if w is not None and s["prev"] is not None and (frame is not None or not w.local):
            # The value at the end of the stretch, to catch a change by its last stop.
            try:
                self.compare(s, w.value_in(s["wframe"] if w.local else None))
            except watchlib.Stuck:
                self.watch_stuck(s, self.t)
        if w is not None:
            watchlib.WATCHDOG.stop()
        reached = None
        if frame is not None:
            reached = {"file": self.canonic(frame.f_code.co_filename), "line": frame.f_lineno,
                       "function": frame.f_code.co_name}
        self.scan_result = {"found": s["found"], "broke": s["broke"], "entry": s["entry"],
                            "error": s["error"], "reached": reached,
                            "reached_event": event if frame is not None else None}
        self.scan = None

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

