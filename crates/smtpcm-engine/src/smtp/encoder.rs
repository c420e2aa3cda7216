//! Sans-IO message data encoding: CRLF normalisation and dot-stuffing.
//!
//! SMTP lines end in CRLF, and in DATA a line starting with `.` must have the dot
//! doubled (RFC 5321 §4.5.2) so it is not taken for the end of the message.
//! BDAT needs the line endings but no stuffing. The encoder keeps its state
//! between calls, so a CR at the end of one write and an LF at the start of the
//! next still make one line break.

/// Turns message bytes into what goes on the wire after `DATA` (or in BDAT chunks).
///
/// ```
/// use smtpcm_engine::smtp::DataEncoder;
/// let mut enc = DataEncoder::dot_stuffing();
/// let mut out = Vec::new();
/// enc.encode(b"Hi\n.hidden\rend", &mut out);
/// enc.finish(&mut out);
/// assert_eq!(out, b"Hi\r\n..hidden\r\nend\r\n.\r\n");
/// assert_eq!(enc.message_bytes(), 18);
/// ```
#[derive(Debug, Clone)]
pub struct DataEncoder {
    stuff: bool,
    at_line_start: bool,
    after_cr: bool,
    message_bytes: u64,
}

impl DataEncoder {
    /// For `DATA`: normalise line endings, double leading dots, end with `CRLF.CRLF`.
    pub fn dot_stuffing() -> Self {
        Self::with_stuffing(true)
    }

    /// For `BDAT`: normalise line endings only.
    pub fn line_endings_only() -> Self {
        Self::with_stuffing(false)
    }

    fn with_stuffing(stuff: bool) -> Self {
        DataEncoder {
            stuff,
            at_line_start: true,
            after_cr: false,
            message_bytes: 0,
        }
    }

    /// Appends the encoding of `input` to `out`. Bare CR, bare LF and CRLF all become CRLF.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 32);
        let mut i = 0;
        while i < input.len() {
            if std::mem::take(&mut self.after_cr) && input[i] == b'\n' {
                // The CR before this LF already produced the CRLF.
                i += 1;
                continue;
            }
            if self.at_line_start && self.stuff && input[i] == b'.' {
                out.push(b'.');
            }
            // The rest of the line, found with a vectorised search: text that is already
            // CRLF-terminated costs a copy per line, not a branch per byte.
            let rest = &input[i..];
            let run = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
            out.extend_from_slice(&rest[..run]);
            self.message_bytes += run as u64;
            if run > 0 {
                self.at_line_start = false;
            }
            i += run;
            let Some(&end) = input.get(i) else { break };
            out.extend_from_slice(b"\r\n");
            self.message_bytes += 2;
            self.at_line_start = true;
            i += 1;
            if end == b'\r' {
                match input.get(i) {
                    Some(b'\n') => i += 1,
                    Some(_) => {}
                    // A CR at the end of this input: an LF starting the next is part of it.
                    None => self.after_cr = true,
                }
            }
        }
    }

    /// Ends the message: a final CRLF if the last line lacks one, then `.CRLF` when dot-stuffing.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
            self.message_bytes += 2;
            self.at_line_start = true;
        }
        if self.stuff {
            out.extend_from_slice(b".\r\n");
        }
    }

    /// Message bytes produced so far, counting normalised line endings but not stuffed dots
    /// or the terminator: the size the server will store.
    pub fn message_bytes(&self) -> u64 {
        self.message_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_in_pieces(pieces: &[&[u8]], stuff: bool) -> Vec<u8> {
        let mut enc = if stuff {
            DataEncoder::dot_stuffing()
        } else {
            DataEncoder::line_endings_only()
        };
        let mut out = Vec::new();
        for p in pieces {
            enc.encode(p, &mut out);
        }
        enc.finish(&mut out);
        out
    }

    #[test]
    fn crlf_split_across_writes_is_one_line_break() {
        assert_eq!(
            encode_in_pieces(&[b"a\r", b"\nb"], true),
            b"a\r\nb\r\n.\r\n"
        );
    }

    #[test]
    fn dot_at_start_of_a_later_write_is_stuffed() {
        assert_eq!(
            encode_in_pieces(&[b"a\n", b".\n"], true),
            b"a\r\n..\r\n.\r\n"
        );
        assert_eq!(encode_in_pieces(&[b".", b"."], true), b"...\r\n.\r\n");
    }

    #[test]
    fn empty_message_is_just_the_terminator() {
        assert_eq!(encode_in_pieces(&[], true), b".\r\n");
        assert_eq!(encode_in_pieces(&[], false), b"");
    }

    #[test]
    fn bdat_keeps_dots() {
        assert_eq!(encode_in_pieces(&[b".x\n.\n"], false), b".x\r\n.\r\n");
    }

    #[test]
    fn every_line_ending_in_any_split_matches_the_whole() {
        let input: &[u8] = b".a\r\n.b\rc\n\r\n..d\r\r\n.\n\ne\r";
        let whole = encode_in_pieces(&[input], true);
        assert_eq!(
            whole,
            b"..a\r\n..b\r\nc\r\n\r\n...d\r\n\r\n..\r\n\r\ne\r\n.\r\n"
        );
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(encode_in_pieces(&[a, b], true), whole, "cut at {cut}");
        }
    }

    #[test]
    fn cr_cr_lf_is_two_line_breaks() {
        assert_eq!(encode_in_pieces(&[b"a\r\r\nb"], false), b"a\r\n\r\nb\r\n");
    }
}
