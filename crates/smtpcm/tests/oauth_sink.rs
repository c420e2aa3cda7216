//! XOAUTH2 and OAUTHBEARER, driven through the connection manager (`UserName=…;TokenFile=…`),
//! against the in-repo capture server: a good token authenticates, a bad one fails with the
//! server's reply after the JSON error challenge, and the token never shows in the error, the
//! log or the server's transcript.

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtpcm::connection_manager::{ConnectionError, SmtpConnectionManager};
use smtpcm_engine::SendError;
use smtpcm_engine::auth::AuthError;
use smtpcm_sink::{Sink, SinkAuth, SinkConfig, SinkHandle};

const USER: &str = "alice@example.com";
const GOOD: &str = "ya29.good-token-4f9c";
const BAD: &str = "ya29.bad-token-77d1";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Attempt {
    result: Result<Option<(String, String)>, ConnectionError>,
    log: String,
    transcript: Vec<String>,
}

/// Authenticates once with `mechanism` and `token` against a sink that accepts [`GOOD`], on a
/// current-thread runtime whose every tracing event is captured.
fn attempt(mechanism: &str, token: &str) -> Attempt {
    let log = Capture::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (result, transcript) = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let sink = Sink::start(SinkConfig {
                auth: Some(SinkAuth::new(USER, "unused-password").with_token(GOOD)),
                ..SinkConfig::default()
            })
            .await
            .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let result = tokio::time::timeout(
                Duration::from_secs(30),
                acquire(&sink, dir.path(), mechanism, token),
            )
            .await
            .expect("authentication did not finish");
            let transcript = sink.transcript();
            sink.shutdown().await;
            (result, transcript)
        })
    });
    let log = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    Attempt {
        result,
        log,
        transcript,
    }
}

async fn acquire(
    sink: &SinkHandle,
    dir: &std::path::Path,
    mechanism: &str,
    token: &str,
) -> Result<Option<(String, String)>, ConnectionError> {
    let ca = dir.join("ca.pem");
    sink.write_ca_file(&ca).unwrap();
    let token_file = dir.join("token");
    let mut file = std::fs::File::create(&token_file).unwrap();
    writeln!(file, "{token}").unwrap();
    let cs = format!(
        "SmtpServer=localhost;Port={};UseWindowsAuthentication=False;EnableSsl=True;\
         UserName={USER};AuthMechanism={mechanism};TokenFile={};",
        sink.local_addr().port(),
        token_file.display()
    );
    let mut cm = SmtpConnectionManager::with_connection_string("SMTP", &cs)?;
    cm.set_extra_ca_file(Some(ca));
    let conn = cm.acquire().await?;
    let _ = conn.client.quit().await;
    Ok(conn.auth.map(|a| (a.mechanism, a.identity)))
}

fn assert_token_never_shown(attempt: &Attempt, token: &str) {
    assert!(
        !attempt.log.contains(token),
        "token in the log:\n{}",
        attempt.log
    );
    let transcript = attempt.transcript.join("\n");
    assert!(
        !transcript.contains(token),
        "token in the transcript:\n{transcript}"
    );
}

fn good_token_authenticates(mechanism: &str) {
    let attempt = attempt(mechanism, GOOD);
    match &attempt.result {
        Ok(Some((used, identity))) => {
            assert_eq!(used, mechanism);
            assert_eq!(identity, USER);
        }
        other => panic!(
            "{mechanism}: expected success, got {:?}",
            other.as_ref().err().map(ToString::to_string)
        ),
    }
    assert!(
        attempt
            .transcript
            .iter()
            .any(|l| l.ends_with("S: 235 2.7.0 Accepted")),
        "{:#?}",
        attempt.transcript
    );
    assert_token_never_shown(&attempt, GOOD);
}

/// The failure: the JSON error challenge (334), the client's answer, then 535 with the text.
fn bad_token_fails_cleanly(mechanism: &str, reply_text: &str) {
    let attempt = attempt(mechanism, BAD);
    let err = match attempt.result {
        Err(ref e) => e,
        Ok(ref outcome) => panic!("{mechanism}: a bad token authenticated: {outcome:?}"),
    };
    match err {
        ConnectionError::Send(SendError::Auth(AuthError::Rejected {
            user,
            mechanism: used,
            code,
            message,
        })) => {
            assert_eq!(
                (user.as_str(), used.as_str(), *code),
                (USER, mechanism, 535)
            );
            assert!(message.contains(reply_text), "{message}");
        }
        other => panic!("{mechanism}: expected AuthError::Rejected, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(reply_text) && text.contains("535"), "{text}");
    assert!(!text.contains(BAD), "token in the error: {text}");
    let challenge = attempt
        .transcript
        .iter()
        .position(|l| l.contains("S: 334 eyJ"))
        .unwrap_or_else(|| panic!("no JSON error challenge: {:#?}", attempt.transcript));
    assert!(
        attempt.transcript[challenge + 1..]
            .iter()
            .any(|l| l.contains("S: 535 5.7.8")),
        "{:#?}",
        attempt.transcript
    );
    assert_token_never_shown(&attempt, BAD);
}

#[test]
fn xoauth2_with_a_good_token_authenticates() {
    good_token_authenticates("XOAUTH2");
}

#[test]
fn oauthbearer_with_a_good_token_authenticates() {
    good_token_authenticates("OAUTHBEARER");
}

#[test]
fn xoauth2_with_a_bad_token_gets_the_json_challenge_then_535() {
    bad_token_fails_cleanly("XOAUTH2", "Username and Password not accepted");
}

#[test]
fn oauthbearer_with_a_bad_token_gets_the_json_challenge_then_535() {
    bad_token_fails_cleanly("OAUTHBEARER", "Authentication credentials invalid");
}
