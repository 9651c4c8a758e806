//! fred: a reversible debugger on fork checkpoints.
//!
//! The frontend: it drives a real debugger through a [`Debugger`](fred_personality::Debugger)
//! personality, keeps the [`timeline`] of what happened (commands, positions, checkpoints),
//! and goes back in time with the [`reverse`] algorithms: restore a checkpoint, replay
//! forward to the exact event wanted.
//!
//! - [`command`] parses what the user types into fred commands or debugger commands;
//! - [`session`] runs one command against the debugger and the timeline;
//! - [`repl`] and [`batch`] are the two ways to feed it commands;
//! - [`cli`] is the command line of the `fred-pdb` and `fred-gdb` binaries.

#![warn(missing_docs)]

pub mod batch;
pub mod cli;
pub mod command;
pub mod output;
pub mod repl;
pub mod reverse;
pub mod session;
pub mod timeline;
