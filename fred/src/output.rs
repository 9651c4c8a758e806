//! Where command output goes: straight to the terminal, or into a buffer for JSON.

use std::io::Write;

use fred_personality::Output;

/// Writes program and debugger output to stdout as it comes.
#[derive(Debug, Default)]
pub struct Terminal;

impl Output for Terminal {
    fn program(&mut self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    fn debugger(&mut self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// Collects program and debugger output, in order, as text.
#[derive(Debug, Default)]
pub struct Capture {
    /// Everything printed so far.
    pub text: String,
}

impl Output for Capture {
    fn program(&mut self, bytes: &[u8]) {
        self.text.push_str(&String::from_utf8_lossy(bytes));
    }

    fn debugger(&mut self, text: &str) {
        self.text.push_str(text);
    }
}

/// Writes to stderr (for output that must stay off a JSON stdout).
#[derive(Debug, Default)]
pub struct Stderr;

impl Output for Stderr {
    fn program(&mut self, bytes: &[u8]) {
        let _ = std::io::stderr().write_all(bytes);
    }

    fn debugger(&mut self, text: &str) {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}
