//! Integration tests of `reverse-watch` (`rw`) and pdb's forward `watch` in `fred-pdb`: the
//! real binary on a real python3, driven in batch JSON mode. Every landing is checked with
//! `p` after it. The programs carry their line numbers in comments (`# 3` is line 3).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{cmds, times, Fred, Reply, Run, TestDir};

// ----- programs ----------------------------------------------------------------------------

/// A counter incremented 1000 times, then `x` set to 1, 2 and back to 1.
const COUNTER: &str = r#"
counter = 0  # 1
for i in range(1000):  # 2
    counter += 1  # 3
x = 1  # 4
x = 2  # 5
x = 1  # 6
done = True  # 7
"#;

/// `x` goes 1 → 2 → 1 between two long stretches, so that checkpoints lie on both sides.
const CHANGE_BACK: &str = r#"
def churn(n):  # 1
    s = 0  # 2
    for i in range(n):  # 3
        s += i  # 4
    return s  # 5


x = 1  # 8
churn(50000)  # 9
x = 2  # 10
x = 1  # 11
churn(50000)  # 12
done = True  # 13
"#;

/// `x` differs from its last value far back (0), is set to that last value (5), and later
/// changes and changes back (7, 5), with long stretches between: the values the search
/// reads in checkpoints differ from the last one only before the first `x = 5`.
const FAR_AND_BACK: &str = r#"
def churn(n):  # 1
    s = 0  # 2
    for i in range(n):  # 3
        s += i  # 4
    return s  # 5


x = 0  # 8
churn(40000)  # 9
x = 5  # 10
churn(40000)  # 11
x = 7  # 12
x = 5  # 13
churn(40000)  # 14
done = True  # 15
"#;

/// A string with what a repr escapes, set far back and then once more (the same value).
const TRICKY_STRING: &str = r#"
def churn(n):  # 1
    s = 0  # 2
    for i in range(n):  # 3
        s += i  # 4
    return s  # 5


t = "start"  # 8
churn(40000)  # 9
t = 'q"uo\\te\tü\x01'  # 10
churn(40000)  # 11
t = 'q"uo\\te\tü\x01'  # 12
done = True  # 13
"#;

/// Globals changed every way there is besides assignment, each by a function after a loop
/// that leaves the globals alone; `spam` lives in the builtins until line 20 hides it.
const EVERY_WAY: &str = r#"
import builtins
import sys


def work(n, how):  # 5
    s = 0  # 6
    for k in range(n):  # 7
        s += k  # 8
    how()  # 9
    return s  # 10


x = 0  # 13
work(200, lambda: globals().__setitem__("x", 1))  # 14
work(200, lambda: setattr(sys.modules[__name__], "x", 2))  # 15
work(200, lambda: exec("x = 3", globals()))  # 16
work(200, lambda: globals().pop("x"))  # 17
work(200, lambda: globals().update(x=5))  # 18
work(200, lambda: setattr(builtins, "spam", "from builtins"))  # 19
work(200, lambda: globals().__setitem__("spam", "hidden"))  # 20
done = True  # 21
"#;

/// A global dict entry changed three calls deep.
const DEEP: &str = r#"
d = {"k": 1, "other": 0}  # 1


def level3(v):  # 4
    d["other"] += 1  # 5
    d["k"] = v  # 6
    return v  # 7


def level2(v):  # 10
    return level3(v + 1)  # 11


def level1(v):  # 14
    r = level2(v + 1)  # 15
    return r  # 16


level1(10)  # 19
d["other"] = 5  # 20
print("end")  # 21
"#;

/// A local of `main` filled in by a callee, then another list filled by the same callee.
const LOCAL_IN_CALLEE: &str = r#"
def fill(target, k):  # 1
    for j in range(k):  # 2
        target.append(j)  # 3
    return len(target)  # 4


def main():  # 7
    items = []  # 8
    n = fill(items, 3)  # 9
    other = []  # 10
    fill(other, 2)  # 11
    return n  # 12


main()  # 15
"#;

/// Every level of the recursion sets its own `acc` before and after the recursive call.
const REC: &str = r#"
def rec(n):  # 1
    acc = n * 10  # 2
    if n > 0:  # 3
        rec(n - 1)  # 4
    acc += 1  # 5
    marker = acc  # 6
    return acc  # 7


rec(3)  # 10
print("end")  # 11
"#;

/// A variable first assigned at line 3, a dict key first added at line 5.
const FIRST_ASSIGNMENT: &str = r#"
a = 1  # 1
b = a + 1  # 2
y = a + b  # 3
cfg = {}  # 4
cfg["mode"] = "fast"  # 5
print(y, cfg)  # 6
"#;

/// `peek()` appends to the program's own list `calls` and returns `total`.
const SIDE_EFFECTS: &str = r#"
calls = []  # 1
total = 0  # 2


def peek():  # 5
    calls.append("peek")  # 6
    return total  # 7


calls.append("program")  # 10
for i in range(5):  # 11
    total += i  # 12
    calls.append(i)  # 13
print("end", total, len(calls))  # 14
"#;

