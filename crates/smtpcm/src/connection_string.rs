//! The SSIS SMTP connection string: `SmtpServer=host;UseWindowsAuthentication=False;EnableSsl=False;`.
//!
//! Parsing is generous and writing is canonical, so that every string SSIS ever saved
//! round-trips byte for byte while hand-written strings still work:
//!
//! * keys are case-insensitive, whitespace around keys and values is trimmed, and a few
//!   aliases are accepted (`Server`/`Host` for `SmtpServer`, `Ssl` for `EnableSsl`,
//!   `User`/`Username` for `UserName`, `Tls` for `TlsMode`, `Spn` for `TargetName`);
//! * booleans are `True` or `False` in any case; empty segments (`;;`) are ignored;
//! * a string without any `=` is the server name, as in Microsoft's samples (`"smtphost"`);
//! * a value may be quoted with `"..."` or `'...'` (ADO style) so that it can hold `;` or
//!   keep surrounding spaces; inside quotes, a doubled quote character stands for itself;
//! * an unknown key is kept, in order, for the round trip and reported as a [`Warning`];
//! * a duplicate key (aliases included), a bad value, or a port in `SmtpServer` that
//!   contradicts `Port=` is a [`ConnectionStringError`] naming the key and its position.
//!
//! Secrets are never part of a connection string: a `Password`, `Pwd` or `Token` key is
//! rejected, and the error does not repeat the value.

use std::fmt;
use std::str::FromStr;

use smtpcm_engine::security::TlsMode;
use smtpcm_engine::smtp::{DsnError, DsnNotify, DsnRet, Extension};

/// .NET `SmtpClient.Timeout` default, used when the connection string sets none.
pub const DEFAULT_TIMEOUT_MS: u32 = 100_000;

/// A parsed SMTP connection string: the three SSIS keys, `Timeout`, and our extensions.
///
/// ```
/// use smtpcm::connection_string::ConnectionString;
/// use smtpcm::engine::security::TlsMode;
///
/// let cs: ConnectionString = "SmtpServer=mail.corp:587;UseWindowsAuthentication=False;EnableSsl=True;"
///     .parse()
///     .unwrap();
/// assert_eq!(cs.host(), "mail.corp");
/// assert_eq!(cs.effective_port(), 587);
/// assert_eq!(cs.effective_tls(), TlsMode::StartTls);
/// assert_eq!(
///     cs.to_string(),
///     "SmtpServer=mail.corp:587;UseWindowsAuthentication=False;EnableSsl=True;"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionString {
    /// `SmtpServer`, as written; may carry `:port` or `[::1]:port`.
    pub smtp_server: String,
    /// `UseWindowsAuthentication`: GSSAPI then NTLM with the process identity.
    pub use_windows_authentication: bool,
    /// `EnableSsl`: STARTTLS, required (see [`ConnectionString::effective_tls`]).
    pub enable_ssl: bool,
    /// `Timeout` in milliseconds, written only when set.
    pub timeout_ms: Option<u32>,
    /// `Port` (extension). Overrides the default of the TLS mode.
    pub port: Option<u16>,
    /// `TlsMode` (extension). Overrides `EnableSsl`.
    pub tls_mode: Option<TlsMode>,
    /// `TargetName` (extension): service principal override, e.g. `smtp/mail.corp`
    /// (.NET `SmtpClient.TargetName`).
    pub target_name: Option<String>,
    /// `UserName` (extension): selects basic or OAuth2 authentication.
    pub user_name: Option<String>,
    /// `AuthMechanism` (extension): `PLAIN`, `LOGIN`, `XOAUTH2`, `OAUTHBEARER`, `GSSAPI` or `NTLM`.
    pub auth_mechanism: Option<String>,
    /// `PasswordEnv` (extension): name of the environment variable holding the password.
    pub password_env: Option<String>,
    /// `PasswordFile` (extension): path of a file holding the password.
    pub password_file: Option<String>,
    /// `TokenEnv` (extension): name of the environment variable holding an OAuth2 bearer token.
    pub token_env: Option<String>,
    /// `TokenFile` (extension): path of a file holding an OAuth2 bearer token.
    pub token_file: Option<String>,
    /// `AllowInsecureAuth` (extension): allow credentials over plain text; only honoured
    /// for loopback servers.
    pub allow_insecure_auth: bool,
    /// `DisableExtensions` (extension): ESMTP extensions not to use even when offered,
    /// e.g. `PIPELINING,CHUNKING` for a server that implements them badly.
    pub disable_extensions: Vec<Extension>,
    /// `DsnNotify` (extension): DSN `NOTIFY`, `NEVER` or a list of `SUCCESS`, `FAILURE`, `DELAY`.
    pub dsn_notify: Option<DsnNotify>,
    /// `DsnRet` (extension): DSN `RET`, `FULL` or `HDRS`.
    pub dsn_ret: Option<DsnRet>,
    /// Unknown keys, as written and in order, so that a round trip keeps them.
    pub extra: Vec<(String, String)>,
}

