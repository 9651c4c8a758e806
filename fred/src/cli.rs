//! The command lines of `fred-pdb` and `fred-gdb`: the binaries' edge, where errors
//! become one line on stderr and an exit status.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser};
use fred_gdb::{GdbConfig, GdbSession};
use fred_pdb::{PdbConfig, PdbSession, ProgramInput};

use crate::output::{Stderr, Terminal};
use crate::session::{Policy, Session};
use crate::{batch, repl};

/// The options of a scripted session, the same for both binaries.
#[derive(Debug, Args)]
pub struct Batch {
    /// Run the commands in FILE (one per line, # comments) instead of a prompt.
    #[arg(short = 'x', long = "batch", value_name = "FILE")]
    pub batch: Option<PathBuf>,
    /// With -x: print one JSON object per command on stdout.
    #[arg(long, requires = "batch")]
    pub json: bool,
    /// With -x: run the rest of the script after a failed fred-expect (the exit status is
    /// still 1).
    #[arg(long, requires = "batch")]
    pub keep_going: bool,
}

impl Batch {
    /// The script's text, if there is one.
    fn script(&self) -> anyhow::Result<Option<String>> {
        self.batch
            .as_ref()
            .map(|f| {
                // Bytes that are not UTF-8 become U+FFFD: that line fails, the rest runs.
                std::fs::read(f)
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .with_context(|| format!("cannot read {}", f.display()))
            })
            .transpose()
    }
}

/// A binary's exit status from what it came to; an error is one line on stderr.
fn exit_status(name: &str, result: anyhow::Result<i32>) -> i32 {
    // A SIGTERM or SIGHUP is ending the session (and killed what this thread was waiting
    // on): the signal's thread exits with the signal's status.
    stop_if_ending();
    result.unwrap_or_else(|e| {
        eprintln!("{name}: {e:#}");
        2
    })
}

/// Fails with one line unless `path` is an existing file.
fn must_be_file(path: &str) -> anyhow::Result<()> {
    let p = std::path::Path::new(path);
    if !p.is_file() {
        bail!(
            "{path}: {}",
            if p.exists() {
                "not a file"
            } else {
                "no such file"
            }
        );
    }
    Ok(())
}

/// The first bytes of `path` (up to 8 KiB), to tell what kind of file it is.
fn head(path: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(8192).read_to_end(&mut buf))
        .with_context(|| format!("cannot read {path}"))?;
    Ok(buf)
}

const ELF_MAGIC: &[u8] = b"\x7fELF";

/// Fails with one line unless `path` could be a Python script (a compiled program or other
/// binary data would only make Python fail with a traceback).
fn must_be_python(path: &str) -> anyhow::Result<()> {
    let bytes = head(path)?;
    if bytes.starts_with(ELF_MAGIC) {
        bail!("{path}: a compiled program, not a Python script (fred-gdb debugs those)");
    }
    if bytes.contains(&0) {
        bail!("{path}: not a Python script (it holds binary data)");
    }
    Ok(())
}

/// Fails with one line unless `path` is a program gdb can run: an executable ELF file (a
/// script, even an executable one, is not gdb's to debug).
fn must_be_program(path: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !head(path)?.starts_with(ELF_MAGIC) {
        bail!(
            "{path}: not a compiled program (fred-gdb debugs executables; fred-pdb debugs Python)"
        );
    }
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read {path}"))?
        .permissions()
        .mode();
    if mode & 0o111 == 0 {
        bail!("{path}: not executable (chmod +x it first)");
    }
    Ok(())
}

