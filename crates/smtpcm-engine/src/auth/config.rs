//! What to authenticate with, and what authentication achieved.
//!
//! The SSIS layer builds an [`AuthConfig`] from its connection string; the engine
//! only reads it.

use std::sync::Arc;

use secrecy::SecretString;

use super::token::TokenCache;

use super::credentials::NtlmCredentials;

/// How to authenticate, as the caller decided it (the SSIS layer maps its connection string here).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Which kind of authentication.
    pub method: AuthMethod,
    /// The `TargetName` extension key: the Kerberos SPN (default `SMTPSVC/<host>`).
    pub target_name: Option<String>,
    /// `AllowInsecureAuth=True`: permit passwords, tokens and NTLM responses in clear text,
    /// to any host, with a warning logged on every use.
    pub allow_insecure: bool,
}

/// The kinds of authentication. `Debug` never shows a password or token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthMethod {
    /// No `AUTH` at all (SSIS `UseWindowsAuthentication=False`).
    Anonymous,
    /// SSIS `UseWindowsAuthentication=True`: GSSAPI (Kerberos), then NTLM.
    Windows {
        /// NTLM credentials, if any were found outside the package.
        ntlm: Option<NtlmCredentials>,
        /// Force one mechanism (`AuthMechanism=GSSAPI` or `NTLM`); otherwise GSSAPI, then NTLM.
        mechanism: Option<String>,
    },
    /// PLAIN or LOGIN with a password (an extension beyond SSIS).
    Basic {
        /// The account name.
        user: String,
        /// The password.
        password: SecretString,
        /// Force one mechanism (`AuthMechanism=`); otherwise PLAIN, then LOGIN.
        mechanism: Option<String>,
    },
    /// XOAUTH2 or OAUTHBEARER with an access token (an extension beyond SSIS).
    OAuth2 {
        /// The mailbox the token belongs to.
        user: String,
        /// The OAuth 2.0 access token.
        token: SecretString,
        /// Force one mechanism (`AuthMechanism=`); otherwise OAUTHBEARER, then XOAUTH2.
        mechanism: Option<String>,
    },
    /// XOAUTH2 or OAUTHBEARER with access tokens fetched at run time and cached: a token
    /// the server rejects is replaced by a fresh one once (see [`TokenCache`]).
    OAuth2Fetched {
        /// The mailbox the token belongs to.
        user: String,
        /// Where tokens come from; shared by every connection that clones this config.
        tokens: Arc<TokenCache>,
        /// Force one mechanism (`AuthMechanism=`); otherwise OAUTHBEARER, then XOAUTH2.
        mechanism: Option<String>,
    },
}

/// What authentication achieved, for reports such as `smtpcm check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOutcome {
    /// The mechanism the server accepted, e.g. `GSSAPI`.
    pub mechanism: String,
    /// Who we are now, e.g. `alice@TEST.LOCAL` or `CORP\alice`.
    pub identity: String,
    /// Set when a preferred mechanism could not be used, saying why.
    pub fallback_note: Option<String>,
}
