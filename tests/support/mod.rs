//! Helpers for the fred-pdb integration tests: a private temp directory per test, a batch
//! JSON session driven through the real binary on a real python3, and process scans.

#![allow(dead_code)]

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const FRED_PDB: &str = env!("CARGO_BIN_EXE_fred-pdb");
/// The fred-gdb binary under test.
pub const FRED_GDB: &str = env!("CARGO_BIN_EXE_fred-gdb");

/// How long one batch session may take before the test gives up on it.
const SESSION_LIMIT: Duration = Duration::from_secs(60);

/// A directory of its own for one test, removed when dropped.
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    /// A fresh, empty, canonical directory under the system temp dir.
    pub fn new(name: &str) -> TestDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base =
            std::env::temp_dir().join(format!("fred-test-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).expect("create test dir");
        let path = fs::canonicalize(&base).expect("canonical test dir");
        TestDir { path }
    }

    /// Writes `source` (a leading newline is dropped, so a raw string can start on the
    /// line after its quote and line 1 is its first real line) to `name` in the directory.
    pub fn write(&self, name: &str, source: &str) -> PathBuf {
        let p = self.path.join(name);
        fs::write(&p, source.strip_prefix('\n').unwrap_or(source)).expect("write file");
        p
    }

    /// Writes `source` as `prog.py` and returns its path.
    pub fn program(&self, source: &str) -> PathBuf {
        self.write("prog.py", source)
    }

    /// Compiles C `source` as `prog` here (`gcc -g -O0`) and returns the program's path.
    pub fn c_program(&self, source: &str) -> PathBuf {
        let src = self.write("prog.c", source);
        let out = Command::new("gcc")
            .args(["-g", "-O0", "-o"])
            .arg(self.path.join("prog"))
            .arg(&src)
            .output()
            .expect("run gcc");
        assert!(
            out.status.success(),
            "gcc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        src
    }

    /// The directory as a string (for process scans).
    pub fn as_str(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Where the program stands after a command (the JSON `location`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loc {
    pub file: String,
    pub line: u64,
    pub function: String,
}

/// One JSON object of the session's stdout.
#[derive(Clone, Debug)]
pub struct Reply {
    pub command: String,
    pub output: String,
    pub error: Option<String>,
    pub time: u64,
    pub state: String,
    pub loc: Option<Loc>,
    pub raw: Value,
}

/// A position as compared by the round-trip tests: time, state and place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pos {
    pub time: u64,
    pub state: String,
    pub loc: Option<Loc>,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.loc {
            Some(l) => write!(
                f,
                "t={} {} {}:{} {}",
                self.time,
                self.state,
                short(&l.file),
                l.line,
                l.function
            ),
            None => write!(f, "t={} {}", self.time, self.state),
        }
    }
}

fn short(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}

impl Reply {
    fn parse(line: &str) -> Reply {
        let raw: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
        let command = raw["command"]
            .as_str()
            .unwrap_or_else(|| panic!("no string `command` in {line}"))
            .to_string();
        let output = raw["output"]
            .as_str()
            .unwrap_or_else(|| panic!("no string `output` in {line}"))
            .to_string();
        let error = match &raw["error"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => panic!("`error` is neither null nor a string: {other} in {line}"),
        };
        let time = raw["time"]
            .as_u64()
            .unwrap_or_else(|| panic!("no integer `time` in {line}"));
        let state = raw["state"].as_str().unwrap_or("").to_string();
        let loc = match &raw["location"] {
            Value::Null => None,
            l => Some(Loc {
                file: l["file"]
                    .as_str()
                    .unwrap_or_else(|| panic!("location without file: {line}"))
                    .to_string(),
                line: l["line"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("location without line: {line}")),
                function: l["function"]
                    .as_str()
                    .unwrap_or_else(|| panic!("location without function: {line}"))
                    .to_string(),
            }),
        };
        Reply {
            command,
            output,
            error,
            time,
            state,
            loc,
            raw,
        }
    }

    /// The position after this command.
    pub fn pos(&self) -> Pos {
        Pos {
            time: self.time,
            state: self.state.clone(),
            loc: self.loc.clone(),
        }
    }

    /// The line the program stands at (panics when there is no live frame).
    pub fn line(&self) -> u64 {
        self.loc
            .as_ref()
            .unwrap_or_else(|| panic!("no location after {:?}: {self:?}", self.command))
            .line
    }

    /// The function the program stands in (panics when there is no live frame).
    pub fn function(&self) -> &str {
        &self
            .loc
            .as_ref()
            .unwrap_or_else(|| panic!("no location after {:?}: {self:?}", self.command))
            .function
    }

    /// Asserts the command succeeded and stands at `line` in `function` of `file`.
    #[track_caller]
    pub fn assert_at(&self, file: &Path, line: u64, function: &str) {
        assert_eq!(
            self.error, None,
            "{:?} failed; reply: {self:#?}",
            self.command
        );
        let loc = self
            .loc
            .as_ref()
            .unwrap_or_else(|| panic!("{:?}: no location; reply: {self:#?}", self.command));
        assert_eq!(
            (loc.file.as_str(), loc.line, loc.function.as_str()),
            (file.to_str().unwrap(), line, function),
            "{:?} landed in the wrong place; reply: {self:#?}",
            self.command
        );
        assert_eq!(
            self.state, "stop",
            "{:?}: state; reply: {self:#?}",
            self.command
        );
    }

    /// Asserts the command (a `p expr`) succeeded and printed exactly `value`.
    #[track_caller]
    pub fn assert_value(&self, value: &str) {
        assert_eq!(
            self.error, None,
            "{:?} failed; reply: {self:#?}",
            self.command
        );
        assert_eq!(
            self.output.trim_end_matches('\n'),
            value,
            "{:?} printed the wrong value; reply: {self:#?}",
            self.command
        );
    }

    /// Asserts a `p name` found that `name` is not defined (yet) here.
    #[track_caller]
    pub fn assert_undefined(&self) {
        assert!(
            self.output.contains("NameError"),
            "{:?}: expected a NameError; reply: {self:#?}",
            self.command
        );
    }

    /// Asserts the command failed with a one-line error containing `needle`
    /// (case-insensitive), and returns the error.
    #[track_caller]
    pub fn assert_error(&self, needle: &str) -> &str {
        let e = self
            .error
            .as_deref()
            .unwrap_or_else(|| panic!("{:?} should have failed; reply: {self:#?}", self.command));
        assert!(
            !e.trim().is_empty() && !e.contains('\n') && !e.contains('\r'),
            "{:?}: the error must be one non-empty line, got {e:?}",
            self.command
        );
        assert!(
            e.to_lowercase().contains(&needle.to_lowercase()),
            "{:?}: error {e:?} does not mention {needle:?}",
            self.command
        );
        e
    }

    /// Asserts the command succeeded.
    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(
            self.error, None,
            "{:?} failed; reply: {self:#?}",
            self.command
        );
    }
}

/// What a finished batch session gave.
#[derive(Debug)]
pub struct Run {
    pub replies: Vec<Reply>,
    pub stderr: String,
    pub status: std::process::ExitStatus,
}

impl Run {
    /// The reply to the `i`th command.
    pub fn at(&self, i: usize) -> &Reply {
        self.replies.get(i).unwrap_or_else(|| {
            panic!(
                "no reply {i}: only {} replies; stderr:\n{}",
                self.replies.len(),
                self.stderr
            )
        })
    }

    /// All the output of all commands, in order.
    pub fn all_output(&self) -> String {
        self.replies.iter().map(|r| r.output.as_str()).collect()
    }
}

impl std::ops::Index<usize> for Run {
    type Output = Reply;
    fn index(&self, i: usize) -> &Reply {
        self.at(i)
    }
}

/// A fred-pdb batch session to run: options, then [`Fred::run`].
pub struct Fred<'a> {
    dir: &'a TestDir,
    bin: &'static str,
    python: Option<PathBuf>,
    module: Option<String>,
    target: Option<PathBuf>,
    args: Vec<String>,
    options: Vec<String>,
    limit: Option<Duration>,
    input: Option<String>,
    input_pipe: bool,
    raw_script: Option<Vec<u8>>,
    env: Vec<(String, String)>,
    inherited: Option<PathBuf>,
}

