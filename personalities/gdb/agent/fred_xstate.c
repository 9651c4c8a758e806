/* Preloaded into gdb on CPUs whose register state is larger than gdb 13 knows.
 *
 * The kernel accepts a write of a program's extended registers (PTRACE_SETREGSET,
 * NT_X86_XSTATE) only as the whole XSAVE area. With AMX's tile data that area is about
 * 11 KB; gdb 13 writes the 2.7 KB it knows of, the kernel refuses with EFAULT, and every
 * call of a function, `checkpoint` and `restart` fails with "Couldn't write extended state
 * status: Bad address". This completes such a write with the rest of the area as it is in
 * the program, so that what gdb changes is written and the state gdb does not know is kept.
 * Every other ptrace request passes through unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef long (*ptrace_fn)(enum __ptrace_request, pid_t, void *, void *);

/* Larger than any XSAVE area so far (AMX makes it 11,008 bytes). */
#define MOST 65536

long ptrace(enum __ptrace_request req, ...)
{
    static ptrace_fn real;
    va_list ap;
    va_start(ap, req);
    pid_t pid = va_arg(ap, pid_t);
    void *addr = va_arg(ap, void *);
    void *data = va_arg(ap, void *);
    va_end(ap);
    if (!real)
        real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
    if (req == PTRACE_SETREGSET && (long)addr == NT_X86_XSTATE && data) {
        struct iovec *part = data;
        char *buf = calloc(1, MOST);
        struct iovec whole = {buf, MOST};
        if (buf && real(PTRACE_GETREGSET, pid, addr, &whole) == 0
            && whole.iov_len > part->iov_len) {
            memcpy(buf, part->iov_base, part->iov_len);
            long r = real(PTRACE_SETREGSET, pid, addr, &whole);
            free(buf);
            return r;
        }
        free(buf);
    }
    return real(req, pid, addr, data);
}
