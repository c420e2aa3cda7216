//! OAuth2 access tokens that smtpcm gets itself, from the connection string's extension keys:
//!
//! | keys | grant |
//! |---|---|
//! | `OAuthTokenUrl` or `OAuthIssuer` or `OAuthProvider`, `OAuthClientId`, `OAuthClientSecretEnv`/`OAuthClientSecretFile`, `OAuthScope` | client credentials |
//! | the same with `OAuthRefreshTokenFile` (the secret optional for public clients) | refresh token, rotated tokens written back (mode 0600) |
//! | `TokenCommand` | an external command prints the token (as msmtp's `passwordeval`) |
//!
//! `OAuthIssuer` finds the token and device endpoints by OpenID Connect discovery.
//! `OAuthProvider=Microsoft` (with `OAuthTenant`, default `organizations`) and
//! `OAuthProvider=Google` fill the endpoints and the scopes each documents for SMTP.
//! `smtpcm oauth login` runs the device flow ([`device`]) to create the refresh token file.
//!
//! Secrets (client secrets, refresh and access tokens) are read from where the keys point,
//! kept in [`SecretString`]s, scrubbed from endpoint errors, and never logged.

pub mod device;
pub mod http;
mod sources;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::SecretString;
use smtpcm_engine::auth::credentials::SecretSource;
use smtpcm_engine::auth::token::{TokenCache, TokenError, TokenFailure};

use crate::connection_string::{ConnectionString, OAuthProviderName};

pub use sources::{TOKEN_COMMAND_MAX_OUTPUT, TOKEN_COMMAND_TIMEOUT};

/// Microsoft's scope for delegated SMTP (device flow, refresh tokens).
pub const MICROSOFT_DELEGATED_SCOPE: &str = "https://outlook.office.com/SMTP.Send offline_access";
/// Microsoft's scope for app-only SMTP (client credentials).
pub const MICROSOFT_APP_SCOPE: &str = "https://outlook.office365.com/.default";
/// Google's scope for SMTP (Gmail).
pub const GOOGLE_SCOPE: &str = "https://mail.google.com/";

/// Which grant the keys ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// `grant_type=client_credentials`.
    ClientCredentials,
    /// `grant_type=refresh_token`, from this file.
    RefreshToken(PathBuf),
    /// A command that prints the token.
    Command(String),
}

/// The resolved OAuth settings: endpoints, client, scope, grant. Holds no secret (only
/// where the client secret is).
#[derive(Debug, Clone)]
pub struct OAuthPlan {
    /// The token endpoint, when known without discovery.
    pub token_url: Option<String>,
    /// The device authorization endpoint, when known without discovery.
    pub device_url: Option<String>,
    /// The issuer to discover endpoints from (`OAuthIssuer`).
    pub issuer: Option<String>,
    /// `OAuthClientId`.
    pub client_id: Option<String>,
    /// Where the client secret is, if the client has one.
    pub client_secret: Option<SecretSource>,
    /// The scopes to ask for.
    pub scope: Option<String>,
    /// The grant.
    pub grant: Grant,
    /// `OAuthProvider`, for reports.
    pub provider: Option<OAuthProviderName>,
}

fn config(message: String) -> TokenError {
    TokenError::new(TokenFailure::Config, None, message)
}

