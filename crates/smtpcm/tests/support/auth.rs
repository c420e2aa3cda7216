//! Shared helpers for the authentication tests against the real servers.
#![allow(dead_code)] // each test crate uses a different subset

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtpcm_engine::auth::credentials::NtlmCredentials;
use smtpcm_engine::auth::{AuthConfig, AuthError, AuthMethod, AuthOutcome, authenticate};
use smtpcm_engine::smtp::{Client, ClientConfig, Envelope, Timeouts, TlsMode};

use crate::servers::TestServers;

/// Upper bound for one whole test exchange (connect, authenticate, send, quit).
pub const EXCHANGE_LIMIT: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Run `future` on a fresh runtime with every tracing event (trace level and up)
/// captured; returns its output and the captured log text.
pub fn run_logged<T>(future: impl Future<Output = T>) -> (T, String) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Capture(buffer.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let output = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async { tokio::time::timeout(EXCHANGE_LIMIT, future).await })
    })
    .expect("the exchange did not finish within the limit");
    let log = String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned();
    (output, log)
}

/// Connect to the test server on `port` as `localhost` (the name the certificate and the
/// Kerberos service principals are issued for).
pub async fn connect(servers: &TestServers, port: u16, tls: TlsMode) -> Client {
    let mut cfg = ClientConfig::new("localhost", port, tls);
    cfg.extra_ca_file = Some(servers.ca_file());
    cfg.timeouts = Timeouts::uniform(Duration::from_secs(20));
    Client::connect(&cfg)
        .await
        .unwrap_or_else(|err| panic!("connect to localhost:{port} ({tls}): {err}"))
}

/// What [`login_and_send`] did.
pub struct Attempt {
    pub auth: Result<Option<AuthOutcome>, AuthError>,
    /// Whether a message was handed to the server (only after authentication succeeded).
    pub sent: bool,
}

/// Authenticate as `cfg` says and, only if that succeeds, send one message to `rcpt`,
/// the order the Send Mail task follows.
pub async fn login_and_send(
    servers: &TestServers,
    port: u16,
    tls: TlsMode,
    cfg: &AuthConfig,
    rcpt: &str,
) -> Attempt {
    let mut client = connect(servers, port, tls).await;
    let auth = authenticate(&mut client, cfg).await;
    let sent = if auth.is_ok() {
        let body = format!(
            "From: sender@{domain}\r\nTo: {rcpt}\r\nSubject: auth test\r\n\r\nHello {rcpt}.\r\n",
            domain = servers.mail_domain()
        );
        let envelope = Envelope::new(format!("sender@{}", servers.mail_domain()), [rcpt]);
        client
            .send(&envelope, body.as_bytes())
            .await
            .unwrap_or_else(|err| panic!("sending after authentication failed: {err}"));
        true
    } else {
        false
    };
    let _ = client.quit().await;
    Attempt { auth, sent }
}

/// The NTLM credentials of the test realm (right, or deliberately wrong, password).
pub fn ntlm_credentials(servers: &TestServers, wrong: bool) -> NtlmCredentials {
    let file = if wrong {
        servers.ntlm_user_file_wrong()
    } else {
        servers.ntlm_user_file()
    };
    NtlmCredentials::from_user_file(&file, Some("alice"))
        .unwrap_or_else(|err| panic!("{err}"))
        .unwrap_or_else(|| panic!("{} has no entry", file.display()))
}

pub fn windows(
    target_name: Option<&str>,
    ntlm: Option<NtlmCredentials>,
    only: Option<&str>,
) -> AuthConfig {
    AuthConfig {
        method: AuthMethod::Windows {
            ntlm,
            mechanism: only.map(String::from),
        },
        target_name: target_name.map(String::from),
        allow_insecure: false,
    }
}

/// Assert the message for `rcpt` arrived in the Maildir.
pub fn assert_delivered(servers: &TestServers, rcpt: &str) {
    let message = servers
        .wait_for_maildir_message(rcpt, Duration::from_secs(20))
        .unwrap_or_else(|| {
            panic!(
                "no message for {rcpt} arrived in {}",
                servers.maildir_inbox().display()
            )
        });
    let text = String::from_utf8_lossy(&message);
    assert!(
        text.contains(&format!("Hello {rcpt}.")),
        "unexpected message:\n{text}"
    );
}
