"""fred's agent inside gdb.

gdb runs this file at start (``-x``). It gives fred what gdb alone cannot: a prompt that
says where the program stands (as JSON inside a terminal escape sequence the user never
sees), and one hidden command, ``fred-agent JSON``, through which fred checkpoints,
restores, replays and scans without a round trip through the terminal per step.

Time. A position is (epoch, k): an epoch starts at every stop a user command leads to, and
k counts the *hits* after that stop, the line-table entries of the program's own code run
since (fred_gdb_native counts them inside the program at near native speed, but only in
replays and searches: the user's commands run on the original code). A user command's end
is remembered as a *recipe* (run until pc X is reached the n-th time, or until the fatal
signal, or the exit) and replayed natively; fred_gdb_events tells which hits are the stops
``step`` makes.
"""

import bisect
import json
import os
import struct
import traceback

import gdb

from fred_gdb_prompt import Location, position_json

MARK = "\x1b]7779;fred-"
STACK_WINDOW = 512  # bytes of the stack read at once when walking frame pointers
BEL = "\x07"
FATAL = ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGABRT")
WATCHPOINTS = (gdb.BP_HARDWARE_WATCHPOINT, gdb.BP_WATCHPOINT, gdb.BP_READ_WATCHPOINT,
               gdb.BP_ACCESS_WATCHPOINT)
# Seconds of running between the checkpoints a replay or search leaves on its way (fred
# sets it; 0: none). A gdb checkpoint costs about 25 ms: 0.5 s keeps them near 5%.
CHECKPOINT_EVERY = 0.5


def log_failure():
    """For fred's developers: with FRED_GDB_LOG naming a file, an operation that failed
    leaves its traceback there (fred itself shows one line)."""
    path = os.environ.get("FRED_GDB_LOG")
    if path:
        with open(path, "a") as f:
            f.write(traceback.format_exc())


def error_value(e):
    """An expression's error as a value of its own (`<Cannot access memory at ...>`): a
    pointer on the way that cannot be read, or a call that faulted. Its first line only:
    gdb's message for a faulted call goes on with advice."""
    lines = str(e).strip().splitlines() or [""]
    return "<%s>" % lines[0].rstrip(".")


def emit(kind, payload):
    gdb.write(MARK + kind + ";" + json.dumps(payload) + BEL)
    gdb.flush()


def in_dynamic_loader(address):
    """Whether `address` is in the dynamic loader, which has copies of its own of some of
    the C library's functions (`_exit`, `munmap`)."""
    lib = gdb.solib_name(address) or ""
    return os.path.basename(lib).startswith("ld-")


def newest():
    try:
        return gdb.newest_frame()
    except gdb.error:
        return None


def frame_base(frame):
    """Identifies a frame instance: its frame pointer (programs built with -O0 keep one)."""
    try:
        return int(frame.read_register("rbp"))
    except (gdb.error, ValueError):
        return 0


_FULLNAMES = {}


def fullname(symtab):
    """A symtab's absolute path; gdb looks on disk each time it is asked, so once only."""
    key = (symtab.objfile.filename, symtab.filename)
    name = _FULLNAMES.get(key)
    if name is None:
        name = _FULLNAMES[key] = symtab.fullname()
    return name


_SYMTABS = {}


def program_symtabs(objfile):
    """The symtabs of the C sources of the program's objfile. `info sources` lists those
    of every objfile loaded, and gdb looks a file up in all of them: once the C library's
    debug information is in, that takes milliseconds. So they are found as soon as the
    program's own objfile loads (see Agent._on_objfile), when the program is all there is;
    gdb keeps them valid when it relocates the program to run it."""
    known = _SYMTABS.get(objfile)
    if known is not None and all(st.is_valid() for st in known):
        return known
    text = gdb.execute("info sources", to_string=True)
    sources = []
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.endswith(":") and not line.startswith("("):
            section = line[:-1]
            continue
        if section == objfile and line:
            sources.extend(s.strip() for s in line.split(","))
    symtabs = []
    for src in sources:
        if not src.endswith((".c", ".cc", ".cpp", ".cxx", ".C")):
            continue
        try:
            sals = gdb.decode_line("%s:1" % src)[1] or []
        except gdb.error:
            continue
        symtabs.extend(sal.symtab for sal in sals if sal.symtab is not None)
    _SYMTABS[objfile] = symtabs
    return symtabs


