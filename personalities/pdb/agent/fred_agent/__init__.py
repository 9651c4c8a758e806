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

import io
import os
import pdb
import signal
import sys
import traceback

from .channel import Channel
from . import collect, files, forks, native, nondet, sleeps, stdin, untraced
from .debugger import NORMAL, FredPdb
from .forks import agent_fork
from .snapshot import _set_pdeathsig


def _breakpointhook(dbg):
    """breakpoint() and pdb.set_trace() in the program: stop at the caller's next line."""
    def hook(*args, **kwargs):
        previous = untraced.stop()
        try:
            if dbg.mode == NORMAL:
                dbg.set_next(sys._getframe(1))
        finally:
            untraced.resume(previous)
    dbg.hidden_code.add(hook.__code__)
    return hook


def _run(dbg, module, target):
    import __main__

    if module:
        import importlib.util

        spec = importlib.util.find_spec(target)
        if spec is not None and spec.submodule_search_locations:
            spec = importlib.util.find_spec(target + ".__main__")
        if spec is None or not spec.origin:
            raise ModuleNotFoundError("No module named %r" % target)
        dbg.mainpyfile = dbg.canonic(spec.origin)
        dbg._wait_for_mainpyfile = True
        sys.argv[0] = spec.origin
        code = compile("import runpy\nrunpy.run_module(%r, run_name='__main__', alter_sys=True)"
                       % target, "<fred>", "exec")
        dbg.boot_code = code
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


def _import_machinery_code():
    """The code objects of Python's import system (importlib's bootstrap). What it does
    depends on the file system as it is now (a directory listing cached until the
    directory changes, a .pyc written or found), so its events would differ between a run
    and its replay; it is not the program's code either. Kept out of the program's time,
    as C code is: the imported modules' own code is traced as always."""
    import importlib._bootstrap
    import importlib._bootstrap_external
    import types

    found = set()

    def add(code):
        if code in found:
            return
        found.add(code)
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                add(c)

    def visit(obj, seen):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if isinstance(obj, property):
            for f in (obj.fget, obj.fset, obj.fdel):
                if f is not None:
                    visit(f, seen)
        elif isinstance(obj, types.FunctionType):
            add(obj.__code__)
        elif isinstance(obj, type):
            for v in vars(obj).values():
                visit(v, seen)

    seen = set()
    for mod in (importlib._bootstrap, importlib._bootstrap_external):
        for name, v in vars(mod).items():
            if getattr(v, "__module__", mod.__name__) in (
                    "importlib._bootstrap", "importlib._bootstrap_external",
                    "_frozen_importlib", "_frozen_importlib_external"):
                visit(v, seen)
    return found


def main():
    args = sys.argv[1:]
    module = bool(args) and args[0] == "--module"
    if module:
        args = args[1:]
    sock_path = os.environ.pop("FRED_SOCKET")
    fred_pid = int(os.environ.pop("FRED_PID"))
    agent_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [p for p in sys.path if p != agent_dir]
    sys.path.insert(0, "")
    try:
        clock = native.load()  # before anything forks: a build runs only once
    except native.Unavailable as e:
        sys.exit("fred-pdb: %s" % (e,))

    holder = Channel(sock_path, {"hello": "holder", "pid": os.getpid()})
    if agent_fork():
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
    dbg = FredPdb(sock_path, fred_pid, tty_fd, clock)
    dbg.hidden_code |= _import_machinery_code()
    dbg.chan = Channel(sock_path, {"hello": "live", "pid": os.getpid()})
    # fred's Ctrl-C comes as a signal the program does not use, so SIGINT stays the
    # program's own, the same in every replay (see FredPdb.__init__).
    interrupt = int(os.environ.pop("FRED_INTERRUPT_SIGNAL", signal.SIGINT))
    signal.signal(interrupt, dbg.sigint_handler)
    sys.breakpointhook = pdb.set_trace = _breakpointhook(dbg)
    stdin.install(dbg)
    nondet.install(dbg)
    sleeps.install(dbg)
    forks.install(dbg)
    files.install(dbg)
    collect.install(dbg)
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
        while tb is not None and tb.tb_frame.f_globals.get("__name__", "").startswith(("fred_agent", "bdb")):
            tb = tb.tb_next
        text = "".join(traceback.format_exception(etype, value, tb))
        if tb is None:
            dbg.at_end("finished", text.rstrip("\n"))
        else:
            dbg.at_end("postmortem",
                       text + "Uncaught exception. Entering post mortem debugging", tb)
