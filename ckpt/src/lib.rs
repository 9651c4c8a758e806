//! Checkpoint-restart layer of fred.
//!
//! This crate knows processes and snapshots, and nothing about any debugger. A debugged
//! session is a tree of processes that all talk to one [`Supervisor`] over a Unix control
//! socket, one JSON object per line:
//!
//! - the *holder* owns the terminal session so that the pty is never hung up;
//! - the *live* process is the one the user talks to;
//! - *snapshots* are frozen forks that make a fresh live copy whenever they are resumed.
//!
//! Each process says hello first: `{"hello": "holder"|"live"|"snapshot", "pid": N, ...}`.
//! Every other message is opaque to this crate and is passed through as JSON.
//!
//! Process hygiene: fred becomes a child subreaper, every process of the session exits when
//! the control socket closes, and [`Supervisor`] kills and reaps what is left when dropped.

#![warn(missing_docs)]

mod channel;
mod error;
mod process;
mod pty;
mod supervisor;

pub use channel::Channel;
pub use error::CkptError;
pub use process::{become_subreaper, kill_descendants, reap_children};
pub use pty::{Pty, Spawn};
pub use supervisor::{Event, SnapshotId, SnapshotInfo, Supervisor};

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, CkptError>;
