//! The driver: choose mechanisms for a configuration, guard secrets, run the exchange.

use secrecy::SecretString;

use super::login::Login;
use super::oauthbearer::OAuthBearer;
use super::plain::Plain;
use super::xoauth2::XOAuth2;
use super::{
    AuthChannel, AuthConfig, AuthError, AuthMethod, AuthOutcome, Candidate, Mechanism,
    MechanismError, ServerInfo, ServerStep, windows,
};

/// Challenge rounds allowed in one exchange; real mechanisms need at most three.
pub const MAX_CHALLENGE_ROUNDS: usize = 10;

/// May a password, token or NTLM response be sent on this connection?
///
/// Yes over TLS. In clear text only when the user allowed it (`AllowInsecureAuth=True`),
/// for any host, and then a warning is logged on every use. GSSAPI never needs this:
/// Kerberos sends no reusable secret ([`sends_secret`]).
///
/// ```
/// use smtpcm_engine::auth::may_send_secret;
/// assert!(may_send_secret(true, false));
/// assert!(may_send_secret(false, true));
/// assert!(!may_send_secret(false, false));
/// ```
pub fn may_send_secret(tls: bool, allow_insecure: bool) -> bool {
    tls || allow_insecure
}

/// Whether mechanism `name` puts something on the wire that an eavesdropper could reuse
/// or crack offline: a password (PLAIN, LOGIN), a bearer token (XOAUTH2, OAUTHBEARER), or
/// an NTLM response. Only GSSAPI (Kerberos) does not.
///
/// ```
/// use smtpcm_engine::auth::sends_secret;
/// assert!(sends_secret("NTLM") && sends_secret("plain") && !sends_secret("GSSAPI"));
/// ```
pub fn sends_secret(name: &str) -> bool {
    !name.eq_ignore_ascii_case("GSSAPI")
}

/// Turns every candidate that would send a secret in clear text, without permission,
/// into an unavailable one, so nothing is sent and the next candidate (or the
/// [`AuthError::InsecureChannel`] error) takes over.
fn guard_secrets(
    server: &ServerInfo,
    allow_insecure: bool,
    candidates: Vec<Candidate>,
) -> Vec<Candidate> {
    if server.tls {
        return candidates;
    }
    candidates
        .into_iter()
        .map(|candidate| match candidate {
            Candidate::Ready(m) if sends_secret(m.name()) => {
                if may_send_secret(server.tls, allow_insecure) {
                    tracing::warn!(
                        mechanism = %m.name(),
                        "sending {} credentials to {} without TLS because AllowInsecureAuth=True",
                        m.name(),
                        server.host
                    );
                    Candidate::Ready(m)
                } else {
                    Candidate::Unavailable {
                        mechanism: m.name().to_string(),
                        error: AuthError::InsecureChannel {
                            mechanism: m.name().to_string(),
                            host: server.host.clone(),
                        },
                    }
                }
            }
            other => other,
        })
        .collect()
}

fn offered(server: &ServerInfo, name: &str) -> bool {
    server.offered.iter().any(|m| m.eq_ignore_ascii_case(name))
}

/// Mechanisms for a password or token: the forced one, or our preference order,
/// kept only where the server offers them.
fn secret_candidates(
    server: &ServerInfo,
    forced: Option<&str>,
    preference: &[&str],
    build: impl Fn(&str) -> Option<Box<dyn Mechanism>>,
) -> Result<Vec<Candidate>, AuthError> {
    let wanted: Vec<String> = match forced {
        Some(name) => vec![name.trim().to_ascii_uppercase()],
        None => preference.iter().map(|s| s.to_string()).collect(),
    };
    let mut candidates = Vec::new();
    for name in &wanted {
        let Some(mechanism) = build(name) else {
            return Err(AuthError::InvalidConfig {
                key: "AuthMechanism".into(),
                reason: format!(
                    "{name} cannot be used with this kind of secret (use one of {})",
                    preference.join(", ")
                ),
            });
        };
        if offered(server, name) {
            candidates.push(Candidate::Ready(mechanism));
        }
    }
    if candidates.is_empty() {
        return Err(AuthError::NoSharedMechanism {
            offered: server.offered.clone(),
            wanted,
        });
    }
    Ok(candidates)
}

