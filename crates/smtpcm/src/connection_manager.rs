//! The SSIS SMTP connection manager (`CreationName="SMTP"`).
//!
//! In SSIS the object is a bag of four properties kept in step with a
//! connection string; `AcquireConnection` only hands back that string. Here
//! [`SmtpConnectionManager::acquire`] goes further and returns a live,
//! authenticated [`Client`], while [`SmtpConnectionManager::acquire_connection`]
//! keeps the SSIS contract for code that expects the string.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use secrecy::SecretString;

use smtpcm_engine::auth::token::TokenCache;
use smtpcm_engine::auth::{AuthConfig, AuthError, AuthMethod};
use smtpcm_engine::mime::{MimeError, PreparedMessage};
use smtpcm_engine::security::TlsMode;
use smtpcm_engine::smtp::{ClientConfig, Dsn, SendReport, SmtpError};
use smtpcm_engine::{Endpoint, SendError};

use crate::auth_settings;
use crate::connection_string::{ConnectionString, ConnectionStringError, Warning};

pub use smtpcm_engine::Connection;
pub use smtpcm_engine::endpoint::{envelope_for, send_on, send_on_with_progress};

/// A token cache and the OAuth settings (as text) it was made for.
type SharedTokens = (String, Arc<TokenCache>);

/// The connection string SSIS's designer writes for a new SMTP connection manager.
pub const DEFAULT_CONNECTION_STRING: &str =
    "SmtpServer=;UseWindowsAuthentication=False;EnableSsl=False;";

/// An SMTP connection manager, as found in a package's Connections collection.
///
/// Setting [`connection_string`](Self::set_connection_string) updates the typed
/// properties, and setting a property rewrites the connection string, as in SSIS.
///
/// ```
/// use smtpcm::connection_manager::SmtpConnectionManager;
///
/// let mut cm = SmtpConnectionManager::new("SMTP Connection Manager");
/// cm.set_smtp_server("mail.corp");
/// cm.set_enable_ssl(true);
/// assert_eq!(
///     cm.connection_string(),
///     "SmtpServer=mail.corp;UseWindowsAuthentication=False;EnableSsl=True;"
/// );
/// cm.set_connection_string("SmtpServer=relay;UseWindowsAuthentication=True;EnableSsl=False;Timeout=2000;")
///     .unwrap();
/// assert_eq!(cm.smtp_server(), "relay");
/// assert!(cm.use_windows_authentication());
/// assert_eq!(cm.timeout(), Some(2000));
/// assert_eq!(cm.connection_type(), "SMTP");
/// ```
#[derive(Debug, Clone)]
pub struct SmtpConnectionManager {
    /// The unique name of the connection manager within its package.
    pub name: String,
    /// Free text describing its purpose.
    pub description: String,
    settings: ConnectionString,
    extra_ca_file: Option<PathBuf>,
    sensitive_secret: Option<SecretString>,
    dsn: Dsn,
    /// The OAuth token cache shared by every connection of this manager (and its clones),
    /// with the settings it was made for: changed settings get a new cache.
    tokens: Arc<Mutex<Option<SharedTokens>>>,
}

/// Why a connection could not be acquired or a message not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The connection string is malformed.
    #[error(transparent)]
    Config(#[from] ConnectionStringError),
    /// The SSIS error `SMTP_SERVER_NOT_SPECIFIED`.
    #[error(
        "0xC00291C4: the SMTP server is not specified in connection manager \"{0}\"; provide a valid name or IP address"
    )]
    NoServer(String),
    /// Connecting, authenticating or sending failed: the engine's error, whose
    /// [`SendError::is_retryable`] is the one retry predicate.
    #[error(transparent)]
    Send(#[from] SendError),
}

impl ConnectionError {
    /// Whether sending again later may succeed ([`SendError::is_retryable`]); a
    /// configuration error never is.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ConnectionError::Send(e) if e.is_retryable())
    }

    /// The SMTP failure, if that is what this is.
    pub fn smtp(&self) -> Option<&SmtpError> {
        match self {
            ConnectionError::Send(SendError::Smtp(e)) => Some(e),
            _ => None,
        }
    }

    /// The authentication failure, if that is what this is.
    pub fn auth(&self) -> Option<&AuthError> {
        match self {
            ConnectionError::Send(SendError::Auth(e)) => Some(e),
            _ => None,
        }
    }
}

