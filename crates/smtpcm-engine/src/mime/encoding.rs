//! Body transfer encodings: the 7bit/quoted-printable/base64 choice for text, and line-wrapped
//! base64 whose length is a pure function of the input length (so sizes are known up front).
//!
//! The choice and the base64 lines come from `email-encoding`; what it lacks is here: the
//! exact encoded length (for SIZE and BDAT before a byte is read), CRLF normalisation, and
//! quoted-printable with hard line breaks kept.

use email_encoding::body::Encoding;

/// Characters of base64 per line (RFC 2045 §6.8 allows at most 76).
pub const BASE64_LINE_CHARS: usize = 76;
/// Raw bytes that encode to exactly one full base64 line.
pub const BASE64_LINE_BYTES: usize = BASE64_LINE_CHARS / 4 * 3;
/// Longest line RFC 5322 allows, without its CRLF.
pub const MAX_LINE_BYTES: usize = 998;

/// The number of bytes [`encode_base64_lines`] produces for `len` input bytes: 76-character
/// lines, every one (the last included) ended by CRLF.
///
/// ```
/// use smtpcm_engine::mime::encoding::base64_encoded_len;
/// assert_eq!(base64_encoded_len(0), 0);
/// assert_eq!(base64_encoded_len(1), 4 + 2);
/// assert_eq!(base64_encoded_len(57), 76 + 2);
/// assert_eq!(base64_encoded_len(58), 76 + 2 + 4 + 2);
/// ```
pub fn base64_encoded_len(len: u64) -> u64 {
    let chars = len.div_ceil(3) * 4;
    let lines = chars.div_ceil(BASE64_LINE_CHARS as u64);
    chars + 2 * lines
}

/// Appends `input` to `out` as base64 in 76-character CRLF-terminated lines.
///
/// Encoding a stream in pieces gives the same bytes as encoding it whole as long as every
/// piece but the last is a multiple of [`BASE64_LINE_BYTES`] long.
pub fn encode_base64_lines(input: &[u8], out: &mut Vec<u8>) {
    if input.is_empty() {
        return;
    }
    /// Appends straight to the output buffer: this runs per attachment chunk, so no
    /// intermediate String is allocated and copied.
    struct Append<'a>(&'a mut Vec<u8>);
    impl std::fmt::Write for Append<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }
    out.reserve(base64_encoded_len(input.len() as u64) as usize);
    // Appending to a Vec cannot fail.
    let _ = email_encoding::body::base64::encode(input, &mut Append(out));
    // email-encoding leaves the last line open; every line here ends with CRLF, so that
    // pieces encoded one after another join into the same bytes as the whole.
    out.extend_from_slice(b"\r\n");
}

/// Rewrites every line ending (`\r\n`, lone `\r` or lone `\n`) as CRLF.
pub fn normalize_crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut rest = text;
    // Line by line with a vectorised search (CR and LF are ASCII, so every cut falls on a
    // character boundary); char by char this was most of a small message's CPU time.
    while let Some(at) = memchr::memchr2(b'\r', b'\n', rest.as_bytes()) {
        out.push_str(&rest[..at]);
        out.push_str("\r\n");
        let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[at + skip..];
    }
    out.push_str(rest);
    out
}

/// How a text body is put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextEncoding {
    /// As is: ASCII, no control characters but tab, no line over 998 bytes.
    SevenBit,
    /// Mostly ASCII text with some exceptions: stays readable.
    QuotedPrintable,
    /// Mostly non-ASCII text: smaller than quoted-printable.
    Base64,
}

