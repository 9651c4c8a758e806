"""The operations behind ``fred-agent JSON``: checkpoints, replays and scans.

A replay or scan is a list of segments, one per epoch crossed. In each, the line clock
counts events (the stops ``step`` would make in the program's own code) and, at the end,
the epoch's recipe says where the next epoch starts. In a replay the part of a segment
the user ran natively runs natively again; in a scan every event is looked at.
"""

import contextlib
import json
import os
import re
import time

import gdb

import fred_gdb
from fred_gdb import emit, error_value, frame_base, newest

CALLS = re.compile(r"[A-Za-z_]\w*\s*\(")
IDENT = re.compile(r"(?<![.>\w])([A-Za-z_]\w*)")
CONTINUES = ("c", "cont", "continue", "fg")
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


def run_quietly(cmd):
    return gdb.execute(cmd, to_string=True)


@contextlib.contextmanager
def in_language(language, unless=()):
    """gdb reads expressions in `language` inside the block (unless the current language
    is one of `unless`), and in the language it had before afterwards."""
    was = gdb.parameter("language")
    switch = was != language and was not in unless
    if switch:
        try:
            run_quietly("set language %s" % language)
        except gdb.error:
            switch = False
    try:
        yield
    finally:
        if switch:
            run_quietly("set language %s" % was)


def forking(cmd):
    """Runs gdb's `checkpoint` or `restart`, which have the program call `lseek` on each
    of its descriptors through an expression in the current language. C's parser first
    looks a name without debugging information (as the C library's `lseek` is) through
    every source file name the program's libraries have: milliseconds a call where the C
    library's debugging information is installed, most of a checkpoint's time. D's parser
    reads the same call alike without that search, so the commands run in D."""
    with in_language("d"):
        return run_quietly(cmd)


WALL = 0x40000000  # __WALL: wait for traced processes whatever their kind


def checkpoint_pids():
    """gdb's checkpoint numbers and their processes."""
    out = {}
    for line in run_quietly("info checkpoints").splitlines():
        m = re.match(r"\s*\*?\s*(\d+)\s.*?(?:process|LWP) (\d+)", line)
        if m:
            out[int(m.group(1))] = int(m.group(2))
    return out


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


def delete_checkpoints(numbers):
    """Deletes gdb's checkpoints `numbers` and collects their deaths. gdb, their tracer, is
    told of a death only when it next waits for the program: it is told now, so that their
    parent (fred, for copies whose first parent is gone) can reap them at once rather than
    leave a zombie for as long as the user stays at the prompt."""
    pids = checkpoint_pids()
    dead = []
    for n in numbers:
        try:
            run_quietly("delete checkpoint %d" % n)
            dead.append(pids.get(n))
        except gdb.error:
            pass
    deadline = time.monotonic() + 1.0
    for pid in [p for p in dead if p]:
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG | WALL)
            except ChildProcessError:
                break
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.001)


