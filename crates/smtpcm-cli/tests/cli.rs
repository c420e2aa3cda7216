//! The `smtpcm` binary end to end: exit codes, one-line errors, and real sends
//! to the in-repo capture server on loopback.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use smtpcm_sink::{Sink, SinkConfig, SinkHandle};

const BIN: &str = env!("CARGO_BIN_EXE_smtpcm");

async fn smtpcm(args: &[&str]) -> Output {
    let child = tokio::process::Command::new(BIN)
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("smtpcm did not finish within 60 s")
        .expect("smtpcm could not be started")
}

/// `smtpcm send` from a@b.test with body "b", plus `extra` arguments.
async fn send(connection: &str, to: &str, subject: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "send",
        "--connection",
        connection,
        "--from",
        "a@b.test",
        "--to",
        to,
    ];
    args.extend(["--subject", subject, "--body", "b"]);
    args.extend_from_slice(extra);
    smtpcm(&args).await
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

fn conn(handle: &SinkHandle, ssl: bool) -> String {
    format!(
        "SmtpServer=localhost;UseWindowsAuthentication=False;EnableSsl={};Port={};",
        if ssl { "True" } else { "False" },
        handle.local_addr().port()
    )
}

fn ca(dir: &Path) -> String {
    dir.join("ca.pem").to_string_lossy().into_owned()
}

#[tokio::test]
async fn help_lists_every_exit_code() {
    let out = smtpcm(&["--help"]).await;
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for line in [
        "0  sent",
        "2  usage error",
        "3  connection, TLS or protocol failure",
        "4  authentication",
        "5  rejected",
        "6  partial",
        "7  delivery status unknown",
        "8  no credentials",
        "9  the server offers no authentication mechanism",
        " 10  refused to send credentials",
        " 75  temporary failure",
    ] {
        assert!(text.contains(line), "--help lacks {line:?}:\n{text}");
    }
}

#[tokio::test]
async fn demo_delivers_over_starttls_with_intact_attachment() {
    let out = smtpcm(&["demo", "--attachment-size", "100000"]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("transport: STARTTLS"), "{text}");
    assert!(
        text.contains("decoded 100000 bytes: identical to the source file"),
        "{text}"
    );
    assert!(
        !text.contains("archive@demo.test>\r\n") && !text.contains("Bcc:"),
        "Bcc leaked into headers:\n{text}"
    );
}