/// As [`SIDE_EFFECTS`], but the program's own path depends on the length of `calls`:
/// in the real run `len(calls) == 6` at line 14, so line 15 sets `total = 100`.
const SIDE_EFFECTS_STEER: &str = r#"
calls = []  # 1
total = 0  # 2


def peek():  # 5
    calls.append("peek")  # 6
    return total  # 7


calls.append("program")  # 10
for i in range(5):  # 11
    total += i  # 12
    calls.append(i)  # 13
if len(calls) == 6:  # 14
    total = 100  # 15
print("end", total, len(calls))  # 16
"#;

/// A linked list of 20 nodes; each `remove_value` call drops two nodes instead of one.
const LINKED_LIST: &str = r#"
class Node:  # 1
    def __init__(self, value, next=None):  # 2
        self.value = value  # 3
        self.next = next  # 4


def list_len(node):  # 7
    n = 0  # 8
    while node is not None:  # 9
        n += 1  # 10
        node = node.next  # 11
    return n  # 12


def build(k):  # 15
    head = None  # 16
    for v in range(k, 0, -1):  # 17
        head = Node(v, head)  # 18
    return head  # 19


def remove_value(head, value):  # 22
    node = head  # 23
    while node.next is not None:  # 24
        if node.next.value == value:  # 25
            node.next = node.next.next.next  # 26
            return  # 27
        node = node.next  # 28


head = build(20)  # 31
for v in (3, 7, 11):  # 32
    remove_value(head, v)  # 33
print("length", list_len(head))  # 34
"#;

/// Helpers that raise and that never return, for bad expressions.
const BAD: &str = r#"
def spin():  # 1
    while True:  # 2
        pass  # 3


def boom():  # 6
    raise KeyError("nope")  # 7


x = 1  # 10
x = 2  # 11
x = 3  # 12
print("end")  # 13
"#;

/// `settled()` loops for as long as `ready` is False: it terminates now (line 14), but not
/// at the points before line 12.
const LOOPS_IN_THE_PAST: &str = r#"
ready = False  # 1
x = 0  # 2


def settled():  # 5
    while not ready:  # 6
        pass  # 7
    return x  # 8


x = 1  # 11
ready = True  # 12
x = 2  # 13
print("end")  # 14
"#;

/// A global changed by a function, for forward watches.
const BUMP: &str = r#"
count = 0  # 1


def bump(k):  # 4
    global count  # 5
    count += k  # 6
    return count  # 7


x = 1  # 10
bump(1)  # 11
y = 2  # 12
bump(2)  # 13
z = 3  # 14
print("end", count)  # 15
"#;

/// A local accumulated in a loop, in two calls.
const WORK: &str = r#"
def work(n):  # 1
    acc = 0  # 2
    for i in range(n):  # 3
        acc += i  # 4
    return acc  # 5


a = work(3)  # 8
b = work(2)  # 9
print("end", a, b)  # 10
"#;

/// Dies of ZeroDivisionError in `divide` on its fourth call (d == 0).
const CRASH: &str = r#"
def divide(a, b):  # 1
    scaled = a * 10  # 2
    q = scaled // b  # 3
    return q  # 4


results = []  # 7
divisor = 3  # 8
for d in [3, 2, 1, 0]:  # 9
    divisor = d  # 10
    results.append(divide(12, divisor))  # 11
print("end", results)  # 12
"#;

/// `far` changes ~10^6 line events before line 14, `near` ~10^3.
const SPEED: &str = r#"
def churn(n):  # 1
    s = 0  # 2
    for i in range(n):  # 3
        s += i  # 4
    return s  # 5


far = 0  # 8
near = 0  # 9
far = 1  # 10
churn(500000)  # 11
near = 1  # 12
churn(500)  # 13
print("end")  # 14
"#;

// ----- helpers -----------------------------------------------------------------------------

/// Runs `commands` on `source` (as `prog.py`) in a fresh directory.
fn session(name: &str, source: &str, commands: &[&str]) -> (TestDir, PathBuf, Run) {
    session_with(name, source, commands, |f| f)
}

