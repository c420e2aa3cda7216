//! The streaming message writer.
//!
//! [`Message`] holds what the Send Mail task knows; [`Message::prepare`] validates it, fixes
//! the boundaries, `Message-ID` and `Date`, renders headers and text parts, and `stat`s the
//! attachments. The resulting [`PreparedMessage`] knows its exact size before a byte is
//! sent (base64 length is a pure function of file length), which SMTP `SIZE` and `BDAT` need,
//! and [`PreparedMessage::write_to`] streams attachments from disk in fixed-size chunks, so
//! no attachment is ever held whole in memory.
//!
//! Layout: text only is a single `text/plain` part; text and HTML make a
//! `multipart/alternative`; attachments wrap either in a `multipart/mixed`. Bodies are always
//! 7-bit on the wire (quoted-printable or base64 when needed), so 8BITMIME is only needed when
//! an address itself is UTF-8.
//!
//! ```
//! use smtpcm_engine::address::Mailbox;
//! use smtpcm_engine::mime::Message;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let message = Message {
//!     from: Some(Mailbox::parse("ETL <etl@example.com>").unwrap()),
//!     to: vec![Mailbox::parse("ops@example.com").unwrap()],
//!     subject: "Nightly load finished".into(),
//!     text_body: Some("All 42 tables loaded.\n".into()),
//!     ..Default::default()
//! };
//! let prepared = message.prepare().unwrap();
//! let mut out = Vec::new();
//! let written = prepared.write_to(&mut out).await.unwrap();
//! assert_eq!(written, prepared.size());
//! assert_eq!(out.len() as u64, prepared.size());
//! let text = String::from_utf8(out).unwrap();
//! assert!(text.contains("\r\nSubject: Nightly load finished\r\n"));
//! assert!(text.ends_with("\r\n\r\nAll 42 tables loaded.\r\n"));
//! # });
//! ```

mod body_file;
pub mod encoding;
mod header;
mod html;
mod parts;
mod related;
mod renew;
mod unique;

pub use body_file::{BodyFile, INLINE_BODY_MAX, MAX_UNSIZED_BODY};
pub use html::DEFAULT_MAX_HTML_BYTES;
pub use related::InlinePart;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::address::{AddressError, Mailbox};
use encoding::{
    BASE64_LINE_BYTES, TextEncoding, base64_encoded_len, encode_base64_lines, normalize_crlf,
};
use header::{Headers, check_value};
use parts::{Body, BodyPart, attachment_part, render_body, stream_file};

/// Raw bytes read from an attachment per step: a whole number of base64 lines (57 bytes each),
/// so that chunked encoding equals whole-file encoding.
pub const ATTACHMENT_CHUNK_BYTES: usize = BASE64_LINE_BYTES * 1024;

/// SSIS `MailPriority`: High=1, Normal=3, Low=5.
///
/// ```
/// use smtpcm_engine::mime::Priority;
/// assert_eq!("high".parse::<Priority>().unwrap(), Priority::High);
/// assert_eq!("5".parse::<Priority>().unwrap(), Priority::Low);
/// assert_eq!(Priority::Normal.to_string(), "Normal");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum Priority {
    /// `X-Priority: 1 (Highest)`, `Importance: High`.
    High,
    /// No priority headers, as System.Net.Mail writes for `MailPriority.Normal`.
    #[default]
    Normal,
    /// `X-Priority: 5 (Lowest)`, `Importance: Low`.
    Low,
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Priority::High => "High",
            Priority::Normal => "Normal",
            Priority::Low => "Low",
        })
    }
}

/// A priority that is neither a name nor one of the SSIS numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown priority {0:?}: expected High, Normal, Low, 1, 3 or 5")]
pub struct UnknownPriority(pub String);

impl FromStr for Priority {
    type Err = UnknownPriority;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "high" | "1" => Ok(Priority::High),
            "normal" | "3" => Ok(Priority::Normal),
            "low" | "5" => Ok(Priority::Low),
            _ => Err(UnknownPriority(s.to_string())),
        }
    }
}

