//! The interactive prompt of `fred-pdb`, driven through a real pty as a user would: line
//! editing with an empty line repeating the last command, Ctrl-C interrupting a running
//! program, Ctrl-D ending the session, and the history file kept across sessions.

mod support;

use std::time::{Duration, Instant};

use fred_ckpt::Pty;
use support::{wait_until_gone, TestDir, FRED_GDB, FRED_PDB};

/// A user at a terminal running fred-pdb.
struct Terminal {
    pty: Pty,
    pid: i32,
    seen: String,
    prompt: &'static str,
}

impl Terminal {
    fn start(dir: &TestDir, script: &std::path::Path) -> Terminal {
        let mut t = Terminal::spawn(dir, script, "dumb");
        t.expect("(Pdb) ");
        t
    }

    /// fred-pdb on a terminal of type `term` (a full one puts the line editor in raw mode).
    fn spawn(dir: &TestDir, script: &std::path::Path, term: &str) -> Terminal {
        Terminal::of(FRED_PDB, "(Pdb) ", dir, script, term)
    }

    /// fred-gdb on the program `prog`, at its first prompt.
    fn gdb(dir: &TestDir, prog: &std::path::Path) -> Terminal {
        let mut t = Terminal::of(FRED_GDB, "(gdb) ", dir, prog, "xterm");
        t.expect("(gdb) ");
        t
    }

    fn of(
        bin: &str,
        prompt: &'static str,
        dir: &TestDir,
        script: &std::path::Path,
        term: &str,
    ) -> Terminal {
        let state = dir.path.join("state");
        let env = vec![
            (
                "XDG_STATE_HOME".to_string(),
                state.to_string_lossy().into_owned(),
            ),
            ("TERM".to_string(), term.to_string()),
        ];
        let (pty, pid) = Pty::spawn(std::ffi::OsStr::new(bin), &[script.as_os_str()], &env)
            .expect("start fred in a pty");
        Terminal {
            pty,
            pid,
            seen: String::new(),
            prompt,
        }
    }

