//! Integration tests of `fred-gdb`: the real binary on real gdb, on C programs compiled with
//! `gcc -g -O0`, driven in batch JSON mode (`-x FILE --json`).

mod support;

use std::time::Duration;

use support::{cmds, times, wait_until_gone, Fred, Pos, TestDir};

/// Calls, a loop, recursion, a struct overwritten by strcpy, and a crash it causes: the
/// bundled C example the README starts with.
const CRASH: &str = include_str!("../examples/demo.c");

/// A program that ends normally.
const CLEAN: &str = r#"#include <stdio.h>

int counter = 0;

void bump(int k) {
    counter += k;
}

int main(void) {
    for (int i = 1; i <= 4; i++)
        bump(i);
    printf("counter=%d\n", counter);
    return 0;
}
"#;

fn positions(run: &support::Run, from: usize, n: usize) -> Vec<Pos> {
    (from..from + n).map(|i| run[i].pos()).collect()
}

#[test]
fn reverse_step_retraces_steps_through_calls_loops_and_recursion() {
    let dir = TestDir::new("gdb-rs-round-trip");
    let src = dir.c_program(CRASH);
    let steps = 30;
    let commands = cmds(&[
        &["break 23", "run"],
        &times("step", steps),
        &times("reverse-step", steps),
    ]);
    let run = Fred::new(&dir).gdb().run(&commands);
    run[1].assert_at(&src, 23, "main");
    let forward: Vec<Pos> = positions(&run, 1, steps);
    let mut back: Vec<Pos> = positions(&run, 2 + steps, steps);
    back.reverse();
    assert_eq!(forward, back, "reverse-step must retrace the steps exactly");
    assert!(
        forward.iter().any(|p| p.to_string().contains("fact")),
        "the walk should enter the recursion: {forward:#?}"
    );
}

/// A function the C library calls back (qsort's comparison): its caller's frame has no
/// frame pointer of the program's own code to follow.
const CALLBACK: &str = r#"#include <stdlib.h>
static int calls = 0;
static int cmp(const void *a, const void *b) {
    int x = *(const int *)a;
    int y = *(const int *)b;
    calls++;
    return (x > y) - (x < y);
}
int main(void) {
    int v[3] = {3, 1, 2};
    qsort(v, 3, sizeof v[0], cmp);
    return calls;
}
"#;

#[test]
fn stepping_back_and_forth_in_a_function_the_c_library_calls_back_stays_in_that_call() {
    let dir = TestDir::new("gdb-callback");
    let src = dir.c_program(CALLBACK);
    let run = Fred::new(&dir).gdb().run(&[
        "break 6",
        "run",
        "continue",
        "reverse-next",
        "p calls",
        "reverse-next",
        "next",
        "next",
        "p calls",
    ]);
    run[1].assert_at(&src, 6, "cmp");
    run[2].assert_at(&src, 6, "cmp");
    run[3].assert_at(&src, 5, "cmp");
    run[4].assert_value("$1 = 1");
    run[5].assert_at(&src, 4, "cmp");
    run[6].assert_at(&src, 5, "cmp");
    run[7].assert_at(&src, 6, "cmp");
    run[8].assert_value("$2 = 1");
}

#[test]
fn reverse_next_goes_over_calls_and_out_of_a_function_at_its_first_line() {
    let dir = TestDir::new("gdb-rn");
    let src = dir.c_program(CRASH);
    let run = Fred::new(&dir).gdb().run(&[
        "break 26",
        "run",
        "reverse-next",
        "p i",
        "reverse-next",
        "break square",
        "continue",
        "reverse-next",
    ]);
    run[1].assert_at(&src, 26, "main");
    run[2].assert_at(&src, 23, "main");
    run[3].assert_value("$1 = 4");
    run[4].assert_at(&src, 24, "main");
    run[6].assert_at(&src, 8, "square");
    // At a function's first line, reverse-next goes to the caller's line that called it.
    run[7].assert_at(&src, 24, "main");
}

