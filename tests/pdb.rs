//! Integration tests of `fred-pdb`: the real binary on a real python3, driven in batch JSON
//! mode (`-x FILE --json`). Each test writes its own program into its own temp directory.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{cmds, times, Fred, Pos, Reply, TestDir};

// ----- programs ----------------------------------------------------------------------------

/// Calls, a loop, recursion, a caught exception and a generator.
const MIXED: &str = r#"
def square(x):
    y = x * x
    return y


def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)


def risky(v):
    try:
        if v == 2:
            raise ValueError("two")
        return v
    except ValueError:
        return -1


def gen(k):
    for i in range(k):
        yield i * 10


def main():
    total = 0
    for v in [1, 2, 3]:
        total += square(v)
        total += risky(v)
    f = fact(3)
    g = sum(gen(3))
    return total + f + g


result = main()
print("result", result)
"#;

/// A call, then recursion, inside `main`.
const CALLS: &str = r#"
def add(a, b):
    s = a + b
    return s


def fact(n):
    if n <= 1:
        return 1
    r = n * fact(n - 1)
    return r


def main():
    x = 1
    y = add(x, 2)
    z = y + 1
    w = fact(4)
    return x + y + z + w


main()
"#;

/// A loop calling a function: breakpoint hits at line 2 with x = 0..4.
const LOOP: &str = r#"
def work(x):
    y = x * 2
    return y


total = 0
for i in range(5):
    total += work(i)
print("done", total)
"#;

/// Dies of an uncaught ZeroDivisionError in `divide` (b == 0) on the fourth call.
const CRASH: &str = r#"
def divide(a, b):
    q = a // b
    return q


def main():
    out = []
    for d in [3, 2, 1, 0]:
        out.append(divide(12, d))
    return out


main()
"#;

// ----- helpers -----------------------------------------------------------------------------

/// Positions recorded going forward with `step`, and what `rs` did coming back.
struct RoundTrip {
    /// The first stop, then the position after every `step` that moved.
    forward: Vec<Pos>,
    /// Every way the way back differed from the way forward, one line each.
    mismatches: Vec<String>,
}

/// `where` (to record the first stop), `step` × `steps`, then `rs` × `steps`: the k-th `rs`
/// must land where the program stood before the k-th last `step`. Steps after the program
/// ended must fail and not move; `rs` past the first stop must fail with a one-line error.
fn step_round_trip(python: Option<&Path>, steps: usize) -> RoundTrip {
    let dir = TestDir::new("roundtrip");
    dir.program(MIXED);
    let commands = cmds(&[&["where"], &times("step", steps), &times("rs", steps)]);
    let mut fred = Fred::new(&dir);
    if let Some(p) = python {
        fred = fred.python(p);
    }
    let run = fred.run(&commands);
    let mut forward = vec![run[0].pos()];
    let mut mismatches = Vec::new();
    for r in &run.replies[1..=steps] {
        match &r.error {
            None => {
                let prev = forward.last().unwrap();
                assert!(r.time > prev.time, "step did not advance time: {r:#?}");
                forward.push(r.pos());
            }
            Some(_) => {
                r.assert_error("ended");
                assert_eq!(forward.last().unwrap().state, "finished", "{r:#?}");
                assert_eq!(&r.pos(), forward.last().unwrap());
            }
        }
    }
    let moved = forward.len() - 1;
    for (k, r) in run.replies[steps + 1..].iter().enumerate() {
        let k = k + 1;
        if k <= moved {
            let want = &forward[moved - k];
            let got = r.pos();
            if r.error.is_some() || &got != want {
                mismatches.push(format!(
                    "rs #{k}: from {} expected {want}, got {got} (error {:?}); \
                     later landings are not compared",
                    forward[moved - k + 1],
                    r.error
                ));
                break;
            }
        } else {
            if r.error.is_none() || r.error.as_deref().is_some_and(|e| e.contains('\n')) {
                mismatches.push(format!(
                    "rs #{k} at the first stop: expected a one-line error, got {:?}",
                    r.error
                ));
            }
            if r.pos() != forward[0] {
                mismatches.push(format!(
                    "rs #{k} at the first stop moved to {} (should stay at {})",
                    r.pos(),
                    forward[0]
                ));
            }
        }
    }
    RoundTrip {
        forward,
        mismatches,
    }
}

fn visited(forward: &[Pos], line: u64, function: &str) -> bool {
    forward.iter().any(|p| {
        p.loc
            .as_ref()
            .is_some_and(|l| l.line == line && l.function == function)
    })
}

fn assert_no_processes_left(dir: &TestDir, limit: Duration) {
    let left = support::wait_until_gone(dir.as_str(), limit);
    support::kill_all(&left);
    assert!(
        left.is_empty(),
        "processes of the session are left after {limit:?}: {left:#?}"
    );
}

/// Asserts that `r` did not move from where `before` stood.
#[track_caller]
fn assert_stayed(r: &Reply, before: &Reply) {
    assert_eq!(r.pos(), before.pos(), "{:?} moved: {r:#?}", r.command);
}

// ----- 1. reverse-step is the inverse of step ------------------------------------------------

#[test]
fn reverse_step_inverts_step_through_the_end_of_the_program() {
    let rt = step_round_trip(None, 100);
    let f = &rt.forward;
    assert_eq!(
        f.last().unwrap().state,
        "finished",
        "100 steps should reach the end: {f:#?}"
    );
    // The walk covered what it is meant to cover.
    assert!(visited(f, 2, "square"), "a call");
    assert!(visited(f, 8, "fact"), "the bottom of the recursion");
    assert!(
        visited(f, 15, "risky") && visited(f, 18, "risky"),
        "the caught exception"
    );
    assert!(visited(f, 23, "gen"), "the generator");
    assert!(
        rt.mismatches.is_empty(),
        "reverse-step is not the inverse of step:\n{}",
        rt.mismatches.join("\n")
    );
}

#[test]
fn reverse_step_inverts_step_inside_the_program() {
    // 60 steps end inside the recursion of fact, before the program ends.
    let rt = step_round_trip(None, 60);
    assert_eq!(rt.forward.len(), 61);
    assert!(visited(&rt.forward, 18, "risky"));
    assert!(
        rt.mismatches.is_empty(),
        "reverse-step is not the inverse of step:\n{}",
        rt.mismatches.join("\n")
    );
}

