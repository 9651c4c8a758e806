//! Waiting on the agent: events from the supervisor, program output in order with pdb's
//! output (sync markers), prompts, and request/reply exchanges.

use std::time::{Duration, Instant};

use fred_ckpt::Event;
use fred_personality::{Checkpoint, DebuggerError, Discard, Output, Position, Result, Time};
use serde_json::{json, Value};

use super::{drain, failed, gone, PdbSession, Ready, Show};
use crate::sync::Piece;

impl PdbSession {
    /// The next event, if one comes within `timeout`: one queued earlier, or a fresh one
    /// from the supervisor. One at a time, so nothing behind an event that ends a wait is
    /// lost.
    pub(super) fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<Event>> {
        if self.deferred.is_empty() {
            let evs = self.poll_supervisor(timeout)?;
            self.deferred.extend(evs);
        }
        Ok(self.deferred.pop_front())
    }

    pub(super) fn poll_supervisor(&mut self, timeout: Option<Duration>) -> Result<Vec<Event>> {
        let mut extra = Vec::new();
        if let Some(fd) = self.interrupt_fd {
            extra.push(fd);
        }
        if self.forward_stdin && self.running_user_command && self.typing_to_program {
            extra.push(0);
        }
        let evs = self.sup.poll(timeout, &extra).map_err(failed)?;
        // FRED_TRACE=1 logs the protocol to stderr, for working on fred itself.
        if std::env::var_os("FRED_TRACE").is_some() {
            for ev in &evs {
                eprintln!("[fred] {ev:?}");
            }
        }
        Ok(evs)
    }

