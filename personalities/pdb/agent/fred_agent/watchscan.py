"""The hot loop of a reverse-watch search: one function called at every event of the
stretch, with its state in local variables (a closure), since it runs millions of times.

At every stop the watched expression is evaluated; a value different from the one at the
stop before means the statement at that stop changed it, and that stop is recorded (the
last such is the answer for the stretch). After a function returns, the code that runs next
is the rest of the caller's line, so a change found there is put on the caller's line.
"""

from . import watch as watchlib


def watch_hook(agent, s, frame0):
    """Build the per-event function for the scan state `s` (which holds the query), starting
    at `frame0`. It has a `finish(frame)` attribute for the end of the stretch."""
    w = watchlib.from_spec(s["watch"])
    local, wdepth, floor, evaluate = w.local, w.depth, s.get("floor"), w.evaluator()
    same, stuck_error = watchlib.same, watchlib.Stuck
    d = s["d"]
    prev = None
    lines = {}
    stuck = False
    wframe = None
    if local and frame0 is not None:
        f, fd = frame0, agent.stop_depth(frame0)
        while f is not None and fd > wdepth:
            f, fd = f.f_back, fd - 1
        wframe = f if fd == wdepth else None
    if agent.native is not None:
        return native_hook(agent, s, w, d, wframe, evaluate)

    def changed(before, value):
        hit = agent.found_at(before[1])
        hit["old"] = watchlib.show(before[0])
        hit["new"] = watchlib.show(value)
        s["found"] = [hit]

    def hook(frame, event, arg, t):
        nonlocal d, prev, wframe, stuck
        if event == "call":
            d += 1
            here = d
        elif event == "return":
            here = d
            d -= 1
        else:
            here = d
        if floor is not None and here < floor:
            s["found"] = []
            s["broke"] = True
            s["entry"] = None
        if stuck:
            return
        if event == "line":
            # The frame's id, not the frame: holding program objects longer than the
            # program does would move when their finalizers run, and so the program's time.
            lines[here] = (id(frame), (t, here, event, frame.f_code, frame.f_lineno))
        if local:
            if here < wdepth:
                prev = None
                wframe = None
                return
            if here == wdepth:
                wframe = frame
            elif wframe is None:
                return
        if event == "exception" and not agent.is_step_stop(frame, event, arg):
            return
        try:
            value = evaluate(wframe)
        except stuck_error:
            stuck = True
            agent.watch_stuck(s, w.expr, t)
            return
        at = (t, here, event, frame.f_code, frame.f_lineno)
        if s["entry"] is None:
            s["entry"] = agent.found_at(at)
        if prev is not None:
            before = prev[0]
            if not (before is value or same(before, value)):
                changed(prev, value)
        if event == "return":
            line = lines.get(here - 1)
            if line is not None and line[0] == id(frame.f_back):
                at = line[1]
            if local and here == wdepth:
                wframe = None  # the watched frame ends here: let it go when the program does
        prev = (value, at)

    def finish(frame):
        """At the end of the stretch: a change by its last stop shows only here."""
        nonlocal stuck
        if stuck or prev is None or (local and frame is None):
            return
        try:
            value = evaluate(wframe if local else None)
        except stuck_error:
            stuck = True
            agent.watch_stuck(s, w.expr, agent.t)
            return
        if not (prev[0] is value or same(prev[0], value)):
            changed(prev, value)
        s["last_value"] = value

    hook.finish = finish
    return hook


def native_hook(agent, s, w, d, wframe, evaluate):
    """The same hook in C (watchhook.c), for the C clock; it calls back only at changes,
    at a frame's entry and for values that are not plain immutable ones."""
    from .scan import GEN_FLAGS

    def changed(at, old, new):
        hit = agent.found_at(at)
        hit["old"] = watchlib.show(old)
        hit["new"] = watchlib.show(new)
        return hit

    def stuck(t):
        agent.watch_stuck(s, w.expr, agent.t if t is None else t)

    name = w.bare_name()
    g = None
    if name is not None and not w.local:
        g = w.module_globals or w.globals()
    return agent.native.WatchScan(
        s=s, d=d, local=w.local, wdepth=w.depth, floor=s.get("floor"), wframe=wframe,
        name=name, globals=g, evaluate=evaluate, changed=changed, entry_of=agent.found_at,
        same=watchlib.same, comparable=watchlib.comparable, stuck=stuck,
        stuck_type=watchlib.Stuck, undefined=watchlib.UNDEFINED,
        waiting=bool(getattr(agent, "_wait_for_mainpyfile", False)), gen_flags=GEN_FLAGS)