/// The result of [`ConnectionString::parse`]: the value and what was suspicious about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The parsed connection string.
    pub value: ConnectionString,
    /// Things that parsed but deserve a look (unknown keys, a suspiciously short timeout).
    pub warnings: Vec<Warning>,
}

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
    #[error("{0:?} is not a timeout in milliseconds (0-4294967295)")]
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
    /// A value the key does not accept; the message names the value and what is allowed.
    #[error("{0}")]
    Invalid(String),
    /// A secret was put in the connection string; its value is deliberately not repeated.
    #[error(
        "secrets are not allowed in a connection string; use PasswordEnv, PasswordFile, TokenEnv or TokenFile"
    )]
    SecretNotAllowed,
}

/// The SASL mechanisms `AuthMechanism=` may name, in canonical spelling.
pub const MECHANISMS: [&str; 6] = ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", "GSSAPI", "NTLM"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    SmtpServer,
    UseWindowsAuthentication,
    EnableSsl,
    Timeout,
    Port,
    TlsMode,
    TargetName,
    UserName,
    AuthMechanism,
    PasswordEnv,
    PasswordFile,
    TokenEnv,
    TokenFile,
    AllowInsecureAuth,
    DisableExtensions,
    DsnNotify,
    DsnRet,
}

impl Key {
    fn lookup(lower: &str) -> Option<Key> {
        Some(match lower {
            "smtpserver" | "server" | "host" => Key::SmtpServer,
            "usewindowsauthentication" | "windowsauthentication" => Key::UseWindowsAuthentication,
            "enablessl" | "ssl" => Key::EnableSsl,
            "timeout" => Key::Timeout,
            "port" => Key::Port,
            "tlsmode" | "tls" => Key::TlsMode,
            "targetname" | "spn" => Key::TargetName,
            "username" | "user" => Key::UserName,
            "authmechanism" | "mechanism" => Key::AuthMechanism,
            "passwordenv" => Key::PasswordEnv,
            "passwordfile" => Key::PasswordFile,
            "tokenenv" => Key::TokenEnv,
            "tokenfile" => Key::TokenFile,
            "allowinsecureauth" => Key::AllowInsecureAuth,
            "disableextensions" => Key::DisableExtensions,
            "dsnnotify" => Key::DsnNotify,
            "dsnret" => Key::DsnRet,
            _ => return None,
        })
    }

    fn is_secret(lower: &str) -> bool {
        matches!(
            lower,
            "password" | "pwd" | "pass" | "token" | "accesstoken" | "secret" | "clientsecret"
        )
    }
}

/// One `key=value` segment as found in the input.
struct Segment {
    key: String,
    key_position: usize,
    value: String,
}

