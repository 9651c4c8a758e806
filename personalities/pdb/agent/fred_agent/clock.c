/* fred's event clock in C: the agent's trace function while it replays or scans.
 *
 * It counts the trace events FredPdb.trace_dispatch counts (the same events, so the same
 * times), and does a scan's work at each event (scanhooks.c) without a Python call per
 * event. It calls back into the agent only where trace_dispatch's slow path would run
 * (clock_check, at next_check) and where a scan finds something. As seen by the program it
 * behaves like trace_dispatch installed with sys.settrace: frames it counts get
 * trace_dispatch as their f_trace, frames whose f_trace is something else get that called,
 * and on 3.8 to 3.10 every call of the trace function syncs the frame's locals dict as
 * sys.settrace's trampoline does (that sync can delay a finalizer, and so the program's
 * time).
 *
 * Built at run time against the interpreter's own headers (native.py); only public API,
 * plus the slot of PyFrameObject.f_trace on 3.11 and later (checked when the module loads).
 * The module also holds a frozen snapshot's wait (peekwait.c) and the checkpoint's fork
 * (forkwait.c).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#include "scanhooks.c"
#include "peekwait.c"
#include "forkwait.c"

/* ----- the frame's trace function slot --------------------------------------------- */

#if PY_VERSION_HEX >= 0x030B0000
/* Opaque since 3.11: f_trace follows f_back and f_frame (3.11 to 3.13). */
struct frame_head {
    PyObject_HEAD
    void *f_back;
    void *f_frame;
    PyObject *f_trace;
};
#define F_TRACE(f) (((struct frame_head *)(f))->f_trace)
#else
#define F_TRACE(f) ((f)->f_trace)
#endif

/* Is the slot where F_TRACE looks really f_trace? Set it through the attribute, read it
 * back through the slot. */
static int check_f_trace_slot(void)
{
    PyFrameObject *f = PyEval_GetFrame();
    if (f == NULL)
        return 0;
    PyObject *old = PyObject_GetAttrString((PyObject *)f, "f_trace");
    if (old == NULL)
        return -1;
    PyObject *probe = PyList_New(0);
    int ok = probe != NULL && PyObject_SetAttrString((PyObject *)f, "f_trace", probe) == 0 &&
             F_TRACE(f) == probe;
    if (PyObject_SetAttrString((PyObject *)f, "f_trace", old) < 0)
        ok = 0;
    Py_XDECREF(probe);
    Py_DECREF(old);
    if (PyErr_Occurred())
        return -1;
    return ok;
}

#if PY_VERSION_HEX < 0x030B0000
/* sys.settrace's trampoline brackets every call of the trace function with these. */
#define LOCALS_IN(f) PyFrame_FastToLocalsWithError(f)
#define LOCALS_OUT(f) PyFrame_LocalsToFast((f), 1)
#else
#define LOCALS_IN(f) 0
#define LOCALS_OUT(f) ((void)0)
#endif

/* ----- the clock ------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *agent;     /* the FredPdb */
    PyObject *td;        /* agent.trace_dispatch: what counted frames get as f_trace */
    PyObject *td_func;   /* FredPdb.trace_dispatch, to know other bound methods of it */
    PyObject *hidden;    /* agent.hidden_code: code whose calls are not the program's */
    PyObject *check;     /* agent.clock_check */
    PyObject *botframe;  /* below the program: not counted */
    PyObject *hook;      /* the scan's per-event work, or NULL (a replay) */
    hook_fn hook_event;  /* the hook's C function, when it is one of scanhooks.c */
    long long t;         /* events so far */
    long long next_check;
    int on;              /* a window is open: this clock counts */
    int paused;          /* the agent works on the program's behalf: nothing is traced */
    unsigned long window; /* changes whenever a window opens */
} Clock;

static PyTypeObject ClockType;

static int is_ours(Clock *c, PyObject *ft)
{
    return ft == c->td || (PyMethod_Check(ft) && PyMethod_GET_FUNCTION(ft) == c->td_func &&
                           PyMethod_GET_SELF(ft) == c->agent);
}

static int is_hidden(Clock *c, PyFrameObject *f)
{
    PyCodeObject *code = frame_code(f);
    int r = PySet_Contains(c->hidden, (PyObject *)code);
    Py_DECREF(code);
    return r;
}

/* What sys.settrace's trampoline does when a trace function fails. */
static int trace_failed(Clock *c, PyFrameObject *f)
{
    PyTraceBack_Here(f);
    PyEval_SetTrace(NULL, NULL);
    Py_CLEAR(F_TRACE(f));
    c->on = 0;
    return -1;
}

