//! `PLAIN` (RFC 4616): the whole credential in one initial response.

use secrecy::{ExposeSecret, SecretString};

use super::{Mechanism, MechanismError, ServerInfo};

/// SASL `PLAIN`: sends `authzid NUL user NUL password` as the initial response.
///
/// Only ever sent over TLS or to loopback with explicit permission; the driver
/// ([`crate::auth::authenticate`]) enforces that, not this type.
///
/// ```
/// use smtpcm_engine::auth::{Mechanism, ServerInfo, plain::Plain};
/// let mut m = Plain::new("tim", "tanstaaftanstaaf".to_string().into());
/// let first = m.start(&ServerInfo::default()).unwrap().unwrap();
/// assert_eq!(first, b"\0tim\0tanstaaftanstaaf");
/// ```
pub struct Plain {
    user: String,
    password: SecretString,
    authzid: Option<String>,
}

impl Plain {
    /// Authenticate as `user` with `password`, acting as `user` itself.
    pub fn new(user: impl Into<String>, password: SecretString) -> Self {
        Plain {
            user: user.into(),
            password,
            authzid: None,
        }
    }

    /// Act as another identity (the RFC 4616 authorization identity).
    pub fn with_authzid(mut self, authzid: impl Into<String>) -> Self {
        self.authzid = Some(authzid.into());
        self
    }
}

impl Plain {
    fn encode(&self) -> Result<Vec<u8>, MechanismError> {
        let authzid = self.authzid.as_deref().unwrap_or("");
        let password = self.password.expose_secret();
        if [authzid, self.user.as_str(), password]
            .iter()
            .any(|part| part.contains('\0'))
        {
            return Err(MechanismError::Unavailable {
                mechanism: "PLAIN".into(),
                reason: "user name, authorization id or password contains a NUL character".into(),
            });
        }
        let mut message = Vec::with_capacity(authzid.len() + self.user.len() + password.len() + 2);
        message.extend_from_slice(authzid.as_bytes());
        message.push(0);
        message.extend_from_slice(self.user.as_bytes());
        message.push(0);
        message.extend_from_slice(password.as_bytes());
        Ok(message)
    }
}

impl std::fmt::Debug for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plain")
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .field("authzid", &self.authzid)
            .finish()
    }
}

impl Mechanism for Plain {
    fn name(&self) -> &str {
        "PLAIN"
    }

    fn identity(&self) -> String {
        self.user.clone()
    }

    fn start(&mut self, _server: &ServerInfo) -> Result<Option<Vec<u8>>, MechanismError> {
        self.encode().map(Some)
    }

    fn next(&mut self, challenge: &[u8]) -> Result<Vec<u8>, MechanismError> {
        // Some servers answer `AUTH PLAIN` without an initial response by sending an
        // empty challenge; anything else is a protocol error.
        if challenge.is_empty() {
            return self.encode();
        }
        Err(MechanismError::BadChallenge {
            mechanism: "PLAIN".into(),
            reason: format!(
                "PLAIN takes no challenge, server sent {} bytes",
                challenge.len()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4616_example_without_authzid() {
        // RFC 4616 section 4: "\0tim\0tanstaaftanstaaf"
        let mut m = Plain::new("tim", SecretString::from("tanstaaftanstaaf"));
        assert_eq!(
            m.start(&ServerInfo::default()).unwrap().unwrap(),
            b"\0tim\0tanstaaftanstaaf"
        );
    }

    #[test]
    fn rfc4616_example_with_authzid() {
        // RFC 4616 section 4: "Ursel\0Kurt\0xipj3plmq"
        let mut m = Plain::new("Kurt", SecretString::from("xipj3plmq")).with_authzid("Ursel");
        assert_eq!(
            m.start(&ServerInfo::default()).unwrap().unwrap(),
            b"Ursel\0Kurt\0xipj3plmq"
        );
    }

    #[test]
    fn nul_in_password_is_an_error_that_does_not_echo_the_password() {
        let mut m = Plain::new("tim", SecretString::from("bad\0secret"));
        let err = m.start(&ServerInfo::default()).unwrap_err().to_string();
        assert!(err.contains("NUL"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn empty_challenge_resends_credentials_and_other_challenges_fail() {
        let mut m = Plain::new("tim", SecretString::from("pw"));
        assert_eq!(m.next(b"").unwrap(), b"\0tim\0pw");
        assert!(matches!(
            m.next(b"what?"),
            Err(MechanismError::BadChallenge { .. })
        ));
    }

    #[test]
    fn debug_redacts_password() {
        let m = Plain::new("tim", SecretString::from("tanstaaf"));
        let shown = format!("{m:?}");
        assert!(!shown.contains("tanstaaf"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
