//! AUTH PLAIN and AUTH LOGIN against the one configured account, and XOAUTH2 and OAUTHBEARER
//! against its token.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use smtp_proto::{AUTH_LOGIN, AUTH_OAUTHBEARER, AUTH_PLAIN, AUTH_XOAUTH2};

use super::{Flow, Line, Session, SessionError};
use crate::config::SinkAuth;

/// The error challenge Gmail sends for a bad XOAUTH2 token (before base64).
const XOAUTH2_ERROR: &str =
    r#"{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}"#;
/// The RFC 7628 §3.2.2 error challenge for a bad OAUTHBEARER token (before base64).
const OAUTHBEARER_ERROR: &str = r#"{"status":"invalid_token","schemes":"bearer","scope":"smtp"}"#;

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
            AUTH_XOAUTH2 | AUTH_OAUTHBEARER if account.token.is_some() => {
                return self.auth_oauth(mechanism, initial, &account).await;
            }
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

    /// XOAUTH2 or OAUTHBEARER: one initial response holding the user and the token. A wrong
    /// token gets the mechanism's base64 JSON error challenge; whatever the client answers
    /// (an empty line for XOAUTH2, `^A` for OAUTHBEARER), the exchange ends with `535`.
    async fn auth_oauth(
        &mut self,
        mechanism: u64,
        initial: String,
        account: &SinkAuth,
    ) -> Result<Flow, SessionError> {
        let xoauth2 = mechanism == AUTH_XOAUTH2;
        let response = if initial.is_empty() {
            self.reply(334, "");
            self.auth_response().await?
        } else {
            decode_response(initial.as_bytes())
        };
        let response = match response {
            Ok(response) => response,
            Err(stop) => return Ok(self.end_exchange(stop)),
        };
        let parsed = if xoauth2 {
            parse_xoauth2(&response)
        } else {
            parse_oauthbearer(&response)
        };
        let Some(OAuthResponse { user, token }) = parsed else {
            self.reply(501, "5.5.2 Cannot decode response");
            return Ok(Flow::Continue);
        };
        // OAUTHBEARER's authzid is optional: then the token alone names the account.
        let user_ok = user.as_deref().is_none_or(|user| user == account.username);
        if user_ok && account.token.as_deref() == Some(token.as_str()) {
            self.reply(235, "2.7.0 Accepted");
            self.auth_user = Some(account.username.clone());
            return Ok(Flow::Continue);
        }
        let challenge = if xoauth2 {
            XOAUTH2_ERROR
        } else {
            OAUTHBEARER_ERROR
        };
        self.reply(334, &BASE64.encode(challenge));
        match self.auth_response().await? {
            Err(Credentials::Gone) => Ok(Flow::Close),
            Err(Credentials::Cancelled) => {
                self.reply(501, "5.0.0 Authentication cancelled");
                Ok(Flow::Continue)
            }
            _ if xoauth2 => {
                self.reply(535, "5.7.8 Username and Password not accepted");
                Ok(Flow::Continue)
            }
            _ => {
                self.reply(535, "5.7.8 Authentication credentials invalid");
                Ok(Flow::Continue)
            }
        }
    }

    /// The reply for a SASL exchange that ended without credentials.
    fn end_exchange(&mut self, stop: Credentials) -> Flow {
        match stop {
            Credentials::Cancelled => self.reply(501, "5.0.0 Authentication cancelled"),
            Credentials::Gone => return Flow::Close,
            _ => self.reply(501, "5.5.2 Cannot decode response"),
        }
        Flow::Continue
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

/// What an XOAUTH2 or OAUTHBEARER initial response carries.
#[derive(Debug, PartialEq, Eq)]
struct OAuthResponse {
    user: Option<String>,
    token: String,
}

/// `user=USER ^A auth=Bearer TOKEN ^A ^A` (Google's and Microsoft's XOAUTH2).
fn parse_xoauth2(response: &[u8]) -> Option<OAuthResponse> {
    let text = std::str::from_utf8(response).ok()?;
    let fields = text.strip_suffix("\x01\x01")?;
    let mut user = None;
    let mut token = None;
    for field in fields.split('\x01') {
        if let Some(value) = field.strip_prefix("user=") {
            user = Some(value.to_owned());
        } else if let Some(value) = field.strip_prefix("auth=") {
            token = bearer(value);
        }
    }
    Some(OAuthResponse {
        user: Some(user?),
        token: token?,
    })
}

/// RFC 7628: `gs2-header ^A *(key=value ^A) ^A`, with the token in `auth=Bearer TOKEN`.
fn parse_oauthbearer(response: &[u8]) -> Option<OAuthResponse> {
    let text = std::str::from_utf8(response).ok()?;
    let (gs2, pairs) = text.split_once('\x01')?;
    // gs2-header = cbind-flag "," [ "a=" saslname ] ","; channel binding is not supported.
    let authzid = gs2
        .strip_prefix("n,")
        .or_else(|| gs2.strip_prefix("y,"))?
        .strip_suffix(',')?;
    let user = match authzid {
        "" => None,
        a => Some(
            a.strip_prefix("a=")?
                .replace("=2C", ",")
                .replace("=3D", "="),
        ),
    };
    let pairs = pairs.strip_suffix("\x01\x01")?;
    let token = pairs
        .split('\x01')
        .find_map(|pair| pair.strip_prefix("auth="))
        .and_then(bearer)?;
    Some(OAuthResponse { user, token })
}

/// The token of an `auth=` value: `Bearer TOKEN`, the scheme in any case (RFC 6750).
fn bearer(value: &str) -> Option<String> {
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
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
    fn oauth_initial_responses_parse() {
        assert_eq!(
            parse_xoauth2(b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4\x01\x01"),
            Some(OAuthResponse {
                user: Some("someuser@example.com".into()),
                token: "ya29.vF9dft4".into()
            })
        );
        assert_eq!(parse_xoauth2(b"user=u\x01auth=Bearer t\x01"), None);
        assert_eq!(parse_xoauth2(b"user=u\x01auth=Basic t\x01\x01"), None);
        // RFC 7628 §4.1, with an escaped authzid.
        assert_eq!(
            parse_oauthbearer(
                b"n,a=a=2Cb=3Dc,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
            ),
            Some(OAuthResponse {
                user: Some("a,b=c".into()),
                token: "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==".into()
            })
        );
        assert_eq!(
            parse_oauthbearer(b"n,,\x01auth=bearer t\x01\x01"),
            Some(OAuthResponse {
                user: None,
                token: "t".into()
            })
        );
        assert_eq!(
            parse_oauthbearer(b"p=tls-unique,,\x01auth=Bearer t\x01\x01"),
            None
        );
    }

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
