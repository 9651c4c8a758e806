"""reverse-watch of a chain of memory (`head->next->next->value`, `r.id`, `buf[1]`) on the
native clock.

Such an expression is compiled into the watch code of fred_gdb_native: from a fixed
address (a global's, or a local's in its frame instance), pointer loads and offsets, then
the value. The stubs read it at every hit, so one native run finds the hit at which the
value last changed, whoever changed it (the program, a library, the kernel), with no stop.
A second run stops on the hit before that change and watches it in hardware up to the hit
that saw it, to learn which frame wrote, and so the statement that made the change.
"""

import re

import gdb

import fred_gdb_events as ev
from fred_gdb import frame_base
from fred_gdb_find import (KEEP_WINDOW, Stretch, cut, last_hit_in, last_stop_in, read_stops,
                           restore_again, stack_bases, until_of, window)
from fred_gdb_native import LAST_CHANGE, LAST_ENTRY, NEG_S, read_chain
from fred_gdb_watch import Changes, Watcher

TOKEN = re.compile(r"\s*(->|[A-Za-z_]\w*|\d+|0x[0-9a-fA-F]+|[.\[\]*()])")
SCALARS = (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_ENUM, gdb.TYPE_CODE_BOOL,
           gdb.TYPE_CODE_CHAR, gdb.TYPE_CODE_FLT)


class Chain:
    """A compiled chain: a start address, steps, and the size of the value."""

    def __init__(self, start, steps, size):
        self.start, self.steps, self.size = start, steps, size

    def read(self):
        """The value now, as the watch code reads it (sentinels for what it cannot)."""
        return read_chain(self.start, self.steps, self.size)


def tokens(expr):
    out, at = [], 0
    expr = expr.strip()
    while at < len(expr):
        m = TOKEN.match(expr, at)
        if not m:
            return None
        out.append(m.group(1))
        at = m.end()
    return out


def field(t, name):
    """(byte offset, type) of field `name` of struct or union type `t`, or None."""
    if t.code not in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        return None
    for f in t.fields():
        if f.name == name and not f.bitsize:
            return f.bitpos // 8, f.type.strip_typedefs()
    return None


def compile_chain(expr):
    """The chain `expr` reads, in the selected frame, or None if it is not one."""
    toks = tokens(expr)
    if not toks:
        return None
    derefs = 0
    while toks and toks[0] == "*":
        derefs += 1
        toks = toks[1:]
    if not toks or not re.match(r"[A-Za-z_]", toks[0]):
        return None
    try:
        v = gdb.parse_and_eval(toks[0])
        if v.address is None:
            return None
        start = int(v.address)
        t = v.type.strip_typedefs()
    except gdb.error:
        return None
    steps = []
    i = 1
    while i < len(toks):
        tok = toks[i]
        if tok in ("->", ".") and i + 1 < len(toks):
            if tok == "->":
                if t.code != gdb.TYPE_CODE_PTR:
                    return None
                steps.append(("deref",))
                t = t.target().strip_typedefs()
            f = field(t, toks[i + 1])
            if f is None:
                return None
            steps.append(("add", f[0]))
            t = f[1]
            i += 2
        elif tok == "[" and i + 2 < len(toks) and toks[i + 2] == "]":
            try:
                k = int(toks[i + 1], 0)
            except ValueError:
                return None
            if t.code == gdb.TYPE_CODE_PTR:
                steps.append(("deref",))
            elif t.code != gdb.TYPE_CODE_ARRAY:
                return None
            t = t.target().strip_typedefs()
            steps.append(("add", k * t.sizeof))
            i += 3
        else:
            return None
    for _ in range(derefs):
        if t.code != gdb.TYPE_CODE_PTR:
            return None
        steps.append(("deref",))
        t = t.target().strip_typedefs()
    if t.code not in SCALARS or t.sizeof not in (1, 2, 4, 8):
        return None
    return Chain(start, steps, t.sizeof)


