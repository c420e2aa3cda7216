//! HTTP for token endpoints: ureq (blocking, run on tokio's blocking pool) over rustls with
//! the same certificate verification and extra CA file as SMTP, https required except on
//! loopback, timeouts on every request, redirects refused, and a cap on response bodies.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use smtpcm_engine::auth::token::{TokenError, TokenFailure, tls_client_config};
use smtpcm_engine::security::is_loopback_host;

/// The most a token endpoint's answer may hold; real ones are a few KiB.
pub const MAX_RESPONSE_BYTES: u64 = 256 * 1024;
/// Time allowed to connect to a token endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Time allowed for a whole request, answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// OAuth error codes that mean our credentials (client, secret, refresh token, device
/// grant) were refused, rather than the endpoint failing.
const CREDENTIAL_ERRORS: [&str; 6] = [
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "invalid_scope",
    "access_denied",
    "expired_token",
];

/// An HTTP client for token endpoints.
#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

fn config_error(message: String) -> TokenError {
    TokenError::new(TokenFailure::Config, None, message)
}

/// Refuses anything but `https://`, except `http://` to a loopback host; `key` names the
/// connection-string key the URL came from.
pub fn check_url(url: &str, key: &str) -> Result<(), TokenError> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = lower.strip_prefix("http://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or("");
        let host = if let Some(v6) = host_port.strip_prefix('[') {
            v6.split(']').next().unwrap_or("")
        } else {
            host_port.split(':').next().unwrap_or("")
        };
        if !host.is_empty() && is_loopback_host(host) {
            return Ok(());
        }
        return Err(config_error(format!(
            "{key}: {url} must use https (plain http is allowed only to a loopback address)"
        )));
    }
    Err(config_error(format!("{key}: {url} is not an https:// URL")))
}

impl Http {
    /// A client trusting the platform's roots plus `extra_ca_file` (as SMTP does).
    pub fn new(extra_ca_file: Option<&Path>) -> Result<Http, TokenError> {
        let tls = tls_client_config(extra_ca_file).map_err(config_error)?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(tls)
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirects(0)
            .user_agent(concat!("smtpcm/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Http { agent })
    }

    /// GET a JSON document (OpenID Connect discovery).
    pub fn get_json(&self, url: &str, key: &str) -> Result<serde_json::Value, TokenError> {
        check_url(url, key)?;
        let response = self.agent.get(url).set("Accept", "application/json").call();
        let (status, body) = read_response(url, response)?;
        if status != 200 {
            return Err(TokenError::new(
                TokenFailure::Endpoint,
                None,
                format!("{url} answered HTTP {status}"),
            ));
        }
        parse_json(url, &body)
    }

    /// POST a form to a token (or device authorization) endpoint and return the JSON answer
    /// of a 2xx; an OAuth error answer becomes a [`TokenError`] with its `error` code.
    /// `secrets` are scrubbed from anything the endpoint echoes into an error.
    pub fn post_form(
        &self,
        url: &str,
        key: &str,
        form: &[(&str, &str)],
        secrets: &[&SecretString],
    ) -> Result<serde_json::Value, TokenError> {
        check_url(url, key)?;
        let response = self
            .agent
            .post(url)
            .set("Accept", "application/json")
            .send_form(form);
        let (status, body) = read_response(url, response)?;
        if (200..300).contains(&status) {
            return parse_json(url, &body);
        }
        Err(oauth_error(url, status, &body, secrets))
    }
}

fn read_response(
    url: &str,
    response: Result<ureq::Response, ureq::Error>,
) -> Result<(u16, Vec<u8>), TokenError> {
    let response = match response {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => {
            return Err(TokenError::new(
                TokenFailure::Endpoint,
                None,
                format!("cannot reach {url}: {t}"),
            ));
        }
    };
    let status = response.status();
    let mut body = Vec::new();
    response
        .into_reader()
        .take(MAX_RESPONSE_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| {
            TokenError::new(
                TokenFailure::Endpoint,
                None,
                format!("reading the answer of {url} failed: {e}"),
            )
        })?;
    if body.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(TokenError::new(
            TokenFailure::Endpoint,
            None,
            format!("{url} answered with more than {MAX_RESPONSE_BYTES} bytes"),
        ));
    }
    Ok((status, body))
}

fn parse_json(url: &str, body: &[u8]) -> Result<serde_json::Value, TokenError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(TokenError::new(
            TokenFailure::Endpoint,
            None,
            format!("{url} did not answer with a JSON object"),
        )),
    }
}

