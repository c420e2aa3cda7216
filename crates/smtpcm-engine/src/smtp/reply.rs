//! Server replies, and a sans-IO decoder that turns received bytes into them.
//!
//! The decoder does no I/O: the client pushes whatever bytes the socket gave it and
//! pops complete replies. Parsing each line is smtp-proto's `ResponseReceiver`;
//! the decoder keeps the bytes it has not yet consumed, so that pipelined replies
//! are matched in order and bytes arriving one at a time are handled the same way
//! as a whole reply.

use std::fmt;

use smtp_proto::response::parser::ResponseReceiver;

/// One complete SMTP reply: a code, an optional RFC 3463 enhanced status code, and text lines.
///
/// ```
/// use smtpcm_engine::smtp::Reply;
/// let r = Reply::new(250, Some((2, 1, 5)), vec!["Ok".into()]);
/// assert_eq!(r.to_string(), "250 2.1.5 Ok");
/// assert!(r.is_positive());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// The enhanced status code (class, subject, detail), when the server sent one.
    pub enhanced: Option<(u8, u16, u16)>,
    /// The text of each line, without code, separator, enhanced code or CRLF.
    pub lines: Vec<String>,
}

impl Reply {
    /// A reply from its parts.
    pub fn new(code: u16, enhanced: Option<(u8, u16, u16)>, lines: Vec<String>) -> Self {
        Reply {
            code,
            enhanced,
            lines,
        }
    }

    /// The text of all lines joined by a space.
    pub fn message(&self) -> String {
        self.lines.join(" ")
    }

    /// `2xx`.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// `3xx` (`354` to DATA, `334` to AUTH).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// `4xx`: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// `5xx`: do not retry unchanged.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some((class, subject, detail)) = self.enhanced {
            write!(f, " {class}.{subject}.{detail}")?;
        }
        let message = self.message();
        if !message.is_empty() {
            write!(f, " {}", escape_controls(&message))?;
        }
        Ok(())
    }
}

/// `text` with control characters escaped (`\u{1b}`), so that a server's reply never puts
/// a raw ESC, BEL or NUL on a user's terminal through an error, a report or the transcript.
///
/// ```
/// use smtpcm_engine::smtp::reply::escape_controls;
/// assert_eq!(escape_controls("ok \u{1b}[2J\u{7}"), "ok \\u{1b}[2J\\u{7}");
/// assert_eq!(escape_controls("plain"), "plain");
/// ```
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The server sent something that is not an SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed reply from server: {reason}")]
pub struct MalformedReply {
    /// What was wrong.
    pub reason: String,
}

/// Incremental reply decoder: push bytes in, pop complete replies out.
///
/// ```
/// use smtpcm_engine::smtp::ReplyDecoder;
/// let mut d = ReplyDecoder::default();
/// d.push(b"250-first\r\n250 sec");
/// assert!(d.next_reply().unwrap().is_none());
/// d.push(b"ond\r\n");
/// let r = d.next_reply().unwrap().unwrap();
/// assert_eq!(r.lines, ["first", "second"]);
/// ```
#[derive(Default)]
pub struct ReplyDecoder {
    receiver: ResponseReceiver,
    pending: Vec<u8>,
    /// Where the unconsumed bytes of `pending` start: replies are taken off the front
    /// without moving the rest, which a window of pipelined replies would make quadratic.
    start: usize,
}

impl ReplyDecoder {
    /// Adds bytes received from the server.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        self.pending.extend_from_slice(bytes);
    }

    /// Whether bytes beyond the last complete reply are waiting (used to refuse
    /// plaintext injected after the `220` to STARTTLS).
    pub fn has_buffered(&self) -> bool {
        self.start < self.pending.len()
    }

    /// Drops everything buffered and any partial reply.
    pub fn clear(&mut self) {
        self.pending.clear();
        self.start = 0;
        self.receiver.reset();
    }

    /// The next complete reply, `Ok(None)` if more bytes are needed.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, MalformedReply> {
        if self.start >= self.pending.len() {
            return Ok(None);
        }
        let mut iter = self.pending[self.start..].iter();
        let result = self.receiver.parse(&mut iter);
        self.start = self.pending.len() - iter.as_slice().len();
        if self.start == self.pending.len() {
            self.pending.clear();
            self.start = 0;
        }
        match result {
            Ok(response) => {
                self.receiver.reset();
                Ok(Some(to_reply(response)))
            }
            Err(smtp_proto::Error::NeedsMoreData { .. }) => Ok(None),
            Err(e) => {
                self.clear();
                Err(MalformedReply {
                    reason: match e {
                        smtp_proto::Error::ResponseTooLong => {
                            "reply longer than 4096 bytes".to_string()
                        }
                        smtp_proto::Error::SyntaxError { syntax } => syntax.to_string(),
                        other => format!("{other:?}"),
                    },
                })
            }
        }
    }
}

