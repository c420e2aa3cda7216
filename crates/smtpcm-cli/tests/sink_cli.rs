//! `smtpcm sink` as users run it: limits, loopback-only by default, and output that is safe
//! for a terminal and a log file.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_smtpcm");
/// Upper bound for any single step; only reached when something is broken.
const STEP: Duration = Duration::from_secs(30);

async fn run(args: &[&str]) -> std::process::Output {
    let child = Command::new(BIN).args(args).kill_on_drop(true).output();
    tokio::time::timeout(STEP, child)
        .await
        .expect("smtpcm did not finish")
        .expect("smtpcm could not be started")
}

/// Starts `smtpcm <args>` (a sink listening on port 0) and returns it with its address, read
/// from the "listening on" line.
async fn spawn_sink(args: &[&str]) -> (Child, SocketAddr, BufReader<tokio::process::ChildStdout>) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("smtpcm could not be started");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(STEP, stdout.read_line(&mut line))
        .await
        .expect("no listening line")
        .unwrap();
    let addr = line
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    (child, addr, stdout)
}

/// A bare SMTP client: sends a line, returns the whole reply text.
struct Smtp {
    stream: BufReader<TcpStream>,
}

impl Smtp {
    async fn connect(addr: SocketAddr) -> Self {
        let mut smtp = Self {
            stream: BufReader::new(TcpStream::connect(addr).await.unwrap()),
        };
        assert!(smtp.reply().await.starts_with("220"));
        smtp
    }

    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            tokio::time::timeout(STEP, self.stream.read_line(&mut line))
                .await
                .expect("no reply")
                .unwrap();
            assert!(line.len() >= 4, "short reply line {line:?}");
            all.push_str(&line);
            if line.as_bytes()[3] == b' ' {
                return all;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.unwrap();
    }
}

/// Waits for the sink to stop by itself; returns the rest of its stdout, and its stderr.
async fn finish(
    child: Child,
    mut stdout: BufReader<tokio::process::ChildStdout>,
) -> (String, String) {
    let mut rest = String::new();
    let read = tokio::time::timeout(STEP, stdout.read_to_string(&mut rest));
    read.await.expect("stdout not closed").unwrap();
    let out = tokio::time::timeout(STEP, child.wait_with_output())
        .await
        .expect("the sink did not stop")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    (rest, stderr)
}

#[tokio::test]
async fn max_messages_zero_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("mail");
    let out = run(&[
        "sink",
        "--listen",
        "127.0.0.1:0",
        "--dir",
        spool.to_str().unwrap(),
        "--max-messages",
        "0",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--max-messages"), "{stderr}");
    assert!(!spool.exists(), "nothing started");
}

#[tokio::test]
async fn a_non_loopback_listen_address_needs_allow_remote_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("mail");
    let spool = spool.to_str().unwrap();
    let refused = run(&["sink", "--listen", "0.0.0.0:0", "--dir", spool]).await;
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("0.0.0.0:0") && stderr.contains("--allow-remote"),
        "{stderr}"
    );

    let (mut child, addr, _) = spawn_sink(&[
        "sink",
        "--listen",
        "0.0.0.0:0",
        "--allow-remote",
        "--dir",
        spool,
    ])
    .await;
    assert!(addr.ip().is_unspecified());
    child.start_kill().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(
        stderr.contains("warning") && stderr.contains("other machines"),
        "{stderr}"
    );
}

