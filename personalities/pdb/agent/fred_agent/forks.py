"""The program's own forks: a child the program forks runs on untraced and apart from fred,
as a program forked outside a debugger would. The agent's own forks (snapshots, live
copies, throwaway evaluations) go through `agent_fork` and keep everything."""

import os

from . import untraced

_agent_forking = [False]


def agent_fork():
    """os.fork for the agent's own copies."""
    _agent_forking[0] = True
    try:
        return os.fork()
    finally:
        _agent_forking[0] = False


def install(dbg):
    # Tracing is off across the program's fork, so the child starts untraced (and the
    # other libraries' fork hooks, random's reseeding among them, run untraced in both).
    saved = [None]

    def before():
        if not _agent_forking[0]:
            saved[0] = untraced.stop()

    def after_in_parent():
        if not _agent_forking[0]:
            untraced.resume(saved[0])

    def after_in_child():
        if not _agent_forking[0]:
            dbg.leave_fred()

    os.register_at_fork(before=before, after_in_parent=after_in_parent,
                        after_in_child=after_in_child)
