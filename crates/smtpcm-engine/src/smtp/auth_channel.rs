//! The SMTP side of a SASL exchange (RFC 4954): [`AuthChannel`] for [`Client`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::client::Client;
use super::command::{Auth, AuthCancel, AuthResponse};
use super::error::{ErrorKind, SmtpError, Stage};
use super::reply::Reply;
use crate::auth::{AuthChannel, ServerInfo, ServerStep};

impl AuthChannel for Client {
    type Error = SmtpError;

    fn server_info(&self) -> ServerInfo {
        ServerInfo {
            host: self.host().to_string(),
            tls: self.is_tls(),
            loopback: self.peer_is_loopback(),
            offered: self.capabilities().auth_mechanisms.clone(),
        }
    }

    async fn auth_start(
        &mut self,
        mechanism: &str,
        initial: Option<&[u8]>,
    ) -> Result<ServerStep, SmtpError> {
        if mechanism.is_empty()
            || !mechanism
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(SmtpError::new(
                Stage::Auth,
                ErrorKind::InvalidInput(format!("{mechanism:?} is not a SASL mechanism name")),
            ));
        }
        let limit = self.timeouts().auth;
        let reply = self
            .command(&Auth { mechanism, initial }, Stage::Auth, limit)
            .await?;
        to_step(reply)
    }

    async fn auth_respond(&mut self, response: &[u8]) -> Result<ServerStep, SmtpError> {
        let limit = self.timeouts().auth;
        let reply = self
            .command(&AuthResponse(response), Stage::Auth, limit)
            .await?;
        to_step(reply)
    }

    async fn auth_cancel(&mut self) -> Result<(), SmtpError> {
        let limit = self.timeouts().auth;
        // The server answers `*` with 501; any answer ends the exchange.
        self.command(&AuthCancel, Stage::Auth, limit).await?;
        Ok(())
    }
}

fn to_step(reply: Reply) -> Result<ServerStep, SmtpError> {
    match reply.code {
        334 => {
            let text = reply.lines.first().map(|l| l.trim()).unwrap_or("");
            let challenge = BASE64.decode(text).map_err(|e| {
                SmtpError::new(
                    Stage::Auth,
                    ErrorKind::Protocol(format!("334 challenge is not valid base64: {e}")),
                )
            })?;
            Ok(ServerStep::Challenge(challenge))
        }
        235 => Ok(ServerStep::Success),
        code => {
            // The code travels separately; keep the enhanced status and text only.
            let shown = reply.to_string();
            let message = shown
                .strip_prefix(&code.to_string())
                .unwrap_or(&shown)
                .trim_start()
                .to_string();
            Ok(ServerStep::Failure { code, message })
        }
    }
}
