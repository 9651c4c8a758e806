//! The interactive prompt, on rustyline: line editing, a history file, and an empty line
//! repeating the last command as pdb does. Commands piped in (stdin not a terminal) are read
//! as plain lines, each echoed after the prompt once.

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::output::Terminal;
use crate::session::Session;

/// Where the line-editing history is kept across sessions.
pub fn history_file(tool: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("fred").join(format!("{tool}-history")))
}

/// What to do after a command.
enum Flow {
    Go,
    Quit,
    Fatal,
}

/// Runs one line as typed: an empty one repeats the last command.
fn execute(session: &mut Session, typed: &str, last: &mut String) -> Flow {
    let line = if typed.trim().is_empty() {
        if last.is_empty() {
            return Flow::Go;
        }
        last.clone()
    } else {
        *last = typed.to_string();
        typed.to_string()
    };
    let reply = session.run(&line, &mut Terminal);
    crate::cli::stop_if_ending();
    if let Some(e) = &reply.error {
        println!("*** {e}");
    }
    if reply.quit {
        Flow::Quit
    } else if reply.fatal {
        Flow::Fatal
    } else {
        Flow::Go
    }
}

/// The line a user must be told was ignored because it is not text.
const NOT_UTF8: &str = "*** that line is not valid UTF-8 text; it was ignored";

/// Reads commands until `quit`, Ctrl-D or a fatal error. Returns whether a fatal error
/// ended it.
pub fn run(session: &mut Session, history: Option<PathBuf>) -> Result<bool, ReadlineError> {
    if !std::io::stdin().is_terminal() {
        return Ok(run_piped(session));
    }
    let mut rl = DefaultEditor::new()?;
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    let mut last = String::new();
    let mut fatal = false;
    let mut queued: VecDeque<String> = VecDeque::new();
    loop {
        let prompt = session.prompt().to_string();
        let read = match queued.pop_front() {
            Some(line) => {
                println!("{prompt}{line}");
                Ok(line)
            }
            // Lines typed ahead (while a command ran) are read here one at a time: rustyline
            // reads what is waiting in bulk and keeps only its first line.
            None => match typed_ahead() {
                Some(line) => {
                    println!("{prompt}{line}");
                    Ok(line)
                }
                None => rl.readline(&prompt),
            },
        };
        match read {
            Ok(text) => {
                // A paste of several lines is several commands, as pdb and gdb read them.
                let mut lines = text
                    .split('\n')
                    .map(|l| l.trim_end_matches('\r').to_string());
                let first = lines.next().unwrap_or_default();
                queued.extend(lines.filter(|l| !l.trim().is_empty()));
                if !first.trim().is_empty() {
                    let _ = rl.add_history_entry(first.as_str());
                }
                match execute(session, &first, &mut last) {
                    Flow::Go => {}
                    Flow::Quit => break,
                    Flow::Fatal => {
                        fatal = true;
                        break;
                    }
                }
                session.idle();
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                println!("{NOT_UTF8}");
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = rl.save_history(h) {
            eprintln!(
                "fred: the command history was not saved to {}: {e}",
                h.display()
            );
        }
    }
    Ok(fatal)
}

/// Commands from a pipe or file: one line at a time, in order, whole however long, each
/// shown after the prompt as if typed; no line editing and no history file.
fn run_piped(session: &mut Session) -> bool {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut last = String::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        let prompt = session.prompt().to_string();
        let Ok(text) = std::str::from_utf8(&buf) else {
            println!("{prompt}");
            println!("{NOT_UTF8}");
            continue;
        };
        let line = text.trim_end_matches(['\n', '\r']);
        println!("{prompt}{line}");
        match execute(session, line, &mut last) {
            Flow::Go => {}
            Flow::Quit => return false,
            Flow::Fatal => return true,
        }
    }
}

/// A line the user typed before the prompt came back, if one is waiting in the terminal
/// (which is in its ordinary line mode between prompts, so a read returns one line).
fn typed_ahead() -> Option<String> {
    let mut waiting: libc::c_int = 0;
    // SAFETY: FIONREAD writes the number of bytes waiting into `waiting`.
    if unsafe { libc::ioctl(0, libc::FIONREAD, &mut waiting) } != 0 || waiting <= 0 {
        return None;
    }
    let mut buf = [0u8; 4096];
    // SAFETY: reading into a local buffer of the given size.
    let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return None;
    }
    let text = String::from_utf8_lossy(&buf[..n as usize]);
    Some(text.trim_end_matches(['\n', '\r']).to_string())
}
