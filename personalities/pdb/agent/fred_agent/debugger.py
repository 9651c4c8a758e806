"""FredPdb: pdb with an event clock, in-process replay and scanning, and fork snapshots."""

import bdb
import os
import pdb
import sys
from time import monotonic  # bound before nondet.install patches the module
import traceback

from .channel import SockIn, SockOut
from .clock import FAST, GOTO, NORMAL, SCAN, ClockMixin
from .commands import CommandsMixin
from .scan import ScanMixin
from .settings import SettingsMixin
from .snapshot import SnapshotMixin
from . import collect, nondet, stdin, untraced
from . import watch as watchlib

NEVER = 1 << 62
SYNC = "\x1b]7779;fred-sync;%d\x07"
AT_END_ALLOWED = {
    "b", "break", "tbreak", "cl", "clear", "disable", "enable", "condition", "ignore",
    "alias", "unalias", "h", "help", "commands",
}


class FredPdb(ClockMixin, ScanMixin, SnapshotMixin, SettingsMixin, CommandsMixin, pdb.Pdb):
    """pdb with an event clock, in-process replay and scanning, and fork snapshots."""

    def __init__(self, sock_path, fred_pid, tty_fd, native=None):
        self.sock_path = sock_path
        self.fred_pid = fred_pid
        self.tty_fd = tty_fd
        self.chan = None
        self.t = 0  # trace events so far
        self.mode = NORMAL
        self.target = NEVER
        self.auto_ms = float(os.environ.get("FRED_AUTO_CHECKPOINT_MS", "30"))
        self.next_auto = 4096 if self.auto_ms > 0 else NEVER
        self.next_gc = collect.next_time(0)
        self.gc_wanted = True  # the program's own gc.isenabled() (see collect)
        self.next_check = min(self.next_auto, self.next_gc)
        self.last_snapshot_wall = monotonic()
        self.sync_id = 0
        self.ran = True  # program code may have written to the pty since the last sync
        self.end_kind = None  # None, "finished" or "postmortem"
        self.end_message = ""
        self.end_depth = None
        self.stop_event = ("line", None)
        self.stop_frame = None  # the frame of the stop being shown (see stop_index)
        self.known_checkpoints = []  # in the stretch being replayed, latest first
        self.scan = None
        self.scan_hook = None
        self.scan_result = None
        self.notices = []
        self.watches = {}
        self.watch_no = 0
        self.watch_notes = []
        self.boot_code = None
        self.input_queue = []
        self.ahead = []  # commands fred typed ahead, still to run (see next_command)
        self.side = False  # a side copy: scans a piece of a search, reports, exits (sides)
        self.interrupted = False  # fred's interrupt stopped the program since the last stop
        self.replay_values = []
        self.value_log = []
        self.diverged = None  # where a replay left the recorded path (see nondet)
        self.prompting = False  # at pdb's prompt: the user's commands run, not the program
        self.left_fred = False  # in a child the program forked (see leave_fred)
        self.in_command = False  # a command typed at the prompt is running (see onecmd)
        self.hidden_code = {FredPdb.sigint_handler.__code__, untraced.stop.__code__}
        self.break_lines = {}
        self.threads_warned = False
        # pdb's own SIGINT handler, set for `continue` only, would be the program's SIGINT
        # handler while it runs forward but not in a replay, and programs look at it
        # (asyncio.run installs its own only over the default one): a replay would take
        # another path. fred interrupts the program with a signal of its own instead.
        super().__init__(stdin=SockIn(self), stdout=SockOut(self), nosigint=True)
        self.prompt = ""
        self.window = 0  # a new one each time a replay or scan is set up
        self.init_clock(native)

    # ----- talking to fred -------------------------------------------------------------

    def leave_fred(self):
        """In a child the program forked: let go of fred's connection, so the child never
        speaks for the debugged process; it runs on untraced."""
        self.left_fred = True
        collect.release(self)
        self.chan.sock.close()
        self.chan.queued = []
        self.chan.send = self.chan.queue = lambda _msg: None
        self.chan.flush = lambda: None
        if self.clock is not None:
            self.clock.stop()
            sys.settrace(None)
        try:
            os.close(self.tty_fd)
        except OSError:
            pass

    def sync_marker(self):
        """Write a marker to the pty after program output; fred reads up to it."""
        if not self.ran or self.side:
            return None
        self.ran = False
        self.sync_id += 1
        try:
            os.write(self.tty_fd, (SYNC % self.sync_id).encode())
        except OSError:
            return None
        return self.sync_id

    def error(self, msg):
        # As pdb prints it, and marked as an error for fred's JSON output.
        self.send_out("*** %s\n" % (msg,), error=str(msg))

    def send_out(self, text, error=None):
        msg = {"out": text}
        if error is not None:
            msg["error"] = error
        sync = self.sync_marker()
        if sync is not None:
            msg["sync"] = sync
        # Sent with the stop's report, or when the program runs on (see user_line).
        self.chan.queue(msg)

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
        frame, lineno = self.stack[self.stop_index()]
        loc = {"file": self.canonic(frame.f_code.co_filename), "line": lineno,
               "function": frame.f_code.co_name}
        if self.end_kind == "postmortem":
            return {"time": self.t + 1, "kind": "postmortem", "location": loc,
                    "depth": self.end_depth, "message": self.end_message}
        return {"time": self.t, "kind": "stop", "location": loc,
                "depth": self.stop_depth(frame), "event": self.stop_event[0]}

    def send_ready(self):
        for w in self.watches.values():
            if self.end_kind is None and (w.frame is not None or not w.local):
                w.last = w.value_in(w.frame)
        msg = {"ready": self.state()}
        if self.ahead and self.must_look(msg["ready"]):
            msg["dropped"] = len(self.ahead)
            self.ahead = []
        self.interrupted = False
        sync = self.sync_marker()
        if sync is not None:
            msg["sync"] = sync
        if self.scan_result is not None:
            msg["scan"] = self.scan_result
            self.scan_result = None
        if self.notices:
            msg["notices"] = self.notices
            self.notices = []
        if self.value_log:
            msg["values"] = self.value_log
            self.value_log = []
        if self.diverged is not None:
            msg["diverged"] = self.diverged
            self.diverged = None
        self.chan.send(msg)
        if self.side:
            os._exit(0)  # (its piece is scanned)

    def must_look(self, state):
        """Whether fred must see this stop before the commands typed ahead run: the
        program ended, or fred has something to say or to hear first."""
        return (state["kind"] != "stop" or self.interrupted or self.notices
                or self.scan_result is not None or self.diverged is not None)

    def next_command(self):
        """Report the stop, then serve fred's requests until one is for pdb. Commands fred
        typed ahead run at once, without waiting for fred between them (scripts)."""
        self.break_lines = {}
        self.send_ready()
        if self.ahead:
            self.ran = True
            return self.ahead.pop(0) + "\n"
        while True:
            req = self.next_request()
            if req.get("fred") == "ahead":
                self.ahead = list(req["lines"])
                self.ran = True
                return self.ahead.pop(0) + "\n"
            if req.get("fred") == "resumed":
                # A fresh copy of a checkpoint taken in C at this stop.
                line = self.apply_resume(req["req"], at_prompt=True)
                if line is not None:
                    self.ran = True
                    return line
                continue
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
        if what == "probe":
            frame = None if self.end_kind == "finished" else self.curframe
            depth = self.stop_depth(frame) if frame is not None else 0
            self.chan.send({"reply": watchlib.probe(req["expr"], frame, depth)})
            return None
        if what == "settings":
            self.chan.send({"reply": {"settings": self.export_settings()}})
            return None
        if what in ("goto", "scan"):
            return self.begin(req)
        self.chan.send({"reply": {"error": "unknown request %r" % (what,)}})
        return None

    def take_resume(self, req):
        """What a fresh copy gets from fred: current settings, and the input and clock and
        random values to replay."""
        self.import_settings(req.get("settings"))
        self.ahead = []  # (the live process's, when the snapshot was taken on the way)
        self.input_queue = stdin.decode_queue(req.get("input"))
        nondet.take(self, req.get("values"))
        self.value_log = []

    def apply_resume(self, req, at_prompt):
        """Run in a fresh copy: take fred's settings, then do what fred asked next."""
        self.take_resume(req)
        then = req.get("then") or {}
        if then.get("fred") in ("goto", "scan"):
            return self.begin(then)
        if at_prompt:
            self.rebind_watches(self.stack[self.stop_index()][0])
            self.show_stop()
            self.send_ready()
        return None

    def rebind_watches(self, frame):
        """After a restore: attach local watches to their frames and take fresh values."""
        depth = self.stop_depth(frame)
        for w in self.watches.values():
            w.bind(frame, depth)
            if w.frame is not None or not w.local:
                w.last = w.value_in(w.frame)

    def show_stop(self):
        """Print the stop as pdb does on arriving at it (for a copy resumed exactly at a
        checkpoint, which arrives without running)."""
        kind, arg = self.stop_event
        if kind == "call":
            self.message("--Call--")
        elif kind == "return":
            self.message("--Return--")
        elif kind == "exception" and arg:
            self.message(traceback.format_exception_only(arg[0], arg[1])[-1].strip())
        self.curindex = self.stop_index()
        self.curframe = self.stack[self.curindex][0]
        try:
            self.curframe_locals = self.curframe.f_locals
        except AttributeError:
            pass
        self.print_stack_entry(self.stack[self.curindex])

    def begin(self, req):
        """Start replaying (goto) or scanning up to req["until"]/req["time"]."""
        if self.end_kind:
            self.send_ready()
            return None
        frame = self.stack[self.stop_index()][0] if getattr(self, "stack", None) else None
        kind, arg = self.stop_event
        self.set_mode(req, frame, kind)
        if self.mode == SCAN and frame is not None and self.t < self.target:
            # The stop itself is the first event of the stretch (already dispatched).
            self.scan_hook(frame, kind, arg, self.t)
        return "fred_resume\n"

    def set_mode(self, req, frame, event):
        """Enter the replay fred asked for: a goto to req["time"], or a scan up to
        req["until"] starting at `frame`'s `event`."""
        self.window += 1
        # Checkpoints of the recorded history in the stretch: where the replay passes one,
        # it need not take one (see check).
        self.known_checkpoints = sorted(req.get("checkpoints") or [], reverse=True)
        if req.get("fred") == "scan":
            self.mode, self.target = SCAN, req["until"]
            self.scan = dict(req)
            self.scan_start(frame, event)
        else:
            self.mode, self.target = GOTO, req.get("time", self.t)
        self.next_check = min(self.next_auto, self.target, self.next_gc)

    def do_fred_resume(self, arg):
        """(fred internal) resume execution in the replay mode fred has set."""
        self.reinstall_trace()
        if self.mode in (GOTO, SCAN):
            self.open_clock(None, None, None, dispatch=False)
        return 1

    # ----- the event clock -------------------------------------------------------------

    def trace_dispatch(self, frame, event, arg):
        if frame is self.botframe or (event == "call" and frame.f_code in self.hidden_code):
            # The debugger's own frames (below the program, or fred's code that runs on
            # the program's behalf) are not part of the program's time.
            return None
        t = self.t = self.t + 1
        if t >= self.next_check:
            self.check(frame, event, arg)
        mode = self.mode
        if mode == NORMAL:
            if self.watches:
                self.check_watches(frame, event)
            if self.stoplineno == -1:
                # `continue`: only a breakpoint can stop the program, and only on a line
                # that has one (bdb's break_here, minus its cost for every other line).
                if event != "line":
                    return self.trace_dispatch
                lines = self.break_lines.get(frame.f_code.co_filename, ())
                if lines == ():
                    lines = self.break_lines_of(frame.f_code.co_filename)
                if not lines or (frame.f_lineno not in lines
                                 and frame.f_code.co_firstlineno not in lines):
                    return self.trace_dispatch
            return bdb.Bdb.trace_dispatch(self, frame, event, arg)
        if mode == SCAN:
            self.scan_hook(frame, event, arg, t)
        return self.trace_dispatch

    def set_step(self):
        # bdb's step from a return event traces the caller from then on (it may not have
        # been traced): not a frame of hidden code, whose events are no part of the
        # program's time (the import system's, when a module being imported returns).
        returning = getattr(self, "frame_returning", None)
        caller = returning.f_back if returning is not None else None
        before = caller.f_trace if caller is not None else None
        super().set_step()
        if caller is not None and caller.f_code in self.hidden_code:
            caller.f_trace = before

    def set_break(self, *args, **kwargs):
        self.break_lines = {}
        return super().set_break(*args, **kwargs)

    def break_lines_of(self, filename):
        """The lines with breakpoints in a code object's file (cached until the next
        prompt, where breakpoints may change)."""
        lines = self.breaks.get(self.canonic(filename))
        self.break_lines[filename] = lines
        return lines

    def check(self, frame, event, arg):
        """Slow path of the clock: garbage collection, targets reached and automatic
        snapshots."""
        if self.mode == FAST:
            # trace_dispatch got an event of a C clock's window (the program switched
            # tracing off and on again): the C clock counts it, and traces again.
            self.clock.adopt(frame, event, arg)
            return
        t = self.t
        window = self.window
        if t >= self.next_gc:
            self.next_gc = collect.next_time(t)
            collect.collect(self, t)
        if t >= self.target:
            if self.mode == SCAN:
                self.scan_finish(frame, event)
            self.mode = NORMAL
            self.target = NEVER
            self.known_checkpoints = []
            self.set_step()
            # A replay does not evaluate watches: take them up afresh here.
            self.rebind_watches(frame)
        elif t >= self.next_auto:
            self.next_auto = t + 4096 if self.auto_ms > 0 else NEVER
            now = monotonic()
            known = self.known_checkpoints
            if known and known[-1] <= t:
                # One was passed since the last check: as good as taking one now.
                while known and known[-1] <= t:
                    known.pop()
                self.last_snapshot_wall = now
            # A replay that has left the recorded path is no place for a checkpoint of it.
            elif (now - self.last_snapshot_wall >= self.auto_ms / 1000.0
                    and self.diverged is None):
                resumed = self.snapshot(at_stop=False, frame=frame, event=event)
                if resumed is not None:
                    self.take_resume(resumed)
                    self.set_mode(resumed.get("then") or {}, frame, event)
                    if t >= self.target:
                        return self.check(frame, event, arg)
        self.next_check = min(self.next_auto, self.target, self.next_gc)
        if self.window != window and self.mode in (GOTO, SCAN):
            # A copy resumed from a snapshot, with a replay or scan to do from here.
            self.open_clock(frame, event, arg, dispatch=True)

    def dispatch_call(self, frame, arg):
        # Keep tracing every frame, so the clock counts every event.
        first = self.botframe is None
        res = bdb.Bdb.dispatch_call(self, frame, arg)
        if first and self.boot_code is not None and frame.f_code is self.boot_code:
            # With -m, fred's own boot frame runs the module: keep it out of sight.
            self.botframe = frame
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
            # Not the frames of hidden code (the import system's, under a module being
            # imported): their events are no part of the program's time, in any run.
            if frame.f_code not in self.hidden_code:
                frame.f_trace = self.trace_dispatch
            frame = frame.f_back

    # ----- forward watches (pdb has none) ---------------------------------------------

    def do_watch(self, arg):
        """watch [EXPR]
        Stop as soon as the value of EXPR changes (fred), just after the statement that
        changed it. Without EXPR, list the watches. EXPR on the current frame's locals is
        watched in this frame; on globals, wherever the program runs."""
        if not arg.strip():
            if not self.watches:
                self.message("No watches.")
            for n, w in sorted(self.watches.items()):
                where = ""
                if w.local:
                    where = (" (in %s)" % w.frame.f_code.co_name if w.frame
                             else " (its frame is not on the stack here)")
                self.message("Watch %d: %s = %s%s" % (n, w.expr, watchlib.show(w.last), where))
            return
        frame = self.curframe
        try:
            w = watchlib.Watch(arg, frame, self.stop_depth(frame))
        except SyntaxError as e:
            self.error("invalid expression %r: %s" % (arg, e.msg))
            return
        w.last = w.value_in(frame)
        self.watch_no += 1
        self.watches[self.watch_no] = w
        self.message("Watch %d: %s = %s" % (self.watch_no, arg, watchlib.show(w.last)))

    def do_unwatch(self, arg):
        """unwatch [N ...]
        Delete watches N (all of them without an argument)."""
        if not arg.strip():
            self.watches.clear()
            self.message("Deleted all watches.")
            return
        for word in arg.split():
            try:
                del self.watches[int(word)]
                self.message("Deleted watch %s." % word)
            except (ValueError, KeyError):
                self.error("No watch %s." % word)

    def check_watches(self, frame, event):
        hit = False
        for n, w in list(self.watches.items()):
            if w.local:
                if w.frame is None:
                    continue
                if event == "return" and frame is w.frame:
                    del self.watches[n]
                    self.watch_notes.append(
                        "Watch %d deleted: the frame of %s has returned." % (n, w.expr))
                    hit = True
                    continue
            value = w.value_in(w.frame)
            if not watchlib.same(w.last, value):
                self.watch_notes.append("Watch %d: %s\nOld value: %s\nNew value: %s" % (
                    n, w.expr, watchlib.show(w.last), watchlib.show(value)))
                w.last = value
                hit = True
        if hit:
            self.set_step()

    def forget(self):
        # Execution resumes: keep no reference to what the stop held (a return value, an
        # exception's traceback), so objects die, and finalizers run, when they would
        # without fred, the same in every replay.
        super().forget()
        self.stop_frame = None
        self.stop_event = (self.stop_event[0], None) if not self.end_kind else self.stop_event
        try:
            self.curframe_locals = {}
        except AttributeError:
            pass

    def defaultFile(self):
        # At the end of the program there is no frame; pdb's default is the main file.
        if self.curframe is None:
            return self.mainpyfile
        return super().defaultFile()

    def stop_index(self):
        """Where the stop's own frame is in self.stack: the last, but at an exception the
        stack goes on into the frames of its traceback (those it passed through already),
        and pdb shows the stop's frame, where the event happened."""
        frame = self.stop_frame
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] is frame:
                return i
        return len(self.stack) - 1

    def setup(self, f, tb):
        super().setup(f, tb)  # (which forgets the stop before)
        self.stop_frame = f

    def interaction(self, frame, tb):
        for note in self.watch_notes:
            self.message(note)
        self.watch_notes = []
        self.prompting = True
        try:
            return super().interaction(frame, tb)
        finally:
            self.prompting = False

    def onecmd(self, line):
        # While a command typed at the prompt runs (`p f()` that does not return), fred's
        # interrupt cancels it, as Ctrl-C does in pdb; while the program runs, it stops the
        # program (below).
        self.in_command = True
        try:
            return super().onecmd(line)
        finally:
            self.in_command = False

    def sigint_handler(self, signum, frame):
        """fred's interrupt (Ctrl-C): stop the program where it is. pdb's own handler calls
        set_trace(), which resets botframe and so every depth. This one runs untraced and
        out of the program's time (see hidden_code)."""
        if self.in_command:
            raise KeyboardInterrupt
        self.interrupted = True
        previous = untraced.stop()
        try:
            self.message("\nProgram interrupted. (Use 'cont' to resume).")
            self.set_step()
        finally:
            untraced.resume(previous)

    # At the end of each, what pdb printed goes out, and the program runs on: a stop whose
    # breakpoint commands `continue` prints without a prompt, and its next stop needs a
    # sync marker of its own (see sync_marker).

    def user_call(self, frame, argument_list):
        self.stop_event = ("call", argument_list)
        try:
            super().user_call(frame, argument_list)
        finally:
            self.chan.flush()
            self.ran = True

    def user_line(self, frame):
        self.stop_event = ("line", None)
        try:
            super().user_line(frame)
        finally:
            self.chan.flush()
            self.ran = True

    def user_return(self, frame, return_value):
        self.stop_event = ("return", return_value)
        try:
            super().user_return(frame, return_value)
        finally:
            self.chan.flush()
            self.ran = True

    def user_exception(self, frame, exc_info):
        self.stop_event = ("exception", exc_info)
        try:
            super().user_exception(frame, exc_info)
        finally:
            self.chan.flush()
            self.ran = True

    # ----- scanning: the last events before a time that match a query ---------------------

    def at_end(self, kind, message, tb=None):
        """Stay at the end of the program so fred can go back from there."""
        self.end_kind = kind
        self.end_message = message
        self.prompting = True  # the program is over: whatever runs now is the user's
        if self.mode == FAST:
            self.close_clock()
        sys.settrace(None)
        if self.scan is not None:
            self.scan_finish(None)
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
                try:
                    self.onecmd(line)
                except Exception as e:
                    self.error("%s: %s" % (type(e).__name__, e))
            elif word:
                self.error("The program has finished: there is no frame. "
                           "Go back with a reverse command.")
