"""The native line clock: counting the program's line-table entries at full speed.

gdb stops the program at a breakpoint in about 0.2 ms, so a clock made of breakpoints on
every line runs at 5,000 lines a second. This clock is written into the program instead:
a page of small stubs, one per block of the program's own code, that each line-table entry
jumps through. A stub adds one to a counter in the program's memory, notes the entry and
its frame in a ring of the last 65,536 entries run, and traps (int3) when the counter
reaches a target; then it runs the instructions it displaced and jumps back. The program
runs at near native speed and stops exactly at the n-th entry.

The patches are in place only while fred replays or searches: the user's own commands run
on the program's original code, so gdb's stepping never meets a stub. x86-64 only.
"""

import bisect
import re
import struct

import gdb

from fred_gdb import in_dynamic_loader
from fred_gdb_plan import ENDS, branch_of, function_insns, plan_function

RING = 1 << 16  # hits remembered
PAGE = 4096

# Variables at the start of the stub page (byte offsets).
(CNT, S_RCX, S_RDX, S_RAX, NEG_F, LAST_F, NEG_TARGET, NEG_S, LAST_ENTRY, S_RCX2,
 WATCH_ON, RET_SLOT, LAST_VALUE, LAST_CHANGE, WATCH_PTR, BUILT) = (8 * i for i in range(16))
MAGIC = 0x6672656453747562  # in BUILT: this copy of the program has the stubs
# A watched value that cannot be read (a null pointer on its way: k is the step), or whose
# reading faulted.
UNREADABLE = 0x7EAD_0000_0000_0000
FAULTED = 0x7EAD_FFFF_0000_0000
CONSTS = 128  # emulated calls' return addresses from here, then the stubs

RIPREL = re.compile(r"(-?0x[0-9a-f]+)?\(%rip\)")


def function_address(name):
    """The address of the C library's function `name`, for a call from gdb; the name itself
    where it cannot be found. gdb's expressions look a name that has no debugging
    information through every source file name the program's libraries have, which takes
    milliseconds where the C library's debugging information is installed; `info address`
    looks in the symbol tables only."""
    try:
        text = gdb.execute("info address %s" % name, to_string=True)
    except gdb.error:
        return name
    m = re.search(r" at (?:address )?(0x[0-9a-f]+)", text)
    if m is None:
        return name
    # (Not the dynamic loader's own copy, which `info address` may find first.)
    return name if in_dynamic_loader(int(m.group(1), 16)) else m.group(1)


class Unpatchable(Exception):
    """This piece of code cannot be moved into a stub (it keeps a breakpoint instead)."""


def s32(v):
    if not -(1 << 31) <= v < (1 << 31):
        raise Unpatchable("out of reach")
    return struct.pack("<i", v)


class Asm:
    """Machine code for the stub page, assembled at its final addresses."""

    REGS = {"rax": 0x05, "rcx": 0x0D, "rdx": 0x15}

    def __init__(self, base):
        self.base = base
        self.code = bytearray()

    def here(self):
        return self.base + len(self.code)

    def emit(self, b):
        self.code += b

    def riprel(self, prefix, addr):
        end = self.here() + len(prefix) + 4
        self.emit(prefix + s32(addr - end))

    def store(self, reg, addr):  # mov %reg, addr(%rip)
        self.riprel(bytes([0x48, 0x89, self.REGS[reg]]), addr)

    def load(self, reg, addr):  # mov addr(%rip), %reg
        self.riprel(bytes([0x48, 0x8B, self.REGS[reg]]), addr)

    def jmp(self, target):
        self.emit(b"\xE9" + s32(target - (self.here() + 5)))

    def jcc(self, cc, target):
        self.emit(bytes([0x0F, 0x80 | cc]) + s32(target - (self.here() + 6)))