/// Lets `?` lift the engine's failures straight into a [`ConnectionError`].
macro_rules! from_send_error {
    ($($t:ty),*) => {$(
        impl From<$t> for ConnectionError {
            fn from(e: $t) -> Self {
                ConnectionError::Send(e.into())
            }
        }
    )*};
}
from_send_error!(AuthError, SmtpError, MimeError);

impl SmtpConnectionManager {
    /// The connection manager type, as in `DTS:CreationName`.
    pub const CREATION_NAME: &'static str = "SMTP";

    /// A new connection manager with the designer's defaults (no server, anonymous, no SSL).
    pub fn new(name: impl Into<String>) -> Self {
        SmtpConnectionManager {
            name: name.into(),
            description: String::new(),
            settings: ConnectionString {
                smtp_server: String::new(),
                use_windows_authentication: false,
                enable_ssl: false,
                timeout_ms: None,
                rfc5321_timeouts: false,
                port: None,
                tls_mode: None,
                target_name: None,
                user_name: None,
                auth_mechanism: None,
                password_env: None,
                password_file: None,
                token_env: None,
                token_file: None,
                allow_insecure_auth: false,
                disable_extensions: Vec::new(),
                dsn_notify: None,
                dsn_ret: None,
                oauth: Default::default(),
                extra: Vec::new(),
            },
            extra_ca_file: None,
            sensitive_secret: None,
            dsn: Dsn::default(),
            tokens: Default::default(),
        }
    }

    /// A connection manager configured from a connection string.
    ///
    /// ```
    /// use smtpcm::connection_manager::SmtpConnectionManager;
    /// let cm = SmtpConnectionManager::with_connection_string("SMTP", "smtphost").unwrap();
    /// assert_eq!(cm.smtp_server(), "smtphost");
    /// ```
    pub fn with_connection_string(
        name: impl Into<String>,
        connection_string: &str,
    ) -> Result<Self, ConnectionStringError> {
        let mut cm = Self::new(name);
        cm.set_connection_string(connection_string)?;
        Ok(cm)
    }