def call_chain(frame):
    """Where each frame outside `frame` was (its pc: the return address into it), out to
    the outermost."""
    chain = []
    frame = frame.older()
    while frame is not None and len(chain) < 64:
        chain.append(frame.pc())
        frame = frame.older()
    return chain


class Program:
    """The program's own code: its line-table entries and functions, from the main objfile."""

    def __init__(self):
        self.lines = {}  # pc -> line, for line events
        self.entries = set()  # functions' first pcs (before their prologue)
        self.files = {}  # pc -> source path
        self.functions = {}  # pc -> name of the function it is in
        self.return_entries = set()  # entries a call returns onto (from the native clock)
        self.sources = set()
        self.ranges = {}  # first pc -> end of each function of the program's own
        self.main = (0, 0)  # main's code: the outermost frame of the program's own
        self.locations = {}  # line-start pc -> its location, as a stop there shows it
        seen = set()
        for st in program_symtabs(gdb.current_progspace().filename):
            if st.fullname() in seen:
                continue
            seen.add(st.fullname())
            self.sources.add(st.fullname())
            self._add(st)
        pcs = list(self.lines) + list(self.entries)
        self.span = (min(pcs), max(pcs) + 1) if pcs else (0, 0)
        self.starts = sorted(self.ranges)
        main = gdb.lookup_global_symbol("main")
        block = gdb.block_for_pc(int(main.value().address)) if main else None
        while block is not None and block.function is None:
            block = block.superblock
        if block is not None:
            self.main = (block.start, block.end)

    def _add(self, st):
        table = list(st.linetable())
        entries = sorted((e.pc, e.line) for e in table if e.line > 0)
        for pc, line in entries:
            block = gdb.block_for_pc(pc)
            fn = block.function if block else None
            while block is not None and fn is None:
                block = block.superblock
                fn = block.function if block else None
            if fn is None:
                continue
            start = int(fn.value().address)
            self.ranges[block.start] = block.end
            if pc == start:
                self.entries.add(pc)
                continue
            if pc not in self.lines:
                self.lines[pc] = line
                self.files[pc] = st.fullname()
                self.functions[pc] = fn.print_name

    def where(self, pc):
        """The source position of an entry pc."""
        return {"file": self.files[pc], "line": self.lines[pc], "function": self.functions[pc]}

    def depth(self, frame, pc=None):
        """Frames of the program's own code from `frame` outwards (1 = main). (`pc`: the
        frame's, where the caller has it.)"""
        quick = self.depth_by_frame_pointers(frame, pc)
        if quick is not None:
            return quick
        n = 0
        while frame is not None:
            if self.owns(frame):
                n += 1
            if self.outermost(frame):
                break
            frame = frame.older()
        return n

    def depth_by_frame_pointers(self, frame, pc=None):
        """`depth` read off the chain of saved frame pointers (with a return address beside
        each, as -O0 code keeps them), a few reads of the stack where gdb's unwinding costs
        tens of microseconds a frame; None where the chain cannot be trusted: `frame` not at
        the start of a line (in a prologue, say), or a caller outside the program's code
        that is not main's."""
        if pc is None:
            pc = frame.pc()
        if pc not in self.lines:
            return None
        try:
            base = frame_base(frame)
            memory = gdb.selected_inferior().read_memory
            # The stack read a few frames at a time (small -O0 frames lie close together;
            # each read is a system call).
            start, window = 0, b""
            n = 1
            while n < 10000:
                if not start <= base <= start + len(window) - 16:
                    start = base
                    try:
                        window = bytes(memory(base, STACK_WINDOW))
                    except gdb.MemoryError:  # (near the stack's top end)
                        window = bytes(memory(base, 16))
                saved, ret = struct.unpack_from("<QQ", window, base - start)
                if not self.in_own_function(ret):
                    return n if self.main[0] <= pc < self.main[1] else None
                n, pc, base = n + 1, ret, saved
        except (gdb.error, gdb.MemoryError, ValueError, OverflowError):
            return None
        return None

    def in_own_function(self, pc):
        i = bisect.bisect_right(self.starts, pc) - 1
        return i >= 0 and pc < self.ranges[self.starts[i]]

    def outermost(self, frame):
        """`frame` is main's, called from outside the program's code: no frame out from it
        is the program's. (Walking on would have gdb unwind the C library's start-up frames
        afresh at every stop, with its debugging information.)"""
        if not self.main[0] <= frame.pc() < self.main[1]:
            return False
        try:
            # The return address beside the saved frame pointer, as -O0 code keeps it: no
            # unwinding into the C library (gdb's dearest step here).
            base = frame_base(frame)
            ret = int.from_bytes(gdb.selected_inferior().read_memory(base + 8, 8), "little")
        except (gdb.error, gdb.MemoryError, ValueError, OverflowError):
            older = frame.older()
            ret = older.pc() if older is not None else None
        return ret is None or not self.span[0] <= ret < self.span[1]

    def owns(self, frame):
        sal = frame.find_sal()
        return sal.symtab is not None and fullname(sal.symtab) in self.sources


