//! Authentication against the real servers of `scripts/test-servers.sh`: Postfix with
//! Cyrus SASL (GSSAPI, NTLM, PLAIN, LOGIN) and an MIT KDC, all on 127.0.0.1.
//!
//! Skips with a message when the servers' env file is absent; fails when CI=true.
//! Kerberos uses the ticket cache `kinit alice` left for the test realm.

#[path = "support/servers.rs"]
mod servers;

#[path = "support/auth.rs"]
mod support;

use std::sync::Once;

use base64::Engine as _;
use secrecy::SecretString;
use smtpcm_engine::auth::{AuthConfig, AuthError, AuthMethod};
use smtpcm_engine::smtp::TlsMode;

use servers::TestServers;
use support::*;

/// Point the GSSAPI library at the test realm and alice's ticket cache, once, before any
/// test in this binary calls into it.
fn servers_with_kerberos() -> Option<TestServers> {
    static KERBEROS_ENV: Once = Once::new();
    let servers = TestServers::load()?;
    KERBEROS_ENV.call_once(|| {
        // SAFETY: every test calls this before doing anything else, and the Once blocks
        // them all until the variables are set, so nothing reads the environment meanwhile.
        unsafe {
            std::env::set_var("KRB5_CONFIG", servers.krb5_config());
            std::env::set_var("KRB5CCNAME", servers.krb5_ccache());
        }
    });
    Some(servers)
}

fn basic(user: &str, password: &str, mechanism: Option<&str>, allow_insecure: bool) -> AuthConfig {
    AuthConfig {
        method: AuthMethod::Basic {
            user: user.into(),
            password: SecretString::from(password.to_string()),
            mechanism: mechanism.map(String::from),
        },
        target_name: None,
        allow_insecure,
    }
}

#[test]
fn kerberos_with_target_name_authenticates_and_delivers() {
    let Some(servers) = servers_with_kerberos() else {
        return;
    };
    let rcpt = servers.unique_recipient("krb5");
    let cfg = windows(Some("smtp/localhost"), None, None);
    let (attempt, log) = run_logged(login_and_send(
        &servers,
        servers.auth_port(),
        TlsMode::None,
        &cfg,
        &rcpt,
    ));
    let outcome = attempt
        .auth
        .unwrap_or_else(|err| panic!("{err}\n{log}"))
        .unwrap();
    assert_eq!(outcome.mechanism, "GSSAPI");
    assert_eq!(outcome.identity, servers.krb5_principal());
    assert_eq!(outcome.fallback_note, None);
    assert!(attempt.sent);
    assert_delivered(&servers, &rcpt);
}

#[test]
fn kerberos_default_spn_is_smtpsvc() {
    let Some(servers) = servers_with_kerberos() else {
        return;
    };
    let Some(port) = servers
        .get("SMTP_AUTH_SMTPSVC_PORT")
        .and_then(|p| p.parse().ok())
    else {
        panic!(
            "the env file has no SMTP_AUTH_SMTPSVC_PORT (a listener whose keytab is SMTPSVC/localhost)"
        );
    };
    let rcpt = servers.unique_recipient("krb5-smtpsvc");
    let cfg = windows(None, None, None);
    let (attempt, log) = run_logged(login_and_send(&servers, port, TlsMode::None, &cfg, &rcpt));
    let outcome = attempt
        .auth
        .unwrap_or_else(|err| panic!("{err}\n{log}"))
        .unwrap();
    assert_eq!(outcome.mechanism, "GSSAPI");
    assert_delivered(&servers, &rcpt);
}

#[test]
fn unknown_service_principal_falls_back_to_ntlm_before_auth() {
    let Some(servers) = servers_with_kerberos() else {
        return;
    };
    let rcpt = servers.unique_recipient("krb5-unknown-spn");
    // A ticket exists, but the KDC has no such service: init_sec_context fails in
    // start(), before AUTH GSSAPI is sent.
    let cfg = windows(
        Some("smtp/no-such-host.test.local"),
        Some(ntlm_credentials(&servers, false)),
        None,
    );
    let (attempt, log) = run_logged(login_and_send(
        &servers,
        servers.auth_port(),
        TlsMode::StartTls,
        &cfg,
        &rcpt,
    ));
    let outcome = attempt
        .auth
        .unwrap_or_else(|err| panic!("{err}\n{log}"))
        .unwrap();
    assert_eq!(outcome.mechanism, "NTLM");
    let note = outcome.fallback_note.expect("the fallback is reported");
    assert!(note.contains("GSSAPI could not start"), "{note}");
    assert!(note.contains("smtp@no-such-host.test.local"), "{note}");
    assert!(!log.contains("C: AUTH GSSAPI"), "{log}");
    assert_delivered(&servers, &rcpt);
}

#[test]
fn ntlm_authenticates_and_delivers() {
    let Some(servers) = servers_with_kerberos() else {
        return;
    };
    let rcpt = servers.unique_recipient("ntlm");
    let cfg = windows(None, Some(ntlm_credentials(&servers, false)), Some("NTLM"));
    let (attempt, log) = run_logged(login_and_send(
        &servers,
        servers.auth_port(),
        TlsMode::StartTls,
        &cfg,
        &rcpt,
    ));
    let outcome = attempt
        .auth
        .unwrap_or_else(|err| panic!("{err}\n{log}"))
        .unwrap();
    assert_eq!(outcome.mechanism, "NTLM");
    assert_eq!(
        outcome.identity,
        format!("{}\\alice", servers.ntlm_domain())
    );
    assert_delivered(&servers, &rcpt);
}

