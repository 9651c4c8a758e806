//! The supervisor: the control socket, the snapshot registry, and the session's processes.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::process::{kill_hard, reap_children};
use crate::{Channel, CkptError, Pty, Result};

/// Identifies a snapshot in the registry; ids count up from 0 in registration order.
pub type SnapshotId = u64;

/// What the registry knows of a snapshot.
#[derive(Debug)]
pub struct SnapshotInfo {
    /// The snapshot's process id.
    pub pid: i32,
    /// Its hello message (the snapshot's own description of where it stands).
    pub hello: Value,
    chan: Channel,
}

/// Something that happened in the session, as returned by [`Supervisor::poll`].
#[derive(Debug)]
pub enum Event {
    /// A message from the live process.
    Message(Value),
    /// A new live process said hello (the first one, or a copy made by a resume); the
    /// previous live process, if any, has been killed.
    LiveConnected(i32),
    /// The live process's connection closed: it exited or was killed.
    LiveLost,
    /// A snapshot registered.
    Snapshot(SnapshotId),
    /// A snapshot's process went away (killed from outside); it is out of the registry.
    SnapshotLost(SnapshotId),
    /// A snapshot answered a message sent with [`Supervisor::send_to_snapshot`].
    SnapshotMessage(SnapshotId, Value),
    /// Bytes the program wrote to its terminal.
    Output(Vec<u8>),
    /// One of the extra descriptors given to [`Supervisor::poll`] is readable.
    Readable(RawFd),
    /// The process the supervisor started (the session's first process) has exited.
    Exited(i32),
    /// A message from a side copy (see [`Supervisor::resume_side`]), by its number.
    SideMessage(u64, Value),
    /// A side copy's connection closed (it has done its work, or died).
    SideLost(u64),
}

/// Owns a checkpointed session: its pty, control socket and processes.
#[derive(Debug)]
pub struct Supervisor {
    dir: PathBuf,
    listener: UnixListener,
    pty: Pty,
    pending: Vec<Channel>,
    holder: Option<(i32, Channel)>,
    live: Option<(i32, Channel)>,
    /// Side copies, by number: running beside the live process, never becoming it.
    sides: BTreeMap<u64, (i32, Channel)>,
    /// Side copies asked for that have not connected yet.
    sides_expected: Vec<u64>,
    snapshots: BTreeMap<SnapshotId, SnapshotInfo>,
    next_id: SnapshotId,
    events: VecDeque<Event>,
    pids: Vec<i32>,
    first_pid: i32,
    pty_open: bool,
    resumes: u64,
    expected: Option<u64>,
}

