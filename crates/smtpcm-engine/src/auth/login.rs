//! `LOGIN` (draft-murchison-sasl-login): user name and password, one challenge each.

use secrecy::{ExposeSecret, SecretString};

use super::{Mechanism, MechanismError, ServerInfo};

/// SASL `LOGIN`: answers the server's `Username:` and `Password:` prompts.
///
/// Servers word the prompts differently (some send nothing at all), so the prompt
/// text is used when it names the field and the order (user, then password) otherwise.
///
/// ```
/// use smtpcm_engine::auth::{Mechanism, ServerInfo, login::Login};
/// let mut m = Login::new("alice", "s3cret".to_string().into());
/// assert_eq!(m.start(&ServerInfo::default()).unwrap(), None);
/// assert_eq!(m.next(b"Username:").unwrap(), b"alice");
/// assert_eq!(m.next(b"Password:").unwrap(), b"s3cret");
/// ```
pub struct Login {
    user: String,
    password: SecretString,
    answered: u8,
}

impl Login {
    /// Authenticate as `user` with `password`.
    pub fn new(user: impl Into<String>, password: SecretString) -> Self {
        Login {
            user: user.into(),
            password,
            answered: 0,
        }
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl Mechanism for Login {
    fn name(&self) -> &str {
        "LOGIN"
    }

    fn identity(&self) -> String {
        self.user.clone()
    }

    fn start(&mut self, _server: &ServerInfo) -> Result<Option<Vec<u8>>, MechanismError> {
        self.answered = 0;
        Ok(None)
    }

    fn next(&mut self, challenge: &[u8]) -> Result<Vec<u8>, MechanismError> {
        let prompt = String::from_utf8_lossy(challenge).to_ascii_lowercase();
        let wants_password = if prompt.contains("pass") {
            true
        } else if prompt.contains("user") {
            false
        } else {
            self.answered >= 1
        };
        if self.answered >= 2 {
            return Err(MechanismError::BadChallenge {
                mechanism: "LOGIN".into(),
                reason: format!(
                    "unexpected third prompt {:?} after user name and password",
                    String::from_utf8_lossy(challenge)
                ),
            });
        }
        self.answered += 1;
        Ok(if wants_password {
            self.password.expose_secret().as_bytes().to_vec()
        } else {
            self.user.as_bytes().to_vec()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_prompts_by_their_text() {
        let mut m = Login::new("alice", SecretString::from("pw"));
        assert_eq!(m.start(&ServerInfo::default()).unwrap(), None);
        // Cyrus sends "Username:" then "Password:"; some servers lowercase them.
        assert_eq!(m.next(b"username:").unwrap(), b"alice");
        assert_eq!(m.next(b"PASSWORD:").unwrap(), b"pw");
    }

    #[test]
    fn falls_back_to_order_for_unknown_prompts() {
        let mut m = Login::new("alice", SecretString::from("pw"));
        m.start(&ServerInfo::default()).unwrap();
        assert_eq!(m.next(b"").unwrap(), b"alice");
        assert_eq!(m.next(b"").unwrap(), b"pw");
        let err = m.next(b"more?").unwrap_err().to_string();
        assert!(err.contains("third prompt"), "{err}");
    }

    #[test]
    fn debug_redacts_password() {
        let shown = format!("{:?}", Login::new("alice", SecretString::from("hunter2")));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
