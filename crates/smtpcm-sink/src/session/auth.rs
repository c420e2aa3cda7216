//! AUTH PLAIN and AUTH LOGIN against the one configured account.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};

use super::{Flow, Line, Session, SessionError};

impl Session {
    pub(super) async fn auth(
        &mut self,
        mechanism: u64,
        initial: String,
    ) -> Result<Flow, SessionError> {
        let Some(account) = self.shared.cfg.auth.clone() else {
            self.reply(502, "5.5.1 AUTH not offered");
            return Ok(Flow::Continue);
        };
        if self.shared.cfg.require_tls && !self.tls {
            self.reply(530, "5.7.0 Must issue a STARTTLS command first");
            return Ok(Flow::Continue);
        }
        if self.auth_user.is_some() {
            self.reply(503, "5.5.1 Already authenticated");
            return Ok(Flow::Continue);
        }
        if self.transaction.is_some() {
            self.reply(503, "5.5.1 AUTH not allowed during a mail transaction");
            return Ok(Flow::Continue);
        }
        let credentials = match mechanism {
            AUTH_PLAIN => self.auth_plain(initial).await?,
            AUTH_LOGIN => self.auth_login(initial).await?,
            _ => {
                self.reply(504, "5.5.4 Unrecognized authentication type");
                return Ok(Flow::Continue);
            }
        };
        match credentials {
            Credentials::Given { user, password } if account.accepts(&user, &password) => {
                self.reply(235, "2.7.0 Authentication successful");
                self.auth_user = Some(user);
            }
            Credentials::Given { .. } | Credentials::Refused => {
                self.reply(535, "5.7.8 Authentication credentials invalid");
            }
            Credentials::Cancelled => self.reply(501, "5.0.0 Authentication cancelled"),
            Credentials::Undecodable => self.reply(501, "5.5.2 Cannot decode response"),
            Credentials::Gone => return Ok(Flow::Close),
        }
        Ok(Flow::Continue)
    }

    async fn auth_plain(&mut self, initial: String) -> Result<Credentials, SessionError> {
        let response = if initial.is_empty() {
            self.reply(334, "");
            match self.auth_response().await? {
                Ok(response) => response,
                Err(stop) => return Ok(stop),
            }
        } else {
            match decode_response(initial.as_bytes()) {
                Ok(response) => response,
                Err(stop) => return Ok(stop),
            }
        };
        // RFC 4616: authzid NUL authcid NUL passwd
        let mut parts = response.split(|&b| b == 0);
        let (Some(authzid), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(Credentials::Undecodable);
        };
        if !authzid.is_empty() && authzid != user {
            // The sink has one account and no proxy rights to grant.
            return Ok(Credentials::Refused);
        }
        Ok(Credentials::given(user, password))
    }

    async fn auth_login(&mut self, initial: String) -> Result<Credentials, SessionError> {
        let user = if initial.is_empty() {
            self.reply(334, "VXNlcm5hbWU6");
            self.auth_response().await?
        } else {
            decode_response(initial.as_bytes())
        };
        let user = match user {
            Ok(user) => user,
            Err(stop) => return Ok(stop),
        };
        self.reply(334, "UGFzc3dvcmQ6");
        match self.auth_response().await? {
            Ok(password) => Ok(Credentials::given(&user, &password)),
            Err(stop) => Ok(stop),
        }
    }

    /// Reads one base64 line of a SASL exchange; the outer error ends the session.
    async fn auth_response(&mut self) -> Result<Result<Vec<u8>, Credentials>, SessionError> {
        match self.next_line("reading an AUTH response").await? {
            None => Ok(Err(Credentials::Gone)),
            Some(Line::TooLong) => {
                self.note_client("<line too long>");
                Ok(Err(Credentials::Undecodable))
            }
            Some(Line::Complete(line)) => {
                self.note_client("<redacted>");
                Ok(decode_response(&line))
            }
        }
    }
}

/// SASL credentials, or why there are none.
enum Credentials {
    Given {
        user: String,
        password: String,
    },
    /// Well-formed but unacceptable regardless of the password.
    Refused,
    Cancelled,
    Undecodable,
    /// The client closed the connection mid-exchange.
    Gone,
}

impl Credentials {
    fn given(user: &[u8], password: &[u8]) -> Self {
        match (std::str::from_utf8(user), std::str::from_utf8(password)) {
            (Ok(user), Ok(password)) => Self::Given {
                user: user.to_owned(),
                password: password.to_owned(),
            },
            _ => Self::Undecodable,
        }
    }
}

/// Decodes one SASL response line: `*` cancels, `=` is the empty response (RFC 4954).
fn decode_response(line: &[u8]) -> Result<Vec<u8>, Credentials> {
    let line = line.trim_ascii();
    match line {
        b"*" => Err(Credentials::Cancelled),
        b"=" => Ok(Vec::new()),
        _ => BASE64.decode(line).map_err(|_| Credentials::Undecodable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_responses_decode() {
        assert_eq!(
            decode_response(b"YWxpY2U=\r\n").ok(),
            Some(b"alice".to_vec())
        );
        assert_eq!(decode_response(b"=\r\n").ok(), Some(Vec::new()));
        assert!(matches!(
            decode_response(b"*\r\n"),
            Err(Credentials::Cancelled)
        ));
        assert!(matches!(
            decode_response(b"!!\r\n"),
            Err(Credentials::Undecodable)
        ));
    }
}
