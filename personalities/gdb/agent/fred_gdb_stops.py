"""What a run sets in gdb besides its target: breakpoints that look at a place as the run
passes it (collectors, a recipe's end), the guard over the program's forks, and the stand-in
for the breakpoint of a hit counted by hand."""

import gdb

from fred_gdb_native import NEG_TARGET, WATCH_ON


class Stop(gdb.Breakpoint):
    """An internal breakpoint where an original pc runs; `check(bp)` says whether the run
    stops there. `looks`: the check reads the program's state (its frame, an expression),
    and so must see it at the original pc; one that only counts hits need not (moving the
    pc there and back were two of the five commands a replayed epoch's end cost)."""

    def __init__(self, run, pc, check, looks=True):
        super().__init__("*%d" % run.running_pc(pc), internal=True)
        self.silent = True
        self.check = check
        self.looks = looks
        self.pc = pc
        self.run = run

    def stop(self):
        if self.run.agent.evaluating:
            return False
        where = gdb.selected_frame().pc()
        if self.run.resumed_at == (where, self.run.counter()):
            # The run was moved onto this breakpoint to go on from here (gdb steps over a
            # breakpoint only at the pc it stopped at) and has not moved since: not a hit.
            return False
        # The program stands in a stub: gdb sees the original pc (and so its frame and
        # locals) while the check looks.
        moved = self.looks and where != self.pc
        if moved:
            gdb.execute("set $pc = %d" % self.pc, to_string=True)
        try:
            return self.check(self)
        finally:
            if moved:
                gdb.execute("set $pc = %d" % where, to_string=True)


class Forks:
    """While the program runs on the stubs, a child it forks gets them too, with the run's
    target and watch: one that reached the target would trap and die of it. So each fork's
    system call stops the program: on the way in, target and watch are taken away (the
    child gets neither); on the way out, they are put back."""

    CALLS = "fork vfork clone clone3"

    def __init__(self, clock):
        self.clock = clock
        before = {b.number for b in gdb.breakpoints()}
        try:
            gdb.execute("catch syscall " + self.CALLS, to_string=True)
        except gdb.error:
            pass
        self.bps = [b for b in gdb.breakpoints() if b.number not in before]
        self.saved = None

    def mine(self, hit):
        return any(b in self.bps for b in hit)

    def toggle(self):
        clock = self.clock
        if self.saved is None:
            self.saved = (clock.read_var(NEG_TARGET), clock.read_var(WATCH_ON))
            clock.write_var(NEG_TARGET, 0)
            clock.write_var(WATCH_ON, 0)
        else:
            clock.write_var(NEG_TARGET, self.saved[0])
            clock.write_var(WATCH_ON, self.saved[1])
            self.saved = None

    def enable(self, on):
        for b in self.bps:
            if b.is_valid():
                b.enabled = on

    def delete(self):
        for b in self.bps:
            if b.is_valid():
                b.delete()
        self.bps = []


class SlowAt:
    """Stands for the breakpoint of a hit counted by hand."""

    def __init__(self, pc):
        self.pc = pc
