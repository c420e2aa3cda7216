//! Every exit code of `smtpcm send` produced end to end against the in-repo scripted
//! capture server: authentication (4), delivery unknown (7), no credentials (8), no shared
//! mechanism (9), insecure channel (10), temporary failures (75), TLS and protocol failures
//! (3), and bad input refused before any connection (2).

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use smtpcm_sink::{Fault, FaultScript, FaultStage, Sink, SinkAuth, SinkConfig, SinkHandle};

const BIN: &str = env!("CARGO_BIN_EXE_smtpcm");
/// The password variable the tests set (or leave unset) for the child process.
const SECRET_ENV: &str = "SMTPCM_EXIT_CODES_SECRET";

struct Run<'a> {
    connection: String,
    to: &'a str,
    extra: Vec<String>,
    secret: Option<&'a str>,
}

impl<'a> Run<'a> {
    fn new(connection: impl Into<String>) -> Self {
        Run {
            connection: connection.into(),
            to: "x@d.test",
            extra: Vec::new(),
            secret: None,
        }
    }

    fn arg(mut self, a: impl Into<String>) -> Self {
        self.extra.push(a.into());
        self
    }

    async fn send(self) -> Output {
        let mut command = tokio::process::Command::new(BIN);
        command
            .args([
                "send",
                "--connection",
                &self.connection,
                "--from",
                "a@b.test",
            ])
            .args(["--to", self.to, "--subject", "s", "--body", "b"])
            .args(&self.extra)
            .env_remove(SECRET_ENV)
            .kill_on_drop(true);
        if let Some(secret) = self.secret {
            command.env(SECRET_ENV, secret);
        }
        tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .expect("smtpcm did not finish within 60 s")
            .expect("smtpcm could not be started")
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

async fn sink(config: SinkConfig) -> (SinkHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let handle = Sink::start(config).await.unwrap();
    handle.write_ca_file(dir.path().join("ca.pem")).unwrap();
    (handle, dir)
}

fn faulty(stage: FaultStage, fault: Fault) -> SinkConfig {
    SinkConfig {
        faults: FaultScript::new().always(stage, fault),
        ..SinkConfig::default()
    }
}

/// `EnableSsl` as given, plus `more` keys.
fn conn(handle: &SinkHandle, ssl: bool, more: &str) -> String {
    format!(
        "SmtpServer=localhost;UseWindowsAuthentication=False;EnableSsl={};Port={};{more}",
        if ssl { "True" } else { "False" },
        handle.local_addr().port()
    )
}

fn ca(dir: &Path) -> String {
    dir.join("ca.pem").to_string_lossy().into_owned()
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

fn client_said(handle: &SinkHandle, verb: &str) -> bool {
    handle
        .transcript()
        .iter()
        .any(|l| l.to_ascii_uppercase().starts_with(verb))
}

#[tokio::test]
async fn refused_credentials_are_exit_4_and_the_password_is_not_printed() {
    let (handle, dir) = sink(SinkConfig {
        auth: Some(SinkAuth::new("u", "right-password")),
        ..SinkConfig::default()
    })
    .await;
    let mut run = Run::new(conn(
        &handle,
        true,
        &format!("UserName=u;PasswordEnv={SECRET_ENV};"),
    ))
    .arg("--ca-file")
    .arg(ca(dir.path()));
    run.secret = Some("wrong-password-4711");
    let out = run.send().await;
    assert_exit(&out, 4);
    assert!(stderr(&out).contains("535"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("wrong-password-4711"));
    assert!(!client_said(&handle, "MAIL"));
}

#[tokio::test]
async fn connection_lost_after_the_final_dot_is_exit_7() {
    let (handle, _dir) = sink(faulty(FaultStage::AfterDot, Fault::Disconnect)).await;
    let out = Run::new(conn(&handle, false, "")).send().await;
    assert_exit(&out, 7);
    assert!(
        stderr(&out).contains("may or may not have accepted"),
        "{}",
        stderr(&out)
    );
}

/// A loopback listener that never answers; afterwards it tells whether anyone connected.
struct Tripwire(std::net::TcpListener);

impl Tripwire {
    fn new() -> Self {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Tripwire(l)
    }

    fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    /// The kernel completes the handshake of any connect, so an exited client that
    /// connected has left a connection in the accept queue.
    fn was_connected(&self) -> bool {
        match self.0.accept() {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[tokio::test]
async fn no_password_is_exit_8_before_connecting() {
    let wire = Tripwire::new();
    let out = Run::new(format!(
        "SmtpServer=127.0.0.1;Port={};Timeout=5000;UserName=u;PasswordEnv={SECRET_ENV};",
        wire.port()
    ))
    .send()
    .await;
    assert_exit(&out, 8);
    assert!(stderr(&out).contains(SECRET_ENV), "{}", stderr(&out));
    assert!(
        !wire.was_connected(),
        "it connected before reading the secret"
    );
}

#[tokio::test]
async fn no_shared_mechanism_is_exit_9_and_lists_what_was_offered() {
    // The sink offers PLAIN and LOGIN; an OAuth2 token needs XOAUTH2 or OAUTHBEARER.
    let (handle, dir) = sink(SinkConfig {
        auth: Some(SinkAuth::new("u", "p")),
        ..SinkConfig::default()
    })
    .await;
    let mut run = Run::new(conn(
        &handle,
        true,
        &format!("UserName=u;TokenEnv={SECRET_ENV};"),
    ))
    .arg("--ca-file")
    .arg(ca(dir.path()));
    run.secret = Some("token");
    let out = run.send().await;
    assert_exit(&out, 9);
    assert!(stderr(&out).contains("PLAIN"), "{}", stderr(&out));
}

#[tokio::test]
async fn credentials_over_an_unencrypted_connection_are_exit_10_and_never_sent() {
    let (handle, _dir) = sink(SinkConfig {
        starttls: false,
        auth: Some(SinkAuth::new("u", "p")),
        ..SinkConfig::default()
    })
    .await;
    let mut run = Run::new(conn(
        &handle,
        false,
        &format!("UserName=u;PasswordEnv={SECRET_ENV};"),
    ));
    run.secret = Some("p");
    let out = run.send().await;
    assert_exit(&out, 10);
    assert!(
        !client_said(&handle, "AUTH"),
        "credentials went out in clear"
    );
}

#[tokio::test]
async fn a_4xx_to_the_message_is_exit_75() {
    for (stage, code) in [
        (FaultStage::Mail, 451),
        (FaultStage::DataStart, 452),
        (FaultStage::AfterDot, 451),
    ] {
        let (handle, _dir) = sink(faulty(
            stage,
            Fault::Reply(code, "4.3.0 Scripted try later".into()),
        ))
        .await;
        let out = Run::new(conn(&handle, false, "")).send().await;
        assert_exit(&out, 75);
        let err = stderr(&out);
        assert!(
            err.contains("temporary failure") && err.contains(&code.to_string()),
            "{stage:?}: {err}"
        );
    }
}

#[tokio::test]
async fn a_4xx_for_every_recipient_is_exit_75() {
    let (handle, _dir) = sink(faulty(
        FaultStage::Rcpt,
        Fault::Reply(450, "4.2.1 Mailbox busy".into()),
    ))
    .await;
    let mut run = Run::new(conn(&handle, false, ""));
    run.to = "one@d.test; two@d.test";
    let out = run.send().await;
    assert_exit(&out, 75);
    assert!(stderr(&out).contains("two@d.test"), "{}", stderr(&out));
}

#[tokio::test]
async fn a_421_at_any_stage_is_exit_75() {
    for stage in [FaultStage::Greeting, FaultStage::Ehlo, FaultStage::Rcpt] {
        let (handle, _dir) = sink(faulty(
            stage,
            Fault::Reply(421, "4.3.2 Service shutting down".into()),
        ))
        .await;
        let out = Run::new(conn(&handle, false, "")).send().await;
        assert_eq!(out.status.code(), Some(75), "{stage:?}: {}", stderr(&out));
    }
}

#[tokio::test]
async fn some_recipients_deferred_is_partial_and_names_them_deferred() {
    let (handle, _dir) = sink(SinkConfig {
        faults: FaultScript::new().times(
            FaultStage::Rcpt,
            Fault::Reply(450, "4.2.1 Mailbox busy".into()),
            1,
        ),
        ..SinkConfig::default()
    })
    .await;
    let mut run = Run::new(conn(&handle, false, ""));
    run.to = "busy@d.test; ok@d.test";
    let out = run.send().await;
    assert_exit(&out, 6);
    let text = stdout(&out);
    assert!(text.contains("deferred  busy@d.test  450"), "{text}");
    assert!(text.contains("accepted  ok@d.test"), "{text}");
}

#[tokio::test]
async fn starttls_refused_with_454_under_enable_ssl_is_exit_3() {
    let (handle, dir) = sink(faulty(
        FaultStage::StartTls,
        Fault::Reply(454, "4.7.0 TLS not available".into()),
    ))
    .await;
    let out = Run::new(conn(&handle, true, ""))
        .arg("--ca-file")
        .arg(ca(dir.path()))
        .send()
        .await;
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("STARTTLS"), "{}", stderr(&out));
    assert!(!client_said(&handle, "MAIL"), "MAIL went out in clear");
}

#[tokio::test]
async fn an_impossible_reply_code_is_a_protocol_error_exit_3() {
    for (stage, code) in [
        (FaultStage::Mail, 600),
        (FaultStage::Mail, 999),
        (FaultStage::AfterDot, 354),
    ] {
        let (handle, _dir) = sink(faulty(stage, Fault::Reply(code, "odd".into()))).await;
        let out = Run::new(conn(&handle, false, "")).send().await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{stage:?} {code}: {err}");
        assert!(err.contains("protocol error"), "{stage:?} {code}: {err}");
    }
}

#[tokio::test]
async fn a_reset_while_the_body_is_sent_is_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    // Larger than loopback socket buffers, so the reset is met while writing.
    std::fs::write(&big, vec![7u8; 12 * 1024 * 1024]).unwrap();
    let (handle, _sink_dir) = sink(faulty(
        FaultStage::MidData {
            after_bytes: 64 * 1024,
        },
        Fault::Disconnect,
    ))
    .await;
    let out = Run::new(conn(&handle, false, ""))
        .arg("--attach")
        .arg(big.to_string_lossy())
        .send()
        .await;
    assert_exit(&out, 3);
}

#[tokio::test]
async fn bad_input_is_exit_2_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let missing_ca = dir.path().join("missing-ca.pem");
    let cases: Vec<(String, &str, Vec<String>, &str)> = vec![
        (
            "SmtpServer=127.0.0.1;Port={port};Timeout=5000;".into(),
            "x@d.test",
            vec!["--ca-file".into(), missing_ca.to_string_lossy().into()],
            "missing-ca.pem",
        ),
        (
            "SmtpServer=mail corp;Port={port};Timeout=5000;".into(),
            "x@d.test",
            vec![],
            "SmtpServer",
        ),
        (
            "SmtpServer=127.0.0.1\u{1};Port={port};Timeout=5000;".into(),
            "x@d.test",
            vec![],
            "SmtpServer",
        ),
        (
            "SmtpServer=127.0.0.1;Port={port};Timeout=5000;".into(),
            "x@d.test\r\nRCPT TO:<victim@e.test>",
            vec![],
            "ToLine",
        ),
        (
            "SmtpServer=127.0.0.1;Port={port};Timeout=5000;".into(),
            "a b@d.test",
            vec![],
            "a b@d.test",
        ),
    ];
    for (connection, to, extra, named) in cases {
        let wire = Tripwire::new();
        let mut run = Run::new(connection.replace("{port}", &wire.port().to_string()));
        run.to = to;
        run.extra = extra;
        let out = run.send().await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{to}: {err}");
        assert!(err.contains(named), "{named}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
        assert!(!wire.was_connected(), "{named}: connected before refusing");
    }
}

#[tokio::test]
async fn check_refuses_a_missing_ca_file_before_connecting() {
    let wire = Tripwire::new();
    let check = tokio::process::Command::new(BIN)
        .args([
            "check",
            &format!("SmtpServer=127.0.0.1;Port={};Timeout=5000;", wire.port()),
            "--ca-file",
            "/nonexistent/ca.pem",
        ])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), check)
        .await
        .expect("smtpcm check did not finish within 60 s")
        .unwrap();
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("/nonexistent/ca.pem"));
    assert!(!wire.was_connected());
}

#[tokio::test]
async fn a_secret_file_that_is_endless_or_a_fifo_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("password.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let mut files = vec![std::path::PathBuf::from("/dev/zero")];
    if made {
        files.push(fifo);
    }
    for file in files {
        let wire = Tripwire::new();
        let out = Run::new(format!(
            "SmtpServer=127.0.0.1;Port={};Timeout=5000;UserName=u;PasswordFile={};",
            wire.port(),
            file.display()
        ))
        .send()
        .await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(8), "{}: {err}", file.display());
        assert!(err.contains("not a regular file"), "{err}");
        assert!(!wire.was_connected(), "connected before reading the secret");
    }
}

#[tokio::test]
async fn body_file_from_dev_zero_is_refused_with_its_limit() {
    let wire = Tripwire::new();
    let out = tokio::process::Command::new(BIN)
        .args([
            "send",
            "--connection",
            &format!("SmtpServer=127.0.0.1;Port={};Timeout=5000;", wire.port()),
            "--from",
            "a@b.test",
            "--to",
            "x@d.test",
            "--subject",
            "s",
            "--body-file",
            "/dev/zero",
        ])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("smtpcm did not finish within 60 s")
        .unwrap();
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("/dev/zero") && err.contains("8388608 bytes"),
        "{err}"
    );
    assert!(!wire.was_connected());
}

