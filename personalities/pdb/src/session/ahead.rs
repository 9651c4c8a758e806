//! Commands typed ahead: a script's `continue`s, `next`s and `step`s sent to the agent at
//! once, so that pdb runs them back to back without waiting for fred between them.
//!
//! Each stop comes with a sync marker on the pty, named by a message of the stop (one stop
//! a command, or more where breakpoint commands `continue`). What the program wrote up to a
//! command's first marker is that command's output, passed on as it comes. After that
//! marker it may be this command's (a later stop of it) or the next one's: it is held until
//! a message of this command names a later marker, and what is left when the command's
//! answer is in goes to the next command. The agent runs the next commands only where fred
//! need not look first (see the agent's `must_look`); else it drops them and says how
//! many, and fred runs those afresh.

use std::collections::VecDeque;

use fred_personality::{DebuggerError, Result};

use crate::sync::Piece;

/// The commands typed ahead whose answers are still to be read, and the program output
/// that came for them before their turn.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    lines: VecDeque<String>,
    /// The command being answered was typed ahead: output after its first marker is held.
    marking: bool,
    /// Its first marker has gone by.
    passed: bool,
    held: VecDeque<Piece>,
}

impl Ahead {
    /// How many are still to be answered.
    pub(super) fn len(&self) -> usize {
        self.lines.len()
    }

    /// The agent has been given `lines` to run one after another.
    pub(super) fn typed(&mut self, lines: &[&str]) {
        self.lines = lines.iter().map(|l| l.to_string()).collect();
    }

    /// A command starts: whether it is the next one typed ahead (its answer is on its way,
    /// nothing is to be sent). Any other command while some are typed ahead is an error.
    /// Returns the program output held for it, to be passed on first.
    pub(super) fn begin(&mut self, line: &str) -> Result<(bool, Vec<Piece>)> {
        let typed = self.lines.front().is_some_and(|l| l == line);
        if typed {
            self.lines.pop_front();
        } else if !self.lines.is_empty() {
            return Err(DebuggerError::Failed(format!(
                "'{}' came while commands typed ahead were still running",
                line.trim()
            )));
        }
        self.marking = typed;
        self.passed = false;
        Ok((typed, std::mem::take(&mut self.held).into()))
    }

    /// A piece of the program's terminal output during the command: passed on (`Some`), or
    /// held once the command's first marker has gone by.
    pub(super) fn hold(&mut self, piece: Piece) -> Option<Piece> {
        if !self.marking {
            return Some(piece);
        }
        if self.passed {
            self.held.push_back(piece);
            return None;
        }
        if matches!(piece, Piece::Marker(_)) {
            self.passed = true;
        }
        Some(piece)
    }

    /// A message of the command named marker `n`: what is held up to it is the command's.
    pub(super) fn claim(&mut self, n: u64) -> Vec<Piece> {
        match self.held.iter().position(|p| *p == Piece::Marker(n)) {
            Some(i) => self.held.drain(..=i).collect(),
            None => Vec::new(),
        }
    }

    /// The agent dropped the last `n` (one before them stopped where fred must look).
    pub(super) fn dropped(&mut self, n: usize) {
        let keep = self.lines.len().saturating_sub(n);
        self.lines.truncate(keep);
    }

    /// The command's answer is in (or will never come). Returns what is held when no
    /// command typed ahead is left to run: nothing ran after this one, so it is its own.
    pub(super) fn end(&mut self, failed: bool) -> Vec<Piece> {
        if failed {
            self.lines.clear();
        }
        if !self.lines.is_empty() {
            return Vec::new();
        }
        self.marking = false;
        std::mem::take(&mut self.held).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_after_a_commands_marker_waits_for_the_next_command() {
        let mut a = Ahead::default();
        a.typed(&["continue", "continue"]);
        assert!(a.begin("continue").unwrap().0);
        let bytes = |s: &str| Piece::Bytes(s.as_bytes().to_vec());
        assert_eq!(a.hold(bytes("one\n")), Some(bytes("one\n")));
        assert_eq!(a.hold(Piece::Marker(1)), Some(Piece::Marker(1)));
        assert_eq!(a.hold(bytes("two\n")), None);
        assert_eq!(a.hold(Piece::Marker(2)), None);
        a.end(false);
        let (typed, held) = a.begin("continue").unwrap();
        assert!(typed);
        assert_eq!(held, vec![bytes("two\n"), Piece::Marker(2)]);
        assert_eq!(a.hold(bytes("two\n")), Some(bytes("two\n")));
        assert_eq!(a.hold(Piece::Marker(2)), Some(Piece::Marker(2)));
        assert_eq!(a.end(false), vec![]);
        // Nothing typed ahead any more: output is passed on whatever comes.
        assert!(!a.begin("next").unwrap().0);
        assert_eq!(a.hold(Piece::Marker(3)), Some(Piece::Marker(3)));
        assert_eq!(a.hold(bytes("x")), Some(bytes("x")));
    }

    #[test]
    fn a_later_stop_of_the_same_command_claims_what_came_before_its_marker() {
        // Breakpoint commands that `continue`: one command, stops with markers 1 and 2.
        let mut a = Ahead::default();
        a.typed(&["continue", "next"]);
        assert!(a.begin("continue").unwrap().0);
        let bytes = |s: &str| Piece::Bytes(s.as_bytes().to_vec());
        assert!(a.hold(Piece::Marker(1)).is_some());
        assert_eq!(a.hold(bytes("between\n")), None);
        assert_eq!(a.hold(Piece::Marker(2)), None);
        assert_eq!(a.hold(bytes("next's\n")), None);
        assert_eq!(a.claim(2), vec![bytes("between\n"), Piece::Marker(2)]);
        assert_eq!(a.end(false), vec![]);
        assert_eq!(a.begin("next").unwrap().1, vec![bytes("next's\n")]);
        // The last one typed ahead: whatever is still held is its own.
        assert_eq!(a.hold(Piece::Marker(3)), Some(Piece::Marker(3)));
        assert_eq!(a.hold(bytes("late\n")), None);
        assert_eq!(a.end(false), vec![bytes("late\n")]);
    }

    #[test]
    fn another_command_while_some_are_typed_ahead_is_refused() {
        let mut a = Ahead::default();
        a.typed(&["next", "next", "next"]);
        assert!(a.begin("next").unwrap().0);
        assert!(a.begin("p x").is_err());
        a.dropped(2);
        assert_eq!(a.len(), 0);
        assert!(!a.begin("p x").unwrap().0);
    }
}