#[test]
fn wrong_ntlm_password_is_an_auth_error_and_nothing_is_sent() {
    let Some(servers) = servers_with_kerberos() else {
        return;
    };
    let rcpt = servers.unique_recipient("ntlm-wrong");
    let cfg = windows(None, Some(ntlm_credentials(&servers, true)), Some("NTLM"));
    let (attempt, log) = run_logged(login_and_send(
        &servers,
        servers.auth_port(),
        TlsMode::StartTls,
        &cfg,
        &rcpt,
    ));
    let err = attempt.auth.unwrap_err();
    assert!(
        matches!(err, AuthError::Rejected { code: 535, .. }),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(&format!(
            "authentication failed for {}\\alice with NTLM",
            servers.ntlm_domain()
        )),
        "{err}"
    );
    assert!(!attempt.sent);
    assert!(
        !log.contains("MAIL FROM"),
        "a transaction was started:\n{log}"
    );
}

#[test]
fn tls_only_listener_authenticates_after_starttls() {
    let Some(servers) = servers_with_kerberos() else {
        return;
    };
    let rcpt = servers.unique_recipient("tlsonly");
    let cfg = basic(servers.sasl_user(), servers.sasl_password(), None, false);
    let (attempt, log) = run_logged(login_and_send(
        &servers,
        servers.auth_tlsonly_port(),
        TlsMode::StartTls,
        &cfg,
        &rcpt,
    ));
    let outcome = attempt
        .auth
        .unwrap_or_else(|err| panic!("{err}\n{log}"))
        .unwrap();
    assert_eq!(outcome.mechanism, "PLAIN");
    let starttls = log.find("C: STARTTLS").expect("STARTTLS was not sent");
    let auth = log.find("C: AUTH PLAIN").expect("AUTH PLAIN was not sent");
    assert!(starttls < auth, "AUTH before STARTTLS:\n{log}");
    assert_delivered(&servers, &rcpt);
}

#[test]
fn ntlm_is_not_sent_in_clear_text_without_permission() {
    let Some(servers) = servers_with_kerberos() else {
        return;
    };
    let rcpt = servers.unique_recipient("ntlm-clear");
    let cfg = windows(None, Some(ntlm_credentials(&servers, false)), Some("NTLM"));
    let (attempt, log) = run_logged(login_and_send(
        &servers,
        servers.auth_port(),
        TlsMode::None,
        &cfg,
        &rcpt,
    ));
    let err = attempt.auth.unwrap_err();
    assert!(err.is_insecure_channel(), "{err}");
    assert!(!log.contains("C: AUTH"), "AUTH was sent:\n{log}");
    assert!(!attempt.sent);
}

#[test]
fn tls_only_listener_in_clear_text_offers_nothing_and_we_send_nothing() {
    let Some(servers) = servers_with_kerberos() else {
        return;
    };
    let rcpt = servers.unique_recipient("tlsonly-clear");
    let cfg = basic(servers.sasl_user(), servers.sasl_password(), None, true);
    let (attempt, log) = run_logged(login_and_send(
        &servers,
        servers.auth_tlsonly_port(),
        TlsMode::None,
        &cfg,
        &rcpt,
    ));
    let err = attempt.auth.unwrap_err();
    assert!(matches!(err, AuthError::NoSharedMechanism { .. }), "{err}");
    assert!(!log.contains("C: AUTH"), "AUTH was sent:\n{log}");
}

#[test]
fn password_is_not_sent_in_clear_text_without_permission() {
    let Some(servers) = servers_with_kerberos() else {
        return;
    };
    let rcpt = servers.unique_recipient("clear-refused");
    // This listener offers PLAIN and LOGIN before STARTTLS.
    let cfg = basic(servers.sasl_user(), servers.sasl_password(), None, false);
    let (attempt, log) = run_logged(login_and_send(
        &servers,
        servers.auth_port(),
        TlsMode::None,
        &cfg,
        &rcpt,
    ));
    let err = attempt.auth.unwrap_err();
    assert!(matches!(err, AuthError::InsecureChannel { .. }), "{err}");
    assert!(!log.contains("C: AUTH"), "AUTH was sent:\n{log}");
    assert!(!attempt.sent);
}

#[test]
fn debug_transcript_contains_no_secret() {
    let Some(servers) = servers_with_kerberos() else {
        return;
    };
    let password = servers.sasl_password().to_string();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let user = servers.sasl_user().to_string();
    let forbidden = [
        password.clone(),
        b64(password.as_bytes()),
        b64(format!("\0{user}\0{password}").as_bytes()),
    ];
    let runs = [
        (
            "PLAIN over STARTTLS",
            servers.auth_tlsonly_port(),
            TlsMode::StartTls,
            basic(&user, &password, Some("PLAIN"), false),
        ),
        (
            "LOGIN on loopback, allowed",
            servers.auth_port(),
            TlsMode::None,
            basic(&user, &password, Some("LOGIN"), true),
        ),
        (
            "NTLM over STARTTLS",
            servers.auth_port(),
            TlsMode::StartTls,
            windows(None, Some(ntlm_credentials(&servers, false)), Some("NTLM")),
        ),
    ];
    for (what, port, tls, cfg) in runs {
        let rcpt = servers.unique_recipient("transcript");
        let (attempt, log) = run_logged(login_and_send(&servers, port, tls, &cfg, &rcpt));
        attempt
            .auth
            .unwrap_or_else(|err| panic!("{what}: {err}\n{log}"));
        assert!(
            log.contains("C: AUTH"),
            "{what}: the transcript was not captured:\n{log}"
        );
        for secret in &forbidden {
            assert!(
                !log.contains(secret.as_str()),
                "{what}: the transcript contains a secret:\n{log}"
            );
        }
        assert!(
            !format!("{cfg:?}").contains(&password),
            "{what}: Debug shows the password"
        );
    }
}
