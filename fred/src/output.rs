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
    /// The last error the debugger reported, if any.
    pub error: Option<String>,
}

impl Output for Capture {
    fn program(&mut self, bytes: &[u8]) {
        self.text.push_str(&String::from_utf8_lossy(bytes));
    }

    fn debugger(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn debugger_error(&mut self, message: &str) {
        self.error = Some(message.to_string());
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

/// A spinner on stderr for a search that takes a while: it appears only after half a
/// second, says what is being done and for how long, and is cleared when dropped.
pub struct Progress {
    bar: indicatif::ProgressBar,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Progress {
    /// Starts the (still invisible) spinner with a message.
    pub fn start(message: String) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden());
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed}, Ctrl-C cancels)")
        {
            bar.set_style(style);
        }
        bar.set_message(message);
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let (b, d) = (bar.clone(), done.clone());
        if std::env::var_os("TERM").is_some_and(|t| t == "dumb") {
            // A terminal that cannot redraw a line would show every frame.
            return Progress { bar, done };
        }
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            if !d.load(Ordering::SeqCst) {
                b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                b.enable_steady_tick(std::time::Duration::from_millis(120));
            }
        });
        Progress { bar, done }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        self.bar.finish_and_clear();
    }
}
