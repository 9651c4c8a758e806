"""Where the native clock's stubs go: the program's own functions cut into chains.

A chain is a straight run of instructions that control enters only at its first (a branch
target, a return address, a function's start): it may go on past conditional jumps, and
ends after an unconditional jump, a return or a call. A chain with line-table entries is
moved into a stub that counts them. Its first five bytes become a jump into the stub
(*real*); a chain too short for that is moved all the same (*virtual*) when every way into
it can be sent to its stub instead: the chain before it falling through, a branch (moved
too, into a stub: a chain without entries that carries one is a *carrier*), a slot of a
jump table. What is left keeps a breakpoint (*slow*).
"""

import re
import struct

import gdb

BRANCH = re.compile(r"^(?:bnd\s+|notrack\s+)?(j\w+|call\w*)\s+(\S+)")
TARGET = re.compile(r"^0x([0-9a-f]+)")
TABLE = re.compile(r"lea\s+(-?0x[0-9a-f]+)\(%rip\),%(\w+)")
BOUND = re.compile(r"cmp[lq]?\s+\$(0x[0-9a-f]+|\d+),%\w+")
ENDS = ("ret", "repz ret", "hlt", "ud2")


def branch_of(asm):
    """(mnemonic, direct target or None) of a jump or call; (None, None) otherwise."""
    m = BRANCH.match(asm)
    if not m:
        return None, None
    t = TARGET.match(m.group(2))
    return m.group(1), (int(t.group(1), 16) if t else None)


def ends_chain(asm):
    op, _ = branch_of(asm)
    return asm.startswith(ENDS) or op == "jmp" or (op or "").startswith("call")


class Chain:
    """Instructions control enters only at the first: [(addr, length, asm, bytes)]."""

    def __init__(self, insns):
        self.insns = insns
        self.start = insns[0][0]
        self.end = insns[-1][0] + insns[-1][1]
        self.size = self.end - self.start
        self.entries = {}  # pc -> entry id, counted here
        self.starts = set()  # function starts here (the entry filter)
        self.kind = None  # "real", "virtual", "carrier", "hop", or None (not moved)
        self.hop = None  # for a hop: where its five-byte jump is
        self.stub = None
        self.function = None  # the start of its function

    def falls_through(self):
        last = self.insns[-1][2]
        op, _ = branch_of(last)
        return not (last.startswith(ENDS) or op == "jmp")


def function_insns(pc):
    """The instructions of the function around `pc`, and its range."""
    block = gdb.block_for_pc(pc)
    while block is not None and block.function is None:
        block = block.superblock
    if block is None:
        return None, None, None
    inferior = gdb.selected_inferior()
    code = bytes(inferior.read_memory(block.start, block.end - block.start))
    insns = []
    for d in inferior.architecture().disassemble(block.start, block.end - 1):
        off = d["addr"] - block.start
        insns.append((d["addr"], d["length"], d["asm"].strip(), code[off:off + d["length"]]))
    return insns, block.start, block.end


def jump_table(insns, i):
    """The slots (address, target) of the jump table the indirect jump `insns[i]` reads,
    as gcc lays one out (a bound check, the table's address, 32-bit offsets from it), or
    None if it does not look like one."""
    table = bound = None
    for addr, length, asm, _ in reversed(insns[max(0, i - 12):i]):
        m = TABLE.search(asm)
        if m and table is None:
            table = addr + length + int(m.group(1), 16)
        m = BOUND.match(asm)
        if m and bound is None:
            bound = int(m.group(1), 0)
    if table is None or bound is None or bound > 4096:
        return None
    try:
        raw = bytes(gdb.selected_inferior().read_memory(table, 4 * (bound + 1)))
    except gdb.MemoryError:
        return None
    return [(table + 4 * k, table + off) for k, (off,) in enumerate(struct.iter_unpack("<i", raw))]