/// `fred-pdb`: the real pdb, plus time travel.
#[derive(Debug, Parser)]
#[command(
    name = "fred-pdb",
    version,
    about = "pdb with time travel: reverse-step, reverse-next, reverse-finish, reverse-continue",
    after_help = "Inside the session, fred-help lists fred's commands; everything else is pdb's."
)]
pub struct PdbArgs {
    /// Scripted runs (`-x`, `--json`, `--keep-going`).
    #[command(flatten)]
    pub batch: Batch,
    /// The Python interpreter to debug with.
    #[arg(long, value_name = "PATH", default_value = "python3")]
    pub python: OsString,
    /// Debug a module, as `python3 -m MODULE`.
    #[arg(short = 'm', value_name = "MODULE")]
    pub module: Option<String>,
    /// While the program runs, checkpoint it every this many milliseconds (0: only at
    /// prompts).
    #[arg(long, value_name = "MS", default_value_t = 30)]
    pub checkpoint_interval: u64,
    /// At a prompt, checkpoint if the newest checkpoint is at least this many events back.
    #[arg(long, value_name = "EVENTS", default_value_t = 1000)]
    pub checkpoint_spacing: u64,
    /// Keep at most this many checkpoints (older ones are thinned out).
    #[arg(long, value_name = "N", default_value_t = 48)]
    pub max_checkpoints: usize,
    /// The script and its arguments (with -m, the module's arguments).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "SCRIPT [ARGS]"
    )]
    pub program: Vec<String>,
}

/// Runs `fred-pdb` and returns its exit status.
pub fn main_pdb() -> i32 {
    exit_status("fred-pdb", run_pdb(PdbArgs::parse()))
}

fn run_pdb(args: PdbArgs) -> anyhow::Result<i32> {
    let (module, target, prog_args) = match (&args.module, args.program.split_first()) {
        (Some(m), _) => (true, m.clone(), args.program.clone()),
        (None, Some((script, rest))) => (false, script.clone(), rest.to_vec()),
        (None, None) => bail!("no script given; usage: fred-pdb [OPTIONS] script.py [ARGS]"),
    };
    if !module {
        must_be_file(&target)?;
        must_be_python(&target)?;
    }
    let script = args.batch.script()?;
    let edge = Edge::new(script.is_none())?;
    let config = PdbConfig {
        python: args.python.clone(),
        module,
        target,
        args: prog_args,
        input: edge.program_input(),
        interrupt_fd: Some(edge.interrupt_fd()),
        auto_checkpoint_ms: args.checkpoint_interval,
        max_running_checkpoints: args.max_checkpoints,
    };
    let dbg = if args.batch.json {
        PdbSession::start(&config, &mut Stderr)
    } else {
        PdbSession::start(&config, &mut Terminal)
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let policy = Policy {
        prompt_spacing: args.checkpoint_spacing.max(1),
        max_checkpoints: args.max_checkpoints,
        ..Policy::default()
    };
    drive(
        Box::new(dbg),
        policy,
        script,
        args.batch.json,
        args.batch.keep_going,
        "fred-pdb",
    )
}

/// Runs a session over `dbg`: the script in batch mode, else the REPL.
fn drive(
    dbg: Box<dyn fred_personality::Debugger>,
    policy: Policy,
    script: Option<String>,
    json: bool,
    keep_going: bool,
    name: &str,
) -> anyhow::Result<i32> {
    let mut session = match Session::new(dbg, policy) {
        Ok(s) => s,
        Err(e) => bail!("{e}"),
    };
    let code = match script {
        Some(text) => batch::run(&mut session, &text, json, keep_going),
        None => match repl::run(&mut session, repl::history_file(name)) {
            Ok(false) => 0,
            Ok(true) => 1,
            Err(e) => {
                session.close();
                bail!("terminal: {e}");
            }
        },
    };
    session.close();
    Ok(code)
}

/// What both binaries set up before a session: a subreaper (so no copy of the program
/// outlives fred), Ctrl-C as a readable descriptor, and whether to pass stdin on.
struct Edge {
    int_read: std::os::unix::net::UnixStream,
    forward_stdin: bool,
    interactive: bool,
    terminal: bool,
}

impl Edge {
    fn new(interactive: bool) -> anyhow::Result<Self> {
        fred_ckpt::become_subreaper().context("cannot become a subreaper")?;
        let (int_read, int_write) = std::os::unix::net::UnixStream::pair()?;
        int_read.set_nonblocking(true)?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGINT, int_write)?;
        end_on_signals()?;
        let terminal = std::io::stdin().is_terminal();
        Ok(Edge {
            int_read,
            forward_stdin: !interactive || terminal,
            interactive,
            terminal,
        })
    }

    /// Where a Python program reads its input: what the user types at the terminal; a
    /// script's stdin file or pipe, directly; or nothing when the commands come from stdin.
    fn program_input(&self) -> ProgramInput {
        match (self.terminal, self.interactive) {
            (true, _) => ProgramInput::Terminal,
            (false, false) => ProgramInput::Inherit,
            (false, true) => ProgramInput::Nothing,
        }
    }

    fn interrupt_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.int_read)
    }
}

