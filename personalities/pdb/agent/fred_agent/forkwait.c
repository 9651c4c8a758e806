/* Checkpoints taken in C, so that taking one writes almost nothing in the live process.
 *
 * After a fork every page the live process writes is copied, and the old page stays with
 * the snapshot: what one checkpoint costs in memory is what the live process writes until
 * the next. A checkpoint taken in Python (reading the request, JSON, a socket object, the
 * file offsets) writes to about 230 pages, through reference counts all over the heap; one
 * taken here writes to a few. So at a stop fred's requests are read here (serve_at_stop):
 * a checkpoint request is answered without returning to Python, anything else is handed
 * back to it. Automatic checkpoints while the program runs fork here too (checkpoint).
 * Included by clock.c, after peekwait.c (whose wait a new snapshot waits in).
 */

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

/* The request fred sends for a checkpoint at a stop, exactly as it serialises it. */
static const char CHECKPOINT_REQUEST[] = "{\"fred\":\"checkpoint\"}\n";

/* Where the regular files stood at the last checkpoint (snapshot.py's _file_offsets): the
 * snapshot restores them on resume, as the live process goes on moving them. length is
 * the size of a file open for appending (-1 for any other). */
#define MAX_FILES 1024
static struct {
    int fd;
    long long offset, length;
} files_at_fork[MAX_FILES];
static int n_files_at_fork;

struct dirent64_head {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

/* Calls each(fd_of_dir, name) for the entries of a /proc directory; -1 if it cannot be
 * read, else the number of entries. Raw getdents64: opendir would malloc a buffer. */
static int each_entry(const char *dir, int (*each)(int, const char *))
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    char buf[2048];
    int count = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (long pos = 0; pos < n;) {
            struct dirent64_head *d = (struct dirent64_head *)(buf + pos);
            pos += d->reclen;
            if (d->name[0] == '.')
                continue;
            count++;
            if (each != NULL && each(dfd, d->name) < 0) {
                close(dfd);
                return -1;
            }
        }
    }
    close(dfd);
    return count;
}

