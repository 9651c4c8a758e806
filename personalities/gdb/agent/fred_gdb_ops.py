"""The operations behind ``fred-agent JSON``: checkpoints, replays and scans.

A replay or scan is a list of segments, one per epoch crossed. In each, the line clock
counts events (the stops ``step`` would make in the program's own code) and, at the end,
the epoch's recipe says where the next epoch starts. In a replay the part of a segment
the user ran natively runs natively again; in a scan every event is looked at.
"""

import json
import os
import re
import time

import gdb

import fred_gdb
from fred_gdb import FATAL, emit, frame_base, newest

CALLS = re.compile(r"[A-Za-z_]\w*\s*\(")
IDENT = re.compile(r"(?<![.>\w])([A-Za-z_]\w*)")
KEYWORDS = {"sizeof", "int", "char", "long", "short", "unsigned", "signed", "float",
            "double", "struct", "union", "enum", "const", "void"}


# Seconds of replaying or scanning between the checkpoints a run leaves on its way: a
# checkpoint costs about 25 ms, so this keeps their cost near 5% of the run.
CHECKPOINT_EVERY = 0.5


def checkpoint_alive(number):
    """Whether the process of gdb's checkpoint `number` still exists."""
    for line in run_quietly("info checkpoints").splitlines():
        m = re.match(r"\s*\*?\s*(\d+)\s.*?(?:process|LWP) (\d+)", line)
        if m and int(m.group(1)) == number:
            try:
                with open("/proc/%s/stat" % m.group(2)) as f:
                    return ") Z " not in f.read()
            except OSError:
                return False
    return False


class Interrupted(Exception):
    pass


def run_quietly(cmd):
    return gdb.execute(cmd, to_string=True)


def checkpoint_numbers():
    text = run_quietly("info checkpoints")
    nums, live = [], None
    for line in text.splitlines():
        m = re.match(r"\s*(\*)?\s*(\d+)\s", line)
        if m:
            nums.append(int(m.group(2)))
            if m.group(1):
                live = int(m.group(2))
    return nums, live


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


