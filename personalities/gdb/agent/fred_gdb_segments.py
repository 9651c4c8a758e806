"""How a run goes through the segments fred asks for: each to its epoch's end, by the
recipe that ended the epoch when it first ran (a breakpoint's hit, a watchpoint's stop, a
fatal signal, the exit), or in the last one to the hit wanted.

A mixin of fred_gdb_scan's `Run`, whose running (`go`), counter and positions it uses.
"""

import json

import gdb

import fred_gdb
from fred_gdb import frame_base
from fred_gdb_stops import Stop


def looks_at(end):
    """Whether the end of an epoch at a breakpoint's hit is told by the program's state
    there (its frame, the calls that led there, a condition), not by the hit alone."""
    return bool(end.get("base") is not None or end.get("chain") is not None
                or end.get("cond"))


class Segments:
    """The segment methods of a `Run`."""

    def segments(self, segs):
        """Runs the segments in order. Where several in a row each end at the next hit of
        the same plain breakpoint (a `continue` typed again and again), the program runs
        through them at once, the ends of their epochs noted as it passes the breakpoint:
        stopping at each would take about as long as the epoch ran the first time."""
        i = 0
        while i < len(segs):
            j = i + 1
            while j < len(segs) and self.chains(segs[i], segs[j]):
                j += 1
            if j - i > 1:
                self.hits_in_a_row(segs[i:j])
            else:
                self.segment(segs[i])
            i = j

    def chains(self, first, seg):
        """Whether `seg` ends like `first`, at the next hit of a line's breakpoint with
        nothing to look at there, and both can run on without a stop between them."""
        end = first.get("end")
        return (self.clock is not None and self.each_hit is None and self.on_hit is None
                and end is not None and seg.get("end") == end
                and end.get("end") == "hit" and end["pc"] in self.program.lines
                and set(end) <= {"end", "pc", "cond", "skip", "from_k"}
                and not looks_at(end) and not end.get("skip") and not end.get("from_k")
                and not first.get("input") and not seg.get("input"))

    def hits_in_a_row(self, segs):
        """`segs`, which `chains` put together: one run to the last's end."""
        pc = segs[0]["end"]["pc"]
        passed = [0]
        diverged = []

        def at_end(_bp):
            seg = segs[passed[0]]
            passed[0] += 1
            if passed[0] == len(segs):
                self.reached_end = True
                return True
            try:
                self.end_epoch(seg, entry_pc=pc)
            except gdb.GdbError as e:
                diverged.append(e)
                return True
            return False

        self.may_checkpoint = True
        self.end, self.end_hits, self.reached_end = segs[-1]["end"], 0, False
        stop = Stop(self, pc, at_end, looks=False)
        try:
            self.go(lambda: self.reached_end or bool(diverged))
        finally:
            stop.delete()
        if diverged:
            raise diverged[0]
        self.end_epoch(segs[-1])

    def segment(self, seg):
        """Runs one segment: to its epoch's end, or in the last one to the hit `stop_k`."""
        epoch = seg["epoch"]
        k = self.agent.k if self.agent.epoch == epoch else seg["k"]
        end = seg.get("end")
        # No checkpoint inside a stretch where the program read input (how much of it was
        # read there would not be known), nor where a breakpoint's n-th hit ends it.
        self.may_checkpoint = not seg.get("input") and (end is None or not end.get("skip"))
        if end is None:
            if seg["stop_k"] > k:
                self.go(lambda: False, self.origin + seg["stop_k"])
            return
        if k < end.get("from_k", 0):
            self.go(lambda: False, self.origin + end["from_k"])
        self.end, self.end_hits, self.reached_end = end, 0, False
        kind = end.get("end")
        if kind == "hit":
            stop = Stop(self, end["pc"], lambda bp: self.end_reached(), looks_at(end))
            try:
                self.go(lambda: self.reached_end)
            finally:
                stop.delete()
        elif kind == "watch":
            self.watch_end(end)
        elif kind == "signal":
            self.go(lambda: self.signal == end["signal"])
            self.agent.crashed = end["signal"]
        elif kind == "exit":
            self.go(lambda: self.ops.at_exit())
            self.agent.finished = int(gdb.parse_and_eval("$rdi")) & 0xFF
        else:
            raise gdb.GdbError("this stretch cannot be replayed (it ended by an interrupt "
                               "or a watchpoint)")
        self.end_epoch(seg)

    def end_epoch(self, seg, entry_pc=None):
        """The run stands at the end of `seg`'s epoch: checks the epoch's length and enters
        the next. (`entry_pc`: the line-table entry whose stub the program stands in, its
        hit not counted yet: that hit is k = 0 of the next epoch.)"""
        epoch = seg["epoch"]
        self.check_length(epoch, seg)
        if entry_pc is not None:
            self.origin = self.counter() + 1
        else:
            self.origin = self.here() if self.at_entry() else self.counter()
        self.agent.epoch, self.agent.k = epoch + 1, 0
        self.note_epoch(epoch + 1, True, entry_pc=entry_pc)

    def check_length(self, epoch, seg):
        """An epoch's stretch runs the same number of hits every time it is replayed: a
        replay that ran another number went another way, even if it ended in the same
        place."""
        if self.clock is None:
            return
        hits = self.counter() - self.origin  # (from k = 0, wherever this run began)
        key = json.dumps({k: v for k, v in seg.items() if k not in ("input", "k")},
                         sort_keys=True)
        known = self.agent.lengths.setdefault(key, hits)
        if known != hits:
            raise gdb.GdbError("replay diverged: epoch %d ran %d line-table entries to its end, "
                               "not %d as before" % (epoch, hits, known))

    def watch_end(self, end):
        """To the stop of the user's watchpoint that ended the epoch: it is watching again
        for the stretch, and its (skip + 1)-th stop is the end."""
        bp = next((b for b in gdb.breakpoints() if b.number == end["number"]), None)
        if bp is None:
            raise gdb.GdbError("this stretch cannot be replayed: watchpoint %d, which ended "
                               "it, was deleted" % end["number"])
        stops = [0]

        def seen():
            if bp in self.ops.last_stop:
                stops[0] += 1

        was, bp.enabled = bp.enabled, True
        self.on_stop = seen
        try:
            self.go(lambda: stops[0] > end.get("skip", 0))
        finally:
            bp.enabled = was
            self.on_stop = lambda: None
        self.present()

    def end_reached(self):
        e = self.end
        base = e.get("base")
        if base is not None and frame_base(gdb.newest_frame()) != base:
            return False
        chain = e.get("chain")
        if chain is not None and fred_gdb.call_chain(gdb.newest_frame()) != chain:
            return False
        cond = e.get("cond")
        if cond:
            self.agent.evaluating = True
            try:
                if not bool(gdb.parse_and_eval(cond)):
                    return False
            except gdb.error:
                pass
            finally:
                self.agent.evaluating = False
        self.end_hits += 1
        self.reached_end = self.end_hits > e.get("skip", 0)
        return self.reached_end
