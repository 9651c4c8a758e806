//! Talking to gdb: reading its pty up to the next prompt (and the program's terminal
//! meanwhile), typing requests for the agent, and reading its replies.

use std::io::IsTerminal;
use std::os::fd::RawFd;

use fred_personality::{DebuggerError, Output, Position, Result};
use serde_json::Value;

use super::{split, GdbSession};
use crate::markers::Piece;

/// How long fred waits, once gdb has written, before reading the output of a command typed
/// ahead (microseconds).
const AHEAD_NAP_US: u64 = 1000;

/// What one exchange with gdb came to: the agent's reply (if any) and the prompt's position.
pub(super) struct Answer {
    pub(super) reply: Value,
    pub(super) pos: Position,
}

impl GdbSession {
    /// Reads gdb's output until its next prompt. `show`: pass gdb's and the program's text
    /// on; `user`: a user command is running (typing goes to the program, Ctrl-C to it).
    pub(super) fn wait(&mut self, show: bool, user: bool, out: &mut dyn Output) -> Result<Answer> {
        let mut reply = Value::Null;
        loop {
            // What an earlier read brought beyond the prompt it waited for (commands typed
            // ahead answer back to back). A command typed ahead is shown whole once its
            // prompt has come, after the program's output up to its mark: the two streams
            // arrive apart, and gdb's report of a stop comes after what the program wrote.
            let whole = self
                .unread
                .iter()
                .any(|p| matches!(p, Piece::Marker(kind, _) if kind == "prompt"));
            if self.marking && whole {
                if self.continuing {
                    self.lead_in(show, out);
                }
                self.await_mark(show, out);
                self.release_held(show, out);
            }
            while let Some(piece) = (whole || !self.marking)
                .then(|| self.unread.pop_front())
                .flatten()
            {
                match piece {
                    Piece::Text(t) if show => out.debugger(&String::from_utf8_lossy(&t)),
                    Piece::Text(_) => {}
                    Piece::Marker(kind, payload) if kind == "reply" => {
                        reply = serde_json::from_str(&payload).unwrap_or(Value::Null);
                    }
                    Piece::Marker(kind, payload) if kind == "prompt" => {
                        let v: Value = serde_json::from_str(&payload).map_err(|e| {
                            DebuggerError::Failed(format!("bad prompt from the gdb agent: {e}"))
                        })?;
                        let pos: Position = serde_json::from_value(v.clone()).map_err(|e| {
                            DebuggerError::Failed(format!("bad position from the gdb agent: {e}"))
                        })?;
                        self.note_epoch(&pos, &v["recipe"]);
                        if let Some(n) = v["dropped"].as_u64() {
                            self.dropped(n as usize);
                        }
                        self.await_mark(show, out);
                        self.program_output(show, out);
                        self.release_held(show, out);
                        return Ok(Answer { reply, pos });
                    }
                    Piece::Marker(kind, _) if kind == "rerun" => {
                        // The agent runs the stretch again from its checkpoint: the
                        // program is to read its input again.
                        if let Some((id, from, to)) = self.replaying {
                            self.term.replay(id, from, to);
                        }
                    }
                    Piece::Marker(..) => {}
                }
            }
            // The program's output past a command's mark is the next command's.
            let listen = if self.marking && self.mark_seen {
                0
            } else {
                libc::POLLIN
            };
            let mut fds = vec![
                libc::pollfd {
                    fd: self.pty.fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.term.fd(),
                    events: if self.term.has_pending() {
                        listen | libc::POLLOUT
                    } else {
                        listen
                    },
                    revents: 0,
                },
            ];
            if let Some(fd) = self.interrupt_fd {
                fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            if user && self.forward_stdin && self.typing_to_program {
                fds.push(libc::pollfd {
                    fd: 0,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            // SAFETY: `fds` is a valid array of pollfd of the given length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 200) };
            if n < 0 {
                continue;
            }
            if self.marking && !self.ahead.is_empty() {
                // gdb runs commands typed ahead without waiting for fred: reading its
                // output in larger pieces wakes fred (and takes a processor from gdb and
                // the program) a few times a command instead of at each write. (Not at
                // the last of them: gdb waits for fred's next ones then.)
                std::thread::sleep(std::time::Duration::from_micros(AHEAD_NAP_US));
            }
            // Copies gdb let go of may have been reparented to fred, the subreaper.
            fred_ckpt::reap_children();
            self.term.pump();
            // The program's output first: what it wrote came before gdb's report of a stop.
            self.program_output(show, out);
            for p in &fds[2..] {
                if p.revents == 0 {
                    continue;
                }
                if Some(p.fd) == self.interrupt_fd {
                    drain(p.fd);
                    let _ = self.pty.interrupt();
                } else {
                    let mut buf = [0u8; 4096];
                    // SAFETY: reading into a local buffer of the given size.
                    let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                    if n <= 0 {
                        // Ctrl-D, or the end of a file or pipe: an end of file for the
                        // program too (and, for a file or pipe, at every later read).
                        if std::io::stdin().is_terminal() {
                            self.term.typed(self.command_epoch, b"\x04");
                        } else {
                            self.forward_stdin = false;
                            self.stdin_ended = true;
                            self.term.input_ended(self.command_epoch);
                            self.term.typed(self.command_epoch, b"\x04");
                        }
                    } else {
                        self.term.typed(self.command_epoch, &buf[..n as usize]);
                    }
                }
            }
            let bytes = self.pty.read_available();
            if bytes.is_empty() {
                if fds[0].revents & (libc::POLLHUP | libc::POLLERR) != 0 || !self.alive() {
                    return Err(DebuggerError::Gone("gdb exited".into()));
                }
                continue;
            }
            self.unread.extend(self.reader.feed(&bytes));
        }
    }

    /// Passes on (or, in replays, drops) what the program has written.
    pub(super) fn program_output(&mut self, show: bool, out: &mut dyn Output) {
        if self.marking {
            // Held until the command's answer is whole (see `wait`); read meanwhile, so
            // that a program writing much never blocks on a full terminal.
            if !self.mark_seen {
                let (bytes, seen) = self.term.output_to_mark();
                self.mark_seen = seen;
                self.held.extend(bytes);
            }
            return;
        }
        let bytes = self.term.output();
        if show && !bytes.is_empty() {
            out.program(&bytes);
        }
    }

    /// Shows what the program wrote during the command typed ahead, once all of it is in.
    fn release_held(&mut self, show: bool, out: &mut dyn Output) {
        let bytes = std::mem::take(&mut self.held);
        if show && !bytes.is_empty() {
            out.program(&bytes);
        }
    }

    /// Shows gdb's text of a `continue` typed ahead up to its `Continuing.` line, which gdb
    /// writes before the program runs on (so before what the program writes).
    fn lead_in(&mut self, show: bool, out: &mut dyn Output) {
        const LINE: &[u8] = b"Continuing.\n";
        // (gdb writes the line in pieces, which may have come in separate reads.)
        let mut text = Vec::new();
        while let Some(Piece::Text(t)) = self.unread.front() {
            text.extend_from_slice(t);
            self.unread.pop_front();
        }
        // Without the line (gdb refused the command), all of it comes after the program's.
        let at = crate::terminal::find(&text, LINE).map_or(0, |i| i + LINE.len());
        let rest = text.split_off(at);
        if !rest.is_empty() {
            self.unread.push_front(Piece::Text(rest));
        }
        if show && !text.is_empty() {
            out.debugger(&String::from_utf8_lossy(&text));
        }
    }

    /// At the prompt of a command typed ahead: the agent marked the program's terminal
    /// before it; waits (briefly) for the mark, so that the program's output up to it is
    /// this command's.
    fn await_mark(&mut self, show: bool, out: &mut dyn Output) {
        let started = std::time::Instant::now();
        while self.marking && !self.mark_seen && started.elapsed().as_millis() < 500 {
            self.program_output(show, out);
            if self.mark_seen {
                break;
            }
            let mut fd = [libc::pollfd {
                fd: self.term.fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            // SAFETY: `fd` is a valid array of one pollfd.
            unsafe { libc::poll(fd.as_mut_ptr(), 1, 20) };
        }
    }

    /// A user command that ran the program started a new epoch: remember how to reach it.
    pub(super) fn note_epoch(&mut self, pos: &Position, recipe: &Value) {
        let (epoch, _) = split(pos.time);
        let epoch = epoch as usize;
        if epoch >= self.recipes.len() || !recipe.is_null() {
            self.recipes.truncate(epoch);
            while self.recipes.len() < epoch {
                self.recipes.push(Value::Null);
            }
            self.recipes.push(recipe.clone());
        }
    }

    pub(super) fn alive(&self) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        let exists = unsafe { libc::kill(self.pid, 0) } == 0;
        exists
            && std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false)
    }

    /// Types `fred-agent REQ` at gdb's prompt. A terminal takes lines of at most 4095
    /// bytes, so a longer request goes by a file: `fred-agent @PATH`.
    pub(super) fn send(&mut self, req: &Value) -> Result<()> {
        let mut text = req.to_string();
        if text.len() > 3000 {
            let path = std::env::temp_dir().join(format!("fred-gdb-{}.json", std::process::id()));
            std::fs::write(&path, &text).map_err(|e| {
                DebuggerError::Failed(format!("cannot write {}: {e}", path.display()))
            })?;
            text = format!("@{}", path.display());
        }
        self.pty
            .write(format!("fred-agent {text}\n").as_bytes())
            .map_err(|e| DebuggerError::Gone(format!("gdb is gone: {e}")))
    }

    /// Sends a request to the agent and waits for its reply (gdb's text is not shown).
    pub(super) fn request(&mut self, req: Value) -> Result<Value> {
        self.send(&req)?;
        let a = self.wait(false, false, &mut fred_personality::Discard)?;
        // FRED_TRACE=1 logs the exchanges with the agent to stderr, for work on fred.
        if std::env::var_os("FRED_TRACE").is_some() {
            eprintln!("[fred] {req}\n[fred] -> {}", a.reply);
        }
        self.pos = a.pos;
        if a.reply.get("interrupted").is_some() {
            return Err(DebuggerError::Interrupted);
        }
        if let Some(e) = a.reply.get("error").and_then(Value::as_str) {
            return Err(DebuggerError::Failed(e.to_string()));
        }
        Ok(a.reply)
    }
}

pub(super) fn drain(fd: RawFd) {
    let mut buf = [0u8; 64];
    // SAFETY: reading into a local buffer from a non-blocking descriptor.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}
