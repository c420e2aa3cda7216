//! `smtpcm designer` on the command line: a `--listen` address that is not loopback is refused
//! (one line, exit code 2) unless `--allow-remote` is given, which starts it with a warning.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_smtpcm");
/// Upper bound for any single step; only reached when something is broken.
const STEP: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_non_loopback_listen_address_needs_allow_remote_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap();

    // Without the flag: refused before anything listens, one line naming the address and flag.
    let refused = tokio::time::timeout(
        STEP,
        Command::new(BIN)
            .args(["designer", folder, "--listen", "0.0.0.0:24700"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("smtpcm designer did not finish")
    .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(refused.stdout.is_empty(), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("0.0.0.0:24700") && stderr.contains("--allow-remote"),
        "{stderr}"
    );

    // With it: it starts, prints its URL, and warns on stderr.
    let mut child = Command::new(BIN)
        .args([
            "designer",
            folder,
            "--listen",
            "0.0.0.0:0",
            "--allow-remote",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(STEP, lines.next_line())
        .await
        .expect("no URL line")
        .unwrap()
        .expect("stdout closed");
    let rest = line
        .strip_prefix("designer: http://0.0.0.0:")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let (port, token) = rest.split_once("/?token=").expect("port and token");
    let port: u16 = port.parse().unwrap();
    assert!(port > 0 && token.len() == 64, "{line}");
    // It serves (on every address, loopback included), and still wants the token.
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(b"GET /api/files HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(STEP, s.read_to_string(&mut answer))
        .await
        .expect("no answer")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
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
        stderr.contains("warning") && stderr.contains("not loopback"),
        "{stderr}"
    );
}