impl Supervisor {
    /// Creates the control socket and starts `program args` in a pty. The program finds the
    /// socket in the environment as `FRED_SOCKET`, and this process's pid as `FRED_PID`.
    pub fn start<S: AsRef<OsStr>>(
        program: &OsStr,
        args: &[S],
        env: &[(String, String)],
    ) -> Result<Self> {
        let dir = private_dir()?;
        let sock = dir.join("control");
        let listener = UnixListener::bind(&sock).map_err(|e| CkptError::io("bind socket", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| CkptError::io("socket", e))?;
        let mut env = env.to_vec();
        env.push(("FRED_SOCKET".into(), sock.to_string_lossy().into_owned()));
        env.push(("FRED_PID".into(), std::process::id().to_string()));
        let (pty, pid) = match Pty::spawn(program, args, &env) {
            Ok(p) => p,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        Ok(Supervisor {
            dir,
            listener,
            pty,
            pending: Vec::new(),
            holder: None,
            live: None,
            sides: BTreeMap::new(),
            sides_expected: Vec::new(),
            snapshots: BTreeMap::new(),
            next_id: 0,
            events: VecDeque::new(),
            pids: vec![pid],
            first_pid: pid,
            pty_open: true,
            resumes: 0,
            expected: None,
        })
    }

    /// The live process's pid, if one is connected.
    pub fn live_pid(&self) -> Option<i32> {
        self.live.as_ref().map(|(p, _)| *p)
    }

    /// The registry entry of a snapshot.
    pub fn snapshot(&self, id: SnapshotId) -> Option<&SnapshotInfo> {
        self.snapshots.get(&id)
    }

    /// Every snapshot in the registry.
    pub fn snapshots(&self) -> impl Iterator<Item = (SnapshotId, &SnapshotInfo)> {
        self.snapshots.iter().map(|(id, s)| (*id, s))
    }

    /// Sends a message to the live process.
    pub fn send(&mut self, msg: &Value) -> Result<()> {
        match self.live.as_mut() {
            Some((_, chan)) => chan.send(msg),
            None => Err(CkptError::LiveGone),
        }
    }

    /// Asks snapshot `id` for a fresh live copy. `request` is merged into the resume
    /// message and reaches the copy. The copy announces itself later as
    /// [`Event::LiveConnected`], at which point the old live process is killed. Only the
    /// copy of the latest resume is accepted: one made for an earlier resume (abandoned,
    /// e.g. by Ctrl-C) is killed when it connects, so its messages never mix in.
    pub fn resume(&mut self, id: SnapshotId, request: Value) -> Result<()> {
        let snap = self
            .snapshots
            .get_mut(&id)
            .ok_or(CkptError::NoSnapshot(id))?;
        self.resumes += 1;
        self.expected = Some(self.resumes);
        let mut msg = json!({"fred": "resume", "nonce": self.resumes});
        if let (Some(m), Value::Object(extra)) = (msg.as_object_mut(), request) {
            m.extend(extra);
        }
        snap.chan.send(&msg)
    }

    /// Asks snapshot `id` for a side copy: one that runs beside the live process (a piece of
    /// a search), speaks as [`Event::SideMessage`] under the number returned, and never
    /// becomes the live process. [`Supervisor::drop_side`] ends it.
    pub fn resume_side(&mut self, id: SnapshotId, request: Value) -> Result<u64> {
        let snap = self
            .snapshots
            .get_mut(&id)
            .ok_or(CkptError::NoSnapshot(id))?;
        self.resumes += 1;
        let nonce = self.resumes;
        let mut msg = json!({"fred": "resume", "nonce": nonce, "side": true});
        if let (Some(m), Value::Object(extra)) = (msg.as_object_mut(), request) {
            m.extend(extra);
        }
        snap.chan.send(&msg)?;
        self.sides_expected.push(nonce);
        Ok(nonce)
    }

    /// Ends side copy `nonce` (or forgets it, if it is still to connect: it is killed when
    /// it does).
    pub fn drop_side(&mut self, nonce: u64) {
        self.sides_expected.retain(|n| *n != nonce);
        if let Some((pid, _)) = self.sides.remove(&nonce) {
            kill_hard(pid);
        }
    }

    /// Sends a message to a snapshot (one it answers as it is, without a copy); its answer
    /// comes as [`Event::SnapshotMessage`].
    pub fn send_to_snapshot(&mut self, id: SnapshotId, msg: &Value) -> Result<()> {
        self.snapshots
            .get_mut(&id)
            .ok_or(CkptError::NoSnapshot(id))?
            .chan
            .send(msg)
    }

    /// Removes a snapshot: its process exits when its connection closes.
    pub fn drop_snapshot(&mut self, id: SnapshotId) {
        if let Some(s) = self.snapshots.remove(&id) {
            kill_hard(s.pid);
        }
    }

    /// Sends `signal` to the live process: the program's way of hearing Ctrl-C (the agent
    /// chooses which signal that is).
    pub fn interrupt(&self, signal: libc::c_int) {
        if let Some(pid) = self.live_pid() {
            // SAFETY: kill(2) on the live process's pid.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// Types bytes into the program's terminal.
    pub fn write_input(&self, bytes: &[u8]) -> Result<()> {
        self.pty.write(bytes)
    }

    /// Waits up to `timeout` (forever if `None`) for something to happen and returns what
    /// did. `extra` descriptors are watched too and reported as [`Event::Readable`].
    pub fn poll(&mut self, timeout: Option<Duration>, extra: &[RawFd]) -> Result<Vec<Event>> {
        if self.events.is_empty() {
            self.wait(timeout, extra)?;
        }
        Ok(self.events.drain(..).collect())
    }

    fn wait(&mut self, timeout: Option<Duration>, extra: &[RawFd]) -> Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let mut watched: Vec<RawFd> = vec![self.listener.as_raw_fd()];
            if self.pty_open {
                watched.push(self.pty.fd());
            }
            if let Some((_, c)) = &self.live {
                watched.push(c.fd());
            }
            watched.extend(self.pending.iter().map(Channel::fd));
            watched.extend(self.snapshots.values().map(|s| s.chan.fd()));
            watched.extend(self.sides.values().map(|(_, c)| c.fd()));
            if let Some((_, c)) = &self.holder {
                watched.push(c.fd());
            }
            let first_extra = watched.len();
            watched.extend_from_slice(extra);
            let mut fds: Vec<libc::pollfd> = watched
                .iter()
                .map(|&fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            let ms = match deadline {
                None => 200,
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .as_millis()
                    .min(200) as i32,
            };
            // SAFETY: `fds` is a valid array of pollfd of the given length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(CkptError::io("poll", e));
                }
            }
            for p in &fds[first_extra..] {
                if p.revents != 0 {
                    self.events.push_back(Event::Readable(p.fd));
                }
            }
            let pty_hup = fds
                .iter()
                .any(|p| p.fd == self.pty.fd() && p.revents & (libc::POLLHUP | libc::POLLERR) != 0);
            let ready: Vec<RawFd> = fds[..first_extra]
                .iter()
                .filter(|p| p.revents != 0)
                .map(|p| p.fd)
                .collect();
            if !ready.is_empty() {
                self.service(&ready)?;
            }
            if pty_hup && self.pty_open {
                // Every process holding the terminal is gone; what they wrote is read.
                self.pty_open = false;
            }
            if reap_children().contains(&self.first_pid) {
                self.events.push_back(Event::Exited(self.first_pid));
            }
            if !self.events.is_empty() {
                return Ok(());
            }
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Ok(());
                }
            }
        }
    }

    /// Accepts connections, reads the channels and the pty that poll found `ready`, and
    /// queues events. (Only those: a session holds dozens of snapshots' channels, and a
    /// stop brings several messages on the live one.)
    fn service(&mut self, ready: &[RawFd]) -> Result<()> {
        let is_ready = |fd: RawFd| ready.contains(&fd);
        let mut accepted = Vec::new();
        if is_ready(self.listener.as_raw_fd()) {
            while let Ok((stream, _)) = self.listener.accept() {
                accepted.push(Channel::new(stream)?);
            }
        }
        let out = if self.pty_open && is_ready(self.pty.fd()) {
            self.pty.read_available()
        } else {
            Vec::new()
        };
        if !out.is_empty() {
            self.events.push_back(Event::Output(out));
        }
        let mut still_pending = Vec::new();
        let pending = std::mem::take(&mut self.pending);
        let to_read = pending
            .into_iter()
            .filter_map(|c| {
                if is_ready(c.fd()) {
                    Some(c)
                } else {
                    still_pending.push(c);
                    None
                }
            })
            // A connection just accepted mostly has its hello waiting already.
            .chain(accepted)
            .collect::<Vec<_>>();
        for mut chan in to_read {
            let mut msgs = chan.read_available()?.into_iter();
            match msgs.next() {
                None if chan.is_closed() => {}
                None => still_pending.push(chan),
                Some(hello) => self.register(chan, hello, msgs.collect())?,
            }
        }
        self.pending.extend(still_pending);
        if let Some((_, chan)) = self.live.as_mut().filter(|(_, c)| is_ready(c.fd())) {
            let msgs = chan.read_available()?;
            let closed = chan.is_closed();
            self.events.extend(msgs.into_iter().map(Event::Message));
            if closed {
                self.live = None;
                self.events.push_back(Event::LiveLost);
            }
        }
        let mut closed = Vec::new();
        for (id, s) in self.snapshots.iter_mut() {
            if !is_ready(s.chan.fd()) {
                continue;
            }
            if let Ok(msgs) = s.chan.read_available() {
                self.events
                    .extend(msgs.into_iter().map(|m| Event::SnapshotMessage(*id, m)));
            }
            if s.chan.is_closed() {
                closed.push(*id);
            }
        }
        for id in closed {
            self.snapshots.remove(&id);
            self.events.push_back(Event::SnapshotLost(id));
        }
        let mut gone = Vec::new();
        for (n, (_, chan)) in self.sides.iter_mut() {
            if !is_ready(chan.fd()) {
                continue;
            }
            if let Ok(msgs) = chan.read_available() {
                self.events
                    .extend(msgs.into_iter().map(|m| Event::SideMessage(*n, m)));
            }
            if chan.is_closed() {
                gone.push(*n);
            }
        }
        for n in gone {
            self.sides.remove(&n);
            self.events.push_back(Event::SideLost(n));
        }
        if let Some((_, chan)) = self.holder.as_mut().filter(|(_, c)| is_ready(c.fd())) {
            let _ = chan.read_available();
        }
        Ok(())
    }

    fn register(&mut self, chan: Channel, hello: Value, rest: Vec<Value>) -> Result<()> {
        let pid = hello["pid"].as_i64().unwrap_or(0) as i32;
        self.pids.push(pid);
        match hello["hello"].as_str() {
            Some("holder") => self.holder = Some((pid, chan)),
            Some("live") if hello["nonce"].as_u64() != self.expected => kill_hard(pid),
            Some("side") => {
                let nonce = hello["nonce"].as_u64().unwrap_or(0);
                if !self.sides_expected.contains(&nonce) {
                    kill_hard(pid);
                } else {
                    self.sides_expected.retain(|n| *n != nonce);
                    self.events
                        .extend(rest.into_iter().map(|m| Event::SideMessage(nonce, m)));
                    self.sides.insert(nonce, (pid, chan));
                }
            }
            Some("live") => {
                if let Some((old, _)) = self.live.take() {
                    kill_hard(old);
                }
                self.live = Some((pid, chan));
                self.events.push_back(Event::LiveConnected(pid));
                self.events.extend(rest.into_iter().map(Event::Message));
            }
            Some("snapshot") => {
                let id = self.next_id;
                self.next_id += 1;
                self.snapshots.insert(id, SnapshotInfo { pid, hello, chan });
                self.events.push_back(Event::Snapshot(id));
            }
            _ => return Err(CkptError::Protocol(format!("unexpected hello {hello}"))),
        }
        Ok(())
    }

    /// Ends the session: closes every connection, kills every process it started or heard
    /// from, reaps them, and removes the control socket.
    pub fn shutdown(&mut self) {
        self.pending.clear();
        let snaps: Vec<i32> = self.snapshots.values().map(|s| s.pid).collect();
        self.snapshots.clear();
        self.sides.clear();
        self.live = None;
        self.holder = None;
        for pid in self.pids.iter().chain(snaps.iter()) {
            if *pid > 0 {
                kill_hard(*pid);
            }
        }
        let deadline = Instant::now() + Duration::from_millis(300);
        while Instant::now() < deadline {
            reap_children();
            let alive = self.pids.iter().any(|&p| p > 0 && is_alive(p));
            if !alive {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.pids.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Removes the socket directories of sessions whose fred is gone without removing them
/// (killed with SIGKILL): `fred-PID-...` directories of this user whose PID is not running.
fn remove_stale_dirs(base: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("fred-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let ours = meta.is_dir() && meta.uid() == me;
        let only_socket = std::fs::read_dir(e.path())
            .map(|d| d.flatten().all(|f| f.file_name() == "control"))
            .unwrap_or(false);
        if ours && only_socket && pid > 0 && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn is_alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}

/// A fresh directory only this user can enter, for the control socket.
fn private_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    remove_stale_dirs(&base);
    for i in 0..100u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = base.join(format!("fred-{}-{}-{}", std::process::id(), nanos, i));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CkptError::io("create socket directory", e)),
        }
    }
    Err(CkptError::io(
        "create socket directory",
        std::io::Error::other("no free name"),
    ))
}
