/* Preloaded into gdb: its writes of a program's extended registers, kept until the program
 * runs.
 *
 * gdb writes these registers one at a time, each a read and a write of the whole XSAVE
 * area (PTRACE_GETREGSET and PTRACE_SETREGSET, NT_X86_XSTATE): a call of a function from
 * gdb restores some 500 of them, a thousand system calls that were half of a `checkpoint`'s
 * time. So the area is kept here while the program is stopped: reads are answered from
 * it, writes change it, and it goes to the kernel once, before any other request that
 * could run the program or see its registers. Other requests pass through unchanged.
 *
 * On CPUs whose register state is larger than gdb 13 knows, it is also what makes such
 * writes work at all. The kernel accepts a write of the extended registers only as the
 * whole area. With AMX's tile data that area is about 11 KB; gdb 13 writes the 2.7 KB it
 * knows of, the kernel refuses with EFAULT, and every call of a function, `checkpoint` and
 * `restart` fails with "Couldn't write extended state status: Bad address". The write
 * kept here is completed with the rest of the area as it is in the program, so that what
 * gdb changes is written and the state gdb does not know is kept.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef long (*ptrace_fn)(enum __ptrace_request, pid_t, void *, void *);

/* Larger than any XSAVE area so far (AMX makes it 11,008 bytes). */
#define MOST 65536

static ptrace_fn real;
static pid_t held;     /* whose area `area` holds (0: nobody's) */
static size_t held_len;
static int dirty;      /* `area` has writes the kernel has not had yet */
static char area[MOST];

/* Gives the kernel the writes kept back; forgets the area. */
static long flush(void)
{
    long r = 0;
    if (held && dirty) {
        struct iovec whole = {area, held_len};
        r = real(PTRACE_SETREGSET, held, (void *)NT_X86_XSTATE, &whole);
    }
    held = 0;
    dirty = 0;
    return r;
}

/* Makes `area` hold `pid`'s registers. */
static long hold(pid_t pid)
{
    if (held == pid)
        return 0;
    long r = flush();
    if (r < 0)
        return r;
    struct iovec whole = {area, MOST};
    r = real(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &whole);
    if (r == 0) {
        held = pid;
        held_len = whole.iov_len;
    }
    return r;
}

/* Requests that neither run the program nor touch its extended registers. */
static int leaves_area(enum __ptrace_request req, void *addr)
{
    switch (req) {
    case PTRACE_PEEKTEXT:
    case PTRACE_PEEKDATA:
    case PTRACE_POKETEXT:
    case PTRACE_POKEDATA:
    case PTRACE_PEEKUSER:
    case PTRACE_POKEUSER: /* (the debug registers) */
    case PTRACE_GETREGS:
    case PTRACE_SETREGS:
    case PTRACE_GETSIGINFO:
    case PTRACE_SETSIGINFO:
    case PTRACE_GETEVENTMSG:
        return 1;
    case PTRACE_GETREGSET:
    case PTRACE_SETREGSET:
        return (long)addr == NT_PRSTATUS;
    default:
        return 0;
    }
}

long ptrace(enum __ptrace_request req, ...)
{
    va_list ap;
    va_start(ap, req);
    pid_t pid = va_arg(ap, pid_t);
    void *addr = va_arg(ap, void *);
    void *data = va_arg(ap, void *);
    va_end(ap);
    if (!real)
        real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
    int xstate = (long)addr == NT_X86_XSTATE && data != NULL;
    if (xstate && (req == PTRACE_GETREGSET || req == PTRACE_SETREGSET)) {
        struct iovec *part = data;
        if (hold(pid) == 0 && (req == PTRACE_GETREGSET || part->iov_len <= held_len)) {
            if (req == PTRACE_GETREGSET) {
                /* (A buffer larger than the area gets the area, as from the kernel.) */
                if (part->iov_len > held_len)
                    part->iov_len = held_len;
                memcpy(part->iov_base, area, part->iov_len);
            } else {
                memcpy(area, part->iov_base, part->iov_len);
                dirty = 1;
            }
            return 0;
        }
        /* (A read larger than the area: the kernel answers it, as it would.) */
    }
    if (held && !leaves_area(req, addr)) {
        int e = errno;
        if (flush() < 0 && errno != ESRCH)
            return -1; /* (the writes kept back failed: this request is not made) */
        errno = e;
    }
    return real(req, pid, addr, data);
}
