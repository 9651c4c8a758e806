//! The timeline: the log of commands with the positions they led to, and the checkpoints
//! that make every recorded position reachable again.

use fred_personality::{Checkpoint, CheckpointId, Position, Time};

/// One command in the history.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The line as typed.
    pub command: String,
    /// Where the program stood before it.
    pub before: Time,
    /// Where it stood after it.
    pub after: Position,
    /// How many entries of an old future it dropped (it started a new branch).
    pub dropped: usize,
}

/// A checkpoint and how the timeline treats it.
#[derive(Clone, Debug)]
pub struct Kept {
    /// The checkpoint.
    pub ck: Checkpoint,
    /// Never thinned: the start, one the user took, or one that pins a state change that
    /// replay would not reproduce.
    pub pinned: bool,
}

/// History and checkpoints of a session.
#[derive(Debug)]
pub struct Timeline {
    entries: Vec<Entry>,
    cursor: usize,
    checkpoints: Vec<Kept>,
    max_checkpoints: usize,
}

impl Timeline {
    /// A timeline that starts at `start`, where checkpoint `first` was taken.
    pub fn new(start: Position, first: Checkpoint, max_checkpoints: usize) -> Self {
        Timeline {
            entries: vec![Entry {
                command: "(start)".into(),
                before: start.time,
                after: start,
                dropped: 0,
            }],
            cursor: 0,
            checkpoints: vec![Kept {
                ck: first,
                pinned: true,
            }],
            max_checkpoints: max_checkpoints.max(4),
        }
    }

    /// The first recorded position.
    pub fn start(&self) -> &Position {
        &self.entries[0].after
    }

    /// All entries, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry the current position belongs to.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Records a forward command that ran the program from `before` to `after`. Issued in
    /// the past, it starts a new branch: the entries of the old future are dropped.
    pub fn record(&mut self, command: &str, before: Time, after: Position) {
        let mut dropped = 0;
        if self.cursor + 1 < self.entries.len() {
            dropped = self.entries.len() - self.cursor - 1;
            self.entries.truncate(self.cursor + 1);
        }
        self.entries.push(Entry {
            command: command.to_string(),
            before,
            after,
            dropped,
        });
        self.cursor = self.entries.len() - 1;
    }

    /// Moves the cursor after the program went to `time` by a reverse command or a goto:
    /// the last entry at or before that time.
    pub fn moved_to(&mut self, time: Time) {
        self.cursor = self
            .entries
            .iter()
            .rposition(|e| e.after.time <= time)
            .unwrap_or(0);
    }

    /// Moves the cursor to entry `n` exactly.
    pub fn set_cursor(&mut self, n: usize) {
        self.cursor = n.min(self.entries.len() - 1);
    }

    /// Whether the current position is behind the latest recorded one.
    pub fn in_the_past(&self) -> bool {
        self.cursor + 1 < self.entries.len()
    }

    /// The time before the `n`th-last forward command at or before the cursor, and the
    /// index of the entry that leaves the program there.
    pub fn undo_target(&self, n: u64) -> Option<(Time, usize)> {
        let i = usize::try_from(n)
            .ok()
            .and_then(|n| (self.cursor + 1).checked_sub(n))?;
        (i >= 1).then(|| (self.entries[i].before, i - 1))
    }

    /// The checkpoints, oldest first.
    pub fn checkpoints(&self) -> &[Kept] {
        &self.checkpoints
    }

    /// Adds a checkpoint.
    pub fn add(&mut self, ck: Checkpoint, pinned: bool) {
        let at = self
            .checkpoints
            .iter()
            .rposition(|k| k.ck.time <= ck.time)
            .map_or(0, |i| i + 1);
        self.checkpoints.insert(at, Kept { ck, pinned });
    }

    /// Forgets a checkpoint (it was dropped or its process is gone).
    pub fn remove(&mut self, id: CheckpointId) {
        self.checkpoints.retain(|k| k.ck.id != id);
    }

    /// The checkpoint to restore to reach `time`: the latest taken at or before it.
    pub fn restore_point(&self, time: Time) -> Option<&Checkpoint> {
        self.checkpoints
            .iter()
            .rev()
            .find(|k| k.ck.time <= time)
            .map(|k| &k.ck)
    }

