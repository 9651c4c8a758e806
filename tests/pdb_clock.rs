//! The agent's two clocks give the same history: replays and scans counted by the C clock
//! (`FRED_PDB_CLOCK=c`) land where those counted by the Python clock
//! (`FRED_PDB_CLOCK=python`) land, with the same values, on every installed CPython, for a
//! program that uses what a trace function can notice (calls, generators, exceptions,
//! finalizers, `locals()`, the clock, switching tracing off and on). And without a C
//! compiler the agent falls back to the Python clock, unless told to insist on C.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{Fred, Reply, Run, TestDir};

/// Line numbers in comments. `work` runs once, in iteration 500, `tally` in 700. (`work`
/// runs one call deeper than `tally`: a local watch reads its frame's `f_locals`, which on
/// 3.8 to 3.12 keeps `tmp` alive past `del tmp`, and so moves `Noisy.__del__`, in both
/// clocks alike; `rw s` must not evaluate in `work`'s frame.)
const PROGRAM: &str = r#"
import sys
import time


class Noisy:  # 5
    def __init__(self, log, name):  # 6
        self.log, self.name = log, name  # 7

    def __del__(self):  # 9
        self.log.append(self.name)  # 10


def gen(n):  # 13
    for k in range(n):  # 14
        yield k * k  # 15


def fact(n):  # 18
    if n <= 1:  # 19
        return 1  # 20
    return n * fact(n - 1)  # 21


def risky(v):  # 24
    try:  # 25
        return 10 // v  # 26
    except ZeroDivisionError:  # 27
        return -1  # 28


def work(items, log):  # 31
    acc = 0  # 32
    for v in items:  # 33
        tmp = Noisy(log, v)  # 34
        del tmp  # 35
        acc += risky(v) + sum(gen(3))  # 36
        d = locals(); d["acc"] = -5  # 37
        acc = acc + 1 + (d["acc"] == -5)  # 38
    sys.settrace(sys.gettrace())  # 39
    stamp = time.time()  # 40
    return acc, stamp > 0  # 41


def tally(n):  # 44
    s = 0  # 45
    for k in range(n):  # 46
        s += fact(k % 4) % 3  # 47
    return s  # 48


def outer(log):  # 51
    return work([3, 0, 2, 5], log)  # 52


log = []  # 55
flag = 0  # 56
total = 0  # 57
for i in range(1000):  # 58
    total += fact(i % 7)  # 59
    if i % 200 == 0:  # 60
        flag = 1 - flag  # 61
    if i == 500:  # 62
        result = outer(log)  # 63
    if i == 700:  # 64
        counted = tally(30)  # 65
print("done", total, result, counted, log)  # 66
flag = 1 - flag  # 67
end = True  # 68
"#;

/// Every kind of search and replay: watches on a global, on a local, on expressions, on a
/// name not defined yet; steps, nexts, finishes, breakpoints; going forward after going
/// back, and back again.
const SESSION: &[&str] = &[
    "continue",
    "rw flag",
    "rw flag",
    "rw total",
    "rs",
    "rs",
    "rs 5",
    "break 47",
    "rc",
    "p s, k",
    "rw s",
    "p s, k",
    "rn",
    "rs",
    "rf",
    "rw len(log) > 1",
    "p log",
    "clear 1",
    "break 38",
    "rc",
    "p acc",
    "rw result",
    "next",
    "step",
    "step",
    "clear 2",
    "continue",
    "rw sum(range(300)) + len(log)",
    "p log",
    "rs",
    "rw log",
    "p log",
    "fred-goto 1",
    "rs",
    "rw end",
];

/// What must be the same under both clocks: everything a command shows, but not how long
/// it took or what checkpoints it made.
/// The sessions' directories differ: they read as DIR.
fn transcript(run: &Run, dir: &Path) -> Vec<String> {
    let dir = dir.to_str().expect("utf-8 path");
    run.replies
        .iter()
        .filter(|r| !r.command.starts_with("fred-history"))
        .map(|r: &Reply| {
            format!(
                "{} -> t={} {} {:?} error={:?} old={} new={}\n{}",
                r.command, r.time, r.state, r.loc, r.error, r.raw["old"], r.raw["new"], r.output
            )
            .replace(dir, "DIR")
        })
        .collect()
}

