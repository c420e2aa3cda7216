//! `XOAUTH2` (Google/Microsoft): an OAuth 2.0 bearer token in one initial response.

use secrecy::{ExposeSecret, SecretString};

use super::{Mechanism, MechanismError, ServerInfo};

/// SASL `XOAUTH2`: `user=USER ^A auth=Bearer TOKEN ^A ^A`.
///
/// This is the format documented by Google and Microsoft (and used by FusionAuth).
/// On failure the server sends a `334` challenge holding a JSON error; the client
/// must answer it with an empty line, after which the server sends the final `535`.
///
/// ```
/// use smtpcm_engine::auth::{Mechanism, ServerInfo, xoauth2::XOAuth2};
/// let mut m = XOAuth2::new("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg".to_string().into());
/// let first = m.start(&ServerInfo::default()).unwrap().unwrap();
/// assert_eq!(first, b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01");
/// ```
pub struct XOAuth2 {
    user: String,
    token: SecretString,
}

impl XOAuth2 {
    /// Authenticate as `user` with the OAuth 2.0 access `token`.
    pub fn new(user: impl Into<String>, token: SecretString) -> Self {
        XOAuth2 {
            user: user.into(),
            token,
        }
    }
}

impl std::fmt::Debug for XOAuth2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XOAuth2")
            .field("user", &self.user)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl Mechanism for XOAuth2 {
    fn name(&self) -> &str {
        "XOAUTH2"
    }

    fn identity(&self) -> String {
        self.user.clone()
    }

    fn start(&mut self, _server: &ServerInfo) -> Result<Option<Vec<u8>>, MechanismError> {
        if self.user.contains('\x01') || self.token.expose_secret().contains('\x01') {
            return Err(MechanismError::Unavailable {
                mechanism: "XOAUTH2".into(),
                reason: "user name or token contains a ^A (0x01) separator".into(),
            });
        }
        let message = format!(
            "user={}\x01auth=Bearer {}\x01\x01",
            self.user,
            self.token.expose_secret()
        );
        Ok(Some(message.into_bytes()))
    }

    fn next(&mut self, _challenge: &[u8]) -> Result<Vec<u8>, MechanismError> {
        // The only challenge is the JSON error report; an empty answer lets the
        // server finish with its 5xx reply, which carries the failure to the caller.
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_documented_example() {
        // developers.google.com/gmail/imap/xoauth2-protocol: the unencoded initial
        // client response for someuser@example.com.
        let mut m = XOAuth2::new(
            "someuser@example.com",
            SecretString::from("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
        );
        let message = m.start(&ServerInfo::default()).unwrap().unwrap();
        assert_eq!(
            message,
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        use base64::Engine as _;
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(&message),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
    }

    #[test]
    fn error_challenge_is_answered_with_empty_line() {
        let mut m = XOAuth2::new("u", SecretString::from("t"));
        let json = br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
        assert_eq!(m.next(json).unwrap(), b"");
    }

    #[test]
    fn separator_in_token_is_refused() {
        let mut m = XOAuth2::new("u", SecretString::from("a\x01b"));
        assert!(m.start(&ServerInfo::default()).is_err());
    }

    #[test]
    fn debug_redacts_token() {
        let shown = format!("{:?}", XOAuth2::new("u", SecretString::from("ya29.secret")));
        assert!(!shown.contains("ya29"), "{shown}");
    }
}
