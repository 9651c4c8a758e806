//! Typed errors of the checkpoint layer.

use std::io;

/// What can go wrong while running a checkpointed session.
#[derive(Debug, thiserror::Error)]
pub enum CkptError {
    /// An operating-system call failed.
    #[error("{what}: {source}")]
    Io {
        /// The operation that failed.
        what: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A process of the session sent something that is not a JSON line.
    #[error("malformed message from the debugged process: {0}")]
    Protocol(String),
    /// The live process is gone (it exited or was killed).
    #[error("the debugged process has gone away")]
    LiveGone,
    /// A snapshot id that the registry does not hold.
    #[error("no snapshot {0}")]
    NoSnapshot(u64),
}

impl CkptError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        CkptError::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<nix::Error> for CkptError {
    fn from(e: nix::Error) -> Self {
        CkptError::io("system call", io::Error::from(e))
    }
}
