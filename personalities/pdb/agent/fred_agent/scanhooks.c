/* The scans' work at each event, in C: the same rules as scan.py's scan_event (StopScan)
 * and watchscan.py's hook (WatchScan), with their state in C and the Python agent called
 * only for what is rare (a change found, the entry of a frame, a breakpoint's condition)
 * and at the stretch's end (finish). Included by clock.c, which calls them directly; from
 * Python they are called as hook(frame, event, arg, t), like the Python hooks.
 */

/* ----- shared ------------------------------------------------------------------------ */

static PyObject *event_names[8];

static int init_event_names(void)
{
    static const char *names[8] = {"call",   "exception",   "line",     "return",
                                   "c_call", "c_exception", "c_return", "opcode"};
    for (int i = 0; i < 8; i++) {
        if (event_names[i] == NULL && !(event_names[i] = PyUnicode_InternFromString(names[i])))
            return -1;
    }
    return 0;
}

static int event_number(PyObject *name)
{
    for (int i = 0; i < 8; i++) {
        if (name == event_names[i])
            return i;
    }
    for (int i = 0; i < 8; i++) {
        int eq = PyUnicode_Compare(name, event_names[i]);
        if (eq == -1 && PyErr_Occurred())
            return -1;
        if (eq == 0)
            return i;
    }
    PyErr_Format(PyExc_ValueError, "not a trace event: %R", name);
    return -1;
}

#if PY_VERSION_HEX >= 0x03090000
#define frame_code PyFrame_GetCode /* new references */
#define frame_back PyFrame_GetBack
#else
static PyCodeObject *frame_code(PyFrameObject *f)
{
    Py_INCREF(f->f_code);
    return f->f_code;
}
static PyFrameObject *frame_back(PyFrameObject *f)
{
    Py_XINCREF(f->f_back);
    return f->f_back;
}
#endif

typedef struct Hook Hook;
typedef int (*hook_fn)(Hook *, PyFrameObject *, int, PyObject *, long long);
struct Hook {
    PyObject_HEAD
    hook_fn event;
};