/// A file to attach, read from disk when the message is written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attachment {
    /// Where the file is.
    pub path: PathBuf,
    /// Name shown to the recipient; defaults to the last component of `path`.
    pub file_name: Option<String>,
    /// MIME type; defaults to a guess from the file name, else `application/octet-stream`.
    pub content_type: Option<String>,
}

impl Attachment {
    /// An attachment with the name and type derived from `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Attachment {
            path: path.into(),
            ..Default::default()
        }
    }
}

/// What the Send Mail task sends. Every field is public; build it with `..Default::default()`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// `From` and the envelope sender.
    pub from: Option<Mailbox>,
    /// `To`.
    pub to: Vec<Mailbox>,
    /// `Cc`.
    pub cc: Vec<Mailbox>,
    /// Envelope only; never written into the headers.
    pub bcc: Vec<Mailbox>,
    /// `Reply-To`.
    pub reply_to: Vec<Mailbox>,
    /// `Subject`.
    pub subject: String,
    /// Plain-text body; line endings are normalised to CRLF. With an HTML body (given here
    /// or as an HTML `body_file`) it is the text alternative; without one, a text
    /// alternative is generated from the HTML.
    pub text_body: Option<String>,
    /// HTML body; with a text body the two form a `multipart/alternative`.
    pub html_body: Option<String>,
    /// A body read from a file when the message is prepared and written; it replaces
    /// `text_body` and `html_body` (an HTML file keeps `text_body` as its text alternative).
    /// Large text files are streamed, never held whole in memory; an HTML file is read whole
    /// up to `max_html_bytes`, since its references must be resolved before sending.
    pub body_file: Option<BodyFile>,
    /// Maps to `X-Priority` and `Importance`.
    pub priority: Priority,
    /// Files, streamed from disk in order.
    pub attachments: Vec<Attachment>,
    /// More headers, written after the standard ones. Structural headers are refused.
    pub extra_headers: Vec<(String, String)>,
    /// `Message-ID` with or without angle brackets; generated when absent.
    pub message_id: Option<String>,
    /// `Date`; the current local time when absent.
    pub date: Option<DateTime<FixedOffset>>,
    /// Files the HTML body shows inline (`cid:` references); see [`InlinePart`]. One that
    /// nothing refers to is sent as an ordinary attachment.
    pub inline_parts: Vec<InlinePart>,
    /// Where relative image paths in `html_body` are looked up (and rewritten to generated
    /// Content-IDs); `None` leaves them alone. An HTML `body_file` uses its own directory.
    pub html_base_dir: Option<PathBuf>,
    /// The largest HTML body in bytes; [`DEFAULT_MAX_HTML_BYTES`] when `None`.
    pub max_html_bytes: Option<u64>,
}

