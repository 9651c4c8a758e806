"""A replay or scan in progress: the line clock (Frames), the hits it counts and the
queries it answers (Run), and the hardware watchpoint that spares a watch most
evaluations (WatchFlag). Ops in fred_gdb_ops drives it."""

import time

import gdb

from fred_gdb import frame_base, newest

# Seconds of replaying or scanning between the checkpoints a run leaves on its way: a
# checkpoint costs about 25 ms, so this keeps their cost near 5% of the run.
CHECKPOINT_EVERY = 0.5


class WatchFlag(gdb.Breakpoint):
    """A hardware watchpoint on a watched expression that only notes that it fired, so a
    scan evaluates the expression after a write instead of at every line."""

    def __init__(self, run, expr):
        super().__init__(expr, gdb.BP_WATCHPOINT, internal=True)
        self.run = run

    def stop(self):
        self.run.written()
        return False

    @staticmethod
    def make(run, expr):
        try:
            flag = WatchFlag(run, expr)
        except (gdb.error, RuntimeError):
            return None
        if flag.type != gdb.BP_HARDWARE_WATCHPOINT:
            flag.delete()  # software watchpoints single-step: far slower than evaluating
            return None
        return flag


class Frames:
    """The program's frames as the line clock sees them: [frame base, last line] each."""

    def __init__(self, program):
        self.program = program
        self.stack = []
        self.pending = False
        frame = newest()
        chain = []
        while frame is not None:
            if program.owns(frame):
                chain.append([frame_base(frame), frame.find_sal().line])
            frame = frame.older()
        self.stack = list(reversed(chain))

    def event(self, pc):
        """A hit at `pc`: is it a line event? Updates the frames."""
        if pc in self.program.entries:
            self.pending = True
            return False
        line = self.program.lines[pc]
        base = frame_base(gdb.newest_frame())
        if self.pending:
            self.pending = False
            self.stack.append([base, line])
            return True
        while self.stack and self.stack[-1][0] < base:
            self.stack.pop()
        if self.stack and self.stack[-1][0] == base:
            if self.stack[-1][1] == line:
                return False
            self.stack[-1][1] = line
            return True
        self.stack.append([base, line])
        return True

    def depth(self):
        return len(self.stack)


