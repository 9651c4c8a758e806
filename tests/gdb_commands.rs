//! gdb's own commands in a session with time travel: `run` again, a watchpoint of the
//! user's, a call from gdb that faults, and the history's times.

mod support;

use support::{cmds, times, Fred, TestDir};

const LOOP: &str = r#"int g;

int main(void) {
    for (int i = 0; i < 5; i++) {
        g += i;
        g -= 1;
    }
    return g;
}
"#;

#[test]
fn stops_of_a_users_watchpoint_can_be_gone_back_over() {
    let dir = TestDir::new("gdb-cmd-watch");
    let src = dir.c_program(LOOP);
    let run = Fred::new(&dir).gdb().run(&[
        "break main",
        "run",
        "watch g",
        "continue",
        "continue",
        "continue",
        "reverse-step",
        "p g",
        "reverse-step",
        "p i",
    ]);
    // gdb reports a write at the line after the one that made it.
    run[3].assert_at(&src, 4, "main");
    run[4].assert_at(&src, 6, "main");
    run[5].assert_at(&src, 4, "main");
    // Back over the watchpoint's stop, to the lines that ran before it.
    run[6].assert_at(&src, 6, "main");
    run[7].assert_value("$1 = 0");
    run[8].assert_at(&src, 5, "main");
    run[9].assert_value("$2 = 1");
}

#[test]
fn reverse_continue_stops_where_a_watchpoints_expression_was_changed() {
    let dir = TestDir::new("gdb-cmd-rc-watch");
    let src = dir.c_program(LOOP);
    let run = Fred::new(&dir).gdb().run(&[
        "break main",
        "run",
        "watch g",
        "continue",
        "continue",
        "continue",
        "reverse-continue",
        "p g",
        "p i",
        "reverse-continue 2",
        "p g",
        "reverse-continue",
        "p g",
    ]);
    // At the statement that made the last change, before it ran, as gdb's own reverse
    // execution stops.
    run[6].assert_at(&src, 6, "main");
    assert!(
        run[6].output.contains("Old value = 0\nNew value = -1"),
        "{}",
        run[6].output
    );
    run[7].assert_value("$1 = 0");
    run[8].assert_value("$2 = 1");
    // Two changes back: `g += 1` (-1 to 0), then `g -= 1` with i = 0 (`g += 0` changed
    // nothing).
    run[9].assert_at(&src, 6, "main");
    run[10].assert_value("$3 = 0");
    // No change before that: the breakpoint at main.
    run[11].assert_at(&src, 4, "main");
    run[12].assert_value("$4 = 0");
}

#[test]
fn run_again_goes_to_the_start_and_on_to_the_first_breakpoint() {
    let dir = TestDir::new("gdb-cmd-run");
    let src = dir.c_program(LOOP);
    let run = Fred::new(&dir).gdb().run(&[
        "break 6",
        "run",
        "continue",
        "p i",
        "run",
        "p i",
        "fred-history",
    ]);
    run[2].assert_at(&src, 6, "main");
    run[3].assert_value("$1 = 1");
    run[4].assert_at(&src, 6, "main");
    run[5].assert_value("$2 = 0");
    // Times read as the stop and the line-table entries run since.
    assert!(run[6].output.contains("t=1.0 "), "{}", run[6].output);
}

#[test]
fn a_temporary_breakpoints_stop_is_a_place_in_history() {
    let dir = TestDir::new("gdb-cmd-tbreak");
    let src = dir.c_program(LOOP);
    let run = Fred::new(&dir).gdb().run(&[
        "tbreak 5",
        "run",
        "tbreak 8",
        "continue",
        "reverse-step",
        "p i",
        "fred-goto 1",
        "p i",
        "fred-goto 2",
        "p g",
    ]);
    run[1].assert_at(&src, 5, "main");
    run[3].assert_at(&src, 8, "main");
    // Both stops are entries of the history, though gdb deleted their breakpoints.
    run[4].assert_at(&src, 4, "main");
    run[5].assert_value("$1 = 4"); // (before the last i++)
    run[6].assert_at(&src, 5, "main");
    run[7].assert_value("$2 = 0");
    run[8].assert_at(&src, 8, "main");
    run[9].assert_value("$3 = 5");
}

const CALLS: &str = r#"int depth(int n) { return n == 0 ? 0 : 1 + depth(n - 1); }

int main(void) {
    int a = 1;
    int b = depth(3);
    return a + b;
}
"#;