    /// Handles the events every wait must handle; returns the rest.
    pub(super) fn common(
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
                        taken: None,
                    };
                    if ck.at_stop {
                        self.snapshots_by_pid.insert(info.pid, ck);
                    } else {
                        self.new.push(ck);
                        self.thin_new();
                    }
                }
                Ok(None)
            }
            Event::SnapshotLost(id) => {
                self.lost.push(id);
                Ok(None)
            }
            ev @ (Event::SideMessage(..) | Event::SideLost(_)) => {
                self.side_event(&ev);
                Ok(None)
            }
            Event::Message(msg) if msg.get("input").is_some() => {
                let time = msg["input"]["time"].as_u64().unwrap_or(0);
                // Input read again in a new branch replaces the old future's input. One
                // read may come in several pieces at the same time (a long line, a
                // `read()` of everything up to the end of file): they all stay.
                self.input_log.retain(|(t, _)| *t <= time);
                self.input_log.push((time, msg["input"]["data"].clone()));
                Ok(None)
            }
            Event::Message(msg) if msg.get("append").is_some() => {
                let a = &msg["append"];
                let time = a["time"].as_u64().unwrap_or(0);
                self.append_log.retain(|(t, _, _)| *t <= time);
                self.append_log.push((
                    time,
                    a["path"].as_str().unwrap_or("").to_string(),
                    a["size"].as_u64().unwrap_or(0),
                ));
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
                    self.sup.interrupt(super::interrupt_signal());
                    Ok(None)
                } else {
                    Err(DebuggerError::Interrupted)
                }
            }
            Event::Readable(0) => {
                let mut buf = [0u8; 4096];
                // SAFETY: reading into a local buffer of the given size.
                let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                if n == 0 {
                    // Ctrl-D on the user's terminal: an end of file for the program's read,
                    // as a terminal gives it; the user may type on afterwards.
                    let _ = self.sup.write_input(b"\x04");
                } else if n < 0 {
                    // The terminal is gone: nothing more will come from it.
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

    /// Keeps the checkpoints taken during this run within bounds, dropping those the
    /// timeline would drop first.
    fn thin_new(&mut self) {
        while self.new.len() > self.max_new {
            let times: Vec<Time> = self.new.iter().map(|c| c.time).collect();
            let now = times.last().copied().unwrap_or(0);
            let Some(i) = fred_personality::thinning_choice(&times, &[], now) else {
                break;
            };
            let gone = self.new.remove(i);
            self.sup.drop_snapshot(gone.id);
        }
    }

    /// Passes the program's terminal output on while `show` holds; `reveal_at` turns `show`
    /// on at that sync marker (the end of a replay, after which output is new).
    pub(super) fn program_output(
        &mut self,
        bytes: &[u8],
        out: &mut dyn Output,
        show: &mut bool,
        reveal_at: Option<u64>,
    ) {
        for piece in self.sync.feed(bytes) {
            self.program_piece(piece, out, show, reveal_at);
        }
    }

    /// [`PdbSession::program_output`] for one piece (or held, while commands are typed
    /// ahead: see `ahead`).
    pub(super) fn program_piece(
        &mut self,
        piece: Piece,
        out: &mut dyn Output,
        show: &mut bool,
        reveal_at: Option<u64>,
    ) {
        if let Some(piece) = self.ahead.hold(piece) {
            self.show_piece(piece, out, show, reveal_at);
        }
    }

    fn show_piece(
        &mut self,
        piece: Piece,
        out: &mut dyn Output,
        show: &mut bool,
        reveal_at: Option<u64>,
    ) {
        match piece {
            Piece::Bytes(b) if *show => out.program(&b),
            Piece::Bytes(_) => {}
            Piece::Marker(m) if reveal_at.is_some_and(|n| m >= n) => *show = true,
            Piece::Marker(_) => {}
        }
    }

    /// Reads the pty until sync marker `n` has gone by, so that everything the program
    /// wrote before the agent spoke has been handled.
    pub(super) fn sync_to(
        &mut self,
        n: u64,
        out: &mut dyn Output,
        show: &mut bool,
        replay: bool,
    ) -> Result<()> {
        // The marker is on the pty before the message that names it is sent, so it comes;
        // the bound only guards against a process that died in between.
        let deadline = Instant::now() + Duration::from_secs(10);
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
        for piece in self.ahead.claim(n) {
            self.show_piece(piece, out, show, replay.then_some(n));
        }
        if replay {
            *show = true;
        }
        self.deferred.extend(later);
        Ok(())
    }

    /// Waits for the agent's next prompt, passing output on as `show` says.
    pub(super) fn wait_ready(
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
                        if let Some(e) = msg.get("error").and_then(Value::as_str) {
                            out.debugger_error(e);
                        }
                    }
                } else if let Some(state) = msg.get("ready") {
                    if let Some(notes) = msg.get("notices").and_then(Value::as_array) {
                        for n in notes.iter().filter_map(Value::as_str) {
                            out.debugger(&format!("*** fred: {n}\n"));
                        }
                    }
                    if let Some(values) = msg.get("values").and_then(Value::as_array) {
                        self.record_values(values);
                    }
                    let pos: Position = serde_json::from_value(state.clone())
                        .map_err(|e| DebuggerError::Failed(format!("bad stop report: {e}")))?;
                    self.live_idle = true;
                    self.drain_quietly(out, program_visible);
                    return Ok(Ready {
                        pos,
                        scan: msg.get("scan").cloned(),
                        diverged: msg
                            .get("diverged")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        dropped: msg.get("dropped").and_then(Value::as_u64).unwrap_or(0) as usize,
                    });
                }
            }
        }
    }

    /// Shows program output that is already waiting (the marker was seen), without waiting.
    pub(super) fn drain_quietly(&mut self, out: &mut dyn Output, visible: bool) {
        let mut v = visible;
        if let Ok(evs) = self.sup.poll(Some(Duration::ZERO), &[]) {
            for ev in evs {
                if let Ok(Some(other)) = self.common(ev, out, &mut v) {
                    self.deferred.push_back(other);
                }
            }
        }
    }

    /// Keeps the clock and random values the program took, `[time, name, value]` each; values
    /// taken again in a new branch replace the old future's.
    pub(super) fn record_values(&mut self, values: &[Value]) {
        if let Some(first) = values.first().and_then(|v| v[0].as_u64()) {
            self.value_log
                .retain(|v| v[0].as_u64().unwrap_or(0) < first);
        }
        self.value_log.extend(values.iter().cloned());
    }

    /// Sends a request that the agent answers at its prompt with `{"reply": ...}`.
    pub(super) fn request(&mut self, msg: Value) -> Result<Value> {
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
    pub(super) fn current_settings(&mut self) -> Value {
        if self.settings_stale && self.sup.live_pid().is_some() && self.live_idle {
            if let Ok(r) = self.request(json!({"fred": "settings"})) {
                self.settings = r["settings"].clone();
                self.settings_stale = false;
            }
        }
        self.settings.clone()
    }

    /// Restores `from` and hands the fresh copy `then`; waits until it has connected.
    pub(super) fn restore(&mut self, from: &Checkpoint, then: Value) -> Result<()> {
        let request = self.resume_request(from, then);
        self.live_idle = false;
        self.sup
            .resume(from.id, request)
            // Its connection is gone too when its process was killed.
            .map_err(|_| DebuggerError::CheckpointLost(from.id))?;
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
                if self.lost.contains(&from.id) {
                    // Its process was killed from outside: it will never answer.
                    return Err(DebuggerError::CheckpointLost(from.id));
                }
            }
            if self.lost.contains(&from.id) {
                return Err(DebuggerError::CheckpointLost(from.id));
            }
        }
        Err(DebuggerError::Failed(format!(
            "checkpoint {} did not resume",
            from.id
        )))
    }

    /// What a copy of `from` is handed: the settings, and the input, clock values and file
    /// lengths to replay from there; then `then`.
    pub(super) fn resume_request(&mut self, from: &Checkpoint, then: Value) -> Value {
        let settings = self.current_settings();
        if std::env::var_os("FRED_TRACE").is_some() {
            eprintln!("[fred] resume {} then {then}", from.id);
        }
        let input: Vec<Value> = self
            .input_log
            .iter()
            .filter(|(t, _)| *t >= from.time)
            .map(|(t, d)| json!([t, d]))
            .collect();
        let values: Vec<&Value> = self
            .value_log
            .iter()
            .filter(|v| v[0].as_u64().unwrap_or(0) >= from.time)
            .collect();
        // Each file first opened for appending after the checkpoint, at its length then.
        let mut truncate: Vec<(&str, u64)> = Vec::new();
        for (_, path, size) in self.append_log.iter().filter(|(t, _, _)| *t >= from.time) {
            if !truncate.iter().any(|(p, _)| p == path) {
                truncate.push((path, *size));
            }
        }
        // The copy numbers its sync markers above every marker seen so far, so a replay's
        // end is never mistaken for an older marker.
        json!({"settings": settings, "then": then, "input": input, "values": values,
               "truncate": truncate, "sync_from": self.sync.last})
    }
}