impl OAuthPlan {
    /// The plan for token acquisition (`Ok(None)` when no OAuth key is set). `for_login`:
    /// planning `smtpcm oauth login` (the device flow), where the refresh token file is the
    /// output and a delegated scope is the default.
    pub fn from_connection_string(
        cs: &ConnectionString,
        for_login: bool,
    ) -> Result<Option<OAuthPlan>, TokenError> {
        let keys = &cs.oauth;
        if !keys.is_set() {
            return Ok(None);
        }
        let client_secret = match (&keys.client_secret_env, &keys.client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(config(
                    "set either OAuthClientSecretEnv or OAuthClientSecretFile, not both".into(),
                ));
            }
            (Some(var), None) => Some(SecretSource::Env {
                var: var.clone(),
                key: "OAuthClientSecretEnv".into(),
            }),
            (None, Some(path)) => Some(SecretSource::File {
                path: path.into(),
                key: "OAuthClientSecretFile".into(),
            }),
            (None, None) => None,
        };
        let grant = if let Some(command) = &keys.token_command {
            if keys.refresh_token_file.is_some() || client_secret.is_some() {
                return Err(config(
                    "TokenCommand cannot be combined with OAuthRefreshTokenFile or an OAuth client \
                     secret: the command alone provides the token"
                        .into(),
                ));
            }
            Grant::Command(command.clone())
        } else if let Some(file) = &keys.refresh_token_file {
            Grant::RefreshToken(file.into())
        } else if for_login {
            return Err(config(
                "smtpcm oauth login needs OAuthRefreshTokenFile= (where to store the refresh token)"
                    .into(),
            ));
        } else if client_secret.is_some() {
            Grant::ClientCredentials
        } else {
            return Err(config(
                "the OAuth keys need OAuthClientSecretEnv= or OAuthClientSecretFile= (client \
                 credentials), OAuthRefreshTokenFile= (a refresh token; `smtpcm oauth login` \
                 creates it) or TokenCommand="
                    .into(),
            ));
        };
        let delegated = for_login || matches!(grant, Grant::RefreshToken(_));
        let (mut token_url, mut device_url, mut scope) = (None, None, None);
        match keys.provider {
            Some(OAuthProviderName::Microsoft) => {
                let tenant = keys.tenant.as_deref().unwrap_or("organizations");
                if tenant.is_empty()
                    || !tenant
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
                {
                    return Err(config(format!(
                        "OAuthTenant: {tenant:?} is not a tenant id or domain"
                    )));
                }
                let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
                token_url = Some(format!("{base}/token"));
                device_url = Some(format!("{base}/devicecode"));
                scope = Some(if delegated {
                    MICROSOFT_DELEGATED_SCOPE
                } else {
                    MICROSOFT_APP_SCOPE
                });
            }
            Some(OAuthProviderName::Google) => {
                token_url = Some("https://oauth2.googleapis.com/token".into());
                device_url = Some("https://oauth2.googleapis.com/device/code".into());
                scope = Some(GOOGLE_SCOPE);
            }
            None => {
                if keys.tenant.is_some() {
                    return Err(config("OAuthTenant needs OAuthProvider=Microsoft".into()));
                }
            }
        }
        if keys.token_url.is_some() {
            token_url = keys.token_url.clone();
        }
        if let Some(url) = &token_url {
            http::check_url(url, "OAuthTokenUrl")?;
        }
        if let Some(issuer) = &keys.issuer {
            http::check_url(issuer, "OAuthIssuer")?;
        }
        let plan = OAuthPlan {
            token_url,
            device_url,
            issuer: keys.issuer.clone(),
            client_id: keys.client_id.clone(),
            client_secret,
            scope: keys.scope.clone().or(scope.map(str::to_string)),
            grant,
            provider: keys.provider,
        };
        if !matches!(plan.grant, Grant::Command(_)) {
            if plan.client_id.is_none() {
                return Err(config("the OAuth keys need OAuthClientId=".into()));
            }
            if plan.token_url.is_none() && plan.issuer.is_none() {
                return Err(config(
                    "the OAuth keys need OAuthTokenUrl=, OAuthIssuer= or OAuthProvider=".into(),
                ));
            }
        }
        Ok(Some(plan))
    }

    /// One line for `inspect` and `check`: the grant, endpoint, client and scope, and where
    /// secrets are read from (names and paths only).
    pub fn describe(&self) -> String {
        let mut parts = vec![match &self.grant {
            Grant::ClientCredentials => "client credentials".to_string(),
            Grant::RefreshToken(file) => format!("refresh token from {}", file.display()),
            Grant::Command(_) => "TokenCommand (command line not shown)".to_string(),
        }];
        if let Some(p) = self.provider {
            parts.push(format!("provider {}", p.as_str()));
        }
        if let Some(url) = &self.token_url {
            parts.push(format!("token endpoint {url}"));
        } else if let Some(issuer) = &self.issuer {
            parts.push(format!("issuer {issuer} (discovery)"));
        }
        if let Some(id) = &self.client_id {
            parts.push(format!("client {id}"));
        }
        match &self.client_secret {
            Some(SecretSource::Env { var, .. }) => parts.push(format!("client secret from ${var}")),
            Some(SecretSource::File { path, .. }) => {
                parts.push(format!("client secret from {}", path.display()))
            }
            _ => {}
        }
        if let Some(scope) = &self.scope {
            parts.push(format!("scope \"{scope}\""));
        }
        parts.join(", ")
    }

    /// Reads the client secret, if the client has one.
    pub(crate) fn load_client_secret(&self) -> Result<Option<SecretString>, TokenError> {
        self.client_secret
            .as_ref()
            .map(|s| {
                s.load("OAuth client secret")
                    .map_err(|e| config(e.to_string()))
            })
            .transpose()
    }

    /// The token and device endpoints: as configured, else by OpenID Connect discovery.
    pub(crate) fn endpoints(
        &self,
        http: &http::Http,
    ) -> Result<(String, Option<String>), TokenError> {
        if let Some(token) = &self.token_url {
            return Ok((token.clone(), self.device_url.clone()));
        }
        let issuer = self.issuer.as_deref().unwrap_or_default();
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc = http.get_json(&url, "OAuthIssuer")?;
        let field = |name: &str| doc.get(name).and_then(|v| v.as_str()).map(str::to_string);
        let token = field("token_endpoint").ok_or_else(|| {
            TokenError::new(
                TokenFailure::Endpoint,
                None,
                format!("{url} names no token_endpoint"),
            )
        })?;
        http::check_url(&token, "token_endpoint (discovered)")?;
        let device = field("device_authorization_endpoint");
        if let Some(d) = &device {
            http::check_url(d, "device_authorization_endpoint (discovered)")?;
        }
        Ok((token, device))
    }
}