fn to_reply(response: smtp_proto::Response<String>) -> Reply {
    let [class, subject, detail] = response.esc;
    // smtp-proto reports "no enhanced code" as zeros; RFC 3463 classes are only 2, 4 and 5.
    let enhanced = matches!(class, 2 | 4 | 5).then_some((class, subject as u16, detail as u16));
    // A one-line reply (nearly all of them) keeps its string: no second allocation.
    let lines = if response.message.contains(['\n', '\r']) {
        response
            .message
            .split('\n')
            .map(|line| line.trim_end_matches('\r').to_string())
            .collect()
    } else {
        vec![response.message]
    };
    Reply {
        code: response.code,
        enhanced,
        lines,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn display_escapes_control_characters_from_the_server() {
        let reply = super::Reply::new(550, None, vec!["no \u{1b}[2J\u{7}\0 way".into()]);
        let shown = reply.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(shown, "550 no \\u{1b}[2J\\u{7}\\u{0} way");
    }
    use super::*;
    use proptest::prelude::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<Reply> {
        let mut d = ReplyDecoder::default();
        let mut out = Vec::new();
        for chunk in chunks {
            d.push(chunk);
            while let Some(r) = d.next_reply().unwrap() {
                out.push(r);
            }
        }
        out
    }

    #[test]
    fn single_line_with_enhanced_code() {
        let r = decode_all(&[b"550 5.1.1 <bob@x>: Recipient address rejected\r\n"]);
        assert_eq!(
            r,
            [Reply::new(
                550,
                Some((5, 1, 1)),
                vec!["<bob@x>: Recipient address rejected".into()]
            )]
        );
    }

    #[test]
    fn multi_line_keeps_each_line() {
        let r = decode_all(&[b"250-mx.test greets you\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].code, 250);
        assert_eq!(
            r[0].lines,
            ["mx.test greets you", "PIPELINING", "SIZE 1000"]
        );
        assert_eq!(r[0].enhanced, None);
    }

    #[test]
    fn pipelined_replies_come_out_in_order() {
        let r = decode_all(&[b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 no\r\n354 go ahead\r\n"]);
        let codes: Vec<u16> = r.iter().map(|r| r.code).collect();
        assert_eq!(codes, [250, 250, 550, 354]);
        assert_eq!(r[2].enhanced, Some((5, 1, 1)));
    }

    #[test]
    fn leftover_bytes_are_reported() {
        let mut d = ReplyDecoder::default();
        d.push(b"220 go ahead\r\n250 injected\r\n");
        assert_eq!(d.next_reply().unwrap().unwrap().code, 220);
        assert!(d.has_buffered());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut d = ReplyDecoder::default();
        d.push(b"HTTP/1.1 400 Bad Request\r\n");
        assert!(d.next_reply().is_err());
    }

    #[test]
    fn overlong_reply_is_refused() {
        let mut d = ReplyDecoder::default();
        let mut line = b"250 ".to_vec();
        line.extend(std::iter::repeat_n(b'a', 5000));
        line.extend_from_slice(b"\r\n");
        d.push(&line);
        assert!(d.next_reply().is_err());
    }

    #[test]
    fn numeric_challenge_text_is_kept() {
        // A 334 challenge whose base64 starts with digits must not lose them.
        let r = decode_all(&[b"334 12ab\r\n"]);
        assert_eq!(r[0].lines, ["12ab"]);
    }

    proptest! {
        /// However the bytes are split, the replies are the same.
        #[test]
        fn splitting_does_not_change_the_result(cuts in proptest::collection::vec(0usize..120, 0..12)) {
            let wire: &[u8] = b"250-mx.test\r\n250-8BITMIME\r\n250 2.0.0 SIZE 10\r\n451 4.3.0 try later\r\n334 \r\n";
            let whole = decode_all(&[wire]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % wire.len()).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for c in cuts {
                chunks.push(&wire[start..c.max(start)]);
                start = c.max(start);
            }
            chunks.push(&wire[start..]);
            prop_assert_eq!(decode_all(&chunks), whole);
        }
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let wire: &[u8] =
            b"250-mx.test\r\n250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8\r\n550 5.7.1 denied\r\n";
        let chunks: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(decode_all(&chunks), decode_all(&[wire]));
        assert_eq!(decode_all(&chunks).len(), 2);
    }
}
