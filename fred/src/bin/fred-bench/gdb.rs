//! The fred-gdb figures: fred-gdb against plain gdb and against gdb's own `record full`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::Value;

use super::{elapsed_of, in_turns, median, run_captured, Bench, LIMIT};

/// What `record full` needs to record at all on these machines: glibc's AVX string
/// functions switched off (gdb cannot record their instructions).
const NO_AVX: &str = "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD,-AVX2";

impl Bench {
    /// Compiles `bench/NAME.c` as a user would for debugging.
    pub fn compile(&self, name: &str) -> Result<String> {
        let out: PathBuf = self.tmp.join(name);
        let status = Command::new("gcc")
            .args(["-g", "-O0", "-o"])
            .arg(&out)
            .arg(self.dir.join(format!("{name}.c")))
            .status()?;
        if !status.success() {
            bail!("gcc failed on bench/{name}.c");
        }
        Ok(out.to_string_lossy().into_owned())
    }

    /// Plain gdb reading `lines` from its stdin, as if typed; returns its wall time and
    /// output.
    fn plain_gdb(&self, prog: &str, lines: &[String]) -> Result<(f64, String)> {
        let mut all = vec!["set pagination off".to_string(), "set confirm off".into()];
        all.extend(lines.iter().cloned());
        all.push("quit".into());
        run_captured(
            Command::new("gdb").args(["-q", "-nx"]).arg(prog),
            Some(&(all.join("\n") + "\n")),
            LIMIT,
        )
    }
}

/// `continue` through 1000 breakpoint hits: fred-gdb / plain gdb with the same commands.
pub fn forward_overhead(b: &Bench) -> Result<f64> {
    let prog = b.compile("breakpoints")?;
    let mut cmds = vec!["break 16".to_string(), "run".to_string()];
    cmds.extend(std::iter::repeat_n("continue".to_string(), 1000));
    let script = b.script("gdb-forward.fred", &cmds)?;
    in_turns(
        b.forward_turns(),
        || Ok(b.plain_gdb(&prog, &cmds)?.0),
        || {
            b.timed(
                Command::new(&b.fred_gdb).arg("-x").arg(&script).arg(&prog),
                None,
            )
        },
    )
}

/// reverse-step from just after a loop of 10^7 iterations, median.
pub fn reverse_step_ms(b: &Bench) -> Result<f64> {
    let prog = b.compile("long_loop")?;
    let script = b.script(
        "gdb-rs.fred",
        &["break 22".into(), "run".into(), "reverse-step".into()],
    )?;
    let limit = Duration::from_secs(if b.reps > 3 { 180 } else { 60 });
    let mut times = Vec::new();
    for _ in 0..b.reps.min(3) {
        let r = b.fred_json_within(&b.fred_gdb, &script, &prog, &[], &[], limit)?;
        expect_line(&r, "reverse-step", 17)?;
        times.extend(elapsed_of(&r, "reverse-step"));
    }
    Ok(median(times))
}

/// The watched expression of the `record full` row and the line whose statement last
/// changes it.
const LIST_EXPR: &str = "head->next->next->value";
const LIST_CHANGE: u64 = 40;

/// One whole session of gdb's `record full` + a software watchpoint + `reverse-continue` on
/// a list of 2,000 nodes, from the start: its wall time. It takes the better part of a
/// minute and one core.
pub fn record_full_seconds(b: &Bench, prog: &str) -> Result<f64> {
    let record: Vec<String> = [
        format!("set environment GLIBC_TUNABLES {NO_AVX}"),
        "set record full insn-number-max unlimited".into(),
        "break main".into(),
        "run".into(),
        "record full".into(),
        "break 43".into(),
        "continue".into(),
        "set can-use-hw-watchpoints 0".into(),
        format!("watch {LIST_EXPR}"),
        "reverse-continue".into(),
    ]
    .into();
    let (took, out) = b.plain_gdb(prog, &record)?;
    if !out.contains(&format!("{LIST_CHANGE}\t    head->next->next = ")) {
        bail!("record full did not go back to line {LIST_CHANGE}:\n{out}");
    }
    Ok(took)
}

/// The same with fred-gdb's reverse-watch: its wall time.
fn fred_reverse_watch_seconds(b: &Bench, prog: &str) -> Result<f64> {
    let script = b.script(
        "gdb-rw.fred",
        &[
            "break 43".into(),
            "run".into(),
            format!("reverse-watch {LIST_EXPR}"),
        ],
    )?;
    let started = std::time::Instant::now();
    let r = b.fred_json(&b.fred_gdb, &script, prog, &[], &[])?;
    expect_line(&r, &format!("reverse-watch {LIST_EXPR}"), LIST_CHANGE)?;
    Ok(started.elapsed().as_secs_f64())
}

/// A plain gdb session that runs the list program to line 43 and quits: what both ways of
/// going back have in common (gdb's start, reading the C library's debugging information,
/// the run itself), the better part of fred-gdb's whole session.
fn plain_session_seconds(b: &Bench, prog: &str) -> Result<f64> {
    let (took, out) = b.plain_gdb(prog, &["break 43".into(), "run".into()])?;
    if !out.contains("linked_list.c:43") {
        bail!("plain gdb did not stop at line 43:\n{out}");
    }
    Ok(took)
}

/// What `record full` adds to a plain session / what fred-gdb adds (its checkpoints and the
/// reverse-watch), on the linked list: each session's wall time less the plain session's,
/// medians, the plain and fred-gdb sessions taken in turns. `recorded` holds recordings
/// already measured (by `--quick`, beside other rows), else they are taken here, one for
/// every two repetitions since each takes so long.
pub fn reverse_watch_vs_record_full(b: &Bench, prog: &str, recorded: Vec<f64>) -> Result<f64> {
    let (mut recorded, mut fred, mut plain) = (recorded, Vec::new(), Vec::new());
    let take_own = recorded.is_empty();
    for _ in 0..b.reps.div_ceil(2) {
        if take_own {
            recorded.push(record_full_seconds(b, prog)?);
        }
        // (The two short sessions vary by more than fred's part of its own: more of them.)
        for _ in 0..3 {
            plain.push(plain_session_seconds(b, prog)?);
            fred.push(fred_reverse_watch_seconds(b, prog)?);
        }
    }
    let shared = median(plain);
    let ours = median(fred) - shared;
    if ours <= 0.0 {
        bail!("fred-gdb's session took no longer than plain gdb's: no figure");
    }
    Ok((median(recorded) - shared) / ours)
}

/// Fails unless `command`'s reply landed on `line` (a figure for a wrong answer is no figure).
fn expect_line(replies: &[Value], command: &str, line: u64) -> Result<()> {
    let reply = replies.iter().find(|r| r["command"] == command);
    match reply.and_then(|r| r["location"]["line"].as_u64()) {
        Some(l) if l == line => Ok(()),
        other => bail!("{command} landed on line {other:?}, not {line}"),
    }
}
