"""fred's searches in a stretch of the run, each with as few stops of the program as it can.

- The last stops before a time (reverse-step), and the last in one frame (reverse-next,
  reverse-finish): one native run to the stretch's end; the ring holds the last 65,536
  hits, and fred_gdb_events reads the stops among them. An answer further back is found
  by a second run that notes the last hit in the frame wanted, and a third that stops
  just after it.
- The last breakpoint hits (reverse-continue): a native run with a breakpoint at each
  enabled breakpoint's place, conditions evaluated there.
- The last change of a watched expression (reverse-watch): a native run with a hardware
  watchpoint and a stop after each system call that can write memory, then a run to just
  after the change to read which statement made it. An expression gdb cannot watch in
  hardware (calls, locals it cannot pin) is evaluated at every stop, walking.
"""

import os
import termios

import gdb

import fred_gdb_events as ev
from fred_gdb import emit, frame_base, newest
from fred_gdb_native import LAST_ENTRY, LAST_F, NEG_F, NEG_S, RING
from fred_gdb_scan import Run
from fred_gdb_stops import Stop

KEEP_WINDOW = 512


class Stretch:
    """What fred asked: run these segments from this checkpoint, and answer the query."""

    def __init__(self, ops, req):
        self.ops = ops
        self.agent = ops.agent
        self.program = ops.agent.program
        self.segments = req["segments"]
        self.query = req.get("query")
        self.origin = req.get("from")  # {gdb, epoch, k}: to restore again for another run
        self.checkpoints = []
        self.restored = False
        self.last_run = None

    def run(self, native=True, prepare=None):
        """One run through the segments (after the first, from the checkpoint again)."""
        if self.restored:
            restore_again(self.ops, self.origin, self.segments)
        self.restored = True
        r = Run(self.ops, native=native and self.agent.clock is not None)
        self.last_run = r
        try:
            r.begin(self.segments[0]["epoch"], self.segments[0]["k"])
            if prepare is not None:
                prepare(r)
            r.segments(self.segments)
        except BaseException:
            r.finish()  # (its breakpoints and catchpoints must not outlive it)
            raise
        finally:
            self.checkpoints.extend(r.checkpoints)
        return r

    def reached(self):
        if gdb.selected_inferior().pid and self.agent.finished is None:
            return self.agent.location(self.agent.user_frame())
        return None

    def reply(self, result):
        result = dict(result)
        result["reached"] = self.reached()
        result["reached_event"] = "line" if result["reached"] is not None else None
        return result


def restore_again(ops, origin, segments):
    """The stretch's checkpoint (`origin`, renumbered) restored again for another run; if
    the program reads input on the way, its terminal is emptied of what the last run left
    unread and fred types the stretch's input again."""
    origin["gdb"] = ops.restore(dict(origin))["gdb"]
    if not any(seg.get("input") for seg in segments):
        return
    tty = gdb.parameter("inferior-tty")
    if tty:
        try:
            fd = os.open(tty, os.O_RDWR | os.O_NOCTTY)
            try:
                termios.tcflush(fd, termios.TCIFLUSH)
            finally:
                os.close(fd)
        except OSError:
            pass
    emit("rerun", {})


def until_of(segments):
    """The time a stretch ends at (its last segment's stop)."""
    last = segments[-1]
    return (last["epoch"] << 40) | last["stop_k"]


def stack_bases(ops):
    """The frame bases of the program's own frames, the outermost first."""
    return [frame_base(f) for f in reversed(ops.own_frames())]


def window(r, last, size, until):
    """The hits with counter values up to `last` (at most `size` of them, from the ring),
    with the stops at the starts of epochs in that range, in time order, before the time
    `until`."""
    raw = r.ring_tail(min(size, last), last) if last > 0 else []
    lo = raw[0][0] if raw else last + 1
    starts = {}
    for epoch, origin, first, start in r.epochs:
        if start is not None:
            starts[first] = start
    hits = []
    for c, pc, base in raw:
        start = starts.get(c)
        if start is not None and start.pc != pc:
            hits.append(start)  # a stop in the middle of a line, just before this hit
        epoch, k = r.time_of(c)
        h = ev.Hit(epoch, k, pc, base)
        if start is not None and start.pc == pc:
            h.event = h.in_frame = True  # the stop at the epoch's start
        hits.append(h)
    for first, start in starts.items():
        if first == last + 1:
            hits.append(start)  # the last epoch's start, where the run stands
    covered = lo <= 1
    return [h for h in hits if h.time() < until], covered


def read_stops(hits, program, stack, covered, start=None):
    """Marks the stops among `hits` and gives each hit its depth. `start`: what the stepping
    rules knew where the run began (a checkpoint in the middle of an epoch keeps it), for a
    window that reaches back to there."""
    known = covered and start is not None
    steps = ev.Steps.resumed(program, start) if known else ev.Steps(program)
    for i, h in enumerate(hits):
        if h.event:
            # A stop the user stood at: an epoch's start (at an entry or mid-line).
            loc = h.location or program.where(h.pc)
            steps.stop_at((loc["file"], loc["line"]), h.base)
        elif h.pc in program.lines:
            h.event, h.in_frame = steps.feed(h.pc, h.base)
            if i == 0 and not known and not (covered and h.k == 0):
                h.event = h.in_frame = False  # (unknown: what came before is not seen)
    ev.depths(hits, stack)


