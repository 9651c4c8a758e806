//! A gdb session: gdb in a pty, its agent spoken to through `fred-agent` commands.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::os::fd::RawFd;

use fred_ckpt::{Pty, Spawn};
use fred_personality::{
    Checkpoint, CheckpointId, CommandClass, Debugger, DebuggerError, EventKind, Output, Position,
    Probe, Query, Result, ScanResult, StopKind, Time, Watch, Watchpoint,
};
use serde_json::{json, Value};

use crate::markers::{MarkerReader, Piece};
use crate::terminal::ProgramTerminal;
use crate::xstate;

mod as_a_stop;
mod exchange;

/// How to start a gdb session.
#[derive(Clone, Debug)]
pub struct GdbConfig {
    /// The gdb to run (`gdb` on PATH by default).
    pub gdb: OsString,
    /// The program to debug.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Pass what the user types on fred's stdin to the program while it runs.
    pub forward_stdin: bool,
    /// A descriptor that becomes readable when the user presses Ctrl-C.
    pub interrupt_fd: Option<RawFd>,
    /// Let gdb colour its output (for a terminal; off for scripts and JSON).
    pub style: bool,
    /// Milliseconds of running between the checkpoints a replay or search leaves on its
    /// way (0: none).
    pub checkpoint_interval_ms: u64,
}

/// A time is an epoch (a stop a user command led to) and a count of hits after it (the
/// line-table entries of the program's own code run since).
fn split(t: Time) -> (u64, u64) {
    (t >> 40, t & ((1 << 40) - 1))
}

/// A running gdb session, implementing [`Debugger`].
pub struct GdbSession {
    pty: Pty,
    pid: i32,
    reader: MarkerReader,
    pos: Position,
    /// `recipes[e]`: how epoch `e` is reached from the one before (null: it cannot be).
    recipes: Vec<Value>,
    /// gdb's number for each checkpoint (it changes each time one is restored).
    numbers: HashMap<CheckpointId, u64>,
    next_id: CheckpointId,
    /// Checkpoints taken by the agent on its own (at main, on the first run).
    new: Vec<Checkpoint>,
    forward_stdin: bool,
    /// The running user command may run the program: fred's input goes to it.
    typing_to_program: bool,
    interrupt_fd: Option<RawFd>,
    /// The program's terminal, apart from gdb's.
    term: ProgramTerminal,
    /// The program got where it is by a replay (not by the user's last command).
    replayed: bool,
    /// The epoch the running user command began in (its typing is logged there).
    command_epoch: u64,
    /// fred's stdin (a file or pipe) has ended: the program reads end of file.
    stdin_ended: bool,
    /// gdb holds process copies fred no longer needs (deleted when idle: a delete takes
    /// gdb about 25 ms).
    spent: bool,
    /// The stretch (checkpoint, first and last epoch) a replay or search runs: its input is
    /// typed again each time the agent runs it again.
    replaying: Option<(CheckpointId, u64, u64)>,
    /// The function and depth of the stop the user last saw (searches move the program
    /// unseen): a reverse command that lands in the same frame shows only the source
    /// line, as gdb's own steps do.
    shown: Option<(String, Option<u32>)>,
    /// What gdb wrote after the prompt last waited for, still to be read.
    unread: VecDeque<Piece>,
    /// Commands typed ahead (`fred-ahead`) whose answers are still to be read.
    ahead: VecDeque<String>,
    /// The command waited for was typed ahead: its program output ends at the agent's mark.
    marking: bool,
    /// ...and that mark has been read.
    mark_seen: bool,
    /// ...and it is a `continue`, whose answer starts with a line written before the
    /// program runs on.
    continuing: bool,
    /// What the program wrote during that command, shown once its answer is whole.
    held: Vec<u8>,
}

/// At most this many commands are typed ahead at once (a terminal line holds 4,095 bytes
/// until gdb reads it, and fred checkpoints and tidies between batches).
const MAX_AHEAD: usize = 64;

