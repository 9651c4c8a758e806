//! Process hygiene of both binaries: however a session ends (SIGTERM, SIGHUP as when the
//! terminal closes), no process of it is left within a second; and a program that forks
//! children or runs subprocesses of its own does not confuse fred.

mod support;

use std::time::{Duration, Instant};

use support::{processes_mentioning, wait_until_gone, Fred, TestDir};

/// Runs a little, then sleeps long: fred waits in `continue` when the signal comes.
const PY_SLEEPER: &str = r#"
import time
n = 0
for i in range(1000):
    n += i
time.sleep(1000)
"#;

const C_SLEEPER: &str = r#"#include <unistd.h>

int main(void) {
    long n = 0;
    for (int i = 0; i < 1000; i++)
        n += i;
    sleep(1000);
    return (int)n;
}
"#;

/// Starts a session of the program in `dir` (gdb or not), with checkpoints taken, and
/// waits until it sits in a command that never returns; then sends `signal` to fred and checks
/// fred's exit status and that nothing of the session is left after a second.
fn signal_ends_everything(dir: &TestDir, gdb: bool, signal: nix::sys::signal::Signal) {
    let fred = if gdb {
        Fred::new(dir).gdb()
    } else {
        Fred::new(dir)
    };
    let commands: &[&str] = if gdb {
        &[
            "break main",
            "run",
            "next",
            "fred-checkpoint",
            "next",
            "continue",
        ]
    } else {
        &[
            "break 5",
            "continue",
            "next",
            "fred-checkpoint",
            "next",
            "continue",
        ]
    };
    let mut child = fred.spawn(commands);
    let fred_pid = child.id() as i32;
    let needle = dir.as_str();
    // The session sits in its last command once every command before it has replied
    // (counting processes instead was fooled by the interpreter's launcher scripts, which
    // mention the program too, on a loaded machine).
    let deadline = Instant::now() + Duration::from_secs(30);
    let replied = || {
        std::fs::read_to_string(dir.path.join("stdout.txt"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    // (Python's `next` over time.sleep(1000) is the command that never returns.)
    let waiting_in = if gdb { commands.len() - 1 } else { 2 };
    while replied() < waiting_in && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = processes_mentioning(needle);
    assert!(
        child.try_wait().unwrap().is_none(),
        "fred ended before the signal; stdout: {:?}",
        std::fs::read_to_string(dir.path.join("stdout.txt"))
    );
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(fred_pid), signal).unwrap();
    let status = child.wait().unwrap();
    let left = wait_until_gone(needle, Duration::from_secs(1));
    support::kill_all(&left);
    assert_eq!(
        status.code(),
        Some(128 + signal as i32),
        "fred's exit status after {signal}"
    );
    assert!(
        before.len() >= 3,
        "expected the session's processes before the signal: {before:#?}"
    );
    assert!(
        left.is_empty(),
        "after {signal} of fred, left: {left:#?}\n(before: {before:#?})"
    );
    // The signal ends the session; the command it cut short did not fail of its own.
    let stdout = std::fs::read_to_string(dir.path.join("stdout.txt")).unwrap_or_default();
    for reply in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(reply).unwrap();
        assert!(v["error"].is_null(), "after {signal}: {reply}");
    }
}

#[test]
fn sigterm_and_sighup_of_fred_pdb_leave_no_process() {
    use nix::sys::signal::Signal::{SIGHUP, SIGTERM};
    for (name, signal) in [("term", SIGTERM), ("hup", SIGHUP)] {
        let dir = TestDir::new(&format!("hygiene-pdb-{name}"));
        dir.program(PY_SLEEPER);
        signal_ends_everything(&dir, false, signal);
    }
}

#[test]
fn sigterm_and_sighup_of_fred_gdb_leave_no_process() {
    use nix::sys::signal::Signal::{SIGHUP, SIGTERM};
    for (name, signal) in [("term", SIGTERM), ("hup", SIGHUP)] {
        let dir = TestDir::new(&format!("hygiene-gdb-{name}"));
        dir.c_program(C_SLEEPER);
        signal_ends_everything(&dir, true, signal);
    }
}

#[test]
fn a_python_program_that_forks_and_runs_subprocesses() {
    let dir = TestDir::new("hygiene-pdb-fork");
    let prog = dir.program(
        r#"
import os, subprocess, time
out = subprocess.check_output(["echo", "from-subprocess"])
pid = os.fork()
if pid == 0:
    child_only = 1
    time.sleep(30)
    os._exit(0)
x = 1
print("parent", out)
x = 2
"#,
    );
    let run = Fred::new(&dir).run(&[
        "break 8",
        "continue",
        "next",
        "next",
        "reverse-watch x",
        "reverse-step",
        "p pid > 0",
        "continue",
        "continue",
    ]);
    run[1].assert_at(&prog, 8, "<module>");
    assert!(
        run[3].output.contains("parent b'from-subprocess\\n'"),
        "{:?}",
        run[3]
    );
    run[3].assert_at(&prog, 10, "<module>");
    run[4].assert_at(&prog, 8, "<module>");
    run[5].assert_at(&prog, 4, "<module>");
    run[6].assert_value("True");
    run[7].assert_at(&prog, 8, "<module>");
    assert_eq!(run[8].state, "finished");
    // The program's child (asleep for 30 s) is the program's business while fred runs;
    // after the session it is gone with everything else.
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(1));
    support::kill_all(&left);
    assert!(left.is_empty(), "left: {left:#?}");
}

