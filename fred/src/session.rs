//! A debugging session: one command at a time, against the debugger and the timeline.

use fred_personality::{
    Checkpoint, CommandClass, Debugger, DebuggerError, Discard, Location, Output, Position,
    StopKind, Time,
};

use crate::command::{parse, Command, HELP};
use crate::output::Progress;
use crate::reverse::{self, ReverseError, Target};
use crate::timeline::Timeline;

mod builtins;

/// How the session places checkpoints.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// At a prompt after running forward, take a checkpoint if the newest one is at least
    /// this many events back...
    pub prompt_spacing: Time,
    /// ...and was taken at least this long ago (so a script that runs many short commands
    /// does not fork at every prompt; what ran since is quick to replay anyway).
    pub prompt_interval: std::time::Duration,
    /// Keep at most this many checkpoints (older ones are thinned out exponentially).
    pub max_checkpoints: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            prompt_spacing: 1000,
            prompt_interval: std::time::Duration::from_millis(50),
            max_checkpoints: 48,
        }
    }
}

/// Automatic checkpoints at prompts are at least this many times their own cost apart, so
/// that they take at most about 2.5% of the time of a session that runs forward (gdb's,
/// at about 6 ms, are then a quarter of a second of running apart, quick to replay).
const CHECKPOINT_COST_SHARE: u32 = 40;

/// At most this many of a script's next lines are offered to be typed ahead at once (each
/// offer reads them all, at every command).
const AHEAD_WINDOW: usize = 64;

/// What running one command came to.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    /// The command failed; one line for the user.
    pub error: Option<String>,
    /// The session should end.
    pub quit: bool,
    /// The debugger or program is gone for good; the session cannot go on.
    pub fatal: bool,
    /// For reverse-watch: the watched value before and after the statement landed on.
    pub values: Option<(String, String)>,
    /// A `fred-expect` did not hold (the message is in `error`).
    pub failed: bool,
}

impl Reply {
    fn error(msg: impl Into<String>) -> Self {
        Reply {
            error: Some(msg.into()),
            ..Reply::default()
        }
    }
}

/// A session: a debugger personality plus the timeline of what happened in it.
pub struct Session {
    dbg: Box<dyn Debugger>,
    tl: Timeline,
    /// The program has stopped at least once, and the timeline starts there.
    started: bool,
    policy: Policy,
    last_checkpoint: std::time::Instant,
    /// What the last automatic checkpoint took, which spaces the next one.
    checkpoint_cost: std::time::Duration,
    /// The checkpoints the user took (`fred-checkpoint`), which fred says it drops.
    taken_by_user: std::collections::BTreeSet<fred_personality::CheckpointId>,
    /// What the last command (other than `fred-expect`) printed, for `fred-expect output`.
    last_output: String,
    /// Why the debugger refused the first checkpoint, once said (each later stop tries
    /// again, and says so only if the reason changes).
    refusal: Option<String>,
}

impl Session {
    /// Starts the timeline at the debugger's current (first) stop, with a checkpoint there.
    /// A debugger whose program has not started yet (gdb before `run`) gets its timeline
    /// at the first stop.
    pub fn new(mut dbg: Box<dyn Debugger>, policy: Policy) -> Result<Self, DebuggerError> {
        let start = dbg.position().clone();
        let started = match start.kind {
            StopKind::Stop => true,
            StopKind::NotStarted => false,
            _ => {
                return Err(DebuggerError::Gone(
                    "the program ended before its first line could run".into(),
                ))
            }
        };
        let first = if started {
            dbg.checkpoint()?
        } else {
            Checkpoint {
                id: 0,
                time: start.time,
                at_stop: false,
                location: None,
                event: None,
                taken: None,
            }
        };
        let tl = Timeline::new(start, first, policy.max_checkpoints);
        Ok(Session {
            dbg,
            tl,
            started,
            policy,
            last_checkpoint: std::time::Instant::now(),
            checkpoint_cost: std::time::Duration::ZERO,
            taken_by_user: Default::default(),
            last_output: String::new(),
            refusal: None,
        })
    }

