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
/// the library gdb preloads, see [`xstate`]).
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
        "fred_gdb_segments.py",
        include_str!("../agent/fred_gdb_segments.py"),
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
    (
        "fred_gdb_prompt.py",
        include_str!("../agent/fred_gdb_prompt.py"),
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

    /// The agent writes its prompts by hand (see `fred_gdb_prompt.py`); each must read as
    /// `json.dumps` would write it, whatever a position holds.
    #[test]
    fn prompts_written_by_hand_are_the_json_of_their_positions() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("agent");
        let check = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
from fred_gdb_prompt import Location, position_json
here = Location(file='/src/a "b".c', line=16, function="hit")
hit = {"end": "hit", "pc": 4198712, "cond": None, "skip": 0, "from_k": 3}
positions = [
    dict(time=1 << 40, kind="stop", location=here, depth=2, event="line", recipe=hit),
    dict(time=7, kind="stop", location=here, depth=None, event="line", recipe=hit),
    dict(time=7, kind="stop", location=here, depth=2, event="line", recipe=None),
    dict(time=7, kind="stop", location=here, depth=2, event="line",
         recipe=dict(hit, cond='s[0] == "é\\"', skip=4)),
    dict(time=7, kind="stop", location=here, depth=3, event="line",
         recipe={"end": "hit", "pc": 1, "base": 2, "chain": [3, 4], "from_k": 0}),
    dict(time=7, kind="postmortem", location=here, depth=1, event="line",
         recipe={"end": "signal", "signal": "SIGSEGV", "from_k": 0}),
    dict(time=7, kind="stop", location=here, depth=2, event="line", recipe=hit, dropped=5),
    dict(time=0, kind="notstarted", location=None, depth=None, recipe=None),
    dict(time=7, kind="stop", location=None, error="boom: é", flag=True, ratio=0.5),
]
for pos in positions:
    for _ in range(2):  # (the second time, the location's JSON is the one kept)
        assert position_json(pos) == json.dumps(pos), (position_json(pos), json.dumps(pos))
print("same")
"#;
        let out = std::process::Command::new("python3")
            .args(["-c", check])
            .arg(&dir)
            .output()
            .expect("python3");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.trim(),
            "same",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