fn plan(server: &ServerInfo, cfg: &AuthConfig) -> Result<Vec<Candidate>, AuthError> {
    match &cfg.method {
        AuthMethod::Anonymous => Ok(Vec::new()),
        AuthMethod::Windows { ntlm, mechanism } => windows::plan(
            server,
            &windows::WindowsPlan {
                target_name: cfg.target_name.as_deref(),
                ntlm: ntlm.as_ref(),
                only: mechanism.as_deref(),
            },
        ),
        AuthMethod::Basic {
            user,
            password,
            mechanism,
        } => {
            let candidates =
                secret_candidates(server, mechanism.as_deref(), &["PLAIN", "LOGIN"], |name| {
                    match name {
                        "PLAIN" => Some(Box::new(Plain::new(user.clone(), password.clone()))
                            as Box<dyn Mechanism>),
                        "LOGIN" => Some(Box::new(Login::new(user.clone(), password.clone()))),
                        _ => None,
                    }
                })?;
            Ok(candidates)
        }
        AuthMethod::OAuth2 {
            user,
            token,
            mechanism,
        } => {
            let candidates = secret_candidates(
                server,
                mechanism.as_deref(),
                &["OAUTHBEARER", "XOAUTH2"],
                |name| match name {
                    "OAUTHBEARER" => Some(Box::new(OAuthBearer::new(user.clone(), token.clone()))
                        as Box<dyn Mechanism>),
                    "XOAUTH2" => Some(Box::new(XOAuth2::new(user.clone(), token.clone()))),
                    _ => None,
                },
            )?;
            Ok(candidates)
        }
        // `authenticate` resolves fetched tokens into `OAuth2` before planning.
        AuthMethod::OAuth2Fetched { .. } => Err(AuthError::InvalidConfig {
            key: "AuthMechanism".into(),
            reason: "internal error: OAuth2 token not fetched before planning".into(),
        }),
    }
}

fn first_name(candidates: &[Candidate]) -> &str {
    match candidates.first() {
        Some(Candidate::Ready(m)) => m.name(),
        Some(Candidate::Unavailable { mechanism, .. }) => mechanism,
        None => "",
    }
}

fn transport<E: std::error::Error + Send + Sync + 'static>(err: E) -> AuthError {
    AuthError::Transport(Box::new(err))
}

/// Authenticate on `chan` as `cfg` says.
///
/// * [`AuthMethod::Anonymous`] sends nothing and returns `Ok(None)`.
/// * Passwords, tokens and NTLM responses are refused on a clear-text channel unless
///   [`may_send_secret`] allows it ([`AuthError::InsecureChannel`]).
/// * Windows authentication against a server that offers neither GSSAPI nor NTLM
///   sends nothing and returns `Ok(None)`, with a warning, as System.Net.Mail does.
/// * Candidates are tried in order; one that fails before `AUTH` is sent, or that the
///   server answers with `504`, gives way to the next, and the outcome says so.
/// * Any other failure reply ends the attempt with [`AuthError::Rejected`].
///
/// With [`AuthMethod::OAuth2Fetched`] the token comes from its cache; when the server
/// rejects (`5xx`, including XOAUTH2's error challenge that ends in `535`) a token that came
/// from the cache, a fresh one is fetched and the exchange runs once more. A failure then is
/// final ([`AuthError::Rejected`], naming the mechanism and the server's reply). A token that
/// cannot be fetched is [`AuthError::Token`].
pub async fn authenticate<C: AuthChannel>(
    chan: &mut C,
    cfg: &AuthConfig,
) -> Result<Option<AuthOutcome>, AuthError> {
    let AuthMethod::OAuth2Fetched {
        user,
        tokens,
        mechanism,
    } = &cfg.method
    else {
        return authenticate_fixed(chan, cfg).await;
    };
    let with_token = |token: SecretString| AuthConfig {
        method: AuthMethod::OAuth2 {
            user: user.clone(),
            token,
            mechanism: mechanism.clone(),
        },
        target_name: cfg.target_name.clone(),
        allow_insecure: cfg.allow_insecure,
    };
    let (token, cached) = tokens.token().await?;
    match authenticate_fixed(chan, &with_token(token.clone())).await {
        Err(e) if cached && e.is_credentials_rejected() => {
            tracing::info!(
                "the server rejected the cached OAuth2 access token ({e}); fetching a fresh \
                 token from {} and authenticating once more",
                tokens.describe()
            );
            let fresh = tokens.renew(&token).await?;
            authenticate_fixed(chan, &with_token(fresh)).await
        }
        other => other,
    }
}

async fn authenticate_fixed<C: AuthChannel>(
    chan: &mut C,
    cfg: &AuthConfig,
) -> Result<Option<AuthOutcome>, AuthError> {
    if matches!(cfg.method, AuthMethod::Anonymous) {
        return Ok(None);
    }
    let server = chan.server_info();
    if let AuthMethod::Windows {
        mechanism: None, ..
    } = &cfg.method
        && !windows::WINDOWS_MECHANISMS
            .iter()
            .any(|name| offered(&server, name))
    {
        // System.Net.Mail sends without authenticating when the server offers no
        // mechanism it can use with default credentials, and SSIS packages rely on it
        // (internal relays that need no AUTH).
        tracing::warn!(
            "UseWindowsAuthentication=True, but {} offers {}: sending without authentication, as SSIS does",
            server.host,
            if server.offered.is_empty() {
                "no AUTH".to_string()
            } else {
                format!("only AUTH {}", server.offered.join(" "))
            }
        );
        return Ok(None);
    }
    let candidates = guard_secrets(&server, cfg.allow_insecure, plan(&server, cfg)?);
    let mut secrets = Secrets::of(cfg);
    run(chan, &server, candidates, &mut secrets).await.map(Some)
}

