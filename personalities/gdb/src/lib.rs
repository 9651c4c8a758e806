//! The gdb personality: fred's [`Debugger`](fred_personality::Debugger) for C and C++.
//!
//! It runs the real gdb in a pty with a small agent inside gdb's own Python. The agent
//! puts the program's position into gdb's prompt (inside an escape sequence the user never
//! sees), checkpoints with gdb's fork-based `checkpoint` / `restart`, and, while fred replays
//! or searches, counts the line-table entries the program runs with a clock it writes into
//! the program (at near native speed). A user command's stop is remembered as a recipe
//! (reach pc X the n-th time, the fatal signal, the exit) and replayed natively; see the
//! agent's module comment for the time model.

#![warn(missing_docs)]

mod classify;
mod markers;
mod session;
mod terminal;
mod xstate;

pub use classify::classify;
pub use session::{GdbConfig, GdbSession};

/// The agent's source files, written to a cache directory at start and loaded by gdb (and
/// the library gdb preloads on some CPUs, see [`xstate`]).
pub const AGENT_FILES: &[(&str, &str)] = &[
    ("fred_gdb.py", include_str!("../agent/fred_gdb.py")),
    ("fred_gdb_ops.py", include_str!("../agent/fred_gdb_ops.py")),
    (
        "fred_gdb_native.py",
        include_str!("../agent/fred_gdb_native.py"),
    ),
    (
        "fred_gdb_events.py",
        include_str!("../agent/fred_gdb_events.py"),
    ),
    (
        "fred_gdb_plan.py",
        include_str!("../agent/fred_gdb_plan.py"),
    ),
    (
        "fred_gdb_chain.py",
        include_str!("../agent/fred_gdb_chain.py"),
    ),
    (
        "fred_gdb_scan.py",
        include_str!("../agent/fred_gdb_scan.py"),
    ),
    (
        "fred_gdb_stops.py",
        include_str!("../agent/fred_gdb_stops.py"),
    ),
    (
        "fred_gdb_find.py",
        include_str!("../agent/fred_gdb_find.py"),
    ),
    (
        "fred_gdb_watch.py",
        include_str!("../agent/fred_gdb_watch.py"),
    ),
    ("fred_xstate.c", include_str!("../agent/fred_xstate.c")),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_agent_module_is_shipped() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("agent");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("the agent directory")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".py") || n.ends_with(".c"))
            .collect();
        on_disk.sort();
        let mut shipped: Vec<String> = super::AGENT_FILES
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        shipped.sort();
        assert_eq!(on_disk, shipped);
    }
}
