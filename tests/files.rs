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
