//! The interface between fred's timeline and a debugger.
//!
//! fred's reverse algorithms never speak pdb or gdb. They see the debugged program as a
//! sequence of numbered events (its *time*) and ask a [`Debugger`] for a few primitives:
//! run a user command, take a checkpoint, go to an event from a checkpoint, and scan the
//! stretch after a checkpoint for the last events that match a [`Query`]. A personality
//! (the pdb one, the gdb one) implements them in its debugger's terms.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

mod install;
pub use install::install_agent;

/// A point on the timeline: the number of events the program has executed. Every stop the
/// user can see has a distinct time, and the same time is the same program state again.
pub type Time = u64;

/// Identifies a checkpoint of the debugged session.
pub type CheckpointId = u64;

/// A source position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Absolute path of the source file.
    pub file: String,
    /// 1-based line number.
    pub line: u32,
    /// The function (or `<module>`) executing there.
    pub function: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = std::path::Path::new(&self.file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.file.clone());
        write!(f, "{}:{} {}", name, self.line, self.function)
    }
}

/// What kind of place the program is stopped at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopKind {
    /// Stopped at an event, with live frames.
    Stop,
    /// The program has run to its end.
    Finished,
    /// The program died of an uncaught exception or a fatal signal; frames are inspectable.
    PostMortem,
    /// The program has not been started yet (gdb before `run`): there is no timeline yet.
    NotStarted,
}

/// The kind of event a stop is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// About to execute a new line.
    Line,
    /// Entering a function.
    Call,
    /// About to return from a function.
    Return,
    /// An exception was raised.
    Exception,
}

/// Where the program stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The event the program is stopped at (for an ended program, one past the last event).
    pub time: Time,
    /// Stopped, finished or post-mortem.
    pub kind: StopKind,
    /// The innermost frame's source position, if there is a frame.
    pub location: Option<Location>,
    /// Call depth of the innermost frame (1 = the main module or `main`).
    pub depth: Option<u32>,
    /// The kind of event stopped at, when stopped.
    pub event: Option<EventKind>,
}

/// A checkpoint: a saved state of the session that can be restored any number of times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Its id.
    pub id: CheckpointId,
    /// The event it was taken at.
    pub time: Time,
    /// Taken at a stop (so its own event is a place the user could stand), rather than in
    /// the middle of a run.
    pub at_stop: bool,
    /// Where the program stood, to check that a replay through it stayed on course.
    pub location: Option<Location>,
    /// The kind of event it was taken at, for the same check.
    pub event: Option<EventKind>,
    /// When it was taken, where that was before the debugger reported it (the checkpoint
    /// at the program's start, taken on the way to the first stop): the session spaces its
    /// own checkpoints in time from it.
    pub taken: Option<std::time::Instant>,
}

/// Which checkpoint to drop next so that those left stay dense near `now` and sparser
/// further back: of `times` (oldest first; `pinned` ones and the first are never chosen),
/// the one whose neighbours are closest together relative to its distance from `now`.
/// Both the timeline (at prompts) and a personality (while a long run keeps adding
/// checkpoints) thin by this one rule, so memory stays bounded either way.
pub fn thinning_choice(times: &[Time], pinned: &[bool], now: Time) -> Option<usize> {
    let mut best: Option<(f64, usize)> = None;
    for i in 1..times.len() {
        if pinned.get(i).copied().unwrap_or(false) {
            continue;
        }
        let prev = times[i - 1];
        let next = times.get(i + 1).copied().unwrap_or(now.max(times[i]));
        let gap = next.saturating_sub(prev) as f64 + 1.0;
        let age = now.abs_diff(times[i]) as f64 + 1.0;
        let cost = gap / age;
        if best.is_none_or(|(c, _)| cost < c) {
            best = Some((cost, i));
        }
    }
    best.map(|(_, i)| i)
}