    /// Before the program has stopped for the first time there is nothing to travel in:
    /// commands go to the debugger as they are; the first stop starts the timeline.
    fn unstarted(&mut self, line: &str, cmd: Command, out: &mut dyn Output) -> Reply {
        match cmd {
            Command::Debugger(_) => {}
            Command::Help => {
                out.debugger(HELP);
                return Reply::default();
            }
            _ => {
                return Reply::error(match &self.refusal {
                    Some(why) => format!("No time travel in this run: {why}"),
                    None => "The program is not being run.".into(),
                })
            }
        }
        if self.dbg.classify(line) == CommandClass::Quit {
            return Reply {
                quit: true,
                ..Reply::default()
            };
        }
        let pos = match self.dbg.execute(line, out) {
            Ok(p) => p,
            Err(e) => {
                return Reply {
                    fatal: matches!(e, DebuggerError::Gone(_)),
                    ..Reply::error(e.to_string())
                }
            }
        };
        if let Some(first) = self
            .dbg
            .new_checkpoints()
            .into_iter()
            .min_by_key(|c| c.time)
        {
            // The debugger stopped at the program's start on the way and checkpointed
            // there: the timeline starts with the program.
            let start = Position {
                time: first.time,
                kind: StopKind::Stop,
                location: first.location.clone(),
                depth: Some(1),
                event: first.event,
            };
            self.tl = Timeline::new(start, first.clone(), self.policy.max_checkpoints);
            self.started = true;
            self.last_checkpoint = first.taken.unwrap_or_else(std::time::Instant::now);
            if pos.time != first.time {
                self.tl.record(line, first.time, pos.clone());
                // As at any prompt: not when what ran since the start is quick to replay.
                let recent = first
                    .taken
                    .is_some_and(|t| t.elapsed() < self.policy.prompt_interval);
                if pos.kind == StopKind::Stop && !recent {
                    self.checkpoint_quietly();
                }
            }
        } else if pos.kind == StopKind::Stop {
            match self.dbg.checkpoint() {
                Ok(first) => {
                    self.tl = Timeline::new(pos, first, self.policy.max_checkpoints);
                    self.started = true;
                    self.last_checkpoint = std::time::Instant::now();
                }
                Err(e) => {
                    let why = e.to_string();
                    if self.refusal.as_ref() != Some(&why) {
                        out.debugger(&format!("fred: no time travel: {why}\n"));
                        self.refusal = Some(why);
                    }
                }
            }
        }
        Reply::default()
    }

    /// Where the program stands.
    pub fn position(&self) -> &Position {
        self.dbg.position()
    }

    /// The debugger's prompt.
    pub fn prompt(&self) -> &str {
        self.dbg.prompt()
    }

    /// The timeline (for reports and tests).
    pub fn timeline(&self) -> &Timeline {
        &self.tl
    }

    /// The answer to the last command is out: the debugger may tidy up before the next.
    pub fn idle(&mut self) {
        if self.dbg.typed_ahead() == 0 {
            self.dbg.idle();
        }
    }

    /// `lines` are the commands to come, the first of them next (a script's): lets the
    /// debugger type the forward commands among the first of them ahead, so that it runs
    /// them back to back. Only where going forward from here needs nothing of fred between
    /// them: the program stands at a stop at the end of its history.
    pub fn type_ahead(&mut self, lines: &[&str]) {
        if !self.started
            || self.dbg.typed_ahead() > 0
            || self.tl.in_the_past()
            || self.dbg.position().kind != StopKind::Stop
        {
            return;
        }
        let motions = lines
            .iter()
            .take(AHEAD_WINDOW)
            .take_while(|l| {
                matches!(parse(l), Ok(Command::Debugger(_)))
                    && self.dbg.classify(l) == CommandClass::Motion
            })
            .count();
        if motions > 1 {
            self.dbg.type_ahead(&lines[..motions]);
        }
    }

