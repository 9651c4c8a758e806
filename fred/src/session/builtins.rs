//! fred's own commands (`fred-checkpoint`, `fred-restart`, `fred-goto`, `fred-undo`,
//! `fred-expect`, `fred-history`): what they do to the session and the timeline.

use fred_personality::{DebuggerError, Output, Time};

use super::{describe, Reply, Session};
use crate::command::Expectation;

impl Session {
    pub(super) fn manual_checkpoint(
        &mut self,
        out: &mut dyn Output,
    ) -> Result<Reply, DebuggerError> {
        let ck = self.dbg.checkpoint()?;
        out.debugger(&format!(
            "Checkpoint {} at t={}.\n",
            ck.id,
            self.dbg.show_time(ck.time)
        ));
        self.taken_by_user.insert(ck.id);
        self.tl.add(ck, true);
        self.thin();
        Ok(Reply::default())
    }

    pub(super) fn restart_checkpoint(
        &mut self,
        n: u64,
        out: &mut dyn Output,
    ) -> Result<Reply, DebuggerError> {
        let Some(ck) = self
            .tl
            .checkpoints()
            .iter()
            .find(|k| k.ck.id == n)
            .map(|k| k.ck.clone())
        else {
            return Ok(Reply::error(format!(
                "No checkpoint {n}; fred-history lists them."
            )));
        };
        let pos = match self.dbg.goto(&ck, ck.time, out) {
            Err(DebuggerError::CheckpointLost(id)) => {
                self.tl.remove(id);
                return Ok(Reply::error(format!(
                    "Checkpoint {id} is gone (its process was killed)."
                )));
            }
            r => r?,
        };
        self.absorb_checkpoints();
        self.tl.moved_to(pos.time);
        Ok(Reply::default())
    }

    pub(super) fn goto_entry(
        &mut self,
        n: u64,
        out: &mut dyn Output,
    ) -> Result<Reply, DebuggerError> {
        let Some(e) = self.tl.entries().get(n as usize).cloned() else {
            return Ok(Reply::error(format!(
                "No history entry {n}; the last is {}.",
                self.tl.entries().len() - 1
            )));
        };
        let home = self.dbg.position().clone();
        self.land_or_back(e.after.time, e.after.location.clone(), out, &home)?;
        self.tl.set_cursor(n as usize);
        Ok(Reply::default())
    }

    pub(super) fn undo(&mut self, n: u64, out: &mut dyn Output) -> Result<Reply, DebuggerError> {
        let Some((time, entry)) = self.tl.undo_target(n) else {
            return Ok(Reply::error(if n == 1 {
                "Nothing to undo: no forward command before this point.".to_string()
            } else {
                format!("Fewer than {n} forward commands to undo.")
            }));
        };
        let expect = self.tl.entries()[entry].after.location.clone();
        let expect = (self.tl.entries()[entry].after.time == time)
            .then_some(expect)
            .flatten();
        let home = self.dbg.position().clone();
        self.land_or_back(time, expect, out, &home)?;
        self.tl.set_cursor(entry);
        Ok(Reply::default())
    }

    /// `fred-expect`: checks where the program stands, what the last command printed, or an
    /// expression (evaluated without side effects); a failure says what was expected and
    /// what was found.
    pub(super) fn expect(&mut self, e: &Expectation) -> Reply {
        let pos = self.dbg.position().clone();
        let here = pos
            .location
            .as_ref()
            .map_or_else(|| describe(self.dbg.as_ref(), &pos), |l| l.to_string());
        let failure = match e {
            Expectation::Line(n) => match &pos.location {
                Some(l) if l.line == *n => None,
                _ => Some(format!("expected line {n}, found {here}")),
            },
            Expectation::Function(f) => match &pos.location {
                Some(l) if &l.function == f => None,
                _ => Some(format!("expected function {f}, found {here}")),
            },
            Expectation::Output(text) => (!self.last_output.contains(text.as_str())).then(|| {
                format!(
                    "expected output containing {text:?}, found {:?}",
                    self.last_output.trim_end()
                )
            }),
            Expectation::Expr(expr) => match self.dbg.holds(expr) {
                Ok((true, _)) => None,
                Ok((false, value)) => Some(format!(
                    "expected {expr} to be true, found {value} at {here}"
                )),
                Err(err) => Some(format!("expected {expr} to be true: {err}")),
            },
        };
        match failure {
            None => Reply::default(),
            Some(msg) => Reply {
                error: Some(format!("expectation failed: {msg}")),
                failed: true,
                ..Reply::default()
            },
        }
    }

    /// The text of `fred-history`.
    pub fn history(&self) -> String {
        let mut s = String::from("History (* marks where you are):\n");
        let cursor = self.tl.cursor();
        for (i, e) in self.tl.entries().iter().enumerate() {
            if e.dropped > 0 {
                s.push_str(&format!(
                    "       -- new branch at t={}: {} entr{} of the old future dropped --\n",
                    self.dbg.show_time(e.before),
                    e.dropped,
                    if e.dropped == 1 { "y" } else { "ies" }
                ));
            }
            let from = if i == 0 {
                String::new()
            } else {
                format!("from t={} to ", self.dbg.show_time(e.before))
            };
            s.push_str(&format!(
                "{} {:4}  {:<20} {}{}\n",
                if i == cursor { "*" } else { " " },
                i,
                e.command.trim(),
                from,
                describe(self.dbg.as_ref(), &e.after)
            ));
        }
        let cks = self.tl.checkpoints();
        s.push_str(&format!("Checkpoints ({}):", cks.len()));
        for k in cks.iter().filter(|k| k.ck.at_stop) {
            s.push_str(&format!(" {}@t={}", k.ck.id, self.dbg.show_time(k.ck.time)));
        }
        let mid: Vec<Time> = cks
            .iter()
            .filter(|k| !k.ck.at_stop)
            .map(|k| k.ck.time)
            .collect();
        if let (Some(first), Some(last)) = (mid.first(), mid.last()) {
            s.push_str(&format!(
                "; {} taken mid-run between t={} and t={}",
                mid.len(),
                self.dbg.show_time(*first),
                self.dbg.show_time(*last)
            ));
        }
        s.push('\n');
        s.push_str(&format!(
            "Now: {}\n",
            describe(self.dbg.as_ref(), self.dbg.position())
        ));
        s
    }
}
