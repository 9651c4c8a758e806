"""Which of the program's line-table entries, as run, are stops gdb's `step` makes.

The native clock counts every line-table entry run in the program's own code (a *hit*).
Not every hit is a stop: gdb's `step` goes on while the line stays the same, and after a
return into the middle of a caller's line it takes that line as its own. This module
turns a stream of hits (entry pc, frame base) into stops, gives each its call depth, and
answers fred's queries over them. It is pure Python over plain data, so the same rules
serve the ring of recent hits and a walk stop by stop.
"""


class Hit:
    """One hit: when (epoch, k), where (pc, frame base), and what it turned out to be."""

    __slots__ = ("epoch", "k", "pc", "base", "event", "in_frame", "depth", "location")

    def __init__(self, epoch, k, pc, base, event=False, location=None):
        self.epoch, self.k, self.pc, self.base = epoch, k, pc, base
        self.event = event  # a stop of `step`
        self.in_frame = event  # a stop of `next` in its frame
        self.depth = None
        self.location = location  # where a stop that is not at an entry stands

    def time(self):
        return (self.epoch << 40) | self.k


class Steps:
    """gdb's stepping rules, fed hit by hit.

    For `step`: `cur` is the line a step in progress compares with, a stop's own line or,
    after a return into the middle of a caller's line, that line; a hit in a new, deeper
    frame is a stop (gdb steps into functions with line information). For `next`, which
    steps over calls, a hit is a stop in its frame when the line differs from the line last
    run in that frame (or the frame is new)."""

    def __init__(self, program):
        self.program = program
        self.cur = None
        self.prev_base = None
        self.last_line = {}  # frame base -> the line last run in that frame

    def key(self, pc):
        return (self.program.files[pc], self.program.lines[pc])

    def state(self):
        """What the rules remember, to go on from later (a checkpoint keeps it)."""
        return (self.cur, self.prev_base, dict(self.last_line))

    @classmethod
    def resumed(cls, program, state):
        steps = cls(program)
        steps.cur, steps.prev_base, last = state
        steps.last_line = dict(last)
        return steps

    def stop_at(self, line, base):
        """The program stands at a stop (an epoch's start)."""
        self.cur = line
        self.prev_base = base
        self.last_line[base] = line

    def feed(self, pc, base):
        """(is the hit at `pc` in the frame at `base` a stop of `step`, of `next`)."""
        line = self.key(pc)
        prev = self.prev_base
        mine = self.last_line.get(base)
        if prev is None or self.cur is None:
            step = nxt = False  # the first hit seen: the window starts there
            self.cur = line
        elif base == prev:
            step = line != self.cur
            nxt = line != mine
        elif base < prev:
            step = nxt = True  # a call into a function
        else:
            # A return. Onto a return address that starts a line-table entry, gdb's step
            # stops if the line differs from the callee's; into the middle of a line, it
            # takes that line (the caller's, as last run in that frame) and goes on.
            if pc not in self.program.return_entries:
                self.cur = mine  # (None, unknown: most often another line)
            step = line != self.cur
            nxt = line != mine
            for b in [b for b in self.last_line if b < base]:
                del self.last_line[b]
        if step:
            self.cur = line
        self.last_line[base] = line
        self.prev_base = base
        return step, nxt


def depths(hits, stack):
    """Gives each hit its call depth, from `stack`, the frame bases live at the end (the
    outermost first). Going back in time: a frame deeper than the hit's did not exist yet;
    a frame missing from the stack had returned since."""
    stack = list(stack)
    for h in reversed(hits):
        while stack and stack[-1] < h.base:
            stack.pop()
        if not stack or stack[-1] != h.base:
            stack.append(h.base)
        h.depth = len(stack)


def found(h, program):
    """A hit as fred's `Found`."""
    return {"time": h.time(), "depth": h.depth, "event": "line",
            "location": program.where(h.pc)}


class Answer:
    """A query's matches over stops in time order (the rules of fred's `Query`)."""

    def __init__(self, query, program):
        self.q = query
        self.program = program
        self.found = []
        self.broke = False
        self.entry = None
        self.want_entry = False

    def stop(self, h, location=None):
        q = self.q
        floor = q.get("floor")
        here = found(h, self.program) if location is None else dict(
            time=h.time(), depth=h.depth, event="line", location=location)
        if floor is not None and h.depth < floor:
            self.found = []
            self.broke = True
            self.entry = None
            self.want_entry = True
        elif self.want_entry:
            self.want_entry = False
            self.entry = here
        if q.get("depth") is not None and h.depth != q["depth"]:
            return
        self.found.append(here)
        if len(self.found) > max(1, q.get("keep", 1)):
            del self.found[0]

    def result(self):
        return {"found": self.found, "broke": self.broke, "entry": self.entry}
