"""A replay or scan in progress: the program run through fred's segments.

A segment is one epoch's stretch: from where the run stands to the epoch's end (its
recipe: a breakpoint's n-th hit, the first hit of a pc in a frame, the fault, the exit)
or, in the last segment, to a hit. The run keeps, for every epoch it enters, the counter
value of that epoch's k = 0 (its *origin*), so that every hit's counter value names a time.

A run counts hits one of two ways. Natively (the usual): the stubs of fred_gdb_native count
in the program's memory and trap at a target, so the program stops only at the target, at
a recipe's breakpoint, or where a collector asked. Walking (for watches that gdb must
evaluate at every stop): a breakpoint on every entry counts in Python, and `on_hit` sees
each hit.
"""

import collections
import time

import gdb

import fred_gdb
from fred_gdb import FATAL, frame_base, newest
from fred_gdb_events import Hit, Steps
from fred_gdb_native import (CNT, FAULTED, LAST_ENTRY, LAST_F, NEG_F, NEG_S, NEG_TARGET, RING,
                             S_RCX)
from fred_gdb_segments import Segments
from fred_gdb_stops import Forks, SlowAt, Stop


# A replay to a far target leaves a checkpoint this many hits before it (the next search
# back starts there), when running to there took longer than NEAR_WORTH seconds.
NEAR = 4096
NEAR_WORTH = 0.02

# A counting run to an end found only on the way (a search's, whose answer lies just
# before it) is checkpointed more often than every CHECKPOINT_EVERY while it is short:
# every quarter of its running so far, but no more often than every SPACING_COSTS
# checkpoints' cost or SPACING_LEAST seconds. The landing after it replays from its last
# checkpoint, not from where it began. (Not a run that looks at every hit, a watch's: its
# answer can depend on the calls made before the checkpoint it starts from.)
SPACING_COSTS = 4
SPACING_LEAST = 0.05


class Interrupted(Exception):
    """The user pressed Ctrl-C."""


