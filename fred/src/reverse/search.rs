//! The search under every reverse command: the last stops before a time that match a
//! query, found stretch by stretch from the newest checkpoint back.

use fred_personality::{
    Checkpoint, Debugger, DebuggerError, EventKind, Found, Location, Query, ScanResult, StopKind,
    Time,
};

use crate::timeline::Timeline;

/// The last matches of a search, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// The matches (at most the query's `keep`), oldest first.
    pub found: Vec<Found>,
    /// The frame the query was tied to was entered inside the searched history, so no
    /// earlier match can belong to it.
    pub broke: bool,
    /// When `broke`: the first stop in that frame.
    pub entry: Option<Found>,
}

/// Finds the last `q.keep` stops before `before` that match `q`, scanning the stretches
/// between checkpoints from the newest back, and stopping as soon as enough are found.
/// Where scans are cheap next to restores ([`Debugger::long_scans`]), each scan after the
/// first reaches back at least as far as all the scans before it (a scan of several
/// stretches finds what scans of each would). With `q.start`, the first scan starts there.
/// `at_before` is where the program stands at `before`, if known: every stretch must end
/// where the recorded history says, or the scan went off course. A watched expression whose
/// evaluation did that (side effects) is evaluated in throwaway copies from then on.
pub fn find_last(
    dbg: &mut dyn Debugger,
    tl: &mut Timeline,
    before: Time,
    at_before: Option<&Landmark>,
    q: &Query,
) -> Result<Search, DebuggerError> {
    loop {
        match search(dbg, tl, before, at_before, q) {
            Err(DebuggerError::CheckpointLost(_)) => continue,
            r => return r,
        }
    }
}

fn search(
    dbg: &mut dyn Debugger,
    tl: &mut Timeline,
    before: Time,
    at_before: Option<&Landmark>,
    q: &Query,
) -> Result<Search, DebuggerError> {
    let mut out = Search::default();
    let mut q = q.clone();
    let mut upper = before;
    let mut expect = at_before.cloned();
    let long = dbg.long_scans();
    let mut scanned: Time = 0;
    let cks = tl.before(before);
    let mut next = q
        .start
        .and_then(|s| cks.iter().position(|c| c.time <= s))
        .unwrap_or(0);
    while next < cks.len() {
        let mut i = next;
        while long && i + 1 < cks.len() && upper.saturating_sub(cks[i].time) < scanned {
            i += 1;
        }
        next = i + 1;
        let ck = cks[i].clone();
        if ck.time >= upper {
            continue;
        }
        let mut r = match scan_in_pieces(dbg, tl, &cks, &ck, upper, &q, out.found.len())? {
            Some(r) => r,
            None => scan(dbg, tl, &ck, upper, &q, out.found.len())?,
        };
        if !on_course(&r, expect.as_ref()) || changed_its_course(&r, expect.as_ref()) {
            if let Some(w) = q.watch.as_mut().filter(|w| !w.isolated) {
                w.isolated = true;
                r = scan(dbg, tl, &ck, upper, &q, out.found.len())?;
            }
            if !on_course(&r, expect.as_ref()) {
                return Err(DebuggerError::Failed(format!(
                    "replay diverged: the search from t={} reached t={} at {}, not at {}",
                    dbg.show_time(ck.time),
                    dbg.show_time(upper),
                    r.reached.map_or("?".into(), |l| l.to_string()),
                    expect.map_or("?".into(), |l| l.location.to_string()),
                )));
            }
        }
        if let Some(e) = r.error {
            return Err(DebuggerError::Refused(e));
        }
        let mut found = r.found;
        found.append(&mut out.found);
        out.found = found;
        if r.broke {
            out.broke = true;
            out.entry = r.entry;
            break;
        }
        if out.found.len() >= q.keep {
            break;
        }
        scanned += upper - ck.time;
        upper = ck.time;
        expect = ck.location.clone().map(|location| Landmark {
            location,
            event: ck.event,
            value: None,
        });
    }
    Ok(out)
}

/// One stretch of [`find_last`]: scan from `ck` to `upper` for what is still wanted.
fn scan(
    dbg: &mut dyn Debugger,
    tl: &mut Timeline,
    ck: &Checkpoint,
    upper: Time,
    q: &Query,
    have: usize,
) -> Result<ScanResult, DebuggerError> {
    let want = Query {
        keep: q.keep - have,
        ..q.clone()
    };
    let r = dbg.scan(ck, upper, &want);
    after_scan(dbg, tl, r)
}

/// What a scan's answer means for the timeline: the checkpoints it took join it; one found
/// killed from outside leaves it (the search is redone without it).
fn after_scan<T>(
    dbg: &mut dyn Debugger,
    tl: &mut Timeline,
    r: Result<T, DebuggerError>,
) -> Result<T, DebuggerError> {
    if let Err(DebuggerError::CheckpointLost(id)) = &r {
        tl.remove(*id);
    }
    let r = r?;
    for new in dbg.new_checkpoints() {
        tl.add(new, false);
    }
    Ok(r)
}