class Run:
    """One replay or scan in progress; breakpoint hits come here."""

    def __init__(self, agent, query):
        self.agent = agent
        self.q = query
        self.frames = None
        self.stop_k = None  # stop at the event with this k
        self.end = None  # the recipe being waited for
        self.end_hits = 0
        self.counting = True
        self.reached_end = False
        self.at_event = False
        self.found = []
        self.broke = False
        self.entry = None
        self.want_entry = False
        self.error = None
        self.watch_prev = None
        self.watch_prev_event = None
        self.inclusive = False  # a stop at stop_k is inside the stretch (not its end)
        self.last_at_depth = {}
        self.pause_for_watch = bool(query and query.get("watch") and query["watch"].get("calls"))
        # Checkpoints along the way; not where evaluating the watch may change the program.
        self.may_checkpoint = not self.pause_for_watch
        self.checkpoint_due = False
        self.last_checkpoint = time.monotonic()
        self.checkpoints = []
        # Hardware help for watches of globals: evaluate only after a write was seen, or
        # after a line that called outside the program (the kernel writes unwatched).
        self.flag = None
        self.dirty = True
        self.called_out = True
        self.shortcut = None  # (pc, what to put back) of an event taken as unchanged
        w = query.get("watch") if query else None
        if w and not w.get("calls") and w.get("base") is None:
            self.flag = WatchFlag.make(self, w["expr"])

    def written(self):
        """The watchpoint fired. A write that ends just before a line's first instruction
        is reported in the same stop as that line's breakpoint, perhaps after it: then that
        line's event is looked at again."""
        self.dirty = True
        last = self.shortcut
        if last is not None and gdb.newest_frame().pc() == last[0]:
            self.shortcut = None
            self.watch_prev_event, depth, before = last[1]
            if before is None:
                self.last_at_depth.pop(depth, None)
            else:
                self.last_at_depth[depth] = before
            self.watch_event(last[0])

    def drop_flag(self):
        if self.flag is not None:
            if self.flag.is_valid():
                self.flag.delete()
            self.flag = None

    # the breakpoint side
    def hit(self, pc):
        agent = self.agent
        if self.end is not None and self.end.get("end") == "hit" and pc == self.end["pc"]:
            if self.end_reached():
                self.reached_end = True
                return True
        if not self.counting or pc not in agent.clock_bps:
            return False
        if not self.frames.event(pc):
            return False
        agent.k += 1
        if self.stop_k is not None and agent.k >= self.stop_k:
            if self.q is not None and self.inclusive:
                self.on_event(pc)
            return True
        if self.q is not None:
            if self.pause_for_watch:
                self.at_event = True
                return True
            self.on_event(pc)
        if self.may_checkpoint and time.monotonic() - self.last_checkpoint > CHECKPOINT_EVERY:
            self.checkpoint_due = True
            return True
        return False

    def end_reached(self):
        e = self.end
        if self.agent.k < e.get("from_k", 0):
            return False
        base = e.get("base")
        if base is not None and frame_base(gdb.newest_frame()) != base:
            return False
        cond = e.get("cond")
        if cond:
            self.agent.evaluating = True
            try:
                if not bool(gdb.parse_and_eval(cond)):
                    return False
            except gdb.error:
                pass
            finally:
                self.agent.evaluating = False
        self.end_hits += 1
        return self.end_hits > e.get("skip", 0)

    # the scan side
    def here(self, pc=None):
        agent = self.agent
        prog = agent.program
        if pc in prog.lines:
            loc = {"file": prog.files[pc], "line": prog.lines[pc],
                   "function": prog.functions[pc]}
        else:
            loc = agent.location(gdb.newest_frame())
        return {"time": agent.time(), "depth": self.frames.depth(), "event": "line",
                "location": loc}

    def on_event(self, pc=None):
        if pc is None:
            pc = gdb.newest_frame().pc()
        q = self.q
        d = self.frames.depth()
        floor = q.get("floor")
        if floor is not None and d < floor:
            self.found = []
            self.broke = True
            self.entry = None
            self.want_entry = True
            self.watch_prev = None
            if q.get("watch"):
                return  # the watched frame is not live here
        elif self.want_entry:
            self.want_entry = False
            self.entry = self.here(pc)
        if q.get("watch"):
            self.watch_event(pc)
            return
        if q.get("depth") is not None and d != q["depth"]:
            return
        if q.get("breakpoints") and not self.would_break(pc):
            return
        self.keep(self.here(pc))

    def keep(self, found):
        self.found.append(found)
        if len(self.found) > max(1, self.q.get("keep", 1)):
            del self.found[0]

    def would_break(self, pc):
        for b in self.agent.user_bps:
            if pc not in b[1]:
                continue
            cond = b[2]
            if not cond:
                return True
            self.agent.evaluating = True
            try:
                if bool(gdb.parse_and_eval(cond)):
                    return True
            except gdb.error:
                return True
            finally:
                self.agent.evaluating = False
        return False

    def watch_value(self):
        w = self.q["watch"]
        agent = self.agent
        base = w.get("base")
        agent.evaluating = True
        try:
            if base is not None:
                frame = gdb.newest_frame()
                while frame is not None and frame_base(frame) != base:
                    frame = frame.older()
                if frame is None:
                    return None
                frame.select()
            try:
                return str(gdb.parse_and_eval(w["expr"]))
            except gdb.error as e:
                return "<%s>" % str(e).rstrip(".")
            finally:
                if base is not None:
                    gdb.newest_frame().select()
        finally:
            agent.evaluating = False

    def watch_event(self, pc=None):
        here = self.here(pc)
        self.shortcut = None
        if self.flag is not None and not self.dirty and not self.called_out \
                and self.watch_prev is not None and pc is not None:
            value = self.watch_prev  # nothing can have written to it
            d = here["depth"]
            self.shortcut = (pc, (self.watch_prev_event, d, self.last_at_depth.get(d)))
        else:
            self.dirty = False
            value = self.watch_value()
            if value is None:
                return
        prev = self.watch_prev
        if prev is not None and value != prev:
            self.keep(dict(self.changer(here), old=prev, new=value))
        self.watch_prev = value
        self.watch_prev_event = here
        self.last_at_depth[here["depth"]] = here
        self.called_out = pc is None or self.agent.program.calls_out(pc)

    def changer(self, here):
        """The stop whose statement made a change seen at `here`: the stop before, unless
        that was in a function that has returned since, in which case the change is
        taken to be the caller's statement that called it (`total += f(x)`)."""
        before = self.watch_prev_event
        if here is not None and before["depth"] > here["depth"]:
            return self.last_at_depth.get(here["depth"], before)
        return before

    def result(self):
        reached = None
        reached_event = None
        if gdb.selected_inferior().pid and self.agent.finished is None:
            reached = self.agent.location(newest())
            reached_event = "line"
        if self.q and self.q.get("watch") and reached is not None:
            value = self.watch_value()
            prev = self.watch_prev
            if value is not None and prev is not None and value != prev:
                here = dict(self.watch_prev_event, depth=self.frames.depth())
                self.keep(dict(self.changer(here), old=prev, new=value))
        return {"found": self.found, "broke": self.broke, "entry": self.entry,
                "error": self.error, "reached": reached, "reached_event": reached_event}
