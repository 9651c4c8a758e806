//! The reverse algorithms, each one function over the timeline.
//!
//! Every reverse command is "find the last stop before now that satisfies a predicate".
//! [`find_last`] answers that with the checkpoints: it scans the stretch after the newest
//! checkpoint before now, and only if the answer is not there the stretch before it, and so
//! on, so the cost is proportional to how far back the answer lies, not to the length of
//! the history. The scans happen inside the debugged process (no round trip per step).
//! Each algorithm returns a [`Target`]; the session then lands there with a replay.

use fred_personality::{
    Debugger, DebuggerError, EventKind, Found, Location, Query, StopKind, Time, Watchpoint,
};

use crate::timeline::Timeline;

mod search;

use search::stop_location;
pub use search::{find_last, Landmark, Search};

/// Where a reverse command wants to go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The event to land on.
    pub time: Time,
    /// Where the program must be at that event (checked after the replay).
    pub expect: Option<Location>,
    /// Something to tell the user (e.g. that the start of history was reached).
    pub note: Option<String>,
    /// For a watch: the value before and after the statement landed on.
    pub values: Option<(String, String)>,
}

/// Why a reverse command cannot go anywhere.
#[derive(Debug, thiserror::Error)]
pub enum ReverseError {
    /// Nothing is recorded before the current position.
    #[error("Already at the start of recorded history.")]
    AtStart,
    /// `reverse-finish` in the outermost frame.
    #[error("\"reverse-finish\" not meaningful in the outermost frame.")]
    Outermost,
    /// A watched expression has no earlier change to go to from here.
    #[error("{0}")]
    Unchanged(String),
    /// The debugger failed underneath.
    #[error(transparent)]
    Debugger(#[from] DebuggerError),
}

/// Where an algorithm starts from: the current stop, or for a program that died of an
/// exception, the statement that raised it.
#[derive(Clone, Copy, Debug)]
struct Origin {
    time: Time,
    depth: u32,
    event: EventKind,
    /// Resolving the origin already went one step back (from the end to the raise).
    stepped: bool,
}

fn origin(dbg: &mut dyn Debugger, tl: &mut Timeline) -> Result<Option<Origin>, ReverseError> {
    let pos = dbg.position().clone();
    match pos.kind {
        StopKind::Stop => Ok(Some(Origin {
            time: pos.time,
            depth: pos.depth.unwrap_or(1),
            event: pos.event.unwrap_or(EventKind::Line),
            stepped: false,
        })),
        // A crash stops at the faulting statement, a place like any stop.
        StopKind::PostMortem if pos.event.is_some() => Ok(Some(Origin {
            time: pos.time,
            depth: pos.depth.unwrap_or(1),
            event: pos.event.unwrap_or(EventKind::Line),
            stepped: false,
        })),
        StopKind::PostMortem => {
            let q = Query {
                kinds: Some(vec![EventKind::Exception]),
                depth: pos.depth,
                keep: 1,
                ..Query::default()
            };
            let s = find_last(dbg, tl, pos.time, None, &q)?;
            Ok(s.found.last().map(|f| Origin {
                time: f.time,
                depth: f.depth,
                event: f.event,
                stepped: true,
            }))
        }
        StopKind::Finished | StopKind::NotStarted => Ok(None),
    }
}

fn target(f: &Found, note: Option<String>) -> Target {
    Target {
        time: f.time,
        expect: Some(f.location.clone()),
        note,
        values: f.old.clone().zip(f.new.clone()),
    }
}

const START_NOTE: &str = "Reached the start of recorded history.";

/// `reverse-step N`: the stop N single steps back, so that `step` from there comes here.
/// From a program that died of an exception, the first step back lands on the statement
/// that raised it, live, with its locals.
pub fn reverse_step(
    dbg: &mut dyn Debugger,
    tl: &mut Timeline,
    n: u64,
) -> Result<Target, ReverseError> {
    let now = dbg.position().time;
    let mut n = n as usize;
    let mut before = now;
    if let Some(o) = origin(dbg, tl)? {
        if o.stepped {
            if n == 1 {
                return Ok(Target {
                    time: o.time,
                    expect: None,
                    note: None,
                    values: None,
                });
            }
            n -= 1;
            before = o.time;
        }
    }
    let q = Query {
        keep: n,
        ..Query::default()
    };
    let here = stop_location(dbg);
    let s = find_last(dbg, tl, before, here.as_ref().filter(|_| before == now), &q)?;
    match s.found.first() {
        None => Err(ReverseError::AtStart),
        Some(f) if s.found.len() < n => Ok(target(f, Some(START_NOTE.into()))),
        Some(f) => Ok(target(f, None)),
    }
}

/// The statements a `next` in a frame can start from: its lines and the exceptions it
/// stopped at (not its `--Call--` stop, so that at a function's first line going back
/// leaves the function, as gdb does).
fn lines_at(depth: u32) -> Query {
    Query {
        kinds: Some(vec![EventKind::Line, EventKind::Exception]),
        depth: Some(depth),
        floor: Some(depth),
        keep: 1,
        ..Query::default()
    }
}

/// `reverse-next N`: back to the previous line executed in the current frame, over calls;
/// at the first line of a function, to the caller's line that made the call.
pub fn reverse_next(
    dbg: &mut dyn Debugger,
    tl: &mut Timeline,
    n: u64,
) -> Result<Target, ReverseError> {
    let Some(mut at) = origin(dbg, tl)? else {
        return reverse_step(dbg, tl, n);
    };
    let mut last: Option<Found> = None;
    let mut left = if at.stepped { n - 1 } else { n };
    if at.stepped && left == 0 {
        return Ok(Target {
            time: at.time,
            expect: None,
            note: None,
            values: None,
        });
    }
    while left > 0 {
        let depth = if at.event == EventKind::Call {
            at.depth.saturating_sub(1).max(1)
        } else {
            at.depth
        };
        let mut s = find_last(dbg, tl, at.time, None, &lines_at(depth))?;
        if s.found.is_empty() && s.broke && depth > 1 {
            s = find_last(dbg, tl, at.time, None, &lines_at(depth - 1))?;
        }
        match s.found.pop() {
            Some(f) => {
                at = Origin {
                    time: f.time,
                    depth: f.depth,
                    event: f.event,
                    stepped: false,
                };
                last = Some(f);
            }
            None => {
                return match last {
                    Some(f) => Ok(target(&f, Some(START_NOTE.into()))),
                    None => Err(ReverseError::AtStart),
                }
            }
        }
        left -= 1;
    }
    Ok(target(&last.expect("at least one step"), None))
}

/// `reverse-finish`: back to the caller's line that called the current function, before
/// the call.
pub fn reverse_finish(dbg: &mut dyn Debugger, tl: &mut Timeline) -> Result<Target, ReverseError> {
    let Some(at) = origin(dbg, tl)? else {
        return reverse_step(dbg, tl, 1);
    };
    if at.depth <= 1 {
        return Err(ReverseError::Outermost);
    }
    let q = Query {
        kinds: Some(vec![EventKind::Line]),
        depth: Some(at.depth - 1),
        floor: Some(at.depth),
        keep: 1,
        ..Query::default()
    };
    let s = find_last(dbg, tl, at.time, None, &q)?;
    match s.found.last() {
        Some(f) => Ok(target(f, None)),
        None => Err(ReverseError::AtStart),
    }
}

/// `reverse-continue N`: back to the Nth most recent earlier point where an enabled
/// breakpoint would have stopped (conditions evaluated there) or a watchpoint's expression
/// was changed (at the statement that changed it, as gdb's own reverse execution stops);
/// with none, to the start.
pub fn reverse_continue(
    dbg: &mut dyn Debugger,
    tl: &mut Timeline,
    n: u64,
) -> Result<Target, ReverseError> {
    let now = dbg.position().time;
    let start = tl.start().clone();
    if now <= start.time {
        return Err(ReverseError::AtStart);
    }
    let watchpoints = dbg.watchpoints()?;
    // Breakpoint hits alone come out of one scan, N at once; with watchpoints, each stop
    // back is the later of the last hit and the last changes before the previous one.
    let (rounds, keep) = if watchpoints.is_empty() {
        (1, n as usize)
    } else {
        (n, 1)
    };
    let mut before = now;
    let mut at_before = stop_location(dbg);
    let mut stop = None;
    let nothing_stops = watchpoints.is_empty() && !dbg.breakpoints_set()?;
    for _ in 0..rounds {
        let q = Query {
            kinds: Some(vec![EventKind::Line]),
            breakpoints: true,
            keep,
            ..Query::default()
        };
        let mut next = None;
        if !nothing_stops {
            let s = find_last(dbg, tl, before, at_before.as_ref(), &q)?;
            next = s
                .found
                .first()
                .filter(|_| s.found.len() >= keep)
                .map(|f| target(f, None));
        }
        for w in &watchpoints {
            if let Some(change) = last_change(dbg, tl, w, before, at_before.as_ref())? {
                if next.as_ref().is_none_or(|t| change.time > t.time) {
                    next = Some(change);
                }
            }
        }
        let Some(next) = next else {
            return Ok(Target {
                time: start.time,
                expect: start.location.clone(),
                note: Some(
                    "No earlier breakpoint hit in recorded history; at the start.".to_string(),
                ),
                values: None,
            });
        };
        before = next.time;
        at_before = next.expect.clone().map(|location| Landmark {
            location,
            event: Some(EventKind::Line),
            value: None,
        });
        stop = Some(next);
    }
    Ok(stop.expect("at least one round"))
}

/// The last statement before `before` that changed a watchpoint's expression; none if it
/// did not change, or cannot be evaluated here (a local of a frame that has gone).
fn last_change(
    dbg: &mut dyn Debugger,
    tl: &mut Timeline,
    w: &Watchpoint,
    before: Time,
    at_before: Option<&Landmark>,
) -> Result<Option<Target>, ReverseError> {
    let probe = match dbg.probe(&w.expr) {
        Ok(p) => p,
        Err(DebuggerError::Refused(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let q = Query {
        floor: probe.watch.frame_depth,
        keep: 1,
        watch: Some(probe.watch),
        ..Query::default()
    };
    let s = find_last(dbg, tl, before, at_before, &q)?;
    Ok(s.found.last().map(|f| {
        let note = format!(
            "{}: {}\n\nOld value = {}\nNew value = {}",
            w.label,
            w.expr,
            f.old.as_deref().unwrap_or("?"),
            f.new.as_deref().unwrap_or("?")
        );
        target(f, Some(note))
    }))
}

/// `reverse-watch EXPR`: back to the last statement before now that changed EXPR's value,
/// stopped just before it (so `step` runs the change again). The expression is first
/// evaluated here, without side effects, to catch a bad one and to fix its scope: on the
/// current frame's locals it is followed in this frame instance, and the search ends where
/// the frame was entered; on globals it is followed wherever execution is.
pub fn reverse_watch(
    dbg: &mut dyn Debugger,
    tl: &mut Timeline,
    expr: &str,
) -> Result<Target, ReverseError> {
    let pos = dbg.position().clone();
    let start = tl.start().clone();
    let probe = dbg.probe(expr)?;
    let mut before = pos.time;
    let mut at_before = stop_location(dbg).map(|l| Landmark {
        value: Some(probe.value.clone()),
        ..l
    });
    if let (StopKind::PostMortem, Some(depth), None) =
        (pos.kind, probe.watch.frame_depth, pos.event)
    {
        // The watched frame died of the exception: search its life, which ends at the
        // exception passing through it.
        let q = Query {
            kinds: Some(vec![EventKind::Exception]),
            depth: Some(depth),
            keep: 1,
            ..Query::default()
        };
        if let Some(f) = find_last(dbg, tl, pos.time, None, &q)?.found.pop() {
            before = f.time;
            at_before = Some(Landmark {
                location: f.location,
                event: Some(f.event),
                value: None,
            });
        }
    }
    let changed_since = dbg.changed_since(&tl.before(before), &probe.watch, &probe.value)?;
    let q = Query {
        floor: probe.watch.frame_depth,
        keep: 1,
        watch: Some(probe.watch),
        start: changed_since,
        ..Query::default()
    };
    let s = find_last(dbg, tl, before, at_before.as_ref(), &q)?;
    if let Some(f) = s.found.last() {
        let note = format!(
            "reverse-watch: {expr} changed at this statement\nOld value: {}\nNew value: {}",
            f.old.as_deref().unwrap_or("?"),
            f.new.as_deref().unwrap_or("?")
        );
        return Ok(target(f, Some(note)));
    }
    if s.broke && s.entry.as_ref().is_none_or(|e| e.time >= pos.time) {
        return Err(ReverseError::Unchanged(format!(
            "{expr} has not changed since this frame was entered, and this is its entry."
        )));
    }
    if let (true, Some(entry)) = (s.broke, &s.entry) {
        let note = format!(
            "reverse-watch: {expr} has not changed since {} was entered (value {}); \
             stopped where it was entered.",
            entry.location.function, probe.value
        );
        return Ok(target(entry, Some(note)));
    }
    if pos.time <= start.time {
        return Err(ReverseError::AtStart);
    }
    Ok(Target {
        time: start.time,
        expect: start.location.clone(),
        note: Some(format!(
            "reverse-watch: {expr} never changed in recorded history (value {}); at the start.",
            probe.value
        )),
        values: None,
    })
}