/// Set once a SIGTERM or SIGHUP has begun to end the session.
static ENDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Called when a command has returned: if a SIGTERM or SIGHUP is ending the session (and
/// killed what the command waited on), the command's failure is not one to report, so
/// this thread waits for the signal's thread to end the process.
pub fn stop_if_ending() {
    if ENDING.load(std::sync::atomic::Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

/// On SIGTERM or SIGHUP (the terminal closed), ends the whole session at once, whatever fred
/// is doing: every process under fred is killed, the terminal is put back as it was, and
/// fred exits with 128 + the signal, as a process killed by it would.
fn end_on_signals() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGTERM};
    let saved = nix::sys::termios::tcgetattr(std::io::stdin()).ok();
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            ENDING.store(true, std::sync::atomic::Ordering::SeqCst);
            fred_ckpt::kill_descendants();
            if let Some(t) = &saved {
                let _ = nix::sys::termios::tcsetattr(
                    std::io::stdin(),
                    nix::sys::termios::SetArg::TCSANOW,
                    t,
                );
            }
            std::process::exit(128 + sig);
        }
    });
    Ok(())
}

/// `fred-gdb`: the real gdb, plus time travel.
#[derive(Debug, Parser)]
#[command(
    name = "fred-gdb",
    version,
    about = "gdb with time travel: reverse-step, reverse-next, reverse-finish, reverse-continue, reverse-watch",
    after_help = "Inside the session, fred-help lists fred's commands; everything else is gdb's."
)]
pub struct GdbArgs {
    /// Scripted runs (`-x`, `--json`, `--keep-going`).
    #[command(flatten)]
    pub batch: Batch,
    /// The gdb to drive.
    #[arg(long, value_name = "PATH", default_value = "gdb")]
    pub gdb: OsString,
    /// While fred replays or searches, checkpoint the program every this many
    /// milliseconds of its running (a short search more often; 0: only at prompts).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub checkpoint_interval: u64,
    /// Keep at most this many checkpoints (older ones are thinned out).
    #[arg(long, value_name = "N", default_value_t = 48)]
    pub max_checkpoints: usize,
    /// The program and its arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM [ARGS]"
    )]
    pub program: Vec<String>,
}

/// Runs `fred-gdb` and returns its exit status.
pub fn main_gdb() -> i32 {
    exit_status("fred-gdb", run_gdb(GdbArgs::parse()))
}

fn run_gdb(args: GdbArgs) -> anyhow::Result<i32> {
    let Some((program, prog_args)) = args.program.split_first() else {
        bail!("no program given; usage: fred-gdb [OPTIONS] program [ARGS]");
    };
    must_be_file(program)?;
    must_be_program(program)?;
    let script = args.batch.script()?;
    let edge = Edge::new(script.is_none())?;
    let config = GdbConfig {
        gdb: args.gdb.clone(),
        program: program.clone(),
        args: prog_args.to_vec(),
        forward_stdin: edge.forward_stdin,
        interrupt_fd: Some(edge.interrupt_fd()),
        style: script.is_none() && std::io::stdout().is_terminal(),
        checkpoint_interval_ms: args.checkpoint_interval,
    };
    let dbg = if args.batch.json {
        GdbSession::start(&config, &mut Stderr)
    } else {
        GdbSession::start(&config, &mut Terminal)
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let policy = Policy {
        prompt_spacing: 1,
        max_checkpoints: args.max_checkpoints,
        ..Policy::default()
    };
    drive(
        Box::new(dbg),
        policy,
        script,
        args.batch.json,
        args.batch.keep_going,
        "fred-gdb",
    )
}
