//! `fred-bench`: fred measured side by side with what users have today, as ratios.
//!
//! Every figure is taken in the same run as its baseline, interleaved, several times, and
//! reduced to a median, since these machines are noisy. The programs are in `bench/`.
//! `--quick` takes fewer repetitions, and its one recording by `record full` (the better
//! part of a minute) beside the rows that need no more than one core; `--json FILE` writes
//! the figures; names given pick the rows whose names start with them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

mod gdb;
mod pdb;
use serde_json::{json, Value};

/// One figure's measurement.
type Measure = fn(&Bench) -> Result<f64>;

/// Whether a figure holds with one core taken by something else. Those that scan pieces of
/// a search side by side need all of them, and so do the forward overheads: fred and its
/// debugger run side by side there, where the plain debugger is one process, and fred-gdb's
/// reverse-step (fred, gdb and the program each take a turn).
#[derive(Clone, Copy, PartialEq)]
enum Cores {
    One,
    All,
}

/// A row of the table: name, target, measurement, cores it needs.
type Row = (&'static str, &'static str, Measure, Cores);

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
    /// Fewer repetitions (three instead of seven), the one `record full` recording taken
    /// beside the rows that need one core: under two minutes.
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
    use Cores::{All, One};
    let rows: Vec<Row> = vec![
        (
            "pdb_forward_overhead",
            "<= 1.10",
            pdb::forward_overhead,
            All,
        ),
        ("pdb_checkpoint_ms", "<= 5", pdb::checkpoint_ms, One),
        ("pdb_reverse_step_ms", "<= 50", pdb::reverse_step_ms, One),
        (
            "pdb_reverse_step_speedup",
            ">= 20",
            pdb::reverse_step_speedup,
            One,
        ),
        (
            "pdb_reverse_watch_vs_settrace",
            ">= 5",
            pdb::watch_vs_settrace,
            All,
        ),
        (
            "pdb_reverse_watch_vs_untraced",
            "<= 3",
            pdb::watch_vs_untraced,
            All,
        ),
        ("ckpt_memory_ratio", "<= 0.5", pdb::memory_ratio, One),
        (
            "gdb_forward_overhead",
            "<= 1.15",
            gdb::forward_overhead,
            All,
        ),
        ("gdb_reverse_step_ms", "<= 300", gdb::reverse_step_ms, All),
    ];
    let (record_row, record_target) = ("gdb_reverse_watch_vs_record_full", ">= 100");
    let wanted = |name: &str| picked.is_empty() || picked.iter().any(|p| name.starts_with(p));
    println!("{:<34} {:>10}  target", "figure", "measured");
    let list = match wanted(record_row) {
        true => Some(b.compile("linked_list")?),
        false => None,
    };
    std::thread::scope(|s| {
        // A recording by `record full` takes one core for the better part of a minute;
        // --quick takes its one recording beside the rows that need no more than one core.
        let mut early = match (&list, quick) {
            (Some(prog), true) => Some(s.spawn(|| gdb::record_full_seconds(&b, prog))),
            _ => None,
        };
        let mut order: Vec<&Row> = rows.iter().filter(|r| wanted(r.0)).collect();
        if early.is_some() {
            order.sort_by_key(|r| r.3 == Cores::All);
        }
        let mut recorded = Ok(Vec::new());
        for (name, target, measure, cores) in order {
            if *cores == Cores::All {
                if let Some(h) = early.take() {
                    recorded = join_recording(h);
                }
            }
            let started = Instant::now();
            report(&mut figures, name, target, started, measure(&b));
        }
        if let Some(h) = early.take() {
            recorded = join_recording(h);
        }
        if let Some(prog) = &list {
            let started = Instant::now();
            let ratio = recorded.and_then(|r| gdb::reverse_watch_vs_record_full(&b, prog, r));
            report(&mut figures, record_row, record_target, started, ratio);
        }
    });
    let _ = std::fs::remove_dir_all(&b.tmp);
    if let Some(path) = json_out {
        std::fs::write(&path, serde_json::to_string_pretty(&figures)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The one recording `--quick` took on a thread of its own.
fn join_recording(h: std::thread::ScopedJoinHandle<'_, Result<f64>>) -> Result<Vec<f64>> {
    match h.join() {
        Ok(took) => Ok(vec![took?]),
        Err(_) => bail!("the recording's thread panicked"),
    }
}

/// Prints one row of the table and keeps its figure (null where it could not be measured).
fn report<'a>(
    figures: &mut BTreeMap<&'a str, Value>,
    name: &'a str,
    target: &str,
    started: Instant,
    figure: Result<f64>,
) {
    match figure {
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

/// The median of `second`'s time over `first`'s in `reps` turns, each running the two back
/// to back: this machine's slow spells last seconds, and then fall on both halves of a
/// turn's ratio (where medians of each side taken apart may each catch a different one).
fn in_turns(
    reps: usize,
    mut first: impl FnMut() -> Result<f64>,
    mut second: impl FnMut() -> Result<f64>,
) -> Result<f64> {
    let mut ratios = Vec::new();
    for _ in 0..reps {
        let a = first()?;
        ratios.push(second()? / a);
    }
    Ok(median(ratios))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

impl Bench {
    /// Turns for the forward overheads: in a full run more than for the other rows, as a
    /// turn takes a second or two and single runs vary by a third on a busy host (`--quick`
    /// keeps its three, to stay within its two minutes).
    fn forward_turns(&self) -> usize {
        if self.reps > 3 {
            2 * self.reps + 1
        } else {
            self.reps
        }
    }

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
