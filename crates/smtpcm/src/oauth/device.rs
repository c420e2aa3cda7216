//! The OAuth 2.0 device authorization grant (RFC 8628) for `smtpcm oauth login`: ask the
//! device endpoint for a code, show the user where to enter it, poll the token endpoint
//! until they have signed in, and store the refresh token in `OAuthRefreshTokenFile`.

use std::path::Path;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use smtpcm_engine::auth::token::{TokenError, TokenFailure};

use super::http::Http;
use super::sources::store_refresh_token;
use super::{Grant, OAuthPlan};
use crate::connection_string::ConnectionString;

/// What the user must do to approve the sign-in.
#[derive(Debug, Clone)]
pub struct DevicePrompt {
    /// Where to go (`verification_uri`, or Google's `verification_url`).
    pub verification_uri: String,
    /// The code to enter there.
    pub user_code: String,
    /// The same page with the code filled in, when the provider offers one.
    pub verification_uri_complete: Option<String>,
    /// How long the code is valid.
    pub expires_in: Duration,
}

/// The outcome of a completed sign-in.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// Where the refresh token was stored.
    pub refresh_token_file: std::path::PathBuf,
    /// The scopes granted, as the endpoint reported them.
    pub scope: Option<String>,
}

fn err(failure: TokenFailure, code: Option<String>, message: String) -> TokenError {
    TokenError::new(failure, code, message)
}

/// Runs the device flow for the connection string's OAuth keys: `prompt` is called once
/// with what to show the user; the call returns when the sign-in completed, failed or the
/// code expired. Blocking (HTTP and sleeps): run it on a blocking thread.
pub fn login(
    cs: &ConnectionString,
    extra_ca_file: Option<&Path>,
    prompt: impl FnOnce(&DevicePrompt),
) -> Result<LoginOutcome, TokenError> {
    let plan = OAuthPlan::from_connection_string(cs, true)?.ok_or_else(|| {
        err(
            TokenFailure::Config,
            None,
            "the connection string has no OAuth keys (OAuthClientId=, OAuthTokenUrl= or \
             OAuthIssuer= or OAuthProvider=, OAuthRefreshTokenFile=)"
                .into(),
        )
    })?;
    let Grant::RefreshToken(file) = &plan.grant else {
        return Err(err(
            TokenFailure::Config,
            None,
            "smtpcm oauth login needs OAuthRefreshTokenFile= and no TokenCommand=".into(),
        ));
    };
    let http = Http::new(extra_ca_file)?;
    let (token_url, device_url) = plan.endpoints(&http)?;
    let device_url = device_url.ok_or_else(|| {
        err(
            TokenFailure::Config,
            None,
            "no device authorization endpoint: the issuer's discovery document names none; \
             set OAuthIssuer= to a provider that supports the device flow"
                .into(),
        )
    })?;
    let secret = plan.load_client_secret()?;
    let client_id = plan.client_id.clone().unwrap_or_default();
    let mut form = vec![("client_id", client_id.as_str())];
    if let Some(s) = &secret {
        form.push(("client_secret", s.expose_secret()));
    }
    if let Some(scope) = &plan.scope {
        form.push(("scope", scope));
    }
    let secrets: Vec<&SecretString> = secret.iter().collect();
    let answer = http.post_form(
        &device_url,
        "device_authorization_endpoint",
        &form,
        &secrets,
    )?;
    let text = |name: &str| {
        answer
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let number = |name: &str| answer.get(name).and_then(|v| v.as_u64());
    let bad = |what: &str| {
        err(
            TokenFailure::Endpoint,
            None,
            format!("{device_url} answered without {what}"),
        )
    };
    let device_code = SecretString::from(text("device_code").ok_or_else(|| bad("device_code"))?);
    let user_code = text("user_code").ok_or_else(|| bad("user_code"))?;
    let verification_uri = text("verification_uri")
        .or_else(|| text("verification_url"))
        .ok_or_else(|| bad("verification_uri"))?;
    let expires_in = Duration::from_secs(number("expires_in").unwrap_or(600).clamp(1, 3600));
    let mut interval = Duration::from_secs(number("interval").unwrap_or(5).clamp(1, 60));
    prompt(&DevicePrompt {
        verification_uri,
        user_code,
        verification_uri_complete: text("verification_uri_complete"),
        expires_in,
    });

    let deadline = Instant::now() + expires_in;
    let mut secrets: Vec<&SecretString> = vec![&device_code];
    secrets.extend(secret.iter());
    loop {
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code.expose_secret()),
            ("client_id", client_id.as_str()),
        ];
        if let Some(s) = &secret {
            form.push(("client_secret", s.expose_secret()));
        }
        match http.post_form(&token_url, "OAuthTokenUrl", &form, &secrets) {
            Ok(json) => {
                super::sources::access_token(&token_url, &json)?;
                let refresh = json
                    .get("refresh_token")
                    .and_then(|v| v.as_str())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        err(
                            TokenFailure::Endpoint,
                            None,
                            format!(
                                "{token_url} issued no refresh token (ask for offline access, \
                                 e.g. OAuthScope=\"... offline_access\")"
                            ),
                        )
                    })?;
                store_refresh_token(file, &SecretString::from(refresh.to_string()))?;
                return Ok(LoginOutcome {
                    refresh_token_file: file.clone(),
                    scope: json
                        .get("scope")
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                });
            }
            Err(e) if e.oauth_error.as_deref() == Some("authorization_pending") => {}
            Err(e) if e.oauth_error.as_deref() == Some("slow_down") => {
                interval += Duration::from_secs(5);
            }
            Err(e) => return Err(e),
        }
        if Instant::now() + interval > deadline {
            return Err(err(
                TokenFailure::Credentials,
                Some("expired_token".into()),
                format!(
                    "the code was not entered within {} s; run smtpcm oauth login again",
                    expires_in.as_secs()
                ),
            ));
        }
        std::thread::sleep(interval);
    }
}
