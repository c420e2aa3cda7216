//! Dovecot submission (scripts/servers/dovecot.sh) as a second, independent SMTP server:
//! PLAIN, LOGIN and GSSAPI next to the Postfix/Cyrus tests in `auth_real_servers.rs`, and
//! OAuth2 tokens fetched from the oidc-provider (scripts/servers/oidc.sh) that Dovecot checks
//! by introspection. Accepted mail is relayed to the dumping smtp-sink, where it is read back.
//!
//! Skips with a message when the servers are not running; fails when CI=true.

#[path = "support/servers.rs"]
mod servers;

#[path = "support/auth.rs"]
mod support;

use std::path::PathBuf;
use std::sync::Once;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use smtpcm::connection_manager::SmtpConnectionManager;
use smtpcm_engine::auth::{AuthConfig, AuthMethod};
use smtpcm_engine::smtp::{Envelope, TlsMode};

use servers::TestServers;
use support::*;

struct Dovecot {
    servers: TestServers,
    starttls: u16,
    implicit: u16,
}

/// The servers, when Dovecot is among them (older env files lack it).
fn dovecot() -> Option<Dovecot> {
    static KERBEROS_ENV: Once = Once::new();
    let servers = TestServers::load()?;
    let (Some(starttls), Some(implicit)) = (
        servers.get("DOVECOT_SUBMISSION_PORT"),
        servers.get("DOVECOT_SUBMISSIONS_PORT"),
    ) else {
        let message = "Dovecot submission is not in the test-server env file (restart \
                       scripts/test-servers.sh)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true: {message}");
        }
        eprintln!("skipped: {message}");
        return None;
    };
    KERBEROS_ENV.call_once(|| {
        // SAFETY: every test calls this first; the Once blocks them until the variables are
        // set, so nothing reads the environment meanwhile.
        unsafe {
            std::env::set_var("KRB5_CONFIG", servers.krb5_config());
            std::env::set_var("KRB5CCNAME", servers.krb5_ccache());
        }
    });
    Some(Dovecot {
        starttls: starttls.parse().expect("DOVECOT_SUBMISSION_PORT"),
        implicit: implicit.parse().expect("DOVECOT_SUBMISSIONS_PORT"),
        servers,
    })
}

/// Waits for the message for `rcpt` in the sink's dump directory (Dovecot relays there).
fn assert_relayed(servers: &TestServers, rcpt: &str) {
    let dir = servers.sink_dump_dir();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read(e.path()).ok())
            .any(|bytes| String::from_utf8_lossy(&bytes).contains(&format!("Hello {rcpt}.")));
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no message for {rcpt} reached the sink in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn basic(user: &str, password: &str, mechanism: &str) -> AuthConfig {
    AuthConfig {
        method: AuthMethod::Basic {
            user: user.into(),
            password: SecretString::from(password.to_string()),
            mechanism: Some(mechanism.into()),
        },
        target_name: None,
        allow_insecure: false,
    }
}

#[test]
fn plain_after_starttls_authenticates_and_relays() {
    let Some(d) = dovecot() else { return };
    let rcpt = d.servers.unique_recipient("dovecot-plain");
    let cfg = basic(d.servers.sasl_user(), d.servers.sasl_password(), "PLAIN");
    let (attempt, log) = run_logged(login_and_send(
        &d.servers,
        d.starttls,
        TlsMode::StartTls,
        &cfg,
        &rcpt,
    ));
    let outcome = attempt
        .auth
        .unwrap_or_else(|e| panic!("{e}\n{log}"))
        .unwrap();
    assert_eq!(outcome.mechanism, "PLAIN");
    assert!(!log.contains(d.servers.sasl_password()), "{log}");
    assert_relayed(&d.servers, &rcpt);
}

#[test]
fn login_over_implicit_tls_authenticates_and_relays() {
    let Some(d) = dovecot() else { return };
    let rcpt = d.servers.unique_recipient("dovecot-login");
    let cfg = basic(d.servers.sasl_user(), d.servers.sasl_password(), "LOGIN");
    let (attempt, log) = run_logged(login_and_send(
        &d.servers,
        d.implicit,
        TlsMode::Implicit,
        &cfg,
        &rcpt,
    ));
    let outcome = attempt
        .auth
        .unwrap_or_else(|e| panic!("{e}\n{log}"))
        .unwrap();
    assert_eq!(outcome.mechanism, "LOGIN");
    assert_relayed(&d.servers, &rcpt);
}