impl<'a> Fred<'a> {
    /// A session in `dir` (also its current directory) on `dir/prog.py` by default.
    pub fn new(dir: &'a TestDir) -> Self {
        Fred {
            dir,
            bin: FRED_PDB,
            python: None,
            module: None,
            target: None,
            args: Vec::new(),
            options: Vec::new(),
            limit: None,
            input: None,
            input_pipe: false,
            raw_script: None,
            env: Vec::new(),
            inherited: None,
        }
    }

    /// fred is started with `file` open as its descriptor 7 (as a shell's `7<file` does).
    pub fn inherited_fd7(mut self, file: &Path) -> Self {
        self.inherited = Some(file.to_path_buf());
        self
    }

    /// An environment variable for the session (fred passes it on to the program).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// A fred-gdb session on `dir/prog` instead (see [`TestDir::c_program`]).
    pub fn gdb(mut self) -> Self {
        self.bin = FRED_GDB;
        self.target = Some(self.dir.path.join("prog"));
        self
    }

    /// Extra fred-pdb options, before the script (e.g. `--checkpoint-interval 5`).
    pub fn options(mut self, options: &[&str]) -> Self {
        self.options = options.iter().map(|s| s.to_string()).collect();
        self
    }

    /// How long [`Fred::run`] waits for the session before giving up on it (default 60 s).
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Debug with this interpreter (`--python`).
    pub fn python(mut self, p: &Path) -> Self {
        self.python = Some(p.to_path_buf());
        self
    }