#[test]
fn reverse_step_count_and_locals() {
    let dir = TestDir::new("rs-count");
    let prog = dir.program(MIXED);
    let commands = cmds(&[
        &["break 3", "continue", "continue"],
        &[
            "p x", "p y", "rs", "p y", "rs 2", "p v", "rs 3", "p v", "p total",
        ],
        &["step", "step", "step"],
    ]);
    let run = Fred::new(&dir).run(&commands);
    // Second hit of `return y` in square, for v == 2.
    run[2].assert_at(&prog, 3, "square");
    run[3].assert_value("2");
    run[4].assert_value("4");
    // Back over `y = x * x`.
    run[5].assert_at(&prog, 2, "square");
    run[6].assert_undefined();
    // Two more: the --Call-- of square, then main's line 29 that made the call.
    run[7].assert_at(&prog, 29, "main");
    assert_eq!(run[7].time, run[5].time - 2);
    run[8].assert_value("2");
    // Three more: back through risky(1)'s return into it.
    run[9].assert_at(&prog, 16, "risky");
    assert_eq!(run[9].time, run[7].time - 3);
    run[10].assert_value("1");
    run[11].assert_undefined(); // `total` is main's, not risky's
                                // Forward again with step retraces the same stops.
    run[12].assert_at(&prog, 16, "risky");
    assert_eq!(run[12].time, run[9].time + 1);
    run[13].assert_at(&prog, 28, "main");
    run[14].assert_at(&prog, 29, "main");
    assert_eq!(run[14].time, run[7].time);
}

// ----- 2. reverse-next -----------------------------------------------------------------------

#[test]
fn reverse_next_steps_over_calls_and_leaves_at_the_first_line() {
    let dir = TestDir::new("rn");
    let prog = dir.program(CALLS);
    let run = Fred::new(&dir).run(&[
        "break 16", // z = y + 1
        "continue", "rn", // over add(): back to line 15 in main, not inside add
        "p x", "p y", "rn", // line 14, the first line of main
        "rn", // the caller's line that called main
        "p x",
    ]);
    run[1].assert_at(&prog, 16, "main");
    run[2].assert_at(&prog, 15, "main");
    run[3].assert_value("1");
    run[4].assert_undefined(); // before the call: y is not assigned yet
    run[5].assert_at(&prog, 14, "main");
    run[6].assert_at(&prog, 21, "<module>");
    run[7].assert_undefined();
}

#[test]
fn reverse_next_at_the_first_line_of_a_function_goes_to_the_call() {
    let dir = TestDir::new("rn-first");
    let prog = dir.program(CALLS);
    let run = Fred::new(&dir).run(&["break 2", "continue", "p a", "rn", "p x", "p y"]);
    run[1].assert_at(&prog, 2, "add");
    run[2].assert_value("1");
    run[3].assert_at(&prog, 15, "main");
    run[4].assert_value("1");
    run[5].assert_undefined();
}

#[test]
fn reverse_next_over_recursion_and_with_a_count() {
    let dir = TestDir::new("rn-count");
    let prog = dir.program(CALLS);
    let run = Fred::new(&dir).run(&[
        "break 10, n == 4", // return r, in the outermost fact
        "continue",
        "rn", // over the whole recursion: line 9 of fact(4)
        "p n",
        "p r",
        "fred-goto 1", // back to line 10 (history entry 1: the continue)
        "rn 2",        // line 9, then line 7 of fact(4)
        "p n",
        "clear 1",
        "break 17",
        "rc",   // back out of fact(4) to w = fact(4)
        "rn 2", // line 16, then over add() to line 15
        "rn 2", // line 14, then out to the module's call
    ]);
    run[1].assert_at(&prog, 10, "fact");
    run[2].assert_at(&prog, 9, "fact");
    run[3].assert_value("4");
    run[4].assert_undefined();
    run[6].assert_at(&prog, 7, "fact");
    run[7].assert_value("4");
    run[10].assert_at(&prog, 17, "main");
    run[11].assert_at(&prog, 15, "main");
    run[12].assert_at(&prog, 21, "<module>");
}

#[test]
fn reverse_next_inverts_next_within_a_frame() {
    // From main's first line to its return, `next` stays in main's frame (over calls, a
    // caught exception and a generator); `rn` must retrace exactly the same stops.
    let dir = TestDir::new("rn-inverse");
    let prog = dir.program(MIXED);
    let n = 14;
    let commands = cmds(&[
        &["break 27", "continue"],
        &times("next", n),
        &times("rn", n),
    ]);
    let run = Fred::new(&dir).run(&commands);
    run[1].assert_at(&prog, 27, "main");
    let forward: Vec<Pos> = run.replies[1..=n + 1].iter().map(Reply::pos).collect();
    let lines: Vec<u64> = run.replies[1..=n + 1].iter().map(Reply::line).collect();
    assert_eq!(
        lines,
        [27, 28, 29, 30, 28, 29, 30, 28, 29, 30, 28, 31, 32, 33, 33],
        "next in main"
    );
    assert!(run.replies[1..=n + 1]
        .iter()
        .all(|r| r.function() == "main"));
    for k in 1..=n {
        let r = &run[n + 1 + k];
        assert_eq!(
            (r.error.as_deref(), r.pos()),
            (None, forward[n - k].clone()),
            "rn #{k} from {} should land on {}",
            forward[n - k + 1],
            forward[n - k]
        );
    }
}

// ----- 3. reverse-finish ---------------------------------------------------------------------

#[test]
fn reverse_finish_climbs_out_of_recursion_to_the_outermost_frame() {
    let dir = TestDir::new("rf");
    let prog = dir.program(CALLS);
    let run = Fred::new(&dir).run(&[
        "break 8", // return 1, at the bottom of fact(4)
        "continue", "p n", "rf", "p n",
        "p r", // the caller's line before the call: r not assigned yet
        "rf", "p n", "rf", "p n", "rf", // out of fact(4) into main
        "p x", "p w", "rf", // out of main into the module
        "rf", // outermost: an error, and no move
        "next",
    ]);
    run[1].assert_at(&prog, 8, "fact");
    run[2].assert_value("1");
    run[3].assert_at(&prog, 9, "fact");
    run[4].assert_value("2");
    run[5].assert_undefined();
    run[6].assert_at(&prog, 9, "fact");
    run[7].assert_value("3");
    run[8].assert_at(&prog, 9, "fact");
    run[9].assert_value("4");
    run[10].assert_at(&prog, 17, "main");
    run[11].assert_value("1");
    run[12].assert_undefined();
    run[13].assert_at(&prog, 21, "<module>");
    run[14].assert_error("outermost");
    assert_stayed(&run[14], &run[13]);
    run[15].assert_ok();
    assert!(run[15].time > run[14].time, "next after the error must run");
}

