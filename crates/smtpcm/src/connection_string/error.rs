//! What went wrong in a connection string (errors) and what looked odd (warnings).

use std::fmt;

use smtpcm_engine::security::TlsMode;

/// Something in a connection string that parsed but is probably not what was meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The key as written.
    pub key: String,
    /// 1-based character position of the key.
    pub position: usize,
    /// What is suspicious.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connection string: key {:?} at position {}: {}",
            self.key, self.position, self.message
        )
    }
}

/// A connection string that cannot be used, with the key and position at fault.
///
/// ```
/// use smtpcm::connection_string::ConnectionString;
/// let err = ConnectionString::parse("SmtpServer=h;Port=abc").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"connection string: key "Port" at position 14: "abc" is not a port number (1-65535)"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connection string: {}at position {position}: {kind}", key_prefix(key.as_deref()))]
pub struct ConnectionStringError {
    /// The key as written, when the problem belongs to one.
    pub key: Option<String>,
    /// 1-based character position of the key (or of the offending text).
    pub position: usize,
    /// What is wrong.
    pub kind: ConnectionStringErrorKind,
}

fn key_prefix(key: Option<&str>) -> String {
    key.map(|k| format!("key {k:?} ")).unwrap_or_default()
}

/// What is wrong in a [`ConnectionStringError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionStringErrorKind {
    /// A segment has text but no `=` (and other segments do).
    #[error("segment {0:?} has no \"=\"")]
    MissingEquals(String),
    /// `=value` with nothing before the `=`.
    #[error("empty key")]
    EmptyKey,
    /// A quoted value never ends.
    #[error("quoted value is not closed")]
    UnterminatedQuote,
    /// Text after the closing quote of a value.
    #[error("unexpected text {0:?} after the closing quote")]
    TextAfterQuote(String),
    /// The key appeared before (possibly under an alias).
    #[error("duplicate key (first given at position {first_position})")]
    Duplicate {
        /// 1-based position of the first occurrence.
        first_position: usize,
    },
    /// Not `True` or `False`.
    #[error("{0:?} is not a boolean (True or False)")]
    NotBoolean(String),
    /// Not a port number.
    #[error("{0:?} is not a port number (1-65535)")]
    NotPort(String),
    /// Not a timeout in milliseconds.
    #[error("{0:?} is not a timeout in milliseconds (1-4294967295)")]
    NotTimeout(String),
    /// Not a TLS mode name.
    #[error("{0:?} is not a TLS mode (None, StartTls, StartTlsWhenAvailable or Implicit)")]
    NotTlsMode(String),
    /// Not a SASL mechanism we implement.
    #[error(
        "{0:?} is not an authentication mechanism (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER, GSSAPI or NTLM)"
    )]
    NotMechanism(String),
    /// `SmtpServer` is not `host`, `host:port`, `[v6]` or `[v6]:port`.
    #[error("{server:?} is not a server name: {reason}")]
    BadServer {
        /// The value as written.
        server: String,
        /// Why it is not usable.
        reason: String,
    },
    /// `Port=` contradicts the port written in `SmtpServer`.
    #[error("port {port} contradicts port {server_port} given in SmtpServer")]
    PortConflict {
        /// The `Port=` value.
        port: u16,
        /// The port inside `SmtpServer`.
        server_port: u16,
    },
    /// `Timeout=0`.
    #[error(
        "0 is not a usable timeout; give milliseconds (e.g. 100000, SSIS's default) or leave Timeout out"
    )]
    ZeroTimeout,
    /// Not a `Timeouts=` policy.
    #[error("{0:?} is not a timeout policy (Rfc5321 or Ssis)")]
    NotTimeoutPolicy(String),
    /// `Timeout=` and `Timeouts=Rfc5321` both given: one limit for every stage, or RFC 5321's
    /// per-stage limits, not both.
    #[error("Timeout={0} contradicts Timeouts=Rfc5321 (per-stage limits); keep one of them")]
    TimeoutConflict(u32),
    /// `EnableSsl=True` (TLS required) with a `TlsMode` that allows plain text.
    #[error(
        "TlsMode={0} contradicts EnableSsl=True, which requires TLS; use TlsMode=StartTls or Implicit, or EnableSsl=False"
    )]
    TlsConflict(TlsMode),
    /// A value the key does not accept; the message names the value and what is allowed.
    #[error("{0}")]
    Invalid(String),
    /// A secret was put in the connection string; its value is deliberately not repeated.
    #[error(
        "secrets are not allowed in a connection string; use PasswordEnv, PasswordFile, TokenEnv or TokenFile"
    )]
    SecretNotAllowed,
}