    /// Debug a module (`-m`).
    pub fn module(mut self, m: &str) -> Self {
        self.module = Some(m.to_string());
        self
    }

    /// Debug this script instead of `prog.py`.
    pub fn script(mut self, p: &Path) -> Self {
        self.target = Some(p.to_path_buf());
        self
    }

    /// The script's bytes as they are (not UTF-8, say) instead of the commands joined; the
    /// commands given to [`Fred::run`] are then what fred is expected to echo.
    pub fn raw_script(mut self, bytes: &[u8]) -> Self {
        self.raw_script = Some(bytes.to_vec());
        self
    }

    /// What fred's stdin holds (the program's input), instead of nothing.
    pub fn input(mut self, text: &str) -> Self {
        self.input = Some(text.to_string());
        self
    }

    /// What fred's stdin holds, written into a pipe (then closed) rather than a file.
    pub fn input_pipe(mut self, text: &str) -> Self {
        self.input = Some(text.to_string());
        self.input_pipe = true;
        self
    }

    /// The program's arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Starts `fred-pdb -x FILE --json` with `commands` in FILE; stdout and stderr go to
    /// files in the test directory.
    pub fn spawn(&self, commands: &[&str]) -> Child {
        let script = self.dir.path.join("session.fred");
        let mut text = commands.join("\n");
        text.push('\n');
        let bytes = self.raw_script.clone().unwrap_or(text.into_bytes());
        fs::write(&script, bytes).expect("write the command script");
        let mut cmd = Command::new(self.bin);
        cmd.current_dir(&self.dir.path)
            .arg("-x")
            .arg(&script)
            .arg("--json")
            .args(&self.options);
        if let Some(p) = &self.python {
            cmd.arg("--python").arg(p);
        }
        match &self.module {
            Some(m) => {
                cmd.arg("-m").arg(m);
            }
            None => {
                let target = self
                    .target
                    .clone()
                    .unwrap_or_else(|| self.dir.path.join("prog.py"));
                cmd.arg(target);
            }
        }
        let stdin = match &self.input {
            Some(_) if self.input_pipe => Stdio::piped(),
            Some(text) => {
                let path = self.dir.path.join("stdin.txt");
                fs::write(&path, text).expect("write the input");
                Stdio::from(fs::File::open(&path).expect("open the input"))
            }
            None => Stdio::null(),
        };
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(stdin)
            .stdout(fs::File::create(self.dir.path.join("stdout.txt")).expect("stdout file"))
            .stderr(fs::File::create(self.dir.path.join("stderr.txt")).expect("stderr file"));
        if let Some(path) = &self.inherited {
            use std::os::fd::{AsRawFd, OwnedFd};
            use std::os::unix::process::CommandExt;
            let file = OwnedFd::from(fs::File::open(path).expect("open the inherited file"));
            // SAFETY: only dup2 runs between fork and exec; `file` outlives the spawn.
            unsafe {
                let fd = file.as_raw_fd();
                cmd.pre_exec(move || {
                    // (dup2 onto itself would leave the descriptor closed at exec.)
                    let r = if fd == 7 {
                        libc::fcntl(7, libc::F_SETFD, 0)
                    } else {
                        libc::dup2(fd, 7)
                    };
                    if r < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let child = cmd.spawn().expect("start fred");
            drop(file);
            return self.fed(child);
        }
        let child = cmd.spawn().expect("start fred-pdb");
        self.fed(child)
    }

    fn fed(&self, mut child: Child) -> Child {
        if let (Some(mut pipe), Some(text)) = (child.stdin.take(), self.input.clone()) {
            // Written from a thread: the program may read it slowly, or not at all.
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = pipe.write_all(text.as_bytes());
            });
        }
        child
    }

    /// Runs the session to its end and parses its stdout, one JSON object per line.
    /// Every command before a `quit` must have a reply, each echoing its command.
    pub fn run(&self, commands: &[&str]) -> Run {
        let mut child = self.spawn(commands);
        let limit = self.limit.unwrap_or(SESSION_LIMIT);
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait for fred-pdb") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "fred-pdb did not finish within {limit:?}; stdout so far:\n{}\nstderr:\n{}",
                    self.read("stdout.txt"),
                    self.read("stderr.txt")
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = self.read("stdout.txt");
        let stderr = self.read("stderr.txt");
        let replies: Vec<Reply> = stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(Reply::parse)
            .collect();
        let expected = commands
            .iter()
            .position(|c| matches!(c.trim(), "quit" | "q" | "exit"))
            .map_or(commands.len(), |i| i + 1);
        assert_eq!(
            replies.len(),
            expected,
            "expected one JSON reply per command; status {status}; stdout:\n{stdout}\nstderr:\n{stderr}"
        );
        for (r, c) in replies.iter().zip(commands) {
            assert_eq!(&r.command, c, "`command` must be the line as typed");
        }
        Run {
            replies,
            stderr,
            status,
        }
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.dir.path.join(name)).unwrap_or_default()
    }
}

