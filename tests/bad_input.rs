//! Bad input to both binaries: each bad line gets a one-line error, and the session goes
//! on intact (the next commands, reverse ones included, work as if nothing happened).

mod support;

use support::{Fred, TestDir};

const PY: &str = r#"
x = 1
x = 2
x = 3
"#;

const C: &str = r#"int x;

int main(void) {
    x = 1;
    x = 2;
    x = 3;
    return 0;
}
"#;

/// A line of 100,000 characters: an expression nested too deep for Python's compiler,
/// too long for any use.
fn huge() -> String {
    format!("p {}1", "1+".repeat(50_000))
}

#[test]
fn fred_pdb_survives_bad_lines() {
    let dir = TestDir::new("bad-pdb");
    let prog = dir.program(PY);
    let huge = huge();
    let commands = [
        "next",
        "p \"unbalanced",
        "p 1/0",
        "p 1\u{1}",
        huge.as_str(),
        "p \u{FFFD}\u{FFFD}",
        "rs 99999999999999999999",
        "fred-goto -1",
        "fred-expect line x",
        "next",
        "rs",
        "p x",
    ];
    let mut script = Vec::new();
    for c in commands {
        if c.starts_with("p \u{FFFD}") {
            script.extend_from_slice(b"p \xff\xfe");
        } else {
            script.extend_from_slice(c.as_bytes());
        }
        script.push(b'\n');
    }
    let run = Fred::new(&dir)
        .options(&["--keep-going"])
        .raw_script(&script)
        .run(&commands);
    run[0].assert_at(&prog, 2, "<module>");
    run[1].assert_error("SyntaxError");
    run[2].assert_error("ZeroDivisionError");
    run[3].assert_error("");
    run[4].assert_error("");
    run[5].assert_error("");
    run[6].assert_error("count");
    run[7].assert_error("fred-goto");
    run[8].assert_error("line");
    for i in 1..=8 {
        assert_eq!(run[i].pos(), run[0].pos(), "{:?} moved", run[i].command);
    }
    run[9].assert_at(&prog, 3, "<module>");
    run[10].assert_at(&prog, 2, "<module>");
    run[11].assert_value("1");
}

#[test]
fn fred_gdb_survives_bad_lines() {
    let dir = TestDir::new("bad-gdb");
    let src = dir.c_program(C);
    let huge = format!("p {}1", "1+".repeat(20_000));
    let commands = [
        "break 5",
        "run",
        "p \"unbalanced",
        "p 1/0",
        "p 1\u{1}",
        huge.as_str(),
        "p \u{FFFD}\u{FFFD}",
        "rs 99999999999999999999",
        "fred-restart -1",
        "next",
        "rs",
        "p x",
        "p 1 + \\",
        "p 2",
    ];
    let mut script = Vec::new();
    for c in commands {
        if c.starts_with("p \u{FFFD}") {
            script.extend_from_slice(b"p \xff\xfe");
        } else {
            script.extend_from_slice(c.as_bytes());
        }
        script.push(b'\n');
    }
    let run = Fred::new(&dir)
        .gdb()
        .options(&["--keep-going"])
        .raw_script(&script)
        .run(&commands);
    run[1].assert_at(&src, 5, "main");
    run[2].assert_error("unterminated");
    run[3].assert_error("division by zero");
    run[4].assert_error("invalid character");
    run[6].assert_error("");
    run[7].assert_error("count");
    run[8].assert_error("fred-restart");
    for i in 2..=8 {
        assert_eq!(run[i].pos(), run[1].pos(), "{:?} moved", run[i].command);
    }
    assert!(run[5].error.is_none(), "{:?}", run[5].error);
    assert!(run[5].output.contains("20001"), "{:?}", run[5].output);
    run[9].assert_at(&src, 6, "main");
    run[10].assert_at(&src, 5, "main");
    run[11].assert_value("$2 = 1");
    // A trailing backslash would make gdb wait for the rest of the line.
    run[12].assert_error("invalid character");
    run[13].assert_value("$3 = 2");
}

/// Runs `bin args` with stdin closed; returns its exit status and stderr, or panics if it
/// takes more than a few seconds.
fn refused(bin: &str, dir: &TestDir, args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = std::process::Command::new(bin)
        .current_dir(&dir.path)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start fred");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{bin} {args:?} did not end at once");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{bin} {args:?}");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_program_of_the_wrong_kind_is_a_one_line_error() {
    let dir = TestDir::new("bad-kind");
    dir.program(PY);
    dir.c_program(C);
    dir.write("data.py", "x = 1\0\0\0\n");
    dir.write("notes.txt", "not a program\n");
    let cases: [(&str, &[&str], &str); 5] = [
        (support::FRED_GDB, &["prog.py"], "not a compiled program"),
        (support::FRED_GDB, &["notes.txt"], "not a compiled program"),
        (support::FRED_GDB, &["prog.c"], "not a compiled program"),
        (
            support::FRED_PDB,
            &["prog"],
            "a compiled program, not a Python script",
        ),
        (support::FRED_PDB, &["data.py"], "not a Python script"),
    ];
    for (bin, args, needle) in cases {
        let (status, err) = refused(bin, &dir, args);
        assert_eq!(status.code(), Some(2), "{bin} {args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{bin} {args:?}: {err}");
        assert!(err.contains(needle), "{bin} {args:?}: {err}");
    }
    // A compiled program that may not be run.
    let prog = dir.path.join("prog");
    let mut perms = std::fs::metadata(&prog).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    std::fs::set_permissions(&prog, perms).unwrap();
    let (status, err) = refused(support::FRED_GDB, &dir, &["prog"]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("not executable"), "{err}");
}

#[test]
fn commands_from_a_pipe_are_read_whole_in_order_and_shown_once() {
    let dir = TestDir::new("bad-pipe");
    dir.program(PY);
    let long = format!("p len('{}')", "a".repeat(10_000));
    let input = format!("{long}\np 6 * 7\nnext\np x\n");
    let (status, out, err) = support::run_plain(
        &dir,
        &["prog.py"],
        &input,
        std::time::Duration::from_secs(20),
    );
    assert!(status.is_some_and(|s| s.success()), "{out}\n{err}");
    // One answer for the long line, not one for each piece of it.
    assert!(out.contains("\n10000\n"), "{out}");
    assert!(
        !out.contains("NameError") && !out.contains("SyntaxError"),
        "{out}"
    );
    for line in ["(Pdb) p 6 * 7\n42\n", "(Pdb) next\n", "(Pdb) p x\n1\n"] {
        assert_eq!(out.matches(line).count(), 1, "{line:?} in:\n{out}");
    }
    assert_eq!(out.matches("p 6 * 7").count(), 1, "{out}");
}
