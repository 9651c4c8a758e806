//! fred-gdb's reverse commands are the exact inverses of gdb's own `step` and `next`, on
//! code where gdb's rules are subtle (recursion on one line, a call's return landing on a
//! line-table entry, a switch, do-while, goto), and stay exact when the answer lies further
//! back than the last 65,536 line-table entries the program ran (a long call).

mod support;

use support::{cmds, times, Fred, Pos, TestDir};

/// Code on which gdb's stepping rules are subtle.
const TRICKY: &str = r#"#include <stdio.h>

static int kind(int v)
{
    switch (v % 7) {
    case 0: return 10;
    case 1: return 11;
    case 2: return 12;
    case 3: return 13;
    case 4: return 14;
    case 5: return 15;
    default: return 16;
    }
}

int sq(int n)
{
    int r = n * n;
    return r;
}

static void nothing(void) {}

static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

int main(void)
{
    int total = 0;
    for (int i = 0; i < 3; i++)
        total += sq(i);
    int x = sq(2) + sq(3);
    int k = 0;
    do {
        k += kind(k + x);
        nothing();
    } while (k < 40);
    int j = 0;
again:
    j++;
    if (j < 3) goto again;
    int f = fib(4);
    while (j--) { f++; }
    printf("%d %d %d %d %d\n", total, x, k, j, f);
    return 0;
}
"#;

/// `forward` steps then as many `backward` ones: the positions visited going back are the
/// ones visited going forward, in reverse. With `options` (checkpoints every millisecond of
/// a replay, so that searches also start in the middle of a stretch).
fn assert_round_trip(forward: &str, backward: &str, n: usize, options: &[&str]) {
    let dir = TestDir::new(&format!("gdb-exact-{forward}"));
    dir.c_program(TRICKY);
    let commands = cmds(&[
        &["break main", "run"],
        &times(forward, n),
        &times(backward, n),
    ]);
    let run = Fred::new(&dir).gdb().options(options).run(&commands);
    for i in 0..commands.len() {
        run[i].assert_ok();
    }
    let there: Vec<Pos> = (1..=n).map(|i| run[i].pos()).collect();
    let mut back: Vec<Pos> = (n + 2..2 * n + 2).map(|i| run[i].pos()).collect();
    back.reverse();
    assert_eq!(there, back, "{backward} must retrace {forward} exactly");
}

#[test]
fn reverse_step_retraces_gdbs_step_through_recursion_on_one_line_and_returns_onto_entries() {
    // 60 steps: the loop with calls, sq(2) + sq(3), the switch in a do-while, the goto
    // loop, and fib's recursion, where gdb's step skips calls made at the depth it is at.
    assert_round_trip("step", "reverse-step", 60, &[]);
    assert_round_trip("step", "reverse-step", 60, &["--checkpoint-interval", "1"]);
}

/// A checkpoint at every stop: each step back searches only the stretch from the stop
/// before, which may begin inside a callee (fib's recursion), where a return into the
/// middle of the caller's line must still be read as gdb reads it.
#[test]
fn reverse_step_retraces_step_when_each_search_begins_at_the_stop_before() {
    let dir = TestDir::new("gdb-exact-ck-each");
    dir.c_program(TRICKY);
    let n = 60;
    let mut commands = vec!["break main", "run"];
    for _ in 0..n {
        commands.extend(["step", "fred-checkpoint"]);
    }
    commands.extend(times("reverse-step", n));
    let run = Fred::new(&dir).gdb().run(&commands);
    for i in 0..commands.len() {
        run[i].assert_ok();
    }
    let at = |i: usize| run[i].pos();
    // The stops before each step: `run`'s, then every step's but the last.
    let there: Vec<Pos> = std::iter::once(at(1))
        .chain((1..n).map(|i| at(2 * i)))
        .collect();
    let mut back: Vec<Pos> = (2 * n + 2..3 * n + 2).map(at).collect();
    back.reverse();
    assert_eq!(there, back, "reverse-step must retrace step exactly");
}

#[test]
fn reverse_next_retraces_gdbs_next() {
    assert_round_trip("next", "reverse-next", 25, &[]);
    assert_round_trip("next", "reverse-next", 25, &["--checkpoint-interval", "1"]);
}

/// A call that runs 900,000 line-table entries, more than the ring of recent ones holds.
const FAR: &str = r#"long total;

long work(long n)
{
    long s = 0;
    for (long i = 0; i < n; i++)
        s += i % 7;
    return s;
}

int main(void)
{
    long a = 1;
    long b = work(300000);
    total = a + b;
    long c = total * 2;
    return (int)(c & 1);
}
"#;