def plan_function(insns, lo, hi, lines, entries):
    """The chains of one function (kinds set), the entries left slow, and the jump-table
    slots whose targets are virtual chains [(slot, target)]."""
    targets = {lo}
    calls = set()  # return addresses: entered from a callee's return, in the original code
    branches = {}  # target -> [instruction addresses that jump there]
    slots = {}  # target -> [jump-table slot addresses]
    opaque = False  # an indirect jump to who knows where
    for i, (addr, length, asm, _) in enumerate(insns):
        op, target = branch_of(asm)
        if op is None:
            continue
        if op.startswith("call"):
            targets.add(addr + length)
            calls.add(addr + length)
            continue
        if target is None:
            table = jump_table(insns, i)
            if table is None:
                opaque = True
                continue
            for slot, t in table:
                if lo <= t < hi:
                    targets.add(t)
                    slots.setdefault(t, []).append(slot)
            continue
        if lo <= target < hi:
            targets.add(target)
            branches.setdefault(target, []).append(addr)
    if opaque:
        targets.update(p for p in lines if lo <= p < hi)
    chains, cur = [], []
    for insn in insns:
        if cur and insn[0] in targets:
            chains.append(Chain(cur))
            cur = []
        cur.append(insn)
        if ends_chain(insn[2]):
            chains.append(Chain(cur))
            cur = []
    if cur:
        chains.append(Chain(cur))
    at = {}  # instruction address -> its chain
    for c in chains:
        c.function = lo
        for ins in c.insns:
            at[ins[0]] = c
            if ins[0] in lines:
                c.entries[ins[0]] = lines[ins[0]]
            if ins[0] in entries:
                c.starts.add(ins[0])
        if c.entries or c.starts:
            c.kind = "real" if c.size >= 5 else "short"
    before = {chains[i + 1].start: chains[i] for i in range(len(chains) - 1)}

    def ways_in(c):
        """The chains whose moved code must lead into `c`'s stub, or None if some way in
        cannot be redirected."""
        if opaque or c.start == lo or c.start in calls:
            return None
        ways = []
        prev = before.get(c.start)
        if prev is not None and prev.falls_through():
            ways.append(prev)
        ways.extend(at[b] for b in branches.get(c.start, []))
        return ways

    # Short chains are taken as virtual, then let go (slow) when a way into them cannot
    # be redirected, until nothing changes.
    changed = True
    while changed:
        changed = False
        for c in chains:
            if c.kind not in ("short", "virtual"):
                continue
            ways = ways_in(c)
            if ways is None or any(w.kind == "slow" or (w.kind is None and w.size < 5)
                                   for w in ways):
                c.kind = "slow"
                changed = True
                continue
            for w in ways:
                if w.kind is None:
                    w.kind = "carrier"
                    changed = True
            if c.kind == "short":
                c.kind = "virtual"
                changed = True
    hop(chains)
    slow = []
    for c in chains:
        if c.kind == "slow":
            slow.extend(list(c.entries) + list(c.starts))
    redirect = [(slot, t) for t, ss in slots.items() if at.get(t) and at[t].kind == "virtual"
                for slot in ss]
    moved = [c for c in chains if c.kind in ("real", "virtual", "carrier", "hop")]
    return moved, slow, redirect, calls


def hop(chains):
    """A chain too short for a jump into its stub, that control can enter from where fred
    cannot redirect (a return address), takes a two-byte jump instead, to five bytes
    nearby that nothing runs while patched (past the jump at the start of a moved chain,
    whose instructions all run in its stub), which jump on into its stub."""
    room = []  # [start, end) of free original bytes
    for c in chains:
        if c.kind in ("real", "carrier") and c.size > 10:
            room.append([c.start + 5, c.end])
    for c in chains:
        if c.kind != "slow" or c.size < 2:
            continue
        for r in room:
            near = r[0] - (c.start + 2)
            if r[1] - r[0] >= 5 and -128 <= near <= 127 - 5:
                c.kind = "hop"
                c.hop = r[0]
                r[0] += 5
                break
