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

    #[test]
    fn other_escapes_pass_through() {
        let mut r = SyncReader::default();
        let red = b"\x1b[31mred\x1b[0m".to_vec();
        assert_eq!(r.feed(&red), vec![Piece::Bytes(red.clone())]);
    }
}
