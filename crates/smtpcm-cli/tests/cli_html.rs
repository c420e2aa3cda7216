//! `smtpcm send --html-body … --inline CID=PATH --template --var NAME=VALUE`: what is sent,
//! and bad input refused with exit 2, a one-line error naming what is wrong, and no
//! connection made.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use smtpcm_sink::{Sink, SinkConfig};

const BIN: &str = env!("CARGO_BIN_EXE_smtpcm");

async fn send(port: u16, args: &[&str]) -> Output {
    let conn = format!(
        "SmtpServer=127.0.0.1;Port={port};Timeout=5000;UseWindowsAuthentication=False;EnableSsl=False;"
    );
    let mut command = tokio::process::Command::new(BIN);
    command
        .args([
            "send",
            "--connection",
            &conn,
            "--from",
            "a@b.test",
            "--to",
            "x@d.test",
        ])
        .args(args)
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("smtpcm did not finish within 60 s")
        .expect("smtpcm could not be started")
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
    fn was_connected(&self) -> bool {
        match self.0.accept() {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Runs `args` against a tripwire and checks: exit 2, one stderr line containing every
/// `expected` piece, no connection.
async fn refused(args: &[&str], expected: &[&str]) {
    let err = refused_any(args, expected).await;
    let first = err.lines().next().unwrap_or("");
    assert!(
        expected.iter().all(|p| first.contains(p)),
        "{args:?}: the error is not on one line: {err:?}"
    );
}

/// As [`refused`], for argument errors that clap reports (with its usage lines after).
async fn refused_any(args: &[&str], expected: &[&str]) -> String {
    let wire = Tripwire::new();
    let out = send(wire.port(), args).await;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(!wire.was_connected(), "{args:?}: it connected");
    for piece in expected {
        assert!(err.contains(piece), "{args:?}: {piece:?} not in {err:?}");
    }
    err
}

#[tokio::test]
async fn bad_html_input_is_exit_2_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("mail.html");
    std::fs::write(&body, "<p>Hi</p><img src=\"cid:chart@corp\">").unwrap();
    let body = body.to_str().unwrap();
    let missing_rel = dir.path().join("rel.html");
    std::fs::write(&missing_rel, "<img src=\"img/none.png\">").unwrap();
    let big = dir.path().join("big.html");
    std::fs::write(&big, "x".repeat(5000)).unwrap();
    let p = |path: &Path| path.to_str().unwrap().to_string();

    // A cid: with no part names the cid and the file.
    refused(
        &["--subject", "s", "--html-body-file", body],
        &["cid:chart@corp", "mail.html", "no inline part"],
    )
    .await;
    // An image that cannot be read: explicit, and relative to the body file.
    refused(
        &[
            "--subject",
            "s",
            "--html-body-file",
            body,
            "--inline",
            "chart@corp=/nonexistent/c.png",
        ],
        &["/nonexistent/c.png", "cid:chart@corp"],
    )
    .await;
    refused(
        &["--subject", "s", "--html-body-file", &p(&missing_rel)],
        &["none.png", "rel.html"],
    )
    .await;
    // Template syntax error and undefined name, with line:column.
    refused(
        &[
            "--subject",
            "s",
            "--html-body",
            "<p>\n{% if %}</p>",
            "--template",
        ],
        &["--html-body:2:", "syntax error"],
    )
    .await;
    refused(
        &[
            "--subject",
            "Hi {{ Who }}",
            "--html-body",
            "<p>x</p>",
            "--template",
            "--var",
            "Name=x",
        ],
        &["Subject:1:7", "`Who` is undefined"],
    )
    .await;
    // An HTML body over the configured size.
    refused(
        &[
            "--subject",
            "s",
            "--html-body-file",
            &p(&big),
            "--max-html-bytes",
            "1000",
        ],
        &["big.html", "larger than 1000 bytes"],
    )
    .await;
    // Malformed --inline / --var, and --var without --template.
    refused(
        &["--subject", "s", "--html-body", "x", "--inline", "nocid"],
        &["--inline", "CID=PATH"],
    )
    .await;
    refused(
        &[
            "--subject",
            "s",
            "--html-body",
            "x",
            "--template",
            "--var",
            "1x=y",
        ],
        &["--var", "not a variable name"],
    )
    .await;
    refused_any(
        &["--subject", "s", "--body", "x", "--var", "a=b"],
        &["--template"],
    )
    .await;
}

#[tokio::test]
async fn html_inline_template_and_vars_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let sink_dir = tempfile::tempdir().unwrap();
    let mut handle = Sink::start(SinkConfig {
        dir: Some(sink_dir.path().to_path_buf()),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let logo = dir.path().join("logo.png");
    std::fs::write(&logo, b"\x89PNG\r\n\x1a\nlogo-bytes").unwrap();
    let inline = format!("logo@corp={}", logo.display());
    let out = send(
        handle.local_addr().port(),
        &[
            "--subject",
            "Report for {{ Team }}",
            "--html-body",
            "<p>Hello {{ Team }}</p><img src=\"cid:logo@corp\">",
            "--inline",
            &inline,
            "--template",
            "--var",
            "Team=R&D <EMEA>",
        ],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let captured = handle
        .next_message(Duration::from_secs(30))
        .await
        .expect("a message");
    let raw = std::fs::read_to_string(captured.path.expect("saved")).unwrap();
    assert!(raw.contains("Subject: Report for R&D <EMEA>"), "{raw}");
    assert!(
        raw.contains("Content-Type: multipart/related; type=\"multipart/alternative\""),
        "{raw}"
    );
    assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
    assert!(
        raw.contains("<p>Hello R&amp;D &lt;EMEA&gt;</p>"),
        "HTML escaped: {raw}"
    );
    assert!(
        raw.contains("Hello R&D <EMEA>"),
        "text alternative generated: {raw}"
    );
    assert!(raw.contains("Content-ID: <logo@corp>"), "{raw}");
    assert!(
        raw.contains("Content-Disposition: inline; filename=\"logo.png\""),
        "{raw}"
    );
}