#[test]
fn a_call_from_gdb_that_faults_is_undone_and_time_travel_goes_on() {
    let dir = TestDir::new("gdb-cmd-call");
    let src = dir.c_program(CALLS);
    let run = Fred::new(&dir).gdb().run(&[
        "break 5",
        "run",
        "call depth(100000000)",
        "reverse-step",
        "next",
        "next",
        "p b",
    ]);
    assert!(run[2].output.contains("SIGSEGV"), "{:?}", run[2]);
    run[3].assert_at(&src, 4, "main");
    run[4].assert_at(&src, 5, "main");
    run[5].assert_at(&src, 6, "main");
    run[6].assert_value("$1 = 3");
}

const ENVIRONMENT: &str = r#"#include <stdio.h>
#include <stdlib.h>

int twice(int n) { return 2 * n; }

int main(void) {
    const char *p = getenv("LD_PRELOAD");
    printf("preload=[%s]\n", p ? p : "none");
    int r = twice(21);
    return r == 42 ? 0 : 1;
}
"#;

/// The program's environment is the user's, whatever fred gives gdb itself (on some
/// CPUs a library preloaded into gdb), and calls and checkpoints work.
#[test]
fn the_program_has_the_users_environment_and_calls_and_checkpoints_work() {
    let dir = TestDir::new("gdb-cmd-env");
    let src = dir.c_program(ENVIRONMENT);
    let commands = [
        "break 9",
        "run",
        "p twice(4)",
        "next",
        "reverse-next",
        "p r",
    ];
    let run = Fred::new(&dir).gdb().run(&commands);
    assert!(run[1].output.contains("preload=[none]"), "{:#?}", run[1]);
    run[1].assert_at(&src, 9, "main");
    run[2].assert_value("$1 = 8");
    run[4].assert_at(&src, 9, "main");

    // A library of the user's own, preloaded into the program as under plain gdb.
    let lib = dir.path.join("empty.so");
    let built = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .args(["-x", "c", "/dev/null"])
        .output()
        .expect("run gcc");
    assert!(built.status.success(), "{built:?}");
    let lib = lib.to_str().unwrap();
    let run = Fred::new(&dir).gdb().env("LD_PRELOAD", lib).run(&commands);
    assert!(
        run[1].output.contains(&format!("preload=[{lib}]")),
        "{:#?}",
        run[1]
    );
    run[2].assert_value("$1 = 8");
    run[4].assert_at(&src, 9, "main");
}

const LIST: &str = r#"#include <stdlib.h>
#include <string.h>

struct node {
    char name[8];
    struct node *next;
};

struct node *head;

struct node *push(struct node *h, const char *name) {
    struct node *n = malloc(sizeof *n);
    n->next = h;
    strcpy(n->name, name);
    return n;
}

int list_len(struct node *h) {
    int len = 0;
    for (; h; h = h->next)
        len++;
    return len;
}

int main(void) {
    head = push(head, "alpha");
    head = push(head, "beta");
    head->next = push(head->next, "epsilon-long");
    return list_len(head);
}
"#;

/// A call that faults now (the list is corrupted) is a value of its own, as an unreadable
/// pointer is: the search finds the statement that made the call fault. Asked again from
/// the same place after going on, it gives the same answer (the change is made by the
/// caller, after the call on its line has returned).
#[test]
fn reverse_watch_of_a_call_that_faults_now_finds_what_made_it_fault() {
    let dir = TestDir::new("gdb-cmd-rw-fault");
    let src = dir.c_program(LIST);
    let run = Fred::new(&dir).gdb().run(&[
        "break 29",
        "run",
        "reverse-watch list_len(head) < 3",
        "continue",
        "reverse-watch list_len(head) < 3",
        "reverse-watch list_len(head)",
    ]);
    run[2].assert_at(&src, 28, "main");
    assert!(run[2].output.contains("Old value: 1"), "{:#?}", run[2]);
    assert!(run[2].output.contains("New value: <"), "{:#?}", run[2]);
    run[3].assert_at(&src, 29, "main");
    run[4].assert_at(&src, 28, "main");
    // From the statement before the change: the change before it, at the second push.
    run[5].assert_at(&src, 27, "main");
    assert!(run[5].output.contains("New value: 2"), "{:#?}", run[5]);
}

/// After a reverse command, as after any stop, gdb's `display`s are shown.
#[test]
fn a_reverse_command_shows_the_users_displays() {
    let dir = TestDir::new("gdb-cmd-display");
    dir.c_program(LOOP);
    let run = Fred::new(&dir).gdb().run(&[
        "break 5",
        "run",
        "display g",
        "next",
        "next",
        "reverse-next",
    ]);
    assert!(run[5].output.contains("1: g = 0"), "{:#?}", run[5]);
}

