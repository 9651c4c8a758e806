"""Watched expressions: evaluated where they belong, as values that compare like a user
would compare them.

Scope, as gdb does it: an expression that uses names local to the frame it was set in is
evaluated in that frame instance (also while that frame's callees run); one that uses only
globals and builtins is evaluated in its module's globals, wherever execution is. A name
that is not defined yet (NameError) is a value of its own, so the statement that first
defines a variable counts as a change.
"""

import ast
import os
import select
import signal
import sys
import types

from . import untraced
from .forks import agent_fork

IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), frozenset)
PLAIN = (int, float, complex, str, bytes, bool, type(None))  # their repr runs no code
EVAL_LIMIT_S = 2
MISSING = object()
CO_OPTIMIZED = 0x1  # a function's frame (its locals are not a namespace dict)


class Stuck(BaseException):
    """An evaluation of a watched expression ran longer than EVAL_LIMIT_S."""


class Watchdog:
    """Interrupts an evaluation that runs longer than EVAL_LIMIT_S. A timer checks twice a
    second whether the same evaluation is still running, so evaluations cost no system
    call each. Its handler runs untraced and out of the program's time."""

    def __init__(self):
        self.seq = 0
        self.running = False
        self.seen = -1
        self.ticks = 0

    def start(self, hidden_code):
        hidden_code.add(Watchdog.tick.__code__)
        self.ticks = 0
        signal.signal(signal.SIGALRM, self.tick)
        signal.setitimer(signal.ITIMER_REAL, 0.5, 0.5)

    def stop(self):
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    def tick(self, signum, frame):
        previous = untraced.stop()
        try:
            if self.running and self.seq == self.seen:
                self.ticks += 1
                if self.ticks * 0.5 >= EVAL_LIMIT_S:
                    self.ticks = 0
                    raise Stuck()
            else:
                self.seen = self.seq
                self.ticks = 0
        finally:
            untraced.resume(previous)


WATCHDOG = Watchdog()


class Undefined:
    """The value of an expression that raised NameError."""

    def __repr__(self):
        return "<not defined yet>"


UNDEFINED = Undefined()


def has_call(tree):
    """Calls may have side effects: such an expression is evaluated in a throwaway copy."""
    return any(isinstance(n, ast.Call) for n in ast.walk(tree))


def calls(expr):
    """Whether `expr` calls anything (has_call, from its text)."""
    try:
        return has_call(ast.parse(expr.strip(), mode="eval"))
    except SyntaxError:
        return False


def used_names(tree):
    """The names the expression takes from its surroundings: those it uses, less those
    its own comprehensions and lambdas bind."""
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and
            isinstance(n.ctx, ast.Load)}
    bound = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.comprehension):
            bound |= {t.id for t in ast.walk(n.target) if isinstance(t, ast.Name)}
        elif isinstance(n, ast.Lambda):
            bound |= {a.arg for a in ast.walk(n.args) if isinstance(a, ast.arg)}
        elif isinstance(n, ast.NamedExpr):
            bound.add(n.target.id)
    return used - bound


def is_local_to(names, frame):
    """Does the expression use a name local to `frame` (a function frame)?"""
    if frame is None or frame.f_globals is frame.f_locals:
        return False
    code = frame.f_code
    local = set(code.co_varnames) | set(code.co_cellvars) | set(code.co_freevars)
    return bool(names & local)


def comparable(value):
    """A value to compare later: immutable values as they are, others by their repr, so
    that a list changed in place counts as changed."""
    if type(value) in IMMUTABLE or value is UNDEFINED:
        return value
    if type(value) is tuple and all(type(v) in IMMUTABLE for v in value):
        return value
    return ("repr", safe_repr(value))


def safe_repr(value):
    try:
        return repr(value)
    except Exception as e:  # a broken __repr__ is still a value
        return "<unrepresentable %s: %s>" % (type(value).__name__, e)


def same(a, b):
    if a is b:
        return True
    try:
        r = a == b
        if type(r) is bool:
            return r or safe_repr(a) == safe_repr(b)
    except Exception:
        pass
    return safe_repr(a) == safe_repr(b)


