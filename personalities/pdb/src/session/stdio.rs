//! How the Python process is wired to fred beyond its terminal: where its standard input
//! comes from, and the signal that stands for Ctrl-C.

use fred_personality::{DebuggerError, Result};

/// Where the debugged program reads its standard input from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramInput {
    /// fred's stdin is the user's terminal: what the user types while the program runs is
    /// typed into the program's terminal, and Ctrl-D there is an end of file like any other.
    Terminal,
    /// fred's stdin is a file or a pipe that fred itself does not read (a `-x` session): the
    /// program reads it directly, byte for byte, with no terminal line editing in between,
    /// and its end is an end of file every time the program reads again.
    Inherit,
    /// fred reads its commands from a stdin that is not a terminal: the program gets an
    /// end of file at once, as from `/dev/null`, instead of waiting for a user who is not
    /// there.
    Nothing,
}

/// The signal that tells the agent the user pressed Ctrl-C: a real-time one that programs
/// leave alone, so that SIGINT stays the program's own, the same in every replay.
pub(super) fn interrupt_signal() -> libc::c_int {
    libc::SIGRTMIN() + 3
}

/// The descriptor the program is to read as its stdin instead of its terminal, open across
/// exec (the agent moves it to fd 0): fred's own stdin, or `/dev/null`.
pub(super) fn program_stdin(input: ProgramInput) -> Result<Option<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;
    let fd = match input {
        ProgramInput::Terminal => return Ok(None),
        // SAFETY: dup of fd 0 makes a new descriptor (without close-on-exec) that we own.
        ProgramInput::Inherit => unsafe { libc::dup(0) },
        // SAFETY: open of a constant C string; a new descriptor that we own.
        ProgramInput::Nothing => unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) },
    };
    if fd < 0 {
        return Err(DebuggerError::Failed(format!(
            "cannot give the program its standard input: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: `fd` was just made and is owned by nothing else.
    Ok(Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
}
