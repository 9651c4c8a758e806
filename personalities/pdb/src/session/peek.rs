//! Reading a plain global's value in checkpoints as they are, without running them, to tell
//! where the statement that last changed it must lie.

use std::time::{Duration, Instant};

use fred_ckpt::Event;
use fred_personality::{Checkpoint, Discard, Result, Time, Watch};
use serde_json::{json, Value};

use super::PdbSession;

/// How long a snapshot may take to answer before its value counts as unknown.
const PEEK_LIMIT: Duration = Duration::from_secs(2);

impl PdbSession {
    /// See [`fred_personality::Debugger::changed_since`]: a bisection over the checkpoints,
    /// after a look at the newest (where the answer of a search usually lies). The values
    /// need not change only once: a checkpoint whose value differs from `now` has a change
    /// after it, which is all the search needs.
    pub(super) fn changed_since(
        &mut self,
        cks: &[Checkpoint],
        watch: &Watch,
        now: &str,
    ) -> Result<Option<Time>> {
        if watch.frame_depth.is_some() || watch.isolated || cks.is_empty() {
            return Ok(None);
        }
        let mut spec = json!({"expr": watch.expr, "local": false, "module": watch.context,
                              "isolated": false});
        if is_identifier(watch.expr.trim()) {
            // For a snapshot still frozen in C, which reads only these.
            spec["name"] = json!(watch.expr.trim());
        }
        let differs = |s: &mut Self, i: usize| -> Result<Option<bool>> {
            Ok(s.peek(&cks[i], &spec)?.map(|v| v != now))
        };
        match differs(self, 0)? {
            Some(true) => return Ok(Some(cks[0].time)),
            Some(false) if cks.len() > 1 => {}
            _ => return Ok(None),
        }
        let (mut same, mut changed) = (0, cks.len() - 1);
        if differs(self, changed)? != Some(true) {
            return Ok(None);
        }
        while changed - same > 1 {
            let mid = (same + changed) / 2;
            match differs(self, mid)? {
                Some(true) => changed = mid,
                Some(false) => same = mid,
                None => break,
            }
        }
        Ok(Some(cks[changed].time))
    }

    /// The value of the watch `spec` in checkpoint `ck`, as the snapshot reads it without
    /// running anything, or None when it cannot (not a plain global value, or no answer).
    fn peek(&mut self, ck: &Checkpoint, spec: &Value) -> Result<Option<String>> {
        let msg = json!({"fred": "peek", "watch": spec, "name": spec["name"],
                         "module": spec["module"]});
        if self.sup.send_to_snapshot(ck.id, &msg).is_err() {
            return Ok(None);
        }
        let deadline = Instant::now() + PEEK_LIMIT;
        let (mut sink, mut visible) = (Discard, true);
        let mut later = Vec::new();
        let mut answer = None;
        while answer.is_none() && Instant::now() < deadline {
            let Some(ev) = self.next_event(Some(Duration::from_millis(100)))? else {
                continue;
            };
            match ev {
                Event::SnapshotMessage(id, m) if id == ck.id => answer = Some(m),
                Event::SnapshotMessage(..) => {} // a late answer to an earlier peek
                Event::SnapshotLost(id) if id == ck.id => {
                    self.lost.push(id);
                    break;
                }
                ev => later.extend(self.common(ev, &mut sink, &mut visible)?),
            }
        }
        for ev in later.into_iter().rev() {
            self.deferred.push_front(ev);
        }
        Ok(answer.and_then(|m| m["peek"].as_str().map(str::to_string)))
    }
}

/// An ASCII Python identifier (a bare name a frozen snapshot can look up itself).
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
