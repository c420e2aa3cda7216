//! Where to connect, how to protect the session, and how long to wait at each stage.

use std::path::PathBuf;
use std::time::Duration;

use super::capabilities::Extension;
use super::dsn::Dsn;
use crate::security::TlsMode;

/// How long the client waits at each stage of a session.
///
/// RFC 5321 §4.5.3.2 sets these per stage rather than per session, so a large
/// message is not cut off by a deadline meant for a single command. The data
/// timeout applies to each block written, not to the whole message.
///
/// ```
/// use std::time::Duration;
/// use smtpcm_engine::smtp::Timeouts;
/// let t = Timeouts::rfc5321();
/// assert_eq!(t.data_end, Duration::from_secs(600));
/// // SSIS's Timeout (milliseconds) applies to every stage.
/// assert_eq!(Timeouts::uniform(Duration::from_millis(100_000)).rcpt, Duration::from_secs(100));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening the TCP connection.
    pub connect: Duration,
    /// The `220` greeting.
    pub greeting: Duration,
    /// `EHLO`/`HELO`.
    pub ehlo: Duration,
    /// `STARTTLS` and every TLS handshake.
    pub starttls: Duration,
    /// Each step of an `AUTH` exchange.
    pub auth: Duration,
    /// `MAIL FROM`.
    pub mail: Duration,
    /// Each `RCPT TO`.
    pub rcpt: Duration,
    /// `DATA` up to its `354`.
    pub data_init: Duration,
    /// Each block of message data (and each BDAT chunk's reply).
    pub data_block: Duration,
    /// The reply after the final dot or `BDAT LAST`.
    pub data_end: Duration,
    /// `QUIT`, `RSET` and `NOOP`.
    pub quit: Duration,
}

impl Timeouts {
    /// The values recommended by RFC 5321 §4.5.3.2, with 30 s to connect.
    pub fn rfc5321() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Timeouts {
            connect: Duration::from_secs(30),
            greeting: minutes(5),
            ehlo: minutes(5),
            starttls: minutes(5),
            auth: minutes(5),
            mail: minutes(5),
            rcpt: minutes(5),
            data_init: minutes(2),
            data_block: minutes(3),
            data_end: minutes(10),
            quit: minutes(5),
        }
    }

    /// The same limit for every stage, as SSIS's single `Timeout` setting.
    pub fn uniform(d: Duration) -> Self {
        Timeouts {
            connect: d,
            greeting: d,
            ehlo: d,
            starttls: d,
            auth: d,
            mail: d,
            rcpt: d,
            data_init: d,
            data_block: d,
            data_end: d,
            quit: d,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::rfc5321()
    }
}

/// Everything [`Client::connect`](super::Client::connect) needs.
///
/// ```
/// use smtpcm_engine::smtp::{ClientConfig, TlsMode};
/// let mut cfg = ClientConfig::new("mail.example.com", 587, TlsMode::StartTls);
/// cfg.helo_name = Some("client.example.com".into());
/// assert!(cfg.extra_ca_file.is_none());
/// ```
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Host name or IP address (IPv6 may be written in brackets). The certificate is verified against it.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// How the session is protected.
    pub tls: TlsMode,
    /// A PEM file of extra CA certificates trusted in addition to the system's.
    pub extra_ca_file: Option<PathBuf>,
    /// The name sent with EHLO; defaults to this machine's host name, or an address literal.
    pub helo_name: Option<String>,
    /// Per-stage timeouts.
    pub timeouts: Timeouts,
    /// Extensions not to use even when offered, for servers whose PIPELINING or CHUNKING
    /// is broken.
    pub disabled_extensions: Vec<Extension>,
    /// DSN settings for every message, unless its [`Envelope`](super::Envelope) says
    /// otherwise (sent only to a server that offers DSN).
    pub dsn: Dsn,
}

impl ClientConfig {
    /// A configuration with RFC 5321 timeouts, the system trust store and the default EHLO name.
    pub fn new(host: impl Into<String>, port: u16, tls: TlsMode) -> Self {
        ClientConfig {
            host: host.into(),
            port,
            tls,
            extra_ca_file: None,
            helo_name: None,
            timeouts: Timeouts::default(),
            disabled_extensions: Vec::new(),
            dsn: Dsn::default(),
        }
    }
}
