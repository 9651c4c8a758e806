//! Parsing a command line into a fred command or a line for the debugger.

/// A command the user typed, as fred sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `reverse-step [N]` / `rs`.
    ReverseStep(u64),
    /// `reverse-next [N]` / `rn`.
    ReverseNext(u64),
    /// `reverse-finish` / `rf`.
    ReverseFinish,
    /// `reverse-continue [N]` / `rc`.
    ReverseContinue(u64),
    /// `reverse-watch EXPR` / `rw`.
    ReverseWatch(String),
    /// `fred-checkpoint` / `ckpt`.
    Checkpoint,
    /// `fred-restart N`.
    Restart(u64),
    /// `fred-history`.
    History,
    /// `fred-goto N`.
    Goto(u64),
    /// `fred-undo [N]`.
    Undo(u64),
    /// `fred-help`.
    Help,
    /// `fred-expect ...`: an assertion for scripted sessions.
    Expect(Expectation),
    /// Anything else: passed to the debugger unchanged.
    Debugger(String),
}

/// What `fred-expect` checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// `fred-expect line N`: the program stands at line N.
    Line(u32),
    /// `fred-expect function NAME`: ... in function NAME.
    Function(String),
    /// `fred-expect output TEXT`: the previous command printed TEXT.
    Output(String),
    /// `fred-expect EXPR`: EXPR is true in the debugged program, here.
    Expr(String),
}

/// A command line fred could not make sense of; the message is one line for the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// The help text of `fred-help`.
pub const HELP: &str = "\
fred commands (everything else goes to the debugger unchanged):
  reverse-step [N]      rs   back to the stop before this one (steps into calls backwards)
  reverse-next [N]      rn   back to the previous line in this frame (over calls)
  reverse-finish        rf   back to where the current function was called
  reverse-continue [N]  rc   back to the previous breakpoint hit (or the start)
  reverse-watch EXPR    rw   back to the statement that last changed EXPR's value
  watch [EXPR]               (pdb) continue until EXPR changes; without EXPR, list watches
  unwatch [N]                (pdb) delete watch N, or all
  fred-checkpoint       ckpt take a checkpoint now
  fred-restart N             go to checkpoint N
  fred-history               the timeline: commands, checkpoints, where you are
  fred-goto N                go to the state after history entry N
  fred-undo [N]              undo the last N forward commands
  fred-help                  this list
  fred-expect line N | function NAME | output TEXT | EXPR
                             (scripts) fail unless the program stands there, the last
                             command printed TEXT, or EXPR is true
";

/// Parses one line. Reverse commands and `fred-` commands are fred's; the rest is the
/// debugger's.
pub fn parse(line: &str) -> Result<Command, ParseError> {
    let trimmed = line.trim();
    let (word, rest) = match trimmed.find(char::is_whitespace) {
        Some(i) => (&trimmed[..i], trimmed[i..].trim()),
        None => (trimmed, ""),
    };
    let count = |name: &str| -> Result<u64, ParseError> {
        if rest.is_empty() {
            return Ok(1);
        }
        match rest.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ParseError(format!(
                "{name}: expected a positive count, got '{}'",
                shown(rest)
            ))),
        }
    };
    let number = |name: &str| -> Result<u64, ParseError> {
        rest.parse::<u64>()
            .map_err(|_| ParseError(format!("{name}: expected a number, got '{}'", shown(rest))))
    };
    let none = |name: &str, c: Command| -> Result<Command, ParseError> {
        if rest.is_empty() {
            Ok(c)
        } else {
            Err(ParseError(format!("{name} takes no argument")))
        }
    };
    match word {
        "reverse-step" | "rs" => Ok(Command::ReverseStep(count("reverse-step")?)),
        "reverse-next" | "rn" => Ok(Command::ReverseNext(count("reverse-next")?)),
        "reverse-finish" | "rf" => none("reverse-finish", Command::ReverseFinish),
        "reverse-continue" | "rc" => Ok(Command::ReverseContinue(count("reverse-continue")?)),
        "reverse-watch" | "rw" if rest.is_empty() => Err(ParseError(
            "reverse-watch: which expression? (reverse-watch EXPR)".into(),
        )),
        "reverse-watch" | "rw" => Ok(Command::ReverseWatch(rest.to_string())),
        "fred-checkpoint" | "ckpt" => none("fred-checkpoint", Command::Checkpoint),
        "fred-restart" => Ok(Command::Restart(number("fred-restart")?)),
        "fred-history" => none("fred-history", Command::History),
        "fred-goto" => Ok(Command::Goto(number("fred-goto")?)),
        "fred-undo" => Ok(Command::Undo(count("fred-undo")?)),
        "fred-help" => none("fred-help", Command::Help),
        "fred-expect" => expectation(rest).map(Command::Expect),
        w if w.starts_with("fred-") || w.starts_with("reverse-") => Err(ParseError(format!(
            "unknown command '{}'; fred-help lists fred's commands",
            shown(w)
        ))),
        _ => Ok(Command::Debugger(line.to_string())),
    }
}

