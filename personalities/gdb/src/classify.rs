//! Which gdb commands run the program, which only look, and which may change its state.

use fred_personality::CommandClass;

const MOTION: &[&str] = &[
    "s", "step", "n", "next", "si", "stepi", "ni", "nexti", "c", "cont", "continue", "fg", "fin",
    "finish", "u", "until", "adv", "advance", RUN_ON,
];

/// The agent's command that goes on from the program's start after `run` again, as `run`
/// would: it stops at once for a breakpoint at the start, or continues.
pub(crate) const RUN_ON: &str = "fred-run-on";
const MUTATES: &[&str] = &["j", "jump", "call", "return", "signal", "queue-signal"];

/// Forward commands that can be typed ahead: `continue`, `next` and `step`, with at most a
/// count. (They cannot fail where the program stands at a stop in its own code, so their
/// answer needs no error of its own; `finish` can, in the outermost frame.)
pub fn types_ahead(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let word = words.next().unwrap_or("");
    let count = words.next();
    matches!(
        word,
        "c" | "cont" | "continue" | "n" | "next" | "s" | "step"
    ) && count.is_none_or(|n| n.bytes().all(|b| b.is_ascii_digit()))
        && words.next().is_none()
        && line.len() < 64
}

/// `continue` and its short forms, with or without a count.
pub fn continues(line: &str) -> bool {
    matches!(
        line.split_whitespace().next(),
        Some("c" | "cont" | "continue")
    )
}

/// Classifies a gdb command line. Assignments and expressions that call functions count as
/// [`CommandClass::Mutates`], since replay would not repeat them.
pub fn classify(line: &str) -> CommandClass {
    let line = line.trim();
    let (word, rest) = match line.find(|c: char| c.is_whitespace() || c == '/') {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    };
    match word {
        "q" | "quit" => CommandClass::Quit,
        "r" | "run" | "start" | "starti" => CommandClass::Restart,
        w if MOTION.contains(&w) => CommandClass::Motion,
        w if MUTATES.contains(&w) => CommandClass::Mutates,
        "set" if is_assignment_setting(rest) => CommandClass::Mutates,
        "p" | "print" | "output" | "call" | "inspect" if may_change(rest) => CommandClass::Mutates,
        _ => CommandClass::Inspect,
    }
}

/// `set var x = 1`, `set variable ...` and `set x = 1` change the program; `set listsize
/// 20` and other gdb settings do not.
fn is_assignment_setting(rest: &str) -> bool {
    let first = rest.split_whitespace().next().unwrap_or("");
    matches!(first, "var" | "variable") || (may_change(rest) && !rest.starts_with("print "))
}

/// Whether an expression may change the program: an assignment, `++`/`--`, or a call.
fn may_change(expr: &str) -> bool {
    let b = expr.as_bytes();
    for i in 0..b.len() {
        let prev = if i > 0 { b[i - 1] } else { b' ' };
        let next = b.get(i + 1).copied().unwrap_or(b' ');
        match b[i] {
            b'=' if !b"=!<>".contains(&prev) && next != b'=' => return true,
            b'+' if next == b'+' => return true,
            b'-' if next == b'-' => return true,
            b'(' if prev.is_ascii_alphanumeric() || prev == b'_' => return true,
            _ => {}
        }
    }
    false
}

/// Commands fred cannot let through: they would break the recorded session.
pub fn refused(line: &str) -> Option<&'static str> {
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or("");
    let second = words.next().unwrap_or("");
    match first {
        "checkpoint" | "restart" => Some("fred manages gdb's checkpoints; use fred-checkpoint and fred-restart N"),
        "delete" | "d" if second.starts_with("checkpoint") => {
            Some("fred manages gdb's checkpoints; fred-history lists them")
        }
        // gdb's list would show fred's own copies, with its mark on none the user is at.
        "info" | "i" if second.len() >= 2 && "checkpoints".starts_with(second) => {
            Some("fred manages gdb's checkpoints; fred-history lists them")
        }
        "k" | "kill" | "detach" | "attach" | "file" | "exec-file" | "target" => Some(
            "not under fred: it would end the recorded session; go back with a reverse command, or quit",
        ),
        "record" | "rec" => Some("fred's reverse commands replace gdb's record"),
        "commands" | "define" | "document" | "while" | "if" => {
            Some("multi-line command lists are not available under fred yet")
        }
        "python" | "py" | "pi" | "python-interactive" if second.is_empty() => {
            Some("use the one-line form, python CODE")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn motion_inspect_and_mutation() {
        assert_eq!(classify("next 3"), CommandClass::Motion);
        assert_eq!(classify("finish"), CommandClass::Motion);
        assert_eq!(classify("x/4x &a"), CommandClass::Inspect);
        assert_eq!(classify("print a == b"), CommandClass::Inspect);
        assert_eq!(classify("print a = b"), CommandClass::Mutates);
        assert_eq!(classify("p list_len(head)"), CommandClass::Mutates);
        assert_eq!(classify("set var x = 3"), CommandClass::Mutates);
        assert_eq!(classify("set listsize 20"), CommandClass::Inspect);
        assert_eq!(classify("run"), CommandClass::Restart);
        assert_eq!(classify("quit"), CommandClass::Quit);
        assert!(refused("delete checkpoint 2").is_some());
        assert!(refused("delete 2").is_none());
        assert!(refused("info checkpoints").is_some());
        assert!(refused("i check").is_some());
        assert!(refused("info breakpoints").is_none());
        assert!(refused("info c").is_none());
    }
}