static void set_f_trace(PyFrameObject *f, PyObject *v)
{
    if (v != Py_None && F_TRACE(f) != v) {
        Py_INCREF(v);
        Py_XSETREF(F_TRACE(f), v);
    }
}

/* One counted event. Returns 0 when the window goes on (the hook has seen the event), 1
 * when Python did the rest of it (*res: what trace_dispatch would have returned), -1 on
 * error. `adopted`: the event came through Python's trace_dispatch, which does the rest
 * itself if the window ends here. */
static int tick(Clock *c, PyFrameObject *f, int what, PyObject *arg, int adopted,
                PyObject **res)
{
    long long t = ++c->t;
    if (t >= c->next_check) {
        unsigned long window = c->window;
        PyObject *r = PyObject_CallFunction(c->check, "OOOLi", (PyObject *)f,
                                            event_names[what], arg ? arg : Py_None, t,
                                            adopted);
        if (r == NULL)
            return -1;
        if (c->window != window || !c->on) {
            *res = r;
            return 1;
        }
        Py_DECREF(r);
    }
    if (c->hook_event != NULL) {
        if (c->hook_event((Hook *)c->hook, f, what, arg, t) < 0)
            return -1;
    } else if (c->hook != NULL) {
        PyObject *r = PyObject_CallFunction(c->hook, "OOOL", (PyObject *)f, event_names[what],
                                            arg ? arg : Py_None, t);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
    }
    return 0;
}

/* A frame whose f_trace is not the agent's: call it as the trampoline would. */
static int call_foreign(Clock *c, PyObject *ft, PyFrameObject *f, int what, PyObject *arg)
{
    if (LOCALS_IN(f) < 0)
        return trace_failed(c, f);
    Py_INCREF(ft);
    PyObject *r = PyObject_CallFunctionObjArgs(ft, (PyObject *)f, event_names[what],
                                               arg ? arg : Py_None, NULL);
    Py_DECREF(ft);
    LOCALS_OUT(f);
    if (r == NULL)
        return trace_failed(c, f);
    set_f_trace(f, r);
    Py_DECREF(r);
    return 0;
}

/* The trace function (PyEval_SetTrace). */
static int clock_trace(PyObject *obj, PyFrameObject *f, int what, PyObject *arg)
{
    Clock *c = (Clock *)obj;
    if (c->paused || !c->on || (what > PyTrace_RETURN && what != PyTrace_OPCODE))
        return 0;
    if (what == PyTrace_CALL) {
        int hidden = (PyObject *)f == c->botframe ? 1 : is_hidden(c, f);
        if (hidden < 0)
            return trace_failed(c, f);
        if (hidden) {
            /* trace_dispatch is called, and returns None. */
            if (LOCALS_IN(f) < 0)
                return trace_failed(c, f);
            LOCALS_OUT(f);
            return 0;
        }
    } else {
        PyObject *ft = F_TRACE(f);
        if (ft == NULL)
            return 0;
        if (ft != c->td) {
            if (!is_ours(c, ft))
                return call_foreign(c, ft, f, what, arg);
            /* Another bound trace_dispatch (the trampoline sets a new one at every
             * event): the clock's own, so that the next events know it at once. */
            set_f_trace(f, c->td);
        }
        if ((PyObject *)f == c->botframe) {
            if (LOCALS_IN(f) < 0)
                return trace_failed(c, f);
            LOCALS_OUT(f);
            return 0;
        }
    }
    if (LOCALS_IN(f) < 0)
        return trace_failed(c, f);
    PyObject *res = NULL;
    int r = tick(c, f, what, arg, 0, &res);
    LOCALS_OUT(f);
    if (r < 0)
        return trace_failed(c, f);
    if (r == 1) {
        set_f_trace(f, res);
        Py_DECREF(res);
    } else if (what == PyTrace_CALL) {
        set_f_trace(f, c->td);
    }
    return 0;
}

/* ----- the clock as Python sees it ---------------------------------------------------- */

static int Clock_init(Clock *c, PyObject *args, PyObject *kw)
{
    PyObject *agent, *td, *hidden, *check;
    if (!PyArg_ParseTuple(args, "OOO!O", &agent, &td, &PySet_Type, &hidden, &check))
        return -1;
    if (!PyMethod_Check(td)) {
        PyErr_SetString(PyExc_TypeError, "trace_dispatch must be a bound method");
        return -1;
    }
    Py_INCREF(agent);
    Py_XSETREF(c->agent, agent);
    Py_INCREF(td);
    Py_XSETREF(c->td, td);
    Py_INCREF(PyMethod_GET_FUNCTION(td));
    Py_XSETREF(c->td_func, PyMethod_GET_FUNCTION(td));
    Py_INCREF(hidden);
    Py_XSETREF(c->hidden, hidden);
    Py_INCREF(check);
    Py_XSETREF(c->check, check);
    return 0;
}

