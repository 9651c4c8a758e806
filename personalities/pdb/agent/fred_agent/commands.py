"""pdb's own commands where fred changes them, and the agent's commands behind fred's
restart (part of FredPdb)."""

import bdb
import pdb
import sys


class CommandsMixin:
    """pdb commands as fred runs them (part of FredPdb)."""

    def do_clear(self, arg):
        # pdb asks with input(), which reads the program's terminal: fred types nothing
        # there, and the session would hang. The question goes to fred as a prompt of its
        # own instead, as pdb itself asks for a statement's next line when not reading a
        # terminal; the answer is the next line typed (or the script's next line).
        if arg:
            return super().do_clear(arg)
        self.stdout.write("Clear all breaks? ")
        self.stdout.flush()
        reply = self.stdin.readline().strip().lower()
        if reply in ("y", "yes"):
            cleared = [bp for bp in bdb.Breakpoint.bpbynumber if bp]
            self.clear_all_breaks()
            for bp in cleared:
                self.message("Deleted %s" % bp)

    do_clear.__doc__ = pdb.Pdb.do_clear.__doc__
    do_cl = do_clear

    def do_fred_arguments(self, arg):
        """(fred internal) at the program's start, after `run ARGS` or `restart ARGS`: the
        program's new arguments, as pdb's run sets them, and what pdb says then."""
        import shlex

        try:
            args = shlex.split(arg)
        except ValueError as e:
            self.error("Cannot run %s: %s" % (arg, e))
            return
        sys.argv[1:] = args
        self.do_fred_restarted("")

    def do_fred_restarted(self, arg):
        """(fred internal) after `run` or `restart`: what pdb says then, and the start."""
        self.message("Restarting %s with arguments:\n\t%s"
                     % (self.mainpyfile, " ".join(sys.argv[1:])))
        self.print_stack_entry(self.stack[self.curindex])