/// Splits `s` into segments, honouring quotes. Positions are 1-based character positions.
fn segments(s: &str) -> Result<Vec<Segment>, ConnectionStringError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let error = |key: Option<String>, position: usize, kind| ConnectionStringError {
        key,
        position,
        kind,
    };
    while i < chars.len() {
        // Key: up to '=' or ';'.
        let seg_start = i;
        while i < chars.len() && chars[i] != '=' && chars[i] != ';' {
            i += 1;
        }
        let raw_key: String = chars[seg_start..i].iter().collect();
        let key = raw_key.trim().to_string();
        let lead = raw_key.len() - raw_key.trim_start().len();
        let key_position = seg_start + raw_key[..lead].chars().count() + 1;
        if i >= chars.len() || chars[i] == ';' {
            if !key.is_empty() {
                return Err(error(
                    None,
                    key_position,
                    ConnectionStringErrorKind::MissingEquals(key),
                ));
            }
            i += 1; // empty segment
            continue;
        }
        if key.is_empty() {
            return Err(error(
                None,
                key_position,
                ConnectionStringErrorKind::EmptyKey,
            ));
        }
        i += 1; // '='
        while i < chars.len() && chars[i] != ';' && chars[i].is_whitespace() {
            i += 1;
        }
        let value = if i < chars.len() && (chars[i] == '"' || chars[i] == '\'') {
            let quote = chars[i];
            i += 1;
            let mut value = String::new();
            loop {
                match chars.get(i) {
                    None => {
                        return Err(error(
                            Some(key),
                            key_position,
                            ConnectionStringErrorKind::UnterminatedQuote,
                        ));
                    }
                    Some(&c) if c == quote => {
                        if chars.get(i + 1) == Some(&quote) {
                            value.push(quote);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            let rest_start = i;
            while i < chars.len() && chars[i] != ';' {
                i += 1;
            }
            let rest: String = chars[rest_start..i].iter().collect();
            if !rest.trim().is_empty() {
                return Err(error(
                    Some(key),
                    key_position,
                    ConnectionStringErrorKind::TextAfterQuote(rest.trim().to_string()),
                ));
            }
            value
        } else {
            let start = i;
            while i < chars.len() && chars[i] != ';' {
                i += 1;
            }
            chars[start..i]
                .iter()
                .collect::<String>()
                .trim()
                .to_string()
        };
        i += 1; // ';' or end
        out.push(Segment {
            key,
            key_position,
            value,
        });
    }
    Ok(out)
}

/// Splits a server value into host and optional port: `host`, `host:port`, `[v6]`,
/// `[v6]:port`, or a bare IPv6 address (several colons, no port).
fn split_server(server: &str) -> Result<(&str, Option<u16>), String> {
    let server = server.trim();
    if let Some(rest) = server.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err("\"[\" without \"]\"".to_string());
        };
        let host = &rest[..close];
        let after = &rest[close + 1..];
        if after.is_empty() {
            return Ok((host, None));
        }
        let Some(port) = after.strip_prefix(':') else {
            return Err(format!("unexpected {after:?} after \"]\""));
        };
        return parse_port(port)
            .map(|p| (host, Some(p)))
            .ok_or_else(|| format!("{port:?} is not a port number (1-65535)"));
    }
    match server.matches(':').count() {
        1 => {
            let (host, port) = server.split_once(':').unwrap_or((server, ""));
            parse_port(port)
                .map(|p| (host, Some(p)))
                .ok_or_else(|| format!("{port:?} is not a port number (1-65535)"))
        }
        _ => Ok((server, None)),
    }
}

fn parse_port(s: &str) -> Option<u16> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|&p| p != 0)
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Timeouts below this many milliseconds are almost always seconds written by mistake.
const SUSPICIOUS_TIMEOUT_MS: u32 = 1000;

impl ConnectionString {
    /// A connection string for `server` with every other setting at its default.
    ///
    /// ```
    /// use smtpcm::connection_string::ConnectionString;
    /// assert_eq!(
    ///     ConnectionString::new("smtphost").to_string(),
    ///     "SmtpServer=smtphost;UseWindowsAuthentication=False;EnableSsl=False;"
    /// );
    /// ```
    pub fn new(server: impl Into<String>) -> Self {
        ConnectionString {
            smtp_server: server.into(),
            ..Default::default()
        }
    }

