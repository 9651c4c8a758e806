//! The Python program's standard input: what it reads is logged and fed again on replay,
//! an end of file included; a script session's input file or pipe reaches it byte for byte;
//! and a program that reads never waits for a terminal that is not there.

mod support;

use std::time::Duration;

use support::{run_plain, Fred, TestDir};

const READER: &str = r#"
import sys
first = input()
rest = sys.stdin.read()
again = sys.stdin.read()
try:
    input()
    more = "more"
except EOFError:
    more = "eof"
print(len(first), len(rest), repr(again), more)
"#;

/// A long line, the bytes a terminal would take as line editing or signals, and more than
/// one buffer's worth after them.
fn input_text() -> String {
    let mut text = "x".repeat(5000);
    text.push('\n');
    text.push_str("ab\x7fc\x15d\x03e\x04f\x1a\n");
    for i in 0..2000 {
        text.push_str(&format!("line {i:05}\n"));
    }
    text
}

fn reads_its_input_exactly(pipe: bool) {
    let dir = TestDir::new(if pipe { "input-pipe" } else { "input-file" });
    let prog = dir.program(READER);
    let text = input_text();
    let fred = Fred::new(&dir);
    let fred = if pipe {
        fred.input_pipe(&text)
    } else {
        fred.input(&text)
    };
    let run = fred.limit(Duration::from_secs(30)).run(&[
        "break 10",
        "continue",
        "p len(first), len(rest), rest[:12], again, more",
        "reverse-watch rest",
        "next",
        "p len(rest), rest[:12], rest[-11:]",
        "clear 1",
        "continue",
    ]);
    let rest = text.len() - 5001;
    run[1].assert_at(&prog, 10, "<module>");
    run[2].assert_value(&format!(
        "(5000, {rest}, 'ab\\x7fc\\x15d\\x03e\\x04f\\x1a\\n', '', 'eof')"
    ));
    // Going back before the read and running it again reads the same bytes.
    run[3].assert_at(&prog, 3, "<module>");
    run[4].assert_at(&prog, 4, "<module>");
    run[5].assert_value(&format!(
        "({rest}, 'ab\\x7fc\\x15d\\x03e\\x04f\\x1a\\n', 'line 01999\\n')"
    ));
    assert_eq!(run[7].state, "finished", "{:?}", run[7]);
    assert!(
        run[7].output.contains(&format!("5000 {rest} '' eof")),
        "{:?}",
        run[7]
    );
}

#[test]
fn a_script_sessions_input_file_reaches_the_program_byte_for_byte() {
    reads_its_input_exactly(false);
}

#[test]
fn a_script_sessions_input_pipe_reaches_the_program_byte_for_byte() {
    reads_its_input_exactly(true);
}

#[test]
fn an_end_of_file_read_is_read_again_on_replay() {
    let dir = TestDir::new("input-eof-replay");
    let prog = dir.program(
        r#"
x = 1
try:
    name = input("name? ")
except EOFError:
    name = None
print("name", name)
"#,
    );
    let run = Fred::new(&dir)
        .limit(Duration::from_secs(30))
        .run(&["break 6", "continue", "p name", "rc", "continue", "p name"]);
    run[1].assert_at(&prog, 6, "<module>");
    run[2].assert_value("None");
    run[3].assert_at(&prog, 1, "<module>");
    run[4].assert_at(&prog, 6, "<module>");
    run[5].assert_value("None");
}

#[test]
fn commands_from_a_pipe_leave_the_program_an_end_of_file_not_a_wait() {
    let dir = TestDir::new("input-repl-pipe");
    dir.program("s = input()\nprint('read', s)\n");
    let (status, out, err) = run_plain(
        &dir,
        &["prog.py"],
        "continue\np 6 * 7\n",
        Duration::from_secs(20),
    );
    assert!(status.is_some(), "fred-pdb waited for input:\n{out}\n{err}");
    assert!(out.contains("EOFError"), "{out}\n{err}");
    assert!(out.contains("42"), "{out}\n{err}");
}
