"""Forking a snapshot that costs almost no memory.

A forked copy shares every page with its parent until one of them writes it. CPython's own
after-fork work (its locks, thread states, the at-fork hooks) and the few lines of Python a
copy would run to connect to fred write about a megabyte, which then belongs to that copy
alone: with hundreds of snapshots, most of their memory. So a snapshot is forked here by
libc's fork, called from C with the GIL held, and goes straight into a read() from C on a
connection its parent opened and announced for it. It runs no Python until fred first
writes to it (a resume), and most snapshots are never resumed.
"""

import ctypes
import json
import socket

SIGINT, SIG_IGN = 2, 1

try:
    # PyDLL: the calls keep the GIL and run no Python between them.
    _libc = ctypes.PyDLL(None, use_errno=True)
    _fork = _libc.fork
    _fork.argtypes, _fork.restype = [], ctypes.c_int
    _read = _libc.read
    _read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
    _read.restype = ctypes.c_ssize_t
    _close = _libc.close
    _close.argtypes, _close.restype = [ctypes.c_int], ctypes.c_int
    _signal = _libc.signal
    _signal.argtypes, _signal.restype = [ctypes.c_int, ctypes.c_void_p], ctypes.c_void_p
except (OSError, AttributeError):
    _libc = None

BUF_SIZE = 1 << 16
# Made once (and used by forkwait.c's snapshots too): a buffer made for each snapshot would
# be 16 pages more written in the live process (and so kept by the snapshot) every time.
buf = ctypes.create_string_buffer(BUF_SIZE)


def fork_waiting(sock_path, hello, drop_fd):
    """Forks a copy that waits, untouched, on a new connection to fred. This process sends
    the copy's `hello` (with its pid) for it. The copy closes `drop_fd` (this process's own
    connection) and ignores SIGINT, both from C, and waits in a plain read(). (With the C
    clock, forkwait.c forks instead, and answers fred's peeks without leaving C.)

    Returns None where libc's fork cannot be called (the caller forks the ordinary way);
    otherwise (pid, None) here, and (0, (socket, first bytes)) in the copy once fred writes
    to it. A copy whose connection ends exits.
    """
    if _libc is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sock_path)
    fd = sock.fileno()
    pid = _fork()
    if pid == 0:
        _close(drop_fd)
        _signal(SIGINT, SIG_IGN)
        n = _read(fd, buf, BUF_SIZE)
        while n < 0:  # interrupted by a signal
            n = _read(fd, buf, BUF_SIZE)
        if n == 0:
            _libc._exit(0)
        return 0, (sock, buf.raw[:n])
    try:
        if pid < 0:
            raise OSError(ctypes.get_errno(), "fork failed")
        sock.sendall(json.dumps(dict(hello, pid=pid)).encode() + b"\n")
    finally:
        sock.close()
    return pid, None