/// Why a message cannot be prepared or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MimeError {
    /// A header value contains CR or LF.
    #[error("header {header:?} contains a line break (CR or LF)")]
    HeaderInjection {
        /// The header (or attachment field) at fault.
        header: String,
    },
    /// An extra header name that is empty or has characters other than printable ASCII
    /// without `:`.
    #[error("header name {header:?} is not valid (printable ASCII without \":\" required)")]
    InvalidHeaderName {
        /// The name as given.
        header: String,
    },
    /// An extra header that the writer controls itself.
    #[error("header {header:?} is written by the message writer and cannot be set")]
    ReservedHeader {
        /// The name as given.
        header: String,
    },
    /// A `Message-ID` that is empty or has spaces, angle brackets inside or non-ASCII.
    #[error("Message-ID {value:?} is not valid (printable ASCII without spaces or \"<>\" inside)")]
    InvalidMessageId {
        /// The value as given.
        value: String,
    },
    /// A mailbox whose address is not valid.
    #[error("header {header:?}: {source}")]
    Address {
        /// The header the mailbox belongs to (`Bcc` for envelope-only recipients).
        header: String,
        /// The address problem.
        source: AddressError,
    },
    /// An attachment's content type does not parse.
    #[error("attachment {path}: content type {value:?} is not type/subtype")]
    ContentType {
        /// The attachment.
        path: PathBuf,
        /// The content type as given.
        value: String,
    },
    /// An attachment is missing, unreadable or not a regular file.
    #[error("attachment {path}: {source}")]
    Attachment {
        /// The attachment.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// An attachment's size changed between prepare and write.
    #[error(
        "attachment {path} changed size after the message was prepared \
         ({expected} bytes announced, {actual} found); not sending a message of the wrong size"
    )]
    AttachmentChanged {
        /// The attachment.
        path: PathBuf,
        /// Size seen by prepare.
        expected: u64,
        /// Size seen while writing (at least this many bytes).
        actual: u64,
    },
    /// No `From`.
    #[error("message has no sender (From)")]
    NoSender,
    /// No To, Cc or Bcc.
    #[error("message has no recipient (To, Cc and Bcc are all empty)")]
    NoRecipients,
    /// The body file is missing, unreadable, not UTF-8 text, too large to read whole (a pipe
    /// or device), or changed between prepare and write.
    #[error("body file {path}: {reason}")]
    BodyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The HTML body refers to `cid:<content_id>` and no inline part has that Content-ID.
    #[error("{html}: cid:{content_id} refers to no inline part")]
    UnresolvedCid {
        /// The Content-ID as referred to.
        content_id: String,
        /// The HTML body file (or "HTML body").
        html: String,
    },
    /// An inline image that cannot be read, or a relative path that leaves the body file's
    /// directory.
    #[error("inline image {path} ({reference:?} in {html}): {reason}")]
    InlineImage {
        /// The file.
        path: PathBuf,
        /// How the HTML (or the inline part list) refers to it.
        reference: String,
        /// The HTML body file (or "HTML body").
        html: String,
        /// What is wrong.
        reason: String,
    },
    /// An HTML body larger than [`Message::max_html_bytes`].
    #[error("{html} is larger than {max} bytes, the limit for an HTML body")]
    HtmlTooLarge {
        /// The HTML body file (or "HTML body").
        html: String,
        /// The limit.
        max: u64,
    },
    /// The HTML body could not be processed.
    #[error("{html}: {reason}")]
    Html {
        /// The HTML body file (or "HTML body").
        html: String,
        /// What went wrong.
        reason: String,
    },
    /// A Content-ID that is empty, too long, or has characters a header cannot hold.
    #[error("Content-ID {content_id:?} is not valid (printable ASCII without spaces, \"<>\\)")]
    InvalidContentId {
        /// The Content-ID as given.
        content_id: String,
    },
    /// Two inline parts with the same Content-ID.
    #[error("Content-ID {content_id:?} is given to two inline parts")]
    DuplicateContentId {
        /// The Content-ID.
        content_id: String,
    },
    /// Writing the message failed.
    #[error("writing the message: {0}")]
    Io(#[from] std::io::Error),
}

/// Headers the writer produces itself; setting them as extra headers would corrupt the message.
const RESERVED_HEADERS: [&str; 12] = [
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
];

/// A piece of the rendered message.
#[derive(Debug, Clone)]
enum Chunk {
    /// Bytes rendered at prepare time (headers, text parts, boundaries).
    Bytes(Vec<u8>),
    /// An attachment, base64-encoded from disk while writing.
    File { path: PathBuf, len: u64 },
    /// A body file, CRLF-normalised and base64-encoded from disk while writing.
    TextFile {
        path: PathBuf,
        raw_len: u64,
        normalized_len: u64,
    },
}

