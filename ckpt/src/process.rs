//! Process lifecycle: subreaping and reaping.

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Makes this process a child subreaper, so that orphaned processes of the session are
/// reparented to it (and reaped by it) rather than to init.
pub fn become_subreaper() -> std::io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer argument only.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Reaps every child that has exited, without blocking; returns their pids.
pub fn reap_children() -> Vec<i32> {
    let mut gone = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(status) => {
                if let Some(pid) = status.pid() {
                    gone.push(pid.as_raw());
                }
            }
        }
    }
    gone
}

/// Sends SIGKILL to a process, ignoring a process that is already gone.
pub(crate) fn kill_hard(pid: i32) {
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
}
