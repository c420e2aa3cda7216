//! DATA content decoding: finds the terminating `CRLF.CRLF` and removes dot-stuffing, for
//! input that arrives in arbitrary pieces.

use smtp_proto::request::receiver::DataReceiver;

/// Wraps smtp-proto's [`DataReceiver`] so that every byte handed out is final.
///
/// The receiver can take back the last byte it produced (the CR before the terminating LF),
/// so one byte is held back until the next piece shows whether it stays.
pub(crate) struct DotDecoder {
    receiver: DataReceiver,
    scratch: Vec<u8>,
    held: Option<u8>,
}

impl DotDecoder {
    pub(crate) fn new() -> Self {
        let mut receiver = DataReceiver::new();
        // The receiver only recognises a dot after a CRLF it has seen, so the first line (an
        // empty message, or a stuffed leading dot) would be missed without a virtual CRLF.
        receiver.ingest(&mut b"\r\n".iter(), &mut Vec::new());
        Self {
            receiver,
            scratch: Vec::new(),
            held: None,
        }
    }

    /// Decodes a prefix of `input`, appending final content to `out`. Returns how many bytes
    /// were consumed and whether the terminator was reached (input after it is not consumed).
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
        self.scratch.clear();
        self.scratch.extend(self.held.take());
        let mut bytes = input.iter();
        let done = self.receiver.ingest(&mut bytes, &mut self.scratch);
        let consumed = input.len() - bytes.len();
        if !done {
            self.held = self.scratch.pop();
        }
        out.extend_from_slice(&self.scratch);
        (consumed, done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(wire: &[u8], piece: usize) -> (Vec<u8>, usize) {
        let mut decoder = DotDecoder::new();
        let mut out = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let end = (at + piece).min(wire.len());
            let (consumed, done) = decoder.decode(&wire[at..end], &mut out);
            at += consumed;
            if done {
                return (out, at);
            }
        }
        panic!("no terminator found in {wire:?}");
    }

    #[test]
    fn every_piece_size_gives_the_same_unstuffed_content() {
        let wire = b"..first\r\nmid\r\n...two\r\n..\r\nlast\r\n.\r\nQUIT\r\n";
        let content = b".first\r\nmid\r\n..two\r\n.\r\nlast\r\n";
        for piece in 1..=wire.len() {
            let (out, consumed) = decode_in_pieces(wire, piece);
            assert_eq!(out, content, "piece size {piece}");
            assert_eq!(&wire[consumed..], b"QUIT\r\n", "piece size {piece}");
        }
    }

    #[test]
    fn empty_message_ends_at_once() {
        for piece in 1..=3 {
            assert_eq!(decode_in_pieces(b".\r\n", piece), (Vec::new(), 3));
        }
    }

    #[test]
    fn bare_line_feeds_do_not_end_the_message() {
        // "\n.\n" is the SMTP-smuggling pattern; only CRLF.CRLF ends DATA.
        let (out, _) = decode_in_pieces(b"a\n.\nb\r\n.\r\n", 1);
        assert_eq!(out, b"a\n.\nb\r\n");
    }
}