    /// Parses a connection string, returning warnings alongside the value.
    ///
    /// ```
    /// use smtpcm::connection_string::ConnectionString;
    /// let parsed = ConnectionString::parse("smtphost").unwrap();
    /// assert_eq!(parsed.value.smtp_server, "smtphost");
    ///
    /// let parsed = ConnectionString::parse("server=h; PORT=2525; Colour=blue").unwrap();
    /// assert_eq!(parsed.value.port, Some(2525));
    /// assert_eq!(parsed.value.extra, vec![("Colour".to_string(), "blue".to_string())]);
    /// assert_eq!(parsed.warnings.len(), 1);
    /// ```
    pub fn parse(s: &str) -> Result<Parsed, ConnectionStringError> {
        let mut value = ConnectionString::default();
        let mut warnings = Vec::new();
        if !s.contains('=') {
            value.smtp_server = s.trim().to_string();
            split_server(&value.smtp_server).map_err(|reason| ConnectionStringError {
                key: None,
                position: 1,
                kind: ConnectionStringErrorKind::BadServer {
                    server: value.smtp_server.clone(),
                    reason,
                },
            })?;
            return Ok(Parsed { value, warnings });
        }
        // (lower-cased canonical identity, first position) of every key seen so far.
        let mut seen: Vec<(String, usize)> = Vec::new();
        let mut server_position = 0;
        let mut port_position = 0;
        for seg in segments(s)? {
            let lower = seg.key.to_ascii_lowercase();
            let err = |kind| ConnectionStringError {
                key: Some(seg.key.clone()),
                position: seg.key_position,
                kind,
            };
            if Key::is_secret(&lower) {
                return Err(err(ConnectionStringErrorKind::SecretNotAllowed));
            }
            let known = Key::lookup(&lower);
            let identity = match known {
                Some(k) => format!("{k:?}"),
                None => lower.clone(),
            };
            if let Some((_, first)) = seen.iter().find(|(id, _)| *id == identity) {
                return Err(err(ConnectionStringErrorKind::Duplicate {
                    first_position: *first,
                }));
            }
            seen.push((identity, seg.key_position));
            let v = seg.value.clone();
            let text = || Some(v.clone());
            match known {
                None => {
                    warnings.push(Warning {
                        key: seg.key.clone(),
                        position: seg.key_position,
                        message: "unknown key, kept as written".to_string(),
                    });
                    value.extra.push((seg.key.clone(), v.clone()));
                }
                Some(Key::SmtpServer) => {
                    split_server(&v).map_err(|reason| {
                        err(ConnectionStringErrorKind::BadServer {
                            server: v.clone(),
                            reason,
                        })
                    })?;
                    value.smtp_server = v.clone();
                    server_position = seg.key_position;
                }
                Some(Key::UseWindowsAuthentication) => {
                    value.use_windows_authentication = parse_bool(&v)
                        .ok_or_else(|| err(ConnectionStringErrorKind::NotBoolean(v.clone())))?;
                }
                Some(Key::EnableSsl) => {
                    value.enable_ssl = parse_bool(&v)
                        .ok_or_else(|| err(ConnectionStringErrorKind::NotBoolean(v.clone())))?;
                }
                Some(Key::AllowInsecureAuth) => {
                    value.allow_insecure_auth = parse_bool(&v)
                        .ok_or_else(|| err(ConnectionStringErrorKind::NotBoolean(v.clone())))?;
                }
                Some(Key::Timeout) => {
                    let ms = v
                        .parse::<u32>()
                        .ok()
                        .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| err(ConnectionStringErrorKind::NotTimeout(v.clone())))?;
                    if ms < SUSPICIOUS_TIMEOUT_MS {
                        warnings.push(Warning {
                            key: seg.key.clone(),
                            position: seg.key_position,
                            message: format!(
                                "Timeout is in milliseconds; {ms} ms is very short (seconds meant?)"
                            ),
                        });
                    }
                    value.timeout_ms = Some(ms);
                }
                Some(Key::Port) => {
                    value.port = Some(
                        parse_port(&v)
                            .ok_or_else(|| err(ConnectionStringErrorKind::NotPort(v.clone())))?,
                    );
                    port_position = seg.key_position;
                }
                Some(Key::TlsMode) => {
                    value.tls_mode = Some(
                        v.parse::<TlsMode>()
                            .map_err(|_| err(ConnectionStringErrorKind::NotTlsMode(v.clone())))?,
                    );
                }
                Some(Key::AuthMechanism) => {
                    let canonical = MECHANISMS
                        .iter()
                        .find(|m| m.eq_ignore_ascii_case(&v))
                        .ok_or_else(|| err(ConnectionStringErrorKind::NotMechanism(v.clone())))?;
                    value.auth_mechanism = Some((*canonical).to_string());
                }
                Some(Key::DisableExtensions) => {
                    value.disable_extensions = v
                        .split(',')
                        .filter(|e| !e.trim().is_empty())
                        .map(|e| e.parse::<Extension>())
                        .collect::<Result<_, _>>()
                        .map_err(|e| err(ConnectionStringErrorKind::Invalid(e.to_string())))?;
                }
                Some(Key::DsnNotify) => {
                    value.dsn_notify = Some(v.parse().map_err(|e: DsnError| {
                        err(ConnectionStringErrorKind::Invalid(e.to_string()))
                    })?);
                }
                Some(Key::DsnRet) => {
                    value.dsn_ret = Some(v.parse().map_err(|e: DsnError| {
                        err(ConnectionStringErrorKind::Invalid(e.to_string()))
                    })?);
                }
                Some(Key::TargetName) => value.target_name = text(),
                Some(Key::UserName) => value.user_name = text(),
                Some(Key::PasswordEnv) => value.password_env = text(),
                Some(Key::PasswordFile) => value.password_file = text(),
                Some(Key::TokenEnv) => value.token_env = text(),
                Some(Key::TokenFile) => value.token_file = text(),
            }
        }
        if let (Some(port), Ok((_, Some(server_port)))) =
            (value.port, split_server(&value.smtp_server))
            && port != server_port
        {
            return Err(ConnectionStringError {
                key: Some("Port".to_string()),
                position: port_position.max(server_position),
                kind: ConnectionStringErrorKind::PortConflict { port, server_port },
            });
        }
        Ok(Parsed { value, warnings })
    }

    /// The server name without port or IPv6 brackets.
    ///
    /// ```
    /// use smtpcm::connection_string::ConnectionString;
    /// assert_eq!(ConnectionString::new("[::1]:2525").host(), "::1");
    /// assert_eq!(ConnectionString::new("mail.corp:587").host(), "mail.corp");
    /// ```
    pub fn host(&self) -> &str {
        match split_server(&self.smtp_server) {
            Ok((host, _)) => host,
            Err(_) => self.smtp_server.trim(),
        }
    }

    /// The port written inside `SmtpServer`, if any.
    pub fn server_port(&self) -> Option<u16> {
        split_server(&self.smtp_server).ok().and_then(|(_, p)| p)
    }

    /// `Port=`, else the port in `SmtpServer`, else the default of the TLS mode (25 or 465).
    ///
    /// ```
    /// use smtpcm::connection_string::ConnectionString;
    /// assert_eq!("SmtpServer=h;TlsMode=Implicit".parse::<ConnectionString>().unwrap().effective_port(), 465);
    /// assert_eq!(ConnectionString::new("h").effective_port(), 25);
    /// ```
    pub fn effective_port(&self) -> u16 {
        self.port
            .or_else(|| self.server_port())
            .unwrap_or_else(|| self.effective_tls().default_port())
    }

    /// `TlsMode=` when set, else `EnableSsl=True` means [`TlsMode::StartTls`], else [`TlsMode::None`].
    pub fn effective_tls(&self) -> TlsMode {
        match (self.tls_mode, self.enable_ssl) {
            (Some(mode), _) => mode,
            (None, true) => TlsMode::StartTls,
            (None, false) => TlsMode::None,
        }
    }

    /// `Timeout=` in milliseconds, else .NET's default of 100 000 ms.
    pub fn effective_timeout_ms(&self) -> u32 {
        self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)
    }

    /// Whether the server is a loopback address or `localhost` (where
    /// [`allow_insecure_auth`](Self::allow_insecure_auth) may be honoured).
    ///
    /// ```
    /// use smtpcm::connection_string::ConnectionString;
    /// assert!(ConnectionString::new("[::1]:25").host_is_loopback());
    /// assert!(ConnectionString::new("127.0.0.2").host_is_loopback());
    /// assert!(!ConnectionString::new("mail.corp").host_is_loopback());
    /// ```
    pub fn host_is_loopback(&self) -> bool {
        smtpcm_engine::security::is_loopback_host(self.host())
    }
}