impl GdbSession {
    /// Starts gdb on the program with the agent loaded, and waits for its first prompt.
    pub fn start(config: &GdbConfig, out: &mut dyn Output) -> Result<Self> {
        let dir = fred_personality::install_agent("gdb-agent", "", crate::AGENT_FILES)?;
        // gdb starts its Python with bytecode writing off: the agent's modules would be
        // compiled afresh at every start (about 20 ms); compiled once, they wait in the
        // agent's directory beside their sources.
        let boot = format!(
            "python import sys; sys.dont_write_bytecode = False; sys.path.insert(0, {:?}); import fred_gdb; \
             fred_gdb.CHECKPOINT_EVERY = {}",
            dir.to_string_lossy(),
            config.checkpoint_interval_ms as f64 / 1000.0
        );
        let term = ProgramTerminal::open()?;
        let tty = term
            .path()
            .ok_or_else(|| DebuggerError::Failed("the program's terminal has no name".into()))?;
        let mut args: Vec<OsString> = vec!["-q".into()];
        args.push("-iex".into());
        args.push(format!("set inferior-tty {}", tty.display()).into());
        for setting in [
            // fred speaks UTF-8 to gdb whatever the locale (without one, gdb's Python
            // could not even read a command's arguments), and so do the strings typed.
            "set host-charset UTF-8",
            "set target-charset UTF-8",
            // A call from gdb that faults or is interrupted is undone, as if never made,
            // so that the program stays on its recorded course.
            "set unwindonsignal on",
            "set pagination off",
            "set confirm off",
            "set editing off",
            // Wide enough never to wrap (the widest gdb keeps as a width), but not unlimited:
            // with no width and no height gdb writes every styled piece of a line on its own
            // (a stop's report in fifteen writes, each a wake-up of fred), where a width
            // keeps a line together until its end.
            "set width 32767",
            "set height 0",
        ] {
            args.push("-iex".into());
            args.push(setting.into());
        }
        if !config.style {
            args.push("-iex".into());
            args.push("set style enabled off".into());
        }
        args.push("-ex".into());
        args.push(boot.into());
        args.push("--args".into());
        args.push(config.program.clone().into());
        args.extend(config.args.iter().map(OsString::from));
        let env = xstate::gdb_env(&dir, &mut args, out);
        // gdb writes a stop's report in a dozen pieces, each a wake-up of fred through a
        // terminal: where there is no colour to keep (scripts, JSON), its output comes
        // through a pipe instead. It still reads a terminal, which keeps it interactive.
        // It gets only its terminal, like a shell in a new window: gdb's `checkpoint` and
        // `restart` have the program call `lseek` on every descriptor it has (each a few
        // milliseconds where the C library's debugging information is installed). It reads
        // a pipe: reading a terminal, gdb would hand it to the program and take it back at
        // every resume (the program has a terminal of its own anyway).
        let how = Spawn {
            piped: !config.style,
            only_stdio: true,
            input_pipe: true,
        };
        let (pty, pid) = Pty::spawn_with(&config.gdb, &args, &env, how)
            .map_err(|e| DebuggerError::Gone(format!("cannot start gdb: {e}")))?;
        let mut s = GdbSession {
            pty,
            pid,
            reader: MarkerReader::default(),
            pos: Position {
                time: 0,
                kind: StopKind::NotStarted,
                location: None,
                depth: None,
                event: None,
            },
            recipes: vec![Value::Null],
            numbers: HashMap::new(),
            next_id: 1,
            new: Vec::new(),
            forward_stdin: config.forward_stdin,
            typing_to_program: false,
            interrupt_fd: config.interrupt_fd,
            term,
            replayed: false,
            command_epoch: 0,
            // Commands come from a pipe (no terminal, no script): the program's input is
            // empty, as with fred-pdb.
            stdin_ended: !config.forward_stdin,
            spent: false,
            replaying: None,
            shown: None,
            unread: VecDeque::new(),
            ahead: VecDeque::new(),
            marking: false,
            mark_seen: false,
            continuing: false,
            held: Vec::new(),
        };
        // Ctrl-C must not throw away commands typed ahead: the agent drops those itself,
        // knowing how many.
        s.pty.keep_input_on_interrupt();
        let a = s.wait(true, false, out)?;
        s.pos = a.pos;
        Ok(s)
    }

