"""reverse-watch's search: the last change of an expression's value in a stretch.

Natively, when gdb can watch the expression in hardware: the program runs on the native
clock with a hardware watchpoint that notes every change (the counter value then, the
frame that wrote, the values), and a stop after each system call that can write memory
(the kernel's writes are not seen by the debug registers). A second run stops just after
the last change and reads, from the ring, the stop whose statement made it.

Otherwise (function calls, a local gdb cannot pin), walking: the expression is evaluated
at every stop.
"""

import re

import gdb

import fred_gdb_events as ev
from fred_gdb import error_value, frame_base, newest
from fred_gdb_find import (KEEP_WINDOW, Stretch, cut, last_hit_in, last_stop_in, read_stops,
                           restore_again, stack_bases, until_of, window)
from fred_gdb_native import RING
from fred_gdb_scan import Run

# System calls that write into the program's memory.
WRITERS = "read pread64 readv preadv preadv2 recvfrom recvmsg recvmmsg"
PLAIN = re.compile(r"^[A-Za-z_]\w*(\s*\.\s*[A-Za-z_]\w*|\s*\[\s*\d+\s*\])*$")


class Changes(gdb.Breakpoint):
    """A hardware watchpoint that notes each change of the value, never stopping."""

    def __init__(self, watcher, expr, location):
        super().__init__(expr, gdb.BP_WATCHPOINT, internal=True)
        self.watcher = watcher

    def stop(self):
        # A write by an instruction moved into a stub: gdb sees the original pc (and so
        # the frame and its locals) while the value is read.
        pc = gdb.selected_frame().pc()
        clock = self.watcher.agent.clock
        orig = clock.original_pc(pc) if clock is not None else pc
        if orig != pc:
            gdb.execute("set $pc = %d" % orig, to_string=True)
        try:
            self.watcher.check(in_stub=orig != pc)
        finally:
            if orig != pc:
                gdb.execute("set $pc = %d" % pc, to_string=True)
        return False


class Watcher:
    """The watched expression, evaluated where fred asked (its frame, for a local)."""

    def __init__(self, ops, w):
        self.ops = ops
        self.agent = ops.agent
        self.expr = w["expr"]
        self.calls = bool(w.get("calls"))
        self.base = w.get("base")
        self.run = None
        self.prev = None
        self.changes = []  # (counter value, frame base of the writer, old, new)

    def frame(self):
        """The watched frame instance (a library frame has the same frame pointer as the
        frame that called it: only the program's own frames count)."""
        program = self.agent.program
        frame = newest()
        while frame is not None and not (program.owns(frame) and frame_base(frame) == self.base):
            frame = frame.older()
        return frame

    def value(self):
        """The value as gdb prints it; an error counts as a value; None: the watched frame
        is not live."""
        self.agent.evaluating = True
        try:
            # A local in its frame; globals as the program's own code sees them (inside a
            # library function, its parameters could hide them).
            frame = self.frame() if self.base is not None else self.agent.user_frame()
            if frame is None:
                return None
            frame.select()
            # A function the expression calls runs the program's original code, not the
            # stubs, which would count its lines as the program's.
            clock = self.agent.clock
            unpatch = self.calls and clock is not None and clock.patched
            if unpatch:
                clock.set_patched(False)
            try:
                return str(gdb.parse_and_eval(self.expr))
            except gdb.error as e:
                return error_value(e)
            finally:
                if unpatch:
                    clock.set_patched(True)
                gdb.newest_frame().select()
        finally:
            self.agent.evaluating = False

    def writer(self):
        """The frame base of the program's own code that wrote (the innermost own frame:
        a library function it called may have)."""
        frame = self.agent.user_frame()
        return frame_base(frame) if frame is not None else 0

    def check(self, in_stub=False):
        value = self.value()
        if value is None or value == self.prev:
            return
        if self.prev is not None:
            self.changes.append((self.run.counter(), self.writer(), self.prev, value))
        self.prev = value


def hardware_watchable(ops, w):
    return not w.get("calls") and (w.get("base") is None or PLAIN.match(w["expr"].strip()))