/// A watchpoint's stop has a checkpoint of its own: after the user deletes the watchpoint,
/// what came after the stop can still be gone back over. Inside the stretch the watchpoint
/// ended, which only the watchpoint could replay, a reverse command says so in one line.
#[test]
fn going_back_after_deleting_the_watchpoint_that_stopped_the_program() {
    let dir = TestDir::new("gdb-cmd-watch-deleted");
    let src = dir.c_program(LOOP);
    let run = Fred::new(&dir).gdb().run(&[
        "break 6",
        "run",
        "watch g",
        "continue",
        "continue",
        "delete 2",
        "next",
        "reverse-step",
        "reverse-step",
        "reverse-step",
        "reverse-step",
        "p i",
    ]);
    // gdb reports a write at the line after it.
    run[3].assert_at(&src, 4, "main");
    run[4].assert_at(&src, 6, "main");
    run[6].assert_at(&src, 4, "main");
    run[7].assert_at(&src, 6, "main");
    run[8].assert_at(&src, 5, "main");
    // The watchpoint's stop, from its own checkpoint.
    run[9].assert_at(&src, 4, "main");
    run[10].assert_error("watchpoint 2");
    run[11].assert_value("$1 = 0");
}

const CONFIG: &str = r#"#include <stdlib.h>

struct cfg { int n; int *vals; };

int depth(int d, struct cfg *c) {
    if (d == 0)
        return c->vals[c->n - 1];
    return depth(d - 1, c) + 1;
}

int main(void) {
    struct cfg c;
    c.n = 3;
    c.vals = calloc(3, sizeof(int));
    int r1 = depth(3, &c);
    c.vals = NULL;
    return depth(2, &c) + r1;
}
"#;

/// The names of a watched expression are the selected frame's (after `frame N` or `up`),
/// as for gdb's `watch`: from a crash three calls deep, `c.vals` is main's.
#[test]
fn reverse_watch_takes_its_names_from_the_selected_frame() {
    let dir = TestDir::new("gdb-cmd-rw-frame");
    let src = dir.c_program(CONFIG);
    let run = Fred::new(&dir)
        .gdb()
        .run(&["run", "frame 3", "reverse-watch c.vals", "p c.n"]);
    run[2].assert_at(&src, 16, "main");
    assert!(run[2].output.contains("New value: 0x0"), "{:#?}", run[2]);
    run[3].assert_value("$1 = 3");
}

#[test]
fn going_back_within_a_frame_shows_the_line_and_into_another_the_frame_too() {
    // As gdb's own steps: the frame's header only where the function changes.
    let dir = TestDir::new("gdb-cmd-frame-line");
    let src = dir.c_program(
        "int square(int x) {\n    int y = x * x;\n    return y;\n}\n\nint main(void) {\n    int t = square(3);\n    return t;\n}\n",
    );
    let run = Fred::new(&dir).gdb().run(&[
        "break square",
        "run",
        "next",
        "reverse-step",
        "reverse-step",
    ]);
    run[3].assert_at(&src, 2, "square");
    assert!(
        run[3].output.starts_with("2\t") && !run[3].output.contains("#0"),
        "{:?}",
        run[3].output
    );
    run[4].assert_at(&src, 7, "main");
    // (gdb's `frame` puts the level first; gdb's own stops do not.)
    assert!(
        run[4].output.starts_with("main () at "),
        "{:?}",
        run[4].output
    );
}

#[test]
fn new_arguments_once_the_program_has_run_are_refused_in_one_line() {
    // A restart goes back to the recorded start, which has the first run's arguments:
    // taking others silently would run with the old ones.
    let dir = TestDir::new("gdb-cmd-args");
    let src = dir.c_program(
        "#include <stdio.h>\n\nint main(int argc, char **argv) {\n    int n = argc;\n    printf(\"%d %s\\n\", n, argc > 1 ? argv[1] : \"-\");\n    return 0;\n}\n",
    );
    let run = Fred::new(&dir).gdb().run(&[
        "break 5",
        "run aaa",
        "run bbb",
        "set args zz",
        "p argv[1]",
        "p n",
    ]);
    run[1].assert_at(&src, 5, "main");
    run[2].assert_error("keeps the arguments of its first run");
    run[3].assert_error("keeps the arguments of its first run");
    assert!(run[4].output.contains("\"aaa\""), "{:?}", run[4].output);
    run[5].assert_value("$2 = 2");
}

