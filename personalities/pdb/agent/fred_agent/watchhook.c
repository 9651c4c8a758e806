/* WatchScan: the statements of a stretch that changed a watched expression's value, by
 * watchscan.py's rules (read that first: this is the same hook, event for event). A bare
 * name is looked up here as eval() would look it up (locals, globals, builtins); anything
 * else is evaluated by the Python evaluator. Included by scanhooks.c.
 */

enum { BY_EVALUATOR, BY_GLOBAL_NAME, BY_LOCAL_NAME };

typedef struct {
    void *frame; /* compared, never used: the Python hook keeps id(frame) */
    Stop at;
} LineAt;

typedef struct {
    Hook base;
    PyObject *s;          /* the scan's dict, where finish() writes what was found */
    PyObject *evaluate;   /* evaluate(frame or None) -> the value to compare */
    PyObject *changed;    /* changed(at, old, new) -> the match */
    PyObject *entry_of;   /* entry_of(at) -> where the frame was entered */
    PyObject *same;       /* watch.same */
    PyObject *comparable; /* watch.comparable */
    PyObject *stuck;      /* stuck(t or None): an evaluation did not finish */
    PyObject *stuck_type; /* watch.Stuck */
    PyObject *undefined;  /* watch.UNDEFINED */
    PyObject *name;       /* the bare name, or NULL */
    PyObject *globals;    /* where a global name is looked up */
    PyObject *wframe;     /* the watched frame (a local watch), or NULL */
    PyObject *prev;       /* the value at the last stop evaluated, or NULL */
    Stop prev_at;
    PyObject *found, *entry;
    /* A global name's last lookup, while neither dict has changed since (see watch_value):
     * the dict versions then, and the builtins' dict when the name was not in globals. */
    uint64_t g_version, b_version;
    PyObject *bdict; /* borrowed: kept alive by globals as long as g_version holds */
    int looked_up;
    LineAt *lines; /* the last line event at each depth */
    Py_ssize_t nlines;
    long d, wdepth, floor, gen_flags;
    int how, local, has_floor, waiting, is_stuck, broke;
} WatchScan;

static PyTypeObject WatchScanType;
static PyObject *builtins_name, *f_locals_name, *f_globals_name;

/* LOAD_NAME as eval(code, globals, locals) runs it for a bare name. 1: found (*v), 0: not
 * defined, -1: an error, -2: a case left to eval itself (no __builtins__ yet, mappings
 * that are not dicts among globals or builtins). *bdict: the builtins looked in, if any. */
static int load_name(PyObject *locals, PyObject *globals, PyObject *name, PyObject **v,
                     PyObject **bdict)
{
    *bdict = NULL;
    if (!PyDict_CheckExact(globals))
        return -2;
    if (PyDict_CheckExact(locals)) {
        *v = PyDict_GetItemWithError(locals, name);
    } else {
        *v = PyObject_GetItem(locals, name);
        if (*v != NULL)
            return 1;
        if (!PyErr_ExceptionMatches(PyExc_KeyError))
            return -1;
        PyErr_Clear();
    }
    if (*v == NULL && !PyErr_Occurred() && locals != globals)
        *v = PyDict_GetItemWithError(globals, name);
    if (*v == NULL && !PyErr_Occurred()) {
        PyObject *b = PyDict_GetItemWithError(globals, builtins_name);
        if (b == NULL)
            return PyErr_Occurred() ? -1 : -2;
        if (PyModule_Check(b))
            b = PyModule_GetDict(b);
        if (b == NULL || !PyDict_CheckExact(b))
            return -2;
        *bdict = b;
        *v = PyDict_GetItemWithError(b, name);
    }
    if (*v != NULL) {
        Py_INCREF(*v);
        return 1;
    }
    return PyErr_Occurred() ? -1 : 0;
}

/* Values whose repr runs no code (watch.PLAIN). */
static int plain(PyObject *v)
{
    return v == Py_None || PyLong_CheckExact(v) || PyBool_Check(v) || PyFloat_CheckExact(v) ||
           PyUnicode_CheckExact(v) || PyBytes_CheckExact(v) || PyComplex_CheckExact(v);
}

/* Types watch.comparable keeps as they are (watch.IMMUTABLE). */
static int immutable(PyObject *v)
{
    return plain(v) || PyFrozenSet_CheckExact(v);
}

#if PY_VERSION_HEX < 0x030C0000
/* PEP 509: a dict's version changes whenever the dict does (until 3.12, which deprecates
 * it; 3.8 to 3.10 cache global lookups the same way). */