class Ops:
    def __init__(self, agent):
        self.agent = agent
        agent.user_bps = []
        self.spent = []  # gdb numbers of process copies no longer needed
        self.checkpoint_failure = None  # why gdb could not checkpoint (it will not again)
        self.checkpoint_cost = 0.02  # seconds a checkpoint took last (gdb's fork and more)
        self.last_stop = []  # the breakpoints the program last stopped at
        agent.on_busy_stop = self._on_stop
        self.last_signal = None

    def _on_stop(self, event):
        """A stop of the program while an operation runs it (see Agent._on_stop)."""
        if isinstance(event, gdb.SignalEvent):
            self.last_signal = event.stop_signal
        self.last_stop = list(getattr(event, "breakpoints", None) or [])

    # ---- checkpoints -----------------------------------------------------------------

    def checkpoint(self, _req):
        inf = gdb.selected_inferior()
        threads = len(inf.threads())
        if threads > 1:
            raise gdb.GdbError(
                "cannot checkpoint a multi-threaded program (%d threads); fred-gdb goes on "
                "as plain gdb, and reverse commands use earlier checkpoints" % threads)
        before, _ = checkpoint_numbers()
        if self.checkpoint_failure:
            raise gdb.GdbError(self.checkpoint_failure)
        started = time.monotonic()
        try:
            forking("checkpoint")
            self.checkpoint_cost = time.monotonic() - started
        except gdb.error as e:
            # gdb keeps the copy it could not finish, and cannot delete it: no more tries,
            # each of which would leave one more process.
            self.checkpoint_failure = str(e)
            raise gdb.GdbError(self.checkpoint_failure) from e
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
        forking("restart %d" % req["gdb"])
        self.agent.landed = True
        if live not in (None, 0, req["gdb"]):
            self.spent.append(live)  # deleted when fred is idle (`tidy`)
        fresh = self.checkpoint({})
        agent = self.agent
        if agent.clock is not None:
            agent.clock.patched = None  # (as the checkpoint had it)
        agent.epoch, agent.k = req["epoch"], req["k"]
        agent.finished = None
        agent.crashed = None
        return fresh

    def tidy(self, _req):
        """Deletes the process copies restores left behind."""
        _, live = checkpoint_numbers()
        delete_checkpoints([n for n in self.spent if n != live])
        self.spent = []
        return {}

    def drop(self, req):
        _, live = checkpoint_numbers()
        if req["gdb"] not in (0, live):
            delete_checkpoints([req["gdb"]])
        return {}

    # ---- replays and scans -----------------------------------------------------------

    def run(self, req):
        """Runs `segments` from the current stop; with `query`, searches as it goes."""
        # (Loaded at the first replay: a session that only goes forward never needs them,
        # and they are a sixth of the agent's start.)
        import fred_gdb_chain as chain
        import fred_gdb_find as find
        import fred_gdb_watch as watch
        from fred_gdb_scan import Interrupted

        agent = self.agent
        agent.landed = True
        query = req.get("query")
        user = [b for b in gdb.breakpoints() if b.number > 0 and b.enabled]
        self.user_breakpoints = [
            (b, {int(loc.address) for loc in (b.locations or []) if loc.address}, b.condition)
            for b in user if b.type == gdb.BP_BREAKPOINT]
        for b in user:
            b.enabled = False
        try:
            if query is None:
                s = find.Stretch(self, req)
                r = s.run()
                r.finish()
                out = {"checkpoints": s.checkpoints}
            elif query.get("watch"):
                out = chain.natively(self, req) or watch.search(self, req)
            elif query.get("breakpoints"):
                out = find.breakpoints(self, req)
            else:
                out = find.steps(self, req)
        except Interrupted:
            return {"interrupted": True}
        finally:
            for b in user:
                if b.is_valid():
                    b.enabled = True
            if agent.clock is not None and gdb.selected_inferior().pid:
                agent.clock.set_patched(False)
        if req.get("from") is not None:
            out["from_gdb"] = req["from"]["gdb"]
        out["position"] = agent.position()
        return out

    def own_frames(self):
        """The program's own frames, the innermost first."""
        frames = []
        frame = newest()
        while frame is not None:
            if self.agent.program.owns(frame):
                frames.append(frame)
            frame = frame.older()
        return frames

    def evaluate_condition(self, cond):
        self.agent.evaluating = True
        try:
            return bool(gdb.parse_and_eval(cond))
        except gdb.error:
            return True  # (as gdb does: a condition that fails to evaluate stops)
        finally:
            self.agent.evaluating = False

    def at_exit(self):
        frame = newest()
        return frame is not None and frame.name() in ("_exit", "__GI__exit")

    # ---- expressions -----------------------------------------------------------------

    def probe(self, req):
        expr = req["expr"]
        agent = self.agent
        agent.evaluating = True
        try:
            value = str(gdb.parse_and_eval(expr))
        except gdb.error as e:
            # A value that cannot be read now (a null or bad pointer on the way) is a
            # value of its own, and so is a call that faults now (on a list already
            # corrupted, say); a name that does not exist here, or bad syntax, is not.
            faulted = CALLS.search(expr) and "signaled while in a function" in str(e)
            if not (isinstance(e, gdb.MemoryError) or faulted):
                raise
            value = error_value(e)
        finally:
            agent.evaluating = False
        # Locals are the selected frame's (after `up` or `frame N`), as for gdb's `watch`.
        try:
            frame = gdb.selected_frame()
        except gdb.error:
            frame = None
        if frame is None or not agent.program.owns(frame):
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
            except gdb.GdbError:
                # The run goes on as under plain gdb; fred tries again at the first stop
                # and says why there is no time travel.
                start = None
        finally:
            agent.busy = False
        reply = {"start": start} if start else {}
        taken = time.monotonic()
        pc = newest().pc()
        user_bp_here = any(
            b.enabled and any(loc.address == pc for loc in (b.locations or []))
            for b in gdb.breakpoints() if b.number > 0)
        if word == "start" or user_bp_here:
            if not user_bp_here:
                gdb.execute("frame", from_tty=True)
        else:
            gdb.execute("continue", to_string=False)
        if start:
            start["ran"] = time.monotonic() - taken  # (how old the checkpoint is by now)
        return reply

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
            if not self.continue_counted(words):
                gdb.execute(req["line"], from_tty=True)
        except gdb.error as e:
            msg = str(e).strip()
            gdb.write(msg + "\n", gdb.STDERR)
            return {"error": msg.splitlines()[0] if msg else "error"}
        except KeyboardInterrupt:
            gdb.write("Quit\n", gdb.STDERR)
            return {"error": "Quit"}
        return {}

    def continue_counted(self, words):
        """`continue N` at a stop fred's replay brought the program to: gdb gives the
        breakpoint it last stopped at an ignore count of N - 1, but that stop was fred's,
        and gdb would say it is not stopped at any breakpoint. So the user's breakpoint at
        this place takes it, as gdb would at a stop of its own there. False where that is
        not the case (gdb runs the command as it is)."""
        if not (self.agent.landed and len(words) == 2 and words[0] in CONTINUES):
            return False
        frame = newest()
        try:
            count = int(gdb.parse_and_eval(words[1]))
        except (gdb.error, ValueError):
            return False
        pc = frame.pc() if frame is not None else None
        here = [b for b in gdb.breakpoints()
                if b.number > 0 and b.enabled and b.type == gdb.BP_BREAKPOINT
                and any(loc.enabled and loc.address == pc for loc in (b.locations or []))]
        if not here:
            return False
        said = gdb.execute("ignore %d %d" % (here[0].number, count - 1), from_tty=True,
                           to_string=True).rstrip("\n")
        gdb.write(said + "  ")  # (gdb's own `continue N` says it so)
        gdb.execute("continue", from_tty=True)
        return True

    def watchpoints(self, _req):
        """The user's enabled watchpoints on writes, for reverse-continue to stop at."""
        kinds = (gdb.BP_HARDWARE_WATCHPOINT, gdb.BP_WATCHPOINT)
        label = {gdb.BP_HARDWARE_WATCHPOINT: "Hardware watchpoint", gdb.BP_WATCHPOINT: "Watchpoint"}
        return {"watchpoints": [
            {"label": "%s %d" % (label[b.type], b.number), "expr": b.expression}
            for b in gdb.breakpoints()
            if b.number > 0 and b.enabled and b.type in kinds and b.expression]}

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
            reply_to_user(self.ops.user(req))
            return
        agent.busy = True
        # The agent's own expressions are C: in a language the user set, for the operation
        # only, gdb reads them as C.
        try:
            with in_language("c", unless=("auto", "local")):
                reply = getattr(self.ops, req["op"])(req)
        except KeyboardInterrupt:
            # Ctrl-C inside a call gdb makes for a search (a watched function call):
            # as a Ctrl-C between the program's stops is.
            reply = {"interrupted": True}
        except Exception as e:  # one line back to fred, never a traceback
            fred_gdb.log_failure()
            reply = {"error": str(e).strip().splitlines()[0] if str(e).strip() else repr(e)}
        finally:
            agent.busy = False
        emit("reply", reply)


