//! Why authentication did not succeed, and what a caller may do about it.

use super::MechanismError;
use super::token::TokenError;
use crate::smtp::SmtpError;

/// Why authentication did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Kerberos was the way in and there is no ticket.
    #[error("no Kerberos credentials: run kinit or set KRB5CCNAME ({detail})")]
    NoKerberosTicket { detail: String },
    /// Kerberos was the way in and the system GSSAPI library is not installed.
    #[error("{message}")]
    GssapiLibraryMissing { message: String },
    /// Nothing the server offers is something this configuration may use.
    #[error(
        "the server offers no authentication mechanism we can use: it offered [{}], we can use [{}]",
        offered.join(" "),
        wanted.join(" ")
    )]
    NoSharedMechanism {
        offered: Vec<String>,
        wanted: Vec<String>,
    },
    /// The server refused the credentials (usually `535`).
    #[error("authentication failed for {user} with {mechanism} (server replied {code} {message})")]
    Rejected {
        user: String,
        mechanism: String,
        code: u16,
        message: String,
    },
    /// A password or token would have crossed the network unencrypted.
    #[error(
        "refusing to send {mechanism} credentials to {host} over an unencrypted connection: \
         enable TLS, or set AllowInsecureAuth=True"
    )]
    InsecureChannel { mechanism: String, host: String },
    /// The connection string asks for something contradictory or unknown.
    #[error("connection string key {key}: {reason}")]
    InvalidConfig { key: String, reason: String },
    /// A credential the configuration needs is not available.
    #[error("missing credentials: {what}")]
    MissingCredentials { what: String },
    /// No OAuth2 access token could be obtained (token endpoint, refresh token, command).
    #[error("cannot get an OAuth2 access token: {0}")]
    Token(#[from] TokenError),
    /// A mechanism failed on our side.
    #[error(transparent)]
    Mechanism(#[from] MechanismError),
    /// The connection failed during the exchange.
    #[error("connection failed during authentication: {0}")]
    Transport(Box<dyn std::error::Error + Send + Sync>),
}

impl AuthError {
    /// Whether trying again later may succeed: a `4xx` answer to `AUTH`, or a connection
    /// that failed during the exchange for a reason [`SmtpError::is_retryable`] accepts.
    ///
    /// ```
    /// use smtpcm_engine::auth::AuthError;
    /// let busy = AuthError::Rejected { user: "u".into(), mechanism: "PLAIN".into(), code: 454, message: "try later".into() };
    /// let wrong = AuthError::Rejected { user: "u".into(), mechanism: "PLAIN".into(), code: 535, message: "no".into() };
    /// assert!(busy.is_retryable() && !wrong.is_retryable());
    /// assert!(wrong.is_credentials_rejected() && !busy.is_credentials_rejected());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            AuthError::Rejected { code, .. } => (400..500).contains(code),
            AuthError::Transport(e) => e
                .downcast_ref::<SmtpError>()
                .is_some_and(SmtpError::is_retryable),
            _ => false,
        }
    }

    /// The server refused the credentials with a permanent (`5xx`) reply.
    pub fn is_credentials_rejected(&self) -> bool {
        matches!(self, AuthError::Rejected { code, .. } if *code >= 500)
    }

    /// A credential this configuration needs is not available here: no Kerberos ticket,
    /// no GSSAPI library, no NTLM credentials, no password or token.
    pub fn is_missing_credentials(&self) -> bool {
        matches!(
            self,
            AuthError::NoKerberosTicket { .. }
                | AuthError::GssapiLibraryMissing { .. }
                | AuthError::MissingCredentials { .. }
        )
    }

    /// The server offers no mechanism this configuration may use.
    pub fn is_no_shared_mechanism(&self) -> bool {
        matches!(self, AuthError::NoSharedMechanism { .. })
    }

    /// A secret was not sent because the channel is not encrypted.
    pub fn is_insecure_channel(&self) -> bool {
        matches!(self, AuthError::InsecureChannel { .. })
    }

    /// The settings themselves are wrong (a key, a forced mechanism).
    pub fn is_config(&self) -> bool {
        matches!(self, AuthError::InvalidConfig { .. })
    }

    /// The connection failed during the exchange (the SMTP error, when there is one).
    pub fn transport_error(&self) -> Option<&SmtpError> {
        match self {
            AuthError::Transport(e) => e.downcast_ref::<SmtpError>(),
            _ => None,
        }
    }
}
