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
from fred_gdb_scan import Frames, Run

CALLS = re.compile(r"[A-Za-z_]\w*\s*\(")
IDENT = re.compile(r"(?<![.>\w])([A-Za-z_]\w*)")
KEYWORDS = {"sizeof", "int", "char", "long", "short", "unsigned", "signed", "float",
            "double", "struct", "union", "enum", "const", "void"}


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
