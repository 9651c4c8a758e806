//! `fred-bench`: fred measured side by side with what users have today, as ratios.
//!
//! Every figure is taken in the same run as its baseline, interleaved, several times, and
//! reduced to a median, since these machines are noisy. The programs are in `bench/`.
//! `--quick` takes fewer repetitions; `--json FILE` writes the figures; names given pick the
//! rows whose names start with them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

mod gdb;
use serde_json::{json, Value};

/// One figure's measurement.
type Measure = fn(&Bench) -> Result<f64>;

/// Where the benchmark programs and binaries are.
struct Bench {
    fred: PathBuf,
    fred_gdb: PathBuf,
    python: String,
    dir: PathBuf,
    tmp: PathBuf,
    reps: usize,
}

/// fred measured against plain pdb, plain gdb, sys.settrace and gdb's `record full`, as
/// ratios taken in the same run.
#[derive(Parser)]
#[command(name = "fred-bench")]
struct Args {
    /// Fewer repetitions (three instead of seven): under two minutes.
    #[arg(long)]
    quick: bool,
    /// Also write the figures to FILE as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Measure only the figures whose names start with one of these (`gdb_`).
    names: Vec<String>,
}

fn main() -> Result<()> {
    let Args {
        quick,
        json: json_out,
        names: picked,
    } = Args::parse();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let fred = build_fred("fred-pdb")?;
    let fred_gdb = build_fred("fred-gdb")?;
    let tmp = std::env::temp_dir().join(format!("fred-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let b = Bench {
        fred,
        fred_gdb,
        python: "python3".into(),
        dir: root.join("bench"),
        tmp,
        reps: if quick { 3 } else { 7 },
    };
    let mut figures: BTreeMap<&str, Value> = BTreeMap::new();
    let rows: Vec<(&str, &str, Measure)> = vec![
        ("pdb_forward_overhead", "<= 1.10", forward_overhead),
        ("pdb_checkpoint_ms", "<= 5", checkpoint_ms),
        ("pdb_reverse_step_ms", "<= 50", reverse_step_ms),
        ("pdb_reverse_step_speedup", ">= 20", reverse_step_speedup),
        ("pdb_reverse_watch_vs_settrace", ">= 5", watch_vs_settrace),
        ("pdb_reverse_watch_vs_untraced", "<= 3", watch_vs_untraced),
        ("ckpt_memory_ratio", "<= 0.5", memory_ratio),
        ("gdb_forward_overhead", "<= 1.15", gdb::forward_overhead),
        ("gdb_reverse_step_ms", "<= 300", gdb::reverse_step_ms),
        (
            "gdb_reverse_watch_vs_record_full",
            ">= 100",
            gdb::reverse_watch_vs_record_full,
        ),
    ];
    println!("{:<34} {:>10}  target", "figure", "measured");
    for (name, target, f) in rows {
        if !picked.is_empty() && !picked.iter().any(|p| name.starts_with(p.as_str())) {
            continue;
        }
        let started = Instant::now();
        match f(&b) {
            Ok(v) => {
                let verdict = if meets(v, target) { "ok" } else { "MISSED" };
                println!(
                    "{name:<34} {v:>10.3}  {target:<8} {verdict} ({:.0} s)",
                    started.elapsed().as_secs_f64()
                );
                figures.insert(name, json!(v));
            }
            Err(e) => {
                println!("{name:<34} {:>10}  {target:<8} error: {e:#}", "-");
                figures.insert(name, Value::Null);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&b.tmp);
    if let Some(path) = json_out {
        std::fs::write(&path, serde_json::to_string_pretty(&figures)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Builds binary `name` in this binary's profile, next to it (cargo sets CARGO when it runs
/// us).
fn build_fred(name: &str) -> Result<PathBuf> {
    let here = std::env::current_exe()?;
    let fred = here.with_file_name(name);
    if let Some(cargo) = std::env::var_os("CARGO") {
        let profile = if here.to_string_lossy().contains("/release/") {
            vec!["--release"]
        } else {
            vec![]
        };
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--bin", name])
            .args(profile)
            .status()?;
        if !status.success() {
            bail!("building {name} failed");
        }
    }
    if !fred.is_file() {
        bail!("{} not found: build it first", fred.display());
    }
    Ok(fred)
}

/// Whether `v` meets `target` (`<= N` or `>= N`).
fn meets(v: f64, target: &str) -> bool {
    let (op, n) = target.split_at(2);
    let n: f64 = n.trim().parse().unwrap_or(f64::NAN);
    if op == "<=" {
        v <= n
    } else {
        v >= n
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

impl Bench {
    fn prog(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn script(&self, name: &str, lines: &[String]) -> Result<PathBuf> {
        let p = self.tmp.join(name);
        std::fs::write(&p, lines.join("\n") + "\n")?;
        Ok(p)
    }

    /// Wall time of a command, its stdin from `input`.
    fn timed(&self, cmd: &mut Command, input: Option<&str>) -> Result<f64> {
        Ok(run_captured(cmd, input, LIMIT)?.0)
    }

    /// Runs `fred` (fred-pdb or fred-gdb) on a script in JSON mode; returns the replies.
    fn fred_json(
        &self,
        fred: &Path,
        script: &Path,
        prog: &str,
        args: &[&str],
        opts: &[&str],
    ) -> Result<Vec<Value>> {
        self.fred_json_within(fred, script, prog, args, opts, LIMIT)
    }

    /// [`Bench::fred_json`], given up after `limit`.
    fn fred_json_within(
        &self,
        fred: &Path,
        script: &Path,
        prog: &str,
        args: &[&str],
        opts: &[&str],
        limit: Duration,
    ) -> Result<Vec<Value>> {
        let mut cmd = Command::new(fred);
        cmd.args(opts)
            .arg("--json")
            .arg("-x")
            .arg(script)
            .arg(prog)
            .args(args);
        let (_, out) = run_captured(&mut cmd, None, limit)?;
        let replies: Vec<Value> = out
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if let Some(e) = replies.iter().find_map(|r| r["error"].as_str()) {
            bail!("{}: {e}", fred.display());
        }
        Ok(replies)
    }
}

/// How long any one measured command may take.
const LIMIT: Duration = Duration::from_secs(900);

/// Runs a command with `input` on its stdin; returns its wall time and its stdout. Killed,
/// and an error, when it takes longer than `limit` or fails.
fn run_captured(cmd: &mut Command, input: Option<&str>, limit: Duration) -> Result<(f64, String)> {
    use std::io::{Read, Write};
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let text = input.unwrap_or("").to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(text.as_bytes());
    });
    let mut stdout = child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("did not finish within {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed().as_secs_f64();
    let _ = writer.join();
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok((took, out))
}

fn elapsed_of(replies: &[Value], command: &str) -> Vec<f64> {
    replies
        .iter()
        .filter(|r| r["command"] == command)
        .filter_map(|r| r["elapsed_ms"].as_f64())
        .collect()
}

/// `continue` through 1000 breakpoint hits: fred-pdb / plain `python3 -m pdb`.
fn forward_overhead(b: &Bench) -> Result<f64> {
    let mut cmds = vec!["break 12".to_string()];
    cmds.extend(std::iter::repeat_n("continue".to_string(), 1001));
    let script = b.script("forward.fred", &cmds)?;
    let plain_input = cmds.join("\n") + "\nquit\n";
    let prog = b.prog("breakpoints.py");
    let (mut plain, mut fred) = (Vec::new(), Vec::new());
    for _ in 0..b.reps {
        plain.push(b.timed(
            Command::new(&b.python).args(["-m", "pdb", &prog]),
            Some(&plain_input),
        )?);
        fred.push(b.timed(
            Command::new(&b.fred).arg("-x").arg(&script).arg(&prog),
            None,
        )?);
    }
    Ok(median(fred) / median(plain))
}

/// One checkpoint of a Python process holding 64 MB, median of several.
fn checkpoint_ms(b: &Bench) -> Result<f64> {
    let mut cmds = vec!["break 9".to_string(), "continue".to_string()];
    cmds.extend(std::iter::repeat_n(
        "fred-checkpoint".to_string(),
        4 * b.reps,
    ));
    let script = b.script("ckpt.fred", &cmds)?;
    let r = b.fred_json(
        &b.fred,
        &script,
        &b.prog("big_memory.py"),
        &["64"],
        &["--max-checkpoints", "100"],
    )?;
    Ok(median(elapsed_of(&r, "fred-checkpoint")))
}

/// N for about 10^6 line events of long_run.py (four events an iteration).
const MILLION_EVENTS: &str = "250000";

/// reverse-step about 10^6 events into the run, median.
fn reverse_step_ms(b: &Bench) -> Result<f64> {
    let mut cmds = vec!["break 14".to_string(), "continue".to_string()];
    cmds.extend(std::iter::repeat_n("reverse-step".to_string(), 2 * b.reps));
    let script = b.script("rs.fred", &cmds)?;
    let r = b.fred_json(
        &b.fred,
        &script,
        &b.prog("long_run.py"),
        &[MILLION_EVENTS],
        &[],
    )?;
    Ok(median(elapsed_of(&r, "reverse-step")))
}

/// Restarting under plain pdb and running to the same point / fred's reverse-step.
fn reverse_step_speedup(b: &Bench) -> Result<f64> {
    let prog = b.prog("long_run.py");
    let input = "break 14\ncontinue\nquit\n";
    let mut plain = Vec::new();
    for _ in 0..b.reps {
        plain.push(
            b.timed(
                Command::new(&b.python).args(["-m", "pdb", &prog, MILLION_EVENTS]),
                Some(input),
            )? * 1000.0,
        );
    }
    Ok(median(plain) / reverse_step_ms(b)?)
}

/// One run of fred's reverse-watch with the change ~10^6 events back in a ~2x10^6-event
/// run: its time in milliseconds.
fn reverse_watch_once(b: &Bench) -> Result<f64> {
    let script = b.script(
        "rw.fred",
        &["continue".into(), "reverse-watch marker".into()],
    )?;
    let r = b.fred_json(&b.fred, &script, &b.prog("long_run.py"), &["500000"], &[])?;
    elapsed_of(&r, "reverse-watch marker")
        .into_iter()
        .next()
        .context("no reply to reverse-watch")
}

/// The median of `baseline` over fred's reverse-watch (or its inverse, `invert`), the two
/// runs taking turns, so that the machine's drift falls on both.
fn against_reverse_watch(
    b: &Bench,
    invert: bool,
    mut baseline: impl FnMut() -> Result<f64>,
) -> Result<f64> {
    let (mut base, mut fred) = (Vec::new(), Vec::new());
    for _ in 0..b.reps {
        base.push(baseline()?);
        fred.push(reverse_watch_once(b)?);
    }
    let ratio = median(base) / median(fred);
    Ok(if invert { 1.0 / ratio } else { ratio })
}

/// A forward watch by sys.settrace over the whole run / fred's reverse-watch.
fn watch_vs_settrace(b: &Bench) -> Result<f64> {
    against_reverse_watch(b, false, || {
        Ok(b.timed(
            Command::new(&b.python).args([
                &b.prog("settrace_watch.py"),
                &b.prog("long_run.py"),
                "marker",
                "500000",
            ]),
            None,
        )? * 1000.0)
    })
}

/// fred's reverse-watch / the untraced run time of the same program.
fn watch_vs_untraced(b: &Bench) -> Result<f64> {
    against_reverse_watch(b, true, || {
        Ok(b.timed(
            Command::new(&b.python).args([&b.prog("long_run.py"), "500000"]),
            None,
        )? * 1000.0)
    })
}

/// Extra memory (proportional set size) of 200 checkpoints of a process holding 100 MB it
/// no longer writes, over 100 MB.
fn memory_ratio(b: &Bench) -> Result<f64> {
    let base = session_pss(b, 0)?;
    let with = session_pss(b, 200)?;
    Ok((with - base) / (100.0 * 1024.0 * 1024.0))
}

/// Total PSS of a session's processes after `n` checkpoints, measured while it sleeps.
fn session_pss(b: &Bench, n: usize) -> Result<f64> {
    let mut cmds = vec!["break 9".to_string(), "continue".to_string()];
    cmds.extend(std::iter::repeat_n("fred-checkpoint".to_string(), n));
    cmds.push("!import time; time.sleep(8)".into());
    let script = b.script(&format!("mem{n}.fred"), &cmds)?;
    let prog = b.prog("big_memory.py");
    let mut child = Command::new(&b.fred)
        .args([
            "--max-checkpoints",
            "400",
            "--checkpoint-interval",
            "0",
            "-x",
        ])
        .arg(&script)
        .arg(&prog)
        .arg("100")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // Wait for the count of the session's processes to settle (the sleep has begun).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = (0, Instant::now());
    let pss = loop {
        std::thread::sleep(Duration::from_millis(200));
        let pids = pids_running(&prog);
        if pids.len() != last.0 {
            last = (pids.len(), Instant::now());
        } else if pids.len() >= n + 2 && last.1.elapsed() > Duration::from_millis(1500) {
            break pids.iter().map(|p| pss_of(*p)).sum::<f64>();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("the session did not settle");
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    Ok(pss)
}

fn pids_running(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains(needle) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Proportional set size of a process, in bytes.
fn pss_of(pid: i32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("Pss:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb * 1024.0)
}