    /// Reads until `needle` appears after what was already consumed; returns the text up to
    /// and including it.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(i) = self.seen.find(needle) {
                let upto = self.seen[..i + needle.len()].to_string();
                self.seen.drain(..i + needle.len());
                return upto;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; the terminal shows:\n{}",
                self.seen
            );
            let bytes = self.pty.read_available();
            if bytes.is_empty() {
                std::thread::sleep(Duration::from_millis(20));
            }
            self.seen.push_str(&String::from_utf8_lossy(&bytes));
        }
    }

    fn type_line(&mut self, line: &str) {
        self.pty
            .write(format!("{line}\r").as_bytes())
            .expect("type");
    }

    /// Runs a command and returns what it printed before the next prompt.
    fn command(&mut self, line: &str) -> String {
        self.type_line(line);
        self.expect(self.prompt)
    }

    fn key(&mut self, byte: u8) {
        self.pty.write(&[byte]).expect("key");
    }

    /// Waits up to `limit` for fred to exit; fails with `why` if it does not.
    fn wait_exit(&self, limit: Duration, why: &str) {
        let deadline = Instant::now() + limit;
        while !self.exited() {
            assert!(Instant::now() < deadline, "{why}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn exited(&self) -> bool {
        let r = nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(self.pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
        matches!(r, Ok(nix::sys::wait::WaitStatus::Exited(..)))
    }
}

const LOOP: &str = r#"
import time
i = 0
while True:
    i += 1
    if i % 1000 == 0:
        time.sleep(0.001)
"#;

#[test]
fn prompt_repeat_interrupt_and_ctrl_d() {
    let dir = TestDir::new("repl");
    let prog = dir.program(LOOP);
    let mut term = Terminal::start(&dir, &prog);

    let out = term.command("next");
    assert!(out.contains("prog.py(2)<module>()"), "{out}");
    // An empty line repeats the last command, as in pdb.
    let out = term.command("");
    assert!(out.contains("prog.py(3)<module>()"), "{out}");

    // Ctrl-C while the program runs interrupts it and returns to the prompt.
    term.type_line("continue");
    std::thread::sleep(Duration::from_millis(700));
    term.key(0x03);
    let out = term.expect("(Pdb) ");
    assert!(out.contains("Program interrupted"), "{out}");
    assert!(
        out.contains("prog.py("),
        "stopped outside the program: {out}"
    );
    let out = term.command("p i > 10");
    assert!(out.contains("True"), "{out}");

    // Time travel still works after the interruption.
    let out = term.command("rs");
    assert!(out.contains("prog.py("), "{out}");

    // Ctrl-D ends the session, and every process of it.
    term.key(0x04);
    term.wait_exit(Duration::from_secs(5), "fred-pdb did not exit on Ctrl-D");
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(2));
    assert!(left.is_empty(), "left behind: {left:?}");

    // The history was kept for the next session.
    let history = std::fs::read_to_string(dir.path.join("state/fred/fred-pdb-history"))
        .expect("history file");
    assert!(
        history.contains("next") && history.contains("continue"),
        "{history}"
    );
}

const SPIN: &str = r#"
n = 0
while True:
    n += 1
"#;

#[test]
fn ctrl_c_cancels_a_search_and_every_answer_stays_in_step() {
    let dir = TestDir::new("repl-cancel");
    let prog = dir.program(SPIN);
    let mut term = Terminal::start(&dir, &prog);
    term.type_line("continue");
    std::thread::sleep(Duration::from_millis(1500));
    term.key(0x03);
    term.expect("(Pdb) ");
    let before = term.command("p n");
    // A search over the whole run for a value only the first iterations had: cut short.
    term.type_line("rw n % 7 == 3 and n < 50");
    std::thread::sleep(Duration::from_millis(700));
    term.key(0x03);
    let out = term.expect("(Pdb) ");
    assert!(out.contains("Interrupted; back where you were."), "{out}");
    // Each command gets its own answer, and the program is where it was.
    for v in ["111", "222", "333"] {
        let out = term.command(&format!("p {v}"));
        assert!(
            out.contains(v) && !out.contains("spin") && !out.contains("prog.py"),
            "{out}"
        );
    }
    assert_eq!(term.command("p n"), before);
    term.type_line("quit");
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(3));
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn lines_typed_ahead_are_each_a_command() {
    let dir = TestDir::new("repl-ahead");
    let prog = dir.program("a = 1\nb = 2\nc = 3\n");
    let mut t = Terminal::spawn(&dir, &prog, "xterm");
    // Typed before the first prompt (while Python starts), then a paste of several lines
    // once the prompt is there (a terminal marks a paste; the line editor takes it whole).
    t.pty.write(b"break 3\rp 40 + 1\r").expect("type");
    t.expect("41");
    t.expect("(Pdb) ");
    t.command("continue");
    t.pty
        .write(b"\x1b[200~p b * 10\rp a * 100\r\x1b[201~\r")
        .expect("paste");
    t.expect("20");
    t.expect("100");
    t.type_line("quit");
    t.wait_exit(Duration::from_secs(10), "fred-pdb did not end");
}

#[test]
fn ctrl_d_at_the_programs_input_is_one_end_of_file_and_replays_as_one() {
    let dir = TestDir::new("repl-eof");
    let prog = dir.program(
        r#"
import sys
try:
    input("a? ")
except EOFError:
    print("eof1")
data = sys.stdin.read()
print("got", repr(data))
"#,
    );
    let mut t = Terminal::start(&dir, &prog);
    t.command("break 7");
    // Ctrl-D at the first read is its end of file; the program reads on, and what the
    // user types next, up to another Ctrl-D, reaches it.
    t.type_line("continue");
    t.expect("a? ");
    t.key(0x04);
    t.expect("eof1");
    std::thread::sleep(Duration::from_millis(200));
    t.type_line("one");
    t.type_line("two");
    std::thread::sleep(Duration::from_millis(200));
    t.key(0x04);
    t.expect("(Pdb) ");
    let out = t.command("p data");
    assert!(out.contains("'one\\ntwo\\n'"), "{out}");
    // Back before the first read and forward again: both reads get what they got, whole,
    // from the log, without waiting for the user.
    let out = t.command("rc");
    assert!(out.contains("prog.py(1)"), "{out}");
    let out = t.command("continue");
    assert!(out.contains("eof1") && out.contains("prog.py(7)"), "{out}");
    let out = t.command("p data");
    assert!(out.contains("'one\\ntwo\\n'"), "{out}");
    t.type_line("quit");
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(3));
    assert!(left.is_empty(), "left behind: {left:?}");
}

const C_SPIN: &str = r#"int main(void) {
    volatile long n = 0;
    for (;;) {
        n++;
        n += 2;
    }
}
"#;

/// fred-gdb at a terminal: Ctrl-C while the program runs stops it as under plain gdb (gdb
/// reads its commands from a pipe, but its terminal is still the one Ctrl-C is typed
/// into), and the session goes on, back in time too.
#[test]
fn ctrl_c_interrupts_a_program_under_fred_gdb() {
    let dir = TestDir::new("repl-gdb-ctrl-c");
    dir.c_program(C_SPIN);
    let mut term = Terminal::gdb(&dir, &dir.path.join("prog"));
    term.type_line("run");
    std::thread::sleep(Duration::from_millis(700));
    term.key(0x03);
    let out = term.expect("(gdb) ");
    assert!(out.contains("SIGINT"), "{out}");
    let out = term.command("p n > 0");
    assert!(out.contains("= 1"), "{out}");
    // The stop an interrupt made has a checkpoint of its own: what runs after it can be
    // gone back over.
    // (Lines 4 and 5, coloured.)
    let first = term.command("next");
    assert!(
        first.contains("\n4\t") || first.contains("\n5\t"),
        "{first}"
    );
    term.command("next");
    let out = term.command("reverse-step");
    assert!(out.contains("\n4\t") || out.contains("\n5\t"), "{out}");
    assert!(!out.contains("***"), "{out}");
    term.type_line("quit");
    term.wait_exit(Duration::from_secs(10), "fred-gdb did not end");
    let left = wait_until_gone(dir.as_str(), Duration::from_secs(3));
    assert!(left.is_empty(), "left behind: {left:?}");
}