    /// Always `"SMTP"`: the SSIS `ConnectionManagerType`.
    pub fn connection_type(&self) -> &'static str {
        Self::CREATION_NAME
    }

    /// The connection string in canonical SSIS form, extensions after the SSIS keys.
    pub fn connection_string(&self) -> String {
        self.settings.to_string()
    }

    /// Replace every property from a connection string; returns warnings for unknown keys.
    pub fn set_connection_string(
        &mut self,
        s: &str,
    ) -> Result<Vec<Warning>, ConnectionStringError> {
        let parsed = ConnectionString::parse(s)?;
        self.settings = parsed.value;
        Ok(parsed.warnings)
    }

    /// The SSIS `AcquireConnection` result: the connection string itself, with no network I/O.
    pub fn acquire_connection(&self) -> String {
        self.connection_string()
    }

    /// The parsed settings.
    pub fn settings(&self) -> &ConnectionString {
        &self.settings
    }

    /// Mutable access to the parsed settings (extension keys such as `Port` or `TlsMode`).
    pub fn settings_mut(&mut self) -> &mut ConnectionString {
        &mut self.settings
    }

    /// `SmtpServer`: the host name or address, possibly with a port.
    pub fn smtp_server(&self) -> &str {
        &self.settings.smtp_server
    }

    /// Set `SmtpServer`.
    pub fn set_smtp_server(&mut self, server: impl Into<String>) {
        self.settings.smtp_server = server.into();
    }

    /// `UseWindowsAuthentication`.
    pub fn use_windows_authentication(&self) -> bool {
        self.settings.use_windows_authentication
    }

    /// Set `UseWindowsAuthentication`.
    pub fn set_use_windows_authentication(&mut self, on: bool) {
        self.settings.use_windows_authentication = on;
    }

    /// `EnableSsl` (STARTTLS, required).
    pub fn enable_ssl(&self) -> bool {
        self.settings.enable_ssl
    }

    /// Set `EnableSsl`.
    pub fn set_enable_ssl(&mut self, on: bool) {
        self.settings.enable_ssl = on;
    }

    /// `Timeout` in milliseconds, if set (.NET's default of 100000 applies otherwise, to every
    /// stage; see [`ConnectionString::timeouts`]).
    pub fn timeout(&self) -> Option<u32> {
        self.settings.timeout_ms
    }

    /// Set `Timeout` in milliseconds; `None` removes it from the connection string.
    pub fn set_timeout(&mut self, ms: Option<u32>) {
        self.settings.timeout_ms = ms;
    }

    /// Trust this PEM file of CA certificates in addition to the platform's roots.
    pub fn set_extra_ca_file(&mut self, path: Option<PathBuf>) {
        self.extra_ca_file = path;
    }

    /// DSN settings for every message sent through this manager (from a task or the
    /// command line); each one not set falls back to `DsnNotify`/`DsnRet` in the
    /// connection string. Sent only to a server that offers DSN.
    pub fn set_dsn(&mut self, dsn: Dsn) {
        self.dsn = dsn;
    }

    /// Set the password or OAuth2 token as a sensitive property (never saved, never logged).
    ///
    /// It takes precedence over `PasswordEnv`/`PasswordFile`/`TokenEnv`/`TokenFile`.
    pub fn set_secret(&mut self, secret: Option<SecretString>) {
        self.sensitive_secret = secret;
    }

    /// The SMTP client settings this connection manager resolves to.
    pub fn client_config(&self) -> Result<ClientConfig, ConnectionError> {
        let host = self.settings.host();
        if host.trim().is_empty() {
            return Err(ConnectionError::NoServer(self.name.clone()));
        }
        let mut cfg = ClientConfig::new(
            host,
            self.settings.effective_port(),
            self.settings.effective_tls(),
        );
        // Setters bypass parsing, so contradictions (Timeout 0, EnableSsl with TlsMode=None)
        // are checked again here, before anything connects.
        self.settings.check()?;
        cfg.extra_ca_file = self.extra_ca_file.clone();
        // SSIS's single limit (100 s by default) unless Timeouts=Rfc5321 asks for per-stage ones.
        cfg.timeouts = self.settings.timeouts();
        cfg.disabled_extensions = self.settings.disable_extensions.clone();
        let from_string = Dsn {
            notify: self.settings.dsn_notify,
            ret: self.settings.dsn_ret,
            envid: None,
        };
        cfg.dsn = self.dsn.or(&from_string);
        Ok(cfg)
    }

    /// The TLS mode in force: `TlsMode=` if set, else `EnableSsl`.
    pub fn tls_mode(&self) -> TlsMode {
        self.settings.effective_tls()
    }

    /// The authentication settings, with the sensitive property applied.
    ///
    /// With OAuth keys, every call returns the same token cache (until the OAuth settings,
    /// the user or the CA file change), so one token serves every connection and send.
    pub fn auth_config(&self) -> Result<AuthConfig, ConnectionError> {
        let mut cfg = auth_settings::auth_config_for(
            &self.settings,
            self.sensitive_secret.as_ref(),
            self.extra_ca_file.as_deref(),
        )?;
        if let AuthMethod::OAuth2Fetched { tokens, .. } = &mut cfg.method {
            let key = format!(
                "{:?}|{:?}|{:?}",
                self.settings.oauth, self.settings.user_name, self.extra_ca_file
            );
            let mut shared = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            match shared.as_ref() {
                Some((k, cache)) if *k == key => *tokens = cache.clone(),
                _ => *shared = Some((key, tokens.clone())),
            }
        }
        Ok(cfg)
    }

    /// What the engine needs to connect: the client and authentication settings.
    /// Secrets are read here, before any connection is opened.
    pub fn endpoint(&self) -> Result<Endpoint, ConnectionError> {
        Ok(Endpoint {
            client: self.client_config()?,
            auth: self.auth_config()?,
        })
    }

    /// Connect, negotiate TLS, say EHLO and authenticate: a client ready for mail.
    pub async fn acquire(&self) -> Result<Connection, ConnectionError> {
        Ok(self.endpoint()?.connect().await?)
    }

    /// Send one prepared message on a fresh connection, then QUIT.
    ///
    /// The report lists each accepted and each rejected recipient; a message is
    /// reported as sent only when the server accepted it after the final dot.
    pub async fn send(&self, message: &PreparedMessage) -> Result<SendReport, ConnectionError> {
        Ok(self.endpoint()?.send(message).await?)
    }
}
