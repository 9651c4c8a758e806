//! A pdb session: the agent's process tree under a [`Supervisor`], spoken to in JSON.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use fred_ckpt::{Event, Supervisor};
use fred_personality::{
    Checkpoint, CheckpointId, CommandClass, Debugger, DebuggerError, Discard, Output, Position,
    Probe, Query, Result, ScanResult, StopKind, Time, Watch,
};
use serde_json::{json, Value};

use crate::classify::{changes_settings, types_ahead};
use crate::sync::SyncReader;

mod ahead;
mod peek;
mod sides;
mod stdio;
mod wait;

pub use stdio::ProgramInput;
use stdio::{interrupt_signal, program_stdin};

/// How to start a pdb session.
#[derive(Clone, Debug)]
pub struct PdbConfig {
    /// The Python interpreter to run (`python3` on PATH by default).
    pub python: OsString,
    /// Run `target` as a module (`-m`), not a script path.
    pub module: bool,
    /// The script path or module name.
    pub target: String,
    /// The program's arguments.
    pub args: Vec<String>,
    /// Where the program's standard input comes from.
    pub input: ProgramInput,
    /// A descriptor that becomes readable when the user presses Ctrl-C.
    pub interrupt_fd: Option<RawFd>,
    /// How often, in milliseconds of running, the agent checkpoints by itself (0: never).
    pub auto_checkpoint_ms: u64,
    /// How many of the checkpoints the agent takes by itself in one long run to keep, thinned
    /// as they come (dense near the present), so that a run of minutes does not leave
    /// thousands of processes behind before the next prompt thins them.
    pub max_running_checkpoints: usize,
}

/// How much of what a command prints the user sees.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Show {
    /// Everything (a normal command).
    All,
    /// Only what comes at the end of a replay: the stop and new program output.
    AfterReplay,
    /// Nothing (a scan).
    Nothing,
}

/// What the agent said when it reached a prompt.
struct Ready {
    pos: Position,
    scan: Option<Value>,
    /// Where the replay that led here left the recorded path, if it did.
    diverged: Option<String>,
    /// How many commands typed ahead the agent dropped here.
    dropped: usize,
}

impl Ready {
    /// An error if the replay that led here left the recorded path.
    fn on_course(&self) -> Result<()> {
        match &self.diverged {
            Some(d) => Err(DebuggerError::Failed(format!("replay diverged: {d}"))),
            None => Ok(()),
        }
    }
}

/// A running pdb session, implementing [`Debugger`].
pub struct PdbSession {
    sup: Supervisor,
    pos: Position,
    sync: SyncReader,
    forward_stdin: bool,
    /// A user command is running: the user's typing goes to the program. (Not during
    /// fred's own replays, which must never consume it.)
    running_user_command: bool,
    /// The running user command may run the program: fred's input goes to it.
    typing_to_program: bool,
    interrupt_fd: Option<RawFd>,
    deferred: VecDeque<Event>,
    snapshots_by_pid: HashMap<i32, Checkpoint>,
    new: Vec<Checkpoint>,
    max_new: usize,
    lost: Vec<CheckpointId>,
    settings: Value,
    /// A command of the user's may have changed `settings` since they were last asked for
    /// (replays and searches do not change them).
    settings_stale: bool,
    /// What the program read from its terminal: (event time, base64 bytes), in time order.
    input_log: Vec<(Time, Value)>,
    /// Clock and random values the program took: `[time, name, value]`, in time order.
    value_log: Vec<Value>,
    /// Files the program opened for appending: (event time, path, length then), in time
    /// order, to cut them back to on a restore.
    append_log: Vec<(Time, String, u64)>,
    /// The live process is at its prompt, able to answer requests (not running, as it
    /// still may be after a search was interrupted).
    live_idle: bool,
    ahead: ahead::Ahead,
    side_results: sides::SideResults,
}