def native(ops, req):
    """The native search, or None when gdb cannot watch the expression in hardware."""
    s = Stretch(ops, req)
    w = s.query["watch"]
    watcher = Watcher(ops, w)
    made = []

    def prepare(r):
        watcher.run = r
        if watcher.base is not None:
            frame = watcher.frame()
            if frame is None:
                raise NotHere()
        try:
            if watcher.base is not None:
                # A local: its place in this frame instance, watched there.
                frame.select()
                where = gdb.parse_and_eval("&(%s)" % w["expr"])
                expr = "*(%s) %d" % (where.type, int(where))
            else:
                expr = w["expr"]
            bp = Changes(watcher, expr, None)
        except (gdb.error, RuntimeError):
            raise NotHere()
        finally:
            gdb.newest_frame().select()
        made.append(bp)
        if bp.type != gdb.BP_HARDWARE_WATCHPOINT:
            raise NotHere()  # software watchpoints single-step: walking is faster
        before = {b.number for b in gdb.breakpoints()}
        gdb.execute("catch syscall " + WRITERS, to_string=True)
        made.extend(b for b in gdb.breakpoints() if b.number not in before)
        watcher.prev = watcher.value()
        r.on_stop = watcher.check

    try:
        r = s.run(prepare=prepare)
    except NotHere:
        for bp in made:
            if bp.is_valid():
                bp.delete()
        return None
    except gdb.error as e:
        if "hardware" not in str(e).lower() and "watchpoint" not in str(e).lower():
            raise
        for bp in made:
            if bp.is_valid():
                bp.delete()
        return None  # (too many locations for the debug registers)
    finally:
        pass
    for bp in made:
        if bp.is_valid():
            bp.delete()
    result = {"found": [], "broke": False, "entry": None}
    reached = s.reached()
    if not watcher.changes:
        r.finish()
    else:
        c, base, old, new = watcher.changes[-1]
        end = r.counter()
        whole = s.segments
        if c <= end - RING + KEEP_WINDOW:
            # Further back than the ring reaches: a run that stops just after the change.
            r.finish()
            s.segments = cut(s.segments, r, c + 1)
            r = s.run()
        stack = stack_bases(ops)
        hits, covered = window(r, c, KEEP_WINDOW, until_of(s.segments))
        read_stops(hits, s.program, stack, covered, r.start_state)
        r.finish()
        mine = [h for h in hits if h.in_frame and h.base == base]
        f = None
        if mine:
            h = mine[-1]
            f = ev.found(h, s.program) if h.location is None else dict(
                time=h.time(), depth=h.depth, event="line", location=h.location)
        else:
            # The writing frame's statement began further back than the ring reaches
            # (it called a long function): found by its frame.
            s.segments = cut(whole, s.last_run, c) if c > 0 else whole
            in_f, _ = last_hit_in(s, base) if c > 0 else (0, 0)
            found = last_stop_in(s, base, in_f) if in_f else []
            f = found[-1] if found else None
        if f is not None:
            result["found"] = [dict(f, old=old, new=new)]
    result = s.reply(result)
    result["reached"] = reached
    result["checkpoints"] = s.checkpoints
    return result


class NotHere(Exception):
    """The expression cannot be watched in hardware from this stretch's start."""


def walking(ops, req):
    """The search by evaluating at every stop."""
    s = Stretch(ops, req)
    q = s.query
    w = q["watch"]
    watcher = Watcher(ops, w)
    floor = q.get("floor")
    state = {"found": [], "broke": False, "entry": None, "want_entry": False,
             "prev_stop": None, "last_at_depth": {}, "pause": False}
    steps = ev.Steps(s.program)
    stack = []
    calls = bool(w.get("calls"))
    program = s.program

    def at_stop(h):
        d = h.depth
        here = ev.found(h, program) if h.location is None else dict(
            time=h.time(), depth=d, event="line", location=h.location)
        if floor is not None and d < floor:
            state["found"], state["broke"], state["entry"] = [], True, None
            state["want_entry"] = True
            watcher.prev = None
            return
        if state["want_entry"]:
            state["want_entry"] = False
            state["entry"] = here
        value = watcher.value()
        if value is None:
            return
        prev, before = watcher.prev, state["prev_stop"]
        if prev is not None and value != prev and before is not None:
            changer = before
            if before["depth"] > d:
                changer = state["last_at_depth"].get(d, before)
            state["found"] = [dict(changer, old=prev, new=value)]
        watcher.prev = value
        state["prev_stop"] = here
        state["last_at_depth"][d] = here

    def on_hit(c, pc):
        """At every hit: True to be evaluated once the program is stopped (walking with
        breakpoints, where gdb cannot call functions from inside one)."""
        r = state["run"]
        base = frame_base(gdb.newest_frame())
        while stack and stack[-1] < base:
            stack.pop()
        if not stack or stack[-1] != base:
            stack.append(base)
        if not steps.feed(pc, base)[0]:
            return False
        epoch, k = r.time_of(c)
        h = ev.Hit(epoch, k, pc, base, event=True)
        h.depth = len(stack)
        if calls and r.clock is None:
            state["pending"] = h
            return True
        at_stop(h)
        return False

    def prepare(r):
        state["run"] = r
        if r.clock is not None:
            r.each_hit = on_hit
        else:
            r.on_hit = on_hit
        stack.extend(stack_bases(ops))
        frame = newest()
        start = r.epochs[0][3]
        if start is not None:
            steps.stop_at(((start.location or {}).get("file"), (start.location or {})
                           .get("line")), frame_base(frame))
            start.depth = len(stack)
            if calls and r.clock is None:
                state["pending"] = start
            else:
                at_stop(start)

    def on_pause():
        h = state.pop("pending", None)
        if h is not None:
            at_stop(h)

    s_run = s.run
    result_run = None
    try:
        result_run = s_run(prepare=lambda r: (prepare(r), setattr(
            r, "on_pause", on_pause)))
    finally:
        if result_run is not None:
            result_run.finish()
    reached = s.reached()
    if reached is not None and state["prev_stop"] is not None:
        # The stretch's end: a change made by the last statement before it.
        end = ev.Hit(0, 0, 0, frame_base(newest()))
        # (Read off the stack: `stack` is as of the last hit, which may be in a callee
        # that has returned since.)
        end.depth = len(stack_bases(ops))
        value = watcher.value()
        if value is not None and watcher.prev is not None and value != watcher.prev:
            before = state["prev_stop"]
            changer = before
            if before["depth"] > end.depth:
                changer = state["last_at_depth"].get(end.depth, before)
            state["found"] = [dict(changer, old=watcher.prev, new=value)]
    result = {"found": state["found"], "broke": state["broke"], "entry": state["entry"]}
    result = s.reply(result)
    result["reached"] = reached
    result["checkpoints"] = s.checkpoints
    return result


def search(ops, req):
    w = req["query"]["watch"]
    if hardware_watchable(ops, w):
        result = native(ops, req)
        if result is not None:
            return result
        restore_again(ops, req["from"], req["segments"])
    return walking(ops, req)


_ = Run
