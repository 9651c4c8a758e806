"""fred's agent: the real pdb, run inside the debugged process, driven by fred.

fred starts `python3 -c "import fred_agent; fred_agent.main()" [--module] target args...`
with FRED_SOCKET (fred's control socket) and FRED_PID in the environment.

Process roles (all connect to FRED_SOCKET and say hello first):
- holder: the first process; it owns the terminal session so that the pty is never hung
  up while copies come and go. It waits for the socket to close, then exits.
- live: the debugger the user talks to. pdb's dialogue (commands, output, prompts) goes
  over the socket as JSON lines; the program's own I/O stays on the pty.
- snapshot: a frozen fork of the live process. On "resume" it forks a fresh live copy
  (twice, so the copy is reparented to fred) and stays pristine for the next resume.

Time is the number of trace events (call, line, return, exception) since the start. The
agent counts them in-process, so "go to event k" and "scan for the last event matching q
before k" are single commands with no pty round trip per step.

Only public pdb/bdb API is used, plus pdb's mainpyfile/_wait_for_mainpyfile pair that
pdb.main itself sets, so this runs on CPython 3.8 to 3.13.
"""

import bdb
import io
import json
import os
import pdb
import signal
import socket
import stat
import sys
import time
import traceback

GEN_FLAGS = getattr(bdb, "GENERATOR_AND_COROUTINE_FLAGS", 0x20 | 0x80 | 0x200)
NORMAL, GOTO, SCAN = 0, 1, 2
NEVER = 1 << 62
SYNC = "\x1b]7779;fred-sync;%d\x07"
AT_END_ALLOWED = {
    "b", "break", "tbreak", "cl", "clear", "disable", "enable", "condition", "ignore",
    "alias", "unalias", "h", "help", "commands",
}