/// [`scan`] of a long stretch cut at checkpoints into pieces scanned at once (where the
/// debugger can: [`Debugger::scan_pieces_for`]), for a watch of globals: the pieces' matches
/// together, the last piece's end. `None` where it does not apply, or a piece could not be
/// scanned beside the others or did not end where its next piece starts: then the stretch
/// is scanned whole.
fn scan_in_pieces(
    dbg: &mut dyn Debugger,
    tl: &mut Timeline,
    cks: &[Checkpoint],
    ck: &Checkpoint,
    upper: Time,
    q: &Query,
    have: usize,
) -> Result<Option<ScanResult>, DebuggerError> {
    let global_watch = q
        .watch
        .as_ref()
        .is_some_and(|w| w.frame_depth.is_none() && !w.isolated);
    let n = dbg.scan_pieces_for(upper - ck.time);
    if !global_watch || q.floor.is_some() || n < 2 {
        return Ok(None);
    }
    let pieces = cut(cks, ck, upper, n);
    if pieces.len() < 2 {
        return Ok(None);
    }
    let want = Query {
        keep: q.keep - have,
        ..q.clone()
    };
    let results = dbg.scan_pieces(&pieces, &want);
    let results = after_scan(dbg, tl, results)?;
    let mut whole = ScanResult::default();
    let last = pieces.len() - 1;
    for (i, r) in results.into_iter().enumerate().rev() {
        if i < last && whole.found.len() >= want.keep {
            break; // (the pieces before are older than every match wanted)
        }
        let Some(mut r) = r else { return Ok(None) };
        if let Some((next, _)) = pieces.get(i + 1) {
            let start = next.location.clone().map(|location| Landmark {
                location,
                event: next.event,
                value: None,
            });
            if r.last.is_some() || !on_course(&r, start.as_ref()) {
                return Ok(None);
            }
        } else {
            (whole.reached, whole.reached_event, whole.last) = (r.reached, r.reached_event, r.last);
        }
        if r.error.is_some() {
            whole.error = r.error;
            return Ok(Some(whole));
        }
        r.found.append(&mut whole.found);
        let extra = r.found.len().saturating_sub(want.keep);
        whole.found = r.found.split_off(extra);
    }
    Ok(Some(whole))
}

/// Cuts the stretch from `ck` to `upper` into at most `n` pieces of about equal length at
/// checkpoints of `cks` (newest first) inside it: `(from, until)` each, in time order.
fn cut(cks: &[Checkpoint], ck: &Checkpoint, upper: Time, n: usize) -> Vec<(Checkpoint, Time)> {
    let inside: Vec<&Checkpoint> = cks
        .iter()
        .rev()
        .filter(|c| c.time > ck.time && c.time < upper)
        .collect();
    let span = upper - ck.time;
    let mut starts = vec![ck.clone()];
    for k in 1..n as Time {
        let aim = ck.time + span * k / n as Time;
        let nearest = inside
            .iter()
            .min_by_key(|c| c.time.abs_diff(aim))
            .filter(|c| c.time > starts.last().map_or(0, |s| s.time));
        if let Some(c) = nearest {
            starts.push((*c).clone());
        }
    }
    let ends: Vec<Time> = starts
        .iter()
        .skip(1)
        .map(|c| c.time)
        .chain([upper])
        .collect();
    starts.into_iter().zip(ends).collect()
}

/// Where the recorded history has the program standing at some event: a replay through
/// that event must find it there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Landmark {
    /// The source position.
    pub location: Location,
    /// The kind of event, when known.
    pub event: Option<EventKind>,
    /// The watched expression's value there, when known (see [`ScanResult::last`]).
    pub value: Option<String>,
}

/// Where the program stands, if it is stopped at an event (not at its end, where a scan
/// runs off the end and stands nowhere).
pub(super) fn stop_location(dbg: &dyn Debugger) -> Option<Landmark> {
    let pos = dbg.position();
    let location = pos
        .location
        .clone()
        .filter(|_| pos.kind == StopKind::Stop)?;
    Some(Landmark {
        location,
        event: pos.event,
        value: None,
    })
}

/// Did a watch evaluated in place end the stretch with another value than the history
/// has there? Then its evaluation changed what it watches (`lst.pop()`), and the scan saw
/// another program: it is redone with the watch evaluated in throwaway copies. (Only a
/// redo: a value shown with an address may differ in a faithful replay too.)
fn changed_its_course(r: &ScanResult, expect: Option<&Landmark>) -> bool {
    match (expect.and_then(|e| e.value.as_ref()), &r.last) {
        (Some(want), Some(got)) => want != got,
        _ => false,
    }
}

/// Did the scan end where the recorded history says the program stood? (A scan that ran
/// into the program's end did not, when the history has the program standing somewhere.)
fn on_course(r: &ScanResult, expect: Option<&Landmark>) -> bool {
    match (expect, &r.reached) {
        (Some(e), Some(l)) => {
            e.location.file == l.file
                && e.location.line == l.line
                && (e.event.is_none() || r.reached_event.is_none() || e.event == r.reached_event)
        }
        (Some(_), None) => false,
        (None, _) => true,
    }
}
