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
        let mut i = 0;
        while let Some(&b) = input.get(i) {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                // The CR before this LF already produced the CRLF.
                i += 1;
                continue;
            }
            if b == b'\r' || b == b'\n' {
                out.extend_from_slice(b"\r\n");
                self.message_bytes += 2;
                self.at_line_start = true;
                self.after_cr = b == b'\r';
                i += 1;
                continue;
            }
            if self.at_line_start && b == b'.' && self.stuff {
                out.push(b'.');
            }
            let rest = &input[i..];
            let run = rest
                .iter()
                .position(|&c| c == b'\r' || c == b'\n')
                .unwrap_or(rest.len());
            out.extend_from_slice(&rest[..run]);
            self.message_bytes += run as u64;
            self.at_line_start = false;
            i += run;
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
    fn cr_cr_lf_is_two_line_breaks() {
        assert_eq!(encode_in_pieces(&[b"a\r\r\nb"], false), b"a\r\n\r\nb\r\n");
    }
}
