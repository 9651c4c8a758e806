//! Sync markers in the program's terminal output.
//!
//! The agent writes `ESC ] 7779;fred-sync;N BEL` to the pty before it reports a stop, so
//! fred knows that every byte before the marker was written before the stop. That keeps
//! program output and pdb output in order, and tells replayed output from new output.

const START: &[u8] = b"\x1b]7779;fred-sync;";

/// A piece of the pty stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Bytes the program wrote.
    Bytes(Vec<u8>),
    /// A sync marker.
    Marker(u64),
}

/// Splits the pty stream into program bytes and sync markers.
#[derive(Debug, Default)]
pub struct SyncReader {
    carry: Vec<u8>,
    /// The highest marker seen so far.
    pub last: u64,
}

impl SyncReader {
    /// Feeds bytes read from the pty; returns the pieces, in order. A marker cut in two by
    /// a read is kept until the rest arrives.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Piece> {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(bytes);
        let mut pieces = Vec::new();
        let mut out = Vec::with_capacity(data.len());
        let mut i = 0;
        while i < data.len() {
            if data[i] == 0x1b {
                let rest = &data[i..];
                let n = rest.len().min(START.len());
                if rest[..n] == START[..n] {
                    if rest.len() <= START.len() {
                        self.carry = rest.to_vec();
                        break;
                    }
                    match rest.iter().position(|&b| b == 0x07) {
                        Some(end) => {
                            let num = std::str::from_utf8(&rest[START.len()..end])
                                .ok()
                                .and_then(|s| s.parse().ok());
                            if let Some(num) = num {
                                self.last = self.last.max(num);
                                if !out.is_empty() {
                                    pieces.push(Piece::Bytes(std::mem::take(&mut out)));
                                }
                                pieces.push(Piece::Marker(num));
                            }
                            i += end + 1;
                            continue;
                        }
                        None if rest.len() < START.len() + 24 => {
                            self.carry = rest.to_vec();
                            break;
                        }
                        None => {}
                    }
                }
            }
            out.push(data[i]);
            i += 1;
        }
        if !out.is_empty() {
            pieces.push(Piece::Bytes(out));
        }
        pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_removed_even_when_split() {
        let mut r = SyncReader::default();
        let a = r.feed(b"hello\n\x1b]7779;fred-");
        assert_eq!(a, vec![Piece::Bytes(b"hello\n".to_vec())]);
        assert_eq!(r.last, 0);
        let b = r.feed(b"sync;12\x07world");
        assert_eq!(b, vec![Piece::Marker(12), Piece::Bytes(b"world".to_vec())]);
        assert_eq!(r.last, 12);
    }

    use proptest::prelude::*;

    proptest! {
        // The program's bytes (anything, escapes included) with markers among them: however
        // the reads cut the stream, the same bytes and markers come out, in order.
        #[test]
        fn reads_cut_anywhere_give_the_same_bytes_and_markers(
            parts in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 1..30).prop_map(Ok),
                    (1u64..1_000_000).prop_map(Err),
                ],
                0..12,
            ),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut bytes = Vec::new();
            let mut want_markers = Vec::new();
            for p in &parts {
                match p {
                    Ok(b) => bytes.extend_from_slice(b),
                    Err(n) => {
                        bytes.extend_from_slice(format!("\x1b]7779;fred-sync;{n}\x07").as_bytes());
                        want_markers.push(*n);
                    }
                }
            }
            let mut whole = SyncReader::default();
            let expected = flatten(whole.feed(&bytes));
            let mut r = SyncReader::default();
            let mut got = Vec::new();
            let mut at = 0;
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort();
            for c in cuts.into_iter().chain([bytes.len()]) {
                got.extend(r.feed(&bytes[at..c]));
                at = c;
            }
            got.extend(r.feed(b""));
            let got = flatten(got);
            prop_assert_eq!(&got, &expected);
            let markers: Vec<u64> = got.iter().filter_map(|p| match p { Piece::Marker(n) => Some(*n), _ => None }).collect();
            // Program bytes that happen to begin like a marker may swallow one; never invent one.
            prop_assert!(markers.iter().all(|m| want_markers.contains(m)));
        }
    }

    /// Joins adjacent byte pieces, since reads may cut the program's bytes anywhere.
    fn flatten(pieces: Vec<Piece>) -> Vec<Piece> {
        let mut out: Vec<Piece> = Vec::new();
        for p in pieces {
            match (out.last_mut(), p) {
                (Some(Piece::Bytes(a)), Piece::Bytes(b)) => a.extend(b),
                (_, p) => out.push(p),
            }
        }
        out
    }

    #[test]
    fn other_escapes_pass_through() {
        let mut r = SyncReader::default();
        let red = b"\x1b[31mred\x1b[0m".to_vec();
        assert_eq!(r.feed(&red), vec![Piece::Bytes(red.clone())]);
    }
}