def show(v):
    if type(v) is tuple and len(v) == 2 and v[0] == "repr":
        return v[1]
    return safe_repr(v)


class Watch:
    """An expression compiled once, with the scope it is evaluated in."""

    def __init__(self, expr, frame, depth):
        self.expr = expr
        tree = ast.parse(expr.strip(), mode="eval")
        self.code = compile(tree, "<watch>", "eval")
        self.local = is_local_to(used_names(tree), frame)
        self.depth = depth if self.local else None
        self.module = frame.f_globals.get("__name__") if frame is not None else "__main__"
        self.frame = frame if self.local else None
        self.last = None
        self.isolated = has_call(tree)
        self.code_id = None
        self.module_globals = None

    def spec(self):
        code = self.frame.f_code if self.frame is not None else None
        return {"expr": self.expr, "local": self.local, "depth": self.depth,
                "module": self.module, "isolated": self.isolated,
                "code": code and [code.co_filename, code.co_name, code.co_firstlineno]}

    def bind(self, frame, frame_depth):
        """Attach a local watch to the frame at its depth on the stack of `frame` (whose
        depth is `frame_depth`), if that frame runs the same function; else detach it."""
        if not self.local:
            return
        f, d = frame, frame_depth
        while f is not None and d > self.depth:
            f, d = f.f_back, d - 1
        code = f.f_code if f is not None and d == self.depth else None
        same = code is not None and [code.co_filename, code.co_name,
                                     code.co_firstlineno] == self.code_id
        self.frame = f if same else None

    def globals(self):
        mod = sys.modules.get(self.module)
        return getattr(mod, "__dict__", None)

    def value_in(self, frame):
        """The comparable value in `frame` (local scope) or the module (global scope).
        Raises Stuck if the watchdog runs and the evaluation does not finish. An isolated
        watch is evaluated in a throwaway fork, so its side effects vanish with it."""
        if self.isolated:
            return self.value_isolated(frame)
        return self.value_here(frame)

    def bare_name(self):
        """The name, if the expression is a bare name (looked up without evaluating code)
        and evaluated here (not in a throwaway copy)."""
        return None if self.isolated else bare_name(self.expr)

    def evaluator(self):
        """value_in as a single function for the hot loop of a search: the steps of
        value_here and comparable without the calls between them (each call is a good part
        of the cost of an event)."""
        g = None if self.local else (self.module_globals or self.globals())
        if self.isolated or (g is None and not self.local):
            return self.value_in
        code, local, dog, immutable = self.code, self.local, WATCHDOG, IMMUTABLE

        def evaluate(frame):
            dog.seq += 1
            dog.running = True
            try:
                v = eval(code, frame.f_globals, frame.f_locals) if local else eval(code, g)
            except NameError:
                return UNDEFINED
            except Exception as e:
                return ("repr", "<%s: %s>" % (type(e).__name__, e))
            finally:
                dog.running = False
            return v if type(v) in immutable else comparable(v)

        return evaluate

    def value_isolated(self, frame):
        r, wr = os.pipe()
        pid = agent_fork()
        if pid == 0:
            os.close(r)
            try:
                text = show(self.value_here(frame))
            except BaseException as e:
                text = "<%s>" % type(e).__name__
            os.write(wr, text.encode("utf-8", "replace")[:1 << 20])
            os._exit(0)
        os.close(wr)
        chunks = []
        WATCHDOG.seq += 1
        WATCHDOG.running = True
        try:
            while True:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except Stuck:
            os.kill(pid, signal.SIGKILL)
            raise
        finally:
            WATCHDOG.running = False
            os.close(r)
            os.waitpid(pid, 0)
        return ("repr", b"".join(chunks).decode("utf-8", "replace"))

    def value_here(self, frame):
        WATCHDOG.seq += 1
        WATCHDOG.running = True
        try:
            if self.local:
                v = eval(self.code, frame.f_globals, frame.f_locals)
            else:
                g = self.module_globals or self.globals()
                if g is None:
                    return UNDEFINED
                self.module_globals = g
                v = eval(self.code, g)
        except NameError:
            return UNDEFINED
        except Exception as e:
            return ("repr", "<%s: %s>" % (type(e).__name__, e))
        finally:
            WATCHDOG.running = False
        return comparable(v)