class Agent:
    def __init__(self):
        self.epoch = 0
        self.k = 0
        self.started = False
        self.finished = None  # exit code once the program has ended
        self.crashed = None  # the fatal signal the program stopped with
        self.busy = False  # fred is driving gdb; user-command bookkeeping is off
        self.resumed = False
        self.stop_info = None
        self.recipe = None  # how the newest epoch is reached from the one before
        self.cmd_from_k = 0
        self.ignores = {}
        self.program = None
        self.clock = None  # the native clock, once the program runs
        self.lengths = {}  # an epoch's recipe -> its hits to its end, as first replayed
        self.steps_at = {}  # (epoch, k) of a checkpoint mid-epoch -> the stepping rules' state
        self.exit_bp = None
        self.evaluating = False  # fred is evaluating an expression: hits are not events
        self.ahead = 0  # commands fred typed ahead still to run (see `fred-ahead`)
        self.ahead_fresh = False  # the prompt after `fred-ahead` itself is to come
        self.program_tty = None  # the program's terminal, to mark where a command ended
        self.on_busy_stop = None  # what fred's operations do at the stops they make
        # fred's operations moved the program since a command of the user's last ran it: the
        # stop gdb remembers (which breakpoint, for `continue N`) is fred's, not the user's.
        self.landed = False
        gdb.events.cont.connect(self._on_cont)
        gdb.events.stop.connect(self._on_stop)
        gdb.events.exited.connect(self._on_exited)
        gdb.events.new_objfile.connect(self._on_objfile)
        gdb.prompt_hook = self.prompt

    # ---- the user's commands -------------------------------------------------------

    # The program's every resume and stop pass through these two and the prompt: they are
    # written to do little (a breakpoint hit a thousand times pays for each line a
    # thousand times), with loops rather than comprehensions (each a call of its own).

    def _on_cont(self, _event):
        if self.busy:
            return
        self.landed = False
        if not self.resumed:
            self.resumed = True
            self.stop_info = None
            self.cmd_from_k = self.k
            ignores = self.ignores = {}
            for b in gdb.breakpoints():
                if b.number > 0:
                    ignores[b.number] = b.ignore_count

    def _on_stop(self, event):
        if self.busy:
            if self.on_busy_stop is not None:
                self.on_busy_stop(event)
            return
        if isinstance(event, gdb.BreakpointEvent):
            bps = event.breakpoints
            for b in bps:
                if b.number > 0:
                    # The user's breakpoint or watchpoint, as it is now (a temporary one
                    # is gone by the prompt): (number, type, condition).
                    self.stop_info = ("bp", (b.number, b.type, b.condition))
                    return
            if self.exit_bp is not None and any(b is self.exit_bp for b in bps):
                self.stop_info = ("exit", None)
            else:
                self.stop_info = ("other", None)
        elif isinstance(event, gdb.SignalEvent):
            self.stop_info = ("signal", event.stop_signal)
        else:
            self.stop_info = ("step", None)

    def _on_objfile(self, event):
        name = event.new_objfile.filename
        if name == gdb.current_progspace().filename:
            _SYMTABS.pop(name, None)  # (re-read: the program may have been rebuilt)
            try:
                program_symtabs(name)
            except gdb.error:
                pass
        # Set at the first objfile loaded after the agent (the dynamic loader's, where gdb's
        # command line names the program): set before, gdb would say `_exit` is not
        # defined.
        if self.exit_bp is None:
            try:
                self.exit_bp = gdb.Breakpoint("_exit", internal=True)
                self.exit_bp.silent = True
            except (gdb.error, RuntimeError):
                self.exit_bp = None

    def keep_exit_bp_to_the_c_library(self):
        """The dynamic loader has an `_exit` of its own, for a program it cannot load: a
        location gdb would otherwise insert and remove at every resume and stop."""
        for loc in getattr(self.exit_bp, "locations", None) or []:
            if in_dynamic_loader(loc.address):
                loc.enabled = False

    def _on_exited(self, event):
        if not self.busy:
            self.stop_info = ("exited", getattr(event, "exit_code", None))

    def after_command(self, frame):
        """Called at each prompt, `frame` the newest (None without one): if the user's
        command ran the program, a new epoch (and True)."""
        if not self.resumed and (self.started or not gdb.selected_inferior().pid):
            return False
        self.resumed = False
        info = self.stop_info or ("other", None)
        if not self.started:
            self.started = True
            self.install()
            self.recipe = None
        else:
            self.recipe = self.describe_end(info, frame)
            self.recipe["from_k"] = self.cmd_from_k
        self.epoch += 1
        self.k = 0
        kind, what = info
        self.crashed = what if kind == "signal" and what in FATAL else None
        if kind == "exit":
            self.announce_exit()
        return True

    def describe_end(self, info, frame):
        """The recipe that reaches this stop again (without its `from_k`)."""
        kind, what = info
        if kind in ("exit", "exited"):
            return {"end": "exit"}
        if kind == "signal":
            return {"end": "signal", "signal": what} if what in FATAL else {"end": None}
        if frame is None:
            return {"end": None}
        pc = frame.pc()
        if kind == "bp":
            number, bp_type, condition = what
            if bp_type in WATCHPOINTS:
                # Replayed with the same watchpoint: its (skip + 1)-th stop.
                return {"end": "watch", "number": number, "skip": self.ignores.get(number, 0)}
            if bp_type != gdb.BP_BREAKPOINT:
                return {"end": None}
            return {"end": "hit", "pc": pc, "cond": condition, "skip": self.ignores.get(number, 0)}
        if kind == "step":
            # The same pc in the same frame base can come back before this stop (a
            # recursive call at the same depth from another call site): the calls that
            # led here tell them apart.
            return {"end": "hit", "pc": pc, "base": frame_base(frame), "chain": call_chain(frame)}
        return {"end": None}

    def announce_exit(self):
        """The program stands at its `_exit`: as gdb would say once it had exited."""
        code = int(gdb.parse_and_eval("$rdi")) & 0xFF
        self.finished = code
        pid = gdb.selected_inferior().pid
        if code:
            gdb.write("[Inferior 1 (process %d) exited with code %02o]\n" % (pid, code))
        else:
            gdb.write("[Inferior 1 (process %d) exited normally]\n" % pid)

    def install(self):
        """Once the program runs, before its first checkpoint: learn its code, and write
        the native clock into it (without one, runs count with breakpoints, slowly)."""
        from fred_gdb_native import NativeClock

        self.busy = True
        try:
            self.keep_exit_bp_to_the_c_library()
            self.program = Program()
            try:
                clock = NativeClock(self.program.lines, self.program.entries)
                if clock.reserve():
                    self.clock = clock
            except (gdb.error, gdb.MemoryError, ValueError) as e:
                gdb.write("fred: searches will be slow (%s)\n" % e)
        finally:
            self.busy = False

    # ---- positions -------------------------------------------------------------------

    def time(self):
        return (self.epoch << 40) | self.k

    def location(self, frame=None):
        frame = frame or newest()
        if frame is None:
            return None
        sal = frame.find_sal()
        if sal.symtab is None:
            return None
        name = frame.name() or "??"
        return Location(file=fullname(sal.symtab), line=sal.line, function=name)

    def user_frame(self):
        """The innermost frame in the program's own code (a crash inside libc is shown
        at the user's line that called it)."""
        frame = newest()
        while frame is not None and self.program and not self.program.owns(frame):
            frame = frame.older()
        return frame or newest()

    def position(self, depth=True, frame=None):
        """Where the program stands, as the prompt tells fred; without its depth (None)
        unless `depth`. (`frame`: the newest, where the caller has it.)"""
        if not self.started or gdb.selected_inferior().pid == 0:
            kind = "finished" if self.started else "notstarted"
            return {"time": self.time(), "kind": kind, "location": None, "depth": None}
        if frame is None:
            frame = newest()
        pc = frame.pc() if frame is not None else None
        if self.program and pc in self.program.lines:
            # A stop at the start of one of the program's own lines (a breakpoint's, a
            # step's): its place is always the same, so gdb is asked once per line.
            known = self.program.locations.get(pc)
            if known is None:
                known = self.program.locations[pc] = self.location(frame)
            location = known
        else:
            frame = self.user_frame()
            pc = frame.pc() if frame is not None else None
            location = None
        if self.finished is not None:
            kind = "finished"
        elif self.crashed is not None:
            kind = "postmortem"
        else:
            kind = "stop"
        return {
            "time": self.time(),
            "kind": kind,
            "location": None if kind == "finished" else location or self.location(frame),
            "depth": self.program.depth(frame, pc) if self.program and depth else None,
            "event": "line",
        }

    def prompt(self, _current):
        # Of the commands fred typed ahead, it reads the depth only where the batch ends
        # (the last, or one where it must look first): walking the stack is a third of a
        # prompt's work, left out at the others.
        last = self.ahead_fresh or self.ahead <= 1
        try:
            frame = newest()
            moved = self.after_command(frame)
            pos = self.position(depth=last, frame=frame)
            pos["recipe"] = self.recipe
            self.recipe = None
        except Exception as e:  # never lose the prompt
            log_failure()
            moved = True
            pos = {"time": self.time(), "kind": "stop", "location": None, "error": str(e)}
        if self.ahead_fresh:
            self.ahead_fresh = False
        elif self.ahead:
            self.ahead -= 1
            self.mark_program_output()
            if self.ahead and self.must_look(pos, moved):
                pos["dropped"] = drop_typed_ahead()
                self.ahead = 0
                if not last:
                    pos["depth"] = self.depth_here()
        return MARK + "prompt;" + position_json(pos) + BEL  # (fred shows its own prompt)

    # ---- commands typed ahead --------------------------------------------------------

    def depth_here(self):
        """The depth of the position (None where it cannot be told)."""
        try:
            return self.position()["depth"]
        except Exception:  # (the prompt's position says what failed)
            log_failure()
            return None

    def must_look(self, pos, moved):
        """Whether fred must see where a command typed ahead stopped before the next runs:
        the program ended, or no recipe reaches this stop again (a watchpoint, Ctrl-C), so
        fred checkpoints it first."""
        if pos.get("kind") != "stop" or "error" in pos:
            return True
        recipe = pos.get("recipe")
        return moved and (recipe is None or recipe.get("end") in (None, "watch"))

    def mark_program_output(self):
        """Marks the end of a typed-ahead command's output in the program's terminal, so
        that what the program wrote stays with the command that ran it."""
        try:
            if self.program_tty is None:
                path = gdb.parameter("inferior-tty")
                self.program_tty = os.open(path, os.O_WRONLY | os.O_NOCTTY)
            os.write(self.program_tty, (MARK + "end" + BEL).encode())
        except (OSError, TypeError, gdb.error):
            pass


def drop_typed_ahead():
    """Reads away the lines still waiting in gdb's input; returns how many. (gdb reads its
    input a byte at a time, so what waits is exactly the lines not yet run; fred writes
    whole lines.)"""
    import fcntl
    import struct
    import termios

    lines = 0
    while True:
        waiting = struct.unpack("i", fcntl.ioctl(0, termios.FIONREAD, b"\0\0\0\0"))[0]
        if waiting <= 0:
            return lines
        got = os.read(0, waiting)
        if not got:
            return lines
        lines += got.count(b"\n")


AGENT = Agent()
if gdb.current_progspace().filename:
    # The program was loaded before this agent was (gdb's command line names it).
    program_symtabs(gdb.current_progspace().filename)
# A fault (or an abort's SIGABRT) stays pending in gdb across `restart`, and would be
# delivered to the next copy run; not passing them to the program keeps every replay
# clean. (The program stops at one as under plain gdb; fred does not run it on past one.)
gdb.execute("handle SIGSEGV SIGBUS SIGFPE SIGILL SIGABRT stop print nopass", to_string=True)

from fred_gdb_ops import register  # noqa: E402  (the operations live beside this file)

register(AGENT)