/// A token cache for the connection string's OAuth keys (`Ok(None)` when none is set);
/// endpoints are checked against `extra_ca_file` as well as the platform's roots.
pub fn token_cache(
    cs: &ConnectionString,
    extra_ca_file: Option<&Path>,
) -> Result<Option<Arc<TokenCache>>, TokenError> {
    let Some(plan) = OAuthPlan::from_connection_string(cs, false)? else {
        return Ok(None);
    };
    let provider = sources::provider(plan, extra_ca_file)?;
    Ok(Some(TokenCache::new(provider)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(s: &str) -> Result<Option<OAuthPlan>, TokenError> {
        OAuthPlan::from_connection_string(&s.parse().unwrap(), false)
    }

    #[test]
    fn providers_fill_endpoints_and_documented_scopes() {
        let ms =
            plan("SmtpServer=h;OAuthProvider=Microsoft;OAuthClientId=c;OAuthClientSecretEnv=E")
                .unwrap()
                .unwrap();
        assert_eq!(
            ms.token_url.as_deref(),
            Some("https://login.microsoftonline.com/organizations/oauth2/v2.0/token")
        );
        assert_eq!(ms.scope.as_deref(), Some(MICROSOFT_APP_SCOPE));
        assert_eq!(ms.grant, Grant::ClientCredentials);
        let ms = plan(
            "SmtpServer=h;OAuthProvider=Microsoft;OAuthTenant=contoso.com;OAuthClientId=c;\
             OAuthRefreshTokenFile=/tmp/rt",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            ms.device_url.as_deref(),
            Some("https://login.microsoftonline.com/contoso.com/oauth2/v2.0/devicecode")
        );
        assert_eq!(ms.scope.as_deref(), Some(MICROSOFT_DELEGATED_SCOPE));
        let g = plan("SmtpServer=h;OAuthProvider=Google;OAuthClientId=c;OAuthRefreshTokenFile=/r")
            .unwrap()
            .unwrap();
        assert_eq!(
            g.token_url.as_deref(),
            Some("https://oauth2.googleapis.com/token")
        );
        assert_eq!(g.scope.as_deref(), Some(GOOGLE_SCOPE));
        // OAuthScope wins over the provider's default.
        let g = plan(
            "SmtpServer=h;OAuthProvider=Google;OAuthClientId=c;OAuthRefreshTokenFile=/r;OAuthScope=x",
        )
        .unwrap()
        .unwrap();
        assert_eq!(g.scope.as_deref(), Some("x"));
    }

    #[test]
    fn incomplete_or_contradictory_keys_are_named() {
        assert!(plan("SmtpServer=h").unwrap().is_none());
        let cases = [
            (
                "OAuthClientId=c;OAuthTokenUrl=https://t",
                "OAuthClientSecretEnv=",
            ),
            (
                "OAuthTokenUrl=https://t;OAuthClientSecretEnv=E",
                "OAuthClientId=",
            ),
            ("OAuthClientId=c;OAuthClientSecretEnv=E", "OAuthTokenUrl="),
            (
                "OAuthClientId=c;OAuthTokenUrl=https://t;OAuthClientSecretEnv=E;OAuthClientSecretFile=f",
                "not both",
            ),
            (
                "TokenCommand=x;OAuthRefreshTokenFile=f",
                "TokenCommand cannot",
            ),
            (
                "OAuthTenant=t;OAuthClientId=c;OAuthClientSecretEnv=E",
                "OAuthProvider=Microsoft",
            ),
            (
                "OAuthClientId=c;OAuthTokenUrl=http://idp.example.com/t;OAuthClientSecretEnv=E",
                "must use https",
            ),
            (
                "OAuthProvider=Microsoft;OAuthTenant=a/b;OAuthClientId=c;OAuthClientSecretEnv=E",
                "OAuthTenant",
            ),
        ];
        for (keys, expected) in cases {
            let err = plan(&format!("SmtpServer=h;{keys}")).unwrap_err();
            assert!(err.to_string().contains(expected), "{keys}: {err}");
            assert_eq!(err.failure, TokenFailure::Config);
        }
    }
}