/// What a scan looks for: stops (events that single-stepping would stop at) before a time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Only these kinds of event; all kinds when `None`.
    pub kinds: Option<Vec<EventKind>>,
    /// Only events at this call depth.
    pub depth: Option<u32>,
    /// An event shallower than this forgets every match before it (the frame that the
    /// matches belonged to has returned), and the result says `broke`.
    pub floor: Option<u32>,
    /// Only events where an enabled breakpoint would stop (its condition evaluated).
    pub breakpoints: bool,
    /// How many of the last matches to return.
    pub keep: usize,
    /// Instead of the above: the stops at which this expression's value changes (a match is
    /// the stop whose statement changed it).
    pub watch: Option<Watch>,
    /// A time the last match is known to lie after: the search's first scan starts at the
    /// checkpoint there (see [`Debugger::changed_since`]).
    pub start: Option<Time>,
}

/// An expression to watch, as [`Debugger::probe`] found it at the current stop.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    /// The expression, as the user typed it.
    pub expr: String,
    /// It uses names local to the frame at this call depth, and is evaluated in that frame
    /// instance; `None`: it uses only globals and is evaluated wherever execution is.
    pub frame_depth: Option<u32>,
    /// What else the debugger needs to evaluate it (e.g. the module whose globals it uses).
    pub context: String,
    /// Evaluate it each time in a throwaway copy of the process, so that its side effects
    /// cannot change the program's course (slow; for expressions that turned out to).
    pub isolated: bool,
}

/// A watchpoint the user set in the debugger (gdb's `watch`), which `reverse-continue`
/// stops at as it does at breakpoints.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Watchpoint {
    /// How the debugger names it when it stops there, e.g. `Hardware watchpoint 2`.
    pub label: String,
    /// The watched expression.
    pub expr: String,
}

/// The value of an expression at the current stop, and how to watch it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The value, as the debugger prints it.
    pub value: String,
    /// How to watch it.
    pub watch: Watch,
}

/// One matching event found by a scan.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Found {
    /// When.
    pub time: Time,
    /// At which call depth.
    pub depth: u32,
    /// What kind of event.
    pub event: EventKind,
    /// Where.
    pub location: Location,
    /// For a watch: the value before this stop's statement ran.
    #[serde(default)]
    pub old: Option<String>,
    /// For a watch: the value after it.
    #[serde(default)]
    pub new: Option<String>,
}

/// What a scan found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ScanResult {
    /// The last matches, oldest first (at most `keep`).
    pub found: Vec<Found>,
    /// Whether an event shallower than the query's floor happened in the stretch.
    pub broke: bool,
    /// The first stop after the last such event (where the floor's frame was entered).
    #[serde(default)]
    pub entry: Option<Found>,
    /// The scan had to give up (e.g. a watched expression did not finish); one line.
    #[serde(default)]
    pub error: Option<String>,
    /// Where the program stood at the end of the stretch (to check the scan kept to the
    /// recorded course).
    #[serde(default)]
    pub reached: Option<Location>,
    /// The kind of event at the end of the stretch.
    #[serde(default)]
    pub reached_event: Option<EventKind>,
    /// For a watch whose evaluation runs code: its value at the end of the stretch as the
    /// scan saw it, shown as [`Probe::value`] shows it (one evaluated in place that changed
    /// what it watches ends with another value than the recorded history has there).
    #[serde(default)]
    pub last: Option<String>,
}

/// How a command the user typed relates to the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandClass {
    /// Runs the program forward (step, next, continue, ...).
    Motion,
    /// Only looks (print a name, list, where, break, ...): the timeline is untouched.
    Inspect,
    /// May change the program's state without running it (assignments, calls, jump):
    /// replaying the past would not reproduce it, so a checkpoint must pin it.
    Mutates,
    /// Ends the session.
    Quit,
    /// Starts the program again from the beginning.
    Restart,
}