/// Writes a value, quoting it when it would not read back as written.
fn write_value(f: &mut fmt::Formatter<'_>, v: &str) -> fmt::Result {
    let needs_quotes =
        v.contains(';') || v.starts_with(['"', '\'']) || v.trim() != v || v.contains(['\r', '\n']);
    if needs_quotes {
        write!(f, "\"{}\"", v.replace('"', "\"\""))
    } else {
        f.write_str(v)
    }
}

fn bool_str(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

impl fmt::Display for ConnectionString {
    /// The canonical form: the SSIS keys exactly as SSIS writes them, then our extensions
    /// (only when set) in a fixed order, then unknown keys as given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpServer=")?;
        write_value(f, &self.smtp_server)?;
        write!(
            f,
            ";UseWindowsAuthentication={};EnableSsl={};",
            bool_str(self.use_windows_authentication),
            bool_str(self.enable_ssl)
        )?;
        if let Some(ms) = self.timeout_ms {
            write!(f, "Timeout={ms};")?;
        }
        if let Some(port) = self.port {
            write!(f, "Port={port};")?;
        }
        if let Some(mode) = self.tls_mode {
            write!(f, "TlsMode={mode};")?;
        }
        let texts = [
            ("TargetName", &self.target_name),
            ("UserName", &self.user_name),
            ("AuthMechanism", &self.auth_mechanism),
            ("PasswordEnv", &self.password_env),
            ("PasswordFile", &self.password_file),
            ("TokenEnv", &self.token_env),
            ("TokenFile", &self.token_file),
        ];
        for (key, value) in texts {
            if let Some(v) = value {
                write!(f, "{key}=")?;
                write_value(f, v)?;
                f.write_str(";")?;
            }
        }
        if self.allow_insecure_auth {
            f.write_str("AllowInsecureAuth=True;")?;
        }
        if !self.disable_extensions.is_empty() {
            let names: Vec<&str> = self
                .disable_extensions
                .iter()
                .map(|e| e.keyword())
                .collect();
            write!(f, "DisableExtensions={};", names.join(","))?;
        }
        if let Some(notify) = self.dsn_notify {
            write!(f, "DsnNotify={notify};")?;
        }
        if let Some(ret) = self.dsn_ret {
            write!(f, "DsnRet={ret};")?;
        }
        for (key, value) in &self.extra {
            write!(f, "{key}=")?;
            write_value(f, value)?;
            f.write_str(";")?;
        }
        Ok(())
    }
}

