/* A frozen snapshot's wait, in C: it answers fred's peeks (the value of a global bare name
 * holding a plain value, watch.py's peek) as it is, and returns to Python only for anything
 * else, a resume. Waking into Python would write to hundreds of the pages the snapshot
 * shares with its parent, each then copied (its memory, and about a millisecond); a peek
 * here writes to a few. Included by clock.c.
 */

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* The string value of "key":"..." in a one-line request, if it is made only of `allowed`
 * characters (no escapes to undo); copied into out. */
static int request_field(const char *msg, const char *key, const char *allowed, char *out,
                         size_t size)
{
    char pattern[32];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *p = strstr(msg, pattern);
    if (p == NULL)
        return 0;
    p += strlen(pattern);
    size_t n = strspn(p, allowed);
    if (n == 0 || n >= size || p[n] != '"')
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

/* The value shown as probe shows it (new reference), NULL when it is not plain or cannot
 * be read without running code. */
static PyObject *peek_value(const char *module, const char *name)
{
    static const char *constants[] = {"None", "True", "False", "__debug__", NULL};
    for (int i = 0; constants[i]; i++) {
        if (strcmp(name, constants[i]) == 0)
            return NULL;
    }
    PyObject *mod = PyDict_GetItemString(PyImport_GetModuleDict(), module);
    if (mod == NULL || !PyModule_CheckExact(mod))
        return NULL;
    PyObject *g = PyModule_GetDict(mod);
    PyObject *v = g ? PyDict_GetItemString(g, name) : NULL;
    if (v == NULL && g != NULL) {
        PyObject *b = PyDict_GetItemString(g, "__builtins__");
        if (b != NULL && PyModule_CheckExact(b))
            b = PyModule_GetDict(b);
        if (b == NULL || !PyDict_CheckExact(b))
            return NULL;
        v = PyDict_GetItemString(b, name);
        if (v == NULL)
            return PyUnicode_FromString("<not defined yet>");
    }
    if (v == NULL || !plain(v))
        return NULL;
    return PyObject_Repr(v);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* {"peek": "<text as a JSON string>"} or {"peek": null}, and a newline. */
static int answer_peek(int fd, PyObject *text)
{
    Py_ssize_t n = 0;
    const char *s = text ? PyUnicode_AsUTF8AndSize(text, &n) : NULL;
    if (s == NULL || n >= 60000) /* (probe cuts longer ones) */
        return write_all(fd, "{\"peek\": null}\n", 15);
    char *out = PyMem_Malloc((size_t)n * 6 + 16);
    if (out == NULL)
        return -1;
    size_t k = 0;
    k += (size_t)sprintf(out, "{\"peek\": \"");
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[k++] = '\\';
            out[k++] = (char)c;
        } else if (c < 0x20) {
            k += (size_t)sprintf(out + k, "\\u%04x", c);
        } else {
            out[k++] = (char)c;
        }
    }
    k += (size_t)sprintf(out + k, "\"}\n");
    int r = write_all(fd, out, k);
    PyMem_Free(out);
    return r;
}

/* Reads fred's requests on fd, answers peeks, and returns the number of bytes of the first
 * other request, left in data (0: the connection ended). */
static Py_ssize_t answer_peeks(int fd, char *data, Py_ssize_t size)
{
    for (;;) {
        ssize_t n = read(fd, data, (size_t)(size - 1));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        data[n] = '\0';
        char module[256], name[256];
        const char *nl = memchr(data, '\n', (size_t)n);
        int one_line = nl != NULL && nl == data + n - 1;
        if (!(one_line && strstr(data, "\"fred\":\"peek\"") != NULL &&
              request_field(data, "module", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789_.", module, sizeof module) &&
              request_field(data, "name", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789_", name, sizeof name)))
            return n; /* for Python */
        PyObject *text = peek_value(module, name);
        PyErr_Clear();
        int r = answer_peek(fd, text);
        Py_XDECREF(text);
        if (r < 0)
            return 0;
    }
}
