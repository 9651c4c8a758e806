"""The agent's C clock (clock.c and the files it includes), built once per interpreter.

A scan or replay traced by a Python function costs about a microsecond an event; the C
clock counts the same events, and does a scan's work at each, for a tenth of that. It is
compiled the first time an interpreter needs it, with the machine's C compiler against the
interpreter's own headers, and kept in the agent's cache directory under a name that says
which interpreter it is for. Without a compiler or headers the agent keeps its Python
clock, which gives the same times, only slower.

FRED_PDB_CLOCK=python keeps the Python clock; FRED_PDB_CLOCK=c makes a clock that cannot
be built an error instead.
"""

import importlib.machinery
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = ("clock.c", "scanhooks.c", "watchhook.c", "peekwait.c", "forkwait.c")


class Unavailable(Exception):
    """The C clock cannot be built or loaded here."""


def load():
    """The C clock's module, or None when the Python clock is to be used."""
    how = os.environ.get("FRED_PDB_CLOCK", "")
    if how == "python":
        return None
    try:
        return _load()
    except Exception as e:
        if how == "c":
            raise Unavailable("the C clock is not available: %s" % (e,)) from e
        return None


def _library_path():
    # Keyed by the interpreter's build (version, compiler, ABI flags), not only its
    # version: a library built against one interpreter's headers is for that one.
    key = 0xcbf29ce484222325  # FNV-1a (hashlib would cost the agent's process more memory)
    for b in (sys.version + getattr(sys, "abiflags", "")).encode():
        key = ((key ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return os.path.join(os.path.dirname(HERE), "_fredclock-%016x%s" % (key, suffix))


def _load():
    path = _library_path()
    if not os.path.exists(path):
        _build(path)
    loader = importlib.machinery.ExtensionFileLoader("fred_agent._fredclock", path)
    spec = importlib.machinery.ModuleSpec("fred_agent._fredclock", loader, origin=path)
    module = loader.create_module(spec)
    loader.exec_module(module)
    return module


def _build(path):
    import shlex
    import subprocess
    import sysconfig

    paths = sysconfig.get_paths()
    include = [paths["include"], paths.get("platinclude") or paths["include"]]
    if not os.path.exists(os.path.join(include[0], "Python.h")):
        raise Unavailable("no Python.h in %s" % include[0])
    compilers = []
    for cc in (os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc", "gcc"):
        if cc and cc not in compilers:
            compilers.append(cc)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    errors = []
    for cc in compilers:
        cmd = shlex.split(cc) + ["-O2", "-shared", "-fPIC", "-o", tmp]
        cmd += ["-I" + d for d in include] + [os.path.join(HERE, SOURCES[0])]
        try:
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=300)
        except (OSError, subprocess.SubprocessError) as e:
            errors.append("%s: %s" % (cc, e))
            continue
        if done.returncode == 0:
            os.replace(tmp, path)  # atomic: sessions starting together may all build it
            return
        errors.append("%s: %s" % (cc, done.stdout.decode("utf-8", "replace").strip()[-500:]))
    try:
        os.unlink(tmp)
    except OSError:
        pass
    raise Unavailable("; ".join(errors) or "no C compiler")