    /// Runs one command line; what it prints goes to `out`.
    pub fn run(&mut self, line: &str, out: &mut dyn Output) -> Reply {
        let cmd = match parse(line) {
            Ok(c) => c,
            Err(e) => return Reply::error(e.0),
        };
        if let Command::Expect(e) = cmd {
            return self.expect(&e);
        }
        let mut tee = Tee {
            out,
            text: String::new(),
        };
        let reply = if self.started {
            self.dispatch(line, cmd, &mut tee)
        } else {
            self.unstarted(line, cmd, &mut tee)
        };
        self.last_output = tee.text;
        reply
    }

    fn dispatch(&mut self, line: &str, cmd: Command, out: &mut dyn Output) -> Reply {
        let result = match cmd {
            Command::ReverseStep(n) => {
                self.travel(line, out, |d, t| reverse::reverse_step(d, t, n))
            }
            Command::ReverseNext(n) => {
                self.travel(line, out, |d, t| reverse::reverse_next(d, t, n))
            }
            Command::ReverseFinish => self.travel(line, out, reverse::reverse_finish),
            Command::ReverseContinue(n) => {
                self.travel(line, out, |d, t| reverse::reverse_continue(d, t, n))
            }
            Command::ReverseWatch(expr) => {
                self.travel(line, out, |d, t| reverse::reverse_watch(d, t, &expr))
            }
            Command::Checkpoint => self.manual_checkpoint(out),
            Command::Restart(n) => self.restart_checkpoint(n, out),
            Command::History => {
                self.absorb_checkpoints();
                out.debugger(&self.history());
                Ok(Reply::default())
            }
            Command::Goto(n) => self.goto_entry(n, out),
            Command::Undo(n) => self.undo(n, out),
            Command::Help => {
                out.debugger(HELP);
                Ok(Reply::default())
            }
            Command::Debugger(line) => self.debugger_command(&line, out),
            Command::Expect(_) => Ok(Reply::default()),
        };
        match result {
            Ok(r) => r,
            Err(e @ DebuggerError::Gone(_)) => Reply {
                error: Some(e.to_string()),
                fatal: true,
                ..Reply::default()
            },
            Err(e) => Reply::error(e.to_string()),
        }
    }

    /// Ends the session and every process of it.
    pub fn close(&mut self) {
        self.dbg.close();
    }

    fn debugger_command(
        &mut self,
        line: &str,
        out: &mut dyn Output,
    ) -> Result<Reply, DebuggerError> {
        let before = self.dbg.position().clone();
        let class = self.dbg.classify(line);
        match class {
            CommandClass::Quit => {
                return Ok(Reply {
                    quit: true,
                    ..Reply::default()
                })
            }
            CommandClass::Restart => {
                let start = self.tl.start().clone();
                let next = self.dbg.after_restart(line);
                // With a command to follow, that command shows the start as the debugger
                // does after restarting.
                match next {
                    Some(_) => self.land(start.time, start.location.clone(), &mut Discard)?,
                    None => self.land(start.time, start.location.clone(), out)?,
                };
                self.tl.set_cursor(0);
                if let Some(next) = next {
                    return self.debugger_command(&next, out);
                }
                return Ok(Reply::default());
            }
            CommandClass::Motion if before.kind != StopKind::Stop => {
                return Ok(Reply::error(
                    "The program has ended; go back with a reverse command, or 'run' it again from the start.",
                ))
            }
            _ => {}
        }
        let after = match self.dbg.execute(line, out) {
            Ok(p) => p,
            Err(DebuggerError::Gone(why)) if before.kind == StopKind::Stop => {
                // The program's process died under us (os._exit, a signal): go back to
                // where the command started, which the checkpoints still hold.
                self.land(before.time, before.location.clone(), out)?;
                return Ok(Reply::error(format!(
                    "{why} while running '{}'; back where it started.",
                    line.trim()
                )));
            }
            Err(e) => return Err(e),
        };
        let moved = after.time != before.time;
        if moved && self.tl.in_the_past() {
            // A new branch: the old future's checkpoints may hold states this branch never
            // reaches (after a change made there). (Before the command's own checkpoints
            // join the timeline, which are of this branch.)
            for id in self.tl.drop_after(before.time) {
                self.dbg.drop_checkpoint(id);
            }
        }
        self.absorb_checkpoints();
        if moved {
            self.tl.record(line, before.time, after.clone());
        }
        if after.kind == StopKind::Stop {
            if class == CommandClass::Mutates {
                // Replay would not redo this change, so pin the changed state.
                let kept: Vec<String> = self
                    .tl
                    .checkpoints()
                    .iter()
                    .filter(|k| k.ck.time > after.time && self.taken_by_user.contains(&k.ck.id))
                    .map(|k| k.ck.id.to_string())
                    .collect();
                for id in self.tl.drop_after(after.time) {
                    self.dbg.drop_checkpoint(id);
                }
                if !kept.is_empty() {
                    // Checkpoints the user means to go back to: say where they went.
                    out.debugger(&format!(
                        "fred: '{}' may have changed the program's state, so the old future's \
                         checkpoints are dropped ({}).\n",
                        line.trim(),
                        kept.join(", ")
                    ));
                }
                let ck = self.dbg.checkpoint()?;
                self.tl.add(ck, true);
            } else if moved && self.dbg.typed_ahead() == 0 {
                let newest = self.tl.restore_point(after.time).map_or(0, |c| c.time);
                if after.time - newest >= self.policy.prompt_spacing
                    && self.last_checkpoint.elapsed()
                        >= self
                            .policy
                            .prompt_interval
                            .max(self.checkpoint_cost * CHECKPOINT_COST_SHARE)
                {
                    self.checkpoint_quietly();
                }
            }
        }
        self.thin();
        Ok(Reply::default())
    }