impl PdbSession {
    /// Starts python with the agent and waits for the first stop (or the end, if the
    /// program cannot even start). What the program prints on the way goes to `out`.
    pub fn start(config: &PdbConfig, out: &mut dyn Output) -> Result<Self> {
        let dir = fred_personality::install_agent("agent", "fred_agent", crate::AGENT_FILES)?;
        let boot = format!(
            "import sys; sys.version_info >= (3, 8) or sys.exit('fred-pdb needs Python 3.8 \
             or newer; this is Python ' + sys.version.split()[0]); sys.path.insert(0, {:?}); \
             import fred_agent; fred_agent.main()",
            dir.to_string_lossy()
        );
        let mut args: Vec<OsString> = vec!["-c".into(), boot.into()];
        if config.module {
            args.push("--module".into());
        }
        args.push(config.target.clone().into());
        args.extend(config.args.iter().map(OsString::from));
        let mut env = vec![
            (
                "FRED_AUTO_CHECKPOINT_MS".to_string(),
                config.auto_checkpoint_ms.to_string(),
            ),
            ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
            (
                "FRED_INTERRUPT_SIGNAL".to_string(),
                interrupt_signal().to_string(),
            ),
        ];
        let stdin = program_stdin(config.input)?;
        if let Some(fd) = &stdin {
            env.push((
                "FRED_STDIN_FD".to_string(),
                std::os::fd::AsRawFd::as_raw_fd(fd).to_string(),
            ));
        }
        let sup = Supervisor::start(&config.python, &args, &env).map_err(failed);
        // The program has its own copy of the descriptor now (or never will).
        drop(stdin);
        let sup = sup?;
        let mut s = PdbSession {
            sup,
            pos: Position {
                time: 0,
                kind: StopKind::Finished,
                location: None,
                depth: None,
                event: None,
            },
            sync: SyncReader::default(),
            forward_stdin: config.input == ProgramInput::Terminal,
            running_user_command: true,
            typing_to_program: false,
            interrupt_fd: config.interrupt_fd,
            deferred: VecDeque::new(),
            snapshots_by_pid: HashMap::new(),
            new: Vec::new(),
            max_new: config.max_running_checkpoints.max(2),
            lost: Vec::new(),
            settings: Value::Null,
            settings_stale: true,
            input_log: Vec::new(),
            value_log: Vec::new(),
            append_log: Vec::new(),
            live_idle: false,
            ahead: ahead::Ahead::default(),
            side_results: sides::SideResults::new(),
        };
        let ready = s.wait_ready(out, Show::All, Some(Duration::from_secs(60)))?;
        s.pos = ready.pos;
        s.running_user_command = false;
        Ok(s)
    }
}

impl Debugger for PdbSession {
    fn prompt(&self) -> &str {
        "(Pdb) "
    }

    fn classify(&self, line: &str) -> CommandClass {
        crate::classify(line)
    }

    fn position(&self) -> &Position {
        &self.pos
    }

    fn execute(&mut self, line: &str, out: &mut dyn Output) -> Result<Position> {
        if self.sup.live_pid().is_none() {
            return Err(DebuggerError::Gone(
                "the debugged Python process is gone".into(),
            ));
        }
        let (typed_ahead, held) = self.ahead.begin(line)?;
        if !typed_ahead {
            self.sup.send(&json!({"line": line})).map_err(gone)?;
        }
        let mut visible = true;
        for piece in held {
            self.program_piece(piece, out, &mut visible, None);
        }
        self.live_idle = false;
        self.settings_stale = true;
        // Only a command that may run the program gives it what the user types; a line
        // typed (or pasted) ahead during `break` or `p` is the next command, as under pdb.
        self.typing_to_program = may_read_input(crate::classify(line));
        self.running_user_command = true;
        let ready = self.wait_ready(out, Show::All, None);
        self.running_user_command = false;
        if let Ok(r) = &ready {
            self.ahead.dropped(r.dropped);
        }
        for piece in self.ahead.end(ready.is_err()) {
            self.program_piece(piece, out, &mut visible, None);
        }
        self.pos = ready?.pos;
        if changes_settings(line) {
            // Kept here as they are now, so that they outlive a live process killed from
            // outside (a restore hands them to the next copy).
            self.current_settings();
        }
        Ok(self.pos.clone())
    }

