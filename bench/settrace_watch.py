"""Baseline for reverse-watch: run a program under sys.settrace, evaluating an expression
on every line event, and report the last line where its value changed."""

import runpy
import sys

path, expr = sys.argv[1], sys.argv[2]
sys.argv = [path] + sys.argv[3:]
code = compile(expr, "<expr>", "eval")
last = [object(), None]


def tracer(frame, event, arg):
    if frame.f_code.co_filename == path:
        try:
            value = eval(code, frame.f_globals)
        except NameError:
            value = None
        if value != last[0]:
            last[0], last[1] = value, frame.f_lineno
    return tracer


sys.settrace(tracer)
runpy.run_path(path, run_name="__main__")
sys.settrace(None)
print("last change before line", last[1])