// ----- 4. reverse-continue -------------------------------------------------------------------

#[test]
fn reverse_continue_finds_breakpoints_set_after_the_fact() {
    let dir = TestDir::new("rc");
    let prog = dir.program(LOOP);
    let run = Fred::new(&dir).run(&[
        "break 9", // print("done", total): after the loop
        "continue", "break 2", "rc", "p x", "rc", "p x", "rc 2", "p x", "p i", "rc", "p x",
        "rc", // no earlier hit: to the start, saying so
        "rc", // at the start: an error
        "continue", "p x",
    ]);
    run[1].assert_at(&prog, 9, "<module>");
    for (i, x) in [(3, "4"), (5, "3"), (7, "1"), (10, "0")] {
        run[i].assert_at(&prog, 2, "work");
        run[i + 1].assert_value(x);
    }
    run[9].assert_value("1");
    assert!(run[3].time > run[5].time && run[5].time > run[7].time);
    run[12].assert_at(&prog, 1, "<module>");
    assert!(
        run[12].output.to_lowercase().contains("start"),
        "rc without an earlier hit must say it went to the start: {:#?}",
        run[12]
    );
    run[13].assert_error("start");
    assert_stayed(&run[13], &run[12]);
    // Forward again: the breakpoint set after the fact stops the re-run.
    run[14].assert_at(&prog, 2, "work");
    run[15].assert_value("0");
}

#[test]
fn reverse_continue_honours_conditions() {
    let dir = TestDir::new("rc-cond");
    let prog = dir.program(LOOP);
    let run = Fred::new(&dir).run(&[
        "break 9",
        "continue",
        "break 2, x == 1",
        "rc",
        "p x",
        "p total",
        "rc",
    ]);
    run[3].assert_at(&prog, 2, "work");
    run[4].assert_value("1");
    run[5].assert_value("0");
    run[6].assert_at(&prog, 1, "<module>");
    assert!(
        run[6].output.to_lowercase().contains("start"),
        "{:#?}",
        run[6]
    );
}

#[test]
fn reverse_continue_after_the_program_finished() {
    // As a user does it: run to the end, then set the breakpoint and go back.
    let dir = TestDir::new("rc-end");
    let prog = dir.program(LOOP);
    let run = Fred::new(&dir).run(&["continue", "break 2", "rc", "p x", "rc", "p x"]);
    assert_eq!(run[0].state, "finished");
    assert_eq!(run[0].loc, None);
    run[1].assert_ok();
    assert!(
        run[1].output.contains("Breakpoint 1 at"),
        "break after the end must set the breakpoint: {:#?}",
        run[1]
    );
    run[2].assert_at(&prog, 2, "work");
    run[3].assert_value("4");
    run[4].assert_at(&prog, 2, "work");
    run[5].assert_value("3");
}

#[test]
fn reverse_continue_with_function_and_temporary_breakpoints() {
    let dir = TestDir::new("rc-func");
    let prog = dir.program(MIXED);
    let run = Fred::new(&dir).run(&[
        "break 37",
        "continue",
        "break square", // stops at square's first line
        "rc",
        "p x",
        "rc",
        "p x",
        "tbreak 30",
        "rc",
        "p v",
    ]);
    run[1].assert_at(&prog, 37, "<module>");
    run[3].assert_at(&prog, 2, "square");
    run[4].assert_value("3");
    run[5].assert_at(&prog, 2, "square");
    run[6].assert_value("2");
    // The last time line 30 ran before the second square(): for v == 1.
    run[8].assert_at(&prog, 30, "main");
    run[9].assert_value("1");
}

// ----- 5. after the end and post-mortem ------------------------------------------------------

#[test]
fn reverse_commands_after_the_program_finished() {
    let dir = TestDir::new("finished");
    let prog = dir.program(LOOP);
    let run = Fred::new(&dir).run(&["continue", "rs", "p total", "rn", "p i", "rf"]);
    assert!(run[0].output.contains("done 20"));
    assert_eq!(run[0].state, "finished");
    assert_eq!(run[0].loc, None, "no live frame after the end");
    // The return from the module, after the print.
    run[1].assert_at(&prog, 9, "<module>");
    run[2].assert_value("20");
    run[3].assert_ok();
    assert!(run[3].time < run[1].time);
    assert_eq!(run[3].function(), "<module>");
    run[4].assert_value("4");
    run[5].assert_error("outermost");
}

#[test]
fn post_mortem_reverse_step_lands_on_the_raising_statement() {
    let dir = TestDir::new("postmortem");
    let prog = dir.program(CRASH);
    let run = Fred::new(&dir).run(&[
        "continue", "rs", "p a", "p b", "p q", "rs", "rs", // the --Call-- of divide(12, 0)
        "rn", // main's line that made the call
        "p d", "p out", "rf", "continue", // forward again: the same crash
    ]);
    assert_eq!(run[0].state, "postmortem");
    assert!(run[0].output.contains("ZeroDivisionError"));
    assert_eq!(run[0].loc.as_ref().map(|l| l.line), Some(2));
    run[1].assert_at(&prog, 2, "divide");
    assert!(run[1].time < run[0].time);
    run[2].assert_value("12");
    run[3].assert_value("0");
    run[4].assert_undefined();
    run[5].assert_at(&prog, 2, "divide");
    assert!(run[5].time < run[1].time);
    run[6].assert_at(&prog, 1, "divide");
    run[7].assert_at(&prog, 9, "main");
    run[8].assert_value("0");
    run[9].assert_value("[4, 6, 12]");
    run[10].assert_at(&prog, 13, "<module>");
    assert_eq!(run[11].state, "postmortem");
    assert_eq!(run[11].time, run[0].time);
}

#[test]
fn post_mortem_other_reverse_commands() {
    let dir = TestDir::new("postmortem-rn");
    let prog = dir.program(CRASH);
    let run = Fred::new(&dir).run(&[
        "break 3",
        "continue",
        "continue",
        "continue",
        "continue", // the crash
        "rc",       // the last hit of line 3 was for d == 1
        "p b",
        "fred-goto 4",
        "rf",
        "p d",
    ]);
    assert_eq!(run[4].state, "postmortem");
    run[5].assert_at(&prog, 3, "divide");
    run[6].assert_value("1");
    assert_eq!(run[7].state, "postmortem");
    assert_eq!(run[7].time, run[4].time);
    run[8].assert_at(&prog, 9, "main");
    run[9].assert_value("0");
}

// ----- 6. the start of history ---------------------------------------------------------------