    /// `run ARGS`, `start ARGS` or `set args ...` once the program has run: a restart goes
    /// back to the recorded start, which has the first run's arguments.
    fn new_arguments(&self, line: &str) -> bool {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        let second = words.next();
        self.pos.kind != StopKind::NotStarted
            && match first {
                "r" | "run" | "start" | "starti" => second.is_some(),
                "set" => second == Some("args"),
                _ => false,
            }
    }

    /// The agent dropped the last `n` commands typed ahead (one before them stopped where
    /// fred must look first): they will be typed afresh.
    fn dropped(&mut self, n: usize) {
        let keep = self.ahead.len().saturating_sub(n);
        self.ahead.truncate(keep);
    }

    /// The function and depth the program stands in, as [`GdbSession::shown`] keeps them.
    fn frame_shown(&self) -> Option<(String, Option<u32>)> {
        let loc = self.pos.location.as_ref()?;
        Some((format!("{}:{}", loc.file, loc.function), self.pos.depth))
    }

    /// Restores checkpoint `ck`: gdb's copy becomes the live process and a fresh copy of
    /// it takes its place, so the checkpoint stays pristine.
    fn restore(&mut self, ck: &Checkpoint) -> Result<()> {
        let Some(&number) = self.numbers.get(&ck.id) else {
            return Err(DebuggerError::CheckpointLost(ck.id));
        };
        let (epoch, k) = split(ck.time);
        let r = self.request(json!({"op": "restore", "gdb": number, "epoch": epoch, "k": k}))?;
        if r["lost"].as_bool() == Some(true) {
            self.numbers.remove(&ck.id);
            return Err(DebuggerError::CheckpointLost(ck.id));
        }
        if let Some(n) = r["gdb"].as_u64() {
            self.numbers.insert(ck.id, n);
        }
        self.spent = true;
        // The live process just deleted may have been reparented to fred, the subreaper.
        fred_ckpt::reap_children();
        Ok(())
    }

    /// Types again, for a replay from `from` to `to`, what the program will read on the way.
    fn replay_input(&mut self, from: &Checkpoint, to: Time) {
        let stretch = (from.id, split(from.time).0, split(to).0);
        self.term.replay(stretch.0, stretch.1, stretch.2);
        self.replaying = Some(stretch);
        self.replayed = true;
    }

    /// Takes on a checkpoint the agent made (`{gdb, time, location}`), for the timeline.
    fn adopt(&mut self, made: &Value, at_stop: bool) {
        let id = self.next_id;
        self.next_id += 1;
        self.numbers.insert(id, made["gdb"].as_u64().unwrap_or(0));
        self.new.push(Checkpoint {
            id,
            time: made["time"].as_u64().unwrap_or(0),
            at_stop,
            location: serde_json::from_value(made["location"].clone()).ok(),
            event: Some(EventKind::Line),
            // (The agent says how long the program ran on from it before replying.)
            taken: made["ran"].as_f64().and_then(|s| {
                std::time::Instant::now().checked_sub(std::time::Duration::from_secs_f64(s))
            }),
        });
    }

    /// Takes on the checkpoints a replay or scan left along its way, so that later reverse
    /// commands start from near where they look instead of from the stretch's start.
    fn adopt_all(&mut self, reply: &Value) {
        for made in reply["checkpoints"].as_array().into_iter().flatten() {
            self.adopt(made, false);
        }
    }