class Ops:
    def __init__(self, agent):
        self.agent = agent
        agent.user_bps = []
        gdb.events.stop.connect(self._on_stop)
        self.last_signal = None

    def _on_stop(self, event):
        if self.agent.busy and isinstance(event, gdb.SignalEvent):
            self.last_signal = event.stop_signal

    # ---- checkpoints -----------------------------------------------------------------

    def checkpoint(self, _req):
        inf = gdb.selected_inferior()
        threads = len(inf.threads())
        if threads > 1:
            raise gdb.GdbError(
                "cannot checkpoint a multi-threaded program (%d threads); fred-gdb goes on "
                "as plain gdb, and reverse commands use earlier checkpoints" % threads)
        before, _ = checkpoint_numbers()
        run_quietly("checkpoint")
        after, _ = checkpoint_numbers()
        new = sorted(set(after) - set(before))
        if not new:
            raise gdb.GdbError("gdb did not take a checkpoint")
        return {"gdb": new[-1]}

    def restore(self, req):
        if not checkpoint_alive(req["gdb"]):
            # Killed from outside: gdb cannot switch to it; fred forgets it.
            try:
                run_quietly("delete checkpoint %d" % req["gdb"])
            except gdb.error:
                pass
            return {"lost": True}
        _, live = checkpoint_numbers()
        run_quietly("restart %d" % req["gdb"])
        if live not in (None, 0, req["gdb"]):
            run_quietly("delete checkpoint %d" % live)
        fresh = self.checkpoint({})
        agent = self.agent
        agent.epoch, agent.k = req["epoch"], req["k"]
        agent.finished = None
        agent.crashed = None
        return fresh

    def drop(self, req):
        _, live = checkpoint_numbers()
        if req["gdb"] not in (0, live):
            run_quietly("delete checkpoint %d" % req["gdb"])
        return {}

    # ---- replays and scans -----------------------------------------------------------

    def run(self, req):
        """Runs `segments` from the current stop; with `query`, scans as it goes."""
        agent = self.agent
        query = req.get("query")
        user = [b for b in gdb.breakpoints() if b.number > 0 and b.enabled]
        agent.user_bps = [
            (b, {int(loc.address) for loc in (b.locations or []) if loc.address}, b.condition)
            for b in user if b.type == gdb.BP_BREAKPOINT]
        for b in user:
            b.enabled = False
        r = Run(agent, query)
        agent.mode = r
        try:
            r.frames = Frames(agent.program)
            for seg in req["segments"]:
                self.segment(r, seg, scanning=query is not None)
        except Interrupted:
            return {"interrupted": True, "checkpoints": r.checkpoints}
        finally:
            agent.mode = None
            r.drop_flag()
            for b in user:
                if b.is_valid():
                    b.enabled = True
            self.enable_clock(False)
        out = r.result() if query is not None else {}
        out["position"] = agent.position()
        out["checkpoints"] = r.checkpoints
        return out

    def enable_clock(self, on):
        for bp in self.agent.clock_bps.values():
            if bp.enabled != on:
                bp.enabled = on

    def end_bp(self, pc):
        agent = self.agent
        bp = agent.clock_bps.get(pc) or agent.end_bps.get(pc)
        if bp is None:
            bp = fred_gdb.Hit(agent, pc)
            agent.end_bps[pc] = bp
        return bp

    def segment(self, r, seg, scanning):
        agent = self.agent
        agent.epoch, agent.k = seg["epoch"], seg["k"]
        r.frames = Frames(agent.program)
        end = seg.get("end")
        r.end, r.end_hits, r.reached_end = None, 0, False
        # No checkpoint inside a stretch that ends at the n-th hit of a breakpoint (it
        # would not know how many hits are behind it).
        # Nor inside a stretch where the program read input (how much of it was read
        # there would not be known).
        r.may_checkpoint = not r.pause_for_watch and (end is None or not end.get("skip")) \
            and not seg.get("input")
        if scanning and not (end is None and agent.k >= seg["stop_k"]):
            r.on_event()  # the segment's first stop: the checkpoint's, or the epoch's
        if end is None:
            if agent.k < seg["stop_k"]:
                r.stop_k = seg["stop_k"]
                r.counting = True
                self.enable_clock(True)
                self.go(r, lambda: agent.k >= r.stop_k)
            return
        if agent.k < end.get("from_k", 0):
            r.stop_k = end["from_k"]
            r.counting = True
            r.inclusive = True
            self.enable_clock(True)
            self.go(r, lambda: agent.k >= r.stop_k)
            r.inclusive = False
        r.stop_k = None
        r.end = end
        r.counting = scanning
        self.enable_clock(scanning)
        kind = end.get("end")
        if kind == "hit":
            bp = self.end_bp(end["pc"])
            bp.enabled = True
            self.go(r, lambda: r.reached_end)
            if bp.pc not in agent.clock_bps:
                bp.enabled = False  # (clock breakpoints follow enable_clock)
        elif kind == "signal":
            self.go(r, lambda: self.last_signal == end["signal"])
            agent.crashed = end["signal"]
        elif kind == "exit":
            self.go(r, lambda: self.at_exit())
            agent.finished = int(gdb.parse_and_eval("$rdi")) & 0xFF
        else:
            raise gdb.GdbError("this stretch cannot be replayed (it ended by an interrupt "
                               "or a watchpoint)")
        agent.epoch += 1
        agent.k = 0

    def checkpoint_on_the_way(self, r):
        try:
            made = self.checkpoint({})
        except gdb.GdbError:
            r.may_checkpoint = False  # (threads)
            return
        made["time"] = self.agent.time()
        made["location"] = r.here()["location"]
        r.checkpoints.append(made)
        r.last_checkpoint = time.monotonic()

    def at_exit(self):
        frame = newest()
        return frame is not None and frame.name() in ("_exit", "__GI__exit")

    def go(self, r, done):
        """Continues until `done()`; pauses at events for watches that call functions."""
        agent = self.agent
        while not done():
            self.last_signal = None
            if not gdb.selected_inferior().pid:
                raise gdb.GdbError("the program ended before the replay reached its target")
            try:
                run_quietly("continue")
            except gdb.error:
                if r.flag is None:
                    raise
                # Too many locations for the debug registers: evaluate at every line.
                r.drop_flag()
                r.dirty = True
                continue
            if self.last_signal == "SIGINT":
                raise Interrupted()
            if r.at_event:
                r.at_event = False
                r.on_event()
            if r.checkpoint_due:
                r.checkpoint_due = False
                self.checkpoint_on_the_way(r)
            if agent.finished is None and self.at_exit() and not done():
                raise gdb.GdbError("the program ended before the replay reached its target")
            if self.last_signal in FATAL and not done():
                raise gdb.GdbError("the program died of %s before the replay reached its "
                                   "target" % self.last_signal)

    # ---- expressions -----------------------------------------------------------------

    def probe(self, req):
        expr = req["expr"]
        agent = self.agent
        agent.evaluating = True
        try:
            value = str(gdb.parse_and_eval(expr))
        finally:
            agent.evaluating = False
        frame = agent.user_frame()
        base = None
        depth = None
        names = set(IDENT.findall(expr)) - KEYWORDS
        if frame is not None and names:
            locals_here = set()
            try:
                block = frame.block()
            except RuntimeError:
                block = None
            while block is not None and not block.is_global and not block.is_static:
                for sym in block:
                    if sym.is_variable or sym.is_argument:
                        locals_here.add(sym.name)
                block = block.superblock
            if names & locals_here:
                base = frame_base(frame)
                depth = agent.program.depth(frame)
        return {"value": value, "frame_depth": depth, "base": base,
                "calls": bool(CALLS.search(expr))}

    def first_run(self, line, word):
        """The program's first `run` or `start`: stop at main first and checkpoint there,
        so that the recorded history starts with the program, then go on as asked."""
        agent = self.agent
        agent.busy = True
        try:
            try:
                bp = gdb.Breakpoint("main", internal=True, temporary=True)
                bp.silent = True
            except (gdb.error, RuntimeError):
                return None
            rest = line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
            gdb.execute(("run " + rest).strip(), from_tty=True)
            if bp.is_valid():
                bp.delete()
            frame = newest()
            if frame is None or frame.name() != "main":
                return {}
            agent.started = True
            agent.install()
            agent.epoch, agent.k = 1, 0
            agent.resumed = False
            try:
                start = dict(self.checkpoint({}), time=agent.time(), location=agent.location())
            except gdb.GdbError as e:
                gdb.write("fred: no time travel: %s\n" % e)
                return {}
        finally:
            agent.busy = False
        pc = newest().pc()
        user_bp_here = any(
            b.enabled and any(loc.address == pc for loc in (b.locations or []))
            for b in gdb.breakpoints() if b.number > 0)
        if word == "start" or user_bp_here:
            if not user_bp_here:
                gdb.execute("frame", from_tty=True)
            return {"start": start}
        gdb.execute("continue", to_string=False)
        return {"start": start}

    def user(self, req):
        """A command the user typed, run as if typed at gdb's prompt; an error is shown as
        gdb shows it and also returned as one line."""
        words = req["line"].split()
        if words and words[0] in ("r", "run", "start") and not self.agent.started:
            try:
                done = self.first_run(req["line"], words[0])
            except gdb.error as e:
                done = {"error": str(e).strip().splitlines()[0]}
                gdb.write(str(e).strip() + "\n", gdb.STDERR)
            if done is not None:
                return done
        try:
            gdb.execute(req["line"], from_tty=True)
        except gdb.error as e:
            msg = str(e).strip()
            gdb.write(msg + "\n", gdb.STDERR)
            return {"error": msg.splitlines()[0] if msg else "error"}
        except KeyboardInterrupt:
            gdb.write("Quit\n", gdb.STDERR)
            return {"error": "Quit"}
        return {}

    def holds(self, req):
        self.agent.evaluating = True
        try:
            value = gdb.parse_and_eval("(%s) != 0" % req["expr"])
            return {"holds": bool(value), "value": str(gdb.parse_and_eval(req["expr"]))}
        finally:
            self.agent.evaluating = False


