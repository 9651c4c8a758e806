"""The program's standard input, logged so that replay can feed it again.

What the program reads from its terminal while the user runs it forward is sent to fred
with the event time it was read at. A copy restored from a checkpoint gets back from fred
what was read after that checkpoint, and reads it from this queue instead of the terminal,
so a replay never waits for the user to type the same line again. An end of file is logged
too, as a read of nothing. (Reads that bypass sys.stdin, such as os.read(0, n), are not
logged.)

Under a `-x` session whose input is a file or a pipe, fred passes that descriptor as
FRED_STDIN_FD and it becomes the program's fd 0, so the program reads it byte for byte as it
would without fred (no terminal line editing, no line length limit, an end of file that
stays one), and a child process it starts reads it too.
"""

import base64
import io
import os
import sys

from . import untraced
from .clock import NORMAL


class ReplayableStdin(io.RawIOBase):
    """A raw reader on fd 0 that logs what it reads and replays a queue first."""

    def __init__(self, agent):
        super().__init__()
        self.agent = agent

    def readable(self):
        return True

    def fileno(self):
        # input() reads a tty's fd directly (bypassing sys.stdin) when it can get one.
        raise io.UnsupportedOperation("fileno: fred replays standard input")

    def readinto(self, buf):
        # Untraced, so that reading from the queue and from the terminal take the same
        # (zero) events: the program's time must not depend on where input comes from.
        previous = untraced.stop()
        try:
            return self.read_untraced(buf)
        finally:
            untraced.resume(previous)

    def read_untraced(self, buf):
        agent = self.agent
        queue = agent.input_queue
        if queue:
            data = queue[0][: len(buf)]
            if len(data) == len(queue[0]):
                queue.pop(0)
            else:
                queue[0] = queue[0][len(data):]
            if agent.mode == NORMAL:
                # Running forward again over input given before: show it, as the terminal
                # showed it when it was typed.
                try:
                    os.write(agent.tty_fd, data)
                except OSError:
                    pass
        else:
            data = os.read(0, len(buf))
            agent.chan.send({"input": {"time": agent.now(),
                                       "data": base64.b64encode(data).decode()}})
        buf[: len(data)] = data
        return len(data)


class UntracedStdin:
    """sys.stdin for the program: a text reader whose work (reading, decoding) runs
    untraced, so it adds no events and no stops of its own, as a terminal's would not."""

    def __init__(self, inner, agent):
        self._inner = inner
        self._agent = agent

    def _untraced(self, method, *args):
        previous = untraced.stop()
        try:
            return getattr(self._inner, method)(*args)
        finally:
            untraced.resume(previous)

    def read(self, *args):
        return self._untraced("read", *args)

    def readline(self, *args):
        return self._untraced("readline", *args)

    def readlines(self, *args):
        return self._untraced("readlines", *args)

    def __iter__(self):
        return self

    def __next__(self):
        line = self._untraced("readline")
        if not line:
            raise StopIteration
        return line

    def fileno(self):
        # input() would read a terminal's fd directly, bypassing the log.
        raise io.UnsupportedOperation("fileno: fred logs and replays standard input")

    def isatty(self):
        return os.isatty(0)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def take_input_fd():
    """Make the descriptor fred passed (its own stdin, or /dev/null) the program's fd 0."""
    fd = os.environ.pop("FRED_STDIN_FD", None)
    if fd is None:
        return
    fd = int(fd)
    os.dup2(fd, 0)
    os.close(fd)


def install(agent):
    """Replace sys.stdin by a logged, replayable one (a terminal's encoding is kept)."""
    take_input_fd()
    for f in (ReplayableStdin.readinto, UntracedStdin._untraced, UntracedStdin.read,
              UntracedStdin.readline, UntracedStdin.readlines, UntracedStdin.__iter__,
              UntracedStdin.__next__, UntracedStdin.fileno, UntracedStdin.isatty,
              UntracedStdin.__getattr__):
        agent.hidden_code.add(f.__code__)
    encoding = getattr(sys.stdin, "encoding", None) or "utf-8"
    errors = getattr(sys.stdin, "errors", None) or "strict"
    raw = ReplayableStdin(agent)
    text = io.TextIOWrapper(io.BufferedReader(raw), encoding=encoding, errors=errors,
                            line_buffering=True)
    sys.stdin = UntracedStdin(text, agent)


def decode_queue(entries):
    return [base64.b64decode(data) for _, data in entries or []]