/// A validated message with a fixed layout and a known size, ready to stream.
pub struct PreparedMessage {
    chunks: Vec<Chunk>,
    size: u64,
    envelope_from: String,
    recipients: Vec<String>,
    smtputf8: bool,
    attachment_bytes: u64,
    message_id: String,
    /// What [`PreparedMessage::renewed`] replaces in a copy.
    renew: renew::Renew,
}

impl Message {
    /// The envelope recipients: To, Cc and Bcc addr-specs in order, without repeats
    /// (compared ignoring ASCII case).
    ///
    /// ```
    /// use smtpcm_engine::address::parse_list;
    /// use smtpcm_engine::mime::Message;
    /// let m = Message {
    ///     to: parse_list("a@x.com; b@x.com").unwrap(),
    ///     bcc: parse_list("A@X.com; c@x.com").unwrap(),
    ///     ..Default::default()
    /// };
    /// assert_eq!(m.recipients(), ["a@x.com", "b@x.com", "c@x.com"]);
    /// ```
    pub fn recipients(&self) -> Vec<String> {
        // A set of lower-cased addresses keeps this linear: a 100k-recipient list must
        // not cost 10^10 comparisons.
        let mut seen = std::collections::HashSet::new();
        self.to
            .iter()
            .chain(&self.cc)
            .chain(&self.bcc)
            .filter(|m| seen.insert(m.address.to_ascii_lowercase()))
            .map(|m| m.address.clone())
            .collect()
    }