#[test]
fn run_again_stops_at_a_breakpoint_on_main_s_first_line() {
    // fred's start is main's first line; gdb resuming from there passes a breakpoint on
    // it, where a fresh run stops. `break main`, `run`, ..., `run` ran to the end.
    let dir = TestDir::new("gdb-cmd-run-main");
    let src = dir.c_program(LOOP);
    let run =
        Fred::new(&dir)
            .gdb()
            .run(&["break main", "run", "next", "next", "run", "next", "p i"]);
    run[1].assert_at(&src, 4, "main");
    run[4].assert_at(&src, 4, "main");
    assert!(
        run[4].output.contains("Breakpoint 1, main ()"),
        "{:?}",
        run[4].output
    );
    run[5].assert_at(&src, 5, "main");
    run[6].assert_value("$1 = 0");
}

/// Calls `tick` three times, saying so first each time.
const TICKS: &str = r#"#include <stdio.h>

int total;

void tick(int k) {
    total += k;
}

int main(void) {
    for (int i = 1; i <= 3; i++) {
        printf("tick %d\n", i);
        tick(i);
    }
    return 0;
}
"#;

#[test]
fn forward_commands_typed_ahead_stop_where_the_program_ends() {
    // A script's run of `continue`s goes to gdb at once. The one that ends the program
    // leaves the rest to fred, which says each time that the program has ended; the
    // session goes on.
    let dir = TestDir::new("gdb-cmd-ahead-end");
    let src = dir.c_program(TICKS);
    let run = Fred::new(&dir).gdb().run(&[
        "break tick",
        "run",
        "continue",
        "continue",
        "continue",
        "continue",
        "continue",
        "reverse-continue",
        "p total",
        "continue",
        "continue",
    ]);
    run[1].assert_at(&src, 6, "tick");
    run[2].assert_at(&src, 6, "tick");
    run[3].assert_at(&src, 6, "tick");
    assert_eq!(run[4].state, "finished", "{:#?}", run[4]);
    run[5].assert_error("has ended");
    run[6].assert_error("has ended");
    run[7].assert_at(&src, 6, "tick");
    run[8].assert_value("$1 = 3");
    assert_eq!(run[9].state, "finished", "{:#?}", run[9]);
    run[10].assert_error("has ended");
}

#[test]
fn program_output_stays_with_the_command_typed_ahead_that_made_it() {
    // gdb runs the next `continue` while fred still reads the answer of the one before:
    // what the program writes meanwhile is the next command's. Commands go to gdb in
    // batches (of 64); on a busy machine gdb may run the first of a batch before fred has
    // read the batch's own answer, and what that first one wrote was lost then (a lost
    // mark made each later command of the batch take the output of the next, the last
    // waiting a second for its own). A race: sessions of several batches, with every
    // processor kept busy.
    let dir = TestDir::new("gdb-cmd-ahead-output");
    dir.c_program(&TICKS.replace("i <= 3", "i <= 300"));
    let _busy = Busy::every_processor();
    for session in 0..4 {
        let run = Fred::new(&dir)
            .gdb()
            .run(&cmds(&[&["break tick", "run"], &times("continue", 300)]));
        // run[k] (`run`, then each `continue`) stops at the k-th call.
        for k in 1..=300 {
            let out = &run[k].output;
            assert!(
                out.contains(&format!("tick {k}\n")),
                "{session}/{k}: {out:?}"
            );
            let ticks = out.lines().filter(|l| l.starts_with("tick ")).count();
            assert_eq!(ticks, 1, "{session}/{k}: {out:?}");
            // In gdb's order: `continue` says so before the program runs on.
            if k > 1 {
                assert!(
                    out.starts_with(&format!("Continuing.\ntick {k}\n")),
                    "{session}/{k}: {out:?}"
                );
            }
        }
        assert!(
            run[301].output.contains("exited normally"),
            "{:?}",
            run[301].output
        );
    }
}