/// Receives what a command prints, as it prints it.
pub trait Output {
    /// Bytes the program wrote to its terminal.
    fn program(&mut self, bytes: &[u8]);
    /// Text the debugger printed.
    fn debugger(&mut self, text: &str);
    /// The debugger reported an error (its text has already gone to [`Output::debugger`]);
    /// `message` is the one line, for structured output.
    fn debugger_error(&mut self, message: &str) {
        let _ = message;
    }
}

/// An [`Output`] that drops everything (for replays and searches nobody watches).
#[derive(Clone, Copy, Debug, Default)]
pub struct Discard;

impl Output for Discard {
    fn program(&mut self, _: &[u8]) {}
    fn debugger(&mut self, _: &str) {}
}

/// Errors of a debugger personality.
#[derive(Debug, thiserror::Error)]
pub enum DebuggerError {
    /// The debugger or the program process is gone.
    #[error("{0}")]
    Gone(String),
    /// The debugger refused (for example a checkpoint of a multi-threaded program).
    #[error("{0}")]
    Refused(String),
    /// Something failed underneath (I/O, protocol).
    #[error("{0}")]
    Failed(String),
    /// The user pressed Ctrl-C during a replay or a search.
    #[error("Interrupted.")]
    Interrupted,
    /// A checkpoint's process is gone (killed from outside); the timeline should forget it.
    #[error("checkpoint {0} is gone")]
    CheckpointLost(CheckpointId),
}

/// Result type of the [`Debugger`] trait.
pub type Result<T> = std::result::Result<T, DebuggerError>;

