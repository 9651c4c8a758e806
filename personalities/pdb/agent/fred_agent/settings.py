"""Debugger settings (breakpoints, aliases, commands) that outlive a restore."""

import bdb

from . import watch as watchlib


class SettingsMixin:
    """Carry pdb's settings from one live copy to the next (part of FredPdb)."""

    def export_settings(self):
        bps = []
        for b in bdb.Breakpoint.bpbynumber:
            if b:
                bps.append({"number": b.number, "file": b.file, "line": b.line,
                            "temporary": bool(b.temporary), "cond": b.cond,
                            "funcname": b.funcname, "enabled": bool(b.enabled),
                            "ignore": b.ignore, "hits": b.hits})
        return {"breakpoints": bps, "next": bdb.Breakpoint.next,
                "aliases": dict(self.aliases),
                "watches": {str(n): w.spec() for n, w in self.watches.items()},
                "watch_no": self.watch_no,
                "commands": {str(k): v for k, v in getattr(self, "commands", {}).items()},
                "silent": {str(k): v for k, v in
                           getattr(self, "commands_silent", {}).items()},
                "doprompt": {str(k): v for k, v in
                             getattr(self, "commands_doprompt", {}).items()}}

    def import_settings(self, settings):
        if not settings:
            return
        for b in list(bdb.Breakpoint.bpbynumber):
            if b:
                b.deleteMe()
        self.breaks = {}
        bdb.Breakpoint.bplist = {}
        bdb.Breakpoint.bpbynumber = [None]
        for s in settings["breakpoints"]:
            bdb.Breakpoint.next = s["number"]
            while len(bdb.Breakpoint.bpbynumber) < s["number"]:
                bdb.Breakpoint.bpbynumber.append(None)
            if self.set_break(s["file"], s["line"], s["temporary"], s["cond"], s["funcname"]):
                continue
            b = bdb.Breakpoint.bpbynumber[s["number"]]
            b.enabled, b.ignore, b.hits = s["enabled"], s["ignore"], s["hits"]
        bdb.Breakpoint.next = settings["next"]
        self.aliases = dict(settings["aliases"])
        self.watches = {int(n): watchlib.from_spec(w) for n, w in settings["watches"].items()}
        self.watch_no = settings["watch_no"]
        self.commands = {int(k): v for k, v in settings["commands"].items()}
        self.commands_silent = {int(k): v for k, v in settings["silent"].items()}
        self.commands_doprompt = {int(k): v for k, v in settings["doprompt"].items()}