#define DICT_VERSION(d) (((PyDictObject *)(d))->ma_version_tag)
#endif

/* The value to compare, or NULL: an error, or (w->is_stuck) the evaluation did not finish. */
static PyObject *watch_value(WatchScan *w, PyObject *frame)
{
#ifdef DICT_VERSION
    /* Neither dict changed since the last lookup found a plain value (the same object
     * again, so `same` at once): no need to look it up again. */
    if (w->looked_up && w->prev != NULL && DICT_VERSION(w->globals) == w->g_version &&
        (w->bdict == NULL || DICT_VERSION(w->bdict) == w->b_version)) {
        Py_INCREF(w->prev);
        return w->prev;
    }
#endif
    w->looked_up = 0;
    if (w->how != BY_EVALUATOR && (w->how == BY_GLOBAL_NAME || frame != NULL)) {
        PyObject *v = NULL, *locals = w->globals, *globals = w->globals, *bdict = NULL;
        int r;
        if (w->how == BY_LOCAL_NAME) {
            globals = PyObject_GetAttr(frame, f_globals_name);
            locals = globals ? PyObject_GetAttr(frame, f_locals_name) : NULL;
            r = locals ? load_name(locals, globals, w->name, &v, &bdict) : -1;
            Py_XDECREF(locals);
            Py_XDECREF(globals);
        } else {
            r = load_name(locals, globals, w->name, &v, &bdict);
#ifdef DICT_VERSION
            if (r == 0 || (r == 1 && immutable(v))) {
                w->looked_up = 1;
                w->g_version = DICT_VERSION(globals);
                w->bdict = bdict;
                w->b_version = bdict ? DICT_VERSION(bdict) : 0;
            }
#endif
        }
        if (r == 0) {
            Py_INCREF(w->undefined);
            return w->undefined;
        }
        if (r == 1) {
            if (immutable(v))
                return v;
            PyObject *c = PyObject_CallFunctionObjArgs(w->comparable, v, NULL);
            Py_DECREF(v);
            return c;
        }
        PyErr_Clear(); /* the evaluator looks again and says what is wrong */
    }
    PyObject *v = PyObject_CallFunctionObjArgs(w->evaluate, frame ? frame : Py_None, NULL);
    if (v == NULL && PyErr_ExceptionMatches(w->stuck_type)) {
        PyErr_Clear();
        w->is_stuck = 1;
    }
    return v;
}

/* watch.same, but without a Python call when the values are equal. 1: same, 0: not. */
static int watch_same(WatchScan *w, PyObject *a, PyObject *b)
{
    if (a == b)
        return 1;
    PyObject *r = PyObject_RichCompare(a, b, Py_EQ);
    if (r == Py_True) {
        Py_DECREF(r);
        return 1;
    }
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
    r = PyObject_CallFunctionObjArgs(w->same, a, b, NULL);
    int same = r == NULL ? -1 : PyObject_IsTrue(r);
    Py_XDECREF(r);
    return same;
}

/* The value changed at prev_at: that is the match so far (the last change). */
static int watch_changed(WatchScan *w, PyObject *value)
{
    PyObject *at = stop_tuple(&w->prev_at);
    PyObject *hit = at ? PyObject_CallFunctionObjArgs(w->changed, at, w->prev, value, NULL)
                       : NULL;
    Py_XDECREF(at);
    if (hit == NULL)
        return -1;
    Py_XSETREF(w->found, hit);
    return 0;
}

