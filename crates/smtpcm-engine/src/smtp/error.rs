//! What can go wrong in an SMTP session, and where.

use std::fmt;
use std::time::Duration;

use super::reply::Reply;

/// The point in the session at which something failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Opening the TCP connection.
    Connect,
    /// Waiting for the server's `220` greeting.
    Greeting,
    /// `EHLO` (or the `HELO` fallback).
    Ehlo,
    /// The `STARTTLS` command and its reply.
    StartTls,
    /// The TLS handshake (after `STARTTLS`, or at once for implicit TLS).
    TlsHandshake,
    /// The SASL exchange.
    Auth,
    /// `MAIL FROM`.
    Mail,
    /// `RCPT TO`.
    Rcpt,
    /// The `DATA` command and its `354`.
    Data,
    /// Sending the message content (DATA blocks or BDAT chunks).
    DataTransfer,
    /// The end-of-data marker (or `BDAT LAST`) and the final reply.
    DataEnd,
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
}

impl Stage {
    /// How the stage is named in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Greeting => "greeting",
            Stage::Ehlo => "EHLO",
            Stage::StartTls => "STARTTLS",
            Stage::TlsHandshake => "TLS handshake",
            Stage::Auth => "AUTH",
            Stage::Mail => "MAIL FROM",
            Stage::Rcpt => "RCPT TO",
            Stage::Data => "DATA",
            Stage::DataTransfer => "message transfer",
            Stage::DataEnd => "end of data",
            Stage::Rset => "RSET",
            Stage::Noop => "NOOP",
            Stage::Quit => "QUIT",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A recipient the server refused, with its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientRejection {
    /// The address as given in the envelope (without angle brackets).
    pub recipient: String,
    /// The server's reply to `RCPT TO`.
    pub reply: Reply,
}

impl fmt::Display for RecipientRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>: {}", self.recipient, self.reply)
    }
}