    fn checkpoint(&mut self) -> Result<Checkpoint> {
        if self.pos.kind != StopKind::Stop {
            return Err(DebuggerError::Refused(
                "cannot checkpoint: the program has ended".into(),
            ));
        }
        let reply = self.request(json!({"fred": "checkpoint"}))?;
        if let Some(e) = reply.get("error").and_then(Value::as_str) {
            return Err(DebuggerError::Refused(e.to_string()));
        }
        let pid = reply["snapshot_pid"].as_i64().unwrap_or(0) as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut sink = Discard;
        let mut visible = true;
        while Instant::now() < deadline {
            if let Some(ck) = self.snapshots_by_pid.remove(&pid) {
                return Ok(ck);
            }
            let mut later = Vec::new();
            while let Some(ev) = self.next_event(Some(Duration::from_millis(100)))? {
                if let Some(other) = self.common(ev, &mut sink, &mut visible)? {
                    later.push(other);
                }
                if self.snapshots_by_pid.contains_key(&pid) {
                    break;
                }
            }
            self.deferred.extend(later);
        }
        Err(DebuggerError::Failed(
            "the checkpoint did not register".into(),
        ))
    }

    fn new_checkpoints(&mut self) -> Vec<Checkpoint> {
        std::mem::take(&mut self.new)
    }

    fn lost_checkpoints(&mut self) -> Vec<CheckpointId> {
        std::mem::take(&mut self.lost)
    }

    fn drop_checkpoint(&mut self, id: CheckpointId) {
        self.sup.drop_snapshot(id);
    }

    fn goto(&mut self, from: &Checkpoint, time: Time, out: &mut dyn Output) -> Result<Position> {
        let then = if from.time == time && from.at_stop {
            json!({})
        } else {
            json!({"fred": "goto", "time": time,
                   "checkpoints": self.checkpoint_times(from.time, time)})
        };
        self.restore(from, then)?;
        let ready = self.wait_ready(out, Show::AfterReplay, None)?;
        self.pos = ready.pos.clone();
        ready.on_course()?;
        Ok(self.pos.clone())
    }

    fn scan(&mut self, from: &Checkpoint, until: Time, query: &Query) -> Result<ScanResult> {
        self.scan_piece(from, until, query)
    }

    fn scan_pieces_for(&self, span: Time) -> usize {
        self.pieces_for(span)
    }

    fn scan_pieces(
        &mut self,
        pieces: &[(Checkpoint, Time)],
        query: &Query,
    ) -> Result<Vec<Option<ScanResult>>> {
        self.scan_side_by_side(pieces, query)
    }

    fn long_scans(&self) -> bool {
        // A scan costs the agent's clock well under a microsecond an event; a restore,
        // some milliseconds (two forks, a new connection).
        true
    }

    fn changed_since(
        &mut self,
        cks: &[Checkpoint],
        watch: &Watch,
        now: &str,
    ) -> Result<Option<Time>> {
        PdbSession::changed_since(self, cks, watch, now)
    }

    fn holds(&mut self, expr: &str) -> Result<(bool, String)> {
        let p = self.probe(&format!("bool({expr})"))?;
        Ok((p.value == "True", p.value))
    }

    fn probe(&mut self, expr: &str) -> Result<Probe> {
        let r = self.request(json!({"fred": "probe", "expr": expr}))?;
        if let Some(e) = r.get("error").and_then(Value::as_str) {
            return Err(DebuggerError::Refused(e.to_string()));
        }
        let w = &r["watch"];
        Ok(Probe {
            value: r["value"].as_str().unwrap_or("").to_string(),
            watch: Watch {
                expr: expr.to_string(),
                frame_depth: if w["local"].as_bool() == Some(true) {
                    w["depth"].as_u64().map(|d| d as u32)
                } else {
                    None
                },
                context: w["module"].as_str().unwrap_or("__main__").to_string(),
                isolated: false,
            },
        })
    }

    fn close(&mut self) {
        self.sup.shutdown();
    }

    fn breakpoints_set(&mut self) -> Result<bool> {
        let settings = self.current_settings();
        let bps = settings["breakpoints"].as_array();
        // (Settings not known: there may be some.)
        Ok(bps.is_none_or(|bps| bps.iter().any(|b| b["enabled"].as_bool() != Some(false))))
    }