def _set_pdeathsig():
    """Ask the kernel to kill this process when its parent dies (Linux only)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Channel:
    """One JSON-lines connection to fred's control socket."""

    def __init__(self, path, hello):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.send(hello)

    def send(self, obj):
        try:
            self.sock.sendall(json.dumps(obj).encode() + b"\n")
        except OSError:
            os._exit(0)

    def recv(self):
        """The next message; fred going away ends this process."""
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                os._exit(0)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line.decode())

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class SockOut:
    """pdb's stdout: text goes to fred as {"out": ...} messages."""

    def __init__(self, agent):
        self.agent = agent
        self.encoding = "utf-8"

    def write(self, text):
        if text:
            self.agent.send_out(text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


class SockIn:
    """pdb's stdin: each readline() reports the stop to fred and waits for a command."""

    def __init__(self, agent):
        self.agent = agent

    def readline(self):
        return self.agent.next_command()

    def isatty(self):
        return False


def _file_offsets():
    """Offsets of the regular files this process has open, to restore on resume."""
    offsets = {}
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    offsets[fd] = os.lseek(fd, 0, os.SEEK_CUR)
            except OSError:
                pass
    except OSError:
        pass
    return offsets


def _thread_count():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


class FredPdb(pdb.Pdb):
    """pdb with an event clock, in-process replay and scanning, and fork snapshots."""

    def __init__(self, sock_path, fred_pid, tty_fd):
        self.sock_path = sock_path
        self.fred_pid = fred_pid
        self.tty_fd = tty_fd
        self.chan = None
        self.t = 0  # trace events so far
        self.mode = NORMAL
        self.target = NEVER
        self.auto_ms = float(os.environ.get("FRED_AUTO_CHECKPOINT_MS", "100"))
        self.next_auto = 4096 if self.auto_ms > 0 else NEVER
        self.next_check = self.next_auto
        self.last_snapshot_wall = time.monotonic()
        self.sync_id = 0
        self.ran = True  # program code may have written to the pty since the last sync
        self.end_kind = None  # None, "finished" or "postmortem"
        self.end_message = ""
        self.end_depth = None
        self.stop_event = ("line", None)
        self.scan = None
        self.scan_result = None
        self.notices = []
        self.threads_warned = False
        super().__init__(stdin=SockIn(self), stdout=SockOut(self))
        self.prompt = ""

    # ----- talking to fred -------------------------------------------------------------

    def sync_marker(self):
        """Write a marker to the pty after program output; fred reads up to it."""
        if not self.ran:
            return None
        self.ran = False
        self.sync_id += 1
        try:
            os.write(self.tty_fd, (SYNC % self.sync_id).encode())
        except OSError:
            return None
        return self.sync_id

    def send_out(self, text):
        msg = {"out": text}
        sync = self.sync_marker()
        if sync is not None:
            msg["sync"] = sync
        self.chan.send(msg)

    def stop_depth(self, frame):
        n = 0
        while frame is not None and frame is not self.botframe:
            n += 1
            frame = frame.f_back
        return n

    def state(self):
        """Where the program stands, for fred's timeline."""
        if self.end_kind == "finished":
            return {"time": self.t + 1, "kind": "finished", "location": None,
                    "depth": None, "message": self.end_message}
        frame, lineno = self.stack[-1]
        loc = {"file": self.canonic(frame.f_code.co_filename), "line": lineno,
               "function": frame.f_code.co_name}
        if self.end_kind == "postmortem":
            return {"time": self.t + 1, "kind": "postmortem", "location": loc,
                    "depth": self.end_depth, "message": self.end_message}
        return {"time": self.t, "kind": "stop", "location": loc,
                "depth": self.stop_depth(frame), "event": self.stop_event[0]}

    def send_ready(self):
        msg = {"ready": self.state()}
        sync = self.sync_marker()
        if sync is not None:
            msg["sync"] = sync
        if self.scan_result is not None:
            msg["scan"] = self.scan_result
            self.scan_result = None
        if self.notices:
            msg["notices"] = self.notices
            self.notices = []
        self.chan.send(msg)

    def next_command(self):
        """Report the stop, then serve fred's requests until one is for pdb."""
        self.send_ready()
        while True:
            req = self.chan.recv()
            if "line" in req:
                self.ran = True
                return req["line"] + "\n"
            line = self.serve(req, at_prompt=True)
            if line is not None:
                self.ran = True
                return line

    def serve(self, req, at_prompt):
        """Handle one of fred's requests; return a pdb command line to run, if any."""
        what = req.get("fred")
        if what == "checkpoint":
            if self.end_kind:
                self.chan.send({"reply": {"error": "the program has ended"}})
                return None
            resumed = self.snapshot(at_stop=True)
            if resumed is None:
                return None
            return self.apply_resume(resumed, at_prompt)
        if what == "settings":
            self.chan.send({"reply": {"settings": self.export_settings()}})
            return None
        if what in ("goto", "scan"):
            return self.begin(req)
        self.chan.send({"reply": {"error": "unknown request %r" % (what,)}})
        return None

    def apply_resume(self, req, at_prompt):
        """Run in a fresh copy: take fred's settings, then do what fred asked next."""
        self.import_settings(req.get("settings"))
        then = req.get("then") or {}
        if then.get("fred") in ("goto", "scan"):
            return self.begin(then)
        if at_prompt:
            self.send_ready()
        return None

    def begin(self, req):
        """Start replaying (goto) or scanning up to req["until"]/req["time"]."""
        if self.end_kind:
            self.send_ready()
            return None
        if req["fred"] == "goto":
            self.start_mode(GOTO, req["time"], None)
        else:
            self.start_mode(SCAN, req["until"], req)
        return "fred_resume\n"

    def start_mode(self, mode, target, scan):
        self.mode = mode
        self.target = target
        self.next_check = min(self.next_auto, target)
        if scan is not None:
            self.scan = dict(scan)
            kind, arg = self.stop_event
            frame = self.stack[-1][0] if getattr(self, "stack", None) else None
            self.scan_start(frame, kind)
            if frame is not None and self.t < target:
                self.scan_event(frame, kind, arg, self.t)

    def do_fred_resume(self, arg):
        """(fred internal) resume execution in the replay mode fred has set."""
        self.reinstall_trace()
        return 1

    # ----- the event clock -------------------------------------------------------------

    def trace_dispatch(self, frame, event, arg):
        t = self.t = self.t + 1
        if t >= self.next_check:
            self.check(frame, event, arg)
        mode = self.mode
        if mode == NORMAL:
            return bdb.Bdb.trace_dispatch(self, frame, event, arg)
        if mode == SCAN:
            self.scan_event(frame, event, arg, t)
        return self.trace_dispatch

    def check(self, frame, event, arg):
        """Slow path of the clock: targets reached and automatic snapshots."""
        t = self.t
        if t >= self.target:
            if self.mode == SCAN:
                self.scan_finish()
            self.mode = NORMAL
            self.target = NEVER
            self.set_step()
        elif t >= self.next_auto:
            self.next_auto = t + 4096 if self.auto_ms > 0 else NEVER
            now = time.monotonic()
            if now - self.last_snapshot_wall >= self.auto_ms / 1000.0:
                resumed = self.snapshot(at_stop=False)
                if resumed is not None:
                    self.import_settings(resumed.get("settings"))
                    then = resumed.get("then") or {}
                    if then.get("fred") == "scan":
                        self.mode, self.target = SCAN, then["until"]
                        self.scan = dict(then)
                        self.scan_start(frame, event)
                    else:
                        self.mode, self.target = GOTO, then.get("time", t)
                    if t >= self.target:
                        return self.check(frame, event, arg)
        self.next_check = min(self.next_auto, self.target)

    def dispatch_call(self, frame, arg):
        # Keep tracing every frame, so the clock counts every event.
        res = bdb.Bdb.dispatch_call(self, frame, arg)
        return self.trace_dispatch if res is None else res

    def set_continue(self):
        bdb.Bdb.set_continue(self)
        if not self.end_kind:
            self.reinstall_trace()

    def reinstall_trace(self):
        """bdb turns tracing off when it can; the clock needs it on everywhere."""
        sys.settrace(self.trace_dispatch)
        frame = sys._getframe().f_back
        while frame is not None and frame is not self.botframe:
            frame.f_trace = self.trace_dispatch
            frame = frame.f_back

    def sigint_handler(self, signum, frame):
        # pdb's own handler calls set_trace(), which resets botframe and so every depth.
        self.message("\nProgram interrupted. (Use 'cont' to resume).")
        self.set_step()

    def user_call(self, frame, argument_list):
        self.stop_event = ("call", argument_list)
        super().user_call(frame, argument_list)

    def user_line(self, frame):
        self.stop_event = ("line", None)
        super().user_line(frame)

    def user_return(self, frame, return_value):
        self.stop_event = ("return", return_value)
        super().user_return(frame, return_value)

    def user_exception(self, frame, exc_info):
        self.stop_event = ("exception", exc_info)
        super().user_exception(frame, exc_info)

    # ----- scanning: the last events before a time that match a query ---------------------

    def scan_start(self, frame, event):
        s = self.scan
        depth = self.stop_depth(frame) if frame is not None else 0
        s["d"] = depth - 1 if event == "call" else depth
        s["found"] = []
        s["broke"] = False
        s.setdefault("keep", 1)

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

    def scan_finish(self):
        s = self.scan
        self.scan_result = {"found": s["found"], "broke": s["broke"]}
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

    # ----- snapshots ---------------------------------------------------------------------

    def snapshot(self, at_stop):
        """Fork a frozen copy. Returns None in the live process, or, in a fresh copy made
        from the snapshot later, fred's resume request."""
        if _thread_count() > 1:
            msg = ("cannot checkpoint: the program runs %d threads, and fork copies only "
                   "one" % _thread_count())
            if at_stop:
                self.chan.send({"reply": {"error": msg}})
            elif not self.threads_warned:
                self.threads_warned = True
                self.notices.append(msg)
            self.last_snapshot_wall = time.monotonic() + 3600
            return None
        offsets = _file_offsets()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            self.last_snapshot_wall = time.monotonic()
            if at_stop:
                self.chan.send({"reply": {"snapshot_pid": pid}})
            return None
        return self.snapshot_main(at_stop, offsets)

    def snapshot_main(self, at_stop, offsets):
        """The frozen snapshot: wait for resume requests, fork a live copy for each."""
        old_sigint = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.chan.close()
        here = self.state() if at_stop else {"time": self.t, "kind": "running"}
        chan = Channel(self.sock_path, {"hello": "snapshot", "pid": os.getpid(),
                                        "at_stop": at_stop, "state": here})
        while True:
            req = chan.recv()
            if req.get("fred") != "resume":
                continue
            child = os.fork()
            if child == 0:
                if os.fork():
                    os._exit(0)
                chan.close()
                return self.become_live(req, offsets, old_sigint)
            os.waitpid(child, 0)

    def become_live(self, req, offsets, old_sigint):
        deadline = time.monotonic() + 5
        while os.getppid() != self.fred_pid and time.monotonic() < deadline:
            time.sleep(0.0001)
        _set_pdeathsig()
        if os.getppid() != self.fred_pid:
            os._exit(0)
        for fd, off in offsets.items():
            try:
                os.lseek(fd, off, os.SEEK_SET)
            except OSError:
                pass
        signal.signal(signal.SIGINT, old_sigint)
        self.chan = Channel(self.sock_path, {"hello": "live", "pid": os.getpid()})
        self.ran = True
        self.last_snapshot_wall = time.monotonic()
        return req

    # ----- debugger settings that outlive a restore ----------------------------------------

    def export_settings(self):
        bps = []
        for b in bdb.Breakpoint.bpbynumber:
            if b:
                bps.append({"number": b.number, "file": b.file, "line": b.line,
                            "temporary": bool(b.temporary), "cond": b.cond,
                            "funcname": b.funcname, "enabled": bool(b.enabled),
                            "ignore": b.ignore, "hits": b.hits})
        return {"breakpoints": bps, "next": bdb.Breakpoint.next,
                "aliases": dict(self.aliases),
                "commands": {str(k): v for k, v in getattr(self, "commands", {}).items()},
                "silent": {str(k): v for k, v in
                           getattr(self, "commands_silent", {}).items()},
                "doprompt": {str(k): v for k, v in
                             getattr(self, "commands_doprompt", {}).items()}}

    def import_settings(self, settings):
        if not settings:
            return
        for b in list(bdb.Breakpoint.bpbynumber):
            if b:
                b.deleteMe()
        self.breaks = {}
        bdb.Breakpoint.bplist = {}
        bdb.Breakpoint.bpbynumber = [None]
        for s in settings["breakpoints"]:
            bdb.Breakpoint.next = s["number"]
            while len(bdb.Breakpoint.bpbynumber) < s["number"]:
                bdb.Breakpoint.bpbynumber.append(None)
            if self.set_break(s["file"], s["line"], s["temporary"], s["cond"], s["funcname"]):
                continue
            b = bdb.Breakpoint.bpbynumber[s["number"]]
            b.enabled, b.ignore, b.hits = s["enabled"], s["ignore"], s["hits"]
        bdb.Breakpoint.next = settings["next"]
        self.aliases = dict(settings["aliases"])
        self.commands = {int(k): v for k, v in settings["commands"].items()}
        self.commands_silent = {int(k): v for k, v in settings["silent"].items()}
        self.commands_doprompt = {int(k): v for k, v in settings["doprompt"].items()}

    # ----- the end of the program ------------------------------------------------------------

    def at_end(self, kind, message, tb=None):
        """Stay at the end of the program so fred can go back from there."""
        self.end_kind = kind
        self.end_message = message
        sys.settrace(None)
        if self.scan is not None:
            self.scan_finish()
        self.mode = NORMAL
        depth, t = 0, tb
        while t is not None:
            depth += 1
            t = t.tb_next
        self.end_depth = depth
        if message:
            self.message(message)
        while True:
            if kind == "postmortem":
                self.interaction(None, tb)
                self.message("The program has ended; go back with a reverse command.")
                continue
            line = self.next_command().strip()
            word = line.split(None, 1)[0] if line else ""
            if word in AT_END_ALLOWED:
                self.onecmd(line)
            elif word:
                self.error("The program has ended; go back with a reverse command.")


def _breakpointhook(dbg):
    def hook(*args, **kwargs):
        if dbg.mode == NORMAL:
            dbg.set_next(sys._getframe(1))
    return hook


def _run(dbg, module, target):
    import __main__

    if module:
        import runpy
        import importlib.util

        spec = importlib.util.find_spec(target)
        if spec is not None and spec.submodule_search_locations:
            spec = importlib.util.find_spec(target + ".__main__")
        if spec is None or not spec.origin:
            raise SystemExit("fred: no module named %s" % target)
        dbg.mainpyfile = dbg.canonic(spec.origin)
        dbg._wait_for_mainpyfile = True
        sys.argv[0] = spec.origin
        code = compile("import runpy\nrunpy.run_module(%r, run_name='__main__', alter_sys=True)"
                       % target, "<fred>", "exec")
        dbg.run(code, {"__name__": "__fred__"})
        return
    path = os.path.realpath(target)
    __main__.__dict__.clear()
    __main__.__dict__.update({"__name__": "__main__", "__file__": path,
                              "__builtins__": __builtins__})
    with io.open_code(path) as fp:
        code = compile(fp.read(), path, "exec")
    dbg.mainpyfile = dbg.canonic(path)
    sys.path[0] = os.path.dirname(path)
    dbg.run(code, __main__.__dict__)


def main():
    args = sys.argv[1:]
    module = bool(args) and args[0] == "--module"
    if module:
        args = args[1:]
    sock_path = os.environ.pop("FRED_SOCKET")
    fred_pid = int(os.environ.pop("FRED_PID"))
    agent_dir = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p != agent_dir]
    sys.path.insert(0, "")

    holder = Channel(sock_path, {"hello": "holder", "pid": os.getpid()})
    if os.fork():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        _set_pdeathsig()
        if os.getppid() != fred_pid:
            os._exit(0)
        while True:
            holder.recv()
    holder.close()
    _set_pdeathsig()

    tty_fd = os.dup(1)
    os.set_inheritable(tty_fd, False)
    dbg = FredPdb(sock_path, fred_pid, tty_fd)
    dbg.chan = Channel(sock_path, {"hello": "live", "pid": os.getpid()})
    sys.breakpointhook = pdb.set_trace = _breakpointhook(dbg)
    sys.argv[:] = args
    try:
        _run(dbg, module, args[0])
        dbg.at_end("finished", "The program finished.")
    except SystemExit as e:
        dbg.at_end("finished", "The program exited via sys.exit(). Exit status: %s"
                   % (e.code,))
    except BaseException:
        etype, value, tb = sys.exc_info()
        # Drop fred's and bdb's own frames: the traceback starts in the program.
        while tb is not None and tb.tb_frame.f_globals.get("__name__") in (__name__, "bdb"):
            tb = tb.tb_next
        text = "".join(traceback.format_exception(etype, value, tb))
        if tb is None:
            dbg.at_end("finished", text.rstrip("\n"))
        else:
            dbg.at_end("postmortem",
                       text + "Uncaught exception. Entering post mortem debugging", tb)