    /// Runs a reverse algorithm and lands on its target. A failed search leaves the user
    /// where they were.
    fn travel<F>(
        &mut self,
        line: &str,
        out: &mut dyn Output,
        alg: F,
    ) -> Result<Reply, DebuggerError>
    where
        F: FnOnce(&mut dyn Debugger, &mut Timeline) -> Result<Target, ReverseError>,
    {
        let home = self.dbg.position().clone();
        if home.kind == StopKind::Stop && !self.tl.has_stop_checkpoint_at(home.time) {
            self.checkpoint_quietly();
        }
        let progress = Progress::start(format!(
            "{}: searching back from t={}",
            line.trim(),
            self.dbg.show_time(home.time)
        ));
        let result = alg(self.dbg.as_mut(), &mut self.tl);
        self.absorb_checkpoints();
        drop(progress);
        let target = match result {
            Ok(t) => t,
            Err(e) => {
                // A search moves the live process; one cut short by Ctrl-C or a failure
                // (even the process dying) leaves it anywhere: go back home, from the
                // checkpoints. Only if that fails too is the session lost.
                let unsure = matches!(e, ReverseError::Debugger(_));
                if unsure || self.dbg.position().time != home.time {
                    self.land(home.time, home.location.clone(), &mut Discard)?;
                }
                let msg = match e {
                    ReverseError::Debugger(DebuggerError::Interrupted) => {
                        "Interrupted; back where you were.".to_string()
                    }
                    e => e.to_string(),
                };
                return Ok(Reply::error(msg));
            }
        };
        let landed = self.land_or_back(target.time, target.expect.clone(), out, &home);
        if let Some(note) = &target.note {
            out.debugger(&format!("{note}\n"));
        }
        match landed {
            Ok(_) => Ok(Reply {
                values: target.values,
                ..Reply::default()
            }),
            Err(DebuggerError::Interrupted) => {
                self.land(home.time, home.location.clone(), &mut Discard)?;
                Ok(Reply::error("Interrupted; back where you were."))
            }
            Err(e @ DebuggerError::Gone(_)) => {
                self.land(home.time, home.location.clone(), &mut Discard)?;
                Ok(Reply::error(format!("{e}; back where you were.")))
            }
            Err(e) => Ok(Reply::error(e.to_string())),
        }
    }

