//! SASL authentication: one file per mechanism behind one small trait.
//!
//! The shape follows Go's `smtp.Auth`: a mechanism gives its name and an optional
//! initial response ([`Mechanism::start`]), then answers each server challenge
//! ([`Mechanism::next`]). The SMTP client drives the exchange through
//! [`AuthChannel`], so this module knows nothing about sockets.
//!
//! * [`authenticate`] is the driver: it picks mechanisms from an [`AuthConfig`]
//!   (which the SSIS layer builds from its connection string) and the server's `AUTH` list,
//!   refuses to send a password or token in clear text ([`may_send_secret`]), and
//!   reports which mechanism succeeded and as whom ([`AuthOutcome`]).
//! * [`windows`] is `UseWindowsAuthentication=True`: [`gssapi`] (Kerberos, through the
//!   system library loaded at run time by [`gssapi_ffi`]) then [`ntlm`] (NTLMv2), never
//!   LOGIN or PLAIN, with a logged fallback to NTLM when Kerberos cannot start.
//! * [`plain`], [`login`], [`xoauth2`] and [`oauthbearer`] are the extensions beyond SSIS.
//! * [`credentials`] says where secrets come from; none ever comes from the package.
//!
//! | environment variable | used for |
//! |---|---|
//! | `KRB5CCNAME` | the Kerberos ticket cache (`kinit`) |
//! | `KRB5_CLIENT_KTNAME` | MIT Kerberos client keytab, for service accounts without `kinit` |
//! | `KRB5_CONFIG` | the Kerberos configuration (realm, KDC) |
//! | `NTLM_USER_FILE`, `NTLMUSER` | NTLM credentials as gss-ntlmssp reads them (`DOMAIN:user:password`) |
//! | `SMTPCM_NTLM_USER`, `SMTPCM_NTLM_PASSWORD` | NTLM credentials given directly |
//! | named by `PasswordEnv=` / `TokenEnv=` | the Basic password / OAuth2 token |

mod config;
pub mod credentials;
mod driver;
mod error;
pub mod gssapi;
mod gssapi_ffi;
pub mod login;
pub mod ntlm;
pub mod oauthbearer;
pub mod plain;
pub mod token;
pub mod windows;
pub mod xoauth2;

pub use config::{AuthConfig, AuthMethod, AuthOutcome};
pub use driver::{MAX_CHALLENGE_ROUNDS, authenticate, may_send_secret, sends_secret};
pub use error::AuthError;

/// One mechanism to try, or the reason it cannot be (kept to explain a fallback).
pub(crate) enum Candidate {
    Ready(Box<dyn Mechanism>),
    Unavailable { mechanism: String, error: AuthError },
}

/// What the server said in answer to an `AUTH` command or a response line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerStep {
    /// `334`: a challenge, already base64-decoded.
    Challenge(Vec<u8>),
    /// `235`: authenticated.
    Success,
    /// Any other reply: the code, and the reply text (never containing our secret).
    Failure { code: u16, message: String },
}

/// Facts about the server a mechanism may need to build its first message.
#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    /// The host name we connected to (used for service principals such as `SMTPSVC/<host>`).
    pub host: String,
    /// Whether the channel is protected by TLS.
    pub tls: bool,
    /// Whether the peer address is a loopback address.
    pub loopback: bool,
    /// The mechanisms advertised in the EHLO `AUTH` line, upper-case.
    pub offered: Vec<String>,
}

/// A failure inside a mechanism (not a server rejection).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MechanismError {
    /// The mechanism cannot run here (no ticket, no credentials, library missing ...).
    #[error("{mechanism} unavailable: {reason}")]
    Unavailable { mechanism: String, reason: String },
    /// The server sent a challenge the mechanism cannot understand.
    #[error("{mechanism}: bad challenge from server: {reason}")]
    BadChallenge { mechanism: String, reason: String },
}

/// One SASL mechanism, as in Go's `smtp.Auth` (`start`, then `next`).
pub trait Mechanism: Send {
    /// The IANA name sent after `AUTH`, for example `PLAIN`.
    fn name(&self) -> &str;
    /// Who we authenticate as, for reports such as `smtpcm check` (never a secret).
    fn identity(&self) -> String;
    /// Begin: returns the initial response to send with `AUTH`, if the mechanism has one.
    fn start(&mut self, server: &ServerInfo) -> Result<Option<Vec<u8>>, MechanismError>;
    /// Answer one server challenge (already base64-decoded).
    fn next(&mut self, challenge: &[u8]) -> Result<Vec<u8>, MechanismError>;
}

/// The transport side of an `AUTH` exchange, implemented by [`crate::smtp::Client`].
///
/// Payloads are raw bytes; the channel base64-encodes them and redacts them from
/// every log and transcript.
#[allow(async_fn_in_trait)]
pub trait AuthChannel {
    /// The error type of the underlying transport.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Facts about the server for [`Mechanism::start`].
    fn server_info(&self) -> ServerInfo;
    /// Send `AUTH <mechanism> [initial]` and read the reply.
    async fn auth_start(
        &mut self,
        mechanism: &str,
        initial: Option<&[u8]>,
    ) -> Result<ServerStep, Self::Error>;
    /// Send one response line and read the reply.
    async fn auth_respond(&mut self, response: &[u8]) -> Result<ServerStep, Self::Error>;
    /// Abort an exchange in progress (`*`), reading the server's reply.
    async fn auth_cancel(&mut self) -> Result<(), Self::Error>;
}