/// What kind of failure an [`SmtpError`] is.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A socket or file error.
    Io(std::io::Error),
    /// The stage's timeout elapsed without progress.
    Timeout(Duration),
    /// The server answered with a code we could not accept.
    Rejected(Reply),
    /// TLS could not be set up (configuration, handshake or certificate verification).
    Tls(String),
    /// STARTTLS was required but the server does not offer it.
    StartTlsNotOffered,
    /// The server broke the protocol, or the session cannot be used any more.
    Protocol(String),
    /// A well-formed reply whose code the stage cannot have: `600` or `999` anywhere, `354`
    /// after the final dot, `250` to `DATA`. The server and the client are out of step, so
    /// the session is closed; this is a protocol error, never a refusal.
    UnexpectedReply(Reply),
    /// The server closed the connection.
    Disconnected,
    /// The connection was lost after the end of the message was sent but before the
    /// server's reply: the message may or may not have been accepted.
    DeliveryUnknown,
    /// The message is larger than the server's declared `SIZE` limit.
    MessageTooLarge {
        /// The message size from the envelope.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// Every recipient was refused; each is named with its reply.
    AllRecipientsRejected(Vec<RecipientRejection>),
    /// The message needs an extension (such as `8BITMIME` or `SMTPUTF8`) the server does not offer.
    ExtensionNotOffered(&'static str),
    /// The caller asked for something that cannot be sent (an address with a line break, no recipients ...).
    InvalidInput(String),
}

/// An SMTP failure: the stage, what went wrong, and (for `RCPT`) the recipient.
///
/// ```
/// use smtpcm_engine::smtp::{ErrorKind, Reply, SmtpError, Stage};
/// let reply = Reply::new(550, Some((5, 1, 1)), vec!["<bob@x>: Recipient address rejected".into()]);
/// let err = SmtpError::rejected(Stage::Rcpt, "RCPT TO:<bob@x>", reply).with_recipient("bob@x");
/// assert_eq!(
///     err.to_string(),
///     "RCPT TO:<bob@x> rejected: 550 5.1.1 <bob@x>: Recipient address rejected"
/// );
/// assert!(err.is_permanent());
/// assert_eq!(err.recipient(), Some("bob@x"));
/// ```
#[derive(Debug)]
pub struct SmtpError {
    stage: Stage,
    kind: ErrorKind,
    // Boxed strings keep the error small: it travels in every `Result` of the client.
    command: Option<Box<str>>,
    recipient: Option<Box<str>>,
    detail: Option<Box<str>>,
}

impl SmtpError {
    /// An error of `kind` at `stage`.
    pub fn new(stage: Stage, kind: ErrorKind) -> Self {
        SmtpError {
            stage,
            kind,
            command: None,
            recipient: None,
            detail: None,
        }
    }

    /// The server refused `command` (as shown in the transcript, never with secrets).
    pub fn rejected(stage: Stage, command: impl Into<String>, reply: Reply) -> Self {
        SmtpError {
            command: Some(command.into().into_boxed_str()),
            ..SmtpError::new(stage, ErrorKind::Rejected(reply))
        }
    }

    /// Names the recipient this error concerns.
    pub fn with_recipient(mut self, recipient: impl Into<String>) -> Self {
        self.recipient = Some(recipient.into().into_boxed_str());
        self
    }

    /// Adds context such as the underlying cause of a lost delivery.
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into().into_boxed_str());
        self
    }

    /// The `SmtpError` carried inside an `io::Error`, if there is one.
    ///
    /// [`DataWriter`](super::DataWriter) is an `AsyncWrite`, so a failure while the body is
    /// being written reaches the caller as an `io::Error`; it wraps the typed error, and
    /// this gets it back (a reset mid-body is still a connection error at the
    /// message-transfer stage, not an opaque I/O failure).
    ///
    /// ```
    /// use smtpcm_engine::smtp::{ErrorKind, SmtpError, Stage};
    /// let e = std::io::Error::other(SmtpError::new(Stage::DataTransfer, ErrorKind::Disconnected));
    /// assert_eq!(SmtpError::from_io_error(&e).map(|s| s.stage()), Some(Stage::DataTransfer));
    /// assert!(SmtpError::from_io_error(&std::io::Error::other("plain")).is_none());
    /// ```
    pub fn from_io_error(e: &std::io::Error) -> Option<&SmtpError> {
        e.get_ref()?.downcast_ref::<SmtpError>()
    }

    /// A copy for a second owner (an `io::Error` handed to a writer's caller while the
    /// writer keeps the original). An I/O cause keeps its kind and text.
    pub(crate) fn duplicate(&self) -> SmtpError {
        let kind = match &self.kind {
            ErrorKind::Io(e) => ErrorKind::Io(std::io::Error::new(e.kind(), e.to_string())),
            ErrorKind::Timeout(d) => ErrorKind::Timeout(*d),
            ErrorKind::Rejected(r) => ErrorKind::Rejected(r.clone()),
            ErrorKind::Tls(m) => ErrorKind::Tls(m.clone()),
            ErrorKind::StartTlsNotOffered => ErrorKind::StartTlsNotOffered,
            ErrorKind::Protocol(m) => ErrorKind::Protocol(m.clone()),
            ErrorKind::UnexpectedReply(r) => ErrorKind::UnexpectedReply(r.clone()),
            ErrorKind::Disconnected => ErrorKind::Disconnected,
            ErrorKind::DeliveryUnknown => ErrorKind::DeliveryUnknown,
            ErrorKind::MessageTooLarge { size, limit } => ErrorKind::MessageTooLarge {
                size: *size,
                limit: *limit,
            },
            ErrorKind::AllRecipientsRejected(all) => ErrorKind::AllRecipientsRejected(all.clone()),
            ErrorKind::ExtensionNotOffered(x) => ErrorKind::ExtensionNotOffered(x),
            ErrorKind::InvalidInput(m) => ErrorKind::InvalidInput(m.clone()),
        };
        SmtpError {
            stage: self.stage,
            kind,
            command: self.command.clone(),
            recipient: self.recipient.clone(),
            detail: self.detail.clone(),
        }
    }

    /// This error as an `io::Error` that carries it (see [`from_io_error`](Self::from_io_error)).
    pub(crate) fn to_io_error(&self) -> std::io::Error {
        let kind = match &self.kind {
            ErrorKind::Io(e) => e.kind(),
            ErrorKind::Timeout(_) => std::io::ErrorKind::TimedOut,
            ErrorKind::Disconnected => std::io::ErrorKind::ConnectionAborted,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, self.duplicate())
    }

    /// Where the session failed.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The server reply, when the server refused something.
    pub fn reply(&self) -> Option<&Reply> {
        match &self.kind {
            ErrorKind::Rejected(reply) => Some(reply),
            _ => None,
        }
    }

    /// The recipient this error is about, if any.
    pub fn recipient(&self) -> Option<&str> {
        self.recipient.as_deref()
    }

    /// A `4xx` reply (or a refusal of all recipients where any was temporary): retrying later may work.
    pub fn is_transient(&self) -> bool {
        match &self.kind {
            ErrorKind::Rejected(reply) => reply.is_transient(),
            ErrorKind::AllRecipientsRejected(all) => all.iter().any(|r| r.reply.is_transient()),
            _ => false,
        }
    }

    /// A `5xx` reply, a message over the size limit, or a missing extension: retrying will not help.
    pub fn is_permanent(&self) -> bool {
        match &self.kind {
            ErrorKind::Rejected(reply) => reply.is_permanent(),
            ErrorKind::AllRecipientsRejected(all) => all.iter().all(|r| r.reply.is_permanent()),
            ErrorKind::MessageTooLarge { .. }
            | ErrorKind::ExtensionNotOffered(_)
            | ErrorKind::InvalidInput(_)
            | ErrorKind::StartTlsNotOffered => true,
            _ => false,
        }
    }

    /// The connection failed: connect, TLS, I/O, timeout or disconnect.
    ///
    /// [`ErrorKind::DeliveryUnknown`] is deliberately *not* a connection error: the message
    /// may have been delivered, so blindly retrying could send it twice.
    pub fn is_connection(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Io(_) | ErrorKind::Timeout(_) | ErrorKind::Tls(_) | ErrorKind::Disconnected
        ) || self.stage == Stage::Connect
    }

    /// TLS could not be set up: the handshake failed, STARTTLS was required and not
    /// offered, or the server refused `STARTTLS` (a `454` as much as a `554`: the session
    /// cannot be encrypted, so it is a TLS-class failure, not a refusal of the message).
    pub fn is_tls(&self) -> bool {
        matches!(self.kind, ErrorKind::Tls(_) | ErrorKind::StartTlsNotOffered)
            || (self.stage == Stage::StartTls && matches!(self.kind, ErrorKind::Rejected(_)))
    }

    /// The server broke the protocol: a malformed reply, a reply code its command cannot
    /// have ([`ErrorKind::UnexpectedReply`]: `600`, `999`, a `354` after the final dot, a
    /// `250` to `DATA`), or a refusal whose code is neither `4xx` nor `5xx`. Not a rejection:
    /// the server's answer cannot be trusted.
    ///
    /// ```
    /// use smtpcm_engine::smtp::{ErrorKind, Reply, SmtpError, Stage};
    /// let e = SmtpError::new(Stage::DataEnd, ErrorKind::UnexpectedReply(Reply::new(354, None, vec![])));
    /// assert!(e.is_protocol() && !e.is_permanent() && !e.is_retryable());
    /// let refused = SmtpError::rejected(Stage::Mail, "MAIL FROM:<a@x>", Reply::new(550, None, vec![]));
    /// assert!(!refused.is_protocol());
    /// ```
    pub fn is_protocol(&self) -> bool {
        let out_of_class = |r: &Reply| !(r.is_transient() || r.is_permanent());
        match &self.kind {
            ErrorKind::Protocol(_) | ErrorKind::UnexpectedReply(_) => true,
            ErrorKind::Rejected(reply) => out_of_class(reply),
            ErrorKind::AllRecipientsRejected(all) => all.iter().any(|r| out_of_class(&r.reply)),
            _ => false,
        }
    }

    /// The message may or may not have been accepted (link lost after the final dot).
    pub fn is_delivery_unknown(&self) -> bool {
        matches!(self.kind, ErrorKind::DeliveryUnknown)
    }

    /// Whether sending again later may succeed: the one retry predicate of the project.
    ///
    /// Yes for a `4xx` reply at any stage ([`is_transient`](Self::is_transient), `454` to
    /// `STARTTLS` included) and for a connection that dropped or stalled before the final
    /// dot. Never for a `5xx`, a TLS handshake or certificate failure (it will fail the same
    /// way), a protocol error, or a loss after the final dot
    /// ([`is_delivery_unknown`](Self::is_delivery_unknown)): the server may already have
    /// the message, and sending it again could deliver it twice.
    pub fn is_retryable(&self) -> bool {
        !self.is_delivery_unknown()
            && (self.is_transient() || (self.is_connection() && !self.is_tls()))
    }
}