#[tokio::test]
async fn duplicate_connection_string_key_is_a_usage_error_naming_the_key() {
    let out = send("SmtpServer=a;SmtpServer=b;", "c@d.test", "s", &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("SmtpServer"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
}

#[tokio::test]
async fn malformed_recipient_is_named() {
    let out = send("SmtpServer=127.0.0.1;Port=9;", "ok@d.test; bob@", "s", &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("bob@") && err.contains("ToLine"), "{err}");
}

#[tokio::test]
async fn missing_attachment_reports_ssis_code_and_path() {
    let out = send(
        "SmtpServer=127.0.0.1;Port=9;",
        "c@d.test",
        "s",
        &["--attach", "/nonexistent/report.csv"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("0xC00291CB") && err.contains("/nonexistent/report.csv"),
        "{err}"
    );
}

#[tokio::test]
async fn header_injection_in_subject_is_refused() {
    let out = send(
        "SmtpServer=127.0.0.1;Port=9;",
        "c@d.test",
        "hi\r\nBcc: victim@x.test",
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).to_ascii_lowercase().contains("subject"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn refused_connection_is_exit_3() {
    // Bind then drop a listener to find a loopback port with nothing on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cs = format!("SmtpServer=127.0.0.1;Port={port};");
    let out = send(&cs, "c@d.test", "s", &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[tokio::test]
async fn enable_ssl_without_starttls_fails_and_sends_nothing() {
    let (mut handle, dir) = sink(SinkConfig {
        starttls: false,
        ..SinkConfig::default()
    })
    .await;
    let cs = conn(&handle, true);
    let out = smtpcm(&[
        "send",
        "--connection",
        &cs,
        "--ca-file",
        &ca(dir.path()),
        "--from",
        "a@b.test",
        "--to",
        "c@d.test",
        "--subject",
        "s",
        "--body",
        "secret body",
    ])
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("STARTTLS"), "{}", stderr(&out));
    assert!(
        handle
            .next_message(Duration::from_millis(300))
            .await
            .is_none(),
        "a message was accepted"
    );
    assert!(
        !handle
            .transcript()
            .iter()
            .any(|l| l.to_ascii_uppercase().starts_with("MAIL")),
        "MAIL was sent in clear"
    );
}

#[tokio::test]
async fn one_rejected_recipient_is_partial_and_named() {
    let (mut handle, dir) = sink(SinkConfig {
        reject_recipients: vec!["nobody@d.test".into()],
        ..SinkConfig::default()
    })
    .await;
    let cs = conn(&handle, true);
    let out = send(
        &cs,
        "one@d.test; nobody@d.test",
        "s",
        &["--ca-file", &ca(dir.path()), "--cc", "three@d.test"],
    )
    .await;
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("rejected  nobody@d.test  550"), "{text}");
    assert!(
        text.contains("accepted  one@d.test") && text.contains("accepted  three@d.test"),
        "{text}"
    );
    let got = handle
        .next_message(Duration::from_secs(5))
        .await
        .expect("message not delivered");
    assert_eq!(
        got.rcpt_to,
        vec!["one@d.test".to_string(), "three@d.test".to_string()]
    );
    assert!(got.tls);
}

#[tokio::test]
async fn every_recipient_rejected_is_exit_5() {
    let (mut handle, dir) = sink(SinkConfig {
        reject_recipients: vec!["*".into()],
        ..SinkConfig::default()
    })
    .await;
    let cs = conn(&handle, true);
    let out = send(&cs, "x@d.test", "s", &["--ca-file", &ca(dir.path())]).await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("x@d.test"), "{}", stderr(&out));
    assert!(
        handle
            .next_message(Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn batch_sends_count_messages_over_reused_connections() {
    let (mut handle, dir) = sink(SinkConfig::default()).await;
    let cs = conn(&handle, false);
    let out = send(
        &cs,
        "x@d.test",
        "s",
        &[
            "--ca-file",
            &ca(dir.path()),
            "--count",
            "20",
            "--parallel",
            "3",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sent 20 of 20 messages over 3 connection(s)"),
        "{}",
        stdout(&out)
    );
    let mut n = 0;
    while handle.next_message(Duration::from_secs(2)).await.is_some() {
        n += 1;
    }
    assert_eq!(n, 20);
    assert_eq!(handle.connections(), 3, "connections were not reused");
}

#[tokio::test]
async fn batch_with_a_body_file_pipelines_copies_with_distinct_message_ids() {
    let (mut handle, dir) = sink(SinkConfig {
        starttls: false,
        ..SinkConfig::default()
    })
    .await;
    let body = dir.path().join("body.txt");
    std::fs::write(&body, "first line\n.leading dot\nlast").unwrap();
    let cs = conn(&handle, false);
    let out = smtpcm(&[
        "send",
        "--connection",
        &cs,
        "--from",
        "a@b.test",
        "--to",
        "x@d.test",
        "--subject",
        "s",
        "--body-file",
        body.to_str().unwrap(),
        "--count",
        "5",
        "--window",
        "2",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sent 5 of 5 messages over 1 connection(s)"),
        "{}",
        stdout(&out)
    );
    let mut ids = std::collections::HashSet::new();
    for _ in 0..5 {
        let got = handle
            .next_message(Duration::from_secs(10))
            .await
            .expect("captured");
        let text = String::from_utf8(raw(&got)).unwrap();
        // The body file's text, CRLF-normalised, in every copy (read once, sent five times).
        assert!(
            text.ends_with("\r\n\r\nfirst line\r\n.leading dot\r\nlast\r\n"),
            "{text}"
        );
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .expect("Message-ID")
            .to_string();
        ids.insert(id);
    }
    assert_eq!(ids.len(), 5, "every copy has its own Message-ID");
    // The sink offers CHUNKING and PIPELINING: the copies went out as BDAT.
    let transcript = handle.transcript();
    assert_eq!(
        transcript.iter().filter(|l| l.contains("C: BDAT")).count(),
        5
    );
    assert_eq!(handle.connections(), 1);
}

/// The raw bytes of a captured message.
fn raw(got: &smtpcm_sink::Captured) -> Vec<u8> {
    match (&got.data, &got.path) {
        (Some(d), _) => d.clone(),
        (None, Some(p)) => std::fs::read(p).unwrap(),
        (None, None) => panic!("message not stored"),
    }
}

#[tokio::test]
async fn one_attach_is_one_file_even_with_a_pipe_in_its_name() {
    let (mut handle, dir) = sink(SinkConfig::default()).await;
    let path = dir.path().join("a|b.txt");
    std::fs::write(&path, "pipe content").unwrap();
    let cs = conn(&handle, false);
    let out = send(&cs, "x@d.test", "s", &["--attach", path.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = handle
        .next_message(Duration::from_secs(5))
        .await
        .expect("message not delivered");
    let text = String::from_utf8_lossy(&raw(&got)).into_owned();
    assert!(text.contains("filename=\"a|b.txt\""), "{text}");
    // base64("pipe content")
    assert!(text.contains("cGlwZSBjb250ZW50"), "{text}");
}

async fn smtpcm_os(args: Vec<std::ffi::OsString>, env: &[(&str, &Path)]) -> Output {
    let mut command = tokio::process::Command::new(BIN);
    command.args(args).kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("smtpcm did not finish within 60 s")
        .expect("smtpcm could not be started")
}

fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
    args.iter().map(Into::into).collect()
}

#[tokio::test]
async fn a_file_name_that_is_not_utf8_can_be_attached() {
    use std::os::unix::ffi::OsStringExt;
    let (mut handle, dir) = sink(SinkConfig::default()).await;
    let name = std::ffi::OsString::from_vec(b"r\xe9sum\xe9.txt".to_vec());
    let path = dir.path().join(&name);
    std::fs::write(&path, "latin-1 name").unwrap();
    let cs = conn(&handle, false);
    let mut args = os(&[
        "send",
        "--connection",
        &cs,
        "--from",
        "a@b.test",
        "--to",
        "x@d.test",
        "--subject",
        "s",
        "--body",
        "b",
        "--attach",
    ]);
    args.push(path.into_os_string());
    let out = smtpcm_os(args, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = handle
        .next_message(Duration::from_secs(5))
        .await
        .expect("message not delivered");
    let text = String::from_utf8_lossy(&raw(&got)).into_owned();
    // The lossy name (each invalid byte becomes U+FFFD), RFC 2231-encoded.
    assert!(
        text.contains("r%EF%BF%BDsum%EF%BF%BD.txt"),
        "no RFC 2231 file name:\n{text}"
    );
    assert!(text.contains("bGF0aW4tMSBuYW1l"), "{text}"); // base64("latin-1 name")
}

#[tokio::test]
async fn a_text_argument_that_is_not_utf8_is_a_usage_error_not_a_panic() {
    use std::os::unix::ffi::OsStringExt;
    let mut args = os(&[
        "send",
        "--connection",
        "SmtpServer=127.0.0.1;Port=9;",
        "--from",
        "a@b.test",
        "--to",
        "x@d.test",
        "--body",
        "b",
        "--subject",
    ]);
    args.push(std::ffi::OsString::from_vec(b"caf\xe9".to_vec()));
    let out = smtpcm_os(args, &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("UTF-8") && !err.contains("panicked"), "{err}");

    let mut args = os(&["run", "/F"]);
    args.push(std::ffi::OsString::from_vec(b"pkg\xff.dtsx".to_vec()));
    let out = smtpcm_os(args, &[]).await;
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("UTF-8") && !err.contains("panicked"), "{err}");
}

#[tokio::test]
async fn demo_refuses_an_absurd_attachment_size_and_leaves_no_temp_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let out = smtpcm_os(
        os(&["demo", "--attachment-size", "18446744073709551615"]),
        &[("TMPDIR", tmp.path())],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("attachment-size"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);

    // The largest allowed size works, and the temporary directory is gone afterwards.
    let out = smtpcm_os(
        os(&["demo", "--attachment-size", "67108864"]),
        &[("TMPDIR", tmp.path())],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn demo_interrupted_by_ctrl_c_removes_its_temp_dir() {
    use tokio::io::AsyncBufReadExt;
    let tmp = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .args(["demo", "--attachment-size", "67108864"])
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Once the capture server is up, the temporary directory exists.
    let first = lines.next_line().await.unwrap().unwrap_or_default();
    assert!(first.contains("capture server listening"), "{first}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    while lines.next_line().await.unwrap().is_some() {}
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap()
        .unwrap();
    // Whether the signal landed before or after the demo finished, nothing is left behind.
    assert!(matches!(status.code(), Some(130) | Some(0)), "{status:?}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
