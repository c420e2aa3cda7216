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
//!   contradicts `Port=` is a [`ConnectionStringError`] naming the key and its position;
//!   so are `Timeout=0` and the contradictions [`ConnectionString::check`] lists;
//! * without `Timeout`, every stage of the session has SSIS's limit of 100 s;
//!   `Timeouts=Rfc5321` selects RFC 5321's per-stage limits instead.
//!
//! Secrets are never part of a connection string: a `Password`, `Pwd` or `Token` key (see
//! [`is_secret_key`]) is rejected, and the error does not repeat the value. Strings read from
//! packages may still hold one, so whatever prints a connection string passes it through
//! [`redact`] first. [`get_key`] and [`set_key`] read and change one key in place, through the
//! same tokenizer as the parser.

use std::fmt;
use std::str::FromStr;

use smtpcm_engine::security::TlsMode;
use smtpcm_engine::smtp::{DsnError, DsnNotify, DsnRet, Extension};

mod edit;
mod error;
mod keys;
mod oauth_keys;
mod tokenize;

pub use error::{ConnectionStringError, ConnectionStringErrorKind, Warning};
pub use oauth_keys::{OAuthKeys, OAuthProviderName};

pub use edit::{REDACTED, get_key, is_secret_key, redact, set_key};
pub use keys::{KEYS, KeyInfo, KeyKind, key_info};
use tokenize::segments;

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
    /// `Timeout` in milliseconds, written only when set. Never 0: that is refused, since
    /// .NET's `SmtpClient` treats 0 as "time out at once" only for some stages.
    pub timeout_ms: Option<u32>,
    /// `Timeouts=Rfc5321` (extension): RFC 5321's per-stage limits (5 minutes for most
    /// commands, 2/3/10 minutes for the DATA stages) instead of SSIS's single limit of
    /// `Timeout` milliseconds (100 s when absent). Cannot be combined with `Timeout`.
    pub rfc5321_timeouts: bool,
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
    /// `AllowInsecureAuth` (extension): allow passwords, tokens and NTLM responses over
    /// plain text, to any host; a warning is logged on every use.
    pub allow_insecure_auth: bool,
    /// `DisableExtensions` (extension): ESMTP extensions not to use even when offered,
    /// e.g. `PIPELINING,CHUNKING` for a server that implements them badly.
    pub disable_extensions: Vec<Extension>,
    /// `DsnNotify` (extension): DSN `NOTIFY`, `NEVER` or a list of `SUCCESS`, `FAILURE`, `DELAY`.
    pub dsn_notify: Option<DsnNotify>,
    /// `DsnRet` (extension): DSN `RET`, `FULL` or `HDRS`.
    pub dsn_ret: Option<DsnRet>,
    /// The OAuth2 token-acquisition keys (extension): `OAuthTokenUrl`, `OAuthClientId`,
    /// `OAuthClientSecretEnv`/`OAuthClientSecretFile`, `OAuthScope`, `OAuthIssuer`,
    /// `OAuthRefreshTokenFile`, `TokenCommand`, `OAuthProvider`, `OAuthTenant`.
    pub oauth: OAuthKeys,
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
    Timeouts,
    DisableExtensions,
    DsnNotify,
    DsnRet,
    OAuthTokenUrl,
    OAuthClientId,
    OAuthClientSecretEnv,
    OAuthClientSecretFile,
    OAuthScope,
    OAuthIssuer,
    OAuthRefreshTokenFile,
    TokenCommand,
    OAuthProvider,
    OAuthTenant,
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
            "timeouts" => Key::Timeouts,
            "disableextensions" => Key::DisableExtensions,
            "dsnnotify" => Key::DsnNotify,
            "dsnret" => Key::DsnRet,
            "oauthtokenurl" => Key::OAuthTokenUrl,
            "oauthclientid" => Key::OAuthClientId,
            "oauthclientsecretenv" => Key::OAuthClientSecretEnv,
            "oauthclientsecretfile" => Key::OAuthClientSecretFile,
            "oauthscope" => Key::OAuthScope,
            "oauthissuer" => Key::OAuthIssuer,
            "oauthrefreshtokenfile" => Key::OAuthRefreshTokenFile,
            "tokencommand" => Key::TokenCommand,
            "oauthprovider" => Key::OAuthProvider,
            "oauthtenant" => Key::OAuthTenant,
            _ => return None,
        })
    }

    /// Keys whose value is shown as `***` although it is allowed: a `TokenCommand` command
    /// line may carry a secret argument.
    fn is_redacted(lower: &str) -> bool {
        Key::is_secret(lower) || lower == "tokencommand"
    }

    fn is_secret(lower: &str) -> bool {
        matches!(
            lower,
            "password"
                | "pwd"
                | "pass"
                | "passwd"
                | "token"
                | "accesstoken"
                | "refreshtoken"
                | "idtoken"
                | "bearertoken"
                | "secret"
                | "clientsecret"
                | "sharedsecret"
                | "apikey"
                | "accountkey"
                | "sharedaccesskey"
        )
    }
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
        // Lower-cased canonical identity -> first position, for every key seen so far. A map,
        // not a list: 200,000 keys took over a minute with a linear search per key.
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut server_position = 0;
        let mut port_position = 0;
        let (mut timeout_position, mut timeouts_position) = (0, 0);
        let (mut tls_position, mut ssl_position) = (0, 0);
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
            if let Some(first) = seen.get(&identity) {
                return Err(err(ConnectionStringErrorKind::Duplicate {
                    first_position: *first,
                }));
            }
            seen.insert(identity, seg.key_position);
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
                    ssl_position = seg.key_position;
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
                    if ms == 0 {
                        return Err(err(ConnectionStringErrorKind::ZeroTimeout));
                    }
                    timeout_position = seg.key_position;
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
                Some(Key::Timeouts) => {
                    value.rfc5321_timeouts = if v.eq_ignore_ascii_case("rfc5321") {
                        true
                    } else if v.eq_ignore_ascii_case("ssis") {
                        false
                    } else {
                        return Err(err(ConnectionStringErrorKind::NotTimeoutPolicy(v.clone())));
                    };
                    timeouts_position = seg.key_position;
                }
                Some(Key::TlsMode) => {
                    tls_position = seg.key_position;
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
                Some(Key::OAuthTokenUrl) => value.oauth.token_url = text(),
                Some(Key::OAuthClientId) => value.oauth.client_id = text(),
                Some(Key::OAuthClientSecretEnv) => value.oauth.client_secret_env = text(),
                Some(Key::OAuthClientSecretFile) => value.oauth.client_secret_file = text(),
                Some(Key::OAuthScope) => value.oauth.scope = text(),
                Some(Key::OAuthIssuer) => value.oauth.issuer = text(),
                Some(Key::OAuthRefreshTokenFile) => value.oauth.refresh_token_file = text(),
                Some(Key::TokenCommand) => value.oauth.token_command = text(),
                Some(Key::OAuthTenant) => value.oauth.tenant = text(),
                Some(Key::OAuthProvider) => {
                    value.oauth.provider = Some(OAuthProviderName::parse(&v).ok_or_else(|| {
                        err(ConnectionStringErrorKind::Invalid(format!(
                            "{v:?} is not an OAuth provider (Microsoft or Google)"
                        )))
                    })?);
                }
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
        if let Err(mut e) = value.check() {
            // Name the key written later: that is where the contradiction became one.
            e.position = match e.kind {
                ConnectionStringErrorKind::TlsConflict(_) => tls_position.max(ssl_position),
                _ => timeout_position.max(timeouts_position),
            };
            e.key = Some(
                s.chars()
                    .skip(e.position.saturating_sub(1))
                    .take_while(|c| *c != '=')
                    .collect::<String>()
                    .trim()
                    .to_owned(),
            );
            return Err(e);
        }
        Ok(Parsed { value, warnings })
    }

    /// Checks the settings for values that cannot work together, for values set in code as
    /// well as parsed ones:
    ///
    /// * `Timeout=0`;
    /// * `EnableSsl=True` with `TlsMode=None` or `TlsMode=StartTlsWhenAvailable`: the first
    ///   demands TLS, the others allow plain text. (`EnableSsl=False` with `TlsMode=StartTls`
    ///   or `Implicit` is not a contradiction: SSIS always writes `EnableSsl=False`, and
    ///   `TlsMode` is the finer setting that overrides it.)
    /// * `Timeout` with `Timeouts=Rfc5321`.
    ///
    /// ```
    /// use smtpcm::connection_string::ConnectionString;
    /// let err = ConnectionString::parse("SmtpServer=h;EnableSsl=True;TlsMode=None").unwrap_err();
    /// assert!(err.to_string().contains("TlsMode=None contradicts EnableSsl=True"), "{err}");
    /// assert!(ConnectionString::parse("SmtpServer=h;EnableSsl=False;TlsMode=Implicit").is_ok());
    /// ```
    pub fn check(&self) -> Result<(), ConnectionStringError> {
        let fail = |key: &str, kind| {
            Err(ConnectionStringError {
                key: Some(key.to_owned()),
                position: 0,
                kind,
            })
        };
        if self.timeout_ms == Some(0) {
            return fail("Timeout", ConnectionStringErrorKind::ZeroTimeout);
        }
        if let (Some(ms), true) = (self.timeout_ms, self.rfc5321_timeouts) {
            return fail("Timeouts", ConnectionStringErrorKind::TimeoutConflict(ms));
        }
        if let (Some(mode @ (TlsMode::None | TlsMode::StartTlsWhenAvailable)), true) =
            (self.tls_mode, self.enable_ssl)
        {
            return fail("TlsMode", ConnectionStringErrorKind::TlsConflict(mode));
        }
        Ok(())
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

    /// `Timeout=` in milliseconds, else .NET's default of 100 000 ms: the limit on every
    /// stage of the session. With `Timeouts=Rfc5321` there is no single limit (see
    /// [`ConnectionString::timeouts`]) and this returns `None`.
    ///
    /// ```
    /// use smtpcm::connection_string::ConnectionString;
    /// let t = |s: &str| s.parse::<ConnectionString>().unwrap().effective_timeout_ms();
    /// assert_eq!(t("SmtpServer=h"), Some(100_000));
    /// assert_eq!(t("SmtpServer=h;Timeout=30000"), Some(30_000));
    /// assert_eq!(t("SmtpServer=h;Timeouts=Rfc5321"), None);
    /// ```
    pub fn effective_timeout_ms(&self) -> Option<u32> {
        if self.rfc5321_timeouts {
            None
        } else {
            Some(self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS))
        }
    }

    /// The per-stage timeouts the SMTP client uses: SSIS's single limit (`Timeout`, else
    /// 100 s) on every stage, or RFC 5321's values with `Timeouts=Rfc5321`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use smtpcm::connection_string::ConnectionString;
    /// let cs: ConnectionString = "SmtpServer=h".parse().unwrap();
    /// assert_eq!(cs.timeouts().data_end, Duration::from_secs(100));
    /// let cs: ConnectionString = "SmtpServer=h;Timeouts=Rfc5321".parse().unwrap();
    /// assert_eq!(cs.timeouts().data_end, Duration::from_secs(600));
    /// ```
    pub fn timeouts(&self) -> smtpcm_engine::smtp::Timeouts {
        match self.effective_timeout_ms() {
            Some(ms) => smtpcm_engine::smtp::Timeouts::uniform(std::time::Duration::from_millis(
                u64::from(ms),
            )),
            None => smtpcm_engine::smtp::Timeouts::rfc5321(),
        }
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

/// A value as it must be written to read back as given: quoted when it holds `;`, starts with
/// a quote, has outer spaces or line breaks.
fn quote_value(v: &str) -> std::borrow::Cow<'_, str> {
    let needs_quotes =
        v.contains(';') || v.starts_with(['"', '\'']) || v.trim() != v || v.contains(['\r', '\n']);
    if needs_quotes {
        format!("\"{}\"", v.replace('"', "\"\"")).into()
    } else {
        v.into()
    }
}

/// Writes a value, quoting it when it would not read back as written.
fn write_value(f: &mut fmt::Formatter<'_>, v: &str) -> fmt::Result {
    f.write_str(&quote_value(v))
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
        if self.rfc5321_timeouts {
            f.write_str("Timeouts=Rfc5321;")?;
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
        if let Some(provider) = self.oauth.provider {
            write!(f, "OAuthProvider={};", provider.as_str())?;
        }
        for (key, value) in self.oauth.texts() {
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
mod tests;
