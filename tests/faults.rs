//! Faults from outside: a checkpoint's process killed, the debugger killed, the program
//! killed. fred says what happened and goes on, or ends cleanly; it never hangs, and no
//! process of the session is left.

mod support;

use std::time::{Duration, Instant};

use support::{wait_until_gone, Fred, TestDir};

const C_LOOP: &str = r#"#include <unistd.h>

int main(void) {
    int n = 0;
    for (int i = 0; i < 10; i++)
        n += i;
    return n;
}
"#;

/// Waits until the session's stdout has `n` replies; returns them (JSON lines).
fn replies(dir: &TestDir, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(dir.path.join("stdout.txt")).unwrap_or_default();
        let got: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[test]
fn fred_gdb_goes_on_when_a_checkpoint_is_killed() {
    let dir = TestDir::new("fault-gdb-ckpt");
    let src = dir.c_program(C_LOOP);
    let commands = [
        "break 6",
        "run",
        "next",
        "next",
        "fred-checkpoint",
        "next",
        "next",
        // (gdb's own list, which fred refuses to show the user: the test needs the pids)
        "python gdb.execute('info checkpoints')",
        "shell sleep 2",
        "reverse-step",
        "reverse-step",
        "reverse-step",
        "p i",
    ];
    let mut child = Fred::new(&dir).gdb().spawn(&commands);
    let got = replies(&dir, 8);
    let listing = got[7]["output"].as_str().unwrap_or_default().to_string();
    // The newest checkpoint not in use: the one fred-checkpoint took.
    let newest = listing
        .lines()
        .filter(|l| !l.trim_start().starts_with('*'))
        .filter_map(|l| {
            let pid = l.split("process ").nth(1)?.split_whitespace().next()?;
            Some((
                l.split_whitespace().next()?.parse::<u32>().ok()?,
                pid.parse::<i32>().ok()?,
            ))
        })
        .max();
    let (_, pid) = newest.unwrap_or_else(|| panic!("no checkpoint in {listing:?}"));
    kill(pid);
    let status = child.wait().unwrap();
    let got = replies(&dir, commands.len());
    assert_eq!(got.len(), commands.len(), "{got:#?}");
    assert!(status.success(), "{status}; {got:#?}");
    let at = |i: usize| got[i]["location"]["line"].as_u64();
    assert_eq!(at(9), Some(5), "{:#?}", got[9]);
    assert_eq!(at(10), Some(6), "{:#?}", got[10]);
    assert_eq!(at(11), Some(5), "{:#?}", got[11]);
    assert_eq!(
        got[12]["output"].as_str(),
        Some("$1 = 0\n"),
        "{:#?}",
        got[12]
    );
    let _ = src;
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(1));
    support::kill_all(&left);
    assert!(left.is_empty(), "{left:#?}");
}

#[test]
fn fred_gdb_ends_cleanly_when_gdb_is_killed() {
    let dir = TestDir::new("fault-gdb-killed");
    dir.c_program(C_LOOP);
    let commands = ["break 6", "run", "shell sleep 3", "next", "reverse-step"];
    let mut child = Fred::new(&dir).gdb().spawn(&commands);
    replies(&dir, 2);
    std::thread::sleep(Duration::from_millis(300));
    let gdbs: Vec<i32> = support::processes_mentioning(dir.as_str())
        .into_iter()
        .filter(|(_, cmd)| cmd.starts_with("gdb "))
        .map(|(pid, _)| pid)
        .collect();
    assert!(!gdbs.is_empty());
    for pid in gdbs {
        kill(pid);
    }
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!status.success());
    let got = replies(&dir, 3);
    let error = got[2]["error"].as_str().unwrap_or_default();
    assert!(error.contains("gdb"), "{got:#?}");
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(1));
    support::kill_all(&left);
    assert!(left.is_empty(), "{left:#?}");
}

#[test]
fn fred_pdb_ends_cleanly_when_the_program_is_killed() {
    let dir = TestDir::new("fault-pdb-killed");
    dir.program("x = 1\nx = 2\nx = 3\n");
    let commands = ["next", "!import time; time.sleep(3)", "next", "rs"];
    let mut child = Fred::new(&dir).spawn(&commands);
    replies(&dir, 1);
    std::thread::sleep(Duration::from_millis(300));
    for (pid, cmd) in support::processes_mentioning(dir.as_str()) {
        if cmd.contains("python") {
            kill(pid);
        }
    }
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!status.success());
    let got = replies(&dir, 2);
    let error = got[1]["error"].as_str().unwrap_or_default();
    assert!(error.contains("died") || error.contains("gone"), "{got:#?}");
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(1));
    support::kill_all(&left);
    assert!(left.is_empty(), "{left:#?}");
}

#[test]
fn fred_pdb_keeps_the_breakpoints_when_the_program_is_killed_at_a_prompt_command() {
    let dir = TestDir::new("fault-pdb-settings");
    dir.program("x = 0\nfor i in range(5):\n    x += i\nprint(x)\n");
    let commands = [
        "break 3",
        "continue",
        "continue",
        "!import time; time.sleep(3)",
        "rc",
        "p i",
        "break",
    ];
    let mut child = Fred::new(&dir).spawn(&commands);
    replies(&dir, 3);
    std::thread::sleep(Duration::from_millis(500));
    // The live process is the one asleep in the command; the snapshots wait on fred.
    for (pid, cmd) in support::processes_mentioning(dir.as_str()) {
        let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        if cmd.contains("python") && wchan.contains("sleep") {
            kill(pid);
        }
    }
    let status = child.wait().unwrap();
    let got = replies(&dir, commands.len());
    assert!(status.success(), "{status}: {got:#?}");
    let error = got[3]["error"].as_str().unwrap_or_default();
    assert!(error.contains("died"), "{got:#?}");
    // A restored copy still has the breakpoint: reverse-continue finds its first hit.
    assert_eq!(got[4]["location"]["line"], 3, "{got:#?}");
    assert_eq!(got[5]["output"], "0\n", "{got:#?}");
    assert!(
        got[6]["output"]
            .as_str()
            .unwrap_or("")
            .contains("prog.py:3"),
        "{got:#?}"
    );
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(1));
    support::kill_all(&left);
    assert!(left.is_empty(), "{left:#?}");
}

#[test]
fn an_unwritable_cache_is_one_line_that_says_where_and_what_to_do() {
    let dir = TestDir::new("fault-cache");
    dir.program("x = 1\n");
    let not_a_dir = dir.write("cache", "a file, not a directory\n");
    let out = std::process::Command::new(support::FRED_PDB)
        .current_dir(&dir.path)
        .env("XDG_CACHE_HOME", &not_a_dir)
        .arg("prog.py")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run fred-pdb");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(not_a_dir.to_str().unwrap()) && err.contains("XDG_CACHE_HOME"),
        "{err}"
    );
}
