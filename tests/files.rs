//! The program's files across going back: offsets of regular files it has open are restored
//! with a checkpoint, so a program that writes a log, gone back and run forward again,
//! writes the same bytes in the same place.

mod support;

use support::{Fred, TestDir};

#[test]
fn a_python_program_rewrites_its_log_in_place_after_going_back() {
    let dir = TestDir::new("files-pdb");
    let prog = dir.program(
        r#"
log = open("log.txt", "w", buffering=1)
log.write("first\n")
log.write("second\n")
log.write("third\n")
log.close()
"#,
    );
    let run = Fred::new(&dir).run(&[
        "break 5", "continue", "rs", "rs", "next", "next", "continue",
    ]);
    run[3].assert_at(&prog, 3, "<module>");
    assert_eq!(run[6].state, "finished");
    let log = std::fs::read_to_string(dir.path.join("log.txt")).unwrap();
    assert_eq!(log, "first\nsecond\nthird\n");
}

#[test]
fn a_c_program_rewrites_its_log_in_place_after_going_back() {
    let dir = TestDir::new("files-gdb");
    let src = dir.c_program(
        r#"#include <stdio.h>

int main(void) {
    FILE *f = fopen("log.txt", "w");
    setvbuf(f, NULL, _IONBF, 0);
    fputs("first\n", f);
    fputs("second\n", f);
    fputs("third\n", f);
    fclose(f);
    return 0;
}
"#,
    );
    let run = Fred::new(&dir).gdb().run(&[
        "break 9",
        "run",
        "reverse-step",
        "reverse-step",
        "next",
        "next",
        "continue",
    ]);
    run[3].assert_at(&src, 7, "main");
    assert_eq!(run[6].state, "finished");
    let log = std::fs::read_to_string(dir.path.join("log.txt")).unwrap();
    assert_eq!(log, "first\nsecond\nthird\n");
}

/// Goes on to line 13 only if `flag.txt` says 1.
const C_READS_A_FLAG: &str = r#"#include <stdio.h>

int path;

int main(void) {
    FILE *f = fopen("flag.txt", "r");
    int flag = fgetc(f);
    fclose(f);
    if (flag != '1')
        return 2;
    path = 1;
    path += 10;
    return 0;
}
"#;

#[test]
fn a_replay_that_cannot_get_back_is_an_error_not_a_wrong_past() {
    // The file's contents are not part of a checkpoint: changed behind fred's back, the
    // replay takes the other path and never reaches the stop it must end at; fred says so,
    // and stays where it was. (Going back to line 12 restores the checkpoint taken there;
    // going back further replays from the start, which reads the file.)
    let dir = TestDir::new("files-diverge-gdb");
    std::fs::write(dir.path.join("flag.txt"), "1").unwrap();
    let src = dir.c_program(C_READS_A_FLAG);
    let run = Fred::new(&dir).gdb().run(&[
        "break 12",
        "run",
        "fred-checkpoint",
        "next",
        "shell echo 2 > flag.txt",
        "reverse-step",
        "reverse-step",
        "p path",
    ]);
    run[3].assert_at(&src, 13, "main");
    run[5].assert_at(&src, 12, "main");
    run[6].assert_error("ended before");
    run[7].assert_value("$1 = 1");
}

#[test]
fn a_python_replay_that_goes_elsewhere_is_reported_with_both_places() {
    let dir = TestDir::new("files-diverge-pdb");
    std::fs::write(dir.path.join("flag.txt"), "1").unwrap();
    let prog = dir.program(
        r#"
flag = open("flag.txt").read()
if flag == "1":
    path = 1
else:
    path = 2
    path += 1
path += 10
"#,
    );
    let run = Fred::new(&dir).run(&[
        "break 7",
        "continue",
        "!open('flag.txt', 'w').write('2')",
        "reverse-step",
        "p path",
    ]);
    run[1].assert_at(&prog, 7, "<module>");
    let e = run[3].assert_error("replay diverged");
    assert!(e.contains("prog.py:6") && e.contains("prog.py:7"), "{e}");
    assert_eq!(run[3].line(), 7, "stayed where it was");
    run[4].assert_value("1");
}

#[test]
fn a_python_log_open_for_appending_gets_each_line_once_however_often_it_is_replayed() {
    let dir = TestDir::new("files-append");
    let prog = dir.program(
        r#"
import logging
logging.basicConfig(filename="app.log", level=logging.INFO, format="%(message)s")
log = logging.getLogger("x")
for i in range(3):
    log.info("step %d", i)
done = True
"#,
    );
    let run = Fred::new(&dir).run(&[
        "break 6", "continue", "rs", "rs", "rs", "rn", "rn", "clear 1", "continue",
    ]);
    run[1].assert_at(&prog, 6, "<module>");
    assert_eq!(run[8].state, "finished", "{:#?}", run[8]);
    let log = std::fs::read_to_string(dir.path.join("app.log")).unwrap();
    assert_eq!(log, "step 0\nstep 1\nstep 2\n");
}

#[test]
fn a_python_log_opened_for_each_line_gets_each_line_once_however_often_it_is_replayed() {
    let dir = TestDir::new("files-append-each");
    let prog = dir.program(
        r#"
import os
def log(msg):
    with open("app.log", "a") as f:
        f.write(msg + "\n")
    fd = os.open("raw.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.write(fd, (msg + "\n").encode())
    os.close(fd)
for i in range(3):
    log("step %d" % i)
done = True
"#,
    );
    let run = Fred::new(&dir).run(&[
        "break 10", "continue", "rs", "rs", "rs", "rn", "rn", "clear 1", "continue",
    ]);
    run[1].assert_at(&prog, 10, "<module>");
    assert_eq!(run[8].state, "finished", "{:#?}", run[8]);
    for name in ["app.log", "raw.log"] {
        let log = std::fs::read_to_string(dir.path.join(name)).unwrap();
        assert_eq!(log, "step 0\nstep 1\nstep 2\n", "{name}");
    }
}