static int note_file(int dfd, const char *name)
{
    char *end;
    long fd = strtol(name, &end, 10);
    struct stat st;
    if (*end != '\0' || fd == 0 || fd == dfd || fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    int flags = fcntl((int)fd, F_GETFL);
    off_t offset = lseek((int)fd, 0, SEEK_CUR);
    if (flags < 0 || offset < 0)
        return 0;
    if (n_files_at_fork == MAX_FILES)
        return -1;
    int writes = (flags & O_ACCMODE) == O_WRONLY || (flags & O_ACCMODE) == O_RDWR;
    files_at_fork[n_files_at_fork].fd = (int)fd;
    files_at_fork[n_files_at_fork].offset = offset;
    files_at_fork[n_files_at_fork].length = writes && (flags & O_APPEND) ? st.st_size : -1;
    n_files_at_fork++;
    return 0;
}

/* Forks a snapshot that waits, untouched, on a new connection to fred at `path`; this
 * process sends fred the snapshot's hello, `hello` followed by its pid and "}". Returns
 * the pid here; in the snapshot, once fred first writes to it, 0 with the new
 * connection's fd and the bytes read into data. -1 (errno set) if it cannot: more than
 * one thread (fork copies one), too many files open, or a failed call. */
static pid_t fork_snapshot(const char *path, int drop_fd, const char *hello, size_t hello_len,
                           char *data, Py_ssize_t size, int *snapshot_fd, Py_ssize_t *n)
{
    if (each_entry("/proc/self/task", NULL) != 1) {
        errno = EAGAIN;
        return -1;
    }
    n_files_at_fork = 0;
    if (each_entry("/proc/self/fd", note_file) < 0) {
        errno = EMFILE;
        return -1;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(addr.sun_path, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(s);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(drop_fd);
        signal(SIGINT, SIG_IGN);
        *n = answer_peeks(s, data, size);
        if (*n == 0)
            _exit(0);
        *snapshot_fd = s;
        return 0;
    }
    if (pid > 0) {
        char tail[32];
        int k = snprintf(tail, sizeof tail, "%d}\n", (int)pid);
        struct iovec iov[2] = {{(void *)hello, hello_len}, {tail, (size_t)k}};
        (void)writev(s, iov, 2); /* (fred not reading: it has gone, and so will we) */
    }
    int saved = errno;
    close(s);
    errno = saved;
    return pid;
}

/* checkpoint(chan_fd, buffer, path, hello): fork a snapshot (fork_snapshot). Returns
 * (pid, -1, 0) here, (0, fd, n) in the snapshot once fred writes to it; raises OSError. */
static PyObject *checkpoint(PyObject *self, PyObject *args)
{
    int chan_fd;
    Py_buffer buf, hello;
    const char *path;
    if (!PyArg_ParseTuple(args, "iw*sy*", &chan_fd, &buf, &path, &hello))
        return NULL;
    int fd = -1;
    Py_ssize_t n = 0;
    pid_t pid = fork_snapshot(path, chan_fd, hello.buf, (size_t)hello.len, buf.buf, buf.len,
                              &fd, &n);
    PyBuffer_Release(&buf);
    PyBuffer_Release(&hello);
    if (pid < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return Py_BuildValue("(iin)", (int)pid, fd, n);
}

/* serve_at_stop(chan_fd, buffer, path, hello): read fred's requests at a stop; take the
 * checkpoints asked for (fork_snapshot, and the reply fred waits for) and return with the
 * first other request: ("request", n, taken), its first n bytes in buffer (n 0: fred has
 * gone). In a snapshot taken here, once fred writes to it: ("snapshot", fd, n). A
 * checkpoint that cannot be taken here is handed back as a request, for Python to take or
 * refuse. */
static PyObject *serve_at_stop(PyObject *self, PyObject *args)
{
    int chan_fd;
    Py_buffer buf, hello;
    const char *path;
    if (!PyArg_ParseTuple(args, "iw*sy*", &chan_fd, &buf, &path, &hello))
        return NULL;
    char *data = buf.buf;
    long taken = 0;
    ssize_t n;
    for (;;) {
        n = read(chan_fd, data, (size_t)buf.len);
        if (n < 0 && errno == EINTR) {
            if (PyErr_CheckSignals() < 0) {
                PyBuffer_Release(&buf);
                PyBuffer_Release(&hello);
                return NULL;
            }
            continue;
        }
        if (n <= 0) {
            n = 0;
            break;
        }
        if ((size_t)n != strlen(CHECKPOINT_REQUEST) ||
            memcmp(data, CHECKPOINT_REQUEST, (size_t)n) != 0)
            break;
        int fd = -1;
        Py_ssize_t got = 0;
        pid_t pid = fork_snapshot(path, chan_fd, hello.buf, (size_t)hello.len, data, buf.len,
                                  &fd, &got);
        if (pid == 0) {
            PyBuffer_Release(&buf);
            PyBuffer_Release(&hello);
            return Py_BuildValue("(sin)", "snapshot", fd, got);
        }
        if (pid < 0) {
            memcpy(data, CHECKPOINT_REQUEST, (size_t)n);
            break;
        }
        char reply[64];
        int k = snprintf(reply, sizeof reply, "{\"reply\": {\"snapshot_pid\": %d}}\n", (int)pid);
        if (write_all(chan_fd, reply, (size_t)k) < 0) {
            n = 0;
            break;
        }
        taken++;
    }
    PyBuffer_Release(&buf);
    PyBuffer_Release(&hello);
    return Py_BuildValue("(snl)", "request", (Py_ssize_t)n, taken);
}

/* files_at_checkpoint(): in a snapshot, {fd: (offset, length or None)} as they were when
 * it was forked. */
static PyObject *files_at_checkpoint(PyObject *self, PyObject *unused)
{
    PyObject *d = PyDict_New();
    for (int i = 0; d != NULL && i < n_files_at_fork; i++) {
        PyObject *v;
        if (files_at_fork[i].length < 0)
            v = Py_BuildValue("(LO)", files_at_fork[i].offset, Py_None);
        else
            v = Py_BuildValue("(LL)", files_at_fork[i].offset, files_at_fork[i].length);
        PyObject *k = PyLong_FromLong(files_at_fork[i].fd);
        if (v == NULL || k == NULL || PyDict_SetItem(d, k, v) < 0)
            Py_CLEAR(d);
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    return d;
}

/* fork_copy(): a live copy of this snapshot, forked twice so that it is reparented to fred
 * (the middle process exits at once). 0 in the copy; the middle pid here, reaped. Only
 * libc's fork: Python's own at-fork work (its hooks, the program's among them, random's
 * reseeding) would run in every copy, and it makes os.fork twice as slow. */
static PyObject *fork_copy(PyObject *self, PyObject *unused)
{
    pid_t child = fork();
    if (child < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    if (child == 0) {
        pid_t copy = fork();
        if (copy != 0)
            _exit(copy < 0);
        return PyLong_FromLong(0);
    }
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    return PyLong_FromLong(child);
}

/* discard_terminal(fd): in a side copy (a piece of a search, beside the live process), make
 * fds 1, 2 and `fd` (the agent's own descriptor of the terminal) a new terminal whose
 * output a process of its own reads and throws away, so that nothing of the copy reaches
 * the session's terminal and the program still writes to a terminal. The reader ends when
 * the copy does (its read fails once no one has the terminal open). */
static PyObject *discard_terminal(PyObject *self, PyObject *args)
{
    int keep;
    if (!PyArg_ParseTuple(args, "i", &keep))
        return NULL;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0) {
        if (m >= 0)
            close(m);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    const char *name = ptsname(m);
    int sl = name ? open(name, O_RDWR | O_NOCTTY) : -1;
    if (sl < 0) {
        close(m);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    pid_t child = fork();
    if (child == 0) {
        if (fork() != 0)
            _exit(0);
        dup2(m, 0);
        for (int fd = 1; fd < 1024; fd++)
            close(fd);
        char buf[4096];
        for (;;) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n > 0 || (n < 0 && errno == EINTR))
                continue;
            _exit(0);
        }
    }
    if (child > 0) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
            ;
    }
    close(m);
    if (child < 0 || dup2(sl, 1) < 0 || dup2(sl, 2) < 0 || dup2(sl, keep) < 0) {
        close(sl);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    close(sl);
    Py_RETURN_NONE;
}
