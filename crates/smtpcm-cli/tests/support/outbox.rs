//! Helpers for the outbox tests: the binary, Postfix's smtp-sink with a dump directory,
//! Message-ID counts at the receiver, and the PostgreSQL test server.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_smtpcm");
pub const SMTP_SINK: &str = "/usr/sbin/smtp-sink";

/// Run `smtpcm` with these arguments and extra environment.
pub fn smtpcm(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run smtpcm")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `SmtpServer=127.0.0.1;Port=N;...` for a plain loopback relay.
pub fn connection(port: u16) -> String {
    format!("SmtpServer=127.0.0.1;Port={port};UseWindowsAuthentication=False;EnableSsl=False;")
}

fn is_root() -> bool {
    // The test servers run as root (smtp-sink must then drop to a user with -u).
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

/// Postfix's `smtp-sink -d`, dumping every message it accepts into `dir`.
pub struct PostfixSink {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl PostfixSink {
    /// `None` (said on stderr) when smtp-sink is not installed; a failure with `CI=true`.
    pub fn start(port: u16, dir: &Path) -> Option<PostfixSink> {
        if !Path::new(SMTP_SINK).exists() {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true but {SMTP_SINK} is missing (apt-get install postfix)"
            );
            eprintln!("skipped: {SMTP_SINK} not installed (Debian package postfix)");
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let mut sink = PostfixSink {
            port,
            dir: dir.to_owned(),
            child: None,
        };
        sink.restart();
        Some(sink)
    }

    /// Kill it (SIGKILL) and start it again on the same port and directory.
    pub fn restart(&mut self) {
        self.stop();
        if is_root() {
            // smtp-sink drops to -u's user; that user must write the dump directory.
            let _ = Command::new("chmod").arg("0777").arg(&self.dir).status();
        }
        let template = format!("{}/%H%M%S.", self.dir.display());
        let listen = format!("127.0.0.1:{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut cmd = Command::new(SMTP_SINK);
            if is_root() {
                cmd.args(["-u", "nobody"]);
            }
            let child = cmd
                .args(["-d", &template, &listen, "256"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start smtp-sink");
            self.child = Some(child);
            if wait_port(self.port, Duration::from_secs(5)) {
                return;
            }
            // The port may still be held by the killed sink's sockets for a moment.
            self.stop();
            assert!(
                Instant::now() < deadline,
                "smtp-sink did not start on {listen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// How often each Message-ID arrived whole. smtp-sink writes its dump as the message
    /// comes in and ends it with an empty line, so a dump cut short by killing the sink
    /// mid-transfer (which the client never saw accepted) lacks `ending` and is not counted.
    pub fn message_ids(&self) -> HashMap<String, u32> {
        self.message_ids_ending("")
    }

    /// As [`message_ids`](Self::message_ids), counting only dumps that end with `ending`
    /// followed by smtp-sink's closing empty line.
    pub fn message_ids_ending(&self, ending: &str) -> HashMap<String, u32> {
        let closing = format!("{ending}\n\n");
        let mut counts = HashMap::new();
        let mut stack = vec![self.dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let bytes = std::fs::read(&p).unwrap();
                let t = String::from_utf8_lossy(&bytes);
                if !t.ends_with(&closing) {
                    continue;
                }
                if let Some(id) = t.lines().find_map(|l| l.strip_prefix("Message-ID: ")) {
                    *counts.entry(id.trim().to_owned()).or_insert(0) += 1;
                }
            }
        }
        counts
    }
}

impl Drop for PostfixSink {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn wait_port(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// `POSTGRES_URL` from the environment or the test servers' env file; `None` (said on
/// stderr) when PostgreSQL is not running, a failure with `CI=true`.
pub fn postgres_server() -> Option<String> {
    if let Ok(url) = std::env::var("POSTGRES_URL") {
        return Some(url);
    }
    let file = std::env::var_os("SMTPCM_TEST_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.test-servers/env")
        });
    let found = std::fs::read_to_string(&file).ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("POSTGRES_URL=").map(str::to_owned))
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but no POSTGRES_URL (environment or {})",
            file.display()
        );
        eprintln!(
            "skipped: PostgreSQL not running (no POSTGRES_URL in the environment or {})",
            file.display()
        );
    }
    found
}

/// A fresh database on the PostgreSQL server (made with the smtpcm binary's own driver
/// would need a client; psql from the postgresql package is used instead).
pub fn fresh_pg_database(server: &str, label: &str) -> String {
    let name = format!("t_{label}_{}_{}", std::process::id(), fastrand::u32(..));
    let out = Command::new("psql")
        .args([server, "-Atqc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("run psql");
    assert!(out.status.success(), "psql: {}", text(&out.stderr));
    let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
    format!("{base}/{name}")
}