    /// The segments that take a replay from `from` to `to`, one per epoch.
    fn segments(&self, from: Time, to: Time) -> Result<Vec<Value>> {
        let (mut e, mut k) = split(from);
        let (te, tk) = split(to);
        let mut segs = Vec::new();
        while e < te {
            let recipe = self
                .recipes
                .get(e as usize + 1)
                .cloned()
                .unwrap_or(Value::Null);
            if recipe.is_null() || recipe["end"].is_null() {
                return Err(DebuggerError::Failed(format!(
                    "cannot replay past stop {}: it was reached by an interrupt or a watchpoint",
                    e + 1
                )));
            }
            segs.push(json!({"epoch": e, "k": k, "end": recipe, "input": self.term.has_input(e)}));
            e += 1;
            k = 0;
        }
        segs.push(json!({"epoch": te, "k": k, "stop_k": tk, "input": self.term.has_input(te)}));
        Ok(segs)
    }
}

impl Debugger for GdbSession {
    fn prompt(&self) -> &str {
        "(gdb) "
    }

    fn classify(&self, line: &str) -> CommandClass {
        if self.new_arguments(line) {
            return CommandClass::Inspect; // (refused by execute)
        }
        crate::classify(line)
    }

    fn position(&self) -> &Position {
        &self.pos
    }

    fn execute(&mut self, line: &str, out: &mut dyn Output) -> Result<Position> {
        if let Some(why) = crate::classify::refused(line) {
            return Err(DebuggerError::Refused(format!("{}: {why}.", line.trim())));
        }
        if self.new_arguments(line) {
            return Err(DebuggerError::Refused(format!(
                "{}: the program keeps the arguments of its first run under fred (one \
                 recorded session per run); quit and start fred-gdb with the new ones.",
                line.trim()
            )));
        }
        let (from, _) = split(self.pos.time);
        self.term.command_starts(from, self.replayed);
        self.replayed = false;
        self.command_epoch = from;
        if self.stdin_ended {
            self.term.end_of_file(from);
        }
        let typed_ahead = self.ahead.front().is_some_and(|l| l == line);
        if typed_ahead {
            self.ahead.pop_front();
        } else if !self.ahead.is_empty() {
            return Err(DebuggerError::Failed(format!(
                "'{}' came while commands typed ahead were still running",
                line.trim()
            )));
        // A line gdb would continue (a trailing backslash) or that a terminal cannot carry
        // goes inside a JSON request instead.
        } else if line.len() < 3000
            && !line.contains(['\n', '\r'])
            && !line.trim_end().ends_with('\\')
        {
            self.pty
                .write(format!("fred-user {line}\n").as_bytes())
                .map_err(|e| DebuggerError::Gone(format!("gdb is gone: {e}")))?;
        } else {
            self.send(&json!({"op": "user", "line": line}))?;
        }
        // Only a command that may run the program gives it what the user types; a line
        // typed (or pasted) ahead during `break` or `p` is the next command, as under gdb.
        self.typing_to_program = !matches!(
            crate::classify(line),
            CommandClass::Inspect | CommandClass::Quit
        );
        self.marking = typed_ahead;
        self.mark_seen = false;
        self.continuing = crate::classify::continues(line);
        let a = self.wait(true, true, out);
        self.marking = false;
        let a = a?;
        let mut began = from;
        if let Some(t) = a.reply["start"]["time"].as_u64() {
            began = split(t).0;
            self.term.relocate(from, began);
        }
        self.term.command_ended(began, split(a.pos.time).0);
        if let Some(e) = a.reply.get("error").and_then(Value::as_str) {
            out.debugger_error(e);
        }
        if let Some(start) = a.reply.get("start") {
            // The first run stopped at main and checkpointed there before going on.
            self.adopt(start, true);
        }
        self.pos = a.pos;
        self.shown = self.frame_shown();
        let epoch = split(self.pos.time).0;
        let needs_own_checkpoint = self
            .recipes
            .get(epoch as usize)
            .is_some_and(|r| !r.is_null() && (r["end"].is_null() || r["end"] == "watch"));
        if epoch > from && needs_own_checkpoint && self.pos.kind == StopKind::Stop {
            // Stopped by Ctrl-C: no recipe reaches this stop again; by a watchpoint: only
            // while the watchpoint lasts. So a checkpoint of its own does (and what comes
            // after it stays reachable).
            if let Ok(made) = self.request(json!({"op": "checkpoint"})) {
                let made = json!({"gdb": made["gdb"], "time": self.pos.time,
                                  "location": self.pos.location});
                self.adopt(&made, true);
            }
        }
        Ok(self.pos.clone())
    }

