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
                // A marker's JSON has no raw newline: one before the BEL means this is text
                // that only looks like the start of a marker (gdb printing such a string).
                let end = rest.iter().position(|&b| b == 0x07 || b == b'\n');
                if rest[..n] == START[..n] && end.is_none_or(|e| rest[e] == 0x07) {
                    match end {
                        Some(end) if rest.len() > START.len() && end >= START.len() => {
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

    use proptest::prelude::*;

    /// A stream of text and markers, and the bytes gdb's pty would carry for it.
    fn stream() -> impl Strategy<Value = (Vec<Piece>, Vec<u8>)> {
        let text =
            proptest::collection::vec(any::<u8>().prop_filter("no ESC", |b| *b != 0x1b), 1..40)
                .prop_map(Piece::Text);
        let marker = ("[a-z]{1,8}", "[ -~]{0,60}").prop_map(|(k, p)| Piece::Marker(k, p));
        proptest::collection::vec(prop_oneof![text, marker], 0..12).prop_map(|pieces| {
            let mut bytes = Vec::new();
            for p in &pieces {
                match p {
                    Piece::Text(t) => bytes.extend_from_slice(t),
                    Piece::Marker(k, p) => {
                        bytes.extend_from_slice(START);
                        bytes.extend_from_slice(format!("{k};{p}\x07").as_bytes());
                    }
                }
            }
            (pieces, bytes)
        })
    }

    /// Joins adjacent text pieces, since reads may cut text anywhere.
    fn merged(pieces: Vec<Piece>) -> Vec<Piece> {
        let mut out: Vec<Piece> = Vec::new();
        for p in pieces {
            match (out.last_mut(), p) {
                (Some(Piece::Text(a)), Piece::Text(b)) => a.extend(b),
                (_, p) => out.push(p),
            }
        }
        out
    }

    proptest! {
        // However the pty's reads cut the stream, the same text and markers come out.
        #[test]
        fn reads_cut_anywhere_give_the_same_pieces((pieces, bytes) in stream(), cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
            let mut r = MarkerReader::default();
            let mut got = Vec::new();
            let mut at = 0;
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort();
            for c in cuts.into_iter().chain([bytes.len()]) {
                got.extend(r.feed(&bytes[at..c]));
                at = c;
            }
            prop_assert_eq!(merged(got), merged(pieces));
        }

        // Any bytes at all: no panic, and no byte held back once a newline has followed.
        #[test]
        fn arbitrary_bytes_are_never_lost_behind_a_newline(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut r = MarkerReader::default();
            let mut input = bytes.clone();
            input.extend_from_slice(b"\n");
            let out = r.feed(&input);
            let text: usize = out.iter().map(|p| match p { Piece::Text(t) => t.len(), _ => 0 }).sum();
            prop_assert!(text > 0 || out.iter().any(|p| matches!(p, Piece::Marker(..))));
            prop_assert!(r.carry.is_empty() || !r.carry.contains(&b'\n'));
        }
    }

    #[test]
    fn text_that_looks_like_a_marker_but_ends_its_line_is_text() {
        let mut r = MarkerReader::default();
        let a = r.feed(b"$1 = \"\x1b]7779;fred-x\"\n(gdb) ");
        assert_eq!(
            merged(a),
            vec![Piece::Text(b"$1 = \"\x1b]7779;fred-x\"\n(gdb) ".to_vec())]
        );
    }

    #[test]
    fn other_escape_sequences_are_text() {
        let mut r = MarkerReader::default();
        let a = r.feed(b"\x1b[1mbold\x1b[0m");
        assert_eq!(a, vec![Piece::Text(b"\x1b[1mbold\x1b[0m".to_vec())]);
    }
}
