//! The interactive prompt, on rustyline: line editing, a history file, and an empty line
//! repeating the last command as pdb does.

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

/// Reads commands until `quit`, Ctrl-D or a fatal error. Returns whether a fatal error
/// ended it.
pub fn run(session: &mut Session, history: Option<PathBuf>) -> Result<bool, ReadlineError> {
    let mut rl = DefaultEditor::new()?;
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    let mut last = String::new();
    let mut fatal = false;
    loop {
        let prompt = session.prompt().to_string();
        match rl.readline(&prompt) {
            Ok(line) => {
                let line = if line.trim().is_empty() {
                    if last.is_empty() {
                        continue;
                    }
                    last.clone()
                } else {
                    let _ = rl.add_history_entry(line.as_str());
                    last = line.clone();
                    line
                };
                let reply = session.run(&line, &mut Terminal);
                if let Some(e) = &reply.error {
                    println!("*** {e}");
                }
                if reply.quit {
                    break;
                }
                if reply.fatal {
                    fatal = true;
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                println!("*** that line is not valid UTF-8 text; it was ignored");
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
