//! The program's own terminal, apart from gdb's, so that what the user types to the program
//! can be logged and typed again when a stretch is replayed, and never reaches gdb.
//!
//! Input is logged per epoch (the stretch a user command ran). The terminal's input queue
//! tells how much of what was typed the program has read at a stop, so a checkpoint knows
//! where in its epoch's input it stands.

use std::collections::HashMap;
use std::path::PathBuf;

use fred_ckpt::Pty;
use fred_personality::{CheckpointId, DebuggerError, Result};

/// The program's terminal and the input typed into it.
pub struct ProgramTerminal {
    pty: Pty,
    /// `inputs[e]`: what the program was given to read during epoch `e`.
    inputs: Vec<Vec<u8>>,
    /// What has been put into the terminal since it was last flushed, in order: (epoch,
    /// offset in that epoch's input, length).
    queued: Vec<(u64, usize, usize)>,
    /// Bytes still to be typed (the terminal takes about 4 KB at a time).
    pending: Vec<u8>,
    /// For each checkpoint: how much of its epoch's input had been read when it was taken.
    offsets: HashMap<CheckpointId, usize>,
    /// The first epoch given an end of file because fred's own input had ended.
    ended_at: Option<u64>,
    /// What the program wrote after a mark, read with it (see [`Self::output_to_mark`]).
    carry: Vec<u8>,
}

/// The terminal's end-of-file character (Ctrl-D), which fred types when its own input ends.
const EOF: u8 = 0x04;

/// How many bytes of `bytes` are not end-of-file characters.
fn data(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b != EOF).count()
}

/// What the agent writes into the program's terminal where a command typed ahead ended
/// (the program's output reaches fred there, in order, however far ahead gdb is).
pub const END_MARK: &[u8] = b"\x1b]7779;fred-end\x07";