    fn type_ahead(&mut self, lines: &[&str]) -> usize {
        let n = lines.iter().take_while(|l| types_ahead(l)).count();
        // The program's input must not depend on which command fred is reading the answer
        // of: not while what the user types goes to the program.
        if n < 2
            || self.ahead.len() > 0
            || self.forward_stdin
            || !self.live_idle
            || self.pos.kind != StopKind::Stop
        {
            return 0;
        }
        let text: Vec<&str> = lines[..n].iter().map(|l| l.trim()).collect();
        if self
            .sup
            .send(&json!({"fred": "ahead", "lines": text}))
            .is_err()
        {
            return 0;
        }
        self.ahead.typed(&lines[..n]);
        n
    }

    fn typed_ahead(&self) -> usize {
        self.ahead.len()
    }

    fn after_restart(&self, line: &str) -> Option<String> {
        // `run ARGS` / `restart ARGS`: at the start the program has not read its arguments
        // yet; they are set there (a change that pins the start anew) as pdb sets them.
        // Without: pdb's word on restarting, with the arguments it keeps.
        let args = line
            .trim()
            .split_once(char::is_whitespace)
            .map_or("", |(_, a)| a.trim());
        Some(if args.is_empty() {
            crate::classify::SAY_RESTARTED.to_string()
        } else {
            format!("{} {args}", crate::classify::SET_ARGUMENTS)
        })
    }
}

impl PdbSession {
    /// Restores `from` and scans up to `until` in the live process.
    fn scan_piece(&mut self, from: &Checkpoint, until: Time, query: &Query) -> Result<ScanResult> {
        let mut then = scan_request(query, until);
        then["checkpoints"] = json!(self.checkpoint_times(from.time, until));
        self.restore(from, then)?;
        let ready = self.wait_ready(&mut Discard, Show::Nothing, None)?;
        self.pos = ready.pos.clone();
        ready.on_course()?;
        match ready.scan {
            Some(v) => serde_json::from_value(v)
                .map_err(|e| DebuggerError::Failed(format!("bad scan report: {e}"))),
            None => Ok(ScanResult::default()),
        }
    }

    /// The times of the checkpoints strictly between `after` and `until`, in order: a
    /// replay or scan that passes one need not checkpoint there again.
    fn checkpoint_times(&self, after: Time, until: Time) -> Vec<Time> {
        let mut times: Vec<Time> = self
            .sup
            .snapshots()
            .filter_map(|(_, s)| s.hello["state"]["time"].as_u64())
            .filter(|t| *t > after && *t < until)
            .collect();
        times.sort_unstable();
        times.dedup();
        times
    }
}

/// The agent's scan request for a query.
fn scan_request(q: &Query, until: Time) -> Value {
    let kinds = q.kinds.as_ref().map(|ks| {
        ks.iter()
            .map(|k| serde_json::to_value(k).unwrap_or_default())
            .collect::<Vec<_>>()
    });
    let watch = q.watch.as_ref().map(|w| {
        json!({
            "expr": w.expr,
            "local": w.frame_depth.is_some(),
            "depth": w.frame_depth,
            "module": w.context,
            "isolated": w.isolated,
        })
    });
    json!({
        "fred": "scan",
        "until": until,
        "kinds": kinds,
        "depth": q.depth,
        "floor": q.floor,
        "breakpoints": q.breakpoints,
        "keep": q.keep,
        "watch": watch,
    })
}

fn failed(e: fred_ckpt::CkptError) -> DebuggerError {
    DebuggerError::Failed(e.to_string())
}

fn gone(_: fred_ckpt::CkptError) -> DebuggerError {
    DebuggerError::Gone("the debugged Python process is gone".into())
}

fn drain(fd: RawFd) {
    let mut buf = [0u8; 64];
    // SAFETY: reading into a local buffer from a non-blocking pipe.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

/// Whether a command of this class may run the program, so that the program may read
/// what the user types while it runs.
fn may_read_input(class: CommandClass) -> bool {
    !matches!(class, CommandClass::Inspect | CommandClass::Quit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_clock_values_come_back_to_the_program_to_the_last_bit() {
        // A clock value is logged as JSON and sent back on a restore: a float that came
        // back one unit in the last place off made the replayed past differ from the run.
        for text in [
            "1796152538.7606525",
            "1796152533.1360428",
            "0.30000000000000004",
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(v.to_string(), text);
        }
    }
}
