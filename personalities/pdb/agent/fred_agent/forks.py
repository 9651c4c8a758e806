"""The program's own forks: a child the program forks runs on untraced and apart from fred,
as a program forked outside a debugger would. The agent's own forks (snapshots, live
copies, throwaway evaluations) go through `agent_fork` and keep everything.

The program's os._exit() ends the program, not the session: the debugged process stays at
the end of the program, as after sys.exit(), so the user can go back from there. In a child
the program forked, and for the agent's own copies, it exits as always."""

import os
import sys
import threading

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

    # The hooks are fred's, not the program's: no events of their own (a call counted
    # without its return would put every later event one call deeper).
    for hook in (before, after_in_parent, after_in_child):
        dbg.hidden_code.add(hook.__code__)
    os.register_at_fork(before=before, after_in_parent=after_in_parent,
                        after_in_child=after_in_child)
    real_exit = os._exit

    def program_exit(status):
        # Untraced: what runs here is not the program's.
        sys.settrace(None)
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if (dbg.left_fred or caller.startswith("fred_agent")
                or threading.current_thread() is not threading.main_thread()):
            real_exit(status)
        dbg.at_end("finished", "The program exited via os._exit(). Exit status: %s"
                   % (status,))

    dbg.hidden_code.add(program_exit.__code__)
    os._exit = program_exit
