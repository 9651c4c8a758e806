//! A pdb session: the agent's process tree under a [`Supervisor`], spoken to in JSON.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fred_ckpt::{Event, Supervisor};
use fred_personality::{
    Checkpoint, CheckpointId, CommandClass, Debugger, DebuggerError, Output, Position, Probe,
    Query, Result, ScanResult, StopKind, Time, Watch,
};
use serde_json::{json, Value};

use crate::sync::{Piece, SyncReader};

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
    /// Pass what the user types on fred's stdin to the program while it runs.
    pub forward_stdin: bool,
    /// A descriptor that becomes readable when the user presses Ctrl-C.
    pub interrupt_fd: Option<RawFd>,
    /// How often, in milliseconds of running, the agent checkpoints by itself (0: never).
    pub auto_checkpoint_ms: u64,
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
    interrupt_fd: Option<RawFd>,
    deferred: VecDeque<Event>,
    snapshots_by_pid: HashMap<i32, Checkpoint>,
    new: Vec<Checkpoint>,
    lost: Vec<CheckpointId>,
    settings: Value,
    /// What the program read from its terminal: (event time, base64 bytes), in time order.
    input_log: Vec<(Time, Value)>,
    /// The live process is at its prompt, able to answer requests (not running, as it
    /// still may be after a search was interrupted).
    live_idle: bool,
}