/// As [`session`], with the session configured by `configure` (options, time limit).
fn session_with(
    name: &str,
    source: &str,
    commands: &[&str],
    configure: impl FnOnce(Fred<'_>) -> Fred<'_>,
) -> (TestDir, PathBuf, Run) {
    let dir = TestDir::new(name);
    let prog = dir.program(source);
    let run = configure(Fred::new(&dir)).run(commands);
    (dir, prog, run)
}

/// The lines of a command's output.
fn lines(r: &Reply) -> Vec<&str> {
    r.output.lines().collect()
}

/// Asserts `want` appears in the output as consecutive whole lines.
#[track_caller]
fn assert_lines(r: &Reply, want: &[&str]) {
    let got = lines(r);
    assert!(
        got.windows(want.len()).any(|w| w == want),
        "{:?}: expected the lines {want:#?} in the output; reply: {r:#?}",
        r.command
    );
}

/// Asserts no output line contains `needle`.
#[track_caller]
fn assert_no_line_with(r: &Reply, needle: &str) {
    let bad: Vec<&str> = lines(r)
        .into_iter()
        .filter(|l| l.contains(needle))
        .collect();
    assert!(
        bad.is_empty(),
        "{:?}: no line should mention {needle:?}, got {bad:?}; reply: {r:#?}",
        r.command
    );
}

/// Asserts a `reverse-watch EXPR` landed at `line` in `function`, just before the
/// statement that changed EXPR from `old` to `new`, and said so.
#[track_caller]
fn assert_change(r: &Reply, prog: &Path, line: u64, function: &str, old: &str, new: &str) {
    r.assert_at(prog, line, function);
    let expr = r
        .command
        .split_once(' ')
        .map(|(_, e)| e.trim())
        .unwrap_or_else(|| panic!("no expression in {:?}", r.command));
    assert_lines(
        r,
        &[
            &format!("reverse-watch: {expr} changed at this statement"),
            &format!("Old value: {old}"),
            &format!("New value: {new}"),
        ],
    );
}

/// Asserts a `continue` stopped for watch `n` on `expr` at `line` in `function`, just
/// after the statement that changed it from `old` to `new`.
#[track_caller]
#[allow(clippy::too_many_arguments)]
fn assert_watch_hit(
    r: &Reply,
    prog: &Path,
    line: u64,
    function: &str,
    n: u32,
    expr: &str,
    old: &str,
    new: &str,
) {
    r.assert_at(prog, line, function);
    assert_lines(
        r,
        &[
            &format!("Watch {n}: {expr}"),
            &format!("Old value: {old}"),
            &format!("New value: {new}"),
        ],
    );
}

/// Asserts a command failed with a one-line error mentioning `needle` and did not move.
#[track_caller]
fn assert_refused(r: &Reply, before: &Reply, needle: &str) {
    r.assert_error(needle);
    assert_eq!(
        r.pos(),
        before.pos(),
        "{:?} failed but moved; reply: {r:#?}",
        r.command
    );
}

/// Asserts exactly one output line contains `needle`, and returns it.
#[track_caller]
fn one_line_with<'r>(r: &'r Reply, needle: &str) -> &'r str {
    let found: Vec<&str> = lines(r)
        .into_iter()
        .filter(|l| l.contains(needle))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{:?}: expected one line mentioning {needle:?}; reply: {r:#?}",
        r.command
    );
    found[0]
}