    fn checkpoint(&mut self) -> Result<Checkpoint> {
        let r = match self.request(json!({"op": "checkpoint"})) {
            Err(DebuggerError::Failed(e)) => return Err(DebuggerError::Refused(e)),
            r => r?,
        };
        let id = self.next_id;
        self.next_id += 1;
        self.numbers.insert(id, r["gdb"].as_u64().unwrap_or(0));
        self.term.checkpoint_taken(id, split(self.pos.time).0);
        Ok(Checkpoint {
            id,
            time: self.pos.time,
            at_stop: true,
            location: self.pos.location.clone(),
            event: Some(EventKind::Line),
            taken: None,
        })
    }

    fn new_checkpoints(&mut self) -> Vec<Checkpoint> {
        std::mem::take(&mut self.new)
    }

    fn lost_checkpoints(&mut self) -> Vec<CheckpointId> {
        Vec::new()
    }

    fn drop_checkpoint(&mut self, id: CheckpointId) {
        self.term.forget(id);
        if let Some(n) = self.numbers.remove(&id) {
            let _ = self.request(json!({"op": "drop", "gdb": n}));
            // A checkpoint whose parent has gone was reparented to fred, the subreaper.
            fred_ckpt::reap_children();
        }
    }

    fn goto(&mut self, from: &Checkpoint, time: Time, out: &mut dyn Output) -> Result<Position> {
        let segments = self.segments(from.time, time)?;
        self.restore(from)?;
        self.replay_input(from, time);
        let r = self.request(json!({"op": "run", "segments": segments}))?;
        self.adopt_all(&r);
        // Where it landed, and the user's `display`s, as gdb shows them at a stop.
        let here = self.frame_shown();
        let frame = if here.is_some() && here == self.shown {
            "with print frame-info source-line -- frame"
        } else {
            "frame"
        };
        for line in [frame, "display"] {
            self.send(&json!({"op": "user", "line": line}))?;
            let a = self.wait(true, false, &mut as_a_stop::AsAStop::new(out))?;
            self.pos = a.pos;
        }
        self.shown = self.frame_shown();
        Ok(self.pos.clone())
    }

    fn scan(&mut self, from: &Checkpoint, until: Time, query: &Query) -> Result<ScanResult> {
        let segments = self.segments(from.time, until)?;
        self.restore(from)?;
        self.replay_input(from, until);
        let watch = query.watch.as_ref().map(|w| {
            let ctx: Value = serde_json::from_str(&w.context).unwrap_or(Value::Null);
            json!({"expr": w.expr, "base": ctx["base"], "calls": ctx["calls"]})
        });
        let q = json!({
            "kinds": query.kinds,
            "depth": query.depth,
            "floor": query.floor,
            "breakpoints": query.breakpoints,
            "keep": query.keep,
            "watch": watch,
        });
        // The agent may run the stretch more than once, restoring the checkpoint again.
        let from_ck = self.numbers.get(&from.id).map(|&n| {
            let (epoch, k) = split(from.time);
            json!({"gdb": n, "epoch": epoch, "k": k})
        });
        let r = self.request(json!({
            "op": "run", "segments": segments, "query": q, "from": from_ck,
        }))?;
        if let Some(n) = r["from_gdb"].as_u64() {
            self.numbers.insert(from.id, n);
        }
        self.adopt_all(&r);
        serde_json::from_value(r)
            .map_err(|e| DebuggerError::Failed(format!("bad scan result from the gdb agent: {e}")))
    }

