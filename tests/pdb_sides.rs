//! Long searches cut into pieces that side copies of checkpoints scan beside the live
//! process: the pieces' answers put together are the answer of one scan, wherever the
//! changes lie, and no copy outlives the search or the session.

mod support;

use std::time::Duration;

use support::{wait_until_gone, Fred, TestDir};

/// About 1.6 million events; `x` changes at a quarter of the run, then goes to 2 and back
/// to 1 at three quarters (so every checkpoint after the first change holds 1), and the
/// program prints all along.
const LONG: &str = r#"
N = 400000
x = 0
i = 0
while i < N:
    i += 1
    if i == N // 4:
        x = 1
    if i == 3 * N // 4:
        x = 2
    if i == 3 * N // 4 + 1:
        x = 1
    if i % 100000 == 0:
        print("at", i)
done = True
"#;

#[test]
fn a_search_in_pieces_finds_the_last_changes_wherever_they_lie() {
    let dir = TestDir::new("sides");
    let prog = dir.program(LONG);
    let run = Fred::new(&dir).env("FRED_TRACE", "1").run(&[
        "break 14",
        "continue",
        "reverse-watch x",
        "p i",
        "reverse-watch x",
        "p i",
        "reverse-watch x",
        "p i",
        "continue",
    ]);
    run[1].assert_at(&prog, 14, "<module>");
    // The last change is in the last piece: 2 -> 1 just after three quarters.
    run[2].assert_at(&prog, 11, "<module>");
    assert_eq!(run[2].raw["old"], "2", "{:#?}", run[2]);
    assert_eq!(run[2].raw["new"], "1", "{:#?}", run[2]);
    run[3].assert_value("300001");
    run[4].assert_at(&prog, 9, "<module>");
    run[5].assert_value("300000");
    // The first change, a long way back.
    run[6].assert_at(&prog, 7, "<module>");
    assert_eq!(run[6].raw["old"], "0", "{:#?}", run[6]);
    run[7].assert_value("100000");
    // Forward again: the program's output once, from where the search left it.
    run[8].assert_at(&prog, 14, "<module>");
    let shown = run.all_output();
    // (What side copies print goes nowhere.)
    for at in ["at 300000\n", "at 400000\n"] {
        assert_eq!(shown.matches(at).count(), 2, "{at:?} in:\n{shown}");
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        assert!(
            run.stderr.contains("SideMessage"),
            "the first search was not cut into pieces:\n{}",
            run.stderr
                .lines()
                .filter(|l| l.contains("resume"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(1));
    support::kill_all(&left);
    assert!(left.is_empty(), "left: {left:#?}");
}