#[test]
fn reverse_finish_leaves_each_recursion_frame_for_its_callers_line() {
    let dir = TestDir::new("gdb-rf");
    let src = dir.c_program(CRASH);
    let run = Fred::new(&dir).gdb().run(&[
        "break fact if n == 1",
        "run",
        "reverse-finish",
        "p n",
        "reverse-finish",
        "p n",
        "reverse-finish",
        "reverse-finish",
        "reverse-finish",
    ]);
    run[1].assert_at(&src, 13, "fact");
    run[2].assert_at(&src, 15, "fact");
    run[3].assert_value("$1 = 2");
    run[4].assert_at(&src, 15, "fact");
    run[5].assert_value("$2 = 3");
    run[7].assert_at(&src, 26, "main");
    run[8].assert_error("outermost");
}

/// A script's forward commands go to gdb typed ahead, in batches, and the agent leaves the
/// stack's depth out of every prompt of a batch but its last: the reverse command after a
/// batch still goes by the depth the batch reached.
#[test]
fn after_forward_commands_typed_ahead_reverse_finish_knows_the_depth_they_reached() {
    let dir = TestDir::new("gdb-ahead-rf");
    let src = dir.c_program(CRASH);
    let run = Fred::new(&dir).gdb().run(&[
        "break fact",
        "run",
        "continue",
        "continue",
        "continue",
        "reverse-finish",
        "p n",
        "reverse-finish",
        "p n",
    ]);
    run[4].assert_at(&src, 13, "fact");
    run[5].assert_at(&src, 15, "fact");
    run[6].assert_value("$1 = 2");
    run[7].assert_at(&src, 15, "fact");
    run[8].assert_value("$2 = 3");
}

#[test]
fn reverse_continue_stops_at_earlier_breakpoint_hits_with_conditions() {
    let dir = TestDir::new("gdb-rc");
    let src = dir.c_program(CRASH);
    let run = Fred::new(&dir).gdb().run(&[
        "break 24",
        "run",
        "continue",
        "continue",
        "continue",
        "p i",
        "reverse-continue",
        "p i",
        "condition 1 i == 0",
        "reverse-continue",
        "p i",
        "reverse-continue",
    ]);
    run[4].assert_at(&src, 24, "main");
    run[5].assert_value("$1 = 3");
    run[6].assert_at(&src, 24, "main");
    run[7].assert_value("$2 = 2");
    run[9].assert_at(&src, 24, "main");
    run[10].assert_value("$3 = 0");
    run[11].assert_ok();
    assert!(
        run[11].output.contains("start"),
        "no earlier hit: to the start, saying so: {:?}",
        run[11]
    );
}

/// A loop calling `hit` fifty times, and `other` once on the way.
const HITS: &str = r#"#include <stdio.h>
int total = 0;
void hit(int k) {
    total += k;
}
void other(int k) {
    total -= k;
}
int main(void) {
    for (int i = 0; i < 50; i++) {
        hit(i);
        if (i == 30)
            other(i);
    }
    printf("total=%d\n", total);
    return 0;
}
"#;

#[test]
fn going_back_over_many_continues_replays_each_epoch_to_its_own_hit() {
    // The replay runs through the thirty epochs that each end at the next hit of line 4 at
    // once, then the one that ends in `other`, then nine more of line 4's.
    let dir = TestDir::new("gdb-hits");
    let src = dir.c_program(HITS);
    let mut commands = vec!["break 4", "break 7", "run"];
    commands.extend(std::iter::repeat_n("continue", 40));
    commands.extend(["p k", "reverse-continue", "p k", "reverse-step", "p i"]);
    commands.extend(["reverse-continue", "p k"]);
    let run = Fred::new(&dir).gdb().run(&commands);
    run[33].assert_at(&src, 7, "other");
    run[43].assert_value("$1 = 39");
    run[44].assert_at(&src, 4, "hit");
    run[45].assert_value("$2 = 38");
    run[46].assert_at(&src, 11, "main");
    run[47].assert_value("$3 = 38");
    run[48].assert_at(&src, 4, "hit");
    run[49].assert_value("$4 = 37");
}