def answer(query, hits, program):
    """The query's matches: stops of `step`, or for a query in one frame, of `next`."""
    a = ev.Answer(query, program)
    framed = query.get("depth") is not None
    for h in hits:
        if h.in_frame if framed else h.event:
            a.stop(h, h.location)
    return a


def steps(ops, req):
    """reverse-step, reverse-next, reverse-finish: the last stops before the stretch's
    end, or the last in a frame."""
    s = Stretch(ops, req)
    q = s.query
    r = s.run()
    last = r.counter()
    before = last - 1 if r.counted else last  # the last hit before the stretch's end
    stack = stack_bases(ops)
    reached = s.reached()
    size = KEEP_WINDOW * max(1, q.get("keep", 1))
    while True:
        hits, covered = window(r, last, size, until_of(s.segments))
        read_stops(hits, s.program, stack, covered, r.start_state)
        a = answer(q, hits, s.program)
        done = len(a.found) >= q.get("keep", 1) or a.broke or covered
        if done or size >= RING:
            break
        size = min(RING, size * 8)
    r.finish()
    result = a.result()
    if not done and q.get("depth") is not None:
        result = in_frame(s, q, stack, before) or result
    result = s.reply(result)
    result["reached"] = reached
    result["checkpoints"] = s.checkpoints
    return result


def in_frame(s, q, stack, last):
    """The last stop in the frame at depth `q.depth` up to the hit `last`, when it lies
    beyond the ring (with the floor's rule: not before that frame was entered)."""
    d, floor = q["depth"], q.get("floor")
    if not 0 < d <= len(stack) or last <= 0:
        return None
    s.segments = cut(s.segments, s.last_run, last)
    entered = stack[floor - 1] if floor is not None and 0 < floor <= len(stack) else None
    in_f, entry = last_hit_in(s, stack[d - 1], entered)
    broke = entered is not None and entry > 0
    if d >= (floor or 0) and broke and in_f <= entry:
        return {"found": [], "broke": True, "entry": None}
    if in_f == 0:
        return {"found": [], "broke": broke, "entry": None}
    found = last_stop_in(s, stack[d - 1], in_f)
    return {"found": found[-1:], "broke": broke, "entry": None}


def last_hit_in(s, base, entered=None):
    """A run through the stretch noting the counter value of the last hit in the frame at
    `base`, and of the last entry into the frame at `entered` (0: none)."""

    def filters(r):
        r.clock.write_var(NEG_F, -base)
        if entered is not None:
            r.clock.write_var(NEG_S, -(entered + 8))  # (its return address at rsp)

    r = s.run(prepare=filters)
    found = r.clock.read_var(LAST_F), r.clock.read_var(LAST_ENTRY)
    r.finish()
    return found


def last_stop_in(s, base, c):
    """The last stop (of `next`) in the frame at `base` up to the hit `c`: a run that
    stops just after it reads the stops before it."""
    s.segments = cut(s.segments, s.last_run, c + 1)
    r = s.run()
    stack = stack_bases(s.ops)
    hits, covered = window(r, r.counter(), KEEP_WINDOW, until_of(s.segments))
    read_stops(hits, s.program, stack, covered, r.start_state)
    r.finish()
    return [dict(ev.found(h, s.program), depth=h.depth) for h in hits
            if h.in_frame and h.base == base]


def cut(segments, r, c):
    """The segments that end at the hit with counter value `c` of run `r`."""
    epoch, k = r.time_of(c)
    out = [seg for seg in segments if seg["epoch"] < epoch]
    seg = next(seg for seg in segments if seg["epoch"] == epoch)
    out.append({"epoch": epoch, "k": seg["k"], "stop_k": k, "input": seg.get("input")})
    return out


def breakpoints(ops, req):
    """reverse-continue: the last hits of enabled breakpoints, conditions evaluated."""
    s = Stretch(ops, req)
    q = s.query
    keep = max(1, q.get("keep", 1))
    hits = []
    user = ops.user_breakpoints

    def check(pc):
        for _, pcs, cond in user:
            if pc in pcs and (not cond or ops.evaluate_condition(cond)):
                hits.append((s.current.counter() + 1, pc))
                del hits[:-keep - 2]
                return

    def collectors(r):
        s.current = r
        pcs = set()
        for _, locs, _ in user:
            pcs.update(p for p in locs if p in s.program.lines)
        r.stops.extend(Stop(r, pc, lambda bp: check(bp.pc)) for pc in pcs)
        if newest().pc() in pcs:
            check(newest().pc())  # (gdb reports no breakpoint at the pc it resumes from)

    r = s.run(prepare=collectors)
    until = until_of(s.segments)
    found = []
    for c, pc in hits:
        epoch, k = r.time_of(c)
        if (epoch << 40) | k < until:
            found.append({"time": (epoch << 40) | k, "depth": 0, "event": "line",
                          "location": s.program.where(pc)})
    r.finish()
    result = s.reply({"found": found[-keep:], "broke": False, "entry": None})
    result["checkpoints"] = s.checkpoints
    return result
