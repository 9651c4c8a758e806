//! The pdb personality: fred's [`Debugger`](fred_personality::Debugger) for Python.
//!
//! It starts the real pdb of a chosen `python3` inside a pty, with a small agent (a
//! `pdb.Pdb` subclass, shipped inside this crate) that counts the program's events in
//! process, forks snapshots, and replays or scans to an event on request. pdb's dialogue
//! travels over fred's control socket; the program's own I/O stays on the pty.

#![warn(missing_docs)]

macro_rules! agent_files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../agent/fred_agent/", $name)))),*]
    };
}

mod classify;
mod session;
mod sync;

pub use classify::classify;
pub use session::{PdbConfig, PdbSession, ProgramInput};

/// The agent's source files (the Python package `fred_agent`, and the C of its clock,
/// which it compiles itself), written to a cache directory at start.
pub const AGENT_FILES: &[(&str, &str)] = agent_files![
    "__init__.py",
    "channel.py",
    "clock.py",
    "clock.c",
    "collect.py",
    "commands.py",
    "debugger.py",
    "files.py",
    "forks.py",
    "frozen.py",
    "native.py",
    "nondet.py",
    "peekwait.c",
    "forkwait.c",
    "scan.py",
    "scanhooks.c",
    "settings.py",
    "sides.py",
    "sleeps.py",
    "snapshot.py",
    "stdin.py",
    "untraced.py",
    "watch.py",
    "watchhook.c",
    "watchscan.py",
];
