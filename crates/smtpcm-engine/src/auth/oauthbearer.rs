//! `OAUTHBEARER` (RFC 7628): an OAuth 2.0 bearer token behind a GS2 header.

use secrecy::{ExposeSecret, SecretString};

use super::{Mechanism, MechanismError, ServerInfo};

/// SASL `OAUTHBEARER`: `n,a=USER,^Ahost=HOST^A[port=PORT^A]auth=Bearer TOKEN^A^A`.
///
/// The host comes from [`ServerInfo::host`]; the port is optional in RFC 7628 and is
/// sent only when set with [`OAuthBearer::with_port`]. On failure the server sends a
/// JSON error challenge, which RFC 7628 section 3.2.3 says to answer with a single `^A`.
///
/// ```
/// use smtpcm_engine::auth::{Mechanism, ServerInfo, oauthbearer::OAuthBearer};
/// let mut m = OAuthBearer::new("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==".to_string().into())
///     .with_port(143);
/// let server = ServerInfo { host: "server.example.com".into(), ..ServerInfo::default() };
/// let first = m.start(&server).unwrap().unwrap();
/// assert_eq!(
///     first,
///     b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
/// );
/// ```
pub struct OAuthBearer {
    user: String,
    token: SecretString,
    port: Option<u16>,
}

impl OAuthBearer {
    /// Authenticate as `user` with the OAuth 2.0 access `token`.
    pub fn new(user: impl Into<String>, token: SecretString) -> Self {
        OAuthBearer {
            user: user.into(),
            token,
            port: None,
        }
    }

    /// Also send the server port (`port=` key of RFC 7628).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
}

impl std::fmt::Debug for OAuthBearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthBearer")
            .field("user", &self.user)
            .field("token", &"[redacted]")
            .field("port", &self.port)
            .finish()
    }
}

/// RFC 5801 `saslname`: `,` and `=` must be escaped in the GS2 authzid.
fn gs2_escape(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

impl Mechanism for OAuthBearer {
    fn name(&self) -> &str {
        "OAUTHBEARER"
    }

    fn identity(&self) -> String {
        self.user.clone()
    }

    fn start(&mut self, server: &ServerInfo) -> Result<Option<Vec<u8>>, MechanismError> {
        let token = self.token.expose_secret();
        // RFC 7628 b64token: the token must be printable with no separators.
        if token.is_empty()
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
        {
            return Err(MechanismError::Unavailable {
                mechanism: "OAUTHBEARER".into(),
                reason: "the token is empty or has characters outside RFC 6750 b64token".into(),
            });
        }
        if self.user.contains('\x01') || server.host.contains('\x01') {
            return Err(MechanismError::Unavailable {
                mechanism: "OAUTHBEARER".into(),
                reason: "user name or host contains a ^A (0x01) separator".into(),
            });
        }
        let mut message = format!("n,a={},\x01", gs2_escape(&self.user));
        if !server.host.is_empty() {
            message.push_str(&format!("host={}\x01", server.host));
        }
        if let Some(port) = self.port {
            message.push_str(&format!("port={port}\x01"));
        }
        message.push_str(&format!("auth=Bearer {token}\x01\x01"));
        Ok(Some(message.into_bytes()))
    }

    fn next(&mut self, _challenge: &[u8]) -> Result<Vec<u8>, MechanismError> {
        // The challenge is the JSON error; RFC 7628 3.2.3 has the client send ^A so
        // the server can end with its failure reply.
        Ok(vec![0x01])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str) -> ServerInfo {
        ServerInfo {
            host: host.into(),
            ..ServerInfo::default()
        }
    }

    #[test]
    fn rfc7628_section_4_1_example() {
        // RFC 7628 4.1 "Successful Bearer Token Exchange" (IMAP, port 143).
        let mut m = OAuthBearer::new(
            "user@example.com",
            SecretString::from("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
        )
        .with_port(143);
        let message = m.start(&server("server.example.com")).unwrap().unwrap();
        use base64::Engine as _;
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(&message),
            "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
        );
    }

    #[test]
    fn escapes_gs2_authzid() {
        let mut m = OAuthBearer::new("a,b=c", SecretString::from("tok"));
        let message = m.start(&server("h")).unwrap().unwrap();
        assert!(message.starts_with(b"n,a=a=2Cb=3Dc,\x01host=h\x01auth=Bearer tok"));
    }

    #[test]
    fn error_challenge_is_answered_with_ctrl_a() {
        let mut m = OAuthBearer::new("u", SecretString::from("tok"));
        assert_eq!(m.next(br#"{"status":"invalid_token"}"#).unwrap(), vec![1]);
    }

    #[test]
    fn malformed_token_is_refused_without_echoing_it() {
        let mut m = OAuthBearer::new("u", SecretString::from("has space\x01secret"));
        let err = m.start(&server("h")).unwrap_err().to_string();
        assert!(err.contains("b64token"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }
}
