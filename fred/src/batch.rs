//! Unattended sessions: commands from a file (`-x FILE`), printed as a transcript or as one
//! JSON object per command (`--json`).

use std::io::Write;
use std::time::Instant;

use fred_personality::StopKind;
use serde_json::json;

use crate::output::{Capture, Terminal};
use crate::session::Session;

/// The lines of a script that are commands: blank lines and `#` comments are skipped.
pub fn commands(script: &str) -> Vec<&str> {
    script
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect()
}

/// Runs every command of `script`; returns the exit status: 0 when every command ran and
/// every `fred-expect` held, 1 when an expectation failed (the script stops there unless
/// `keep_going`), 2 when the session was lost.
pub fn run(session: &mut Session, script: &str, json: bool, keep_going: bool) -> i32 {
    let mut status = 0;
    let lines = commands(script);
    for (i, &line) in lines.iter().enumerate() {
        session.type_ahead(&lines[i..]);
        let started = Instant::now();
        let (reply, text) = if json {
            let mut cap = Capture::default();
            let mut reply = session.run(line, &mut cap);
            crate::cli::stop_if_ending();
            if reply.error.is_none() {
                reply.error = cap.error;
            }
            (reply, cap.text)
        } else {
            println!("{}{}", session.prompt(), line);
            let reply = session.run(line, &mut Terminal);
            crate::cli::stop_if_ending();
            if let Some(e) = &reply.error {
                println!("*** {e}");
            }
            (reply, String::new())
        };
        if json {
            let pos = session.position();
            let location = match pos.kind {
                StopKind::Finished => serde_json::Value::Null,
                _ => serde_json::to_value(&pos.location).unwrap_or_default(),
            };
            let mut obj = json!({
                "command": line,
                "output": text,
                "location": location,
                "error": reply.error,
                "time": pos.time,
                "state": pos.kind,
                "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0,
            });
            if let Some((old, new)) = &reply.values {
                obj["old"] = json!(old);
                obj["new"] = json!(new);
            }
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{obj}");
            let _ = out.flush();
        }
        if reply.quit {
            break;
        }
        if reply.fatal {
            return 2;
        }
        session.idle();
        if reply.failed {
            status = 1;
            if !keep_going {
                break;
            }
        }
    }
    status
}