class Run(Segments):
    """One run of the program from a restored checkpoint through segments."""

    def __init__(self, ops, native=True):
        self.ops = ops
        self.agent = ops.agent
        self.clock = ops.agent.clock if native else None
        self.program = ops.agent.program
        self.count = 0  # the counter, when walking
        self.target = None
        self.origin = 0  # the counter value of k = 0 in the current epoch
        self.epochs = []  # (epoch, origin, first hit, start Hit or None) of each entered
        self.checkpoints = []
        self.may_checkpoint = True
        self.last_checkpoint = time.monotonic()
        self.signal = None
        self.end = None
        self.end_hits = 0
        self.reached_end = False
        self.at_target = False
        self.on_hit = None  # walking: called with (counter value, pc) at every hit
        # Natively, to look at every hit with the program stopped there (the run traps at
        # each): called with (counter value, original pc).
        self.each_hit = None
        self.counted = False  # the hit the run stands at is counted already
        self.counted_at = None
        self.resumed_at = None  # the pc the run was moved to, to go on from
        self.moved = False  # the pc was moved since the program last stopped
        self.paused = False
        self.recent = collections.deque(maxlen=RING)  # walking: the ring, in Python
        self.stops = []
        self.forks = None
        self.start_state = None  # what the stepping rules knew where the run began
        if self.clock is not None:
            self.clock.ready()
            self.program.return_entries = self.clock.return_entries
            self.clock.set_patched(True, force=True)
            for off in (NEG_F, NEG_S, LAST_F, LAST_ENTRY, NEG_TARGET):
                self.clock.write_var(off, 0)
            slow = self.clock.slow
            self.forks = Forks(self.clock)
        else:
            slow = list(self.clock_pcs())
        for pc in slow:
            self.stops.append(Stop(self, pc, self.slow_hit))
        self.slow_pcs = set(slow)

    def clock_pcs(self):
        return list(self.program.lines) + list(self.program.entries)

    def running_pc(self, pc):
        return self.clock.running_pc(pc) if self.clock is not None else pc

    # ---- the counter -----------------------------------------------------------------

    def counter(self):
        """How many hits the run has counted."""
        return self.clock.read_var(CNT) if self.clock is not None else self.count

    def set_counter(self, value):
        if self.clock is not None:
            self.clock.write_var(CNT, value)
        else:
            self.count = value

    def slow_hit(self, bp):
        """A hit the stubs cannot count (or any hit, when walking): counted here."""
        pc = bp.pc
        if pc in self.program.entries:
            if self.clock is not None:
                neg_s = self.clock.read_var(NEG_S)
                if neg_s and int(gdb.parse_and_eval("$rsp")) + neg_s == 0:
                    self.clock.write_var(LAST_ENTRY, self.counter())
            return False
        c = self.counter() + 1
        self.set_counter(c)
        self.counted_at = pc
        base = frame_base(gdb.newest_frame())
        if self.clock is not None:
            neg_f = self.clock.read_var(NEG_F)
            if neg_f and base + neg_f == 0:
                self.clock.write_var(LAST_F, c)
            self.clock.note_hit(c, pc, base)
        else:
            self.recent.append((c, pc, base))
        if self.target is not None and c == self.target:
            self.at_target = True
            return True
        if self.on_hit is not None and self.on_hit(c, pc):
            self.paused = True
            return True
        return False

    def ring_tail(self, count, last):
        """(counter value, entry pc, frame base) of the last `count` hits up to `last`."""
        if self.clock is not None:
            return self.clock.ring_tail(count, last)
        return [h for h in self.recent if last - count < h[0] <= last]

    # ---- positions -------------------------------------------------------------------

    def at_entry(self):
        return newest().pc() in self.program.lines

    def here(self):
        """The counter value of the hit the run stands at (or, mid-line, of the last)."""
        c = self.counter()
        return c + 1 if self.at_entry() and not self.counted else c

    def begin(self, epoch, k):
        """The run stands at (epoch, k), where it was restored."""
        self.start_state = self.agent.steps_at.get((epoch, k)) if k > 0 else self.stack_state()
        self.set_counter(0)
        self.counted = False
        self.origin = -k + (1 if self.at_entry() else 0)
        self.agent.epoch, self.agent.k = epoch, k
        self.note_epoch(epoch, k == 0)

    def stack_state(self):
        """What the stepping rules know at a stop, read off the stack: the line each of the
        program's frames stands at (a caller's, the line of its call), so that a return
        into the middle of a caller's line is read as gdb's step reads it, even when the
        run begins in the callee."""
        lines = {}
        innermost = None
        for frame in self.ops.own_frames():
            loc = self.agent.location(frame)
            if loc is None:
                continue
            base = frame_base(frame)
            lines[base] = (loc["file"], loc["line"])
            if innermost is None:
                innermost = base
        if innermost is None:
            return None
        return (lines[innermost], innermost, lines)

    def note_epoch(self, epoch, at_start, entry_pc=None):
        """Notes the epoch now entered (`at_start`: the run stands at its start, a stop):
        its origin, the counter value of its first hit, and the stop at its start.
        (`entry_pc`: the line-table entry the epoch starts at, where the program stands in
        its stub for it, not at the entry itself.)"""
        start = None
        entry = self.at_entry() if entry_pc is None else True
        if at_start:
            frame = newest()
            if entry_pc is None:
                start = Hit(epoch, 0, frame.pc(), frame_base(frame), event=True)
                start.location = self.agent.location(self.agent.user_frame())
            else:
                start = Hit(epoch, 0, entry_pc, frame_base(frame), event=True)
                start.location = self.program.where(entry_pc)
        first = self.origin if entry or not at_start else self.origin + 1
        self.epochs.append((epoch, self.origin, first, start))

    def time_of(self, c):
        """(epoch, k) of the hit with counter value `c`."""
        for epoch, origin, first, _ in reversed(self.epochs):
            if c >= first:
                return epoch, c - origin
        epoch, origin, _, _ = self.epochs[0]
        return epoch, c - origin

    # ---- running ---------------------------------------------------------------------

    def go(self, done, target=None):
        """Continues until `done()` or, if given, the hit with counter value `target`
        (True then); leaves checkpoints on the way."""
        longest = fred_gdb.CHECKPOINT_EVERY
        every = longest
        step = 1 << 12  # hits between looks at the clock, grown to a good part of `every`
        began = time.monotonic()
        near = None
        if target is not None and self.clock is not None and every > 0 and \
                target - self.here() > 4 * NEAR:
            near = target - NEAR
        while True:
            if done():
                return False
            if not gdb.selected_inferior().pid:
                raise gdb.GdbError("the program ended before the replay reached its target")
            goal = target
            if target is None and longest > 0 and self.each_hit is None and \
                    self.on_hit is None:
                every = min(longest, max(SPACING_COSTS * self.ops.checkpoint_cost,
                                         SPACING_LEAST, (time.monotonic() - began) / 4))
            if self.may_checkpoint and self.clock is not None and every > 0:
                mark = self.here() + step
                goal = mark if goal is None else min(goal, mark)
                if near is not None and near > self.here():
                    goal = min(goal, near)
            if self.each_hit is not None and self.clock is not None:
                goal = self.counter() + 1 if goal is None else min(goal, self.counter() + 1)
            self.target = goal
            neg = -goal if goal is not None else 0
            if self.forks is not None and self.forks.saved is not None:
                # (inside a fork's system call: the target is the parent's, for later)
                self.forks.saved = (neg, self.forks.saved[1])
            elif self.clock is not None:
                self.clock.write_var(NEG_TARGET, neg)
            self.resumed_at = None
            self.resume()
            self.ops.last_signal = None
            self.ops.last_stop = []
            self.moved = False
            self.at_target = self.paused = False
            self.counted_at = None
            started = time.monotonic()
            gdb.execute("continue", to_string=True)
            sig = self.ops.last_signal
            if sig == "SIGINT":
                raise Interrupted()
            if not gdb.selected_inferior().pid:
                continue
            pc = newest().pc()
            if self.clock is not None and sig in FATAL and pc in self.clock.fault_points:
                # The watch code read through a bad pointer: that value cannot be read.
                gdb.execute("set $rax = %d" % FAULTED, to_string=True)
                gdb.execute("set $pc = %d" % self.clock.watch_compare, to_string=True)
                continue
            self.counted = False
            if self.clock is not None and pc in self.clock.traps:
                gdb.execute("set $rcx = %d" % self.clock.read_var(S_RCX), to_string=True)
                gdb.execute("set $pc = %d" % self.clock.traps[pc], to_string=True)
                self.moved = True
                self.counted = self.at_target = True
            elif self.counted_at is not None and pc == self.counted_at:
                self.counted = True
            self.present()
            if self.paused:
                self.on_pause()
                continue
            if self.at_target:
                c = self.counter()
                if target is not None and c == target:
                    self.agent.epoch, self.agent.k = self.time_of(c)
                    return True
                if self.each_hit is not None:
                    self.each_hit(c, newest().pc())
                if time.monotonic() - started < every / 8:
                    step *= 2
                if c == near:
                    # Just before a far target: where the next search back will start
                    # (if the run to here was worth a checkpoint's cost).
                    if time.monotonic() - began > NEAR_WORTH:
                        self.checkpoint_here(c)
                elif time.monotonic() - self.last_checkpoint > every:
                    self.checkpoint_here(c)
                continue
            if sig in FATAL:
                self.signal = sig
                if not done():
                    raise gdb.GdbError("the program died of %s before the replay reached "
                                       "its target" % sig)
                return False
            if self.forks is not None and self.forks.mine(self.ops.last_stop):
                self.forks.toggle()
                continue
            if done():
                return False
            if self.agent.finished is None and self.ops.at_exit():
                raise gdb.GdbError("the program ended before the replay reached its target")
            self.on_stop()

    def on_stop(self):
        """Another stop (a collector's catchpoint): nothing to do by default."""

    def on_pause(self):
        """Walking: `on_hit` asked to stop here (to evaluate outside a breakpoint)."""

    def resume(self):
        """Goes on from where the run stands, through the stub that stands in for its pc:
        before its counting if its hit is not counted yet, after it if it is. A hit
        counted by a breakpoint is counted by hand when the run resumes from it (gdb
        reports no breakpoint at the pc it resumes from)."""
        frame = newest()
        if frame is None:
            return
        pc = frame.pc()
        entry = pc in self.program.lines
        if pc in self.slow_pcs:
            if entry and not self.counted:
                self.slow_hit(SlowAt(pc))
            return
        if self.clock is None:
            return
        if entry and self.counted:
            where = self.clock.after_count[pc]
        else:
            where = self.clock.running_pc(pc)
        if where != pc:
            gdb.execute("set $pc = %d" % where, to_string=True)
            self.resumed_at = (where, self.counter())

    def present(self):
        """Stopped inside a stub (where an original pc runs, or at a fault in a moved
        instruction): stand at the original pc."""
        frame = newest()
        if frame is None or self.clock is None:
            return
        pc = frame.pc()
        orig = self.clock.original_pc(pc)
        if orig != pc:
            gdb.execute("set $pc = %d" % orig, to_string=True)
            self.moved = True

    def settle(self):
        """After the run moved the pc, a stop there as gdb makes one: gdb steps over a
        breakpoint at the pc it stopped at only, so a user's breakpoint here would be hit
        at once when the user goes on. A breakpoint at the pc, hit before anything runs,
        makes it that pc."""
        frame = newest()
        if not self.moved or frame is None:
            return
        pc = frame.pc()
        bp = gdb.Breakpoint("*%d" % pc, internal=True, temporary=True)
        try:
            gdb.execute("continue", to_string=True)
        finally:
            if bp.is_valid():
                bp.delete()
        self.moved = False

    def checkpoint_here(self, c):
        """A checkpoint at the entry the run stands at (the hit `c`)."""
        epoch, k = self.time_of(c)
        if self.forks is not None:
            self.forks.enable(False)  # (gdb's checkpoint is a fork the program is made to call)
        try:
            made = self.ops.checkpoint({})
        except gdb.GdbError:
            self.may_checkpoint = False  # (threads)
            return
        finally:
            if self.forks is not None:
                self.forks.enable(True)
        made["time"] = (epoch << 40) | k
        made["location"] = self.program.where(newest().pc())
        self.checkpoints.append(made)
        self.last_checkpoint = time.monotonic()
        if self.clock is not None:
            # What the stepping rules know here, for searches that start from it.
            steps = Steps(self.program)
            for _, pc, base in self.ring_tail(4096, c - 1):
                steps.feed(pc, base)
            self.agent.steps_at[(epoch, k)] = steps.state()

    def finish(self):
        """The run is over: its breakpoints gone, the original code back."""
        for stop in self.stops:
            if stop.is_valid():
                stop.delete()
        self.stops = []
        if self.forks is not None:
            self.forks.delete()
        if gdb.selected_inferior().pid:
            self.present()
            if self.clock is not None:
                self.clock.set_patched(False)
            self.settle()

