//! Which pdb commands run the program, which only look, and which may change its state.

use fred_personality::CommandClass;

const MOTION: &[&str] = &[
    "s", "step", "n", "next", "c", "cont", "continue", "r", "return", "unt", "until",
];
const INSPECT: &[&str] = &[
    "l",
    "list",
    "ll",
    "longlist",
    "w",
    "where",
    "bt",
    "u",
    "up",
    "d",
    "down",
    "a",
    "args",
    "h",
    "help",
    "whatis",
    "source",
    "rv",
    "retval",
    "display",
    "undisplay",
    "exceptions",
    "exception",
];

/// Commands that only look at the program but change settings a restored copy must get:
/// breakpoints, aliases, breakpoint commands.
const SETTINGS: &[&str] = &[
    "b",
    "break",
    "tbreak",
    "cl",
    "clear",
    "disable",
    "enable",
    "condition",
    "ignore",
    "alias",
    "unalias",
    "commands",
];

/// The agent's command that gives the program new arguments at its start (`run ARGS`).
pub(crate) const SET_ARGUMENTS: &str = "fred_arguments";

/// The agent's command that says the program was restarted with its arguments, as pdb
/// says it (it only looks).
pub(crate) const SAY_RESTARTED: &str = "fred_restarted";

/// fred's watches, settings too.
const WATCHES: &[&str] = &["watch", "unwatch"];

/// Forward commands that can be typed ahead: `continue`, `next` and `step`, bare. (At a
/// stop in the program they cannot fail, so their answer needs no error of its own;
/// `until` and `return` with their arguments can.)
pub(crate) fn types_ahead(line: &str) -> bool {
    let mut words = line.split_whitespace();
    matches!(
        words.next(),
        Some("c" | "cont" | "continue" | "n" | "next" | "s" | "step")
    ) && words.next().is_none()
}

/// Whether a pdb command changes settings that a restored copy must get.
pub(crate) fn changes_settings(line: &str) -> bool {
    let word = line.split_whitespace().next().unwrap_or("");
    SETTINGS.contains(&word) || WATCHES.contains(&word)
}

/// Classifies a pdb command line. Expressions and statements that may call code or assign
/// count as [`CommandClass::Mutates`], since replay would not repeat them.
pub fn classify(line: &str) -> CommandClass {
    let line = line.trim();
    let (word, rest) = match line.find(|c: char| c.is_whitespace()) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    };
    match word {
        "q" | "quit" | "exit" => CommandClass::Quit,
        "run" | "restart" => CommandClass::Restart,
        "j" | "jump" | "debug" | "interact" | SET_ARGUMENTS => CommandClass::Mutates,
        w if MOTION.contains(&w) => CommandClass::Motion,
        w if INSPECT.contains(&w) || SETTINGS.contains(&w) => CommandClass::Inspect,
        "p" | "pp" => expression_class(rest),
        _ => expression_class(line.strip_prefix('!').unwrap_or(line)),
    }
}

/// Builtins that only read their arguments (as `p` itself reads its value, by its repr):
/// a call of one of these by name does not make an expression a change. (Not those that
/// consume an iterator, as `list`, `sorted` or `sum` do.)
const READ_ONLY_BUILTINS: &[&str] = &[
    "abs",
    "ascii",
    "bin",
    "bool",
    "callable",
    "chr",
    "dir",
    "divmod",
    "float",
    "format",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "hex",
    "id",
    "int",
    "isinstance",
    "issubclass",
    "len",
    "locals",
    "oct",
    "ord",
    "range",
    "repr",
    "round",
    "str",
    "type",
    "vars",
];

/// An expression without calls (other than of [`READ_ONLY_BUILTINS`]), assignments or
/// deletions only reads the program's state.
fn expression_class(code: &str) -> CommandClass {
    let stripped = code
        .replace("==", "")
        .replace("!=", "")
        .replace("<=", "")
        .replace(">=", "");
    let mutating = calls_code(&stripped)
        || stripped.contains('=')
        || code.split_whitespace().any(|w| w == "del" || w == "import");
    if mutating {
        CommandClass::Mutates
    } else {
        CommandClass::Inspect
    }
}

/// Whether `code` calls anything but a read-only builtin by name. A parenthesis after a
/// name, a closing bracket or a string is a call; any other groups or makes a tuple.
fn calls_code(code: &str) -> bool {
    let chars: Vec<char> = code.chars().collect();
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    chars.iter().enumerate().any(|(i, &c)| {
        if c != '(' {
            return false;
        }
        let mut end = i;
        while end > 0 && chars[end - 1].is_whitespace() {
            end -= 1;
        }
        let mut start = end;
        while start > 0 && is_name(chars[start - 1]) {
            start -= 1;
        }
        if start == end {
            // After `)`, `]` or a quote: a call of what they made; else a group or tuple.
            return end > 0 && matches!(chars[end - 1], ')' | ']' | '"' | '\'');
        }
        let name: String = chars[start..end].iter().collect();
        let attribute = start > 0 && chars[start - 1] == '.';
        attribute || !READ_ONLY_BUILTINS.contains(&name.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn motion_inspect_and_mutation() {
        assert_eq!(classify("next"), CommandClass::Motion);
        assert_eq!(classify("c"), CommandClass::Motion);
        assert_eq!(classify("p x + 1"), CommandClass::Inspect);
        assert_eq!(classify("p x == 1"), CommandClass::Inspect);
        assert_eq!(classify("p f(x)"), CommandClass::Mutates);
        assert_eq!(classify("p len(x)"), CommandClass::Inspect);
        assert_eq!(classify("p (x + 1) * 2"), CommandClass::Inspect);
        assert_eq!(classify("p len(f(x))"), CommandClass::Mutates);
        assert_eq!(classify("p xs.pop()"), CommandClass::Mutates);
        assert_eq!(classify("p obj.len(x)"), CommandClass::Mutates);
        assert_eq!(classify("p sorted(it)"), CommandClass::Mutates);
        assert_eq!(classify("p (lambda: 1)()"), CommandClass::Mutates);
        assert_eq!(
            classify("p isinstance(x, int) and len (x) > 2"),
            CommandClass::Inspect
        );
        assert_eq!(classify("!x = 3"), CommandClass::Mutates);
        assert_eq!(classify("x = 3"), CommandClass::Mutates);
        assert_eq!(classify("break 12"), CommandClass::Inspect);
        assert_eq!(classify("jump 4"), CommandClass::Mutates);
        assert_eq!(classify("quit"), CommandClass::Quit);
        assert_eq!(classify("restart"), CommandClass::Restart);
    }

    #[test]
    fn only_bare_forward_commands_type_ahead() {
        assert!(types_ahead("continue"));
        assert!(types_ahead(" n "));
        assert!(types_ahead("step"));
        assert!(!types_ahead("until 12"));
        assert!(!types_ahead("c 3"));
        assert!(!types_ahead("return"));
        assert!(!types_ahead("p x"));
    }
}