/* Called from Python: hook(frame, event, arg, t). */
static PyObject *Hook_call(Hook *h, PyObject *args, PyObject *kw)
{
    PyFrameObject *f;
    PyObject *ev, *arg;
    long long t;
    if (!PyArg_ParseTuple(args, "O!UOL", &PyFrame_Type, &f, &ev, &arg, &t))
        return NULL;
    int what = event_number(ev);
    if (what < 0 || h->event(h, f, what, arg == Py_None ? NULL : arg, t) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* A stop: when and where, as agent.found_at takes it. */
typedef struct {
    long long t;
    long depth;
    int what;
    PyObject *code; /* strong, as the Python scans hold it */
    int line;
} Stop;

/* `code` is borrowed; *dst keeps its own reference (taken only when it changes: a scan
 * stays in the same code object for long). */
static void stop_set(Stop *dst, long long t, long depth, int what, PyObject *code, int line)
{
    dst->t = t;
    dst->depth = depth;
    dst->what = what;
    dst->line = line;
    if (dst->code != code) {
        Py_XINCREF(code);
        Py_XSETREF(dst->code, code);
    }
}

static void stop_copy(Stop *dst, const Stop *src)
{
    stop_set(dst, src->t, src->depth, src->what, src->code, src->line);
}

static PyObject *stop_tuple(const Stop *s)
{
    return Py_BuildValue("(LlOOi)", s->t, s->depth, event_names[s->what], s->code, s->line);
}

/* bdb's `step` would stop here (scan.py's is_step_stop). */
static int step_stop(int waiting, long gen_flags, PyFrameObject *f, int what, PyObject *arg)
{
    if (waiting)
        return 0;
    if (what == PyTrace_EXCEPTION) {
        PyCodeObject *code = frame_code(f);
        int gen = (code->co_flags & gen_flags) != 0;
        Py_DECREF(code);
        return !(gen && arg != NULL && PyTuple_Check(arg) && PyTuple_GET_SIZE(arg) == 3 &&
                 PyTuple_GET_ITEM(arg, 0) == PyExc_StopIteration &&
                 PyTuple_GET_ITEM(arg, 2) == Py_None);
    }
    return what == PyTrace_LINE || what == PyTrace_CALL || what == PyTrace_RETURN;
}

/* An optional int argument: None is "not given". */
static int opt_long(PyObject *o, int *has, long *v)
{
    *has = o != Py_None;
    if (!*has)
        return 0;
    *v = PyLong_AsLong(o);
    return *v == -1 && PyErr_Occurred() ? -1 : 0;
}

/* ----- StopScan: the last stops matching a query ------------------------------------ */

typedef struct {
    Hook base;
    PyObject *s;           /* the scan's dict, where finish() writes what was found */
    PyObject *found_at;    /* agent.found_at */
    PyObject *break_lines; /* co_filename -> the lines with breakpoints in its file */
    PyObject *would_break; /* agent.would_break */
    PyObject *files;       /* break_lines' answers, by co_filename */
    long d, floor, depth, gen_flags;
    int has_floor, has_depth, waiting, breakpoints, broke;
    unsigned kinds; /* events wanted, one bit per event number; 0: all */
    Stop *ring;     /* the last `keep` matches, oldest at head */
    Py_ssize_t cap, keep, n, head;
} StopScan;

static PyTypeObject StopScanType;

static void stop_ring_clear(StopScan *s)
{
    for (Py_ssize_t i = 0; i < s->cap; i++)
        Py_CLEAR(s->ring[i].code);
    s->n = s->head = 0;
}

static int stop_push(StopScan *s, long long t, long depth, int what, PyFrameObject *f)
{
    PyObject *code = (PyObject *)frame_code(f);
    int line = PyFrame_GetLineNumber(f);
    Stop *slot;
    if (s->n < s->keep) {
        if (s->n == s->cap) {
            Py_ssize_t cap = s->cap * 2 + 8;
            if (cap > s->keep)
                cap = s->keep;
            Stop *ring = PyMem_Realloc(s->ring, cap * sizeof(Stop));
            if (ring == NULL) {
                Py_DECREF(code);
                PyErr_NoMemory();
                return -1;
            }
            memset(ring + s->cap, 0, (cap - s->cap) * sizeof(Stop));
            s->ring = ring;
            s->cap = cap;
        }
        slot = &s->ring[s->n++];
    } else {
        slot = &s->ring[s->head];
        s->head = (s->head + 1) % s->cap;
    }
    stop_set(slot, t, depth, what, code, line);
    Py_DECREF(code);
    return 0;
}

/* Would an enabled breakpoint stop at this line? Asks the agent only for lines that have
 * one. */
static int stop_breaks_here(StopScan *s, PyFrameObject *f)
{
    PyCodeObject *code = frame_code(f);
    PyObject *file = code->co_filename;
    PyObject *lines = PyDict_GetItemWithError(s->files, file);
    int r = -1;
    if (lines == NULL) {
        if (PyErr_Occurred())
            goto done;
        lines = PyObject_CallFunctionObjArgs(s->break_lines, file, NULL);
        if (lines == NULL)
            goto done;
        int failed = PyDict_SetItem(s->files, file, lines);
        Py_DECREF(lines); /* the dict holds it */
        if (failed < 0)
            goto done;
    }
    r = 0;
    if (lines == Py_None)
        goto done;
    int hit = 0;
    long at[2] = {PyFrame_GetLineNumber(f), code->co_firstlineno};
    for (int i = 0; i < 2 && !hit; i++) {
        PyObject *n = PyLong_FromLong(at[i]);
        hit = n == NULL ? -1 : PySequence_Contains(lines, n);
        Py_XDECREF(n);
    }
    if (hit <= 0) {
        r = hit;
        goto done;
    }
    PyObject *b = PyObject_CallFunctionObjArgs(s->would_break, (PyObject *)f, NULL);
    r = b == NULL ? -1 : PyObject_IsTrue(b);
    Py_XDECREF(b);
done:
    Py_DECREF(code);
    return r;
}

static int stop_event(Hook *h, PyFrameObject *f, int what, PyObject *arg, long long t)
{
    StopScan *s = (StopScan *)h;
    if (what == PyTrace_CALL)
        s->d++;
    long here = s->d;
    if (what == PyTrace_RETURN)
        s->d--;
    if (s->has_floor && here < s->floor) {
        stop_ring_clear(s);
        s->broke = 1;
    }
    if (s->kinds && !(s->kinds & (1u << what)))
        return 0;
    if (s->has_depth && here != s->depth)
        return 0;
    if (!step_stop(s->waiting, s->gen_flags, f, what, arg))
        return 0;
    if (s->breakpoints) {
        if (what != PyTrace_LINE)
            return 0;
        int b = stop_breaks_here(s, f);
        if (b <= 0)
            return b;
    }
    return stop_push(s, t, here, what, f);
}

static int StopScan_init(StopScan *s, PyObject *args, PyObject *kw)
{
    static char *names[] = {"s",        "d",           "kinds",        "depth",
                            "floor",    "keep",        "waiting",      "breakpoints",
                            "gen_flags", "found_at",   "break_lines",  "would_break", NULL};
    PyObject *sd, *depth, *floor, *found_at, *break_lines, *would_break;
    unsigned kinds;
    Py_ssize_t keep;
    int waiting, breakpoints;
    long d, gen_flags;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!lIOOnpplOOO", names, &PyDict_Type, &sd, &d,
                                     &kinds, &depth, &floor, &keep, &waiting, &breakpoints,
                                     &gen_flags, &found_at, &break_lines, &would_break))
        return -1;
    if (opt_long(depth, &s->has_depth, &s->depth) < 0 ||
        opt_long(floor, &s->has_floor, &s->floor) < 0)
        return -1;
    s->base.event = stop_event;
    s->d = d;
    s->kinds = kinds;
    s->keep = keep < 1 ? 1 : keep;
    s->waiting = waiting;
    s->breakpoints = breakpoints;
    s->gen_flags = gen_flags;
    Py_INCREF(sd);
    Py_XSETREF(s->s, sd);
    Py_INCREF(found_at);
    Py_XSETREF(s->found_at, found_at);
    Py_INCREF(break_lines);
    Py_XSETREF(s->break_lines, break_lines);
    Py_INCREF(would_break);
    Py_XSETREF(s->would_break, would_break);
    Py_XSETREF(s->files, PyDict_New());
    return s->files == NULL ? -1 : 0;
}

