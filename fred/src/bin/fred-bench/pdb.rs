//! The fred-pdb figures: fred-pdb against plain pdb, restarting, sys.settrace and the
//! program untraced, and the memory its checkpoints take.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{elapsed_of, in_turns, median, Bench};

/// `continue` through 1000 breakpoint hits: fred-pdb / plain `python3 -m pdb`.
pub fn forward_overhead(b: &Bench) -> Result<f64> {
    let mut cmds = vec!["break 12".to_string()];
    cmds.extend(std::iter::repeat_n("continue".to_string(), 1001));
    let script = b.script("forward.fred", &cmds)?;
    let plain_input = cmds.join("\n") + "\nquit\n";
    let prog = b.prog("breakpoints.py");
    in_turns(
        b.forward_turns(),
        || {
            b.timed(
                Command::new(&b.python).args(["-m", "pdb", &prog]),
                Some(&plain_input),
            )
        },
        || {
            b.timed(
                Command::new(&b.fred).arg("-x").arg(&script).arg(&prog),
                None,
            )
        },
    )
}

/// One checkpoint of a Python process holding 64 MB, median of several.
pub fn checkpoint_ms(b: &Bench) -> Result<f64> {
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
pub fn reverse_step_ms(b: &Bench) -> Result<f64> {
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
pub fn reverse_step_speedup(b: &Bench) -> Result<f64> {
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
    baseline: impl FnMut() -> Result<f64>,
) -> Result<f64> {
    let fred_over_base = in_turns(b.reps, baseline, || reverse_watch_once(b))?;
    Ok(if invert {
        fred_over_base
    } else {
        1.0 / fred_over_base
    })
}

/// A forward watch by sys.settrace over the whole run / fred's reverse-watch.
pub fn watch_vs_settrace(b: &Bench) -> Result<f64> {
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
pub fn watch_vs_untraced(b: &Bench) -> Result<f64> {
    against_reverse_watch(b, true, || {
        Ok(b.timed(
            Command::new(&b.python).args([&b.prog("long_run.py"), "500000"]),
            None,
        )? * 1000.0)
    })
}

/// Extra memory (proportional set size) of 200 checkpoints of a process holding 100 MB it
/// no longer writes, over 100 MB.
pub fn memory_ratio(b: &Bench) -> Result<f64> {
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