#[test]
fn reverse_at_the_start_of_history_is_a_one_line_error() {
    let dir = TestDir::new("start");
    let prog = dir.program(CALLS);
    let run = Fred::new(&dir).run(&["where", "rs", "rn", "rc", "rs 3", "rf", "next", "p 6 * 7"]);
    run[0].assert_at(&prog, 1, "<module>");
    for i in 1..=4 {
        run[i].assert_error("start");
        assert_stayed(&run[i], &run[0]);
    }
    run[5].assert_error("outermost");
    run[6].assert_at(&prog, 6, "<module>");
    run[7].assert_value("42");
}

// ----- 7. replay is silent -------------------------------------------------------------------

#[test]
fn replay_does_not_print_the_program_output_again() {
    let dir = TestDir::new("silent");
    let prog = dir.program(
        r#"
import sys
for i in range(6):
    print("line-%d-unique" % i)
    sys.stdout.write("written-%d\n" % i)
print("end-marker")
"#,
    );
    let run = Fred::new(&dir).run(&[
        "continue",
        "rs",
        "rs 5",
        "rn 3",
        "rc",
        "fred-goto 1",
        "fred-undo",
        "next",
        "next",
        "next",
        "next",
    ]);
    assert_eq!(run[0].state, "finished");
    let backwards: String = run.replies[..7].iter().map(|r| r.output.as_str()).collect();
    for i in 0..6 {
        for text in [format!("line-{i}-unique\n"), format!("written-{i}\n")] {
            assert_eq!(
                backwards.matches(&text).count(),
                1,
                "{text:?} must be printed exactly once; output:\n{backwards}"
            );
        }
    }
    assert_eq!(backwards.matches("end-marker\n").count(), 1);
    // Going forward again after going back runs the program again, and prints again.
    run[9].assert_at(&prog, 4, "<module>");
    assert_eq!(run[9].output.matches("line-0-unique\n").count(), 1);
    run[10].assert_at(&prog, 2, "<module>");
    assert_eq!(run[10].output.matches("written-0\n").count(), 1);
    assert_eq!(run.all_output().matches("line-1-unique").count(), 1);
}

// ----- 8. history, goto, undo, checkpoints, bad input ----------------------------------------

#[test]
fn history_goto_undo_and_checkpoints() {
    let dir = TestDir::new("history");
    let prog = dir.program(CALLS);
    let run = Fred::new(&dir).run(&[
        "next",            // 0: entry 1, line 6
        "next",            // 1: entry 2, line 13
        "fred-checkpoint", // 2
        "next",            // 3: entry 3, line 21
        "step",            // 4: entry 4, --Call-- main
        "fred-history",    // 5
        "fred-goto 2",     // 6
        "fred-undo",       // 7: back to entry 1
        "fred-goto 4",     // 8: the future is still there
        "fred-undo 2",     // 9: entry 2
        "fred-restart 0",  // 10: the first checkpoint: the start
        "next",            // 11: a new branch from the start
        "fred-history",    // 12
        "fred-goto 4",     // 13: dropped with the old future
    ]);
    run[0].assert_at(&prog, 6, "<module>");
    run[1].assert_at(&prog, 13, "<module>");
    let ck = &run[2];
    ck.assert_ok();
    let words: Vec<&str> = ck.output.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"Checkpoint"), "{ck:#?}");
    let at_time = format!("t={}.", run[1].time);
    assert_eq!(words.get(3), Some(&at_time.as_str()), "{ck:#?}");
    run[3].assert_at(&prog, 21, "<module>");
    run[4].assert_at(&prog, 13, "main");
    let h = &run[5].output;
    run[5].assert_ok();
    for needle in ["next", "step", "*    4", "Checkpoints"] {
        assert!(h.contains(needle), "history lacks {needle:?}:\n{h}");
    }
    run[6].assert_at(&prog, 13, "<module>");
    assert_eq!(run[6].time, run[1].time);
    run[7].assert_at(&prog, 6, "<module>");
    assert_eq!(run[7].time, run[0].time);
    run[8].assert_at(&prog, 13, "main");
    assert_eq!(run[8].time, run[4].time);
    run[9].assert_at(&prog, 13, "<module>");
    assert_eq!(run[9].time, run[1].time);
    run[10].assert_at(&prog, 1, "<module>");
    run[11].assert_at(&prog, 6, "<module>");
    assert!(run[12].output.contains("new branch"), "{}", run[12].output);
    run[13].assert_error("no history entry");
    assert_stayed(&run[13], &run[11]);
}

#[test]
fn restart_goes_to_a_manual_checkpoint() {
    let dir = TestDir::new("restart");
    let prog = dir.program(CALLS);
    let run = Fred::new(&dir).run(&["break 16", "continue", "ckpt", "next", "next", "p z"]);
    run[1].assert_at(&prog, 16, "main");
    let id: u64 = run[2]
        .output
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("checkpoint id in {:?}", run[2].output));
    let run2 = Fred::new(&dir).run(&[
        "break 16",
        "continue",
        "ckpt",
        "next",
        "next",
        &format!("fred-restart {id}"),
        "p y",
        "p z",
        "next",
        "p z",
    ]);
    run2[5].assert_at(&prog, 16, "main");
    assert_eq!(run2[5].time, run[1].time);
    run2[6].assert_value("3");
    run2[7].assert_undefined();
    run2[8].assert_at(&prog, 17, "main");
    run2[9].assert_value("4");
}

#[test]
fn bad_input_gives_one_line_errors_and_an_intact_session() {
    let dir = TestDir::new("bad-input");
    let prog = dir.program(CALLS);
    let run = Fred::new(&dir).run(&[
        "next",
        "fred-foo",
        "fred-goto 999",
        "fred-restart 999",
        "rs abc",
        "reverse-bogus",
        "rs 0",
        "fred-goto",
        "next",
        "rs",
    ]);
    run[0].assert_at(&prog, 6, "<module>");
    run[1].assert_error("fred-foo");
    run[2].assert_error("999");
    run[3].assert_error("999");
    run[4].assert_error("abc");
    run[5].assert_error("reverse-bogus");
    run[6].assert_error("0");
    run[7].assert_error("fred-goto");
    for i in 1..=7 {
        assert_stayed(&run[i], &run[0]);
        assert_eq!(run[i].output, "", "{:#?}", run[i]);
    }
    run[8].assert_at(&prog, 13, "<module>");
    run[9].assert_at(&prog, 6, "<module>");
    assert!(run.status.success(), "every command ran: {}", run.status);
}