class AheadCommand(gdb.Command):
    """`fred-ahead N`: the next N lines are forward commands fred typed ahead, without
    waiting for the prompt of each. Where one of them stops where fred must look first,
    the prompt drops the rest and says how many (`dropped`)."""

    def __init__(self, agent):
        super().__init__("fred-ahead", gdb.COMMAND_OBSCURE)
        self.agent = agent

    def invoke(self, arg, from_tty):
        self.agent.ahead = int(arg)
        self.agent.ahead_fresh = True


class UserCommand(gdb.Command):
    """A command the user typed, as is: `fred-user LINE` (the short form of the agent's
    `user` request, since gdb reads its terminal a byte at a time)."""

    def __init__(self, ops):
        super().__init__("fred-user", gdb.COMMAND_OBSCURE)
        self.ops = ops

    def invoke(self, arg, from_tty):
        reply_to_user(self.ops.user({"line": arg}))


def reply_to_user(reply):
    """A user command's reply, left out where it is empty (no error, not the first run):
    the prompt that follows says the rest, and a command continued through a breakpoint
    hit a thousand times writes a thousand replies fewer."""
    if reply:
        emit("reply", reply)


class RunOnCommand(gdb.Command):
    """`fred-run-on`, after `run` again, where fred has brought the program back to its
    start (its first line in main): go on as `run` would have. A fresh run stops at a
    breakpoint there; gdb resuming from a place does not, so a breakpoint of the user's at
    this place is reported here as gdb reports one, and otherwise the program continues."""

    def __init__(self):
        super().__init__("fred-run-on", gdb.COMMAND_OBSCURE)

    def invoke(self, arg, from_tty):
        frame = gdb.newest_frame()
        pc = frame.pc()
        for b in gdb.breakpoints():
            if b.number <= 0 or not b.enabled or b.type != gdb.BP_BREAKPOINT:
                continue
            if not any(loc.enabled and loc.address == pc for loc in (b.locations or [])):
                continue
            try:
                if b.condition and not bool(gdb.parse_and_eval(b.condition)):
                    continue
            except gdb.error:
                pass  # (gdb stops at a condition it cannot evaluate)
            if b.ignore_count > 0:
                continue
            where = gdb.execute("frame", to_string=True).split("  ", 1)[-1]
            gdb.write("\nBreakpoint %d, %s" % (b.number, where))
            return
        gdb.execute("continue", from_tty=from_tty)


def register(agent):
    agent.end_bps = {}
    ops = Ops(agent)
    AgentCommand(ops)
    UserCommand(ops)
    AheadCommand(agent)
    RunOnCommand()