static int watch_stuck(WatchScan *w, PyObject *t)
{
    Py_CLEAR(w->found);
    PyObject *r = PyObject_CallFunctionObjArgs(w->stuck, t, NULL);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static int watch_event(Hook *h, PyFrameObject *f, int what, PyObject *arg, long long t)
{
    WatchScan *w = (WatchScan *)h;
    long here;
    if (what == PyTrace_CALL) {
        here = ++w->d;
    } else {
        here = w->d;
        if (what == PyTrace_RETURN)
            w->d--;
    }
    if (w->has_floor && here < w->floor) {
        Py_CLEAR(w->found);
        Py_CLEAR(w->entry);
        w->broke = 1;
    }
    if (w->is_stuck)
        return 0;
    PyObject *code = NULL; /* fetched once, when needed */
    int line = 0, r = 0;
    if (what == PyTrace_LINE && here >= 0) {
        if (here >= w->nlines) {
            Py_ssize_t n = here * 2 + 16;
            LineAt *lines = PyMem_Realloc(w->lines, n * sizeof(LineAt));
            if (lines == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            memset(lines + w->nlines, 0, (n - w->nlines) * sizeof(LineAt));
            w->lines = lines;
            w->nlines = n;
        }
        code = (PyObject *)frame_code(f);
        line = PyFrame_GetLineNumber(f);
        w->lines[here].frame = f;
        stop_set(&w->lines[here].at, t, here, what, code, line);
    }
    if (w->local) {
        if (here < w->wdepth) {
            Py_CLEAR(w->prev);
            Py_CLEAR(w->wframe);
            goto done;
        }
        if (here == w->wdepth) {
            Py_INCREF(f);
            Py_XSETREF(w->wframe, (PyObject *)f);
        } else if (w->wframe == NULL) {
            goto done;
        }
    }
    if (what == PyTrace_EXCEPTION && !step_stop(w->waiting, w->gen_flags, f, what, arg))
        goto done;
    PyObject *value = watch_value(w, w->wframe);
    if (value == NULL) {
        if (w->is_stuck) {
            PyObject *pt = PyLong_FromLongLong(t);
            r = pt ? watch_stuck(w, pt) : -1;
            Py_XDECREF(pt);
        } else {
            r = -1;
        }
        goto done;
    }
    if (code == NULL) {
        code = (PyObject *)frame_code(f);
        line = PyFrame_GetLineNumber(f);
    }
    /* `at` borrows: from `code`, or from the line table, which nothing changes below. */
    Stop at = {t, here, what, code, line};
    if (w->entry == NULL) {
        PyObject *tup = stop_tuple(&at);
        w->entry = tup ? PyObject_CallFunctionObjArgs(w->entry_of, tup, NULL) : NULL;
        Py_XDECREF(tup);
        if (w->entry == NULL)
            r = -1;
    }
    if (r == 0 && w->prev != NULL) {
        int same = watch_same(w, w->prev, value);
        if (same < 0 || (!same && watch_changed(w, value) < 0))
            r = -1;
    }
    if (r == 0 && what == PyTrace_RETURN) {
        /* What runs next is the rest of the caller's line: a change there is that line's. */
        if (here - 1 >= 0 && here - 1 < w->nlines && w->lines[here - 1].at.code != NULL) {
            PyFrameObject *back = frame_back(f);
            if (back != NULL && (void *)back == w->lines[here - 1].frame)
                at = w->lines[here - 1].at;
            Py_XDECREF(back);
        }
        if (w->local && here == w->wdepth)
            Py_CLEAR(w->wframe);
    }
    if (r == 0) {
        Py_XSETREF(w->prev, value);
        stop_copy(&w->prev_at, &at);
    } else {
        Py_DECREF(value);
    }
done:
    Py_XDECREF(code);
    return r;
}

static int WatchScan_init(WatchScan *w, PyObject *args, PyObject *kw)
{
    static char *names[] = {"s",        "d",          "local",     "wdepth",   "floor",
                            "wframe",   "name",       "globals",   "evaluate", "changed",
                            "entry_of", "same",       "comparable", "stuck",   "stuck_type",
                            "undefined", "waiting",   "gen_flags", NULL};
    PyObject *sd, *wdepth, *floor, *wframe, *name, *globals, *evaluate, *changed, *entry_of,
        *same, *comparable, *stuck, *stuck_type, *undefined;
    long d, gen_flags;
    int local, waiting;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!lpOOOOOOOOOOOOOpl", names, &PyDict_Type,
                                     &sd, &d, &local, &wdepth, &floor, &wframe, &name,
                                     &globals, &evaluate, &changed, &entry_of, &same,
                                     &comparable, &stuck, &stuck_type, &undefined, &waiting,
                                     &gen_flags))
        return -1;
    int has_wdepth;
    if (opt_long(wdepth, &has_wdepth, &w->wdepth) < 0 ||
        opt_long(floor, &w->has_floor, &w->floor) < 0)
        return -1;
    w->base.event = watch_event;
    w->d = d;
    w->local = local && has_wdepth;
    w->waiting = waiting;
    w->gen_flags = gen_flags;
    w->how = name == Py_None ? BY_EVALUATOR
             : w->local      ? BY_LOCAL_NAME
             : globals != Py_None && PyDict_CheckExact(globals) ? BY_GLOBAL_NAME
                                                                 : BY_EVALUATOR;
    PyObject **slots[] = {&w->s,     &w->evaluate,   &w->changed,    &w->entry_of,
                          &w->same,  &w->comparable, &w->stuck,      &w->stuck_type,
                          &w->undefined};
    PyObject *given[] = {sd, evaluate, changed, entry_of, same, comparable, stuck,
                         stuck_type, undefined};
    for (size_t i = 0; i < sizeof(given) / sizeof(given[0]); i++) {
        Py_INCREF(given[i]);
        Py_XSETREF(*slots[i], given[i]);
    }
    if (name != Py_None) {
        Py_INCREF(name);
        Py_XSETREF(w->name, name);
    }
    if (globals != Py_None) {
        Py_INCREF(globals);
        Py_XSETREF(w->globals, globals);
    }
    if (wframe != Py_None) {
        Py_INCREF(wframe);
        Py_XSETREF(w->wframe, wframe);
    }
    return 0;
}