#[test]
fn every_landing_shows_where_it_landed() {
    // Like pdb after every move, a command that moves the program prints the new stop.
    let dir = TestDir::new("landing");
    let prog = dir.program(CALLS);
    let run = Fred::new(&dir).run(&[
        "next",
        "next",
        "ckpt",
        "next",
        "rs",          // lands on the checkpoint at line 13
        "rs",          // lands on line 6
        "rs",          // lands on the first stop
        "fred-goto 2", // the checkpoint again
        "fred-restart 0",
    ]);
    let file = prog.to_str().unwrap();
    for (i, line) in [(4, 13), (5, 6), (6, 1), (7, 13), (8, 1)] {
        let r = &run[i];
        r.assert_at(&prog, line, "<module>");
        let shown = format!("> {file}({line})<module>()");
        assert!(
            r.output.contains(&shown),
            "{:?} should print {shown:?}, printed {:?}",
            r.command,
            r.output
        );
    }
}

// ----- 9. -m module --------------------------------------------------------------------------

#[test]
fn module_mode_runs_a_module_from_the_current_directory() {
    let dir = TestDir::new("module");
    let module = dir.write(
        "mymod.py",
        r#"
import sys


def twice(v):
    return v * 2


arg = sys.argv[1] if len(sys.argv) > 1 else "none"
val = twice(21)
print("mymod", arg, val, __name__)
"#,
    );
    let run = Fred::new(&dir).module("mymod").args(&["hello"]).run(&[
        "where", "next", "next", "next", "next", "p val", "rn", "p val", "p arg", "step", "rf",
        "continue", "rc",
    ]);
    run[0].assert_at(&module, 1, "<module>");
    run[1].assert_at(&module, 4, "<module>");
    run[2].assert_at(&module, 8, "<module>");
    run[3].assert_at(&module, 9, "<module>");
    run[4].assert_at(&module, 10, "<module>");
    run[5].assert_value("42");
    run[6].assert_at(&module, 9, "<module>");
    run[7].assert_undefined();
    run[8].assert_value("'hello'");
    run[9].assert_at(&module, 4, "twice");
    run[10].assert_at(&module, 9, "<module>");
    assert_eq!(run[10].time, run[6].time);
    assert_eq!(run[11].state, "finished");
    assert!(
        run[11].output.contains("mymod hello 42 __main__"),
        "{:#?}",
        run[11]
    );
    run[12].assert_at(&module, 1, "<module>");
}

// ----- 10. process hygiene -------------------------------------------------------------------

#[test]
fn no_process_survives_the_end_of_a_batch_session() {
    let dir = TestDir::new("hygiene-end");
    dir.program(MIXED);
    let run = Fred::new(&dir).run(&[
        "break 9", "continue", "ckpt", "continue", "rc", "rs 3", "rf", "next", "ckpt",
    ]);
    assert!(run.replies.iter().all(|r| r.error.is_none()), "{run:#?}");
    assert_no_processes_left(&dir, Duration::from_secs(1));
}

#[test]
fn no_process_survives_quit() {
    let dir = TestDir::new("hygiene-quit");
    dir.program(MIXED);
    let run = Fred::new(&dir).run(&["step", "ckpt", "continue", "rs", "quit", "next", "next"]);
    assert_eq!(run.replies.len(), 5, "quit ends the session");
    assert!(run.status.success());
    assert_no_processes_left(&dir, Duration::from_secs(1));
}

#[test]
fn no_process_survives_kill_9_of_fred() {
    let dir = TestDir::new("hygiene-kill");
    let prog = dir.program(
        r#"
import time
start = time.monotonic()
n = 0
while time.monotonic() - start < 0.4:
    n += 1
time.sleep(1000)
"#,
    );
    let script = prog.to_str().unwrap().to_string();
    let mut child = Fred::new(&dir).spawn(&["next", "ckpt", "continue"]);
    let fred_pid = child.id() as i32;
    let pythons = || -> Vec<(i32, String)> {
        support::processes_mentioning(&script)
            .into_iter()
            .filter(|(pid, _)| *pid != fred_pid)
            .collect()
    };
    // The live process, the session holder and the snapshots, all python.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pythons().len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the program reach its sleep, with automatic mid-run checkpoints on the way.
    std::thread::sleep(Duration::from_millis(700));
    let before = pythons();
    assert!(
        child.try_wait().unwrap().is_none(),
        "fred-pdb ended early; stdout: {:?}",
        std::fs::read_to_string(dir.path.join("stdout.txt"))
    );
    child.kill().expect("kill -9 fred-pdb");
    child.wait().unwrap();
    let left = support::wait_until_gone(&script, Duration::from_secs(2));
    support::kill_all(&left);
    assert!(
        before.len() >= 3,
        "expected the session's python processes (holder, live, snapshots): {before:#?}"
    );
    assert!(
        left.is_empty(),
        "after kill -9 of fred-pdb, processes of the session are left: {left:#?}\n(before the kill: {before:#?})"
    );
}

#[test]
fn no_process_survives_the_end_of_input_at_the_prompt() {
    // The REPL reading a pipe: end of input ends the session as Ctrl-D does.
    let dir = TestDir::new("hygiene-eof");
    let prog = dir.program(LOOP);
    let (status, out, err) = support::run_plain(
        &dir,
        &[prog.to_str().unwrap()],
        "break 3\ncontinue\ncontinue\nrc\np x\n",
        Duration::from_secs(30),
    );
    let status = status.unwrap_or_else(|| panic!("no exit at end of input; stderr:\n{err}"));
    assert!(status.success(), "{status}; stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("Breakpoint 1 at"), "stdout:\n{out}");
    assert!(
        out.ends_with("0\n"),
        "p x after rc prints 0; stdout:\n{out}"
    );
    assert_no_processes_left(&dir, Duration::from_secs(1));
}

#[test]
fn an_interpreter_that_cannot_start_is_a_prompt_one_line_error() {
    let dir = TestDir::new("bad-python");
    let prog = dir.program(LOOP);
    let fake = dir.write("fakepython", "#!/bin/sh\necho broken >&2\nexit 3\n");
    let mut perms = std::fs::metadata(&fake).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&fake, perms).unwrap();
    dir.write("session.fred", "next\n");
    let started = std::time::Instant::now();
    let (status, out, err) = support::run_plain(
        &dir,
        &[
            "--python",
            fake.to_str().unwrap(),
            "-x",
            "session.fred",
            "--json",
            prog.to_str().unwrap(),
        ],
        "",
        Duration::from_secs(5),
    );
    let status = status.unwrap_or_else(|| {
        panic!(
            "fred-pdb still waits {:?} after its interpreter exited; stderr:\n{err}",
            started.elapsed()
        )
    });
    assert!(!status.success(), "{status}");
    let fred_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("fred-pdb:")).collect();
    assert_eq!(
        fred_lines.len(),
        1,
        "one error line from fred; stderr:\n{err}"
    );
    assert_eq!(out, "", "no JSON when the session never started");
}