/// User text inside an error message: control characters escaped and long text cut, so
/// that the message stays one short line.
fn shown(text: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::new();
    for c in text.chars().take(MAX) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

fn expectation(rest: &str) -> Result<Expectation, ParseError> {
    let (what, arg) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    match what {
        "" => Err(ParseError(
            "fred-expect: what? (line N, function NAME, output TEXT, or an expression)".into(),
        )),
        "line" => arg.parse().map(Expectation::Line).map_err(|_| {
            ParseError(format!(
                "fred-expect line: expected a line number, got '{}'",
                shown(arg)
            ))
        }),
        "function" if !arg.is_empty() => Ok(Expectation::Function(arg.to_string())),
        "output" if !arg.is_empty() => Ok(Expectation::Output(arg.to_string())),
        _ => Ok(Expectation::Expr(rest.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Whatever is typed, parsing neither panics nor answers with more than one short
        // line; a debugger line is passed on unchanged.
        #[test]
        fn any_line_parses_to_a_command_or_a_one_line_error(line in "\\PC*|[ -~\t\r\x00-\x1f]{0,300}") {
            match parse(&line) {
                Ok(Command::Debugger(l)) => prop_assert_eq!(l, line),
                Ok(_) => {}
                Err(e) => {
                    prop_assert!(!e.0.contains('\n') && !e.0.contains('\r'), "{:?}", e.0);
                    prop_assert!(e.0.chars().count() < 200, "{:?}", e.0);
                }
            }
        }

        #[test]
        fn counts_and_expressions_come_through(n in 1u64..1_000_000, expr in "[a-z_][a-z0-9_.]{0,20}( [<>=]+ [0-9]{1,5})?") {
            prop_assert_eq!(parse(&format!("rs {n}")), Ok(Command::ReverseStep(n)));
            prop_assert_eq!(parse(&format!("reverse-next  {n} ")), Ok(Command::ReverseNext(n)));
            prop_assert_eq!(parse(&format!("rw {expr}")), Ok(Command::ReverseWatch(expr.clone())));
            prop_assert_eq!(
                parse(&format!("fred-expect {expr}")).is_ok(),
                true
            );
        }
    }

    #[test]
    fn aliases_counts_and_passthrough() {
        assert_eq!(parse("rs"), Ok(Command::ReverseStep(1)));
        assert_eq!(parse("reverse-next 3"), Ok(Command::ReverseNext(3)));
        assert_eq!(parse("rc 2"), Ok(Command::ReverseContinue(2)));
        assert_eq!(parse("fred-goto 4"), Ok(Command::Goto(4)));
        assert_eq!(
            parse("rw len(q) < 3"),
            Ok(Command::ReverseWatch("len(q) < 3".into()))
        );
        assert!(parse("reverse-watch").is_err());
        assert_eq!(
            parse("fred-expect line 12"),
            Ok(Command::Expect(Expectation::Line(12)))
        );
        assert_eq!(
            parse("fred-expect len(q) == 3"),
            Ok(Command::Expect(Expectation::Expr("len(q) == 3".into())))
        );
        assert_eq!(
            parse("fred-expect output total 30"),
            Ok(Command::Expect(Expectation::Output("total 30".into())))
        );
        assert!(parse("fred-expect line x").is_err());
        assert!(parse("fred-expect").is_err());
        assert_eq!(parse("p x"), Ok(Command::Debugger("p x".into())));
        assert_eq!(parse("  next"), Ok(Command::Debugger("  next".into())));
    }

    #[test]
    fn bad_arguments_are_one_line_errors() {
        assert!(parse("rs 0").is_err());
        assert!(parse("rs x").is_err());
        assert!(parse("fred-goto").is_err());
        assert!(parse("rf 2").is_err());
        let e = parse("fred-bogus").unwrap_err();
        assert!(e.0.contains("fred-bogus") && !e.0.contains('\n'));
    }
}