    /// Whether some checkpoint was taken at a stop exactly at `time`.
    pub fn has_stop_checkpoint_at(&self, time: Time) -> bool {
        self.checkpoints
            .iter()
            .any(|k| k.ck.time == time && k.ck.at_stop)
    }

    /// Checkpoints strictly before `time`, newest first, one per time.
    pub fn before(&self, time: Time) -> Vec<Checkpoint> {
        let mut out: Vec<Checkpoint> = Vec::new();
        for k in self.checkpoints.iter().rev() {
            if k.ck.time < time && out.last().is_none_or(|c| c.time != k.ck.time) {
                out.push(k.ck.clone());
            }
        }
        out
    }

    /// Removes the checkpoints after `time` (an old future) and returns their ids.
    pub fn drop_after(&mut self, time: Time) -> Vec<CheckpointId> {
        let gone: Vec<CheckpointId> = self
            .checkpoints
            .iter()
            .filter(|k| k.ck.time > time)
            .map(|k| k.ck.id)
            .collect();
        self.checkpoints.retain(|k| k.ck.time <= time);
        gone
    }

    /// Chooses checkpoints to drop so that at most the configured number remain, keeping
    /// them dense near `now` and sparser further back (each removal takes the checkpoint
    /// whose neighbours are closest together relative to its distance from `now`).
    pub fn thin(&mut self, now: Time) -> Vec<CheckpointId> {
        let mut gone = Vec::new();
        while self.checkpoints.len() > self.max_checkpoints {
            let times: Vec<Time> = self.checkpoints.iter().map(|k| k.ck.time).collect();
            let pinned: Vec<bool> = self.checkpoints.iter().map(|k| k.pinned).collect();
            match fred_personality::thinning_choice(&times, &pinned, now) {
                Some(i) => gone.push(self.checkpoints.remove(i).ck.id),
                None => break,
            }
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fred_personality::StopKind;

    fn pos(time: Time) -> Position {
        Position {
            time,
            kind: StopKind::Stop,
            location: None,
            depth: Some(1),
            event: None,
        }
    }

    fn ck(id: CheckpointId, time: Time) -> Checkpoint {
        Checkpoint {
            id,
            time,
            at_stop: true,
            location: None,
            event: None,
            taken: None,
        }
    }

    #[test]
    fn forward_command_in_the_past_drops_the_old_future() {
        let mut t = Timeline::new(pos(2), ck(0, 2), 10);
        t.record("next", 2, pos(5));
        t.record("next", 5, pos(9));
        t.moved_to(6);
        assert_eq!(t.cursor(), 1);
        assert!(t.in_the_past());
        t.record("step", 6, pos(7));
        assert_eq!(t.entries().len(), 3);
        assert_eq!(t.entries()[2].dropped, 1);
    }

    #[test]
    fn undo_goes_before_the_nth_last_forward_command() {
        let mut t = Timeline::new(pos(2), ck(0, 2), 10);
        t.record("next", 2, pos(5));
        t.record("next", 5, pos(9));
        assert_eq!(t.undo_target(1), Some((5, 1)));
        assert_eq!(t.undo_target(2), Some((2, 0)));
        assert_eq!(t.undo_target(3), None);
    }

    #[test]
    fn restore_point_and_before() {
        let mut t = Timeline::new(pos(2), ck(0, 2), 10);
        t.add(ck(1, 50), false);
        t.add(ck(2, 20), false);
        assert_eq!(t.restore_point(49).unwrap().id, 2);
        assert_eq!(t.restore_point(50).unwrap().id, 1);
        let b: Vec<_> = t.before(50).iter().map(|c| c.id).collect();
        assert_eq!(b, vec![2, 0]);
    }

    #[test]
    fn thinning_keeps_the_start_and_recent_checkpoints() {
        let mut t = Timeline::new(pos(0), ck(0, 0), 6);
        for i in 1..=40 {
            t.add(ck(i, i * 100), false);
        }
        let gone = t.thin(4000);
        assert_eq!(t.checkpoints().len(), 6);
        assert_eq!(gone.len(), 35);
        assert_eq!(t.checkpoints()[0].ck.id, 0);
        assert!(t.checkpoints().iter().any(|k| k.ck.time >= 3800));
        let times: Vec<Time> = t.checkpoints().iter().map(|k| k.ck.time).collect();
        let gaps: Vec<Time> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.last() <= gaps.get(1), "denser near now: {times:?}");
    }
}