/// Threads that keep every processor busy until dropped (a machine doing other work).
struct Busy {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Busy {
    fn every_processor() -> Busy {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Busy { stop, threads }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn going_back_from_an_abort_lands_before_it() {
    // SIGABRT stayed pending in gdb across a restore and killed the replay ("died of ...
    // before the replay reached its target"); it is held back as the faults are.
    let dir = TestDir::new("gdb-cmd-abort");
    let src = dir.c_program(
        &TICKS
            .replace(
                "    total += k;\n",
                "    total += k;\n    if (k == 2)\n        abort();\n",
            )
            .replace(
                "#include <stdio.h>",
                "#include <stdio.h>\n#include <stdlib.h>",
            ),
    );
    let run = Fred::new(&dir).gdb().run(&[
        "break tick",
        "run",
        "continue",
        "continue",
        "reverse-finish",
        "p i",
        "reverse-continue",
        "p k",
    ]);
    assert_eq!(run[3].state, "postmortem", "{:#?}", run[3]);
    run[4].assert_at(&src, 15, "main");
    run[5].assert_value("$1 = 2");
    run[6].assert_at(&src, 7, "tick");
    run[7].assert_value("$2 = 1");
}

/// Runs a while (about a second) before line 5.
const LATE: &str = r#"int main(void) {
    volatile long s = 0;
    for (long i = 0; i < 300000000; i++)
        s += i;
    return s == 1;
}
"#;

#[test]
fn the_first_stop_gets_a_checkpoint_of_its_own_only_after_a_long_run_from_the_start() {
    let dir = TestDir::new("gdb-cmd-first-stop");
    let soon = dir.c_program(LOOP);
    let run = Fred::new(&dir)
        .gdb()
        .run(&["break 5", "run", "fred-history"]);
    run[1].assert_at(&soon, 5, "main");
    // Replaying from `main`'s checkpoint to here is quicker than a checkpoint.
    assert!(
        run[2].output.contains("Checkpoints (1):"),
        "{}",
        run[2].output
    );

    let dir = TestDir::new("gdb-cmd-first-stop-late");
    let late = dir.c_program(LATE);
    let run = Fred::new(&dir)
        .gdb()
        .run(&["break 5", "run", "fred-history", "reverse-step"]);
    run[1].assert_at(&late, 5, "main");
    assert!(
        run[2].output.contains("Checkpoints (2):"),
        "{}",
        run[2].output
    );
    run[3].assert_at(&late, 3, "main");
}

const DESCRIPTORS: &str = r#"#include <fcntl.h>

int main(void) {
    int open7 = fcntl(7, F_GETFD) != -1;
    return open7;
}
"#;

/// gdb runs on a terminal of its own, like a shell in a new window: neither it nor the
/// program is handed the other descriptors fred was started with (at every checkpoint and
/// restart gdb has the program seek each descriptor it has).
#[test]
fn the_program_gets_its_terminal_but_not_the_other_descriptors_fred_was_given() {
    let dir = TestDir::new("gdb-cmd-descriptors");
    let src = dir.c_program(DESCRIPTORS);
    let given = dir.write("given.txt", "seven\n");
    let run = Fred::new(&dir).gdb().inherited_fd7(&given).run(&[
        "break 5",
        "run",
        "p open7",
        "p (int) isatty(0)",
        "reverse-step",
    ]);
    run[1].assert_at(&src, 5, "main");
    run[2].assert_value("$1 = 0");
    run[3].assert_value("$2 = 1");
    run[4].assert_at(&src, 4, "main");
}

const LONG_LOOP: &str = r#"int main(void) {
    volatile long s = 0;
    for (long i = 0; i < 50000000; i++)
        s += i;
    return s == 1;
}
"#;

/// A search back over a run whose end it finds only on the way (a breakpoint's stop after
/// a loop) checkpoints as it goes, more often than `--checkpoint-interval` while it is
/// short: the landing on its answer replays from the last of those, not from the start.
#[test]
fn a_search_over_a_short_run_leaves_checkpoints_for_its_landing() {
    let dir = TestDir::new("gdb-cmd-search-checkpoints");
    let src = dir.c_program(LONG_LOOP);
    let run = Fred::new(&dir)
        .gdb()
        .run(&["break 5", "run", "reverse-step", "fred-history"]);
    run[2].assert_at(&src, 3, "main");
    let history = &run[3].output;
    let mid_run: usize = history
        .split(" taken mid-run")
        .next()
        .and_then(|s| s.rsplit("; ").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no checkpoints mid-run:\n{history}"));
    // One or more from the search, and the one the landing leaves just before its answer.
    assert!(mid_run >= 2, "{history}");
}

/// A language the user sets stays theirs, and time travel works under it: fred's own
/// expressions (and those gdb makes for its checkpoints) are read in languages of their
/// own for the time they take.
#[test]
fn time_travel_works_under_a_language_the_user_set() {
    let dir = TestDir::new("gdb-cmd-language");
    let src = dir.c_program(LOOP);
    let run = Fred::new(&dir).gdb().run(&[
        "break 5",
        "run",
        "continue",
        "set language pascal",
        "reverse-continue",
        "show language",
        "reverse-step",
    ]);
    run[2].assert_at(&src, 5, "main");
    run[4].assert_at(&src, 5, "main");
    assert!(run[5].output.contains("\"pascal\""), "{:#?}", run[5]);
    run[6].assert_at(&src, 4, "main");
}
