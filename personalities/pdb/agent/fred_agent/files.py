"""Files the program opens for appending, so that a replay appends to them in the same
place again.

A file opened for appending while the program runs forward is reported to fred with its
length then and the event time. A copy restored from a checkpoint gets from fred, for each
file first opened so after that checkpoint, the length it had then, and cuts the file back
to it: the replay's writes land where the first run's did, instead of once more at the end
(a log opened for each line, as `with open(log, "a")`, grew with every reverse command).
Files already open at the checkpoint are handled with the snapshot (see snapshot.py).
"""

import builtins
import io
import os

from . import untraced
from .clock import NORMAL


def _note(agent, file):
    try:
        path = os.path.abspath(os.fsdecode(file))
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            size = 0
        agent.chan.send({"append": {"time": agent.now(), "path": path, "size": size}})
    except (OSError, TypeError, ValueError):
        pass


def install(agent):
    """Wrap open() (builtins and io) and os.open to report files opened for appending."""
    real_open = builtins.open
    real_os_open = os.open

    def fred_open(file, mode="r", *args, **kwargs):
        previous = untraced.stop()
        try:
            if (agent.mode == NORMAL and not agent.prompting and isinstance(mode, str)
                    and "a" in mode and not isinstance(file, int)):
                _note(agent, file)
            return real_open(file, mode, *args, **kwargs)
        finally:
            untraced.resume(previous)

    def fred_os_open(path, flags, *args, **kwargs):
        previous = untraced.stop()
        try:
            if agent.mode == NORMAL and not agent.prompting and flags & os.O_APPEND:
                _note(agent, path)
            return real_os_open(path, flags, *args, **kwargs)
        finally:
            untraced.resume(previous)

    for f in (fred_open, fred_os_open):
        agent.hidden_code.add(f.__code__)
    builtins.open = io.open = fred_open
    os.open = fred_os_open


def cut_back(entries):
    """In a fresh copy: cut each file fred names back to the length it had."""
    for path, size in entries or []:
        try:
            if os.stat(path).st_size > size:
                os.truncate(path, size)
        except OSError:
            pass
