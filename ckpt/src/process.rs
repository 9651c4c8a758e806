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

/// Kills every descendant of this process (children, their children, and orphans reparented
/// to this subreaper) with SIGKILL and reaps them: what must happen before fred exits on a
/// signal, so that no copy of the session outlives it.
pub fn kill_descendants() {
    let me = std::process::id() as i32;
    for _ in 0..50 {
        let parents = parent_map();
        let mut doomed: Vec<i32> = Vec::new();
        let mut frontier = vec![me];
        while let Some(p) = frontier.pop() {
            for (&child, _) in parents.iter().filter(|(_, &pp)| pp == p) {
                doomed.push(child);
                frontier.push(child);
            }
        }
        if doomed.is_empty() {
            return;
        }
        for pid in doomed {
            kill_hard(pid);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        reap_children();
    }
}

/// Every process's parent, from /proc.
fn parent_map() -> std::collections::HashMap<i32, i32> {
    let mut map = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return map;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name may hold spaces and parentheses: the fields follow the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|f| f.parse().ok());
        if let Some(ppid) = ppid {
            map.insert(pid, ppid);
        }
    }
    map
}

/// Sends SIGKILL to a process, ignoring a process that is already gone.
pub(crate) fn kill_hard(pid: i32) {
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
}
