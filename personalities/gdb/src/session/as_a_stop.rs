//! Where a reverse command lands in another frame, fred shows it with gdb's `frame`, which
//! puts the frame's level before it (`#0  main () at demo.c:27`); gdb's own stops, its
//! `reverse-step` among them, say `main () at demo.c:27`.

use fred_personality::Output;

/// Passes gdb's output on without the level that begins it.
pub(super) struct AsAStop<'a> {
    out: &'a mut dyn Output,
    /// The start, held until it is long enough to tell (gdb writes a line in pieces).
    start: Option<String>,
}

const LEVEL: &str = "#0  ";

impl<'a> AsAStop<'a> {
    pub(super) fn new(out: &'a mut dyn Output) -> Self {
        AsAStop {
            out,
            start: Some(String::new()),
        }
    }

    fn pass_start(&mut self) {
        if let Some(start) = self.start.take() {
            let text = start.strip_prefix(LEVEL).unwrap_or(&start);
            if !text.is_empty() {
                self.out.debugger(text);
            }
        }
    }
}

impl Output for AsAStop<'_> {
    fn program(&mut self, bytes: &[u8]) {
        self.out.program(bytes);
    }

    fn debugger(&mut self, text: &str) {
        match &mut self.start {
            Some(start) => {
                start.push_str(text);
                if start.len() >= LEVEL.len() || start.contains('\n') {
                    self.pass_start();
                }
            }
            None => self.out.debugger(text),
        }
    }

    fn debugger_error(&mut self, message: &str) {
        self.pass_start();
        self.out.debugger_error(message);
    }
}

impl Drop for AsAStop<'_> {
    fn drop(&mut self) {
        self.pass_start();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Text(String);

    impl Output for Text {
        fn program(&mut self, _: &[u8]) {}
        fn debugger(&mut self, text: &str) {
            self.0.push_str(text);
        }
    }

    fn shown(pieces: &[&str]) -> String {
        let mut text = Text::default();
        {
            let mut out = AsAStop::new(&mut text);
            for p in pieces {
                out.debugger(p);
            }
        }
        text.0
    }

    #[test]
    fn the_level_goes_however_gdb_cut_the_line() {
        let line = "main () at demo.c:27\n27\t    strcpy();\n";
        assert_eq!(shown(&["#0  ", line]), line);
        assert_eq!(
            shown(&["#", "0", "  main () at demo.c:27\n27\t    strcpy();\n"]),
            line
        );
        assert_eq!(
            shown(&["#0  main () at demo.c:27\n", "27\t    strcpy();\n"]),
            line
        );
    }

    #[test]
    fn other_text_and_short_text_pass_unchanged() {
        assert_eq!(shown(&["27\t    strcpy();\n"]), "27\t    strcpy();\n");
        assert_eq!(shown(&["2\n"]), "2\n");
        assert_eq!(shown(&["#1"]), "#1");
        assert_eq!(shown(&["ab", "#0  c"]), "ab#0  c");
    }
}