impl FromStr for ConnectionString {
    type Err = ConnectionStringError;

    /// [`ConnectionString::parse`], dropping the warnings.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConnectionString::parse(s).map(|p| p.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> ConnectionStringError {
        match ConnectionString::parse(s) {
            Ok(p) => panic!("{s:?} parsed as {:?}", p.value),
            Err(e) => e,
        }
    }

    #[test]
    fn canonical_forms_round_trip() {
        for s in [
            "SmtpServer=smtphost;UseWindowsAuthentication=False;EnableSsl=False;",
            "SmtpServer=mail.corp;UseWindowsAuthentication=True;EnableSsl=True;",
            "SmtpServer=;UseWindowsAuthentication=False;EnableSsl=False;",
            "SmtpServer=smtp.office365.com;UseWindowsAuthentication=True;EnableSsl=False;Timeout=30;",
        ] {
            assert_eq!(ConnectionString::parse(s).unwrap().value.to_string(), s);
        }
    }

    #[test]
    fn generous_parsing() {
        let p = ConnectionString::parse(
            "  host = h ;; useWINDOWSauthentication = true ; ssl=TRUE; timeout=2000; user=bob",
        )
        .unwrap();
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let v = p.value;
        assert_eq!(v.smtp_server, "h");
        assert!(v.use_windows_authentication && v.enable_ssl);
        assert_eq!(v.timeout_ms, Some(2000));
        assert_eq!(v.user_name.as_deref(), Some("bob"));
    }

    #[test]
    fn quoted_values_keep_semicolons_and_quotes() {
        let v: ConnectionString =
            r#"SmtpServer='h';PasswordFile="/a;b/""c"" d" ;"#.parse().unwrap();
        assert_eq!(v.smtp_server, "h");
        assert_eq!(v.password_file.as_deref(), Some(r#"/a;b/"c" d"#));
        let again: ConnectionString = v.to_string().parse().unwrap();
        assert_eq!(again, v);
    }

    #[test]
    fn server_ports() {
        let v: ConnectionString = "SmtpServer=[::1]:2525;Port=2525".parse().unwrap();
        assert_eq!((v.host(), v.effective_port()), ("::1", 2525));
        let v = ConnectionString::new("fe80::1");
        assert_eq!((v.host(), v.effective_port()), ("fe80::1", 25));
        let v: ConnectionString = "SmtpServer=h;TlsMode=Implicit;EnableSsl=False"
            .parse()
            .unwrap();
        assert_eq!(
            (v.effective_tls(), v.effective_port()),
            (TlsMode::Implicit, 465)
        );
    }

    #[test]
    fn errors_name_key_and_position() {
        let e = err("SmtpServer=h:25;UseWindowsAuthentication=False;Port=587");
        assert_eq!(e.key.as_deref(), Some("Port"));
        assert_eq!(e.position, 48);
        assert!(e.to_string().contains("contradicts"), "{e}");

        let e = err("SmtpServer=a;Server=b");
        assert_eq!((e.key.as_deref(), e.position), (Some("Server"), 14));
        assert_eq!(
            e.kind,
            ConnectionStringErrorKind::Duplicate { first_position: 1 }
        );

        let e = err("SmtpServer=a;EnableSsl=yes");
        assert_eq!(
            e.to_string(),
            r#"connection string: key "EnableSsl" at position 14: "yes" is not a boolean (True or False)"#
        );
        assert!(matches!(
            err("SmtpServer=h:x").kind,
            ConnectionStringErrorKind::BadServer { .. }
        ));
        assert!(matches!(
            err("SmtpServer=h;junk").kind,
            ConnectionStringErrorKind::MissingEquals(_)
        ));
        assert!(matches!(
            err("SmtpServer='h").kind,
            ConnectionStringErrorKind::UnterminatedQuote
        ));
        assert!(matches!(
            err("=x").kind,
            ConnectionStringErrorKind::EmptyKey
        ));
        assert!(matches!(
            err("Timeout=-1").kind,
            ConnectionStringErrorKind::NotTimeout(_)
        ));
        assert!(matches!(
            err("Port=0").kind,
            ConnectionStringErrorKind::NotPort(_)
        ));
        assert!(matches!(
            err("AuthMechanism=CRAM-MD5").kind,
            ConnectionStringErrorKind::NotMechanism(_)
        ));
    }

    #[test]
    fn secrets_are_refused_without_echo() {
        let e = err("SmtpServer=h;Password=hunter2");
        assert_eq!(e.kind, ConnectionStringErrorKind::SecretNotAllowed);
        assert!(!e.to_string().contains("hunter2"));
        assert!(!format!("{e:?}").contains("hunter2"));
    }

    #[test]
    fn unknown_keys_warn_and_round_trip_in_order() {
        let p = ConnectionString::parse("SmtpServer=h;Zeta=1;alpha=two words").unwrap();
        assert_eq!(p.warnings.len(), 2);
        assert_eq!(p.warnings[1].key, "alpha");
        assert_eq!(p.warnings[1].position, 21);
        assert_eq!(
            p.value.to_string(),
            "SmtpServer=h;UseWindowsAuthentication=False;EnableSsl=False;Zeta=1;alpha=two words;"
        );
    }

    #[test]
    fn short_timeout_warns() {
        let p = ConnectionString::parse("SmtpServer=h;Timeout=30").unwrap();
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].to_string().contains("milliseconds"));
    }

    #[test]
    fn extensions_written_in_fixed_order() {
        let v = ConnectionString {
            smtp_server: "h".into(),
            port: Some(587),
            tls_mode: Some(TlsMode::StartTls),
            user_name: Some("u".into()),
            auth_mechanism: Some("XOAUTH2".into()),
            token_env: Some("TOK".into()),
            allow_insecure_auth: true,
            ..Default::default()
        };
        assert_eq!(
            v.to_string(),
            "SmtpServer=h;UseWindowsAuthentication=False;EnableSsl=False;Port=587;TlsMode=StartTls;\
             UserName=u;AuthMechanism=XOAUTH2;TokenEnv=TOK;AllowInsecureAuth=True;"
        );
    }
}
