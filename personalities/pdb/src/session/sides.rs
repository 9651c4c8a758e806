//! Pieces of a long scan at once: side copies of the checkpoints scan the earlier pieces on
//! the machine's other cores while the live process scans the last (see the agent's
//! `sides`).

use std::collections::HashMap;
use std::time::Duration;

use fred_ckpt::Event;
use fred_personality::{Checkpoint, Discard, Query, Result, ScanResult, Time};
use serde_json::json;

use super::{scan_request, PdbSession};

/// A scan shorter than this many events is not cut (a side copy costs a restore, some
/// milliseconds, where the agent's clock scans about ten thousand events a millisecond).
const MIN_PIECES_SPAN: Time = 300_000;

/// At most this many pieces.
const MAX_PIECES: usize = 4;

/// What the side copies of one scan said, by their numbers (`None`: gone without a word,
/// or off the recorded path).
pub(super) type SideResults = HashMap<u64, Option<ScanResult>>;

impl PdbSession {
    /// How many pieces a scan over `span` events is worth: one a core, for a long one,
    /// while the program has opened no file for appending (copies side by side would each
    /// append to it).
    pub(super) fn pieces_for(&self, span: Time) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if span < MIN_PIECES_SPAN || !self.append_log.is_empty() {
            return 1;
        }
        cores.min(MAX_PIECES)
    }

    /// [`fred_personality::Debugger::scan_pieces`]: side copies for all but the last
    /// piece, the live process for the last; then waits for the side copies.
    pub(super) fn scan_side_by_side(
        &mut self,
        pieces: &[(Checkpoint, Time)],
        query: &Query,
    ) -> Result<Vec<Option<ScanResult>>> {
        let Some(((last, until), earlier)) = pieces.split_last() else {
            return Ok(Vec::new());
        };
        self.side_results.clear();
        let mut sides = Vec::new();
        for (from, until) in earlier {
            let mut then = scan_request(query, *until);
            then["checkpoints"] = json!(self.checkpoint_times(from.time, *until));
            let request = self.resume_request(from, then);
            sides.push(self.sup.resume_side(from.id, request).ok());
        }
        let live = self.scan_piece(last, *until, query);
        let waited = live.and_then(|r| self.wait_sides(&sides).map(|s| (r, s)));
        for n in sides.iter().flatten() {
            self.sup.drop_side(*n);
        }
        let (live, mut side) = waited?;
        let mut out: Vec<Option<ScanResult>> = sides
            .iter()
            .map(|n| n.and_then(|n| side.remove(&n).flatten()))
            .collect();
        out.push(Some(live));
        Ok(out)
    }

    /// Waits until each side copy started (`Some` in `sides`) has answered or is gone.
    fn wait_sides(&mut self, sides: &[Option<u64>]) -> Result<SideResults> {
        let mut sink = Discard;
        let mut visible = false;
        let mut later = Vec::new();
        while !sides
            .iter()
            .flatten()
            .all(|n| self.side_results.contains_key(n))
        {
            if let Some(ev) = self.next_event(Some(Duration::from_millis(500)))? {
                if let Some(other) = self.common(ev, &mut sink, &mut visible)? {
                    later.push(other);
                }
            }
        }
        self.deferred.extend(later);
        Ok(std::mem::take(&mut self.side_results))
    }

    /// What a side copy said or that it is gone (for [`PdbSession::common`]).
    pub(super) fn side_event(&mut self, ev: &Event) {
        match ev {
            Event::SideMessage(n, msg) if msg.get("ready").is_some() => {
                let result = match (msg.get("diverged"), msg.get("scan")) {
                    (None, Some(v)) => serde_json::from_value::<ScanResult>(v.clone()).ok(),
                    _ => None,
                };
                self.side_results.insert(*n, result);
            }
            Event::SideLost(n) => {
                self.side_results.entry(*n).or_insert(None);
            }
            _ => {}
        }
    }
}