/// What must never be shown from a server's reply: the configured secrets, and every
/// payload we sent (raw and base64), since a careless server may echo them in a `535`.
struct Secrets(Vec<String>);

impl Secrets {
    fn of(cfg: &AuthConfig) -> Self {
        use secrecy::ExposeSecret;
        let secret = match &cfg.method {
            AuthMethod::Basic { password, .. } => Some(password.expose_secret().to_string()),
            AuthMethod::OAuth2 { token, .. } => Some(token.expose_secret().to_string()),
            AuthMethod::Windows { ntlm: Some(c), .. } => {
                Some(c.password.expose_secret().to_string())
            }
            _ => None,
        };
        Secrets(secret.into_iter().filter(|s| !s.is_empty()).collect())
    }

    fn sent(&mut self, payload: &[u8]) {
        use base64::Engine as _;
        if !payload.is_empty() {
            self.0
                .push(base64::engine::general_purpose::STANDARD.encode(payload));
        }
    }

    /// `text` with every secret replaced by `[redacted]`.
    fn scrub(&self, text: String) -> String {
        self.0.iter().fold(text, |text, secret| {
            if text.contains(secret.as_str()) {
                text.replace(secret.as_str(), "[redacted]")
            } else {
                text
            }
        })
    }
}

async fn run<C: AuthChannel>(
    chan: &mut C,
    server: &ServerInfo,
    candidates: Vec<Candidate>,
    secrets: &mut Secrets,
) -> Result<AuthOutcome, AuthError> {
    let wanted: Vec<String> = candidates
        .iter()
        .map(|c| first_name(std::slice::from_ref(c)).to_string())
        .collect();
    let mut notes: Vec<String> = Vec::new();
    let mut last_error: Option<AuthError> = None;
    for candidate in candidates {
        let mut mechanism = match candidate {
            Candidate::Ready(mechanism) => mechanism,
            Candidate::Unavailable { mechanism, error } => {
                tracing::warn!(mechanism = %mechanism, "{mechanism} unavailable, trying the next mechanism: {error}");
                notes.push(format!("{mechanism} unavailable: {error}"));
                last_error = Some(error);
                continue;
            }
        };
        let name = mechanism.name().to_string();
        let identity = mechanism.identity();
        let initial = match mechanism.start(server) {
            Ok(initial) => initial,
            Err(error) => {
                tracing::warn!(mechanism = %name, "{name} could not start, trying the next mechanism: {error}");
                notes.push(format!("{name} could not start: {error}"));
                last_error = Some(AuthError::Mechanism(error));
                continue;
            }
        };
        tracing::debug!(mechanism = %name, identity = %identity, "AUTH {name}");
        if let Some(initial) = &initial {
            secrets.sent(initial);
        }
        let mut step = chan
            .auth_start(&name, initial.as_deref())
            .await
            .map_err(transport)?;
        let mut rounds = 0;
        loop {
            match step {
                ServerStep::Success => {
                    let fallback_note = (!notes.is_empty())
                        .then(|| format!("used {name} because {}", notes.join("; ")));
                    if let Some(note) = &fallback_note {
                        tracing::info!(mechanism = %name, "{note}");
                    }
                    return Ok(AuthOutcome {
                        mechanism: name,
                        identity,
                        fallback_note,
                    });
                }
                ServerStep::Failure { code: 504, message } => {
                    let message = secrets.scrub(message);
                    tracing::info!(mechanism = %name, "server does not implement {name} (504 {message}), trying the next mechanism");
                    notes.push(format!("the server refused {name} with 504 {message}"));
                    last_error = Some(AuthError::Rejected {
                        user: identity.clone(),
                        mechanism: name.clone(),
                        code: 504,
                        message,
                    });
                    break;
                }
                ServerStep::Failure { code, message } => {
                    return Err(AuthError::Rejected {
                        user: identity,
                        mechanism: name,
                        code,
                        message: secrets.scrub(message),
                    });
                }
                ServerStep::Challenge(challenge) => {
                    rounds += 1;
                    let response = if rounds > MAX_CHALLENGE_ROUNDS {
                        Err(MechanismError::BadChallenge {
                            mechanism: name.clone(),
                            reason: format!("more than {MAX_CHALLENGE_ROUNDS} challenge rounds"),
                        })
                    } else {
                        mechanism.next(&challenge)
                    };
                    match response {
                        Ok(response) => {
                            secrets.sent(&response);
                            step = chan.auth_respond(&response).await.map_err(transport)?;
                        }
                        Err(error) => {
                            chan.auth_cancel().await.map_err(transport)?;
                            return Err(AuthError::Mechanism(error));
                        }
                    }
                }
            }
        }
    }
    Err(last_error.unwrap_or(AuthError::NoSharedMechanism {
        offered: server.offered.clone(),
        wanted,
    }))
}
#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
