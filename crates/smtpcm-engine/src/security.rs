//! Transport security choices shared by the connection string and the client.

use std::fmt;
use std::str::FromStr;

/// How the SMTP session is protected, in the shape of MailKit's `SecureSocketOptions`.
///
/// SSIS's `EnableSsl=True` maps to [`TlsMode::StartTls`]: STARTTLS is required and a
/// server that does not offer it is an error, never a silent downgrade.
///
/// ```
/// use smtpcm_engine::security::TlsMode;
/// assert_eq!("implicit".parse::<TlsMode>().unwrap(), TlsMode::Implicit);
/// assert_eq!(TlsMode::Implicit.default_port(), 465);
/// assert_eq!(TlsMode::StartTls.to_string(), "StartTls");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TlsMode {
    /// Plain text for the whole session (SSIS `EnableSsl=False`).
    #[default]
    None,
    /// STARTTLS, and fail if the server does not offer it (SSIS `EnableSsl=True`).
    StartTls,
    /// STARTTLS when offered, plain text otherwise. Open to downgrade; opt-in only.
    StartTlsWhenAvailable,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
}

impl TlsMode {
    /// The port used when none is configured: 465 for implicit TLS, 25 otherwise (as SSIS).
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::Implicit => 465,
            _ => 25,
        }
    }

    /// Whether the session will certainly be encrypted before any mail or credential is sent.
    pub fn requires_tls(self) -> bool {
        matches!(self, TlsMode::StartTls | TlsMode::Implicit)
    }

    /// The canonical spelling used in connection strings.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "None",
            TlsMode::StartTls => "StartTls",
            TlsMode::StartTlsWhenAvailable => "StartTlsWhenAvailable",
            TlsMode::Implicit => "Implicit",
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value given for a [`TlsMode`] was not one of the four names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TLS mode {0:?}: expected None, StartTls, StartTlsWhenAvailable or Implicit")]
pub struct UnknownTlsMode(pub String);

impl FromStr for TlsMode {
    type Err = UnknownTlsMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "off" | "plain" => Ok(TlsMode::None),
            "starttls" | "required" => Ok(TlsMode::StartTls),
            "starttlswhenavailable" | "opportunistic" => Ok(TlsMode::StartTlsWhenAvailable),
            "implicit" | "wrapper" | "smtps" | "sslonconnect" => Ok(TlsMode::Implicit),
            _ => Err(UnknownTlsMode(s.to_string())),
        }
    }
}

/// Whether `ip` is a loopback address: `127.0.0.0/8`, `::1`, or `::ffff:127.x.y.z`.
///
/// ```
/// use smtpcm_engine::security::is_loopback_ip;
/// assert!(is_loopback_ip("127.0.0.2".parse().unwrap()));
/// assert!(is_loopback_ip("::ffff:127.0.0.1".parse().unwrap()));
/// assert!(!is_loopback_ip("10.0.0.1".parse().unwrap()));
/// ```
pub fn is_loopback_ip(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether the host name `host` names the local machine: `localhost` and `*.localhost`
/// (RFC 6761 §6.3), a loopback address, bracketed or not, with or without one trailing dot.
///
/// This is the one answer to "is this host loopback?" for the whole project.
///
/// ```
/// use smtpcm_engine::security::is_loopback_host;
/// for host in ["localhost", "LOCALHOST.", "mx.localhost", "127.0.0.2", "[::1]", "::1"] {
///     assert!(is_loopback_host(host), "{host}");
/// }
/// for host in ["mail.example.com", "localhost.example.com", "10.0.0.1", "[10.0.0.1]", ""] {
///     assert!(!is_loopback_host(host), "{host}");
/// }
/// ```
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let host = host.strip_suffix('.').unwrap_or(host);
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return is_loopback_ip(ip);
    }
    let lower = bare.to_ascii_lowercase();
    lower == "localhost" || lower.ends_with(".localhost")
}