static int Clock_traverse(Clock *c, visitproc visit, void *arg)
{
    Py_VISIT(c->agent);
    Py_VISIT(c->td);
    Py_VISIT(c->td_func);
    Py_VISIT(c->hidden);
    Py_VISIT(c->check);
    Py_VISIT(c->botframe);
    Py_VISIT(c->hook);
    return 0;
}

static int Clock_clear(Clock *c)
{
    c->hook_event = NULL;
    Py_CLEAR(c->agent);
    Py_CLEAR(c->td);
    Py_CLEAR(c->td_func);
    Py_CLEAR(c->hidden);
    Py_CLEAR(c->check);
    Py_CLEAR(c->botframe);
    Py_CLEAR(c->hook);
    return 0;
}

static void Clock_dealloc(Clock *c)
{
    PyObject_GC_UnTrack(c);
    Clock_clear(c);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *Clock_start(Clock *c, PyObject *args)
{
    long long t, next_check;
    PyObject *hook, *botframe;
    if (!PyArg_ParseTuple(args, "LLOO", &t, &next_check, &hook, &botframe))
        return NULL;
    c->t = t;
    c->next_check = next_check;
    Py_INCREF(botframe);
    Py_XSETREF(c->botframe, botframe);
    if (hook == Py_None) {
        Py_CLEAR(c->hook);
    } else {
        Py_INCREF(hook);
        Py_XSETREF(c->hook, hook);
    }
    c->hook_event = c->hook != NULL && (Py_TYPE(hook) == &StopScanType ||
                                        Py_TYPE(hook) == &WatchScanType)
                        ? ((Hook *)hook)->event
                        : NULL;
    c->window++;
    c->on = 1;
    c->paused = 0;
    PyEval_SetTrace(clock_trace, (PyObject *)c);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Clock_stop(Clock *c, PyObject *noargs)
{
    c->on = 0;
    c->paused = 0;
    c->hook_event = NULL;
    Py_CLEAR(c->hook);
    Py_CLEAR(c->botframe);
    Py_RETURN_NONE;
}

/* An event that reached Python's trace_dispatch during a window (tracing was switched off
 * and on again by sys.settrace(sys.gettrace())): count it here, and trace in C again. */
static PyObject *Clock_adopt(Clock *c, PyObject *args)
{
    PyFrameObject *f;
    PyObject *ev, *arg;
    if (!PyArg_ParseTuple(args, "O!UO", &PyFrame_Type, &f, &ev, &arg))
        return NULL;
    int what = event_number(ev);
    if (what < 0)
        return NULL;
    PyEval_SetTrace(clock_trace, (PyObject *)c);
    PyObject *res = NULL;
    int r = tick(c, f, what, arg, 1, &res);
    if (r < 0)
        return NULL;
    if (r == 1)
        Py_DECREF(res);
    Py_RETURN_NONE;
}

/* Called as a Python-level trace function (sys.settrace(sys.gettrace()) during a window):
 * as trace_dispatch would be, and back to tracing in C. */
static PyObject *Clock_call(Clock *c, PyObject *args, PyObject *kw)
{
    PyFrameObject *f;
    PyObject *ev, *arg;
    if (!PyArg_ParseTuple(args, "O!UO", &PyFrame_Type, &f, &ev, &arg))
        return NULL;
    int what = event_number(ev);
    if (what < 0)
        return NULL;
    if (!c->on) {
        /* The window has closed since: trace_dispatch takes over, as it would have. */
        PyObject *sys = PyImport_ImportModule("sys");
        PyObject *r = sys ? PyObject_CallMethod(sys, "settrace", "O", c->td) : NULL;
        Py_XDECREF(sys);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
        return PyObject_CallFunctionObjArgs(c->td, (PyObject *)f, ev, arg, NULL);
    }
    if ((PyObject *)f == c->botframe)
        Py_RETURN_NONE;
    if (what == PyTrace_CALL) {
        int hidden = is_hidden(c, f);
        if (hidden < 0)
            return NULL;
        if (hidden)
            Py_RETURN_NONE;
    }
    PyEval_SetTrace(clock_trace, (PyObject *)c);
    PyObject *res = NULL;
    int r = tick(c, f, what, arg, 0, &res);
    if (r < 0)
        return NULL;
    if (r == 1)
        return res;
    Py_INCREF(c->td);
    return c->td;
}

static PyObject *Clock_pause(Clock *c, PyObject *noargs)
{
    c->paused++;
    Py_RETURN_NONE;
}

static PyObject *Clock_unpause(Clock *c, PyObject *noargs)
{
    if (c->paused > 0)
        c->paused--;
    Py_RETURN_NONE;
}

static PyObject *Clock_get_t(Clock *c, void *closure)
{
    return PyLong_FromLongLong(c->t);
}

static PyObject *Clock_get_on(Clock *c, void *closure)
{
    return PyBool_FromLong(c->on);
}

static PyObject *Clock_get_next_check(Clock *c, void *closure)
{
    return PyLong_FromLongLong(c->next_check);
}

static int Clock_set_next_check(Clock *c, PyObject *v, void *closure)
{
    long long n = v ? PyLong_AsLongLong(v) : -1;
    if (n == -1 && PyErr_Occurred())
        return -1;
    c->next_check = n;
    return 0;
}

static PyMethodDef Clock_methods[] = {
    {"start", (PyCFunction)Clock_start, METH_VARARGS,
     "start(t, next_check, hook, botframe): open a window: count from t, call the agent's "
     "clock_check at next_check, pass every event to hook (None: a replay)."},
    {"stop", (PyCFunction)Clock_stop, METH_NOARGS,
     "Close the window (the caller installs the next trace function)."},
    {"adopt", (PyCFunction)Clock_adopt, METH_VARARGS,
     "adopt(frame, event, arg): an event Python's trace function got during a window."},
    {"pause", (PyCFunction)Clock_pause, METH_NOARGS, "Trace nothing until unpause()."},
    {"unpause", (PyCFunction)Clock_unpause, METH_NOARGS, "Undo one pause()."},
    {NULL}};

static PyGetSetDef Clock_getset[] = {
    {"t", (getter)Clock_get_t, NULL, "Events counted so far.", NULL},
    {"on", (getter)Clock_get_on, NULL, "Whether a window is open.", NULL},
    {"next_check", (getter)Clock_get_next_check, (setter)Clock_set_next_check,
     "The event at which the agent's clock_check is called.", NULL},
    {NULL}};

static PyTypeObject ClockType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fred_agent._fredclock.Clock",
    .tp_basicsize = sizeof(Clock),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Clock(agent, trace_dispatch, hidden_code, clock_check): the event clock.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Clock_init,
    .tp_dealloc = (destructor)Clock_dealloc,
    .tp_traverse = (traverseproc)Clock_traverse,
    .tp_clear = (inquiry)Clock_clear,
    .tp_call = (ternaryfunc)Clock_call,
    .tp_methods = Clock_methods,
    .tp_getset = Clock_getset,
};

/* ----- the module ------------------------------------------------------------------- */

static PyMethodDef module_methods[] = {
    {"checkpoint", checkpoint, METH_VARARGS,
     "checkpoint(chan_fd, buffer, path, hello): fork a snapshot that waits on a new "
     "connection to fred; (pid, -1, 0) here, (0, fd, n) in the snapshot once woken."},
    {"serve_at_stop", serve_at_stop, METH_VARARGS,
     "serve_at_stop(chan_fd, buffer, path, hello): take the checkpoints fred asks for at a "
     "stop; return with any other request, ('request', n, taken), or in a snapshot taken "
     "here once woken, ('snapshot', fd, n)."},
    {"discard_terminal", discard_terminal, METH_VARARGS,
     "discard_terminal(fd): fds 1, 2 and fd become a terminal whose output is thrown away."},
    {"fork_copy", fork_copy, METH_NOARGS,
     "In a snapshot: fork a live copy, reparented to fred; 0 in the copy."},
    {"files_at_checkpoint", files_at_checkpoint, METH_NOARGS,
     "In a snapshot: {fd: (offset, length or None)} of regular files when it was forked."},
    {NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_fredclock",
    "fred's event clock and scans in C (see clock.c).", -1, module_methods};

PyMODINIT_FUNC PyInit__fredclock(void)
{
    if (init_event_names() < 0 || init_watch_names() < 0)
        return NULL;
    int slot = check_f_trace_slot();
    if (slot < 0)
        return NULL;
    if (!slot) {
        PyErr_SetString(PyExc_ImportError, "frame objects are not laid out as expected");
        return NULL;
    }
    if (PyType_Ready(&ClockType) < 0 || PyType_Ready(&StopScanType) < 0 ||
        PyType_Ready(&WatchScanType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    Py_INCREF(&ClockType);
    Py_INCREF(&StopScanType);
    Py_INCREF(&WatchScanType);
    if (PyModule_AddObject(m, "Clock", (PyObject *)&ClockType) < 0 ||
        PyModule_AddObject(m, "StopScan", (PyObject *)&StopScanType) < 0 ||
        PyModule_AddObject(m, "WatchScan", (PyObject *)&WatchScanType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
