//! What the sink offers and how it behaves: everything a caller sets before [`crate::Sink::start`].

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::fault::FaultScript;

/// Configuration of a capture server. Build it with struct-update syntax over [`Default`].
///
/// ```
/// use smtpcm_sink::{SinkAuth, SinkConfig};
///
/// let cfg = SinkConfig {
///     require_tls: true,
///     auth: Some(SinkAuth::new("alice", "s3cret")),
///     max_size: Some(10 * 1024 * 1024),
///     ..SinkConfig::default()
/// };
/// assert!(cfg.starttls);
/// assert_eq!(cfg.listen.ip().to_string(), "127.0.0.1");
/// ```
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Address to listen on. Port 0 lets the OS pick one; read it back with
    /// [`crate::SinkHandle::local_addr`]. Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// Directory that receives one `.eml` file per accepted message. `None` keeps messages in
    /// memory only (up to [`MAX_IN_MEMORY`] bytes each).
    pub dir: Option<PathBuf>,
    /// Name used in the greeting and the EHLO reply, and added to the certificate's names.
    pub hostname: String,
    /// Offer STARTTLS on plaintext connections. Default `true`.
    pub starttls: bool,
    /// Speak TLS from the first byte (SMTPS, port 465 style). Default `false`.
    pub implicit_tls: bool,
    /// Answer `530` to MAIL and AUTH until the connection is encrypted. Default `false`.
    pub require_tls: bool,
    /// Advertised `SIZE` limit; larger messages get `552`. `None` advertises no SIZE.
    pub max_size: Option<u64>,
    /// Advertise PIPELINING. Pipelined commands are always answered in order either way.
    pub pipelining: bool,
    /// Advertise and accept CHUNKING (BDAT).
    pub chunking: bool,
    /// Advertise 8BITMIME and accept `BODY=8BITMIME`.
    pub eight_bit: bool,
    /// Advertise SMTPUTF8 and accept non-ASCII addresses with the `SMTPUTF8` parameter.
    pub smtputf8: bool,
    /// Offer AUTH PLAIN and LOGIN against one fixed account.
    pub auth: Option<SinkAuth>,
    /// Recipients refused at RCPT with `550 5.1.1`: exact addresses, or `prefix*` patterns.
    /// Matching ignores ASCII case.
    pub reject_recipients: Vec<String>,
    /// Faults to inject at chosen protocol stages.
    pub faults: FaultScript,
    /// A connection that sends nothing for this long gets `421 4.4.2` and is closed.
    /// Default 5 minutes (RFC 5321 §4.5.3.2 suggests at least that).
    pub idle_timeout: Duration,
    /// Recipients accepted per message; further RCPTs get `452 4.5.3 Too many recipients`
    /// (RFC 5321 §4.5.3.1.10). Default [`DEFAULT_MAX_RECIPIENTS`], as Postfix.
    pub max_recipients: usize,
    /// Keep a copy of every captured message for [`crate::SinkHandle::messages`]. Off by
    /// default, so a long-running sink holds nothing per message once it is saved; tests that
    /// want the whole list opt in. [`crate::SinkHandle::next_message`] works either way.
    pub keep_messages: bool,
}

/// Default of [`SinkConfig::max_recipients`]: Postfix's `smtpd_recipient_limit`.
pub const DEFAULT_MAX_RECIPIENTS: usize = 1000;

/// Largest message kept in memory when no [`SinkConfig::dir`] is set; larger ones are counted only.
pub const MAX_IN_MEMORY: u64 = 64 * 1024 * 1024;

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            dir: None,
            hostname: "localhost".to_owned(),
            starttls: true,
            implicit_tls: false,
            require_tls: false,
            max_size: None,
            pipelining: true,
            chunking: true,
            eight_bit: true,
            smtputf8: true,
            auth: None,
            reject_recipients: Vec::new(),
            faults: FaultScript::default(),
            idle_timeout: Duration::from_secs(300),
            max_recipients: DEFAULT_MAX_RECIPIENTS,
            keep_messages: false,
        }
    }
}

impl SinkConfig {
    /// Whether `address` matches one of [`SinkConfig::reject_recipients`].
    ///
    /// ```
    /// use smtpcm_sink::SinkConfig;
    ///
    /// let cfg = SinkConfig {
    ///     reject_recipients: vec!["nobody@example.com".into(), "bounce-*".into()],
    ///     ..SinkConfig::default()
    /// };
    /// assert!(cfg.rejects_recipient("NOBODY@example.com"));
    /// assert!(cfg.rejects_recipient("bounce-42@example.com"));
    /// assert!(!cfg.rejects_recipient("somebody@example.com"));
    /// ```
    pub fn rejects_recipient(&self, address: &str) -> bool {
        self.reject_recipients
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => address
                    .get(..prefix.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(prefix)),
                None => address.eq_ignore_ascii_case(pattern),
            })
    }
}

/// The one account the sink accepts for AUTH PLAIN and AUTH LOGIN, and, when a
/// [`SinkAuth::token`] is set, for AUTH XOAUTH2 and OAUTHBEARER. For tests and demos only:
/// the comparison is plain, not constant-time.
#[derive(Clone, PartialEq, Eq)]
pub struct SinkAuth {
    /// Expected authentication identity.
    pub username: String,
    /// Expected password. Never printed by `Debug`.
    pub password: String,
    /// Answer `530 5.7.0` to MAIL until the client has authenticated.
    pub required: bool,
    /// The OAuth 2.0 access token accepted for `username` by XOAUTH2 and OAUTHBEARER, which
    /// are offered only when this is set. A wrong token gets the `334` JSON error challenge,
    /// then `535` once the client answers it, as Gmail (XOAUTH2) and RFC 7628 (OAUTHBEARER)
    /// do. Never printed by `Debug`.
    pub token: Option<String>,
}

impl SinkAuth {
    /// An optional account (`required: false`).
    ///
    /// ```
    /// let auth = smtpcm_sink::SinkAuth::new("alice", "s3cret");
    /// assert!(!format!("{auth:?}").contains("s3cret"));
    /// ```
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            required: false,
            token: None,
        }
    }

    /// Also accept `token` for XOAUTH2 and OAUTHBEARER.
    ///
    /// ```
    /// let auth = smtpcm_sink::SinkAuth::new("alice", "s3cret").with_token("ya29.tok");
    /// assert_eq!(auth.token.as_deref(), Some("ya29.tok"));
    /// assert!(!format!("{auth:?}").contains("ya29"));
    /// ```
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    pub(crate) fn accepts(&self, username: &str, password: &str) -> bool {
        self.username == username && self.password == password
    }
}

impl fmt::Debug for SinkAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("required", &self.required)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}
