//! Where and how to connect, and sending a prepared message over a connection.
//!
//! An [`Endpoint`] is the engine's whole view of a configured server: the client
//! settings and the authentication settings. The SSIS connection manager builds
//! one from its connection string; a Rust program can build one directly.

use crate::auth::{self, AuthConfig, AuthError, AuthOutcome};
use crate::mime::{MimeError, PreparedMessage};
use crate::progress::ProgressWriter;
use crate::smtp::{Client, ClientConfig, Envelope, SendReport, SmtpError};

/// Why a connection could not be opened or a message not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Authentication could not be set up or was refused.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The SMTP conversation failed.
    #[error(transparent)]
    Smtp(#[from] SmtpError),
    /// The message could not be written.
    #[error(transparent)]
    Mime(#[from] MimeError),
}

impl SendError {
    /// Whether sending again later may succeed; see [`SmtpError::is_retryable`] and
    /// [`AuthError::is_retryable`]. A message that cannot be written never is.
    pub fn is_retryable(&self) -> bool {
        match self {
            SendError::Auth(e) => e.is_retryable(),
            SendError::Smtp(e) => e.is_retryable(),
            SendError::Mime(_) => false,
        }
    }
}

/// A live connection: the client, and how it authenticated.
pub struct Connection {
    /// The connected, authenticated client, ready for mail.
    pub client: Client,
    /// The mechanism used and as whom, or `None` for an anonymous session.
    pub auth: Option<AuthOutcome>,
}

/// A server and how to authenticate to it.
///
/// ```no_run
/// # async fn demo() -> Result<(), smtpcm_engine::SendError> {
/// use smtpcm_engine::auth::{AuthConfig, AuthMethod};
/// use smtpcm_engine::security::TlsMode;
/// use smtpcm_engine::smtp::ClientConfig;
/// use smtpcm_engine::Endpoint;
/// let endpoint = Endpoint {
///     client: ClientConfig::new("mail.example.com", 587, TlsMode::StartTls),
///     auth: AuthConfig { method: AuthMethod::Anonymous, target_name: None, allow_insecure: false },
/// };
/// let connection = endpoint.connect().await?;
/// connection.client.quit().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Where to connect and how to protect the session.
    pub client: ClientConfig,
    /// How to authenticate once connected.
    pub auth: AuthConfig,
}

impl Endpoint {
    /// Connect, negotiate TLS, say EHLO and authenticate: a client ready for mail.
    pub async fn connect(&self) -> Result<Connection, SendError> {
        let mut client = Client::connect(&self.client).await?;
        let auth = auth::authenticate(&mut client, &self.auth).await?;
        Ok(Connection { client, auth })
    }

    /// Send one prepared message on a fresh connection, then QUIT.
    ///
    /// The report lists each accepted and each rejected recipient; a message is
    /// reported as sent only when the server accepted it after the final dot.
    pub async fn send(&self, message: &PreparedMessage) -> Result<SendReport, SendError> {
        let mut conn = self.connect().await?;
        let report = send_on(&mut conn.client, message).await?;
        // The message is already accepted: a failed QUIT must not turn it into an error.
        if let Err(e) = conn.client.quit().await {
            tracing::debug!("QUIT after delivery failed: {e}");
        }
        Ok(report)
    }
}

/// The envelope for a prepared message.
pub fn envelope_for(message: &PreparedMessage) -> Envelope {
    Envelope {
        from: message.envelope_from().to_string(),
        recipients: message.recipients().to_vec(),
        size: Some(message.size()),
        eight_bit: message.needs_8bitmime(),
        smtputf8: message.needs_smtputf8(),
        dsn: Default::default(),
    }
}

/// Send one prepared message over an existing connection (which may be reused afterwards).
pub async fn send_on(
    client: &mut Client,
    message: &PreparedMessage,
) -> Result<SendReport, SendError> {
    send_on_with_progress(client, message, |_| {}).await
}

/// As [`send_on`], reporting each block of message bytes as it is handed to the server.
pub async fn send_on_with_progress<F: FnMut(u64) + Unpin>(
    client: &mut Client,
    message: &PreparedMessage,
    on_progress: F,
) -> Result<SendReport, SendError> {
    let envelope = envelope_for(message);
    let mut writer = client.begin(&envelope).await?;
    let mut counted = ProgressWriter::new(&mut writer, on_progress);
    let written = message.write_to(&mut counted).await;
    drop(counted);
    if let Err(e) = written {
        // A write that failed on the connection (reset, timeout mid-body) is an SMTP
        // connection error at the message-transfer stage, retried per policy; only a
        // failure of the message itself (an attachment) stays a MIME error.
        return Err(match writer.take_error() {
            Some(smtp) => SendError::Smtp(smtp),
            None => SendError::Mime(e),
        });
    }
    Ok(writer.finish().await?)
}