/// The `elapsed_ms` a reply reports.
fn elapsed_ms(r: &Reply) -> f64 {
    r.raw["elapsed_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("no elapsed_ms in {r:#?}"))
}

// ----- 1. many changes, and a change back ------------------------------------------------

#[test]
fn rw_lands_on_the_last_of_many_changes_then_the_one_before() {
    let (_d, prog, run) = session(
        "many",
        COUNTER,
        &[
            "break 4",
            "continue",
            "rw counter",
            "p i, counter",
            "rw counter",
            "p i, counter",
            "step",
            "p counter",
        ],
    );
    run[1].assert_at(&prog, 4, "<module>");
    assert_change(&run[2], &prog, 3, "<module>", "999", "1000");
    run[3].assert_value("(999, 999)");
    assert_change(&run[4], &prog, 3, "<module>", "998", "999");
    assert!(run[4].time < run[2].time, "{:#?}", run[4]);
    run[5].assert_value("(998, 998)");
    // Stopped just before the change: `step` runs it again.
    run[6].assert_ok();
    run[7].assert_value("999");
}

#[test]
fn rw_finds_a_change_back_to_an_earlier_value() {
    let (_d, prog, run) = session(
        "changeback",
        COUNTER,
        &[
            "break 7",
            "continue",
            "rw x",
            "p x",
            "rw x",
            "p x",
            "rw x",
            "p counter",
        ],
    );
    run[1].assert_at(&prog, 7, "<module>");
    assert_change(&run[2], &prog, 6, "<module>", "2", "1");
    run[3].assert_value("2");
    assert_change(&run[4], &prog, 5, "<module>", "1", "2");
    run[5].assert_value("1");
    assert_change(&run[6], &prog, 4, "<module>", "<not defined yet>", "1");
    run[7].assert_value("1000");
}

#[test]
fn rw_finds_a_change_back_between_checkpoints() {
    // Checkpoints every 5 ms: the long stretches hold many; the value at each of them is 1.
    let (_d, prog, run) = session_with(
        "changeback-ckpt",
        CHANGE_BACK,
        &[
            "break 13", "continue", "rw x", "p x", "rw x", "p x", "rw x", "p x",
        ],
        |f| f.options(&["--checkpoint-interval", "5"]),
    );
    run[1].assert_at(&prog, 13, "<module>");
    assert_change(&run[2], &prog, 11, "<module>", "2", "1");
    run[3].assert_value("2");
    assert_change(&run[4], &prog, 10, "<module>", "1", "2");
    run[5].assert_value("1");
    assert_change(&run[6], &prog, 8, "<module>", "<not defined yet>", "1");
    run[7].assert_undefined();
}

#[test]
fn rw_finds_the_last_change_when_checkpoints_hold_an_older_different_value() {
    // Checkpoints every 5 ms, each rw restoring checkpoints whose values it has read.
    let (_d, prog, run) = session_with(
        "far-and-back",
        FAR_AND_BACK,
        &[
            "break 15", "continue", "rw x", "p x", "rw x", "p x", "rw x", "p x", "rw x", "p x",
            "continue", "p x",
        ],
        |f| f.options(&["--checkpoint-interval", "5"]),
    );
    run[1].assert_at(&prog, 15, "<module>");
    assert_change(&run[2], &prog, 13, "<module>", "7", "5");
    run[3].assert_value("7");
    assert_change(&run[4], &prog, 12, "<module>", "5", "7");
    run[5].assert_value("5");
    assert_change(&run[6], &prog, 10, "<module>", "0", "5");
    run[7].assert_value("0");
    assert_change(&run[8], &prog, 8, "<module>", "<not defined yet>", "0");
    run[9].assert_undefined();
    run[10].assert_at(&prog, 15, "<module>");
    run[11].assert_value("5");
}

#[test]
fn snapshots_read_a_plain_value_as_probe_shows_it() {
    // A search reads the watched value in checkpoints (FRED_TRACE=1 logs the answers): the
    // first rw asks frozen snapshots, which answer from C; the second asks, first, the one
    // the landing restored, which answers from Python. Both must answer what `p` prints,
    // escapes and all.
    let (dir, prog, run) = session_with(
        "tricky-string",
        TRICKY_STRING,
        &["break 13", "continue", "p t", "rw t", "p t", "rw t", "p t"],
        |f| {
            f.options(&["--checkpoint-interval", "5"])
                .env("FRED_TRACE", "1")
        },
    );
    run[1].assert_at(&prog, 13, "<module>");
    let shown = run[2].output.trim_end().to_string();
    assert_eq!(shown, r#"'q"uo\\te\tü\x01'"#, "{:#?}", run[2]);
    assert_change(&run[3], &prog, 10, "<module>", "'start'", &shown);
    run[4].assert_value("'start'");
    assert_change(
        &run[5],
        &prog,
        8,
        "<module>",
        "<not defined yet>",
        "'start'",
    );
    run[6].assert_undefined();
    let trace = std::fs::read_to_string(dir.path.join("stderr.txt")).unwrap_or_default();
    let answers: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("SnapshotMessage"))
        .collect();
    let as_peek = |v: &str| format!("{{\"peek\": String({v:?})}}");
    let count = |v: &str| answers.iter().filter(|a| a.contains(&as_peek(v))).count();
    let (tricky, start, undefined) = (count(&shown), count("'start'"), count("<not defined yet>"));
    assert!(
        tricky >= 1 && start >= 2 && tricky + start + undefined == answers.len(),
        "snapshots should answer {} or 'start' (or not defined yet); they answered:\n{}",
        as_peek(&shown),
        answers.join("\n")
    );
}

#[test]
fn rw_sees_globals_changed_without_an_assignment() {
    let (_d, prog, run) = session(
        "every-way",
        EVERY_WAY,
        &[
            "break 21", "continue", "rw spam", "rw spam", "rw x", "rw x", "rw x", "rw x", "rw x",
            "rw x",
        ],
    );
    run[1].assert_at(&prog, 21, "<module>");
    assert_change(
        &run[2],
        &prog,
        20,
        "<lambda>",
        "'from builtins'",
        "'hidden'",
    );
    assert_change(
        &run[3],
        &prog,
        19,
        "<lambda>",
        "<not defined yet>",
        "'from builtins'",
    );
    assert_change(&run[4], &prog, 18, "<lambda>", "<not defined yet>", "5");
    assert_change(&run[5], &prog, 17, "<lambda>", "3", "<not defined yet>");
    // Inside the code exec runs (line 1 of "<string>").
    let inside = run[6].loc.as_ref().expect("a location");
    assert_eq!(
        (inside.file.as_str(), inside.line),
        ("<string>", 1),
        "{:#?}",
        run[6]
    );
    assert_lines(&run[6], &["Old value: 2", "New value: 3"]);
    assert_change(&run[7], &prog, 15, "<lambda>", "1", "2");
    assert_change(&run[8], &prog, 14, "<lambda>", "0", "1");
    assert_change(&run[9], &prog, 13, "<module>", "<not defined yet>", "0");
}

// ----- 2. scope: globals anywhere, locals in their frame instance --------------------------

#[test]
fn rw_on_a_global_finds_the_change_three_calls_deep() {
    let (_d, prog, run) = session(
        "deep",
        DEEP,
        &[
            "break 20",
            "continue",
            "rw d[\"k\"]",
            "p v, d",
            "where",
            "step",
            "p d[\"k\"]",
        ],
    );
    run[1].assert_at(&prog, 20, "<module>");
    assert_change(&run[2], &prog, 6, "level3", "1", "12");
    run[3].assert_value("(12, {'k': 1, 'other': 1})");
    for f in ["level1()", "level2()", "level3()"] {
        assert!(run[4].output.contains(f), "where lacks {f}: {:#?}", run[4]);
    }
    run[5].assert_at(&prog, 7, "level3");
    run[6].assert_value("12");
}

#[test]
fn rw_on_a_local_follows_its_frame_into_callees() {
    let (_d, prog, run) = session(
        "local-callee",
        LOCAL_IN_CALLEE,
        &[
            "break 12",
            "continue",
            "rw items",
            "p j, target",
            "up",
            "p items",
        ],
    );
    run[1].assert_at(&prog, 12, "main");
    // `other` was filled later by the same callee; only `items` counts.
    assert_change(&run[2], &prog, 3, "fill", "[0, 1]", "[0, 1, 2]");
    run[3].assert_value("(2, [0, 1])");
    run[5].assert_value("[0, 1]");
}

#[test]
fn rw_on_a_local_in_recursion_follows_its_own_frame_instance() {
    // Stop in the level n == 2 after its callees (n == 1, 0) set and changed their own
    // `acc`: those changes are more recent but belong to other frames.
    let (_d, prog, run) = session(
        "rec",
        REC,
        &[
            "break 6, n == 2",
            "continue",
            "p n, acc",
            "rw acc",
            "p n, acc",
            "rw acc",
            "p n",
            "rw acc",
            "p n",
            "where",
        ],
    );
    run[1].assert_at(&prog, 6, "rec");
    run[2].assert_value("(2, 21)");
    assert_change(&run[3], &prog, 5, "rec", "20", "21");
    run[4].assert_value("(2, 20)");
    assert_change(&run[5], &prog, 2, "rec", "<not defined yet>", "20");
    run[6].assert_value("2");
    // No change since the frame was entered: stop at its entry, and say so.
    run[7].assert_at(&prog, 1, "rec");
    one_line_with(&run[7], "acc has not changed since rec was entered");
    run[8].assert_value("2");
    let recs = run[9].output.matches("rec()").count();
    assert_eq!(recs, 2, "rec(3) and rec(2) on the stack: {:#?}", run[9]);
}

#[test]
fn rw_on_an_unchanged_parameter_stops_at_the_frame_entry() {
    let (_d, prog, run) = session(
        "rec-param",
        REC,
        &["break 6, n == 2", "continue", "rw n", "p n", "step"],
    );
    run[2].assert_at(&prog, 1, "rec");
    one_line_with(&run[2], "n has not changed since rec was entered (value 2)");
    run[3].assert_value("2");
    run[4].assert_at(&prog, 2, "rec");
}

#[test]
fn rw_at_the_entry_of_a_frame_does_not_leave_the_frame() {
    // At the entry of rec(2) (where the previous rw stopped), a local of that frame has no
    // earlier history: the search ends at once, at the entry (or refuses, not moving). It
    // must not go to the start of the program, where that frame does not exist.
    let (_d, prog, run) = session(
        "rec-entry",
        REC,
        &["break 6, n == 2", "continue", "rw n", "rw n", "p n"],
    );
    run[2].assert_at(&prog, 1, "rec");
    let r = &run[3];
    if r.error.is_some() {
        assert_refused(r, &run[2], "");
    } else {
        r.assert_at(&prog, 1, "rec");
        assert_eq!(r.time, run[2].time, "{r:#?}");
    }
    run[4].assert_value("2");
}

// ----- 4. not defined yet is a value -------------------------------------------------------

#[test]
fn rw_finds_the_statement_that_first_defines_a_name() {
    let (_d, prog, run) = session(
        "first",
        FIRST_ASSIGNMENT,
        &[
            "break 6",
            "continue",
            "rw y",
            "p y",
            "p a, b",
            "continue",
            "rw cfg[\"mode\"]",
            "p cfg",
        ],
    );
    run[1].assert_at(&prog, 6, "<module>");
    assert_change(&run[2], &prog, 3, "<module>", "<not defined yet>", "3");
    run[3].assert_undefined();
    run[4].assert_value("(1, 2)");
    run[5].assert_at(&prog, 6, "<module>");
    // A KeyError before the key exists is a value too (whatever its text).
    let r = &run[6];
    r.assert_at(&prog, 5, "<module>");
    one_line_with(r, "Old value: ");
    assert_lines(r, &["New value: 'fast'"]);
    run[7].assert_value("{}");
}

// ----- 5. side effects of the expression -------------------------------------------------

#[test]
fn side_effects_of_the_expression_do_not_reach_the_state_landed_on() {
    let (_d, prog, run) = session(
        "side",
        SIDE_EFFECTS,
        &[
            "break 14",
            "continue",
            "p len(calls), total",
            "rw peek()",
            "p len(calls), total, i",
            "rw peek()",
            "p len(calls), total, i",
            "next",
            "p len(calls)",
            "continue",
            "continue",
        ],
    );
    run[1].assert_at(&prog, 14, "<module>");
    // `p` itself runs peek() only in the expression's own evaluation, not here.
    run[2].assert_value("(6, 10)");
    assert_change(&run[3], &prog, 12, "<module>", "6", "10");
    // The original run had appended "program", 0, 1, 2, 3 when i == 4 reached line 12.
    run[4].assert_value("(5, 6, 4)");
    assert_change(&run[5], &prog, 12, "<module>", "3", "6");
    run[6].assert_value("(4, 3, 3)");
    run[7].assert_at(&prog, 13, "<module>");
    run[8].assert_value("4");
    // Forward again to the end: the program prints what it printed the first time.
    run[9].assert_at(&prog, 14, "<module>");
    assert!(
        run[10].output.contains("end 10 6"),
        "the program's own result changed: {:#?}",
        run[10]
    );
}

#[test]
fn side_effects_of_the_expression_do_not_steer_the_search() {
    // In the real run the last change of peek() (== total) is line 15 (total = 100). A
    // search that lets peek() append to `calls` while it scans runs another program, where
    // len(calls) != 6 and line 15 never runs.
    let (_d, prog, run) = session(
        "side-steer",
        SIDE_EFFECTS_STEER,
        &[
            "break 16",
            "continue",
            "p total, len(calls)",
            "rw total",
            "continue",
            "rw peek()",
            "p total, len(calls), i",
        ],
    );
    run[1].assert_at(&prog, 16, "<module>");
    run[2].assert_value("(100, 6)");
    assert_change(&run[3], &prog, 15, "<module>", "10", "100");
    run[4].assert_at(&prog, 16, "<module>");
    assert_change(&run[5], &prog, 15, "<module>", "10", "100");
    run[6].assert_value("(10, 6, 4)");
}

#[test]
fn a_watch_that_changes_what_it_watches_is_redone_in_throwaway_copies() {
    // lst.pop() evaluated in place empties the list as the search runs, without changing
    // the program's course: only the value at the stretch's end shows that it did.
    let (_d, prog, run) = session(
        "pop-watch",
        "lst = []\nfor i in range(4):\n    lst.append(i)\ntotal = sum(lst)\nprint(total)\n",
        &["break 5", "continue", "rw lst.pop()", "p lst, i"],
    );
    run[1].assert_at(&prog, 5, "<module>");
    assert_change(&run[2], &prog, 3, "<module>", "2", "3");
    // And the session's own program was not touched by the search.
    run[3].assert_value("([0, 1, 2], 3)");
}

// ----- 6. the linked-list bug ------------------------------------------------------------

#[test]
fn rw_on_list_len_finds_the_line_that_made_the_list_short() {
    let (_d, prog, run) = session(
        "linked",
        LINKED_LIST,
        &[
            "break 34",
            "continue",
            "p list_len(head)",
            "rw list_len(head) < 17",
            "p v, value, node.value, list_len(head)",
            "step",
            "p list_len(head)",
        ],
    );
    run[1].assert_at(&prog, 34, "<module>");
    run[2].assert_value("14");
    // 20 → 18 (removing 3) → 16 (removing 7): the second call made it short.
    assert_change(&run[3], &prog, 26, "remove_value", "False", "True");
    run[4].assert_value("(7, 7, 6, 18)");
    run[5].assert_at(&prog, 27, "remove_value");
    run[6].assert_value("16");
}

// ----- 7. never changed ------------------------------------------------------------------

#[test]
fn rw_on_a_value_that_never_changed_says_so_and_goes_to_the_start() {
    let (_d, prog, run) = session(
        "never",
        COUNTER,
        &[
            "break 7",
            "continue",
            "rw __name__",
            "p counter",
            "continue",
            "rw abs(-7)",
        ],
    );
    let start = &run[0];
    let r = &run[2];
    r.assert_at(&prog, 1, "<module>");
    assert_eq!(r.time, start.time, "not at the start: {r:#?}");
    one_line_with(r, "never changed");
    run[3].assert_undefined();
    run[4].assert_at(&prog, 7, "<module>");
    let r = &run[5];
    r.assert_at(&prog, 1, "<module>");
    assert_eq!(r.time, start.time, "not at the start: {r:#?}");
    assert!(one_line_with(r, "never changed").contains('7'), "{r:#?}");
}

// ----- 8. bad expressions ----------------------------------------------------------------

#[test]
fn bad_expressions_give_one_line_errors_and_an_intact_session() {
    let (_d, prog, run) = session(
        "bad",
        BAD,
        &[
            "break 12",
            "continue",
            "rw x +",
            "p x",
            "rw 1/0",
            "p x",
            "rw boom()",
            "p x",
            "rw spin()",
            "p x",
            "rw x",
            "p x",
        ],
    );
    let here = &run[1];
    here.assert_at(&prog, 12, "<module>");
    assert_refused(&run[2], here, "syntax");
    run[3].assert_value("2");
    assert_refused(&run[4], here, "ZeroDivisionError");
    run[5].assert_value("2");
    assert_refused(&run[6], here, "KeyError");
    run[7].assert_value("2");
    let endless = &run[8];
    assert_refused(endless, here, "spin()");
    eprintln!(
        "rw spin() (never terminates) took {:.0} ms: {:?}",
        elapsed_ms(endless),
        endless.error
    );
    assert!(
        elapsed_ms(endless) < 10_000.0,
        "too slow to give up: {endless:#?}"
    );
    run[9].assert_value("2");
    // And reverse-watch still works.
    assert_change(&run[10], &prog, 11, "<module>", "1", "2");
    run[11].assert_value("1");
}

#[test]
fn an_expression_that_loops_at_an_earlier_point_does_not_hang_the_search() {
    // settled() terminates where the search starts, but loops at every point before
    // line 12. The search must interrupt it (and either treat that as a value, landing on
    // line 13, or give up with a one-line error) instead of hanging.
    let (d, prog, run) = session_with(
        "loops-past",
        LOOPS_IN_THE_PAST,
        &["break 14", "continue", "p settled()", "rw settled()", "p x"],
        |f| f.limit(Duration::from_secs(40)),
    );
    run[1].assert_at(&prog, 14, "<module>");
    run[2].assert_value("2");
    let r = &run[3];
    eprintln!(
        "rw settled() took {:.0} ms: error {:?}, output {:?}",
        elapsed_ms(r),
        r.error,
        r.output
    );
    if r.error.is_some() {
        assert_refused(r, &run[1], "");
        run[4].assert_value("2");
    } else {
        assert_change(r, &prog, 13, "<module>", "1", "2");
        run[4].assert_value("1");
    }
    let left = support::wait_until_gone(d.as_str(), Duration::from_secs(5));
    support::kill_all(&left);
    assert!(left.is_empty(), "processes left: {left:#?}");
}

// ----- 9. forward watch ------------------------------------------------------------------

#[test]
fn forward_watch_stops_just_after_the_change_and_lists_and_unwatches() {
    let (_d, prog, run) = session(
        "watch",
        BUMP,
        &[
            "break 10",
            "continue",
            "watch count",
            "continue",
            "p count, k",
            "watch y",
            "watch",
            "continue",
            "p y",
            "unwatch 1",
            "watch",
            "continue",
        ],
    );
    run[1].assert_at(&prog, 10, "<module>");
    run[2].assert_ok();
    assert_lines(&run[2], &["Watch 1: count = 0"]);
    // `count += k` ran: stopped on the next line of bump.
    assert_watch_hit(&run[3], &prog, 7, "bump", 1, "count", "0", "1");
    run[4].assert_value("(1, 1)");
    assert_lines(&run[5], &["Watch 2: y = <not defined yet>"]);
    assert_eq!(
        lines(&run[6]),
        ["Watch 1: count = 1", "Watch 2: y = <not defined yet>"],
        "{:#?}",
        run[6]
    );
    assert_watch_hit(
        &run[7],
        &prog,
        13,
        "<module>",
        2,
        "y",
        "<not defined yet>",
        "2",
    );
    run[8].assert_value("2");
    run[9].assert_ok();
    assert_eq!(lines(&run[10]), ["Watch 2: y = 2"], "{:#?}", run[10]);
    // bump(2) changes count, no longer watched; y does not change again.
    let end = &run[11];
    end.assert_ok();
    assert_eq!(end.state, "finished", "{end:#?}");
    assert_no_line_with(end, "Watch");
    assert!(end.output.contains("end 3"), "{end:#?}");
}

#[test]
fn a_breakpoint_before_the_change_stops_before_the_watch_triggers() {
    let (_d, prog, run) = session(
        "watch-break",
        BUMP,
        &[
            "break 10",
            "continue",
            "watch count",
            "break 11",
            "continue",
            "p count",
            "continue",
            "p count",
        ],
    );
    let r = &run[4];
    r.assert_at(&prog, 11, "<module>");
    assert_no_line_with(r, "Watch");
    run[5].assert_value("0");
    assert_watch_hit(&run[6], &prog, 7, "bump", 1, "count", "0", "1");
    run[7].assert_value("1");
}

#[test]
fn a_local_watch_ends_when_its_frame_returns() {
    let (_d, prog, run) = session(
        "watch-local",
        WORK,
        &[
            "break 4",
            "continue",
            "watch acc",
            "clear 1",
            "continue",
            "continue",
            "continue",
            "watch",
            "continue",
        ],
    );
    run[1].assert_at(&prog, 4, "work");
    assert_lines(&run[2], &["Watch 1: acc = 0"]);
    // i == 0 adds nothing; i == 1 and i == 2 change it.
    assert_watch_hit(&run[4], &prog, 3, "work", 1, "acc", "0", "1");
    assert_watch_hit(&run[5], &prog, 3, "work", 1, "acc", "1", "3");
    let r = &run[6];
    r.assert_at(&prog, 5, "work");
    one_line_with(r, "Watch 1 deleted");
    assert_eq!(lines(&run[7]), ["No watches."], "{:#?}", run[7]);
    // work(2) has an `acc` of its own: not watched.
    assert!(run[8].output.contains("end 3 1"), "{:#?}", run[8]);
}

#[test]
fn a_watch_survives_going_back() {
    // A global watch and a local one (its frame still live after `rs`) are both still
    // listed after going back one step, and still trigger.
    let (_d, prog, run) = session(
        "watch-back",
        WORK,
        &[
            "break 4",
            "continue",
            "watch acc",
            "watch a",
            "clear 1",
            "continue",
            "rs",
            "watch",
            "continue",
        ],
    );
    assert_watch_hit(&run[5], &prog, 3, "work", 1, "acc", "0", "1");
    run[6].assert_at(&prog, 4, "work");
    assert_eq!(
        lines(&run[7]),
        [
            "Watch 1: acc = 0 (in work)",
            "Watch 2: a = <not defined yet>"
        ],
        "{:#?}",
        run[7]
    );
    assert_watch_hit(&run[8], &prog, 3, "work", 1, "acc", "0", "1");
}

#[test]
fn going_back_does_not_report_a_watch_trigger() {
    // `rs` replays from a checkpoint: the watch evaluations of the replay are not stops
    // and must not be shown as if the watch had triggered.
    let (_d, prog, run) = session(
        "watch-rs",
        BUMP,
        &[
            "watch count",
            "break 11",
            "continue",
            "continue",
            "rs",
            "p count",
        ],
    );
    assert_watch_hit(
        &run[2],
        &prog,
        4,
        "<module>",
        1,
        "count",
        "<not defined yet>",
        "0",
    );
    run[3].assert_at(&prog, 11, "<module>");
    let r = &run[4];
    r.assert_at(&prog, 10, "<module>");
    assert_no_line_with(r, "Watch 1");
    run[5].assert_value("0");
}

#[test]
fn a_forward_watch_with_side_effects_does_not_change_the_program() {
    // Watching peek() must not let it append to the program's list: the program still
    // takes the branch it takes without the watch (len(calls) == 6), and prints so.
    let commands = cmds(&[&["watch peek()"], &times("continue", 8)]);
    let (_d, _prog, run) = session("watch-side", SIDE_EFFECTS_STEER, &commands);
    run[0].assert_ok();
    let out = run.all_output();
    assert!(
        out.contains("end 100 6"),
        "the watched program printed something else:\n{out}"
    );
}

// ----- 10. after the end and in post-mortem ----------------------------------------------

#[test]
fn rw_after_the_program_finished() {
    let (_d, prog, run) = session(
        "finished",
        COUNTER,
        &[
            "continue",
            "rw done",
            "p done",
            "continue",
            "rw x",
            "p x",
            "continue",
            "rw counter",
            "p i, counter",
        ],
    );
    assert_eq!(run[0].state, "finished", "{:#?}", run[0]);
    assert_change(&run[1], &prog, 7, "<module>", "<not defined yet>", "True");
    run[2].assert_undefined();
    assert_eq!(run[3].state, "finished", "{:#?}", run[3]);
    assert_change(&run[4], &prog, 6, "<module>", "2", "1");
    run[5].assert_value("2");
    assert_change(&run[7], &prog, 3, "<module>", "999", "1000");
    run[8].assert_value("(999, 999)");
}

#[test]
fn rw_in_post_mortem_on_globals() {
    let (_d, prog, run) = session(
        "pm-global",
        CRASH,
        &[
            "continue",
            "rw divisor",
            "p d, divisor, results",
            "rw results",
            "p results",
        ],
    );
    assert_eq!(run[0].state, "postmortem", "{:#?}", run[0]);
    assert_change(&run[1], &prog, 10, "<module>", "1", "0");
    run[2].assert_value("(0, 1, [40, 60, 120])");
    assert_change(&run[3], &prog, 11, "<module>", "[40, 60]", "[40, 60, 120]");
    run[4].assert_value("[40, 60]");
}

#[test]
fn rw_in_post_mortem_on_a_local_of_the_crashed_frame() {
    // `scaled` is local to the crashed divide(12, 0): set at line 2 of that very call.
    let (_d, prog, run) = session(
        "pm-local",
        CRASH,
        &["continue", "rw scaled", "p a, b", "rw b", "p a, b"],
    );
    assert_eq!(run[0].state, "postmortem", "{:#?}", run[0]);
    assert_change(&run[1], &prog, 2, "divide", "<not defined yet>", "120");
    run[2].assert_value("(12, 0)");
    run[3].assert_at(&prog, 1, "divide");
    one_line_with(
        &run[3],
        "b has not changed since divide was entered (value 0)",
    );
    run[4].assert_value("(12, 0)");
}

// ----- 11. speed (reported, not asserted) ------------------------------------------------

#[test]
fn rw_speed_near_and_far() {
    let commands = [
        "break 14", "continue", "rw near", "p near", "continue", "rw far", "p far",
    ];
    let (_d, prog, run) = session_with("speed", SPEED, &commands, |f| {
        f.limit(Duration::from_secs(120))
    });
    let end = &run[1];
    end.assert_at(&prog, 14, "<module>");
    assert_change(&run[2], &prog, 12, "<module>", "0", "1");
    run[3].assert_value("0");
    run[4].assert_at(&prog, 14, "<module>");
    assert_change(&run[5], &prog, 10, "<module>", "0", "1");
    run[6].assert_value("0");
    eprintln!(
        "SPEED: continue to the end {:.0} ms ({} events); rw near ({} events back) {:.1} ms; \
         rw far ({} events back) {:.1} ms",
        elapsed_ms(end),
        end.time,
        end.time - run[2].time,
        elapsed_ms(&run[2]),
        run[4].time - run[5].time,
        elapsed_ms(&run[5]),
    );
}

#[test]
fn json_carries_the_old_and_new_values_of_a_reverse_watch() {
    let (_d, _prog, run) = session(
        "watch-json",
        "x = 1\nx = 5\ny = 0\n",
        &["next", "next", "next", "rw x", "p y"],
    );
    assert_eq!(run[3].raw["old"], "1", "{:#?}", run[3]);
    assert_eq!(run[3].raw["new"], "5", "{:#?}", run[3]);
    assert!(run[4].raw.get("old").is_none(), "{:#?}", run[4]);
}