    /// Validates the message and renders everything but attachment contents.
    ///
    /// Fails on a CR or LF in any header value (naming the header), an invalid address,
    /// a missing or unreadable attachment (naming the file), no sender or no recipient.
    pub fn prepare(&self) -> Result<PreparedMessage, MimeError> {
        let from = self.from.as_ref().ok_or(MimeError::NoSender)?;
        let lists: [(&str, &[Mailbox]); 5] = [
            ("From", std::slice::from_ref(from)),
            ("To", &self.to),
            ("Cc", &self.cc),
            ("Bcc", &self.bcc),
            ("Reply-To", &self.reply_to),
        ];
        for (header, list) in lists {
            for m in list {
                validate_mailbox(header, m)?;
            }
        }
        let recipients = self.recipients();
        if recipients.is_empty() {
            return Err(MimeError::NoRecipients);
        }
        let smtputf8 = lists
            .iter()
            .flat_map(|(_, l)| l.iter())
            .any(Mailbox::needs_smtputf8);

        let message_id = match &self.message_id {
            Some(id) => {
                check_value("Message-ID", id)?;
                let bare = id.trim().trim_start_matches('<').trim_end_matches('>');
                let valid = !bare.is_empty()
                    && bare
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>'));
                if !valid {
                    return Err(MimeError::InvalidMessageId { value: id.clone() });
                }
                format!("<{bare}>")
            }
            None => format!("<{}@{}>", unique::token(), id_domain(from)),
        };
        let date = match self.date {
            Some(d) => d.to_rfc2822(),
            None => renew::date_now(),
        };
        let renew = renew::Renew {
            date: self.date.is_none(),
            id_domain: self.message_id.is_none().then(|| id_domain(from)),
        };

        let mut h = Headers::default();
        h.raw("Date", &date);
        h.mailboxes("From", std::slice::from_ref(from))?;
        if !self.reply_to.is_empty() {
            h.mailboxes("Reply-To", &self.reply_to)?;
        }
        if !self.to.is_empty() {
            h.mailboxes("To", &self.to)?;
        }
        if !self.cc.is_empty() {
            h.mailboxes("Cc", &self.cc)?;
        }
        h.raw("Message-ID", &message_id);
        h.unstructured("Subject", &self.subject)?;
        h.raw("MIME-Version", "1.0");
        match self.priority {
            Priority::High => {
                h.raw("X-Priority", "1 (Highest)");
                h.raw("Importance", "High");
            }
            Priority::Normal => {}
            Priority::Low => {
                h.raw("X-Priority", "5 (Lowest)");
                h.raw("Importance", "Low");
            }
        }
        for (name, value) in &self.extra_headers {
            validate_header_name(name)?;
            h.unstructured(name, value)?;
        }

        let mut out = Body::default();
        let boundary_id = unique::token();
        // HTML bodies and inline parts have their own layout (related.rs).
        if related::applies(self) {
            related::render(self, h.into_string(), &boundary_id, &mut out)?;
            return Ok(PreparedMessage {
                size: out.size,
                attachment_bytes: out.attachment_bytes,
                chunks: out.chunks,
                envelope_from: from.address.clone(),
                recipients,
                smtputf8,
                message_id,
                renew,
            });
        }
        if !self.inline_parts.is_empty() {
            // No HTML refers to them: they are ordinary attachments.
            let mut plain = self.clone();
            let inline = std::mem::take(&mut plain.inline_parts);
            plain
                .attachments
                .extend(inline.into_iter().map(|p| Attachment {
                    path: p.path,
                    file_name: None,
                    content_type: p.content_type,
                }));
            return plain.prepare();
        }
        let body_part = match &self.body_file {
            None => render_body(
                self.text_body.as_deref(),
                self.html_body.as_deref(),
                &boundary_id,
            ),
            Some(file) => match body_file::prepare(file)? {
                body_file::PreparedBody::Inline(text) => {
                    let (text, html) = if file.html {
                        (None, Some(text.as_str()))
                    } else {
                        (Some(text.as_str()), None)
                    };
                    render_body(text, html, &boundary_id)
                }
                body_file::PreparedBody::Streamed {
                    raw_len,
                    normalized_len,
                } => BodyPart {
                    headers: format!(
                        "Content-Type: text/{}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
                        if file.html { "html" } else { "plain" }
                    ),
                    content: Vec::new(),
                    streamed: Some(Chunk::TextFile {
                        path: file.path.clone(),
                        raw_len,
                        normalized_len,
                    }),
                },
            },
        };
        if self.attachments.is_empty() {
            out.text(&(h.into_string() + &body_part.headers));
            out.body(body_part);
        } else {
            let mixed = format!("=_mixed_{boundary_id}");
            out.text(&h.into_string());
            out.text(&format!(
                "Content-Type: multipart/mixed; boundary=\"{mixed}\"\r\n\r\n"
            ));
            out.text(&format!("--{mixed}\r\n"));
            out.text(&body_part.headers);
            out.body(body_part);
            // Each later delimiter carries its own leading CRLF (RFC 2046 §5.1.1).
            for attachment in &self.attachments {
                out.text(&format!("\r\n--{mixed}\r\n"));
                let (headers, len) = attachment_part(attachment)?;
                out.text(&headers);
                out.file(attachment.path.clone(), len);
            }
            out.text(&format!("\r\n--{mixed}--\r\n"));
        }

        Ok(PreparedMessage {
            size: out.size,
            attachment_bytes: out.attachment_bytes,
            chunks: out.chunks,
            envelope_from: from.address.clone(),
            recipients,
            smtputf8,
            message_id,
            renew,
        })
    }
}

fn validate_mailbox(header: &str, m: &Mailbox) -> Result<(), MimeError> {
    check_value(header, &m.address)?;
    check_value(header, m.name.as_deref().unwrap_or(""))?;
    match Mailbox::parse(&m.address) {
        Ok(parsed) if parsed.name.is_none() && parsed.address == m.address => Ok(()),
        Ok(_) => Err(MimeError::Address {
            header: header.to_string(),
            source: AddressError {
                index: None,
                position: 1,
                entry: m.address.clone(),
                reason: crate::address::AddressErrorReason::Invalid(
                    "the address field must hold a bare addr-spec".to_string(),
                ),
            },
        }),
        Err(source) => Err(MimeError::Address {
            header: header.to_string(),
            source,
        }),
    }
}