impl fmt::Display for SmtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = self.stage;
        match &self.kind {
            ErrorKind::Rejected(reply) => match &self.command {
                Some(command) => write!(f, "{command} rejected: {reply}")?,
                None => write!(f, "{stage}: rejected: {reply}")?,
            },
            ErrorKind::StartTlsNotOffered => write!(
                f,
                "STARTTLS: server does not offer STARTTLS; EnableSsl=True forbids sending in clear"
            )?,
            ErrorKind::Io(e) => write!(f, "{stage}: I/O error: {e}")?,
            ErrorKind::Timeout(d) => {
                write!(f, "{stage}: no answer from server within {}", Secs(*d))?
            }
            ErrorKind::Tls(msg) => write!(f, "{stage}: TLS error: {msg}")?,
            ErrorKind::Protocol(msg) => write!(f, "{stage}: {msg}")?,
            ErrorKind::UnexpectedReply(reply) => write!(
                f,
                "{stage}: protocol error: the server replied {reply}, a code this stage \
                 cannot have; the session was closed"
            )?,
            ErrorKind::Disconnected => write!(f, "{stage}: server closed the connection")?,
            ErrorKind::DeliveryUnknown => write!(
                f,
                "{stage}: connection lost after the end of the message was sent; \
                 the server may or may not have accepted it"
            )?,
            ErrorKind::MessageTooLarge { size, limit } => write!(
                f,
                "{stage}: message of {size} bytes exceeds the server's SIZE limit of {limit} bytes"
            )?,
            ErrorKind::AllRecipientsRejected(all) => {
                write!(f, "RCPT TO: all {} recipient(s) rejected: ", all.len())?;
                for (i, r) in all.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{r}")?;
                }
            }
            ErrorKind::ExtensionNotOffered(ext) => write!(
                f,
                "{stage}: the message needs {ext} but the server does not offer it"
            )?,
            ErrorKind::InvalidInput(msg) => write!(f, "{stage}: {msg}")?,
        }
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SmtpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Formats a duration as whole seconds when it is one (`300 s`), else as milliseconds (`2500 ms`).
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{} s", ms / 1000)
        } else {
            write!(f, "{} ms", ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16) -> Reply {
        Reply::new(code, None, vec!["no".into()])
    }

    #[test]
    fn secs_prints_what_its_doc_says() {
        assert_eq!(Secs(Duration::from_secs(300)).to_string(), "300 s");
        assert_eq!(Secs(Duration::from_millis(2500)).to_string(), "2500 ms");
    }

    #[test]
    fn predicates_follow_reply_class() {
        let t = SmtpError::rejected(Stage::Mail, "MAIL FROM:<a@x>", reply(451));
        assert!(t.is_transient() && !t.is_permanent() && !t.is_connection());
        let p = SmtpError::rejected(Stage::Mail, "MAIL FROM:<a@x>", reply(550));
        assert!(p.is_permanent() && !p.is_transient());
        let all = SmtpError::new(
            Stage::Rcpt,
            ErrorKind::AllRecipientsRejected(vec![
                RecipientRejection {
                    recipient: "a@x".into(),
                    reply: reply(550),
                },
                RecipientRejection {
                    recipient: "b@x".into(),
                    reply: reply(450),
                },
            ]),
        );
        assert!(all.is_transient() && !all.is_permanent());
        assert_eq!(
            all.to_string(),
            "RCPT TO: all 2 recipient(s) rejected: <a@x>: 550 no; <b@x>: 450 no"
        );
    }

    #[test]
    fn delivery_unknown_is_not_a_retryable_connection_error() {
        let e = SmtpError::new(Stage::DataEnd, ErrorKind::DeliveryUnknown);
        assert!(e.is_delivery_unknown());
        assert!(!e.is_connection());
        let t = SmtpError::new(
            Stage::Greeting,
            ErrorKind::Timeout(Duration::from_millis(1500)),
        );
        assert!(t.is_connection());
        assert_eq!(
            t.to_string(),
            "greeting: no answer from server within 1500 ms"
        );
    }

    #[test]
    fn a_refused_starttls_is_tls_class_and_454_is_still_retried() {
        let t = SmtpError::rejected(Stage::StartTls, "STARTTLS", reply(454));
        assert!(t.is_tls() && t.is_transient() && t.is_retryable());
        let p = SmtpError::rejected(Stage::StartTls, "STARTTLS", reply(554));
        assert!(p.is_tls() && !p.is_retryable());
        let h = SmtpError::new(Stage::TlsHandshake, ErrorKind::Tls("bad cert".into()));
        assert!(h.is_connection() && !h.is_retryable());
        let m = SmtpError::rejected(Stage::Mail, "MAIL FROM:<a@x>", reply(454));
        assert!(!m.is_tls());
    }

    #[test]
    fn starttls_message_names_the_ssis_setting() {
        let e = SmtpError::new(Stage::StartTls, ErrorKind::StartTlsNotOffered);
        assert_eq!(
            e.to_string(),
            "STARTTLS: server does not offer STARTTLS; EnableSsl=True forbids sending in clear"
        );
        assert!(e.is_tls());
    }
}