/* At the stretch's end: a change by its last stop shows only here (watchscan.py's finish);
 * then what was found goes into the scan's dict. */
static PyObject *WatchScan_finish(WatchScan *w, PyObject *frame)
{
    if (!w->is_stuck && w->prev != NULL && !(w->local && frame == Py_None)) {
        PyObject *value = watch_value(w, w->local ? w->wframe : NULL);
        if (value == NULL) {
            if (!w->is_stuck || watch_stuck(w, Py_None) < 0)
                return NULL;
        } else {
            int same = watch_same(w, w->prev, value);
            int failed = same < 0 || (!same && watch_changed(w, value) < 0) ||
                         PyDict_SetItemString(w->s, "last_value", value) < 0;
            Py_DECREF(value);
            if (failed)
                return NULL;
        }
    }
    PyObject *found = w->found ? PyList_New(1) : PyList_New(0);
    if (found == NULL)
        return NULL;
    if (w->found) {
        Py_INCREF(w->found);
        PyList_SET_ITEM(found, 0, w->found);
    }
    int failed = PyDict_SetItemString(w->s, "found", found) < 0 ||
                 PyDict_SetItemString(w->s, "entry", w->entry ? w->entry : Py_None) < 0 ||
                 (w->broke && PyDict_SetItemString(w->s, "broke", Py_True) < 0);
    Py_DECREF(found);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

static int WatchScan_traverse(WatchScan *w, visitproc visit, void *arg)
{
    PyObject *all[] = {w->s,          w->evaluate, w->changed,    w->entry_of, w->same,
                       w->comparable, w->stuck,    w->stuck_type, w->undefined, w->name,
                       w->globals,    w->wframe,   w->prev,       w->found,    w->entry,
                       w->prev_at.code};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        Py_VISIT(all[i]);
    for (Py_ssize_t i = 0; i < w->nlines; i++)
        Py_VISIT(w->lines[i].at.code);
    return 0;
}

static int WatchScan_clear(WatchScan *w)
{
    PyObject **all[] = {&w->s,          &w->evaluate, &w->changed,    &w->entry_of,
                        &w->same,       &w->comparable, &w->stuck,    &w->stuck_type,
                        &w->undefined,  &w->name,     &w->globals,    &w->wframe,
                        &w->prev,       &w->found,    &w->entry,      &w->prev_at.code};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        Py_CLEAR(*all[i]);
    for (Py_ssize_t i = 0; i < w->nlines; i++)
        Py_CLEAR(w->lines[i].at.code);
    return 0;
}

static void WatchScan_dealloc(WatchScan *w)
{
    PyObject_GC_UnTrack(w);
    WatchScan_clear(w);
    PyMem_Free(w->lines);
    Py_TYPE(w)->tp_free((PyObject *)w);
}

static PyMethodDef WatchScan_methods[] = {
    {"finish", (PyCFunction)WatchScan_finish, METH_O,
     "finish(frame): the last comparison, then write what was found into the scan's dict."},
    {NULL}};

static PyTypeObject WatchScanType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fred_agent._fredclock.WatchScan",
    .tp_basicsize = sizeof(WatchScan),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The last change of a watched expression in a stretch (watchscan.py's hook).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)WatchScan_init,
    .tp_dealloc = (destructor)WatchScan_dealloc,
    .tp_traverse = (traverseproc)WatchScan_traverse,
    .tp_clear = (inquiry)WatchScan_clear,
    .tp_call = (ternaryfunc)Hook_call,
    .tp_methods = WatchScan_methods,
};

static int init_watch_names(void)
{
    builtins_name = PyUnicode_InternFromString("__builtins__");
    f_locals_name = PyUnicode_InternFromString("f_locals");
    f_globals_name = PyUnicode_InternFromString("f_globals");
    return builtins_name && f_locals_name && f_globals_name ? 0 : -1;
}
