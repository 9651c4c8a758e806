//! One JSON-lines connection between fred and a process of the session.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use serde_json::Value;

use crate::{CkptError, Result};

/// A non-blocking JSON-lines connection over a Unix stream socket.
#[derive(Debug)]
pub struct Channel {
    stream: UnixStream,
    buf: Vec<u8>,
    closed: bool,
}

impl Channel {
    /// Wraps an accepted connection (switched to non-blocking mode).
    pub fn new(stream: UnixStream) -> Result<Self> {
        stream
            .set_nonblocking(true)
            .map_err(|e| CkptError::io("set socket non-blocking", e))?;
        Ok(Channel {
            stream,
            buf: Vec::new(),
            closed: false,
        })
    }

    /// Sends one message.
    pub fn send(&mut self, msg: &Value) -> Result<()> {
        let mut line = serde_json::to_vec(msg).map_err(|e| CkptError::Protocol(e.to_string()))?;
        line.push(b'\n');
        let mut rest = &line[..];
        while !rest.is_empty() {
            match self.stream.write(rest) {
                Ok(0) => return Err(CkptError::LiveGone),
                Ok(n) => rest = &rest[n..],
                // The peer reads slowly: wait until it has room (the socket stays
                // non-blocking, which saves switching modes around every message).
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.wait_writable(),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(CkptError::LiveGone),
            }
        }
        Ok(())
    }

    fn wait_writable(&self) {
        let mut p = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, 1000) };
    }

    /// Reads what has arrived and returns the complete messages; sets [`Self::is_closed`]
    /// when the peer has gone.
    pub fn read_available(&mut self) -> Result<Vec<Value>> {
        // Small: it is zeroed at every call, and a call mostly finds one short message.
        let mut chunk = [0u8; 8192];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.closed = true;
                    break;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    // A short read took all there was; more that comes later is polled
                    // for (a second read would mostly only say there is none).
                    if n < chunk.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.closed = true;
                    break;
                }
            }
        }
        let mut out = Vec::new();
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            let v = serde_json::from_slice(&line[..line.len() - 1])
                .map_err(|e| CkptError::Protocol(e.to_string()))?;
            out.push(v);
        }
        Ok(out)
    }

    /// Whether the peer has closed the connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The socket's file descriptor, for polling.
    pub fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}