/* At the stretch's end: the matches, as the Python scan leaves them in the scan's dict. */
static PyObject *StopScan_finish(StopScan *s, PyObject *frame)
{
    PyObject *found = PyList_New(0);
    if (found == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < s->n; i++) {
        PyObject *at = stop_tuple(&s->ring[(s->head + i) % s->cap]);
        PyObject *one = at ? PyObject_CallFunctionObjArgs(s->found_at, at, NULL) : NULL;
        Py_XDECREF(at);
        if (one == NULL || PyList_Append(found, one) < 0) {
            Py_XDECREF(one);
            Py_DECREF(found);
            return NULL;
        }
        Py_DECREF(one);
    }
    int failed = PyDict_SetItemString(s->s, "found", found);
    Py_DECREF(found);
    if (failed < 0 || (s->broke && PyDict_SetItemString(s->s, "broke", Py_True) < 0))
        return NULL;
    Py_RETURN_NONE;
}

static int StopScan_traverse(StopScan *s, visitproc visit, void *arg)
{
    Py_VISIT(s->s);
    Py_VISIT(s->found_at);
    Py_VISIT(s->break_lines);
    Py_VISIT(s->would_break);
    Py_VISIT(s->files);
    for (Py_ssize_t i = 0; i < s->cap; i++)
        Py_VISIT(s->ring[i].code);
    return 0;
}

static int StopScan_clear(StopScan *s)
{
    Py_CLEAR(s->s);
    Py_CLEAR(s->found_at);
    Py_CLEAR(s->break_lines);
    Py_CLEAR(s->would_break);
    Py_CLEAR(s->files);
    if (s->ring != NULL)
        stop_ring_clear(s);
    return 0;
}

static void StopScan_dealloc(StopScan *s)
{
    PyObject_GC_UnTrack(s);
    StopScan_clear(s);
    PyMem_Free(s->ring);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyMethodDef StopScan_methods[] = {
    {"finish", (PyCFunction)StopScan_finish, METH_O,
     "finish(frame): write the matches into the scan's dict."},
    {NULL}};

static PyTypeObject StopScanType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fred_agent._fredclock.StopScan",
    .tp_basicsize = sizeof(StopScan),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The last stops of a stretch that match a query (scan.py's scan_event).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)StopScan_init,
    .tp_dealloc = (destructor)StopScan_dealloc,
    .tp_traverse = (traverseproc)StopScan_traverse,
    .tp_clear = (inquiry)StopScan_clear,
    .tp_call = (ternaryfunc)Hook_call,
    .tp_methods = StopScan_methods,
};

#include "watchhook.c"
