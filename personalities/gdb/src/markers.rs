//! fred's markers in gdb's output: `ESC ] 7779;fred-KIND;JSON BEL`.
//!
//! The agent writes them for its replies and inside gdb's prompt; everything else on the
//! pty is gdb's and the program's text, passed on as it comes.

const START: &[u8] = b"\x1b]7779;fred-";

/// A piece of the pty stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Text gdb or the program wrote.
    Text(Vec<u8>),
    /// A marker: its kind (`prompt`, `reply`) and JSON payload.
    Marker(String, String),
}

/// Splits the pty stream into text and markers, keeping a marker cut by a read.
#[derive(Debug, Default)]
pub struct MarkerReader {
    carry: Vec<u8>,
}

impl MarkerReader {
    /// Feeds bytes read from the pty; returns the pieces in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Piece> {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(bytes);
        let mut pieces = Vec::new();
        let mut text = Vec::new();
        let mut i = 0;
        while i < data.len() {
            if data[i] == 0x1b {
                let rest = &data[i..];
                let n = rest.len().min(START.len());
                if rest[..n] == START[..n] {
                    match rest.iter().position(|&b| b == 0x07) {
                        Some(end) if rest.len() > START.len() => {
                            let body = String::from_utf8_lossy(&rest[START.len()..end]);
                            let (kind, payload) = body.split_once(';').unwrap_or((&body, ""));
                            if !text.is_empty() {
                                pieces.push(Piece::Text(std::mem::take(&mut text)));
                            }
                            pieces.push(Piece::Marker(kind.to_string(), payload.to_string()));
                            i += end + 1;
                            continue;
                        }
                        _ => {
                            self.carry = rest.to_vec();
                            break;
                        }
                    }
                }
            }
            text.push(data[i]);
            i += 1;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_split_from_text_even_across_reads() {
        let mut r = MarkerReader::default();
        let a = r.feed(b"hello\n\x1b]7779;fred-rep");
        assert_eq!(a, vec![Piece::Text(b"hello\n".to_vec())]);
        let b = r.feed(b"ly;{\"a\": 1}\x07(gdb) ");
        assert_eq!(
            b,
            vec![
                Piece::Marker("reply".into(), "{\"a\": 1}".into()),
                Piece::Text(b"(gdb) ".to_vec())
            ]
        );
    }

    #[test]
    fn other_escape_sequences_are_text() {
        let mut r = MarkerReader::default();
        let a = r.feed(b"\x1b[1mbold\x1b[0m");
        assert_eq!(a, vec![Piece::Text(b"\x1b[1mbold\x1b[0m".to_vec())]);
    }
}
