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
    fn new(host: &str, tls: bool, loopback: bool, offered: &str, replies: Vec<ServerStep>) -> Self {
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
        .block_on(async { tokio::time::timeout(std::time::Duration::from_secs(10), future).await })
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
fn a_secret_the_server_echoes_is_not_in_the_error() {
    let echoed = format!(
        "5.7.8 bad credentials Sup3r-secret ({})",
        b64(b"\0alice\0Sup3r-secret")
    );
    let mut chan = FakeChannel::new(
        "mail.example.com",
        true,
        false,
        "PLAIN",
        vec![ServerStep::Failure {
            code: 535,
            message: echoed,
        }],
    );
    let err = block(authenticate(&mut chan, &basic(None, false))).unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("Sup3r"), "{text}");
    assert!(!text.contains(&b64(b"\0alice\0Sup3r-secret")), "{text}");
    assert!(
        text.contains("bad credentials [redacted] ([redacted])"),
        "{text}"
    );
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

fn windows(ntlm: Option<NtlmCredentials>, only: Option<&str>, allow_insecure: bool) -> AuthConfig {
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
        &mut Secrets(Vec::new()),
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
    let outcome = block(run(&mut chan, &server, plan, &mut Secrets(Vec::new()))).unwrap();
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
    let server = FakeChannel::new("localhost", false, true, "GSSAPI NTLM", vec![]).server_info();
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
    let never = |_: &crate::auth::gssapi::TargetName| -> Result<Box<dyn Mechanism>, GssapiError> {
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
    let outcome = block(run(&mut chan, &server, plan, &mut Secrets(Vec::new()))).unwrap();
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

// --- tokens fetched at run time: one fresh token after a rejected cached one ---

#[derive(Debug)]
struct Numbered(std::sync::atomic::AtomicUsize);

impl crate::auth::token::TokenProvider for Numbered {
    fn fetch(&self) -> crate::auth::token::TokenFuture<'_> {
        Box::pin(async move {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            Ok(crate::auth::token::AccessToken {
                secret: format!("tok-{n}").into(),
                expires_in: Some(std::time::Duration::from_secs(3600)),
            })
        })
    }
    fn describe(&self) -> String {
        "numbered tokens".into()
    }
}

fn fetched() -> (std::sync::Arc<Numbered>, AuthConfig) {
    let provider = std::sync::Arc::new(Numbered(Default::default()));
    let cfg = AuthConfig {
        method: AuthMethod::OAuth2Fetched {
            user: "bob@example.com".into(),
            tokens: crate::auth::token::TokenCache::new(provider.clone()),
            mechanism: Some("XOAUTH2".into()),
        },
        target_name: None,
        allow_insecure: false,
    };
    (provider, cfg)
}

fn xoauth2_line(token: &str) -> String {
    format!(
        "AUTH XOAUTH2 {}",
        b64(format!("user=bob@example.com\x01auth=Bearer {token}\x01\x01").as_bytes())
    )
}

#[test]
fn rejected_cached_token_is_replaced_once() {
    let (provider, cfg) = fetched();
    // First connection: tok-1 fetched and accepted.
    let mut chan = FakeChannel::new("mx", true, false, "XOAUTH2", vec![ServerStep::Success]);
    block(authenticate(&mut chan, &cfg)).unwrap();
    assert_eq!(chan.sent, vec![xoauth2_line("tok-1")]);
    // Second connection: the cached tok-1 is rejected (error challenge, then 535); tok-2 works.
    let mut chan = FakeChannel::new(
        "mx",
        true,
        false,
        "XOAUTH2",
        vec![
            ServerStep::Challenge(br#"{"status":"401"}"#.to_vec()),
            fail(535, "5.7.8 Authentication failed."),
            ServerStep::Success,
        ],
    );
    let outcome = block(authenticate(&mut chan, &cfg)).unwrap().unwrap();
    assert_eq!(outcome.mechanism, "XOAUTH2");
    assert_eq!(
        chan.sent,
        vec![xoauth2_line("tok-1"), String::new(), xoauth2_line("tok-2")]
    );
    assert_eq!(provider.0.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn fresh_token_rejected_is_final_and_names_mechanism_and_reply() {
    let (provider, cfg) = fetched();
    let mut chan = FakeChannel::new(
        "mx",
        true,
        false,
        "XOAUTH2",
        vec![fail(535, "5.7.8 Authentication failed.")],
    );
    let err = block(authenticate(&mut chan, &cfg)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "authentication failed for bob@example.com with XOAUTH2 (server replied 535 5.7.8 \
         Authentication failed.)"
    );
    assert_eq!(
        chan.sent.len(),
        1,
        "a token fetched just now is not fetched again"
    );
    // Cached, rejected, replaced, rejected again: final, after exactly one more fetch.
    let mut chan = FakeChannel::new(
        "mx",
        true,
        false,
        "XOAUTH2",
        vec![fail(535, "5.7.8 no"), fail(535, "5.7.8 still no")],
    );
    let err = block(authenticate(&mut chan, &cfg)).unwrap_err();
    assert!(err.is_credentials_rejected(), "{err}");
    assert!(err.to_string().contains("535 5.7.8 still no"), "{err}");
    assert_eq!(chan.sent.len(), 2);
    assert_eq!(provider.0.load(std::sync::atomic::Ordering::SeqCst), 2);
}
