"""Side copies: copies of a checkpoint that scan a piece of a search beside the live
process (which scans the last piece), report what they found, and exit.

A side copy must not touch what the live process uses: it writes to a terminal of its own
whose output is thrown away (the program still writes to a terminal, as in the run), takes
no checkpoints, writes no sync markers, and reads its files through descriptions of its
own, since the descriptors it inherited share their offsets with every other copy.
"""

import fcntl
import os

NEVER = 1 << 62


def become_side(agent, offsets):
    """In a copy just made for a side scan, before it restores its files' offsets: cut it
    off from the live process's terminal and file offsets. Returns `offsets` with the
    descriptors it could not give a description of their own left out (they are not
    moved: better a piece that strays, which the search notices, than a live process
    moved)."""
    agent.side = True
    agent.auto_ms = 0
    agent.next_auto = NEVER
    try:
        if agent.native is not None:
            agent.native.discard_terminal(agent.tty_fd)
        else:
            null = os.open(os.devnull, os.O_WRONLY)
            for fd in (1, 2, agent.tty_fd):
                os.dup2(null, fd)
            os.close(null)
    except OSError:
        os._exit(1)
    own = {}
    for fd, where in offsets.items():
        if fd in (0, 1, 2, agent.tty_fd):
            continue
        try:
            keep = fcntl.fcntl(fd, fcntl.F_GETFL) & (os.O_ACCMODE | os.O_APPEND | os.O_NONBLOCK)
            new = os.open("/proc/self/fd/%d" % fd, keep)
            os.dup2(new, fd, inheritable=os.get_inheritable(fd))
            os.close(new)
            own[fd] = where
        except OSError:
            pass
    return own