def from_spec(spec):
    w = Watch.__new__(Watch)
    w.expr = spec["expr"]
    w.code = compile(ast.parse(w.expr.strip(), mode="eval"), "<watch>", "eval")
    w.local = spec["local"]
    w.depth = spec["depth"]
    w.module = spec["module"]
    w.isolated = spec.get("isolated", False)
    w.code_id = spec.get("code")
    w.module_globals = None
    w.frame = None
    w.last = None
    return w


def bare_name(expr):
    """The name, if `expr` is a bare name (None for anything else, bad syntax too)."""
    try:
        body = ast.parse(expr.strip(), mode="eval").body
    except SyntaxError:
        return None
    return body.id if isinstance(body, ast.Name) else None


def peek(spec):
    """The value of a watch (as fred's spec of it) shown as probe shows it, when it is a
    global bare name whose value can be read without running any code: from the module's
    dict (or the builtins), a plain value. None when it cannot be read that way. A snapshot
    answers this for fred as it is, without a copy of itself."""
    name = bare_name(spec["expr"])
    if spec.get("local") or spec.get("isolated") or name is None:
        return None
    module = sys.modules.get(spec.get("module") or "__main__")
    if type(module) is not types.ModuleType:
        return None
    g = module.__dict__
    v = g.get(name, MISSING)
    if v is MISSING:
        b = g.get("__builtins__", MISSING)
        if type(b) is types.ModuleType:
            b = b.__dict__
        if type(b) is not dict:
            return None  # eval would find builtins some other way
        v = b.get(name, UNDEFINED)
    if v is not UNDEFINED and type(v) not in PLAIN:
        return None
    text = safe_repr(v)
    return text if len(text) < 60000 else None  # (probe cuts longer ones)


def probe(expr, frame, depth):
    """Evaluate `expr` in `frame` in a throwaway fork (so side effects and endless loops
    cannot touch the session), or, for a plain global value, read it here (peek). Returns a
    dict for fred: the value shown and the scope, or an error."""
    try:
        w = Watch(expr, frame, depth)
    except SyntaxError as e:
        return {"error": "invalid expression %r: %s" % (expr, e.msg)}
    if not w.local and (frame is None or frame.f_code.co_flags & CO_OPTIMIZED
                        or frame.f_locals is frame.f_globals):
        # In a module or function frame a global name is looked up in the module: no copy
        # is needed to read it (a class body's namespace comes first, so that one forks).
        value = peek(w.spec())
        if value is not None:
            return {"value": value, "watch": w.spec()}
    r, wr = os.pipe()
    pid = agent_fork()
    if pid == 0:
        os.close(r)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(EVAL_LIMIT_S)
        try:
            if frame is None:
                v = eval(w.code, sys.modules["__main__"].__dict__)
            else:
                v = eval(w.code, frame.f_globals, frame.f_locals)
            out = "ok " + safe_repr(v)
        except NameError:
            out = "ok " + safe_repr(UNDEFINED)
        except BaseException as e:
            out = "err %s: %s" % (type(e).__name__, e)
        os.write(wr, out.encode("utf-8", "replace")[:65536])
        os._exit(0)
    os.close(wr)
    ready, _, _ = select.select([r], [], [], EVAL_LIMIT_S + 1)
    data = b""
    if ready:
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
    os.close(r)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    os.waitpid(pid, 0)
    text = data.decode("utf-8", "replace")
    if not text:
        return {"error": "%s did not finish within %d s; not watched" % (expr, EVAL_LIMIT_S)}
    if text.startswith("err "):
        return {"error": "%s raised %s" % (expr, text[4:])}
    spec = w.spec()
    # A search evaluates in place, and is redone isolated if that changed the program.
    spec["isolated"] = False
    return {"value": text[3:], "watch": spec}