def natively(ops, req):
    """The search on the native clock, or None when the expression is not a chain (or a
    local's frame is not there at the stretch's start)."""
    s = Stretch(ops, req)
    w = s.query["watch"]
    if w.get("calls") or ops.agent.clock is None:
        return None
    watcher = Watcher(ops, w)
    state = {}

    def prepare(r):
        if watcher.base is not None:
            frame = watcher.frame()
            if frame is None:
                raise NotHere()
            frame.select()
        try:
            chain = compile_chain(w["expr"])
        finally:
            gdb.newest_frame().select()
        if chain is None:
            raise NotHere()
        state["chain"] = chain
        r.clock.write_value(chain.read())
        r.clock.set_watch(chain.start, chain.steps, chain.size)
        if watcher.base is not None:
            r.clock.write_var(NEG_S, -(watcher.base + 8))  # (a new instance of the frame)

    try:
        r = s.run(prepare=prepare)
    except NotHere:
        return None
    clock = r.clock
    seen = clock.read_var(LAST_CHANGE)
    last = clock.read_value()
    reentered = watcher.base is not None and clock.read_var(LAST_ENTRY) > 0
    clock.set_watch(None, None, None)
    end = r.counter()
    reached = s.reached()
    if gdb.selected_inferior().pid and state["chain"].read() != last:
        seen = end + 1  # changed after the last hit (the stretch ends mid-line)
    r.finish()
    if reentered or seen == 1:
        # A new instance of the watched frame began in the stretch, or the change is the
        # stretch's very first step: the search that evaluates at every stop knows those.
        restore_again(ops, req["from"], req["segments"])
        return None
    result = {"found": [], "broke": False, "entry": None}
    if seen:
        result["found"] = statement(s, watcher, seen)
    result = s.reply(result)
    result["reached"] = reached
    result["checkpoints"] = s.checkpoints
    return result


def statement(s, watcher, seen):
    """The stop whose statement changed the value that hit `seen` found changed: a run to
    the hit before, the values there and at `seen`, and a hardware watch in between for
    the frame that wrote."""
    whole = s.segments
    s.segments = cut(whole, s.last_run, seen - 1)
    r = s.run()
    old = watcher.value()
    stack = stack_bases(s.ops)
    hits, covered = window(r, r.counter(), KEEP_WINDOW, until_of(s.segments) + 1)
    read_stops(hits, s.program, stack, covered, r.start_state)
    try:
        place = watcher.expr if watcher.base is None else hardware_place(watcher)
        bp = Changes(watcher, place, None)
        if bp.type != gdb.BP_HARDWARE_WATCHPOINT:
            bp.delete()
            bp = None
    except (gdb.error, RuntimeError):
        bp = None
    watcher.prev, watcher.run, watcher.changes = old, r, []
    while True:
        try:
            r.go(lambda: False, seen)
        except gdb.error:
            if bp is not None and bp.is_valid():
                # gdb could not insert it ("Command aborted."): more places than the debug
                # registers can watch. On without it.
                bp.delete()
                bp = None
                continue
            # (the stretch ended first: a crash, the exit)
        break
    if bp is not None and bp.is_valid():
        bp.delete()
    new = watcher.value()
    seen_base = frame_base(gdb.newest_frame()) if gdb.selected_inferior().pid else 0
    r.finish()
    if watcher.changes:
        base = watcher.changes[-1][1]
    elif hits:
        # Not seen in hardware (the kernel wrote, or no debug register was free): the
        # statement of the hit before, or if its frame has returned since, the caller's
        # that called it (a change after a call returns is the caller's statement).
        before = hits[-1].base
        base = seen_base if seen_base and before < seen_base else before
    else:
        return []
    mine = [h for h in hits if h.in_frame and h.base == base]
    if mine:
        h = mine[-1]
        f = ev.found(h, s.program) if h.location is None else dict(
            time=h.time(), depth=h.depth, event="line", location=h.location)
        return [dict(f, old=old, new=new)]
    # The writing frame's statement began further back than the ring reaches.
    s.segments = cut(whole, s.last_run, seen - 1)
    in_f, _ = last_hit_in(s, base)
    found = last_stop_in(s, base, in_f) if in_f else []
    return [dict(found[-1], old=old, new=new)] if found else []


def hardware_place(watcher):
    """A local's place in its frame, for a hardware watch (`*(int *) 0x...`)."""
    frame = watcher.frame()
    if frame is None:
        return watcher.expr
    frame.select()
    try:
        where = gdb.parse_and_eval("&(%s)" % watcher.expr)
        return "*(%s) %d" % (where.type, int(where))
    finally:
        gdb.newest_frame().select()


class NotHere(Exception):
    """The expression cannot be watched this way from this stretch's start."""