#[test]
fn continue_n_after_going_back_to_a_breakpoint_ignores_its_next_crossings() {
    // gdb's own last stop there was fred's; `continue 3` is as after a hit of breakpoint 1.
    let dir = TestDir::new("gdb-cont-n");
    let src = dir.c_program(HITS);
    let run = Fred::new(&dir).gdb().run(&[
        "break 4",
        "run",
        "continue",
        "continue",
        "reverse-continue",
        "continue 3",
        "p k",
        "reverse-continue",
        "p k",
    ]);
    run[4].assert_at(&src, 4, "hit");
    assert!(
        run[5]
            .output
            .contains("Will ignore next 2 crossings of breakpoint 1.  Continuing."),
        "{:?}",
        run[5]
    );
    run[5].assert_at(&src, 4, "hit");
    run[6].assert_value("$1 = 4");
    run[8].assert_value("$2 = 3");
}

#[test]
fn from_a_crash_reverse_watch_finds_the_libc_call_that_corrupted_the_struct() {
    let dir = TestDir::new("gdb-crash");
    let src = dir.c_program(CRASH);
    let run = Fred::new(&dir).gdb().run(&[
        "run",
        "p r.id",
        "reverse-watch r.id",
        "p r.id",
        "step",
        "p r.id",
        "reverse-step",
    ]);
    assert!(run[0].output.contains("SIGSEGV"), "{:?}", run[0]);
    // gdb says nothing at start of the breakpoints fred sets for itself.
    assert!(!run.stderr.contains("not defined"), "{}", run.stderr);
    assert_eq!(run[0].state, "postmortem");
    assert_eq!(run[0].line(), 31);
    run[2].assert_at(&src, 27, "main");
    assert_eq!(run[2].raw["old"], "7", "{:?}", run[2]);
    run[3].assert_value("$2 = 7");
    run[4].assert_at(&src, 28, "main");
    assert_ne!(run[5].output.trim(), "$3 = 7");
    run[6].assert_at(&src, 27, "main");
}

#[test]
fn reverse_watch_finds_the_last_of_many_changes_and_expressions_with_calls() {
    let dir = TestDir::new("gdb-rw");
    let src = dir.c_program(CRASH);
    let run = Fred::new(&dir).gdb().run(&[
        "break 26",
        "run",
        "reverse-watch total",
        "p i",
        "reverse-watch total",
        "p i",
        "reverse-watch nosuchname",
    ]);
    run[2].assert_at(&src, 24, "main");
    run[3].assert_value("$1 = 4");
    assert_eq!(run[2].raw["old"], "14");
    assert_eq!(run[2].raw["new"], "30");
    run[4].assert_at(&src, 24, "main");
    run[5].assert_value("$2 = 3");
    run[6].assert_error("nosuchname");

    // A function call in the expression: square(total) > 100 first holds once total
    // reaches 14 (i == 3 adds 9 to 5).
    let run = Fred::new(&dir).gdb().run(&[
        "break 26",
        "run",
        "reverse-watch square(total) > 100",
        "p i",
        "p total",
    ]);
    run[2].assert_at(&src, 24, "main");
    run[3].assert_value("$1 = 3");
    run[4].assert_value("$2 = 5");
}

/// Changes a scan can only see by looking: one made by the kernel (`read` into a global),
/// and the links of a list six pointers deep (more than the debug registers can watch).
const WRITES: &str = r#"#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

struct node { long value; struct node *next; };
struct node *head;
char buf[8];
long after;

int main(int argc, char **argv) {
    for (long i = 0; i < 8; i++) {
        struct node *n = malloc(sizeof *n);
        n->value = i;
        n->next = head;
        head = n;
    }
    int fd = open(argv[0], O_RDONLY);
    read(fd, buf, 4);
    after = 1;
    head->next->next->next->next->next->value = 42;
    after = 2;
    return 0;
}
"#;

#[test]
fn reverse_watch_sees_kernel_writes_and_chains_too_long_for_the_debug_registers() {
    let dir = TestDir::new("gdb-rw-writes");
    let src = dir.c_program(WRITES);
    let run = Fred::new(&dir).gdb().run(&[
        "break 22",
        "run",
        "reverse-watch head->next->next->next->next->next->value",
        "reverse-watch buf[1]",
        "reverse-watch head->next->next->value",
        "p i",
    ]);
    run[2].assert_at(&src, 20, "main");
    assert_eq!(run[2].raw["new"], "42");
    run[3].assert_at(&src, 18, "main");
    assert_eq!(run[3].raw["new"], "69 'E'", "{:?}", run[3]);
    run[4].assert_at(&src, 15, "main");
    run[5].assert_value("$1 = 7");
}