#[tokio::test]
async fn a_large_body_file_arrives_intact_with_crlf_line_endings() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("body.txt");
    // Over the inline limit, with LF endings, non-ASCII text and a CR LF split nowhere special.
    let line = "Zeile mit Umlauten: äöü, and a long tail of text to fill the line.\n";
    let text = line.repeat(2 * 1024 * 1024 / line.len() + 1);
    std::fs::write(&path, &text).unwrap();
    let (mut handle, _sink_dir) = sink(SinkConfig::default()).await;
    let out = tokio::process::Command::new(BIN)
        .args(["send", "--connection", &conn(&handle, false, "")])
        .args(["--from", "a@b.test", "--to", "x@d.test", "--subject", "s"])
        .arg("--body-file")
        .arg(&path)
        .output()
        .await
        .unwrap();
    assert_exit(&out, 0);
    let got = handle
        .next_message(Duration::from_secs(10))
        .await
        .expect("message not delivered");
    let raw = match (&got.data, &got.path) {
        (Some(d), _) => d.clone(),
        (None, Some(p)) => std::fs::read(p).unwrap(),
        (None, None) => panic!("message not stored"),
    };
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains("Content-Type: text/plain; charset=utf-8")
            && head.contains("Content-Transfer-Encoding: base64"),
        "{head}"
    );
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .unwrap();
    assert_eq!(decoded, text.replace('\n', "\r\n").as_bytes());
}