/// Runs `fred-pdb` with `args` (no `-x`: the REPL) in `dir`, feeding `input` on a pipe that
/// then closes (end of input, as Ctrl-D); waits at most `limit`. Returns the exit status
/// (None if it had to be killed), stdout and stderr.
pub fn run_plain(
    dir: &TestDir,
    args: &[&str],
    input: &str,
    limit: Duration,
) -> (Option<std::process::ExitStatus>, String, String) {
    use std::io::Write;
    let out = dir.path.join("plain-stdout.txt");
    let err = dir.path.join("plain-stderr.txt");
    let mut child = Command::new(FRED_PDB)
        .current_dir(&dir.path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(fs::File::create(&out).expect("stdout file"))
        .stderr(fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("start fred-pdb");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(input.as_bytes());
    }
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for fred-pdb") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        status,
        fs::read_to_string(out).unwrap_or_default(),
        fs::read_to_string(err).unwrap_or_default(),
    )
}

/// `n` copies of `cmd`.
pub fn times(cmd: &str, n: usize) -> Vec<&str> {
    std::iter::repeat_n(cmd, n).collect()
}

/// Builds a command list from pieces.
pub fn cmds<'s>(parts: &[&[&'s str]]) -> Vec<&'s str> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

/// Processes (pid, command line) whose command line contains `needle`, other than this
/// test process. Zombies (empty command line) do not count.
pub fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(bytes) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&bytes).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Waits up to `limit` for every process mentioning `needle` to go; returns those left.
pub fn wait_until_gone(needle: &str, limit: Duration) -> Vec<(i32, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let left = processes_mentioning(needle);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills (SIGKILL) the processes left over by a failed test, so they do not outlive it.
pub fn kill_all(procs: &[(i32, String)]) {
    for (pid, _) in procs {
        // SAFETY: kill(2) on a pid we found mentioning this test's private directory.
        unsafe {
            libc::kill(*pid, libc::SIGKILL);
        }
    }
}

/// The CPython 3.8 to 3.13 interpreters pyenv has installed:
/// `$(pyenv root)/versions/3.{8..13}*/bin/python3`, those that exist.
pub fn pyenv_pythons() -> Vec<PathBuf> {
    let root = Command::new("pyenv")
        .arg("root")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .or_else(|| std::env::var_os("PYENV_ROOT").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    let Some(root) = root else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(root.join("versions")) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let minor: String = name
                .strip_prefix("3.")
                .unwrap_or("")
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            minor.parse::<u32>().is_ok_and(|m| (8..=13).contains(&m))
        })
        .map(|e| e.path().join("bin").join("python3"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}
