//! The pdb personality: fred's [`Debugger`](fred_personality::Debugger) for Python.
//!
//! It starts the real pdb of a chosen `python3` inside a pty, with a small agent (a
//! `pdb.Pdb` subclass, shipped inside this crate) that counts the program's events in
//! process, forks snapshots, and replays or scans to an event on request. pdb's dialogue
//! travels over fred's control socket; the program's own I/O stays on the pty.

mod classify;
mod session;
mod sync;

pub use classify::classify;
pub use session::{PdbConfig, PdbSession};

/// The agent's source, written to a cache directory at start.
pub const AGENT_SOURCE: &str = include_str!("../agent/fred_agent.py");