    fn probe(&mut self, expr: &str) -> Result<Probe> {
        let r = match self.request(json!({"op": "probe", "expr": expr})) {
            Err(DebuggerError::Failed(e)) => return Err(DebuggerError::Refused(e)),
            r => r?,
        };
        Ok(Probe {
            value: r["value"].as_str().unwrap_or("").to_string(),
            watch: Watch {
                expr: expr.to_string(),
                frame_depth: r["frame_depth"].as_u64().map(|d| d as u32),
                context: json!({"base": r["base"], "calls": r["calls"]}).to_string(),
                isolated: false,
            },
        })
    }

    fn holds(&mut self, expr: &str) -> Result<(bool, String)> {
        let r = match self.request(json!({"op": "holds", "expr": expr})) {
            Err(DebuggerError::Failed(e)) => return Err(DebuggerError::Refused(e)),
            r => r?,
        };
        Ok((
            r["holds"].as_bool().unwrap_or(false),
            r["value"].as_str().unwrap_or("").to_string(),
        ))
    }

    fn watchpoints(&mut self) -> Result<Vec<Watchpoint>> {
        let r = self.request(json!({"op": "watchpoints"}))?;
        serde_json::from_value(r["watchpoints"].clone())
            .map_err(|e| DebuggerError::Failed(format!("bad watchpoints from the gdb agent: {e}")))
    }

    fn close(&mut self) {
        kill_session(self.pid);
    }

    fn after_restart(&self, line: &str) -> Option<String> {
        // `run` runs on from the start to the first breakpoint; `start` stays there.
        let word = line.split_whitespace().next().unwrap_or("");
        matches!(word, "r" | "run").then(|| crate::classify::RUN_ON.to_string())
    }

    fn show_time(&self, t: Time) -> String {
        let (epoch, k) = split(t);
        format!("{epoch}.{k}")
    }

    fn type_ahead(&mut self, lines: &[&str]) -> usize {
        let n = lines
            .iter()
            .take(MAX_AHEAD)
            .take_while(|l| crate::classify::types_ahead(l))
            .count();
        // The program's input must not depend on which command fred is reading the answer
        // of: only once fred's own input has ended (the program reads end of file).
        if n < 2
            || !self.ahead.is_empty()
            || !self.stdin_ended
            || self.replayed
            || self.pos.kind != StopKind::Stop
        {
            return 0;
        }
        let mut text = format!("fred-ahead {n}\n");
        for line in &lines[..n] {
            text.push_str(line.trim());
            text.push('\n');
        }
        if self.pty.write(text.as_bytes()).is_err() {
            return 0;
        }
        // `fred-ahead`'s own prompt; the commands run on behind it. What the program
        // writes meanwhile, and the agent's marks, are theirs: the program's terminal is
        // left unread (as after a mark) until the first of them is waited for. (Read
        // here, the first mark would be lost, and each command would take the next one's,
        // the last waiting in vain.)
        self.marking = true;
        self.mark_seen = true;
        self.continuing = false;
        let answered = self.wait(false, false, &mut fred_personality::Discard);
        self.marking = false;
        if answered.is_err() {
            return 0;
        }
        self.ahead = lines[..n].iter().map(|l| l.to_string()).collect();
        n
    }

    fn typed_ahead(&self) -> usize {
        self.ahead.len()
    }

    fn idle(&mut self) {
        if self.spent {
            self.spent = false;
            let _ = self.request(json!({"op": "tidy"}));
            fred_ckpt::reap_children();
        }
    }
}

impl Drop for GdbSession {
    fn drop(&mut self) {
        kill_session(self.pid);
    }
}

/// Kills gdb and every process of its terminal session: the program, gdb's checkpoint
/// copies of it (they are in gdb's session whatever their process group), and reaps them.
fn kill_session(sid: i32) {
    // A killed process is gone within a millisecond or so; looking again that soon, rather
    // than after a long nap, keeps fred's exit as quick as gdb's own `quit`.
    for _ in 0..500 {
        let mut any = false;
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                // SAFETY: getsid only reads another process's session id.
                if unsafe { libc::getsid(pid) } == sid {
                    // SAFETY: sending a signal to a process of this session.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    any = true;
                }
            }
        }
        fred_ckpt::reap_children();
        if !any {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