fn validate_header_name(name: &str) -> Result<(), MimeError> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| (b'!'..=b'~').contains(&b) && b != b':');
    if !valid {
        return Err(MimeError::InvalidHeaderName {
            header: name.to_string(),
        });
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str()) {
        return Err(MimeError::ReservedHeader {
            header: name.to_string(),
        });
    }
    Ok(())
}

/// The right-hand side of a generated Message-ID: the sender's domain when it is plain
/// ASCII (it identifies the sending organisation without exposing the host name).
fn id_domain(from: &Mailbox) -> String {
    let domain = from.domain();
    let plain = !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if plain {
        domain.to_string()
    } else {
        "smtpcm.localhost".to_string()
    }
}

impl fmt::Debug for PreparedMessage {
    /// A summary: the rendered bytes are not repeated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedMessage")
            .field("message_id", &self.message_id)
            .field("size", &self.size)
            .field("envelope_from", &self.envelope_from)
            .field("recipients", &self.recipients)
            .field("attachment_bytes", &self.attachment_bytes)
            .field("smtputf8", &self.smtputf8)
            .finish_non_exhaustive()
    }
}

impl PreparedMessage {
    /// The exact number of bytes [`write_to`](Self::write_to) produces (CRLF line endings,
    /// before SMTP dot-stuffing).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether an address is UTF-8, so the client must use SMTPUTF8 (RFC 6531).
    pub fn needs_smtputf8(&self) -> bool {
        self.smtputf8
    }

    /// Whether the message has 8-bit content. Bodies are always 7-bit encoded, so this is
    /// true exactly when UTF-8 addresses appear in the headers (see
    /// [`needs_smtputf8`](Self::needs_smtputf8)).
    pub fn needs_8bitmime(&self) -> bool {
        self.smtputf8
    }

    /// The envelope sender (`MAIL FROM`): the From address.
    pub fn envelope_from(&self) -> &str {
        &self.envelope_from
    }

    /// The envelope recipients (`RCPT TO`), see [`Message::recipients`].
    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }

    /// Total raw size of the attachments, for progress reporting.
    pub fn attachment_bytes(&self) -> u64 {
        self.attachment_bytes
    }

    /// The `Message-ID`, angle brackets included.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// Streams the message into `w` and returns the number of bytes written, which equals
    /// [`size`](Self::size).
    ///
    /// Attachments are read in chunks of [`ATTACHMENT_CHUNK_BYTES`]. If a file's size no
    /// longer matches what `prepare` saw, this fails with [`MimeError::AttachmentChanged`];
    /// the caller must then abandon the transaction rather than end the DATA phase.
    ///
    /// It does not flush `w`: the caller ends the stream (flush, shutdown, or `finish`).
    pub async fn write_to<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        w: &mut W,
    ) -> Result<u64, MimeError> {
        let mut written = 0u64;
        // Allocated at the first attachment: a batch of small messages without one
        // should not pay for 130 KiB of buffers per message.
        let mut buffers: Option<(Vec<u8>, Vec<u8>)> = None;
        for chunk in &self.chunks {
            match chunk {
                Chunk::Bytes(b) => {
                    w.write_all(b).await?;
                    written += b.len() as u64;
                }
                Chunk::File { path, len } => {
                    let (raw, encoded) = buffers.get_or_insert_with(|| {
                        (
                            vec![0u8; ATTACHMENT_CHUNK_BYTES],
                            Vec::with_capacity(
                                base64_encoded_len(ATTACHMENT_CHUNK_BYTES as u64) as usize
                            ),
                        )
                    });
                    written += stream_file(path, *len, w, raw, encoded).await?;
                }
                Chunk::TextFile {
                    path,
                    raw_len,
                    normalized_len,
                } => {
                    written += body_file::stream(path, *raw_len, *normalized_len, w).await?;
                }
            }
        }
        // No flush: the caller ends the stream (for SMTP, `DataWriter::finish` sends the
        // rest of the body and the end-of-data marker in one write).
        Ok(written)
    }
}

#[cfg(test)]
mod tests;