/// Reads its input three bytes at a time.
const READS_IN_PIECES: &str = r#"#include <unistd.h>

int main(void) {
    char buf[4] = "";
    int got = 0;
    for (int i = 0; i < 6; i++) {
        ssize_t r = read(0, buf, 3);
        got += r;
    }
    return got;
}
"#;

#[test]
fn replays_from_a_checkpoint_part_way_through_the_input_read_what_was_read_there() {
    // The end of file fred types after the input is not in the terminal's count of unread
    // bytes: counted as one, it put each read of a replay one byte late ("2\n" for "22\n").
    let dir = TestDir::new("gdb-input-pieces");
    let src = dir.c_program(READS_IN_PIECES);
    let mut commands = vec!["break 8", "run", "continue 5"];
    for _ in 0..5 {
        commands.extend(["reverse-continue", "p buf"]);
    }
    let run = Fred::new(&dir)
        .gdb()
        .input("11\n22\n33\n44\n55\n66\n")
        .run(&commands);
    run[2].assert_at(&src, 8, "main");
    for (i, want) in ["55", "44", "33", "22", "11"].iter().enumerate() {
        run[3 + 2 * i].assert_at(&src, 8, "main");
        run[4 + 2 * i].assert_value(&format!("${} = \"{want}\\n\"", i + 1));
    }
}

/// Reads two numbers from its input (stdin).
const READS: &str = r#"#include <stdio.h>

int main(void) {
    int a = 0, b = 0;
    printf("two numbers? ");
    fflush(stdout);
    scanf("%d", &a);
    scanf("%d", &b);
    int sum = a + b;
    printf("sum=%d\n", sum);
    return 0;
}
"#;

#[test]
fn input_typed_to_the_program_is_typed_again_on_replay_and_never_reaches_gdb() {
    let dir = TestDir::new("gdb-input");
    let src = dir.c_program(READS);
    let run = Fred::new(&dir).gdb().input("20\n22\n").run(&[
        "break 10",
        "run",
        "p sum",
        "reverse-step",
        "p a + b",
        "reverse-step",
        "p a",
        "reverse-watch a",
        "p a",
        "next",
        "p a",
        "continue",
        "continue",
    ]);
    assert!(run[1].output.contains("two numbers? "), "{:?}", run[1]);
    run[1].assert_at(&src, 10, "main");
    run[2].assert_value("$1 = 42");
    // Going back replays the reads from the logged input, without asking again.
    run[3].assert_at(&src, 9, "main");
    run[4].assert_value("$2 = 42");
    run[5].assert_at(&src, 8, "main");
    run[6].assert_value("$3 = 20");
    run[7].assert_at(&src, 7, "main");
    run[8].assert_value("$4 = 0");
    // Going forward from there is a new branch: the input has ended, so scanf reads end
    // of file (as under plain gdb with the same input), and nothing went to gdb.
    run[9].assert_at(&src, 8, "main");
    run[10].assert_value("$5 = 0");
    assert!(
        !run.all_output().contains("Undefined command"),
        "{}",
        run.all_output()
    );
    run[11].assert_at(&src, 10, "main");
    assert_eq!(run[12].state, "finished");
}

#[test]
fn reverse_commands_work_after_the_program_exits_normally() {
    let dir = TestDir::new("gdb-exit");
    let src = dir.c_program(CLEAN);
    let run = Fred::new(&dir).gdb().run(&[
        "break main",
        "run",
        "continue",
        "next",
        "reverse-step",
        "reverse-watch counter",
        "p k",
        "reverse-finish",
    ]);
    assert!(run[2].output.contains("exited normally"), "{:?}", run[2]);
    assert_eq!(run[2].state, "finished");
    run[3].assert_error("ended");
    run[4].assert_at(&src, 14, "main");
    run[5].assert_at(&src, 6, "bump");
    run[6].assert_value("$1 = 4");
    run[7].assert_at(&src, 11, "main");
}

