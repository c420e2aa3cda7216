//! The driver: choose mechanisms for a configuration, guard secrets, run the exchange.

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
pub async fn authenticate<C: AuthChannel>(
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
    run(chan, &server, candidates).await.map(Some)
}

async fn run<C: AuthChannel>(
    chan: &mut C,
    server: &ServerInfo,
    candidates: Vec<Candidate>,
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
                        message,
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
mod tests {
    use std::collections::VecDeque;

    use base64::Engine as _;
    use secrecy::SecretString;

    use super::*;
    use crate::auth::credentials::NtlmCredentials;
    use crate::auth::gssapi::GssapiError;

    /// A scripted server: replies in order, and a record of every line we sent.
    struct FakeChannel {
        info: ServerInfo,
        replies: VecDeque<ServerStep>,
        sent: Vec<String>,
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    impl FakeChannel {
        fn new(
            host: &str,
            tls: bool,
            loopback: bool,
            offered: &str,
            replies: Vec<ServerStep>,
        ) -> Self {
            FakeChannel {
                info: ServerInfo {
                    host: host.into(),
                    tls,
                    loopback,
                    offered: offered.split_whitespace().map(String::from).collect(),
                },
                replies: replies.into(),
                sent: Vec::new(),
            }
        }

        fn reply(&mut self) -> Result<ServerStep, std::io::Error> {
            self.replies.pop_front().ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "script exhausted")
            })
        }
    }

    impl AuthChannel for FakeChannel {
        type Error = std::io::Error;

        fn server_info(&self) -> ServerInfo {
            self.info.clone()
        }

        async fn auth_start(
            &mut self,
            mechanism: &str,
            initial: Option<&[u8]>,
        ) -> Result<ServerStep, Self::Error> {
            self.sent.push(match initial {
                Some(initial) => format!("AUTH {mechanism} {}", b64(initial)),
                None => format!("AUTH {mechanism}"),
            });
            self.reply()
        }

        async fn auth_respond(&mut self, response: &[u8]) -> Result<ServerStep, Self::Error> {
            self.sent.push(b64(response));
            self.reply()
        }

        async fn auth_cancel(&mut self) -> Result<(), Self::Error> {
            self.sent.push("*".into());
            Ok(())
        }
    }

    fn block<T>(future: impl std::future::Future<Output = T>) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime
            .block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(10), future).await
            })
            .expect("fake exchange hung")
    }

    fn basic(mechanism: Option<&str>, allow_insecure: bool) -> AuthConfig {
        AuthConfig {
            method: AuthMethod::Basic {
                user: "alice".into(),
                password: SecretString::from("Sup3r-secret"),
                mechanism: mechanism.map(String::from),
            },
            target_name: None,
            allow_insecure,
        }
    }

    fn fail(code: u16, message: &str) -> ServerStep {
        ServerStep::Failure {
            code,
            message: message.into(),
        }
    }

    #[test]
    fn anonymous_sends_nothing() {
        let mut chan = FakeChannel::new("mx", false, false, "PLAIN", vec![]);
        let cfg = AuthConfig {
            method: AuthMethod::Anonymous,
            target_name: None,
            allow_insecure: false,
        };
        assert_eq!(block(authenticate(&mut chan, &cfg)).unwrap(), None);
        assert!(chan.sent.is_empty());
    }

    #[test]
    fn secret_policy_decisions() {
        // TLS: always.
        assert!(may_send_secret(true, false));
        // Plain text: only with explicit permission, whatever the host.
        assert!(!may_send_secret(false, false));
        assert!(may_send_secret(false, true));
        // Kerberos is the one mechanism that sends nothing reusable.
        for name in ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", "NTLM", "ntlm"] {
            assert!(sends_secret(name), "{name}");
        }
        assert!(!sends_secret("GSSAPI"));
    }

    #[test]
    fn plain_is_refused_on_plaintext_without_permission_and_nothing_is_sent() {
        for host in ["mail.example.com", "localhost"] {
            let mut chan = FakeChannel::new(host, false, true, "PLAIN LOGIN", vec![]);
            let err = block(authenticate(&mut chan, &basic(None, false))).unwrap_err();
            assert!(matches!(err, AuthError::InsecureChannel { .. }), "{err}");
            assert!(err.is_insecure_channel());
            assert!(
                err.to_string().contains("set AllowInsecureAuth=True"),
                "{err}"
            );
            assert!(chan.sent.is_empty(), "{host}: {:?}", chan.sent);
        }
    }

    #[test]
    fn allow_insecure_applies_to_any_host() {
        let mut chan = FakeChannel::new(
            "mail.example.com",
            false,
            false,
            "PLAIN",
            vec![ServerStep::Success],
        );
        let outcome = block(authenticate(&mut chan, &basic(None, true)))
            .unwrap()
            .unwrap();
        assert_eq!(outcome.mechanism, "PLAIN");
    }

    fn windows(
        ntlm: Option<NtlmCredentials>,
        only: Option<&str>,
        allow_insecure: bool,
    ) -> AuthConfig {
        AuthConfig {
            method: AuthMethod::Windows {
                ntlm,
                mechanism: only.map(str::to_string),
            },
            target_name: None,
            allow_insecure,
        }
    }

    #[test]
    fn ntlm_is_never_sent_in_clear_without_permission() {
        let mut chan = FakeChannel::new("mail.example.com", false, false, "NTLM", vec![]);
        let cfg = windows(Some(ntlm_credentials()), None, false);
        let err = block(authenticate(&mut chan, &cfg)).unwrap_err();
        assert!(err.is_insecure_channel(), "{err}");
        assert!(chan.sent.is_empty(), "{:?}", chan.sent);

        // With permission it goes out (the server then answers the NEGOTIATE message).
        let mut chan = FakeChannel::new(
            "mail.example.com",
            false,
            false,
            "NTLM",
            vec![ServerStep::Failure {
                code: 535,
                message: "no".into(),
            }],
        );
        let cfg = windows(Some(ntlm_credentials()), None, true);
        let err = block(authenticate(&mut chan, &cfg)).unwrap_err();
        assert!(err.is_credentials_rejected(), "{err}");
        assert_eq!(chan.sent.len(), 1);
        assert!(chan.sent[0].starts_with("AUTH NTLM"), "{:?}", chan.sent);
    }

    #[test]
    fn windows_auth_without_a_usable_mechanism_sends_anonymously() {
        for offered in ["", "PLAIN LOGIN"] {
            let mut chan = FakeChannel::new("relay.corp", false, false, offered, vec![]);
            let outcome = block(authenticate(&mut chan, &windows(None, None, false))).unwrap();
            assert_eq!(outcome, None, "offered {offered:?}");
            assert!(chan.sent.is_empty());
        }
        // A mechanism the user forced is still required.
        let mut chan = FakeChannel::new("relay.corp", true, false, "", vec![]);
        let err = block(authenticate(&mut chan, &windows(None, Some("NTLM"), false))).unwrap_err();
        assert!(err.is_no_shared_mechanism(), "{err}");
    }

    #[test]
    fn plain_on_allowed_loopback_succeeds() {
        let mut chan = FakeChannel::new(
            "localhost",
            false,
            true,
            "LOGIN PLAIN",
            vec![ServerStep::Success],
        );
        let outcome = block(authenticate(&mut chan, &basic(None, true)))
            .unwrap()
            .unwrap();
        assert_eq!(outcome.mechanism, "PLAIN");
        assert_eq!(outcome.identity, "alice");
        assert_eq!(outcome.fallback_note, None);
        assert_eq!(
            chan.sent,
            vec![format!("AUTH PLAIN {}", b64(b"\0alice\0Sup3r-secret"))]
        );
    }

    #[test]
    fn login_answers_both_prompts_over_tls() {
        let mut chan = FakeChannel::new(
            "mail.example.com",
            true,
            false,
            "LOGIN",
            vec![
                ServerStep::Challenge(b"Username:".to_vec()),
                ServerStep::Challenge(b"Password:".to_vec()),
                ServerStep::Success,
            ],
        );
        let outcome = block(authenticate(&mut chan, &basic(None, false)))
            .unwrap()
            .unwrap();
        assert_eq!(outcome.mechanism, "LOGIN");
        assert_eq!(
            chan.sent,
            vec![
                "AUTH LOGIN".to_string(),
                b64(b"alice"),
                b64(b"Sup3r-secret")
            ]
        );
    }

    #[test]
    fn rejection_names_user_and_mechanism() {
        let mut chan = FakeChannel::new(
            "mx",
            true,
            false,
            "PLAIN",
            vec![fail(
                535,
                "5.7.8 Error: authentication failed: authentication failure",
            )],
        );
        let err = block(authenticate(&mut chan, &basic(None, false))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("authentication failed for alice with PLAIN"),
            "{err}"
        );
        assert!(err.to_string().contains("535 5.7.8"), "{err}");
        assert!(!err.to_string().contains("Sup3r"), "{err}");
    }

    #[test]
    fn not_implemented_504_moves_to_the_next_mechanism() {
        let mut chan = FakeChannel::new(
            "mx",
            true,
            false,
            "PLAIN LOGIN",
            vec![
                fail(504, "5.5.4 Unrecognized authentication type"),
                ServerStep::Challenge(b"Username:".to_vec()),
                ServerStep::Challenge(b"Password:".to_vec()),
                ServerStep::Success,
            ],
        );
        let outcome = block(authenticate(&mut chan, &basic(None, false)))
            .unwrap()
            .unwrap();
        assert_eq!(outcome.mechanism, "LOGIN");
        assert!(outcome.fallback_note.unwrap().contains("504"));
        assert!(chan.sent[0].starts_with("AUTH PLAIN "));
        assert_eq!(chan.sent[1], "AUTH LOGIN");
    }

    #[test]
    fn no_shared_mechanism_lists_what_the_server_offered() {
        let mut chan = FakeChannel::new("mx", true, false, "CRAM-MD5 DIGEST-MD5", vec![]);
        let err = block(authenticate(&mut chan, &basic(None, false))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the server offers no authentication mechanism we can use: it offered \
             [CRAM-MD5 DIGEST-MD5], we can use [PLAIN LOGIN]"
        );
        assert!(chan.sent.is_empty());
    }

    #[test]
    fn forced_mechanism_is_the_only_one_tried() {
        let mut chan = FakeChannel::new("mx", true, false, "PLAIN LOGIN", vec![]);
        let err = block(authenticate(&mut chan, &basic(Some("cram-md5"), false))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "connection string key AuthMechanism: CRAM-MD5 cannot be used with this kind of \
             secret (use one of PLAIN, LOGIN)"
        );

        let mut chan = FakeChannel::new("mx", true, false, "PLAIN", vec![]);
        let err = block(authenticate(&mut chan, &basic(Some("login"), false))).unwrap_err();
        assert!(matches!(err, AuthError::NoSharedMechanism { .. }), "{err}");
    }

    #[test]
    fn xoauth2_error_challenge_gets_empty_answer_then_rejection() {
        let cfg = AuthConfig {
            method: AuthMethod::OAuth2 {
                user: "bob@example.com".into(),
                token: SecretString::from("ya29.token"),
                mechanism: None,
            },
            target_name: None,
            allow_insecure: false,
        };
        let mut chan = FakeChannel::new(
            "smtp.office365.com",
            true,
            false,
            "LOGIN XOAUTH2",
            vec![
                ServerStep::Challenge(br#"{"status":"401"}"#.to_vec()),
                fail(535, "5.7.3 Authentication unsuccessful"),
            ],
        );
        let err = block(authenticate(&mut chan, &cfg)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("authentication failed for bob@example.com with XOAUTH2"),
            "{err}"
        );
        assert_eq!(chan.sent[1], "");
    }

    #[test]
    fn endless_challenges_are_cut_off_and_cancelled() {
        let replies = (0..=MAX_CHALLENGE_ROUNDS)
            .map(|_| ServerStep::Challenge(b"Username:".to_vec()))
            .collect();
        let mut chan = FakeChannel::new("mx", true, false, "LOGIN", replies);
        let cfg = basic(None, false);
        let err = block(authenticate(&mut chan, &cfg)).unwrap_err();
        // LOGIN itself refuses a third prompt before the round cap is reached.
        assert!(
            matches!(
                err,
                AuthError::Mechanism(MechanismError::BadChallenge { .. })
            ),
            "{err}"
        );
        assert_eq!(chan.sent.last().map(String::as_str), Some("*"));
    }

    #[test]
    fn round_cap_applies_to_mechanisms_that_never_stop() {
        struct Chatty;
        impl Mechanism for Chatty {
            fn name(&self) -> &str {
                "X-CHATTY"
            }
            fn identity(&self) -> String {
                "me".into()
            }
            fn start(&mut self, _: &ServerInfo) -> Result<Option<Vec<u8>>, MechanismError> {
                Ok(None)
            }
            fn next(&mut self, _: &[u8]) -> Result<Vec<u8>, MechanismError> {
                Ok(b"more".to_vec())
            }
        }
        let replies = (0..=MAX_CHALLENGE_ROUNDS)
            .map(|_| ServerStep::Challenge(Vec::new()))
            .collect();
        let mut chan = FakeChannel::new("mx", true, false, "X-CHATTY", replies);
        let server = chan.server_info();
        let err = block(run(
            &mut chan,
            &server,
            vec![Candidate::Ready(Box::new(Chatty))],
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("more than 10 challenge rounds"),
            "{err}"
        );
        assert_eq!(chan.sent.len(), 1 + MAX_CHALLENGE_ROUNDS + 1);
        assert_eq!(chan.sent.last().map(String::as_str), Some("*"));
    }

    // --- Windows authentication policy, with GSSAPI's availability injected ---

    fn ntlm_credentials() -> NtlmCredentials {
        NtlmCredentials::new("CORP", "alice", SecretString::from("ntlm-pw"))
    }

    /// The MS-NLMP 4.2.4.3 CHALLENGE message.
    fn spec_challenge() -> Vec<u8> {
        let hex = "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef\
                   00000000000000002400240044000000060070170000000f5300650072007600\
                   6500720002000c0044006f006d00610069006e0001000c005300650072007600\
                   6500720000000000";
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    fn no_ticket(_: &crate::auth::gssapi::TargetName) -> Result<Box<dyn Mechanism>, GssapiError> {
        Err(GssapiError::NoCredentials {
            detail: "No Kerberos credentials available".into(),
        })
    }

    #[test]
    fn windows_falls_back_to_ntlm_without_a_ticket() {
        let mut chan = FakeChannel::new(
            "localhost",
            false,
            true,
            "GSSAPI NTLM LOGIN PLAIN",
            vec![ServerStep::Challenge(spec_challenge()), ServerStep::Success],
        );
        let server = chan.server_info();
        let creds = ntlm_credentials();
        let plan = windows::plan_with(
            &server,
            &windows::WindowsPlan {
                target_name: Some("smtp/localhost"),
                ntlm: Some(&creds),
                only: None,
            },
            no_ticket,
        )
        .unwrap();
        let outcome = block(run(&mut chan, &server, plan)).unwrap();
        assert_eq!(outcome.mechanism, "NTLM");
        assert_eq!(outcome.identity, "CORP\\alice");
        let note = outcome.fallback_note.unwrap();
        assert!(
            note.contains("GSSAPI unavailable: no Kerberos credentials"),
            "{note}"
        );
        assert!(
            chan.sent[0].starts_with("AUTH NTLM TlRMTVNTUAAB"),
            "{}",
            chan.sent[0]
        );
        assert_eq!(chan.sent.len(), 2);
        assert!(
            !chan
                .sent
                .iter()
                .any(|line| line.contains("GSSAPI") || line.contains("LOGIN"))
        );
    }

    #[test]
    fn windows_without_ticket_or_ntlm_credentials_says_both() {
        let server =
            FakeChannel::new("localhost", false, true, "GSSAPI NTLM", vec![]).server_info();
        let err = windows::plan_with(
            &server,
            &windows::WindowsPlan {
                target_name: None,
                ntlm: None,
                only: None,
            },
            no_ticket,
        )
        .err()
        .unwrap();
        let text = err.to_string();
        assert!(
            text.starts_with("no Kerberos credentials: run kinit or set KRB5CCNAME"),
            "{text}"
        );
        assert!(text.contains("NTLM_USER_FILE"), "{text}");
    }

    #[test]
    fn windows_never_uses_login_or_plain() {
        let server = FakeChannel::new("mx", true, false, "LOGIN PLAIN", vec![]).server_info();
        let creds = ntlm_credentials();
        let err = windows::plan_with(
            &server,
            &windows::WindowsPlan {
                target_name: None,
                ntlm: Some(&creds),
                only: None,
            },
            no_ticket,
        )
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "the server offers no authentication mechanism we can use: it offered [LOGIN PLAIN], \
             we can use [GSSAPI NTLM]"
        );
    }

    #[test]
    fn windows_can_be_limited_to_one_mechanism() {
        let server = FakeChannel::new("mx", false, false, "GSSAPI NTLM", vec![]).server_info();
        let creds = ntlm_credentials();
        let never =
            |_: &crate::auth::gssapi::TargetName| -> Result<Box<dyn Mechanism>, GssapiError> {
                panic!("GSSAPI must not be prepared when AuthMechanism=NTLM")
            };
        let plan = windows::plan_with(
            &server,
            &windows::WindowsPlan {
                target_name: None,
                ntlm: Some(&creds),
                only: Some("ntlm"),
            },
            never,
        )
        .unwrap();
        assert_eq!(first_name(&plan), "NTLM");
        assert_eq!(plan.len(), 1);
        let err = windows::plan_with(
            &server,
            &windows::WindowsPlan {
                target_name: None,
                ntlm: Some(&creds),
                only: Some("PLAIN"),
            },
            no_ticket,
        )
        .err()
        .unwrap();
        assert!(matches!(err, AuthError::InvalidConfig { .. }), "{err}");
    }

    #[test]
    fn windows_prefers_gssapi_and_uses_the_spn() {
        struct FakeKerberos(String);
        impl Mechanism for FakeKerberos {
            fn name(&self) -> &str {
                "GSSAPI"
            }
            fn identity(&self) -> String {
                "alice@TEST.LOCAL".into()
            }
            fn start(&mut self, _: &ServerInfo) -> Result<Option<Vec<u8>>, MechanismError> {
                Ok(Some(self.0.clone().into_bytes()))
            }
            fn next(&mut self, _: &[u8]) -> Result<Vec<u8>, MechanismError> {
                Ok(Vec::new())
            }
        }
        let fake = |target: &crate::auth::gssapi::TargetName| {
            Ok(Box::new(FakeKerberos(format!("{target:?}"))) as Box<dyn Mechanism>)
        };
        let mut chan = FakeChannel::new(
            "mail.corp",
            false,
            false,
            "NTLM GSSAPI",
            vec![ServerStep::Success],
        );
        let server = chan.server_info();
        let creds = ntlm_credentials();
        let plan = windows::plan_with(
            &server,
            &windows::WindowsPlan {
                target_name: None,
                ntlm: Some(&creds),
                only: None,
            },
            fake,
        )
        .unwrap();
        let outcome = block(run(&mut chan, &server, plan)).unwrap();
        assert_eq!(outcome.mechanism, "GSSAPI");
        assert_eq!(outcome.identity, "alice@TEST.LOCAL");
        assert_eq!(
            chan.sent,
            vec![format!(
                "AUTH GSSAPI {}",
                b64(br#"HostBased("SMTPSVC@mail.corp")"#)
            )]
        );
    }

    #[test]
    fn debug_of_configs_redacts_secrets() {
        let configs = [
            basic(Some("PLAIN"), false),
            AuthConfig {
                method: AuthMethod::OAuth2 {
                    user: "u".into(),
                    token: SecretString::from("Sup3r-secret"),
                    mechanism: None,
                },
                target_name: None,
                allow_insecure: false,
            },
            AuthConfig {
                method: AuthMethod::Windows {
                    ntlm: Some(NtlmCredentials::new(
                        "D",
                        "u",
                        SecretString::from("Sup3r-secret"),
                    )),
                    mechanism: None,
                },
                target_name: Some("smtp/localhost".into()),
                allow_insecure: false,
            },
        ];
        for cfg in configs {
            let shown = format!("{cfg:?} {cfg:#?}");
            assert!(!shown.contains("Sup3r"), "{shown}");
        }
    }
}
