//! The gdb personality: fred's [`Debugger`](fred_personality::Debugger) for C and C++.
//!
//! Not implemented yet. It will drive the real gdb through a pty and checkpoint with gdb's
//! own fork-based `checkpoint` / `restart`.

#![warn(missing_docs)]

/// Why `fred-gdb` cannot run yet, for the binary to print.
pub const NOT_YET: &str = "fred-gdb is not implemented yet; use fred-pdb for Python programs";