class AgentCommand(gdb.Command):
    """fred's hidden channel (not for users)."""

    def __init__(self, ops):
        super().__init__("fred-agent", gdb.COMMAND_OBSCURE)
        self.ops = ops

    def invoke(self, arg, from_tty):
        agent = self.ops.agent
        if arg.startswith("@"):  # a request too long for a terminal line, in a file
            with open(arg[1:]) as f:
                arg = f.read()
            os.unlink(f.name)
        req = json.loads(arg)
        if req["op"] == "user":
            emit("reply", self.ops.user(req))
            return
        agent.busy = True
        try:
            reply = getattr(self.ops, req["op"])(req)
        except Exception as e:  # one line back to fred, never a traceback
            reply = {"error": str(e).strip().splitlines()[0] if str(e).strip() else repr(e)}
        finally:
            agent.busy = False
        emit("reply", reply)


class UserCommand(gdb.Command):
    """A command the user typed, as is: `fred-user LINE` (the short form of the agent's
    `user` request, since gdb reads its terminal a byte at a time)."""

    def __init__(self, ops):
        super().__init__("fred-user", gdb.COMMAND_OBSCURE)
        self.ops = ops

    def invoke(self, arg, from_tty):
        emit("reply", self.ops.user({"line": arg}))


def register(agent):
    agent.end_bps = {}
    ops = Ops(agent)
    AgentCommand(ops)
    UserCommand(ops)
