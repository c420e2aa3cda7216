//! The envelope of one message, and what the server said about it.

use super::dsn::Dsn;
use super::error::RecipientRejection;
use super::reply::Reply;

/// The SMTP envelope: who the message is from and to, as bare addr-specs (no `<>`).
///
/// ```
/// use smtpcm_engine::smtp::Envelope;
/// let env = Envelope::new("a@example.com", ["b@example.com", "c@example.com"]);
/// assert_eq!(env.recipients.len(), 2);
/// assert!(!env.eight_bit);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path; empty for the null sender (bounces).
    pub from: String,
    /// Every recipient, To, Cc and Bcc alike.
    pub recipients: Vec<String>,
    /// The message size in bytes if known in advance; checked against `SIZE` and sent as `SIZE=`.
    pub size: Option<u64>,
    /// The message has 8-bit content: send `BODY=8BITMIME` (the server must offer it).
    pub eight_bit: bool,
    /// The message or an address needs `SMTPUTF8` (the server must offer it).
    pub smtputf8: bool,
    /// DSN settings for this message; each one not set falls back to
    /// [`ClientConfig::dsn`](super::ClientConfig::dsn).
    pub dsn: Dsn,
}

impl Envelope {
    /// An envelope with no size, 7-bit ASCII content.
    pub fn new<I, S>(from: impl Into<String>, recipients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Envelope {
            from: from.into(),
            recipients: recipients.into_iter().map(Into::into).collect(),
            ..Envelope::default()
        }
    }
}

/// ESMTP parameters for [`Client::mail`](super::Client::mail).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailParams {
    /// Declared message size (`SIZE=`, sent only when the server offers SIZE).
    pub size: Option<u64>,
    /// `BODY=8BITMIME`.
    pub body_8bit: bool,
    /// `SMTPUTF8`.
    pub smtputf8: bool,
}

/// The outcome of a message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// Recipients the server accepted.
    pub accepted: Vec<String>,
    /// Recipients the server refused, each with its reply.
    pub rejected: Vec<RecipientRejection>,
    /// The server's reply to the end of data (usually `250 ... queued as ...`).
    pub reply: Reply,
    /// Message bytes sent, after line-ending normalisation and before dot-stuffing.
    pub bytes: u64,
}