/// A debugger driven by fred: the whole interface the timeline and algorithms use.
pub trait Debugger {
    /// The debugger's prompt, e.g. `(Pdb) `.
    fn prompt(&self) -> &str;
    /// How `line` relates to the timeline.
    fn classify(&self, line: &str) -> CommandClass;
    /// Where the program stands now.
    fn position(&self) -> &Position;
    /// Passes a command to the debugger unchanged and waits for its next prompt.
    fn execute(&mut self, line: &str, out: &mut dyn Output) -> Result<Position>;
    /// Takes a checkpoint at the current stop.
    fn checkpoint(&mut self) -> Result<Checkpoint>;
    /// Checkpoints the debugger took by itself since the last call (during long runs).
    fn new_checkpoints(&mut self) -> Vec<Checkpoint>;
    /// Checkpoints whose processes went away since the last call (killed from outside).
    fn lost_checkpoints(&mut self) -> Vec<CheckpointId>;
    /// Discards a checkpoint.
    fn drop_checkpoint(&mut self, id: CheckpointId);
    /// Restores checkpoint `from` and runs silently to event `time`, where the debugger
    /// shows the stop as it would after a step. Replayed program output is not shown.
    fn goto(&mut self, from: &Checkpoint, time: Time, out: &mut dyn Output) -> Result<Position>;
    /// Restores checkpoint `from` and runs silently up to (not including) event `until`,
    /// collecting the last stops that match `query`, from the checkpoint's own event on.
    fn scan(&mut self, from: &Checkpoint, until: Time, query: &Query) -> Result<ScanResult>;
    /// Whether a search whose answer is not in the newest stretches between checkpoints
    /// should scan several stretches at a time, reaching back each time at least as far as
    /// it has scanned so far: worth it where restoring a checkpoint costs about as much as
    /// scanning a stretch. The default: one stretch at a time.
    fn long_scans(&self) -> bool {
        false
    }
    /// Into how many pieces, scanned at once, a scan over `span` of time is worth cutting
    /// (see [`Debugger::scan_pieces`]). The default: 1, one scan at a time.
    fn scan_pieces_for(&self, span: Time) -> usize {
        let _ = span;
        1
    }
    /// Scans consecutive pieces of a stretch, `(from, until)` each in time order (each
    /// piece's `until` is the next piece's checkpoint), at once where the debugger can:
    /// what [`Debugger::scan`] of each would give, in the same order; the last piece runs
    /// in the live process, which stands at its end afterwards. A piece that could not be
    /// scanned beside the others is `None` (the caller scans it again on its own). The
    /// default: one after another.
    fn scan_pieces(
        &mut self,
        pieces: &[(Checkpoint, Time)],
        query: &Query,
    ) -> Result<Vec<Option<ScanResult>>> {
        pieces
            .iter()
            .map(|(from, until)| self.scan(from, *until, query).map(Some))
            .collect()
    }
    /// The time of a checkpoint among `cks` (newest first) at which the value of `watch`,
    /// read there as the checkpoint holds it, without running anything, differs from `now`
    /// (its value where the search for its last change begins): the change lies after it.
    /// None when the debugger cannot tell so cheaply; the search then goes back stretch by
    /// stretch from the newest. (A reverse-watch whose change lies far back starts there.)
    fn changed_since(
        &mut self,
        cks: &[Checkpoint],
        watch: &Watch,
        now: &str,
    ) -> Result<Option<Time>> {
        let _ = (cks, watch, now);
        Ok(None)
    }
    /// Evaluates `expr` at the current stop without side effects on the session, and says
    /// how to watch it; an expression that cannot be watched is [`DebuggerError::Refused`].
    fn probe(&mut self, expr: &str) -> Result<Probe>;
    /// Evaluates `expr` as a condition at the current stop, without side effects on the
    /// session: whether it holds, and its value as the debugger prints it.
    fn holds(&mut self, expr: &str) -> Result<(bool, String)>;
    /// Whether an enabled breakpoint could stop the program: with none (and no
    /// watchpoints) `reverse-continue` goes straight to the start instead of searching
    /// the whole history for a hit. The default: there may be.
    fn breakpoints_set(&mut self) -> Result<bool> {
        Ok(true)
    }
    /// The enabled watchpoints the user set in the debugger itself (none for a debugger
    /// without them).
    fn watchpoints(&mut self) -> Result<Vec<Watchpoint>> {
        Ok(Vec::new())
    }
    /// Ends the session and every process of it.
    fn close(&mut self);
    /// fred has answered a command and waits for the next: a moment for housekeeping the
    /// answer did not have to wait for (such as letting go of spent process copies).
    fn idle(&mut self) {}
    /// Types forward commands (each [`CommandClass::Motion`]) ahead, before the answers of
    /// the ones before them have been read, so that the debugger never waits for fred
    /// between them (scripts). Returns how many of `lines`, from the first, it took (0:
    /// none; a personality need not do this). The next [`Debugger::execute`] calls, for
    /// these lines in order, read their answers; until [`Debugger::typed_ahead`] is 0,
    /// nothing else may be asked of the debugger.
    fn type_ahead(&mut self, lines: &[&str]) -> usize {
        let _ = lines;
        0
    }
    /// Lines typed ahead whose answers are still to be read (fewer than were typed when
    /// one stopped where fred must look before the rest run: those are run afresh).
    fn typed_ahead(&self) -> usize {
        0
    }
    /// After a command that starts the program again (`run`) has brought it back to the
    /// start of recorded history: the command that carries on as the debugger would
    /// (gdb's `run` goes on to the first breakpoint), if any. That command shows the start
    /// itself, as the debugger does after restarting (the landing there is not shown).
    fn after_restart(&self, line: &str) -> Option<String> {
        let _ = line;
        None
    }
    /// A time as the user reads it (in `fred-history`).
    fn show_time(&self, t: Time) -> String {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_shows_the_file_name_line_and_function() {
        let l = Location {
            file: "/abs/dir/prog.py".into(),
            line: 12,
            function: "update".into(),
        };
        assert_eq!(l.to_string(), "prog.py:12 update");
    }

    #[test]
    fn positions_read_as_the_agents_report_them() {
        let json = r#"{"time": 7, "kind": "postmortem", "location": null, "depth": 3}"#;
        let p: Position = serde_json::from_str(json).expect("parse");
        assert_eq!(p.kind, StopKind::PostMortem);
        assert_eq!(p.depth, Some(3));
        assert_eq!(p.event, None);
    }
}