#[test]
fn answers_further_back_than_the_ring_of_recent_entries() {
    let dir = TestDir::new("gdb-exact-far");
    let src = dir.c_program(FAR);
    let run = Fred::new(&dir).gdb().run(&[
        "break 15",
        "run",
        "reverse-step",
        "p s",
        "reverse-finish",
        "reverse-next",
        "next",
        "next",
        "reverse-watch b",
        "p b",
        "reverse-next",
    ]);
    run[1].assert_at(&src, 15, "main");
    // Out of work() backwards, onto its last line, with its locals.
    run[2].assert_at(&src, 9, "work");
    run[3].assert_value("$1 = 899997");
    // The call 900,000 entries back.
    run[4].assert_at(&src, 14, "main");
    run[5].assert_at(&src, 13, "main");
    run[6].assert_at(&src, 14, "main");
    run[7].assert_at(&src, 15, "main");
    // b is written after work() returns: its statement is the call's line.
    run[8].assert_at(&src, 14, "main");
    assert_eq!(run[8].raw["new"], "899997", "{:?}", run[8]);
    run[9].assert_value("$2 = 0");
    run[10].assert_at(&src, 13, "main");
}

/// Pointer chains that run into NULL or a bad address, a local, a value set and set back.
const CHAINS: &str = r#"#include <stdlib.h>

struct node { long value; struct node *next; };
struct node *head;

long sum(struct node *n)
{
    long s = 0;
    while (n) {
        s += n->value;
        n = n->next;
    }
    return s;
}

int main(void)
{
    struct node *bad = (struct node *)16;
    long t = 0;
    for (int i = 0; i < 5; i++) {
        struct node *n = malloc(sizeof *n);
        n->value = i;
        n->next = head;
        head = n;
    }
    t = sum(head);
    head->next->value = 7;
    head->next->value = 3;
    t = sum(head);
    bad = head;
    t = t + bad->value;
    return (int)t;
}
"#;

#[test]
fn reverse_watch_follows_pointer_chains_through_null_and_bad_addresses_and_locals() {
    let dir = TestDir::new("gdb-exact-chains");
    let src = dir.c_program(CHAINS);
    let run = Fred::new(&dir).gdb().run(&[
        "break 32",
        "run",
        "reverse-watch head->next->value",
        "reverse-watch head->next->value",
        "next",
        "next",
        "next",
        "next",
        "reverse-watch bad->value",
        "reverse-watch head->next->next->next->next->next->value",
        "break 11",
        "continue",
        "reverse-watch s",
        "reverse-watch n",
    ]);
    // Set to 7 and back to 3 (its value before was 3): the last change is the second.
    run[2].assert_at(&src, 28, "main");
    assert_eq!(
        (&run[2].raw["old"], &run[2].raw["new"]),
        (&"7".into(), &"3".into())
    );
    run[3].assert_at(&src, 27, "main");
    assert_eq!(run[3].raw["old"], "3");
    // bad pointed at address 16 (unreadable) until line 30.
    run[7].assert_at(&src, 31, "main");
    run[8].assert_at(&src, 30, "main");
    assert_eq!(
        run[8].raw["old"], "<Cannot access memory at address 0x10>",
        "{:?}",
        run[8]
    );
    // Five nodes deep is NULL's ->value (address 0), four deep NULL's ->next (address 8):
    // the fifth push made the difference.
    run[9].assert_at(&src, 24, "main");
    assert_eq!(run[9].raw["old"], "<Cannot access memory at address 0x8>");
    // A local of sum(), followed in its frame; a parameter not changed since the frame was
    // entered, in the loop's first round: its entry.
    run[11].assert_at(&src, 11, "sum");
    run[12].assert_at(&src, 10, "sum");
    run[13].assert_at(&src, 8, "sum");
    assert!(run[13].output.contains("entered"), "{:?}", run[13]);
}

/// Children that run the program's own code and report through their exit status.
const FORKS: &str = r#"#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

int work(int n) { int s = 0; for (int i = 0; i < n; i++) s += i; return s; }

int main(void)
{
    int status = 0, x = 0;
    for (int round = 0; round < 3; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            _exit(work(1000) & 0x7f);
        }
        waitpid(pid, &status, 0);
        x += WEXITSTATUS(status) + (WIFSIGNALED(status) ? 1000 : 0);
    }
    printf("x=%d\n", x);
    return 0;
}
"#;

#[test]
fn children_forked_while_fred_replays_run_as_they_did() {
    // A child forked during a replay runs the program's code with fred's clock in it: it
    // must neither stop at fred's target nor die of it, or the replay would differ.
    let dir = TestDir::new("gdb-exact-forks");
    let src = dir.c_program(FORKS);
    let run = Fred::new(&dir).gdb().run(&[
        "break 19",
        "run",
        "p x",
        "reverse-watch x",
        "p x",
        "reverse-watch x",
    ]);
    run[2].assert_value("$1 = 132");
    run[3].assert_at(&src, 17, "main");
    assert_eq!(
        (&run[3].raw["old"], &run[3].raw["new"]),
        (&"88".into(), &"132".into())
    );
    run[4].assert_value("$2 = 88");
    assert_eq!(run[5].raw["new"], "88", "{:?}", run[5]);
}