impl TextEncoding {
    /// The `Content-Transfer-Encoding` value.
    pub fn as_str(self) -> &'static str {
        match self {
            TextEncoding::SevenBit => "7bit",
            TextEncoding::QuotedPrintable => "quoted-printable",
            TextEncoding::Base64 => "base64",
        }
    }

    /// Picks the encoding for CRLF-normalised `text` (email-encoding's chooser, for a
    /// server without SMTPUTF8, so never 8bit).
    pub fn choose(text: &str) -> TextEncoding {
        match Encoding::choose(text, false) {
            // email-encoding counts every ASCII byte as 7bit-safe; RFC 5322 does not
            // allow NUL or other controls there, so such text is quoted instead.
            Encoding::SevenBit
                if text
                    .bytes()
                    .any(|b| b.is_ascii_control() && !matches!(b, b'\t' | b'\r' | b'\n')) =>
            {
                TextEncoding::QuotedPrintable
            }
            Encoding::SevenBit => TextEncoding::SevenBit,
            Encoding::QuotedPrintable | Encoding::EightBit => TextEncoding::QuotedPrintable,
            Encoding::Base64 => TextEncoding::Base64,
        }
    }

    /// Encodes CRLF-normalised `text`; the result ends with CRLF.
    pub fn encode(self, text: &str) -> Vec<u8> {
        let mut out = match self {
            TextEncoding::SevenBit => text.as_bytes().to_vec(),
            TextEncoding::QuotedPrintable => encode_quoted_printable(text).into_bytes(),
            TextEncoding::Base64 => {
                let mut out = Vec::new();
                encode_base64_lines(text.as_bytes(), &mut out);
                out
            }
        };
        if !out.is_empty() && !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

/// Quoted-printable (RFC 2045 §6.7) for CRLF-normalised text: line breaks stay hard breaks,
/// lines are soft-wrapped at 76 characters, trailing whitespace is encoded.
pub fn encode_quoted_printable(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len() * 11 / 10);
    for (i, line) in text.split("\r\n").enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let bytes = line.as_bytes();
        let mut column = 0;
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let literal =
                ((33..=126).contains(&b) && b != b'=') || (matches!(b, b' ' | b'\t') && !last);
            let token_len = if literal { 1 } else { 3 };
            // Room for the '=' of a soft break, unless this is the line's final token.
            let limit = if last { 76 } else { 75 };
            if column + token_len > limit {
                out.push_str("=\r\n");
                column = 0;
            }
            if literal {
                out.push(char::from(b));
            } else {
                out.push('=');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
            column += token_len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_normalisation() {
        assert_eq!(normalize_crlf("a\nb\r\nc\rd\r"), "a\r\nb\r\nc\r\nd\r\n");
    }

    #[test]
    fn quoted_printable_rules() {
        assert_eq!(
            encode_quoted_printable("a=b é \r\nx\t"),
            "a=3Db =C3=A9=20\r\nx=09"
        );
        let long = "x".repeat(200);
        let qp = encode_quoted_printable(&long);
        assert!(qp.split("\r\n").all(|l| l.len() <= 76), "{qp}");
        assert_eq!(qp.replace("=\r\n", ""), long);
    }

    #[test]
    fn choice() {
        assert_eq!(
            TextEncoding::choose("plain\r\ntext"),
            TextEncoding::SevenBit
        );
        assert_eq!(
            TextEncoding::choose("Grüße aus dem Lager: die Ladung ist fertig."),
            TextEncoding::QuotedPrintable
        );
        assert_eq!(
            TextEncoding::choose("日本語のテキスト"),
            TextEncoding::Base64
        );
        assert_eq!(
            TextEncoding::choose(&"a".repeat(999)),
            TextEncoding::QuotedPrintable
        );
        assert_eq!(
            TextEncoding::choose("bell \u{7} and nul \0"),
            TextEncoding::QuotedPrintable
        );
    }

    #[test]
    fn base64_length_matches_encoding() {
        for len in [0, 1, 2, 3, 56, 57, 58, 113, 114, 115, 1000] {
            let mut out = Vec::new();
            encode_base64_lines(&vec![7u8; len], &mut out);
            assert_eq!(
                out.len() as u64,
                base64_encoded_len(len as u64),
                "len {len}"
            );
        }
    }
}