impl PdbSession {
    /// Starts python with the agent and waits for the first stop (or the end, if the
    /// program cannot even start). What the program prints on the way goes to `out`.
    pub fn start(config: &PdbConfig, out: &mut dyn Output) -> Result<Self> {
        let dir = install_agent()?;
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
        let env = vec![
            (
                "FRED_AUTO_CHECKPOINT_MS".to_string(),
                config.auto_checkpoint_ms.to_string(),
            ),
            ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
        ];
        let sup = Supervisor::start(&config.python, &args, &env).map_err(failed)?;
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
            forward_stdin: config.forward_stdin,
            running_user_command: true,
            interrupt_fd: config.interrupt_fd,
            deferred: VecDeque::new(),
            snapshots_by_pid: HashMap::new(),
            new: Vec::new(),
            lost: Vec::new(),
            settings: Value::Null,
            input_log: Vec::new(),
            live_idle: false,
        };
        let ready = s.wait_ready(out, Show::All, Some(Duration::from_secs(60)))?;
        s.pos = ready.pos;
        s.running_user_command = false;
        Ok(s)
    }

    /// The next event, if one comes within `timeout`: one queued earlier, or a fresh one
    /// from the supervisor. One at a time, so nothing behind an event that ends a wait is
    /// lost.
    fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<Event>> {
        if self.deferred.is_empty() {
            let evs = self.poll_supervisor(timeout)?;
            self.deferred.extend(evs);
        }
        Ok(self.deferred.pop_front())
    }

    fn poll_supervisor(&mut self, timeout: Option<Duration>) -> Result<Vec<Event>> {
        let mut extra = Vec::new();
        if let Some(fd) = self.interrupt_fd {
            extra.push(fd);
        }
        if self.forward_stdin && self.running_user_command {
            extra.push(0);
        }
        let evs = self.sup.poll(timeout, &extra).map_err(failed)?;
        if std::env::var_os("FRED_TRACE").is_some() {
            for ev in &evs {
                eprintln!("[fred] {ev:?}");
            }
        }
        Ok(evs)
    }

    /// Handles the events every wait must handle; returns the rest.
    fn common(
        &mut self,
        ev: Event,
        out: &mut dyn Output,
        show: &mut bool,
    ) -> Result<Option<Event>> {
        match ev {
            Event::Output(bytes) => {
                self.program_output(&bytes, out, show, None);
                Ok(None)
            }
            Event::Snapshot(id) => {
                if let Some(info) = self.sup.snapshot(id) {
                    let state = &info.hello["state"];
                    let ck = Checkpoint {
                        id,
                        time: state["time"].as_u64().unwrap_or(0),
                        at_stop: info.hello["at_stop"].as_bool().unwrap_or(false),
                        location: serde_json::from_value(state["location"].clone()).ok(),
                        event: serde_json::from_value(state["event"].clone()).ok(),
                    };
                    if ck.at_stop {
                        self.snapshots_by_pid.insert(info.pid, ck);
                    } else {
                        self.new.push(ck);
                    }
                }
                Ok(None)
            }
            Event::SnapshotLost(id) => {
                self.lost.push(id);
                Ok(None)
            }
            Event::Message(msg) if msg.get("input").is_some() => {
                let time = msg["input"]["time"].as_u64().unwrap_or(0);
                // Input read again in a new branch replaces the old future's input.
                self.input_log.retain(|(t, _)| *t < time);
                self.input_log.push((time, msg["input"]["data"].clone()));
                Ok(None)
            }
            Event::LiveLost => Err(DebuggerError::Gone(
                "the debugged Python process died".to_string(),
            )),
            Event::Exited(_) if self.sup.live_pid().is_none() => Err(DebuggerError::Gone(
                "the Python process exited before the debugger could start".to_string(),
            )),
            Event::Exited(_) => Ok(None),
            Event::Readable(fd) if Some(fd) == self.interrupt_fd => {
                drain(fd);
                if self.running_user_command {
                    self.sup.interrupt();
                    Ok(None)
                } else {
                    Err(DebuggerError::Interrupted)
                }
            }
            Event::Readable(0) => {
                let mut buf = [0u8; 4096];
                // SAFETY: reading into a local buffer of the given size.
                let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    self.forward_stdin = false;
                    let _ = self.sup.write_input(b"\x04");
                } else {
                    let _ = self.sup.write_input(&buf[..n as usize]);
                }
                Ok(None)
            }
            other => Ok(Some(other)),
        }
    }

    /// Passes the program's terminal output on while `show` holds; `reveal_at` turns `show`
    /// on at that sync marker (the end of a replay, after which output is new).
    fn program_output(
        &mut self,
        bytes: &[u8],
        out: &mut dyn Output,
        show: &mut bool,
        reveal_at: Option<u64>,
    ) {
        for piece in self.sync.feed(bytes) {
            match piece {
                Piece::Bytes(b) if *show => out.program(&b),
                Piece::Bytes(_) => {}
                Piece::Marker(m) if reveal_at.is_some_and(|n| m >= n) => *show = true,
                Piece::Marker(_) => {}
            }
        }
    }

    /// Reads the pty until sync marker `n` has gone by, so that everything the program
    /// wrote before the agent spoke has been handled.
    fn sync_to(
        &mut self,
        n: u64,
        out: &mut dyn Output,
        show: &mut bool,
        replay: bool,
    ) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut later = Vec::new();
        while self.sync.last < n && Instant::now() < deadline {
            for ev in self
                .sup
                .poll(Some(Duration::from_millis(20)), &[])
                .map_err(failed)?
            {
                match ev {
                    Event::Output(bytes) => {
                        self.program_output(&bytes, out, show, replay.then_some(n));
                    }
                    other => later.push(other),
                }
            }
        }
        if replay {
            *show = true;
        }
        self.deferred.extend(later);
        Ok(())
    }

    /// Waits for the agent's next prompt, passing output on as `show` says.
    fn wait_ready(
        &mut self,
        out: &mut dyn Output,
        show: Show,
        limit: Option<Duration>,
    ) -> Result<Ready> {
        let deadline = limit.map(|l| Instant::now() + l);
        let mut program_visible = show == Show::All;
        loop {
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Err(DebuggerError::Gone(
                        "the debugged Python process did not answer".to_string(),
                    ));
                }
            }
            while let Some(ev) = self.next_event(Some(Duration::from_millis(500)))? {
                let Some(ev) = self.common(ev, out, &mut program_visible)? else {
                    continue;
                };
                let Event::Message(msg) = ev else { continue };
                if let Some(n) = msg.get("sync").and_then(Value::as_u64) {
                    self.sync_to(n, out, &mut program_visible, show == Show::AfterReplay)?;
                    if show == Show::Nothing {
                        program_visible = false;
                    }
                }
                if let Some(text) = msg.get("out").and_then(Value::as_str) {
                    if show != Show::Nothing {
                        out.debugger(text);
                    }
                } else if let Some(state) = msg.get("ready") {
                    if let Some(notes) = msg.get("notices").and_then(Value::as_array) {
                        for n in notes.iter().filter_map(Value::as_str) {
                            out.debugger(&format!("*** fred: {n}\n"));
                        }
                    }
                    let pos: Position = serde_json::from_value(state.clone())
                        .map_err(|e| DebuggerError::Failed(format!("bad stop report: {e}")))?;
                    self.live_idle = true;
                    self.drain_quietly(out, program_visible);
                    return Ok(Ready {
                        pos,
                        scan: msg.get("scan").cloned(),
                    });
                }
            }
        }
    }

    /// Shows program output that is already waiting (the marker was seen), without waiting.
    fn drain_quietly(&mut self, out: &mut dyn Output, visible: bool) {
        let mut v = visible;
        if let Ok(evs) = self.sup.poll(Some(Duration::ZERO), &[]) {
            for ev in evs {
                if let Ok(Some(other)) = self.common(ev, out, &mut v) {
                    self.deferred.push_back(other);
                }
            }
        }
    }

    /// Sends a request that the agent answers at its prompt with `{"reply": ...}`.
    fn request(&mut self, msg: Value) -> Result<Value> {
        self.sup.send(&msg).map_err(gone)?;
        let mut sink = Discard;
        let mut visible = true;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            while let Some(ev) = self.next_event(Some(Duration::from_millis(500)))? {
                if let Some(Event::Message(m)) = self.common(ev, &mut sink, &mut visible)? {
                    if let Some(r) = m.get("reply") {
                        return Ok(r.clone());
                    }
                }
            }
        }
        Err(DebuggerError::Gone(
            "the debugged Python process did not answer".into(),
        ))
    }

    /// The debugger settings (breakpoints, aliases) of the live process, to carry over to
    /// a restored copy; the last known ones if the live process cannot answer.
    fn current_settings(&mut self) -> Value {
        if self.sup.live_pid().is_some() && self.live_idle {
            if let Ok(r) = self.request(json!({"fred": "settings"})) {
                self.settings = r["settings"].clone();
            }
        }
        self.settings.clone()
    }

    /// Restores `from` and hands the fresh copy `then`; waits until it has connected.
    fn restore(&mut self, from: &Checkpoint, then: Value) -> Result<()> {
        let settings = self.current_settings();
        if std::env::var_os("FRED_TRACE").is_some() {
            eprintln!("[fred] resume {} then {then}", from.id);
        }
        self.live_idle = false;
        let input: Vec<Value> = self
            .input_log
            .iter()
            .filter(|(t, _)| *t >= from.time)
            .map(|(t, d)| json!([t, d]))
            .collect();
        self.sup
            .resume(
                from.id,
                json!({"settings": settings, "then": then, "input": input}),
            )
            .map_err(|e| match e {
                fred_ckpt::CkptError::NoSnapshot(id) => DebuggerError::CheckpointLost(id),
                e => DebuggerError::Failed(format!("cannot restore checkpoint {}: {e}", from.id)),
            })?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut sink = Discard;
        let mut visible = false;
        while Instant::now() < deadline {
            while let Some(ev) = self.next_event(Some(Duration::from_millis(500)))? {
                match self.common(ev, &mut sink, &mut visible) {
                    Ok(Some(Event::LiveConnected(_))) => return Ok(()),
                    Ok(_) | Err(DebuggerError::Gone(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Err(DebuggerError::Failed(format!(
            "checkpoint {} did not resume",
            from.id
        )))
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
        self.sup.send(&json!({"line": line})).map_err(gone)?;
        self.live_idle = false;
        self.running_user_command = true;
        let ready = self.wait_ready(out, Show::All, None);
        self.running_user_command = false;
        self.pos = ready?.pos;
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
            json!({"fred": "goto", "time": time})
        };
        self.restore(from, then)?;
        let ready = self.wait_ready(out, Show::AfterReplay, None)?;
        self.pos = ready.pos;
        Ok(self.pos.clone())
    }

    fn scan(&mut self, from: &Checkpoint, until: Time, query: &Query) -> Result<ScanResult> {
        let then = scan_request(query, until);
        self.restore(from, then)?;
        let ready = self.wait_ready(&mut Discard, Show::Nothing, None)?;
        self.pos = ready.pos;
        match ready.scan {
            Some(v) => serde_json::from_value(v)
                .map_err(|e| DebuggerError::Failed(format!("bad scan report: {e}"))),
            None => Ok(ScanResult::default()),
        }
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

/// An [`Output`] that drops everything.
struct Discard;

impl Output for Discard {
    fn program(&mut self, _: &[u8]) {}
    fn debugger(&mut self, _: &str) {}
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

/// Writes the agent package to a per-version cache directory; returns the directory to
/// put on Python's path.
fn install_agent() -> Result<PathBuf> {
    let mut hash: u64 = 0xcbf29ce484222325;
    for (name, text) in crate::AGENT_FILES {
        for b in name.bytes().chain(text.bytes()) {
            hash = (hash ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("fred").join(format!("agent-{hash:016x}"));
    let pkg = dir.join("fred_agent");
    let current = crate::AGENT_FILES
        .iter()
        .all(|(name, text)| std::fs::read_to_string(pkg.join(name)).ok().as_deref() == Some(*text));
    if current {
        return Ok(dir);
    }
    let io =
        |e: std::io::Error| DebuggerError::Failed(format!("cannot install the pdb agent: {e}"));
    std::fs::create_dir_all(&pkg).map_err(io)?;
    for (name, text) in crate::AGENT_FILES {
        let tmp = pkg.join(format!("{name}.{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, pkg.join(name)).map_err(io)?;
    }
    Ok(dir)
}