#[test]
fn wrong_password_is_rejected_with_535_and_nothing_is_sent() {
    let Some(d) = dovecot() else { return };
    let rcpt = d.servers.unique_recipient("dovecot-wrong");
    let cfg = basic(d.servers.sasl_user(), "not-the-password", "PLAIN");
    let (attempt, _) = run_logged(login_and_send(
        &d.servers,
        d.starttls,
        TlsMode::StartTls,
        &cfg,
        &rcpt,
    ));
    let err = attempt.auth.unwrap_err();
    assert!(err.is_credentials_rejected(), "{err}");
    assert!(err.to_string().contains("535"), "{err}");
    assert!(!attempt.sent);
}

#[test]
fn gssapi_authenticates_and_relays() {
    let Some(d) = dovecot() else { return };
    let rcpt = d.servers.unique_recipient("dovecot-krb5");
    let cfg = windows(Some("smtp/localhost"), None, Some("GSSAPI"));
    let (attempt, log) = run_logged(login_and_send(
        &d.servers,
        d.starttls,
        TlsMode::StartTls,
        &cfg,
        &rcpt,
    ));
    let outcome = attempt
        .auth
        .unwrap_or_else(|e| panic!("{e}\n{log}"))
        .unwrap();
    assert_eq!(outcome.mechanism, "GSSAPI");
    assert_eq!(outcome.identity, d.servers.krb5_principal());
    assert_relayed(&d.servers, &rcpt);
}

/// The short-lived client's tokens expire after OIDC_SHORT_TTL_SECONDS while the provider
/// advertises an hour (a skewed clock), so the manager's cache still holds an expired token
/// for the second send: Dovecot rejects it (XOAUTH2's error challenge, then 535), a fresh
/// token is fetched once, and the send succeeds.
#[test]
fn expired_cached_token_is_replaced_once_and_the_send_succeeds() {
    let Some(d) = dovecot() else { return };
    let s = &d.servers;
    let (Some(token_url), Some(secret), Some(ttl)) = (
        s.get("OIDC_TOKEN_URL"),
        s.get("OIDC_SHORT_CLIENT_SECRET"),
        s.get("OIDC_SHORT_TTL_SECONDS"),
    ) else {
        panic!("the env file has Dovecot but not the OIDC provider keys");
    };
    let ttl: u64 = ttl.parse().expect("OIDC_SHORT_TTL_SECONDS");
    let dir = tempfile::tempdir().unwrap();
    let secret_file: PathBuf = dir.path().join("client-secret");
    std::fs::write(&secret_file, secret).unwrap();
    let mut cm = SmtpConnectionManager::new("Dovecot OAuth");
    cm.set_connection_string(&format!(
        "SmtpServer=localhost;Port={};EnableSsl=True;UserName={};AuthMechanism=XOAUTH2;\
         OAuthTokenUrl={token_url};OAuthClientId=smtpcm-short;OAuthClientSecretFile={};\
         OAuthScope=smtp",
        d.starttls,
        s.get("OIDC_USER_EMAIL").unwrap_or("alice@test.local"),
        secret_file.display()
    ))
    .unwrap();
    cm.set_extra_ca_file(Some(s.ca_file()));
    let first = s.unique_recipient("oauth-expired-1");
    let second = s.unique_recipient("oauth-expired-2");
    let send = |rcpt: String| {
        let cm = &cm;
        async move {
            let mut conn = cm.acquire().await?;
            let body = format!("Subject: expired token\r\n\r\nHello {rcpt}.\r\n");
            let envelope = Envelope::new("sender@test.local", [rcpt.as_str()]);
            conn.client
                .send(&envelope, body.as_bytes())
                .await
                .map_err(|e| smtpcm::connection_manager::ConnectionError::Send(e.into()))?;
            let _ = conn.client.quit().await;
            Ok::<_, smtpcm::connection_manager::ConnectionError>(())
        }
    };
    let (result, log) = run_logged(async {
        send(first.clone()).await?;
        // Past the token's real lifetime (not a timing assertion: only a wait).
        tokio::time::sleep(Duration::from_secs(ttl + 2)).await;
        send(second.clone()).await
    });
    result.unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert_relayed(s, &first);
    assert_relayed(s, &second);
    assert!(
        log.contains("rejected the cached OAuth2 access token"),
        "the second send did not go through the retry:\n{log}"
    );
    assert_eq!(
        log.matches("fetching an OAuth2 access token").count(),
        2,
        "one token for the first send, one after the rejection:\n{log}"
    );
    assert!(!log.contains(secret), "client secret in the log");
}
