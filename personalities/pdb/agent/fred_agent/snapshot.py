"""Snapshots: fork a frozen copy of the process, and make live copies from it later."""

import os
import signal
import stat
import sys
from time import monotonic, sleep  # bound before nondet.install patches the module

from . import frozen, nondet
from . import watch as watchlib
from .channel import Channel
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


class SnapshotMixin:
    """Fork snapshots of the debugger process (part of FredPdb)."""

    def snapshot(self, at_stop, frame=None, event=None):
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
            self.last_snapshot_wall = monotonic() + 3600
            return None
        offsets = _file_offsets()
        rstate = nondet.random_state()
        if at_stop:
            here = self.state()
        else:
            here = {"time": self.t, "kind": "running", "event": event,
                    "location": {"file": self.canonic(frame.f_code.co_filename),
                                 "line": frame.f_lineno, "function": frame.f_code.co_name}}
        hello = {"hello": "snapshot", "at_stop": at_stop, "state": here}
        sys.stdout.flush()
        sys.stderr.flush()
        wait = self.native.wait_for_fred if self.native is not None else None
        woken = frozen.fork_waiting(self.sock_path, hello, self.chan.sock.fileno(), wait)
        if woken is None:
            pid = agent_fork()
            if pid == 0:
                # An ordinary fork: the copy announces itself.
                nondet.restore_random(rstate)
                self.chan.close()
                chan = Channel(self.sock_path, dict(hello, pid=os.getpid()))
                return self.snapshot_main(chan, offsets, rstate)
        else:
            pid, first = woken
            if pid == 0:
                self.chan.sock.detach()  # (closed from C already)
                return self.snapshot_main(Channel.adopt(*first), offsets, rstate)
        self.last_snapshot_wall = monotonic()
        if at_stop:
            self.chan.send({"reply": {"snapshot_pid": pid}})
        return None

    def snapshot_main(self, chan, offsets, rstate):
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
            child = agent_fork()
            if child == 0:
                if agent_fork():
                    os._exit(0)
                chan.close()
                nondet.restore_random(rstate)
                return self.become_live(req, offsets, old_sigint)
            os.waitpid(child, 0)

    def become_live(self, req, offsets, old_sigint):
        deadline = monotonic() + 5
        while os.getppid() != self.fred_pid and monotonic() < deadline:
            sleep(0.0001)
        _set_pdeathsig()
        if os.getppid() != self.fred_pid:
            os._exit(0)
        for fd, off in offsets.items():
            try:
                os.lseek(fd, off, os.SEEK_SET)
            except OSError:
                pass
        signal.signal(signal.SIGINT, old_sigint)
        self.chan = Channel(self.sock_path, {"hello": "live", "pid": os.getpid(),
                                             "nonce": req.get("nonce")})
        self.ran = True
        self.sync_id = max(self.sync_id, req.get("sync_from") or 0)
        self.last_snapshot_wall = monotonic()
        return req
