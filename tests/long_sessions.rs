//! Long sessions: 10,000 commands, and (for Python) over a thousand automatic checkpoints,
//! keep the number of checkpoints and processes bounded by thinning, and reverse commands
//! at the end still land where they should; a hundred checkpoints at one stop share the
//! program's memory.

mod support;

use std::time::{Duration, Instant};

use support::{processes_mentioning, Fred, TestDir};

const MAX_CHECKPOINTS: usize = 48;

/// The number in `Checkpoints (N):` of a `fred-history` reply.
fn checkpoints_listed(output: &str) -> usize {
    output
        .split("Checkpoints (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no checkpoint count in {output:?}"))
}

/// Runs `commands`, the last of which pauses; while it pauses, counts the session's
/// processes. Returns the replies (JSON) and that count.
fn run_counting(fred: Fred, dir: &TestDir, commands: &[&str]) -> (Vec<serde_json::Value>, usize) {
    let mut child = fred.spawn(commands);
    let replies = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.path.join("stdout.txt"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    while replies().len() < commands.len() - 1 {
        assert!(
            Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "the session ended or stalled after {} replies",
            replies().len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let count = processes_mentioning(dir.as_str()).len();
    // A child that has just exited is a zombie until fred's next reap (a fifth of a second
    // at most): one that is still a zombie a while later was left unreaped.
    let parent = child.id() as i32;
    let zombies = zombie_children(parent);
    std::thread::sleep(Duration::from_millis(400));
    let left: Vec<i32> = zombie_children(parent)
        .into_iter()
        .filter(|pid| zombies.contains(pid))
        .collect();
    assert!(left.is_empty(), "fred left children unreaped: {left:?}");
    let status = child.wait().unwrap();
    let got = replies();
    assert!(status.success(), "{status}");
    assert_eq!(got.len(), commands.len());
    for r in &got {
        assert!(
            r["error"].is_null(),
            "{} failed: {}",
            r["command"],
            r["error"]
        );
    }
    (got, count)
}

/// The children of `parent` that have exited and not been reaped.
fn zombie_children(parent: i32) -> Vec<i32> {
    let stats = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok());
    stats
        .filter_map(|stat| {
            // The pid, the command name in parentheses, then state and parent pid.
            let pid = stat.split_whitespace().next()?.parse().ok()?;
            let mut rest = stat.rsplit(')').next()?.split_whitespace();
            (rest.next() == Some("Z") && rest.next() == Some(parent.to_string().as_str()))
                .then_some(pid)
        })
        .collect()
}

fn line(r: &serde_json::Value) -> u64 {
    r["location"]["line"].as_u64().unwrap_or(0)
}

#[test]
fn ten_thousand_pdb_commands_and_a_thousand_checkpoints_stay_bounded() {
    let dir = TestDir::new("long-pdb");
    let prog = dir.program(
        r#"
total = 0
for i in range(2500000):
    total += i
marker = 1
for j in range(100000):
    total -= 1
print(total)
"#,
    );
    let mut commands = vec!["break 5".to_string(), "continue".to_string()];
    commands.push("fred-history".into());
    for i in 0..10_000 {
        commands.push(if i % 100 == 99 { "rs" } else { "next" }.into());
    }
    commands.push("fred-history".into());
    commands.push("rs".into());
    commands.push("p j".into());
    commands.push("!import time; time.sleep(1)".into());
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    let fred = Fred::new(&dir).options(&["--checkpoint-interval", "1"]);
    let (run, processes) = run_counting(fred, &dir, &commands);
    let n = commands.len();
    assert_eq!(line(&run[1]), 5);
    // Mid-run checkpoints every millisecond of the first loop (about 1,200 of them, one
    // every 3 ms or so): far more than are kept.
    let listed = |r: &serde_json::Value| checkpoints_listed(r["output"].as_str().unwrap_or(""));
    assert!(listed(&run[2]) <= MAX_CHECKPOINTS, "{}", run[2]["output"]);
    assert!(
        listed(&run[n - 4]) <= MAX_CHECKPOINTS,
        "{}",
        run[n - 4]["output"]
    );
    // The checkpoints' processes, the live one, the holder and fred: no more.
    assert!(processes <= MAX_CHECKPOINTS + 3, "{processes} processes");
    // 9,900 nexts and 100 reverse-steps, then one more: the 9,799th line after the
    // second loop's first test (line 5), its body with j = 4,899.
    assert_eq!(line(&run[n - 3]), 6, "{}", run[n - 3]);
    assert_eq!(
        run[n - 2]["output"].as_str(),
        Some("4899\n"),
        "{}",
        run[n - 2]
    );
    let _ = prog;
}

#[test]
fn ten_thousand_gdb_commands_stay_bounded() {
    let dir = TestDir::new("long-gdb");
    let src = dir.c_program(
        r#"#include <unistd.h>

int main(void) {
    long total = 0;
    for (long j = 0; j < 100000; j++)
        total += j;
    return (int)total;
}
"#,
    );
    let mut commands = vec!["break 5".to_string(), "run".to_string()];
    for i in 0..10_000 {
        commands.push(if i % 100 == 99 { "rs" } else { "next" }.into());
    }
    commands.push("fred-history".into());
    commands.push("rs".into());
    commands.push("p j".into());
    commands.push("shell sleep 1".into());
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    let (run, processes) = run_counting(Fred::new(&dir).gdb(), &dir, &commands);
    let n = commands.len();
    let listed = checkpoints_listed(run[n - 4]["output"].as_str().unwrap_or(""));
    assert!(listed <= MAX_CHECKPOINTS, "{}", run[n - 4]["output"]);
    // The checkpoints' copies, the live program, the program's first process (gdb cannot
    // delete its checkpoint 0), gdb and fred: no more.
    assert!(processes <= MAX_CHECKPOINTS + 4, "{processes} processes");
    assert_eq!(line(&run[n - 3]), 6, "{}", run[n - 3]);
    assert_eq!(
        run[n - 2]["output"].as_str(),
        Some("$1 = 4899\n"),
        "{}",
        run[n - 2]
    );
    let _ = src;
}

#[test]
fn a_long_run_keeps_its_automatic_checkpoints_bounded_while_it_runs() {
    let dir = TestDir::new("long-run");
    dir.program(
        r#"
total = 0
for i in range(30000000):
    total += i
print(total)
"#,
    );
    // A checkpoint every 5 ms of running: hundreds within the first seconds.
    let fred = Fred::new(&dir).options(&["--checkpoint-interval", "5", "--max-checkpoints", "8"]);
    let mut child = fred.spawn(&["continue"]);
    let started = Instant::now();
    let mut most = 0;
    while started.elapsed() < Duration::from_secs(4) {
        most = most.max(processes_mentioning(dir.as_str()).len());
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    support::kill_all(&support::wait_until_gone(
        dir.as_str(),
        Duration::from_secs(2),
    ));
    // The kept checkpoints, the one taken at the first stop, the live process, the holder
    // and fred; and, caught in passing, the next checkpoint (made before thinning drops the
    // oldest) and dropped ones still exiting. Unbounded, there would be hundreds.
    assert!(most > 4, "the program did not run: {most} processes");
    assert!(most <= 8 + 8, "{most} processes while the program ran");
}

/// The total proportional set size of the session's processes, in bytes.
fn session_pss(dir: &TestDir) -> u64 {
    let pss = |pid: i32| -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    processes_mentioning(dir.as_str())
        .iter()
        .map(|(pid, _)| pss(*pid))
        .sum()
}

#[test]
fn checkpoints_at_a_stop_share_the_program_s_memory() {
    // A checkpoint keeps the pages the live process writes after it: a hundred taken at
    // one stop of a program holding 32 MB must cost far less than one copy of it (each
    // taken in Python wrote about 900 KB).
    let dir = TestDir::new("ckpt-memory");
    dir.program(
        r#"
data = bytearray(32 * 1024 * 1024)
for k in range(0, len(data), 4096):
    data[k] = 1
x = 0
x += 1
"#,
    );
    let mut commands = vec!["break 5", "continue", "fred-checkpoint"];
    commands.push("!import time; time.sleep(3)");
    commands.extend(std::iter::repeat_n("fred-checkpoint", 100));
    commands.push("!import time; time.sleep(3)");
    commands.push("next");
    commands.push("reverse-step");
    commands.push("p x");
    let mut child = Fred::new(&dir).spawn(&commands);
    let replies = || {
        std::fs::read_to_string(dir.path.join("stdout.txt"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with('{'))
            .count()
    };
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while replies() < n {
            assert!(
                Instant::now() < deadline,
                "the session stalled at {}",
                replies()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // (the sleep has begun: its reply is the next one)
        std::thread::sleep(Duration::from_millis(500));
    };
    wait_for(3);
    let before = session_pss(&dir);
    wait_for(104);
    let after = session_pss(&dir);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let out = std::fs::read_to_string(dir.path.join("stdout.txt")).unwrap();
    let run: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(run.len(), commands.len());
    for r in &run {
        assert!(r["error"].is_null(), "{r}");
    }
    assert_eq!(line(&run[1]), 5);
    assert_eq!(run[commands.len() - 1]["output"].as_str(), Some("0\n"));
    let extra = after.saturating_sub(before);
    assert!(
        extra < 16 << 20,
        "a hundred checkpoints cost {} KB ({} KB before)",
        extra >> 10,
        before >> 10
    );
}