/// The session under one clock, and its transcript.
fn session(python: &Path, clock: &str, interval: &str) -> (Run, Vec<String>) {
    let dir = TestDir::new("clock");
    dir.program(PROGRAM);
    let run = Fred::new(&dir)
        .python(python)
        .env("FRED_PDB_CLOCK", clock)
        .options(&["--checkpoint-interval", interval])
        .limit(Duration::from_secs(180))
        .run(SESSION);
    let t = transcript(&run, &dir.path);
    (run, t)
}

/// Where the C clock's session must land, checked outright (not only against the other).
fn check_landings(run: &Run) {
    let prog = Path::new(&run[1].loc.as_ref().expect("rw flag lands").file).to_path_buf();
    run[1].assert_at(&prog, 67, "<module>");
    run[2].assert_at(&prog, 61, "<module>");
    run[3].assert_at(&prog, 59, "<module>");
    run[8].assert_at(&prog, 47, "tally");
    run[9].assert_value("(29, 29)");
    run[10].assert_at(&prog, 47, "tally");
    run[11].assert_value("(28, 28)");
    run[19].assert_at(&prog, 38, "work");
}

/// Runs the session under both clocks on each of `pythons`, and compares.
fn compare_clocks(pythons: &[PathBuf], interval: &str) {
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = pythons
            .iter()
            .map(|p| {
                s.spawn(move || {
                    let (run, c) = session(p, "c", interval);
                    let (_, py) = session(p, "python", interval);
                    check_landings(&run);
                    match c.iter().zip(&py).position(|(a, b)| a != b) {
                        None if c.len() == py.len() => None,
                        None => Some(format!("{}: transcripts differ in length", p.display())),
                        Some(i) => Some(format!(
                            "{}: command {i} differs.\nC clock:\n{}\nPython clock:\n{}",
                            p.display(),
                            c[i],
                            py[i]
                        )),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap_or_else(|_| Some("a session failed".into())))
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn both_clocks_give_the_same_history_on_every_cpython() {
    let mut pythons = support::pyenv_pythons();
    if pythons.is_empty() {
        pythons.push(PathBuf::from("python3"));
    }
    compare_clocks(&pythons, "30");
}

/// Checkpoints every 5 ms of running: the C clock snapshots in the middle of its slower
/// scans (the expression that sums a range), and the replays after them start from those
/// snapshots, inside the C clock.
#[test]
fn both_clocks_give_the_same_history_with_dense_checkpoints() {
    compare_clocks(&[PathBuf::from("python3")], "5");
}

#[test]
fn without_a_compiler_the_python_clock_is_used_unless_c_is_required() {
    let python = support::pyenv_pythons()
        .pop()
        .unwrap_or_else(|| PathBuf::from("python3"));
    let dir = TestDir::new("no-compiler");
    dir.program("x = 1\nx = 2\ny = 3\n");
    // A fresh agent cache (no C clock built yet) and no compiler on the path.
    let cache = dir.path.join("cache");
    let bare = |clock: &str| {
        Fred::new(&dir)
            .python(&python)
            .env("XDG_CACHE_HOME", cache.to_str().unwrap())
            .env("PATH", "/nonexistent")
            .env("CC", "")
            .env("FRED_PDB_CLOCK", clock)
    };
    let run = bare("").run(&["continue", "rw x", "p x"]);
    run[1].assert_ok();
    run[2].assert_value("1");
    let built = std::fs::read_dir(&cache)
        .map(|d| {
            d.flatten().any(|e| {
                std::fs::read_dir(e.path())
                    .map(|f| {
                        f.flatten()
                            .any(|f| f.file_name().to_string_lossy().contains("_fredclock"))
                    })
                    .unwrap_or(false)
            })
        })
        .unwrap_or(false);
    assert!(!built, "a C clock was built without a compiler");
    let mut child = bare("c").spawn(&["continue"]);
    let status = child.wait().expect("wait for fred-pdb");
    assert!(
        !status.success(),
        "FRED_PDB_CLOCK=c without a compiler must fail"
    );
    let err = std::fs::read_to_string(dir.path.join("stderr.txt")).unwrap_or_default();
    assert!(
        err.contains("C clock"),
        "the failure should say the C clock is missing; stderr:\n{err}"
    );
}