#[tokio::test]
async fn size_is_advertised_and_enforced_with_552() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("mail");
    let (child, addr, stdout) = spawn_sink(&[
        "sink",
        "--listen",
        "127.0.0.1:0",
        "--dir",
        spool.to_str().unwrap(),
        "--max-size",
        "1000",
        "--max-messages",
        "1",
    ])
    .await;
    let mut smtp = Smtp::connect(addr).await;
    let ehlo = smtp.cmd("EHLO c").await;
    assert!(ehlo.contains("SIZE 1000\r\n"), "{ehlo}");
    assert!(
        smtp.cmd("MAIL FROM:<a@x> SIZE=1001")
            .await
            .starts_with("552")
    );
    assert!(smtp.cmd("MAIL FROM:<a@x>").await.starts_with("250"));
    assert!(smtp.cmd("RCPT TO:<b@x>").await.starts_with("250"));
    assert!(smtp.cmd("DATA").await.starts_with("354"));
    smtp.send("y".repeat(1001).as_bytes()).await;
    let too_big = smtp.cmd("\r\n.").await;
    assert!(too_big.starts_with("552 5.3.4"), "{too_big}");
    assert!(smtp.cmd("MAIL FROM:<a@x>").await.starts_with("250"));
    assert!(smtp.cmd("RCPT TO:<b@x>").await.starts_with("250"));
    assert!(smtp.cmd("DATA").await.starts_with("354"));
    assert!(smtp.cmd("small\r\n.").await.starts_with("250"));
    let (stdout, _) = finish(child, stdout).await;
    assert!(stdout.contains("message 1:"), "{stdout}");
    assert_eq!(
        std::fs::read_dir(&spool).unwrap().count(),
        2,
        "CA + one message"
    );
}

#[tokio::test]
async fn recipients_beyond_max_recipients_get_452() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("mail");
    let (child, addr, stdout) = spawn_sink(&[
        "sink",
        "--listen",
        "127.0.0.1:0",
        "--dir",
        spool.to_str().unwrap(),
        "--max-recipients",
        "2",
        "--max-messages",
        "1",
    ])
    .await;
    let mut smtp = Smtp::connect(addr).await;
    smtp.cmd("EHLO c").await;
    assert!(smtp.cmd("MAIL FROM:<a@x>").await.starts_with("250"));
    let mut codes = Vec::new();
    for n in 0..3 {
        codes.push(smtp.cmd(&format!("RCPT TO:<r{n}@x>")).await[..3].to_owned());
    }
    assert_eq!(codes, ["250", "250", "452"]);
    assert!(smtp.cmd("DATA").await.starts_with("354"));
    assert!(smtp.cmd("hi\r\n.").await.starts_with("250"));
    let (stdout, _) = finish(child, stdout).await;
    assert!(stdout.contains("to <r0@x>, <r1@x> ("), "{stdout}");
}

#[tokio::test]
async fn client_text_is_printed_with_control_characters_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("mail");
    let (child, addr, stdout) = spawn_sink(&[
        "sink",
        "--listen",
        "127.0.0.1:0",
        "--dir",
        spool.to_str().unwrap(),
        "--max-messages",
        "1",
    ])
    .await;
    let mut smtp = Smtp::connect(addr).await;
    smtp.cmd("EHLO c").await;
    let mail = smtp.cmd("MAIL FROM:<\"evil\x1b[2J\x07\"@x>").await;
    assert!(mail.starts_with("250"), "{mail}");
    assert!(
        smtp.cmd("RCPT TO:<\"b\x1b]0;pwned\x07\"@x>")
            .await
            .starts_with("250")
    );
    assert!(smtp.cmd("DATA").await.starts_with("354"));
    assert!(smtp.cmd("hi\r\n.").await.starts_with("250"));
    let (stdout, stderr) = finish(child, stdout).await;
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(
            !text.contains(['\x1b', '\x07', '\0']),
            "raw control characters on {name}: {text:?}"
        );
    }
    assert!(stdout.contains(r"from <evil\u{1b}[2J\u{7}@x>"), "{stdout}");
}

#[tokio::test]
async fn log_lines_carry_no_colour_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("mail");
    let (child, addr, stdout) = spawn_sink(&[
        "-vv",
        "sink",
        "--listen",
        "127.0.0.1:0",
        "--dir",
        spool.to_str().unwrap(),
        "--max-messages",
        "1",
    ])
    .await;
    let mut smtp = Smtp::connect(addr).await;
    smtp.cmd("EHLO c").await;
    smtp.cmd("MAIL FROM:<a@x>").await;
    smtp.cmd("RCPT TO:<b@x>").await;
    smtp.cmd("DATA").await;
    assert!(smtp.cmd("hi\r\n.").await.starts_with("250"));
    let (_, stderr) = finish(child, stdout).await;
    assert!(stderr.contains("DEBUG"), "-vv logs to stderr: {stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "ANSI escapes in a pipe: {stderr:?}"
    );
}