class Recording(Asm):
    """An Asm for templates: rip-relative fields name a variable (an offset in the stub
    page) or a place in the template, and are noted rather than resolved."""

    def __init__(self, base, page):
        super().__init__(base)
        self.fields = []

    def riprel(self, prefix, var):
        pos = len(self.code) + len(prefix)
        self.fields.append((pos, pos + 4, var, None))
        self.emit(prefix + bytes(4))

    def local(self, prefix, offset):
        pos = len(self.code) + len(prefix)
        self.fields.append((pos, pos + 4, None, offset))
        self.emit(prefix + bytes(4))


class NativeClock:
    """The stubs, the patches and the counter, inside one program (`lines`: every
    line-table entry pc of its own code; `entries`: its functions' first pcs)."""

    def __init__(self, lines, entries):
        self.pcs = sorted(lines)  # id -> entry pc
        self.ids = {pc: i for i, pc in enumerate(self.pcs)}
        self.entries = set(entries)
        self.chains, self.slow, self.redirect = [], [], []
        self.return_entries = set()
        self.planned = False
        self.code = None  # the stub page's code, once built
        self.base = None
        self.ring = None
        self.patched = None  # unknown until set
        self.stand_in = {}  # original pc -> where it runs while patched (before counting)
        self.moved = []  # sorted (stub address, original pc): where each moved one runs
        self.traps = {}  # address just after a stub's int3 -> its entry pc
        self.after_count = {}  # entry pc -> that address (where its counted hit goes on)
        self.pages = {}  # page address -> (original bytes, patched bytes)
        self.fault_points = set()  # the watch code's loads (a fault there: unreadable)
        self.watch_compare = None
        self.watching = None  # (start, steps, size) of the watched chain
        self.template = None

    # ---- set-up ------------------------------------------------------------------------

    def reserve(self):
        """Maps the stub page near the program's code (a jump reaches 2 GB) and the ring:
        once, before the program's first checkpoint, so that every copy of the program has
        them. Cheap: what goes in them is made at the first replay or search (`ready`).
        False if the program cannot take them."""
        pcs = self.pcs + sorted(self.entries)
        if not pcs:
            return False
        text, end = min(pcs), max(pcs)
        size = CONSTS + 320 * len(pcs) + 4 * (end - text) + 64 * 1024
        size = (size + PAGE - 1) // PAGE * PAGE + PAGE  # (the last page: the watch code)
        # The ring right after the stubs, in the same mapping: one call of a function
        # from gdb fewer (a millisecond of every session's start).
        whole = size + (RING * 12 + PAGE - 1) // PAGE * PAGE
        mmap = "((long (*)(long, long, int, int, int, long)) %s)" % function_address("mmap")
        for hint in [(text & ~0xFFFFF) - (mb << 20) - whole for mb in (16, 256, 1)]:
            if hint <= 0x10000:
                continue
            hint &= ~(PAGE - 1)
            # MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, read-write-execute
            got = int(gdb.parse_and_eval("%s(%d, %d, 7, 0x100022, -1, 0)" % (mmap, hint, whole)))
            if got == hint:
                self.base = got
                break
            if got not in (-1, 0):
                gdb.parse_and_eval("((int (*)(long, long)) %s)(%d, %d)"
                                   % (function_address("munmap"), got, whole))
        if self.base is None:
            return False
        self.ring = self.base + size
        self.size = size
        self.watch_code = self.base + size - PAGE
        return True

    def ready(self):
        """Plans the chains and builds the stubs, the first time; and puts them into this
        copy of the program if it was checkpointed before they were built."""
        if not self.planned:
            self.planned = True
            self.plan()
            self.build()
        if self.read_var(BUILT) != MAGIC:
            gdb.selected_inferior().write_memory(self.base, bytes(self.code))
            self.write_var(WATCH_PTR, self.watch_code)
            self.write_var(WATCH_ON, 0)
            self.write_var(BUILT, MAGIC)

    def plan(self):
        done = set()
        for pc in sorted(set(self.ids) | self.entries):
            if pc in done:
                continue
            insns, lo, hi = function_insns(pc)
            if insns is None:
                self.slow.append(pc)
                continue
            done.update(p for p in list(self.ids) + list(self.entries) if lo <= p < hi)
            chains, slow, redirect, calls = plan_function(insns, lo, hi, self.ids, self.entries)
            self.chains.extend(chains)
            self.slow.extend(slow)
            self.redirect.extend(redirect)
            self.return_entries.update(calls)
        self.return_entries &= set(self.ids)

    def build(self):
        """Assembles every stub twice: once to learn where each lands, once for good (the
        sizes do not depend on the addresses)."""
        kept = [c for c in self.chains]
        while True:
            try:
                code = self.assemble_all(kept, {})
                where = {c.start: c.stub for c in kept}
                code = self.assemble_all(kept, where)
                break
            except Unpatchable as e:
                bad = e.args[1] if len(e.args) > 1 else None
                if bad is None:
                    raise
                # Virtual chains of that function may be led into through it: they go too.
                gone = [c for c in kept if c is bad or
                        (c.function == bad.function and c.kind == "virtual")]
                for c in gone:
                    kept.remove(c)
                    self.slow.extend(list(c.entries) + list(c.starts))
        self.chains = kept
        if len(code) > self.size - PAGE:
            raise gdb.GdbError("the stub page overflowed")
        self.code = code
        inferior = gdb.selected_inferior()
        self.moved.sort()
        # The jumps into the stubs, and jump-table slots sent to virtual chains' stubs (a
        # slot holds its target's offset from the table).
        writes = [(c.start, b"\xE9" + s32(c.stub - (c.start + 5)))
                  for c in self.chains if c.kind in ("real", "carrier")]
        for c in self.chains:
            if c.kind == "hop":
                writes.append((c.start, bytes([0xEB, (c.hop - (c.start + 2)) & 0xFF])))
                writes.append((c.hop, b"\xE9" + s32(c.stub - (c.hop + 5))))
        where = {c.start: c.stub for c in self.chains}
        for slot, target in self.redirect:
            if target in where:
                offset = struct.unpack("<i", bytes(inferior.read_memory(slot, 4)))[0]
                writes.append((slot, s32(where[target] - (target - offset))))
        for addr, data in writes:
            for i, byte in enumerate(data):
                page = (addr + i) & ~(PAGE - 1)
                if page not in self.pages:
                    orig = bytes(inferior.read_memory(page, PAGE))
                    self.pages[page] = (orig, bytearray(orig))
                self.pages[page][1][addr + i - page] = byte
        self.patched = False

    def assemble_all(self, chains, where):
        """The stub page's code, with branches to chain starts in `where` sent to their
        stubs; maps and traps are (re)made."""
        self.stand_in, self.traps, self.after_count, self.moved = {}, {}, {}, []
        a = Asm(self.base)
        calls = sum(1 for c in chains for i in c.insns
                    if (branch_of(i[2])[0] or "").startswith("call"))
        a.emit(bytes(CONSTS + 8 * calls + 64))
        consts = {}

        def const(value):
            if value not in consts:
                consts[value] = CONSTS + 8 * len(consts)
            return self.base + consts[value]

        for c in chains:
            try:
                self.assemble(a, c, const, where)
            except Unpatchable as e:
                raise Unpatchable(str(e), c)
        for value, off in consts.items():
            a.code[off:off + 8] = struct.pack("<Q", value)
        return a.code

    def assemble(self, a, c, const, where):
        c.stub = a.here()
        for addr, length, asm, raw in c.insns:
            self.stand_in.setdefault(addr, a.here())
            # Everything from here to the next instruction's stand-in runs for `addr`.
            self.moved.append((a.here(), addr))
            if addr in c.starts:
                self.entry_filter(a)
            if addr in c.entries:
                self.counter(a, c.entries[addr], addr)
            self.relocate(a, addr, length, asm, raw, const, where)
        last = c.insns[-1][2]
        op, _ = branch_of(last)
        if not (last.startswith(ENDS) or op == "jmp" or (op or "").startswith("call")):
            a.jmp(where.get(c.end, c.end))  # falling through

    def counter(self, a, ident, pc):
        """Count one hit, note it in the ring, note it if it is in the filtered frame, run
        the watch code if a search watches, and trap at the target; registers and flags
        are left as they were. (Copied from a template: there are many.)"""
        if self.template is None:
            self.template = self.counter_template()
        code, fields, ident_at, trap = self.template
        at = a.here()
        block = bytearray(code)
        for pos, end, var, local in fields:
            target = at + local if var is None else self.base + var
            struct.pack_into("<i", block, pos, target - (at + end))
        struct.pack_into("<I", block, ident_at, ident)
        a.emit(bytes(block))
        self.traps[at + trap] = pc
        self.after_count[pc] = at + trap

    def counter_template(self):
        """The counter's code at address 0, and where its addresses go: (code, [(position
        of a rip-relative field, end of its instruction, variable or None, else the
        target's offset in the block)], position of the entry id, offset after the trap)."""
        a = Recording(0, self.base)
        a.store("rcx", S_RCX)
        a.store("rdx", S_RDX)
        a.store("rax", S_RAX)
        a.load("rax", CNT)
        a.emit(b"\x48\x8D\x40\x01")  # lea 1(%rax),%rax
        a.store("rax", CNT)
        a.emit(b"\x0F\xB7\xD0")  # movzwl %ax,%edx
        a.emit(b"\x48\xB9" + struct.pack("<Q", self.ring))  # movabs $ring,%rcx
        a.emit(b"\x48\x89\x2C\xD1")  # mov %rbp,(%rcx,%rdx,8)
        ident_at = len(a.code) + 7
        a.emit(b"\xC7\x84\x91" + struct.pack("<iI", RING * 8, 0))  # movl $id,ids(,%rdx,4)
        # The watched value, when a search watches one (see `set_watch`).
        a.load("rcx", WATCH_ON)
        a.emit(b"\xE3\x1B")  # jrcxz 1f
        a.local(b"\x48\x8D\x15", len(a.code) + 7 + 7 + 6)  # lea back(%rip),%rdx
        a.store("rdx", RET_SLOT)
        a.riprel(b"\xFF\x25", WATCH_PTR)  # jmp *watch(%rip)
        a.load("rax", CNT)  # back: 1:
        a.load("rcx", NEG_F)
        a.emit(b"\x48\x8D\x0C\x29")  # lea (%rcx,%rbp,1),%rcx
        a.emit(b"\xE3\x02\xEB\x07")  # jrcxz 1f; jmp 2f
        a.store("rax", LAST_F)  # 1: the last hit in the filtered frame
        a.load("rcx", NEG_TARGET)  # 2:
        a.emit(b"\x48\x8D\x0C\x01")  # lea (%rcx,%rax,1),%rcx
        a.load("rax", S_RAX)
        a.load("rdx", S_RDX)
        a.emit(b"\xE3\x02\xEB\x01\xCC")  # jrcxz 1f; jmp 2f; 1: int3; 2:
        trap = len(a.code)
        a.load("rcx", S_RCX)
        return bytes(a.code), a.fields, ident_at, trap

    def entry_filter(self, a):
        """Note the count when the filtered frame is entered (its return address at rsp)."""
        b = self.base
        a.store("rcx", b + S_RCX)
        a.load("rcx", b + NEG_S)
        a.emit(b"\x48\x8D\x0C\x0C")  # lea (%rsp,%rcx,1),%rcx
        a.emit(b"\xE3\x02\xEB\x0E")  # jrcxz 1f; jmp 2f
        a.load("rcx", b + CNT)  # 1:
        a.store("rcx", b + LAST_ENTRY)
        a.load("rcx", b + S_RCX)  # 2:

    def relocate(self, a, addr, length, asm, raw, const, where):
        op, target = branch_of(asm)
        if op is not None:
            if target is None:
                if op == "jmp" and "%rip" not in asm and "%rsp" not in asm:
                    a.emit(raw)  # jmp *%reg: where it goes does not depend on where it is
                    return
                raise Unpatchable("indirect branch")
            if not op.startswith("call"):
                target = where.get(target, target)
            if op == "jmp":
                a.jmp(target)
            elif op.startswith("call"):
                # A call with the original return address, so that the callee returns
                # into the original code and backtraces stay true.
                a.emit(b"\x48\x8D\x64\x24\xF8")  # lea -8(%rsp),%rsp
                a.store("rcx", self.base + S_RCX2)
                a.load("rcx", const(addr + length))
                a.emit(b"\x48\x89\x0C\x24")  # mov %rcx,(%rsp)
                a.load("rcx", self.base + S_RCX2)
                a.jmp(target)
            elif raw[0] & 0xF0 == 0x70:
                a.jcc(raw[0] & 0x0F, target)
            elif raw[0] == 0x0F and raw[1] & 0xF0 == 0x80:
                a.jcc(raw[1] & 0x0F, target)
            else:
                raise Unpatchable(asm)
            return
        m = RIPREL.search(asm)
        if m:
            disp = int(m.group(1), 16) if m.group(1) else 0
            at = raw.find(struct.pack("<i", disp))
            if at < 1:
                raise Unpatchable(asm)
            moved = s32(addr + length + disp - (a.here() + length))
            a.emit(raw[:at] + moved + raw[at + 4:])
            return
        if "%rip" in asm or asm.startswith(("loop", "jrcxz", "jecxz", "xbegin")):
            raise Unpatchable(asm)
        a.emit(raw)

    # ---- use -------------------------------------------------------------------------

    def read_var(self, off):
        mem = gdb.selected_inferior().read_memory(self.base + off, 8)
        return struct.unpack("<q", bytes(mem))[0]

    def write_var(self, off, value):
        gdb.selected_inferior().write_memory(self.base + off, struct.pack("<q", value))

    def read_value(self):
        """LAST_VALUE, unsigned (it holds raw bytes)."""
        return self.read_var(LAST_VALUE) % (1 << 64)

    def write_value(self, value):
        gdb.selected_inferior().write_memory(self.base + LAST_VALUE, struct.pack("<Q", value))

    def set_patched(self, on, force=False):
        """Puts the jumps into the stubs in place, or the original code back (a page at a
        time; gdb's own breakpoints are out of the code while the program is stopped)."""
        if on == self.patched and not force:
            return
        inferior = gdb.selected_inferior()
        for page, (orig, patched) in self.pages.items():
            inferior.write_memory(page, bytes(patched) if on else orig)
        self.patched = on

    def original_pc(self, pc):
        """The original address of code running at `pc` (in a stub or not)."""
        if self.base is None or not self.base <= pc < self.base + self.size:
            return pc
        if pc in self.traps:
            return self.traps[pc]
        i = bisect.bisect_right(self.moved, (pc, float("inf"))) - 1
        return self.moved[i][1] if i >= 0 else pc

    def running_pc(self, pc):
        """Where the code of original address `pc` runs while patched (a breakpoint for
        it goes there)."""
        return self.stand_in.get(pc, pc)

    def set_watch(self, start, steps, size):
        """Watches, from now on, the value at the end of a chain of memory: from address
        `start`, `steps` of ("deref",) or ("add", n), then `size` bytes (1, 2, 4 or 8). At
        every hit the value is read and compared with LAST_VALUE; a change notes the hit in
        LAST_CHANGE. None: watch nothing."""
        self.watching = None
        if start is None:
            self.write_var(WATCH_ON, 0)
            return
        self.watching = (start, steps, size)
        self.fault_points = set()
        b = self.base
        a = Asm(self.watch_code)
        a.emit(b"\x48\xB8" + struct.pack("<Q", start))  # movabs $start,%rax
        nulls = []
        for k, step in enumerate(steps):
            if step[0] == "deref":
                self.fault_points.add(a.here())
                a.emit(b"\x48\x8B\x00")  # mov (%rax),%rax
                a.emit(b"\x48\x89\xC1")  # mov %rax,%rcx
                a.emit(b"\xE3\x02\xEB\x05")  # jrcxz 1f; jmp 2f
                nulls.append((a.here(), k))
                a.jmp(a.here())  # 1: (patched below: to this step's null value) 2:
            else:
                a.emit(b"\x48\x8D\x80" + struct.pack("<i", step[1]))  # lea n(%rax),%rax
        self.fault_points.add(a.here())
        a.emit({8: b"\x48\x8B\x00", 4: b"\x8B\x00", 2: b"\x0F\xB7\x00",
                1: b"\x0F\xB6\x00"}[size])  # the value, zero-extended, into %rax
        compare = a.here()
        self.watch_compare = compare
        a.load("rcx", b + LAST_VALUE)
        a.emit(b"\x48\xF7\xD1")  # not %rcx
        a.emit(b"\x48\x8D\x4C\x01\x01")  # lea 1(%rcx,%rax,1),%rcx: value - last
        a.emit(b"\xE3\x15")  # jrcxz 1f (the same)
        a.store("rax", b + LAST_VALUE)
        a.load("rcx", b + CNT)
        a.store("rcx", b + LAST_CHANGE)
        a.riprel(b"\xFF\x25", b + RET_SLOT)  # 1: jmp *ret(%rip)
        for at, k in nulls:
            here = a.here()
            a.emit(b"\x48\xB8" + struct.pack("<Q", UNREADABLE + k))  # movabs $null,%rax
            a.jmp(compare)
            off = at - self.watch_code
            a.code[off:off + 5] = b"\xE9" + s32(here - (at + 5))
        if len(a.code) > PAGE:
            raise gdb.GdbError("the watched expression is too long")
        gdb.selected_inferior().write_memory(self.watch_code, bytes(a.code))
        self.write_var(LAST_CHANGE, 0)
        self.write_var(WATCH_ON, 1)

    def read_watched(self):
        """The watched value now, as the watch code reads it."""
        return read_chain(*self.watching)

    def note_hit(self, c, pc, base):
        """Notes a hit counted outside the stubs: in the ring, and for the watch."""
        if self.watching is not None:
            value = self.read_watched()
            if value != self.read_value():
                self.write_value(value)
                self.write_var(LAST_CHANGE, c)
        i = c & (RING - 1)
        inferior = gdb.selected_inferior()
        inferior.write_memory(self.ring + 8 * i, struct.pack("<Q", base))
        inferior.write_memory(self.ring + RING * 8 + 4 * i, struct.pack("<I", self.ids[pc]))

    def ring_tail(self, count, last):
        """(counter value, entry pc, frame base) of the `count` hits up to counter value
        `last`, oldest first (the ring keeps the last 65,536)."""
        count = max(0, min(count, RING, last))
        inferior = gdb.selected_inferior()
        out = []
        c = last - count + 1
        while c <= last:
            i = c & (RING - 1)
            n = min(last - c + 1, RING - i)
            bases = bytes(inferior.read_memory(self.ring + 8 * i, 8 * n))
            ids = bytes(inferior.read_memory(self.ring + RING * 8 + 4 * i, 4 * n))
            for j, (base, ident) in enumerate(zip(struct.iter_unpack("<Q", bases),
                                                   struct.iter_unpack("<I", ids))):
                out.append((c + j, self.pcs[ident[0]], base[0]))
            c += n
        return out


def read_chain(start, steps, size):
    """The value at the end of a chain of memory (a start address; steps that add an
    offset or follow a pointer) as the watch code reads it: UNREADABLE + k where the k-th
    pointer followed is null, FAULTED where memory cannot be read."""
    inferior = gdb.selected_inferior()
    addr = start
    try:
        for k, step in enumerate(steps):
            if step[0] == "deref":
                addr = struct.unpack("<Q", bytes(inferior.read_memory(addr, 8)))[0]
                if addr == 0:
                    return UNREADABLE + k
            else:
                addr += step[1]
        return int.from_bytes(bytes(inferior.read_memory(addr, size)), "little")
    except gdb.MemoryError:
        return FAULTED
