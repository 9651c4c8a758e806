"""Snapshots: fork a frozen copy of the process, and make live copies from it later."""

import errno
import fcntl
import os
import signal
import socket
import stat
import sys
from time import monotonic, sleep  # bound before nondet.install patches the module

from . import files, frozen, nondet, sides
from . import watch as watchlib
from .channel import Channel, hello_prefix
from .forks import agent_fork


def _set_pdeathsig():
    """Ask the kernel to kill this process when its parent dies (Linux only)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _file_offsets():
    """Where the regular files this process has open stand, to restore on resume:
    {fd: (offset, length)}. The length is kept for a file open for appending (a log), whose
    writes go to its end whatever the offset: it is cut back to that length on resume, so
    that a replay appends the same lines again in the same place instead of once more at
    the end. Not the standard input's: what the program read from it is logged and fed
    again instead, and what it reads next is what no copy has read yet."""
    offsets = {}
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd == 0:
                continue
            try:
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode):
                    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
                    writes = (flags & os.O_ACCMODE) in (os.O_WRONLY, os.O_RDWR)
                    length = st.st_size if writes and flags & os.O_APPEND else None
                    offsets[fd] = (os.lseek(fd, 0, os.SEEK_CUR), length)
            except OSError:
                pass
    except OSError:
        pass
    return offsets


def _running_loop():
    """asyncio's running event loop in this thread, if there is one. asyncio ties it to the
    process id, which a live copy does not share: without handing it over (see become_live)
    a copy resumed inside asyncio.run() fails with 'no running event loop'."""
    events = sys.modules.get("asyncio.events")
    if events is None:
        return None
    try:
        return events._get_running_loop()
    except Exception:
        return None


def _thread_count():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


class SnapshotMixin:
    """Fork snapshots of the debugger process (part of FredPdb)."""

    def snapshot(self, at_stop, frame=None, event=None):
        """Fork a frozen copy. Returns None in the live process, or, in a fresh copy made
        from the snapshot later, fred's resume request."""
        loop = _running_loop()
        if at_stop:
            here = self.state()
        else:
            here = {"time": self.t, "kind": "running", "event": event,
                    "location": {"file": self.canonic(frame.f_code.co_filename),
                                 "line": frame.f_lineno, "function": frame.f_code.co_name}}
        hello = {"hello": "snapshot", "at_stop": at_stop, "state": here}
        sys.stdout.flush()
        sys.stderr.flush()
        self.chan.flush()  # (or each copy made from the snapshot would send it again)
        pid = None
        if self.native is not None:
            try:
                pid, fd, n = self.native.checkpoint(self.chan.sock.fileno(), frozen.buf,
                                                    self.sock_path, hello_prefix(hello))
            except OSError as e:
                if e.errno == errno.EAGAIN:  # (more than one thread: forkwait.c checks)
                    return self.refuse_threads(at_stop)
                # (otherwise forked below, the slower way)
            if pid == 0:
                return self.snapshot_woken(fd, n, loop)
        if pid is None:
            if _thread_count() > 1:
                return self.refuse_threads(at_stop)
            pid = self.snapshot_in_python(hello, loop)
            if isinstance(pid, dict):
                return pid
        self.last_snapshot_wall = monotonic()
        if at_stop:
            self.chan.send({"reply": {"snapshot_pid": pid}})
        return None

    def refuse_threads(self, at_stop):
        """No checkpoint of a program running threads (fork copies one): say so, to fred at
        a stop, once in a run's notices, and try again only much later."""
        msg = ("cannot checkpoint: the program runs %d threads, and fork copies only "
               "one" % _thread_count())
        if at_stop:
            self.chan.send({"reply": {"error": msg}})
        elif not self.threads_warned:
            self.threads_warned = True
            self.notices.append(msg)
        self.last_snapshot_wall = monotonic() + 3600
        return None

    def snapshot_in_python(self, hello, loop):
        """Forks a snapshot without the C clock: its pid here, and in a fresh copy made
        from the snapshot later, fred's resume request."""
        offsets = _file_offsets()
        rstate = nondet.random_state()
        woken = frozen.fork_waiting(self.sock_path, hello, self.chan.sock.fileno())
        if woken is None:
            pid = agent_fork()
            if pid == 0:
                # An ordinary fork: the copy announces itself.
                nondet.restore_random(rstate)
                self.chan.close()
                chan = Channel(self.sock_path, dict(hello, pid=os.getpid()))
                return self.snapshot_main(chan, offsets, rstate, loop)
        else:
            pid, first = woken
            if pid == 0:
                self.chan.sock.detach()  # (closed from C already)
                return self.snapshot_main(Channel.adopt(*first), offsets, rstate, loop)
        return pid

    def snapshot_woken(self, fd, n, loop):
        """In a snapshot forked in C (forkwait.c), woken by fred's first request (n bytes
        in frozen.buf): the rest of its life. Nothing ran here since the fork, so random's
        state is still the checkpoint's, and the file offsets are kept in C."""
        self.chan.sock.detach()  # (closed from C already)
        chan = Channel.adopt(socket.socket(fileno=fd), frozen.buf.raw[:n])
        return self.snapshot_main(chan, self.native.files_at_checkpoint(),
                                  nondet.random_state(), loop)

    def next_request(self):
        """fred's next request at a stop. With the C clock, the checkpoints fred asks for
        are taken in C until then (forkwait.c: a checkpoint taken in Python would cost
        the memory of the pages its Python writes); returns a resume request in a fresh
        copy made from one of those."""
        chan = self.chan
        chan.flush()
        if self.native is None or chan.buf or self.end_kind:
            return chan.recv()
        loop = _running_loop()
        hello = hello_prefix({"hello": "snapshot", "at_stop": True, "state": self.state()})
        sys.stdout.flush()
        sys.stderr.flush()
        kind, a, b = self.native.serve_at_stop(chan.sock.fileno(), frozen.buf, self.sock_path,
                                               hello)
        if kind == "snapshot":
            return {"fred": "resumed", "req": self.snapshot_woken(a, b, loop)}
        if b:
            self.last_snapshot_wall = monotonic()
        if a == 0:
            os._exit(0)  # fred has gone (as Channel.recv)
        chan.buf = frozen.buf.raw[:a]
        return chan.recv()

    def snapshot_main(self, chan, offsets, rstate, loop):
        """The frozen snapshot: wait for resume requests, fork a live copy for each; answer
        peeks (the value of a plain global, read as it is here) itself."""
        old_sigint = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            req = chan.recv()
            if req.get("fred") == "peek":
                chan.send({"peek": watchlib.peek(req["watch"])})
                continue
            if req.get("fred") != "resume":
                continue
            if self.native is not None:
                copy = self.native.fork_copy() == 0
            else:
                child = agent_fork()
                if child == 0 and agent_fork():
                    os._exit(0)
                if child != 0:
                    os.waitpid(child, 0)
                copy = child == 0
            if copy:
                chan.close()
                nondet.restore_random(rstate)
                return self.become_live(req, offsets, old_sigint, loop)

    def become_live(self, req, offsets, old_sigint, loop):
        deadline = monotonic() + 5
        while os.getppid() != self.fred_pid and monotonic() < deadline:
            sleep(0.0001)
        _set_pdeathsig()
        if os.getppid() != self.fred_pid:
            os._exit(0)
        side = bool(req.get("side"))
        if side:
            offsets = sides.become_side(self, offsets)
        else:
            files.cut_back(req.get("truncate"))
        for fd, (off, length) in offsets.items():
            try:
                if not side and length is not None and os.fstat(fd).st_size > length:
                    os.ftruncate(fd, length)
                os.lseek(fd, off, os.SEEK_SET)
            except OSError:
                pass
        signal.signal(signal.SIGINT, old_sigint)
        if loop is not None:
            sys.modules["asyncio.events"]._set_running_loop(loop)
        self.chan = Channel(self.sock_path, {"hello": "side" if side else "live",
                                             "pid": os.getpid(), "nonce": req.get("nonce")})
        self.ran = True
        self.sync_id = max(self.sync_id, req.get("sync_from") or 0)
        self.last_snapshot_wall = monotonic()
        return req