/// Where `needle` first stands in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl ProgramTerminal {
    /// Opens a fresh terminal for the program.
    pub fn open() -> Result<Self> {
        let pty = Pty::open()
            .map_err(|e| DebuggerError::Failed(format!("cannot open a terminal: {e}")))?;
        Ok(ProgramTerminal {
            pty,
            inputs: Vec::new(),
            queued: Vec::new(),
            pending: Vec::new(),
            offsets: HashMap::new(),
            ended_at: None,
            carry: Vec::new(),
        })
    }

    /// The terminal's path, for gdb's `set inferior-tty`.
    pub fn path(&self) -> Option<PathBuf> {
        self.pty.slave_path()
    }

    /// Its master side, for polling.
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.pty.fd()
    }

    /// What the program has written since the last call.
    pub fn output(&mut self) -> Vec<u8> {
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend(self.pty.read_available());
        // (A mark that came after its command's answer was read is dropped.)
        while let Some(i) = find(&bytes, END_MARK) {
            bytes.drain(i..i + END_MARK.len());
        }
        bytes
    }

    /// What the program has written up to the agent's next mark of a command's end (see
    /// [`END_MARK`]), and whether the mark has come; what follows it is kept for the next
    /// command.
    pub fn output_to_mark(&mut self) -> (Vec<u8>, bool) {
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend(self.pty.read_available());
        if let Some(i) = find(&bytes, END_MARK) {
            self.carry = bytes.split_off(i + END_MARK.len());
            bytes.truncate(i);
            return (bytes, true);
        }
        // A mark cut in two by a read waits for its second half.
        let keep = (1..END_MARK.len())
            .rev()
            .find(|&n| bytes.ends_with(&END_MARK[..n]))
            .unwrap_or(0);
        self.carry = bytes.split_off(bytes.len() - keep);
        (bytes, false)
    }

    /// Whether bytes are still waiting to be typed.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Types what the terminal will take of the pending bytes.
    pub fn pump(&mut self) {
        if !self.pending.is_empty() {
            let n = self.pty.write_some(&self.pending);
            self.pending.drain(..n);
        }
    }

    fn input_mut(&mut self, epoch: u64) -> &mut Vec<u8> {
        let e = epoch as usize;
        if self.inputs.len() <= e {
            self.inputs.resize_with(e + 1, Vec::new);
        }
        &mut self.inputs[e]
    }

    /// How much of epoch `epoch`'s input the program has read by now. A terminal's count
    /// of unread input leaves out the end-of-file characters (Ctrl-D) in it, so while
    /// some is unread only the other bytes are counted, and a Ctrl-D is taken as read once
    /// a byte after it is.
    fn consumed(&self, epoch: u64) -> usize {
        let unread = self.pty.unread_input();
        let written: usize = self.queued.iter().map(|p| p.2).sum();
        // What is in the terminal or read, and how much of it is not Ctrl-D.
        let mut typed = written.saturating_sub(self.pending.len());
        let typed_data = self
            .queued
            .iter()
            .map(|&p| data(self.part(p)))
            .sum::<usize>()
            .saturating_sub(data(&self.pending));
        let mut read = typed_data.saturating_sub(unread);
        let mut at = 0;
        for &(e, start, len) in &self.queued {
            let bytes = self.part((e, start, len));
            let mut i = 0;
            // With nothing unread, all typed has been read, Ctrl-Ds too.
            while i < bytes.len() && typed > 0 && (read > 0 || unread == 0) {
                if bytes[i] != EOF {
                    read = read.saturating_sub(1);
                }
                typed -= 1;
                i += 1;
            }
            if e == epoch {
                at = start + i;
            }
        }
        at
    }

    /// The bytes of a part of the queue.
    fn part(&self, (epoch, start, len): (u64, usize, usize)) -> &[u8] {
        let input = self
            .inputs
            .get(epoch as usize)
            .map_or(&[][..], Vec::as_slice);
        &input[start.min(input.len())..(start + len).min(input.len())]
    }

    /// The user typed `bytes` to the program while a command that began in `epoch` ran.
    pub fn typed(&mut self, epoch: u64, bytes: &[u8]) {
        let input = self.input_mut(epoch);
        let start = input.len();
        input.extend_from_slice(bytes);
        self.queued.push((epoch, start, bytes.len()));
        self.pending.extend_from_slice(bytes);
        self.pump();
    }

    /// fred's own input ended during epoch `epoch`: from then on the program is given end
    /// of file at every command.
    pub fn input_ended(&mut self, epoch: u64) {
        self.ended_at.get_or_insert(epoch);
    }

    /// The program's input has ended: unless something is waiting to be read (the end of
    /// file given at an earlier command, say), the next read in epoch `epoch` gets end of
    /// file.
    pub fn end_of_file(&mut self, epoch: u64) {
        self.input_ended(epoch);
        if self.pending.is_empty() && !self.pty.input_waiting() {
            self.typed(epoch, b"\x04");
        }
    }

    /// A user command starts at epoch `epoch`; `after_replay`: the program got here by a
    /// replay, so what is left in the terminal was typed for a future now abandoned.
    pub fn command_starts(&mut self, epoch: u64, after_replay: bool) {
        if after_replay {
            let read = self.consumed(epoch);
            self.flush();
            self.input_mut(epoch).truncate(read);
            self.queued = vec![(epoch, 0, read)];
        }
        self.inputs.truncate(epoch as usize + 1);
    }

    /// The user command that began at `from` stopped in the new epoch `to`: what the
    /// program has not read yet carries over to `to`.
    pub fn command_ended(&mut self, from: u64, to: u64) {
        if to <= from {
            return;
        }
        let (unread, pending) = (self.pty.unread_input(), self.pending.len());
        let input = self.input_mut(from);
        // The unread bytes in the terminal, and the Ctrl-Ds among and after them (which
        // its count leaves out), then what is still to be typed.
        let typed = input.len().saturating_sub(pending);
        let mut cut = typed;
        let mut left = unread;
        while cut > 0 && (left > 0 || (unread > 0 && input[cut - 1] == EOF)) {
            if input[cut - 1] != EOF {
                left -= 1;
            }
            cut -= 1;
        }
        let tail = input.split_off(cut);
        let len = tail.len();
        *self.input_mut(to) = tail;
        self.queued = if len > 0 {
            vec![(to, 0, len)]
        } else {
            Vec::new()
        };
    }

    /// The input logged for epoch `from` belongs to epoch `to` (the first run's stretch
    /// starts at the stop at main, not where the user typed `run`).
    pub fn relocate(&mut self, from: u64, to: u64) {
        let moved = std::mem::take(self.input_mut(from));
        let input = self.input_mut(to);
        let shift = input.len();
        input.extend(moved);
        for part in &mut self.queued {
            if part.0 == from {
                *part = (to, part.1 + shift, part.2);
            }
        }
    }

    /// Forgets a dropped checkpoint.
    pub fn forget(&mut self, id: CheckpointId) {
        self.offsets.remove(&id);
    }

    /// Checkpoint `id` was taken now, in epoch `epoch`.
    pub fn checkpoint_taken(&mut self, id: CheckpointId, epoch: u64) {
        let read = self.consumed(epoch);
        self.offsets.insert(id, read);
    }

    /// Whether epoch `epoch` had input (its stretch cannot be checkpointed mid-way, since
    /// how much of it was read there would not be known). The ends of file given once
    /// fred's own input has ended do not count: every read gets one from then on, so a
    /// replay that types them again gives the program nothing it would not have read.
    pub fn has_input(&self, epoch: u64) -> bool {
        let ended = self.ended_at.is_some_and(|e| epoch >= e);
        self.inputs
            .get(epoch as usize)
            .is_some_and(|i| i.iter().any(|&b| !ended || b != 0x04))
    }

    /// A replay from checkpoint `id` (in epoch `from`) through epoch `to` is about to run:
    /// the terminal gets, afresh, everything the program will read on the way.
    pub fn replay(&mut self, id: CheckpointId, from: u64, to: u64) {
        self.flush();
        let mut offset = self.offsets.get(&id).copied().unwrap_or(0);
        for e in from..=to {
            if let Some(input) = self.inputs.get(e as usize) {
                let part = &input[offset.min(input.len())..];
                if !part.is_empty() {
                    self.queued.push((e, offset, part.len()));
                    self.pending.extend_from_slice(part);
                }
            }
            offset = 0;
        }
        self.pump();
    }

    fn flush(&mut self) {
        self.pty.flush_input();
        self.pending.clear();
        self.queued.clear();
    }
}