#[test]
fn errors_are_one_line_and_leave_the_session_usable() {
    let dir = TestDir::new("gdb-errors");
    let src = dir.c_program(CLEAN);
    let run = Fred::new(&dir).gdb().run(&[
        "reverse-step",
        "frobnicate",
        "break 11",
        "run",
        "reverse-step",
        "reverse-step",
        "p nosuch",
        "checkpoint",
        "fred-restart 99",
        "next",
        "reverse-next",
    ]);
    run[0].assert_error("not being run");
    run[1].assert_error("undefined command");
    run[3].assert_at(&src, 11, "main");
    run[4].assert_at(&src, 10, "main");
    run[5].assert_error("start");
    run[6].assert_error("nosuch");
    run[7].assert_error("fred-checkpoint");
    run[8].assert_error("no checkpoint 99");
    run[10].assert_at(&src, 10, "main");
}

#[test]
fn no_gdb_or_program_copy_survives_quit_or_kill_9() {
    let dir = TestDir::new("gdb-hygiene");
    dir.c_program(CLEAN);
    let run = Fred::new(&dir)
        .gdb()
        .run(&["break bump", "run", "continue", "reverse-step", "quit"]);
    run[3].assert_ok();
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(2));
    assert!(left.is_empty(), "left after quit: {left:#?}");

    let mut child = Fred::new(&dir).gdb().spawn(&[
        "break bump",
        "run",
        "continue",
        "fred-checkpoint",
        "shell sleep 30",
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    let before = support::processes_mentioning(dir.as_str());
    child.kill().expect("kill -9 fred-gdb");
    let _ = child.wait();
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(2));
    support::kill_all(&left);
    assert!(
        left.is_empty(),
        "after kill -9 of fred-gdb, left: {left:#?}\n(before: {before:#?})"
    );
}

#[test]
fn a_multi_threaded_program_runs_as_under_plain_gdb() {
    let dir = TestDir::new("gdb-threads");
    let src = dir.c_program(
        r#"#include <pthread.h>
#include <stdio.h>

int shared = 0;

void *work(void *arg) {
    shared += 1;
    return arg;
}

int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, work, NULL);
    pthread_join(t, NULL);
    printf("shared=%d\n", shared);
    return 0;
}
"#,
    );
    let _ = std::process::Command::new("gcc")
        .args(["-g", "-O0", "-pthread", "-o"])
        .arg(dir.path.join("prog"))
        .arg(&src)
        .status();
    let run = Fred::new(&dir).gdb().run(&[
        "break 7",
        "run",
        "fred-checkpoint",
        "p shared",
        "next",
        "p shared",
    ]);
    run[1].assert_at(&src, 7, "work");
    run[2].assert_error("multi-threaded");
    run[3].assert_value("$1 = 0");
    run[4].assert_at(&src, 8, "work");
    run[5].assert_value("$2 = 1");
}

/// A loop long enough that searching it takes more than half a second (9,000 line events,
/// each a stop of at least 0.15 ms under gdb).
const LONG_LOOP: &str = r#"long marker;

int main(void) {
    long acc = 0;
    for (long i = 0; i < 3000; i++) {
        if (i == 3)
            marker = 1;
        acc += i;
    }
    return (int)(acc & 1);
}
"#;

#[test]
fn a_batch_session_whose_input_has_ended_still_checkpoints_along_long_searches() {
    let dir = TestDir::new("gdb-batch-ckpt");
    let src = dir.c_program(LONG_LOOP);
    // fred's stdin is empty: the program is given end of file at every command, which
    // must not count as input that forbids checkpoints inside a stretch. (The search is
    // short: checkpoints every millisecond of it.)
    let run = Fred::new(&dir)
        .gdb()
        .options(&["--checkpoint-interval", "1"])
        .run(&[
            "break 10",
            "run",
            "reverse-watch marker",
            "p i",
            "fred-history",
            "next",
            "reverse-step",
            "p i",
        ]);
    run[2].assert_at(&src, 7, "main");
    run[3].assert_value("$1 = 3");
    assert!(run[4].output.contains("taken mid-run"), "{}", run[4].output);
    run[5].assert_at(&src, 8, "main");
    run[6].assert_at(&src, 7, "main");
    run[7].assert_value("$2 = 3");
}