// ----- 11. every CPython 3.8 to 3.13 ---------------------------------------------------------

#[test]
fn reverse_step_round_trip_on_every_installed_cpython() {
    let pythons = support::pyenv_pythons();
    eprintln!("CPythons from pyenv: {pythons:?}");
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = pythons
            .iter()
            .map(|p| {
                s.spawn(move || {
                    let rt = std::panic::catch_unwind(|| step_round_trip(Some(p), 40));
                    match rt {
                        Err(_) => vec![format!("{}: the session failed (see above)", p.display())],
                        Ok(rt) => {
                            let mut bad: Vec<String> = rt
                                .mismatches
                                .iter()
                                .map(|m| format!("{}: {m}", p.display()))
                                .collect();
                            if !visited(&rt.forward, 30, "main") {
                                bad.push(format!("{}: stepping did not get far", p.display()));
                            }
                            bad
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn pdb_errors_fill_the_json_error_field() {
    let dir = TestDir::new("json-errors");
    dir.program("x = 1\ny = 2\n");
    let run = Fred::new(&dir).run(&["p nosuch", "p 1/0", "next", "p x"]);
    let e = run[0].error.as_deref().expect("an error for a NameError");
    assert!(e.contains("NameError") && !e.contains('\n'), "{e}");
    assert!(
        run[0].output.contains("*** NameError"),
        "{:?}",
        run[0].output
    );
    assert!(run[1]
        .error
        .as_deref()
        .unwrap_or("")
        .contains("ZeroDivisionError"));
    assert_eq!(run[2].error, None);
    assert_eq!(run[3].error, None);
}

/// The loop's length comes from the clock, the OS's randomness and `random`.
const NONDETERMINISTIC: &str = r#"
import os, random, secrets, time
n = int(time.time() * 1000) % 40 + 10
m = os.urandom(1)[0] % 20 + 5
r = random.randint(5, 30) + random.SystemRandom().randint(5, 30) + secrets.randbelow(30)
total = 0
for i in range(n + m + r):
    total += i
print("values", n, m, r, total)
"#;

#[test]
fn clock_and_random_values_are_replayed() {
    let dir = TestDir::new("nondet");
    dir.program(NONDETERMINISTIC);
    let run = Fred::new(&dir).run(&["continue", "rs", "rn", "rn", "p n, m, r, total"]);
    let printed = run[0]
        .output
        .lines()
        .find(|l| l.starts_with("values "))
        .expect("values line");
    let v: Vec<&str> = printed.split_whitespace().skip(1).collect();
    for r in &run.replies[1..4] {
        assert_eq!(r.error, None, "{r:#?}");
    }
    run[4].assert_value(&format!("({}, {}, {}, {})", v[0], v[1], v[2], v[3]));
}

#[test]
fn a_clock_read_at_the_prompt_is_not_the_programs() {
    let dir = TestDir::new("nondet-prompt");
    let prog = dir.program(
        r#"
import time
x = 0
a = time.time()
b = time.time()
print("took", b - a)
"#,
    );
    let run = Fred::new(&dir).run(&[
        "next",
        "p time.time()",
        "next",
        "next",
        "next",
        "p a, b",
        "rs",
        "rs",
        "next",
        "next",
        "p a, b",
    ]);
    run[4].assert_at(&prog, 5, "<module>");
    let recorded = run[5].output.clone();
    run[7].assert_at(&prog, 3, "<module>");
    assert_eq!(run[10].output, recorded, "{:#?}", run.replies);
}

#[test]
fn a_replay_that_takes_the_clock_elsewhere_says_where_both_runs_took_it() {
    let dir = TestDir::new("nondet-diverge");
    std::fs::write(dir.path.join("k.txt"), "3").unwrap();
    let prog = dir.program(
        r#"
import time
k = int(open("k.txt").read())
for i in range(k):
    pass
stamp = time.time()
for j in range(3):
    pass
print(stamp)
"#,
    );
    let run = Fred::new(&dir).run(&[
        "break 7",
        "continue",
        "continue",
        "!open('k.txt', 'w').write('1')",
        "rc",
    ]);
    run[2].assert_at(&prog, 7, "<module>");
    let e = run[4].assert_error("replay diverged");
    assert!(
        e.contains("took time at") && e.matches("prog.py:5").count() == 2,
        "{e}"
    );
}

#[test]
fn a_goto_whose_replay_goes_elsewhere_leaves_the_user_where_they_were() {
    let dir = TestDir::new("nondet-goto");
    std::fs::write(dir.path.join("k.txt"), "3").unwrap();
    let prog = dir.program(
        r#"
import time
k = int(open("k.txt").read())
for i in range(k):
    pass
stamp = time.time()
for j in range(3):
    pass
print(stamp)
"#,
    );
    let run = Fred::new(&dir).run(&[
        "break 7",
        "continue",
        "continue",
        "!open('k.txt', 'w').write('1')",
        "fred-goto 1",
        "p j",
        "fred-history",
    ]);
    run[2].assert_at(&prog, 7, "<module>");
    let e = run[4].assert_error("replay diverged");
    assert!(e.contains("back where you were"), "{e}");
    assert_eq!(run[4].line(), 7, "{:#?}", run[4]);
    assert_eq!(run[4].time, run[3].time, "{:#?}", run[4]);
    run[5].assert_value("1");
    assert!(
        run[6].output.contains("*    2  continue"),
        "{}",
        run[6].output
    );
}

#[test]
fn os_exit_ends_the_program_not_the_session_and_a_forked_child_still_exits() {
    let dir = TestDir::new("os-exit");
    let prog = dir.program(
        r#"
import os
pid = os.fork()
if pid == 0:
    os._exit(3)
_, st = os.waitpid(pid, 0)
code = os.WEXITSTATUS(st)
x = 1
os._exit(4)
"#,
    );
    let run = Fred::new(&dir).run(&["continue", "rs", "p code, x", "rn", "p x"]);
    assert_eq!(run[0].state, "finished", "{:#?}", run[0]);
    assert!(
        run[0].output.contains("os._exit(). Exit status: 4"),
        "{:#?}",
        run[0]
    );
    run[1].assert_at(&prog, 8, "<module>");
    run[2].assert_value("(3, 1)");
    run[3].assert_at(&prog, 7, "<module>");
    run[4].assert_undefined();
}

#[test]
fn reverse_next_after_a_fork_stays_in_the_frame() {
    let dir = TestDir::new("fork-depth");
    let prog = dir.program(
        r#"
import os
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
a = 1
b = 2
"#,
    );
    let run = Fred::new(&dir).run(&["break 7", "continue", "rn", "rn", "rn"]);
    run[1].assert_at(&prog, 7, "<module>");
    run[2].assert_at(&prog, 6, "<module>");
    run[3].assert_at(&prog, 5, "<module>");
    run[4].assert_at(&prog, 3, "<module>");
}

#[test]
fn the_program_sees_its_own_sigint_handler_running_forward_and_in_replay() {
    // asyncio.run installs its own SIGINT handler only over the default one: a debugger's
    // handler seen while running forward, and not in a replay, made every replay take
    // another path.
    let dir = TestDir::new("sigint-own");
    let prog = dir.program(
        r#"
import asyncio, signal
default = signal.getsignal(signal.SIGINT) is signal.default_int_handler
async def work(n):
    await asyncio.sleep(0.01)
    return n * 2
async def main():
    total = 0
    for i in range(3):
        total += await work(i)
    return total
res = asyncio.run(main())
print("res", res)
"#,
    );
    // Checkpoints only at stops, here inside asyncio.run: a copy resumed there needs the
    // running loop handed over. (A checkpoint taken between the making of the loop's
    // self-pipe and its registration in an epoll instance that every copy shares would make
    // the replay's registration fail: a limit of fork, reported as a divergence.)
    let run = Fred::new(&dir)
        .options(&["--checkpoint-interval", "0"])
        .run(&[
            "break 5",
            "continue",
            "p default",
            "continue",
            "rc",
            "rc",
            "clear 1",
            "continue",
            "rs",
            "rn",
            "p res",
        ]);
    run[1].assert_at(&prog, 5, "work");
    run[2].assert_value("True");
    run[5].assert_at(&prog, 1, "<module>");
    assert_eq!(run[7].state, "finished", "{:#?}", run[7]);
    // Back from the end over a whole asyncio run: the replay keeps to the recorded path.
    run[8].assert_at(&prog, 12, "<module>");
    run[9].assert_at(&prog, 12, "<module>");
    run[10].assert_value("6");
}

#[test]
fn an_import_replays_the_same_after_the_program_wrote_a_file_beside_it() {
    // The import system caches directory listings until a directory changes, and writes
    // or finds .pyc files: its work differs between a run and its replay once the program
    // has made a file. Counted as the program's events, it made every replay of an
    // `import logging` (which reads the clock) diverge.
    let dir = TestDir::new("import-fs");
    let prog = dir.program(
        r#"
import logging
logging.basicConfig(filename="app.log", level=logging.INFO, format="%(message)s")
logging.getLogger("x").info("one")
done = True
"#,
    );
    let run = Fred::new(&dir).run(&["break 4", "continue", "rs", "rs", "rn"]);
    run[1].assert_at(&prog, 4, "<module>");
    run[2].assert_ok();
    run[3].assert_ok();
    run[4].assert_ok();
}

/// The first time in `Checkpoints (N): ...; M taken mid-run between t=A and t=B`.
fn first_mid_run_checkpoint(history: &str) -> u64 {
    history
        .split("mid-run between t=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no mid-run checkpoints in {history:?}"))
}

#[test]
fn a_replay_that_diverged_leaves_no_checkpoints_of_its_wrong_path() {
    let dir = TestDir::new("nondet-no-ckpt");
    std::fs::write(dir.path.join("k.txt"), "3").unwrap();
    dir.program(
        r#"
import time
k = int(open("k.txt").read())
for i in range(k):
    pass
stamp = time.time()
total = 0
for j in range(300000):
    total += j
print(total)
"#,
    );
    let run = Fred::new(&dir).run(&[
        "break 9",
        "continue",
        "fred-history",
        "!open('k.txt', 'w').write('1')",
        "rc",
        "fred-history",
    ]);
    run[4].assert_error("replay diverged");
    let before = first_mid_run_checkpoint(&run[2].output);
    let after = first_mid_run_checkpoint(&run[5].output);
    // Checkpoints taken in the replays of the recorded path are welcome; none from before
    // the first of the run's own, where only the replay that went elsewhere ran.
    assert!(after >= before, "{}\n{}", run[2].output, run[5].output);
}

#[test]
fn finalizers_run_at_the_same_points_in_every_replay() {
    // Reference cycles are collected when enough objects have been allocated, and fred's own
    // work allocates differently going forward and in a replay: without a fixed schedule
    // the same stop showed a different number of finalized objects each way.
    let dir = TestDir::new("gc-fixed");
    let prog = dir.program(
        r#"
events = []
class Node:
    def __init__(self):
        self.me = self
    def __del__(self):
        events.append(1)
for i in range(3000):
    Node()
    y = i
print(len(events))
"#,
    );
    let run = Fred::new(&dir).run(&[
        "break 9, i == 2500",
        "continue",
        "p len(events), i",
        "rs",
        "rs",
        "rs",
        "next",
        "next",
        "next",
        "p len(events), i",
        "fred-goto 1",
        "p len(events), i",
        "p len(events) > 2000",
    ]);
    run[1].assert_at(&prog, 9, "<module>");
    let first = run[2].output.clone();
    run[8].assert_at(&prog, 9, "<module>");
    assert_eq!(run[9].output, first, "{:#?}", run.replies);
    assert_eq!(run[11].output, first, "{:#?}", run.replies);
    // Garbage is still collected.
    run[12].assert_value("True");
}

#[test]
fn a_restored_copy_runs_none_of_the_program_s_fork_hooks() {
    // fred's copies are not forks of the program's: its os.register_at_fork hooks (a
    // library's reseeding, its own bookkeeping) must not run in them.
    let dir = TestDir::new("fork-hooks");
    let prog = dir.program(
        r#"
import os
calls = []
os.register_at_fork(after_in_child=lambda: calls.append(1))
x = 1
x = 2
"#,
    );
    let run = Fred::new(&dir).run(&[
        "break 5",
        "continue",
        "fred-checkpoint",
        "next",
        "reverse-step",
        "p calls, x",
    ]);
    run[4].assert_at(&prog, 5, "<module>");
    run[5].assert_value("([], 1)");
}

#[test]
fn clear_without_arguments_asks_and_takes_the_next_line_as_its_answer() {
    // pdb asks with input(), which reads the program's terminal: the session hung there.
    let dir = TestDir::new("clear-all");
    let prog = dir.program("x = 1\nx = 2\nx = 3\nprint('end', x)\n");
    let run = Fred::new(&dir).run(&[
        "break 2", "break 3", "clear", "no", "continue", "clear", "y", "continue",
    ]);
    assert_eq!(run[2].output, "Clear all breaks? ");
    run[4].assert_at(&prog, 2, "<module>");
    assert!(
        run[6].output.contains("Deleted breakpoint 1"),
        "{:?}",
        run[6].output
    );
    assert!(
        run[6].output.contains("Deleted breakpoint 2"),
        "{:?}",
        run[6].output
    );
    // Both gone: the program runs to its end.
    assert_eq!(run[7].state, "finished", "{:#?}", run.replies);
}

#[test]
fn printing_after_going_back_keeps_the_future_unless_it_may_change_the_state() {
    // `p len(...)` only reads: the checkpoint ahead stays. A method call may change the
    // state: the old future goes (a replay would not redo the change), and fred says so.
    let dir = TestDir::new("keep-future");
    let prog = dir.program("x = 1\nx = 2\nx = 3\nprint('end', x)\n");
    let run = Fred::new(&dir).run(&[
        "break 3",
        "continue",
        "fred-checkpoint",
        "reverse-step",
        "p len('abc'), (x + 1) * 2",
        "fred-restart 1",
        "reverse-step",
        "p x.bit_length()",
        "fred-restart 1",
    ]);
    run[4].assert_value("(3, 4)");
    run[5].assert_at(&prog, 3, "<module>");
    assert!(
        run[7].output.contains("checkpoints are dropped (1)"),
        "{:?}",
        run[7].output
    );
    run[8].assert_error("No checkpoint 1");
}

#[test]
fn a_program_that_sleeps_is_checkpointed_after_its_sleeps() {
    // Between sleeps it runs only a few events, too few for the agent to look at the
    // clock: without a checkpoint after each sleep every reverse command replayed (and
    // slept) from the start.
    let dir = TestDir::new("sleeps");
    let prog = dir.program(
        "import time\nk = 0\nfor i in range(4):\n    time.sleep(0.2)\n    k += 1\nprint('done', k)\n",
    );
    let run = Fred::new(&dir).run(&["continue", "fred-history", "reverse-watch k", "p k, i"]);
    let history = &run[1].output;
    assert!(
        history.contains("4 taken mid-run"),
        "no checkpoint after each sleep: {history}"
    );
    run[2].assert_at(&prog, 5, "<module>");
    run[3].assert_value("(3, 3)");
}

#[test]
fn run_with_arguments_restarts_the_program_with_them() {
    let dir = TestDir::new("run-args");
    let prog = dir.program("import sys\nseen = sys.argv[1:]\nx = 1\n");
    let run = Fred::new(&dir).args(&["a", "b"]).run(&[
        "next",
        "next",
        "p seen",
        "run new1 'two words'",
        "next",
        "next",
        "p seen",
        "restart",
        "next",
        "next",
        "p seen",
    ]);
    run[2].assert_value("['a', 'b']");
    assert!(
        run[3].output.contains("Restarting") && run[3].output.contains("new1 two words"),
        "{:?}",
        run[3].output
    );
    run[6].assert_value("['new1', 'two words']");
    // As in pdb, a restart without arguments keeps the last ones.
    run[7].assert_at(&prog, 1, "<module>");
    run[10].assert_value("['new1', 'two words']");
}

#[test]
fn reverse_continue_with_no_enabled_breakpoint_goes_to_the_start() {
    // Nothing can stop it on the way back: no search of the whole history, the start.
    let dir = TestDir::new("rc-none");
    let prog = dir.program("k = 0\nfor i in range(3000):\n    k += i\nprint(k)\n");
    let run = Fred::new(&dir).run(&[
        "continue",
        "rc",
        "break 3",
        "disable 1",
        "continue",
        "rc",
        "enable 1",
        "continue",
        "continue",
        "rc",
        "p i",
    ]);
    for i in [1, 5] {
        run[i].assert_at(&prog, 1, "<module>");
        assert!(
            run[i].output.contains("at the start"),
            "{:?}",
            run[i].output
        );
    }
    // Enabled, it stops the search at its last hit.
    run[9].assert_at(&prog, 3, "<module>");
    run[10].assert_value("0");
}

#[test]
fn stepping_back_over_an_exception_caught_by_the_caller() {
    // At the exception's event in the caller pdb shows the caller's frame, but its stack
    // goes on into the traceback's frames: the stop was put in the callee, and every
    // replay to it "diverged".
    let dir = TestDir::new("caught");
    let prog = dir.program(
        "def risky(x):\n    raise ValueError('bad %d' % x)\n\ndef main():\n    try:\n        risky(0)\n    except ValueError as e:\n        msg = str(e)\n    return msg\n\nprint(main())\n",
    );
    let run = Fred::new(&dir).run(&[
        "break 8", "continue", "rs", "rs", "rs", "rs", "next", "next",
    ]);
    run[2].assert_at(&prog, 7, "main");
    run[3].assert_at(&prog, 6, "main");
    assert!(
        run[3].output.contains("ValueError: bad 0"),
        "{:?}",
        run[3].output
    );
    run[4].assert_at(&prog, 2, "risky");
    run[5].assert_at(&prog, 2, "risky");
    run[7].assert_at(&prog, 6, "main");
}

#[test]
fn stepping_on_from_the_end_of_an_imported_module_stays_out_of_the_import_system() {
    // Going back lands on the return of the module's code, run by the import: stepping on
    // from there went into the import system's frames, and counted their events, so the
    // timeline no longer matched any replay.
    let dir = TestDir::new("import-return");
    let helper = dir.write("helper.py", "def double(x):\n    y = x * 2\n    return y\n");
    let prog = dir.program("import helper\nr = helper.double(21)\nprint(r)\n");
    let run = Fred::new(&dir).run(&[
        "break helper.py:3",
        "continue",
        "rf",
        "rs",
        "step",
        "continue",
        "rc",
        "continue",
        "p y",
    ]);
    run[2].assert_at(&prog, 2, "<module>");
    run[3].assert_at(&helper, 1, "<module>");
    run[4].assert_at(&prog, 2, "<module>");
    run[5].assert_at(&helper, 3, "double");
    run[6].assert_at(&prog, 1, "<module>");
    run[7].assert_at(&helper, 3, "double");
    run[8].assert_value("42");
}