/// The error an endpoint answered, classified: our credentials or the endpoint.
fn oauth_error(url: &str, status: u16, body: &[u8], secrets: &[&SecretString]) -> TokenError {
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(|v| v.as_str())
            .map(|s| scrub(s, secrets))
    };
    let Some(code) = field("error") else {
        return TokenError::new(
            TokenFailure::Endpoint,
            None,
            format!("{url} answered HTTP {status} without an OAuth error code"),
        );
    };
    let description = field("error_description")
        .map(|d| format!(" ({})", d.chars().take(300).collect::<String>()))
        .unwrap_or_default();
    let ours = CREDENTIAL_ERRORS.contains(&code.as_str());
    let (failure, whose) = if ours {
        (
            TokenFailure::Credentials,
            "refused our credentials (check the client id, the client secret or the refresh token)",
        )
    } else {
        (TokenFailure::Endpoint, "failed")
    };
    TokenError::new(
        failure,
        Some(code.clone()),
        format!("token endpoint {url} {whose}: HTTP {status}, OAuth error {code}{description}"),
    )
}

/// `text` with every secret replaced by `[redacted]`.
pub(crate) fn scrub(text: &str, secrets: &[&SecretString]) -> String {
    secrets.iter().fold(text.to_string(), |t, s| {
        let s = s.expose_secret();
        if s.is_empty() {
            t
        } else {
            t.replace(s, "[redacted]")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_required_except_on_loopback() {
        assert!(check_url("https://login.example.com/token", "OAuthTokenUrl").is_ok());
        assert!(check_url("http://127.0.0.1:8080/token", "OAuthTokenUrl").is_ok());
        assert!(check_url("http://localhost/token", "OAuthTokenUrl").is_ok());
        assert!(check_url("http://[::1]:9/token", "OAuthTokenUrl").is_ok());
        let err = check_url("http://idp.example.com/token", "OAuthTokenUrl").unwrap_err();
        assert_eq!(err.failure, TokenFailure::Config);
        assert_eq!(
            err.to_string(),
            "OAuthTokenUrl: http://idp.example.com/token must use https (plain http is allowed \
             only to a loopback address)"
        );
        // A loopback name in the user part does not make a remote host loopback.
        assert!(check_url("http://127.0.0.1@idp.example.com/token", "K").is_err());
        assert!(check_url("ftp://127.0.0.1/token", "K").is_err());
    }

    #[test]
    fn errors_say_whose_fault_and_scrub_secrets() {
        let secret = SecretString::from("s3cr3t-value");
        let body = br#"{"error":"invalid_client","error_description":"bad secret s3cr3t-value"}"#;
        let err = oauth_error("https://idp/token", 401, body, &[&secret]);
        assert_eq!(err.failure, TokenFailure::Credentials);
        assert_eq!(err.oauth_error.as_deref(), Some("invalid_client"));
        assert!(!err.to_string().contains("s3cr3t-value"), "{err}");
        let err = oauth_error("https://idp/token", 503, b"<html>down</html>", &[]);
        assert_eq!(err.failure, TokenFailure::Endpoint);
        assert_eq!(err.oauth_error, None);
        let err = oauth_error(
            "https://idp/token",
            500,
            br#"{"error":"server_error"}"#,
            &[],
        );
        assert_eq!(err.failure, TokenFailure::Endpoint);
        assert_eq!(err.oauth_error.as_deref(), Some("server_error"));
    }
}