    /// Goes to event `time` (restore the latest checkpoint at or before it, replay), and
    /// checks that the replay reached the recorded place.
    fn land(
        &mut self,
        time: Time,
        expect: Option<Location>,
        out: &mut dyn Output,
    ) -> Result<Position, DebuggerError> {
        let pos = loop {
            // Without a checkpoint (all killed from outside) nothing can be reached again.
            let ck = self.tl.restore_point(time).cloned().ok_or_else(|| {
                DebuggerError::Gone(format!(
                    "no checkpoint is left to reach t={} (their processes are gone)",
                    self.dbg.show_time(time)
                ))
            })?;
            match self.dbg.goto(&ck, time, out) {
                // Killed from outside: forget it and use the one before.
                Err(DebuggerError::CheckpointLost(id)) => self.tl.remove(id),
                r => break r?,
            }
        };
        self.absorb_checkpoints();
        self.tl.moved_to(pos.time);
        self.thin();
        let place_ok = match (&expect, &pos.location) {
            (Some(e), Some(p)) => e.file == p.file && e.line == p.line,
            _ => true,
        };
        if pos.time != time || !place_ok {
            return Err(DebuggerError::Failed(format!(
                "replay diverged: expected t={} at {}, reached t={} at {}",
                self.dbg.show_time(time),
                expect.map_or("?".to_string(), |l| l.to_string()),
                self.dbg.show_time(pos.time),
                pos.location
                    .map_or("the end".to_string(), |l| l.to_string()),
            )));
        }
        Ok(pos)
    }

    /// Lands on `time` as [`Session::land`] does; a replay that went elsewhere than the
    /// recorded history is undone by going back to `home` (where the command started), so
    /// the user is never left standing in a past that did not happen.
    fn land_or_back(
        &mut self,
        time: Time,
        expect: Option<Location>,
        out: &mut dyn Output,
        home: &Position,
    ) -> Result<Position, DebuggerError> {
        let cursor = self.tl.cursor();
        match self.land(time, expect, out) {
            Err(DebuggerError::Failed(why)) => {
                if self
                    .land(home.time, home.location.clone(), &mut Discard)
                    .is_ok()
                {
                    self.tl.set_cursor(cursor);
                    Err(DebuggerError::Failed(format!(
                        "{why}; back where you were."
                    )))
                } else {
                    Err(DebuggerError::Failed(why))
                }
            }
            r => r,
        }
    }

    fn checkpoint_quietly(&mut self) {
        let started = std::time::Instant::now();
        if let Ok(ck) = self.dbg.checkpoint() {
            self.tl.add(ck, false);
            self.last_checkpoint = std::time::Instant::now();
            self.checkpoint_cost = started.elapsed();
        }
    }

    fn absorb_checkpoints(&mut self) {
        for ck in self.dbg.new_checkpoints() {
            self.tl.add(ck, false);
            self.last_checkpoint = std::time::Instant::now();
        }
        for id in self.dbg.lost_checkpoints() {
            self.tl.remove(id);
        }
    }

    fn thin(&mut self) {
        if self.dbg.typed_ahead() > 0 {
            return; // (the next commands are on their way: not now)
        }
        let now = self.dbg.position().time;
        for id in self.tl.thin(now) {
            self.dbg.drop_checkpoint(id);
        }
    }

    /// Checkpoints of the timeline (ids and times), for reports.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        self.tl.checkpoints().iter().map(|k| k.ck.clone()).collect()
    }
}

/// A short description of a position: `t=12 demo.py:4 f`.
pub fn describe(dbg: &dyn Debugger, p: &Position) -> String {
    let t = dbg.show_time(p.time);
    match (&p.kind, &p.location) {
        (StopKind::Finished, _) => format!("t={t} (program finished)"),
        (StopKind::PostMortem, Some(l)) => format!("t={t} (post-mortem at {l})"),
        (_, Some(l)) => format!("t={t} {l}"),
        (_, None) => format!("t={t}"),
    }
}

/// Passes output on and keeps a copy of it as text.
struct Tee<'a> {
    out: &'a mut dyn Output,
    text: String,
}

impl Output for Tee<'_> {
    fn program(&mut self, bytes: &[u8]) {
        self.text.push_str(&String::from_utf8_lossy(bytes));
        self.out.program(bytes);
    }

    fn debugger(&mut self, text: &str) {
        self.text.push_str(text);
        self.out.debugger(text);
    }

    fn debugger_error(&mut self, message: &str) {
        self.out.debugger_error(message);
    }
}