#[test]
fn a_c_program_that_forks_and_runs_subprocesses() {
    let dir = TestDir::new("hygiene-gdb-fork");
    let src = dir.c_program(
        r#"#include <stdlib.h>
#include <unistd.h>

int x;

int main(void) {
    system("true");
    pid_t pid = fork();
    if (pid == 0) {
        sleep(30);
        _exit(0);
    }
    x = 1;
    x = 2;
    return 0;
}
"#,
    );
    let run = Fred::new(&dir).gdb().run(&[
        "break 13",
        "run",
        "next",
        "reverse-step",
        "reverse-step",
        "next",
        "next",
        "reverse-watch x",
        "continue",
    ]);
    run[1].assert_at(&src, 13, "main");
    run[2].assert_at(&src, 14, "main");
    run[3].assert_at(&src, 13, "main");
    run[4].assert_at(&src, 9, "main");
    run[6].assert_at(&src, 14, "main");
    run[7].assert_at(&src, 13, "main");
    assert_eq!(run[8].state, "finished");
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(1));
    support::kill_all(&left);
    assert!(left.is_empty(), "left: {left:#?}");
}

/// The directories under `dir` (a session's runtime directory).
fn entries(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_next_session_removes_what_a_kill_9_of_fred_left() {
    let dir = TestDir::new("hygiene-stale");
    dir.program(PY_SLEEPER);
    dir.write("session.fred", "continue\n");
    let run = dir.path.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let session = |wait: bool| {
        let mut child = std::process::Command::new(support::FRED_PDB)
            .current_dir(&dir.path)
            .env("XDG_RUNTIME_DIR", &run)
            .args(["-x", "session.fred", "prog.py"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start fred-pdb");
        if wait {
            std::thread::sleep(Duration::from_millis(1500));
            let _ = child.kill();
        }
        let _ = child.wait();
    };
    // Killed with SIGKILL, fred cannot remove its control socket's directory.
    session(true);
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(2));
    support::kill_all(&left);
    assert_eq!(entries(&run).len(), 1, "{:?}", entries(&run));
    // The next session, ended normally, leaves nothing, of its own or of the last one.
    std::fs::write(dir.path.join("prog.py"), "x = 1\n").unwrap();
    session(false);
    assert!(entries(&run).is_empty(), "{:?}", entries(&run));
}
