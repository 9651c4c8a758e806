//! The pseudo-terminal that the debugged program runs on.
//!
//! fred owns the user's terminal; the program gets a pty of its own with echo and output
//! post-processing off, so what the program writes reaches fred byte for byte.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::pty::{openpty, Winsize};
use nix::sys::termios::{self, LocalFlags, OutputFlags, SetArg};

use crate::{CkptError, Result};

/// How [`Pty::spawn_with`] starts a process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spawn {
    /// Its output goes to a pipe (see [`Pty::spawn_piped`]).
    pub piped: bool,
    /// It reads a pipe that [`Pty::write`] writes, not the pty, which stays its
    /// controlling terminal (Ctrl-C typed into the pty still interrupts it). A process
    /// reading a terminal may do much at every read: gdb hands the terminal to the
    /// program and takes it back, about twenty system calls, at each run of the program.
    pub input_pipe: bool,
    /// It gets only the standard descriptors (0, 1 and 2, on the pty), as the shell of a
    /// new terminal window does, not every other descriptor fred itself was given.
    pub only_stdio: bool,
}

/// Marks every descriptor from `first` on to be closed at exec (the descriptor through
/// which the standard library hears of a failed exec is one of them already, and stays
/// open until then). Only system calls: it runs between fork and exec.
fn close_on_exec_from(first: u32) {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC changes only descriptor flags.
    let done = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    } == 0;
    if !done {
        // (A kernel before 5.11.)
        for fd in first as i32..1024 {
            // SAFETY: fcntl on a descriptor that may not exist only fails.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// The master side of the program's pty.
#[derive(Debug)]
pub struct Pty {
    master: OwnedFd,
    /// For a pty made with [`Pty::open`]: its slave side, kept open by fred so the terminal
    /// outlives the processes that come and go on it, and so fred can see its input queue.
    slave: Option<OwnedFd>,
    /// For a process started by [`Pty::spawn_piped`]: the pipe its output comes on.
    output: Option<OwnedFd>,
    /// For a process started with [`Spawn::input_pipe`]: the pipe it reads.
    input: Option<OwnedFd>,
}

nix::ioctl_write_int_bad!(tiocsctty, libc::TIOCSCTTY);

impl Pty {
    /// Opens a pty with no process on it yet, for a debugger to run its program on (by
    /// [`Pty::slave_path`]).
    pub fn open() -> Result<Pty> {
        let pair = raw_pair()?;
        nonblocking(pair.master.as_raw_fd())?;
        Ok(Pty {
            master: pair.master,
            slave: Some(pair.slave),
            output: None,
            input: None,
        })
    }

    /// The path of the slave side of a pty made by [`Pty::open`].
    pub fn slave_path(&self) -> Option<std::path::PathBuf> {
        nix::unistd::ttyname(self.slave.as_ref()?).ok()
    }

    /// How many bytes typed into the terminal no process has read yet.
    pub fn unread_input(&self) -> usize {
        let Some(slave) = &self.slave else { return 0 };
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        let r = unsafe { libc::ioctl(slave.as_raw_fd(), libc::FIONREAD, &mut n) };
        if r == 0 {
            n.max(0) as usize
        } else {
            0
        }
    }

    /// Whether a read of the terminal would return at once: a line, or an end of file
    /// (Ctrl-D), which [`Pty::unread_input`] does not count, is waiting.
    pub fn input_waiting(&self) -> bool {
        let Some(slave) = &self.slave else {
            return false;
        };
        let mut fd = [libc::pollfd {
            fd: slave.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: `fd` is a valid array of one pollfd; a timeout of 0 does not block.
        unsafe { libc::poll(fd.as_mut_ptr(), 1, 0) > 0 && fd[0].revents & libc::POLLIN != 0 }
    }

    /// Throws away input typed into the terminal that no process has read yet.
    pub fn flush_input(&self) {
        if let Some(slave) = &self.slave {
            let _ = termios::tcflush(slave, termios::FlushArg::TCIFLUSH);
        }
    }

    /// A Ctrl-C typed into the terminal (which signals its foreground process) leaves the
    /// input already typed in place, where a terminal by default throws it away.
    pub fn keep_input_on_interrupt(&self) {
        if let Ok(mut t) = termios::tcgetattr(&self.master) {
            t.local_flags.insert(termios::LocalFlags::NOFLSH);
            let _ = termios::tcsetattr(&self.master, termios::SetArg::TCSANOW, &t);
        }
    }

    /// Types Ctrl-C into the terminal, which interrupts its foreground process.
    pub fn interrupt(&self) -> Result<()> {
        nix::unistd::write(&self.master, b"\x03")
            .map(drop)
            .map_err(|e| CkptError::io("write to the terminal", e.into()))
    }

    /// Types as much of `bytes` as the terminal takes now; returns how many it took.
    pub fn write_some(&self, bytes: &[u8]) -> usize {
        nix::unistd::write(&self.master, bytes).unwrap_or_default()
    }

    /// Starts `program` with `args` and extra environment as the leader of a new session
    /// whose controlling terminal is a fresh pty; returns the pty and the child's pid.
    pub fn spawn<S: AsRef<OsStr>>(
        program: &OsStr,
        args: &[S],
        env: &[(String, String)],
    ) -> Result<(Pty, i32)> {
        Self::spawn_with(program, args, env, Spawn::default())
    }

    /// As [`Pty::spawn`], but the process writes its output (stdout and stderr) to a pipe,
    /// which [`Pty::read_available`] and [`Pty::fd`] then stand for; it reads the pty. A
    /// terminal's every write costs the kernel a wake-up of its reader, a pipe's far less,
    /// and a process that writes in many small pieces (gdb) feels the difference.
    pub fn spawn_piped<S: AsRef<OsStr>>(
        program: &OsStr,
        args: &[S],
        env: &[(String, String)],
    ) -> Result<(Pty, i32)> {
        let how = Spawn {
            piped: true,
            ..Spawn::default()
        };
        Self::spawn_with(program, args, env, how)
    }

    /// As [`Pty::spawn`], the way `how` says.
    pub fn spawn_with<S: AsRef<OsStr>>(
        program: &OsStr,
        args: &[S],
        env: &[(String, String)],
        Spawn {
            piped,
            only_stdio,
            input_pipe,
        }: Spawn,
    ) -> Result<(Pty, i32)> {
        let pair = raw_pair()?;
        let slave = pair.slave;
        let stdio = |fd: &OwnedFd| -> Result<Stdio> {
            Ok(Stdio::from(
                fd.try_clone().map_err(|e| CkptError::io("dup pty", e))?,
            ))
        };
        let (reader, writer) = if piped {
            let (r, w) = nix::unistd::pipe().map_err(|e| CkptError::io("pipe", e.into()))?;
            set_cloexec(r.as_raw_fd())?;
            set_cloexec(w.as_raw_fd())?;
            (Some(r), w)
        } else {
            (
                None,
                slave.try_clone().map_err(|e| CkptError::io("dup pty", e))?,
            )
        };
        let (stdin, input) = if input_pipe {
            let (r, w) = nix::unistd::pipe().map_err(|e| CkptError::io("pipe", e.into()))?;
            set_cloexec(r.as_raw_fd())?;
            set_cloexec(w.as_raw_fd())?;
            (Stdio::from(r), Some(w))
        } else {
            (stdio(&slave)?, None)
        };
        // (Closed on exec: the process's terminal, but not among its descriptors.)
        let tty = slave.as_raw_fd();
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(stdin)
            .stdout(stdio(&writer)?)
            .stderr(stdio(&writer)?);
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: only async-signal-safe calls (setsid, ioctl, prctl, close_range, fcntl) run
        // between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                tiocsctty(tty, 0).map_err(std::io::Error::from)?;
                // Whatever runs on the pty must not outlive fred, even a kill -9 of it.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if only_stdio {
                    close_on_exec_from(3);
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| CkptError::io(format!("start {}", program.to_string_lossy()), e))?;
        // With its input a pipe, the process may not hold the pty open: fred does, so that
        // Ctrl-C typed into it still reaches the process.
        let slave = input.is_some().then_some(slave);
        drop(writer);
        nonblocking(pair.master.as_raw_fd())?;
        if let Some(r) = &reader {
            nonblocking(r.as_raw_fd())?;
        }
        Ok((
            Pty {
                master: pair.master,
                slave,
                output: reader,
                input,
            },
            child.id() as i32,
        ))
    }

    /// Reads what the program has written so far (empty when nothing is waiting).
    pub fn read_available(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Small: it is zeroed at every call, and a call mostly finds a few dozen bytes.
        let mut buf = [0u8; 8192];
        loop {
            match nix::unistd::read(self.fd(), &mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        out
    }

    /// Types `bytes` into the program's terminal (or, for a process started with
    /// [`Spawn::input_pipe`], writes them to the pipe it reads).
    pub fn write(&self, bytes: &[u8]) -> Result<()> {
        let to = self.input.as_ref().unwrap_or(&self.master);
        let mut rest = bytes;
        while !rest.is_empty() {
            match nix::unistd::write(to, rest) {
                Ok(n) => rest = &rest[n..],
                Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(e) => return Err(CkptError::io("write to the program", e.into())),
            }
        }
        Ok(())
    }

    /// The descriptor the process's output is read from (the master, or the pipe of
    /// [`Pty::spawn_piped`]), for polling.
    pub fn fd(&self) -> RawFd {
        self.output.as_ref().unwrap_or(&self.master).as_raw_fd()
    }
}

/// A pty pair the size of the user's terminal, with echo and output processing off and
/// both sides closed on exec.
fn raw_pair() -> Result<nix::pty::OpenptyResult> {
    let winsize = current_winsize();
    let pair = openpty(winsize.as_ref(), None).map_err(|e| CkptError::io("openpty", e.into()))?;
    let mut attrs =
        termios::tcgetattr(&pair.slave).map_err(|e| CkptError::io("tcgetattr", e.into()))?;
    attrs
        .local_flags
        .remove(LocalFlags::ECHO | LocalFlags::ECHONL);
    attrs.output_flags.remove(OutputFlags::OPOST);
    termios::tcsetattr(&pair.slave, SetArg::TCSANOW, &attrs)
        .map_err(|e| CkptError::io("tcsetattr", e.into()))?;
    set_cloexec(pair.master.as_raw_fd())?;
    set_cloexec(pair.slave.as_raw_fd())?;
    Ok(pair)
}

fn nonblocking(fd: RawFd) -> Result<()> {
    let flags = fcntl(fd, FcntlArg::F_GETFL)?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )?;
    Ok(())
}

fn set_cloexec(fd: RawFd) -> Result<()> {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    Ok(())
}

fn current_winsize() -> Option<Winsize> {
    let mut ws = Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize struct into `ws`.
    let r = unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0).then_some(ws)
}
