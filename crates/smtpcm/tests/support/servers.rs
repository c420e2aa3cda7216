//! Access to the real test servers started by `scripts/test-servers.sh` (Postfix, MIT KDC,
//! smtp-sink on 127.0.0.1), for integration tests.
//!
//! Use it from a test crate with
//! ```ignore
//! #[path = "support/servers.rs"]
//! mod servers;
//!
//! #[test]
//! fn delivers() {
//!     let Some(servers) = servers::TestServers::load() else { return };
//!     let rcpt = servers.unique_recipient("delivers");
//!     // ... send to servers.host():servers.starttls_port() ...
//!     let raw = servers.wait_for_maildir_message(&rcpt, std::time::Duration::from_secs(10));
//! }
//! ```
//!
//! Facts about delivered mail that tests must allow for:
//! - Postfix stores messages with LF line endings (the client sent CRLF).
//! - Postfix prepends `Return-Path:`, `X-Original-To:`, `Delivered-To:` and one folded
//!   `Received:` header; [`strip_delivery_headers`] removes exactly those.
//! - smtp-sink dump files also use LF, start with smtp-sink's own `X-*` lines and a
//!   three-line `Received:` header, and end with one extra empty line.
#![allow(dead_code)] // each test crate uses a different subset

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the `wait_for_*` helpers look again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The facts written by `scripts/test-servers.sh start` into `.test-servers/env`.
#[derive(Debug, Clone)]
pub struct TestServers {
    env_file: PathBuf,
    values: BTreeMap<String, String>,
}

impl TestServers {
    /// Loads the env file named by `SMTPCM_TEST_ENV`, else `<repo>/.test-servers/env`.
    ///
    /// Returns `None` (after saying so on stderr) when the servers are not running, so
    /// tests skip; with `CI=true` a missing env file is a failure instead.
    pub fn load() -> Option<TestServers> {
        let path = env_file_path();
        if !path.is_file() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI=true but the real test servers are not running: {} does not exist \
                     (run scripts/test.sh, which starts them and sets SMTPCM_TEST_ENV)",
                    path.display()
                );
            }
            eprintln!(
                "skipped: real test servers not running (run scripts/test.sh); looked for {}",
                path.display()
            );
            return None;
        }
        match Self::from_file(&path) {
            Ok(servers) => Some(servers),
            Err(message) => panic!("{message}"),
        }
    }

    /// Parses an env file of `KEY=value` lines (`#` comments and blank lines ignored).
    pub fn from_file(path: &Path) -> Result<TestServers, String> {
        let text = fs::read_to_string(path)
            .map_err(|e| format!("cannot read test-server env file {}: {e}", path.display()))?;
        let mut values = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once('=').ok_or_else(|| {
                format!(
                    "{}:{}: expected KEY=value, found {line:?}",
                    path.display(),
                    index + 1
                )
            })?;
            values.insert(key.trim().to_owned(), value.trim().to_owned());
        }
        Ok(TestServers {
            env_file: path.to_owned(),
            values,
        })
    }

    /// A raw value from the env file, for keys without a dedicated getter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    fn require(&self, key: &str) -> &str {
        self.get(key).unwrap_or_else(|| {
            panic!(
                "test-server env file {} has no {key}; restart with scripts/test-servers.sh",
                self.env_file.display()
            )
        })
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> T {
        let raw = self.require(key);
        raw.parse().unwrap_or_else(|_| {
            panic!(
                "test-server env file {}: {key}={raw:?} is not a valid number",
                self.env_file.display()
            )
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        PathBuf::from(self.require(key))
    }

    /// The loopback address every listener binds (`127.0.0.1`).
    pub fn host(&self) -> &str {
        self.require("SMTPCM_TEST_HOST")
    }
    /// Postfix offering STARTTLS (optional), no AUTH; delivers `@test.local` to the Maildir.
    pub fn starttls_port(&self) -> u16 {
        self.number("SMTP_STARTTLS_PORT")
    }
    /// Postfix with implicit TLS (TLS from the first byte).
    pub fn implicit_port(&self) -> u16 {
        self.number("SMTP_IMPLICIT_PORT")
    }
    /// Postfix without any TLS (no STARTTLS in EHLO).
    pub fn plain_port(&self) -> u16 {
        self.number("SMTP_PLAIN_PORT")
    }
    /// Postfix requiring AUTH (GSSAPI NTLM PLAIN LOGIN, also before STARTTLS).
    pub fn auth_port(&self) -> u16 {
        self.number("SMTP_AUTH_PORT")
    }
    /// Postfix requiring AUTH, offered only after STARTTLS.
    pub fn auth_tlsonly_port(&self) -> u16 {
        self.number("SMTP_AUTH_TLSONLY_PORT")
    }
    /// Like [`Self::auth_port`], but the GSSAPI acceptor is `SMTPSVC/localhost` (the SPN
    /// System.Net.Mail requests) instead of `smtp/localhost`.
    pub fn auth_smtpsvc_port(&self) -> u16 {
        self.number("SMTP_AUTH_SMTPSVC_PORT")
    }
    /// smtp-sink that accepts and discards everything (benchmarks).
    pub fn sink_port(&self) -> u16 {
        self.number("SMTP_SINK_PORT")
    }
    /// smtp-sink that dumps every message to [`Self::sink_dump_dir`].
    pub fn sink_dump_port(&self) -> u16 {
        self.number("SMTP_SINK_DUMP_PORT")
    }
    /// The KDC's port (UDP and TCP) for realm [`Self::krb5_realm`].
    pub fn kdc_port(&self) -> u16 {
        self.number("KRB5_KDC_PORT")
    }
    /// Postfix's `message_size_limit`, advertised as `SIZE`.
    pub fn size_limit(&self) -> u64 {
        self.number("SMTP_SIZE_LIMIT")
    }
    /// PEM file of the CA that signed every server certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.path("TLS_CA_FILE")
    }
    /// The name the server certificate is valid for (`localhost`).
    pub fn tls_server_name(&self) -> &str {
        self.require("TLS_SERVER_NAME")
    }
    /// The domain Postfix delivers locally (`test.local`); `reject-*@` it is refused with 550.
    pub fn mail_domain(&self) -> &str {
        self.require("MAIL_DOMAIN")
    }
    /// Root of the Maildirs.
    pub fn maildir_root(&self) -> PathBuf {
        self.path("MAILDIR_ROOT")
    }
    /// The one Maildir that receives every `@test.local` recipient.
    pub fn maildir_inbox(&self) -> PathBuf {
        self.path("MAILDIR_INBOX")
    }
    /// The private krb5.conf; set `KRB5_CONFIG` to it for GSSAPI clients.
    pub fn krb5_config(&self) -> PathBuf {
        self.path("KRB5_CONFIG")
    }
    /// `KRB5CCNAME` value of a ticket cache already holding alice's TGT.
    pub fn krb5_ccache(&self) -> &str {
        self.require("KRB5CCNAME")
    }
    /// The Kerberos realm (`TEST.LOCAL`).
    pub fn krb5_realm(&self) -> &str {
        self.require("KRB5_REALM")
    }
    /// alice's principal (`alice@TEST.LOCAL`).
    pub fn krb5_principal(&self) -> &str {
        self.require("KRB5_PRINCIPAL")
    }
    /// alice's Kerberos password (same as the SASL and NTLM password).
    pub fn krb5_password(&self) -> &str {
        self.require("KRB5_PASSWORD")
    }
    /// Keytab with the service keys of `smtp/localhost` and `SMTPSVC/localhost`.
    pub fn keytab(&self) -> PathBuf {
        self.path("KEYTAB")
    }
    /// Service principals in [`Self::keytab`], e.g. `smtp/localhost@TEST.LOCAL`.
    pub fn service_principals(&self) -> Vec<&str> {
        self.require("KRB5_SERVICE_PRINCIPALS").split(',').collect()
    }
    /// NTLM domain in the NTLM user files (`TEST`).
    pub fn ntlm_domain(&self) -> &str {
        self.require("NTLM_DOMAIN")
    }
    /// gss-ntlmssp `NTLM_USER_FILE` with alice's correct password.
    pub fn ntlm_user_file(&self) -> PathBuf {
        self.path("NTLM_USER_FILE")
    }
    /// gss-ntlmssp `NTLM_USER_FILE` with a wrong password for alice.
    pub fn ntlm_user_file_wrong(&self) -> PathBuf {
        self.path("NTLM_USER_FILE_WRONG")
    }
    /// SASL user name (`alice`; the server qualifies it with [`Self::sasl_realm`]).
    pub fn sasl_user(&self) -> &str {
        self.require("SASL_USER")
    }
    /// SASL realm (`TEST.LOCAL`).
    pub fn sasl_realm(&self) -> &str {
        self.require("SASL_REALM")
    }
    /// alice's SASL password (PLAIN, LOGIN, NTLM).
    pub fn sasl_password(&self) -> &str {
        self.require("SASL_PASSWORD")
    }
    /// Directory where the dumping smtp-sink writes one file per message.
    pub fn sink_dump_dir(&self) -> PathBuf {
        self.path("SMTP_SINK_DUMP_DIR")
    }
    /// The dumping smtp-sink kept for very large messages (port, dump directory), so a long
    /// transfer never delays the tests on [`Self::sink_dump_port`]. `None` (after saying so)
    /// when the servers were started by an older script; with `CI=true` that is a failure.
    pub fn big_sink(&self) -> Option<(u16, PathBuf)> {
        if self.get("SMTP_SINK_BIG_PORT").is_none() {
            let message = format!(
                "test-server env file {} has no SMTP_SINK_BIG_PORT; restart the servers with \
                 scripts/test-servers.sh",
                self.env_file.display()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{message}");
            }
            eprintln!("skipped: {message}");
            return None;
        }
        Some((
            self.number("SMTP_SINK_BIG_PORT"),
            self.path("SMTP_SINK_BIG_DIR"),
        ))
    }
    /// Postfix's log file, worth printing when a test fails.
    pub fn postfix_log(&self) -> PathBuf {
        self.path("POSTFIX_LOG")
    }

    /// An address in the test domain that no other test (or earlier run) uses, so a test
    /// can find its own delivered messages. `tag` must be letters, digits, `.`, `_` or `-`.
    pub fn unique_recipient(&self, tag: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!(
            "{tag}-{}-{n}-{nanos}@{}",
            std::process::id(),
            self.mail_domain()
        )
    }

    /// Every message delivered to `mailbox` (a full address, or a local part of
    /// [`Self::mail_domain`]), oldest first, as stored (see [`strip_delivery_headers`]).
    pub fn read_maildir_messages(&self, mailbox: &str) -> Vec<Vec<u8>> {
        let address = if mailbox.contains('@') {
            mailbox.to_owned()
        } else {
            format!("{mailbox}@{}", self.mail_domain())
        };
        let mut found: Vec<(SystemTime, PathBuf, Vec<u8>)> = Vec::new();
        for sub in ["new", "cur"] {
            let dir = self.maildir_inbox().join(sub);
            let Ok(entries) = fs::read_dir(&dir) else {
                continue; // created by Postfix on the first delivery
            };
            for entry in entries.flatten() {
                let path = entry.path();
                // A message may move from new/ to cur/ between listing and reading.
                let Ok(bytes) = fs::read(&path) else { continue };
                if delivered_to(&bytes).is_some_and(|to| to.eq_ignore_ascii_case(&address)) {
                    let modified = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(UNIX_EPOCH);
                    found.push((modified, path, bytes));
                }
            }
        }
        found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        found.into_iter().map(|(_, _, bytes)| bytes).collect()
    }

    /// Polls until a message for `mailbox` has arrived, returning the first one, or `None`
    /// after `timeout`. Postfix delivers asynchronously after answering 250 to the data.
    pub fn wait_for_maildir_message(&self, mailbox: &str, timeout: Duration) -> Option<Vec<u8>> {
        self.wait_for_maildir_messages(mailbox, 1, timeout)
            .into_iter()
            .next()
    }

    /// Polls until at least `count` messages for `mailbox` have arrived; returns what is
    /// there when that happens or when `timeout` expires (possibly fewer).
    pub fn wait_for_maildir_messages(
        &self,
        mailbox: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.read_maildir_messages(mailbox);
            if messages.len() >= count || Instant::now() >= deadline {
                return messages;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The dump file the dumping smtp-sink wrote for a transaction with recipient `rcpt`
    /// (exact address as sent in `RCPT TO:<...>`). smtp-sink completes the file before it
    /// answers the final 250, so call this after that reply.
    pub fn sink_dump_for(&self, rcpt: &str) -> Option<PathBuf> {
        dump_in(&self.sink_dump_dir(), rcpt)
    }

    /// Polls [`Self::sink_dump_for`] until it finds the file or `timeout` expires.
    pub fn wait_for_sink_dump(&self, rcpt: &str, timeout: Duration) -> Option<PathBuf> {
        wait_for_dump_in(&self.sink_dump_dir(), rcpt, timeout)
    }
}

/// The dump file an smtp-sink wrote in `dir` for a transaction with recipient `rcpt`.
pub fn dump_in(dir: &Path, rcpt: &str) -> Option<PathBuf> {
    let wanted = format!("X-Rcpt-Args: <{rcpt}>");
    let entries = fs::read_dir(dir).ok()?;
    entries.flatten().map(|e| e.path()).find(|path| {
        sink_dump_header_lines(path).is_ok_and(|lines| lines.iter().any(|l| l.starts_with(&wanted)))
    })
}

/// Polls [`dump_in`] until it finds the file or `timeout` expires.
pub fn wait_for_dump_in(dir: &Path, rcpt: &str, timeout: Duration) -> Option<PathBuf> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(path) = dump_in(dir, rcpt) {
            return Some(path);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

fn env_file_path() -> PathBuf {
    match std::env::var_os("SMTPCM_TEST_ENV") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.test-servers/env"),
    }
}

/// The value of the first `Delivered-To:` header, which Postfix's virtual(8) prepends.
pub fn delivered_to(message: &[u8]) -> Option<String> {
    for line in message.split(|&b| b == b'\n') {
        if line.is_empty() || line == b"\r" {
            return None; // end of header section
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if line[..colon].eq_ignore_ascii_case(b"Delivered-To") {
            let value = String::from_utf8_lossy(&line[colon + 1..]);
            return Some(value.trim().to_owned());
        }
    }
    None
}

/// Removes the headers Postfix prepends on delivery (`Return-Path`, `X-Original-To`,
/// `Delivered-To`, and the first `Received` with its continuation lines), leaving the
/// message as the client sent it (still with LF line endings).
pub fn strip_delivery_headers(message: &[u8]) -> &[u8] {
    let mut rest = message;
    let mut seen_received = false;
    loop {
        let line_end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let line = &rest[..line_end];
        let is_prepended = [&b"Return-Path:"[..], b"X-Original-To:", b"Delivered-To:"]
            .iter()
            .any(|name| starts_with_ignore_case(line, name));
        if is_prepended {
            rest = &rest[line_end..];
        } else if !seen_received && starts_with_ignore_case(line, b"Received:") {
            seen_received = true;
            rest = &rest[line_end..];
            while rest.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                let end = rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |i| i + 1);
                rest = &rest[end..];
            }
        } else {
            return rest;
        }
    }
}

fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// smtp-sink's own header lines of a dump file (up to and including its `Received:` block).
fn sink_dump_header_lines(path: &Path) -> std::io::Result<Vec<String>> {
    let mut reader = BufReader::new(fs::File::open(path)?);
    let mut lines = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        let is_received = line.starts_with("Received:");
        lines.push(std::mem::take(&mut line));
        if is_received {
            break;
        }
    }
    Ok(lines)
}

/// Byte offset in a smtp-sink dump file where the client's message starts (after
/// smtp-sink's `X-*` lines and its three-line `Received:` header), for streaming checks
/// of large messages.
pub fn sink_dump_message_offset(path: &Path) -> std::io::Result<u64> {
    let mut reader = BufReader::new(fs::File::open(path)?);
    let mut offset = 0u64;
    let mut line = Vec::new();
    let mut received_lines_left: Option<u32> = None;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{}: no smtp-sink Received header found", path.display()),
            ));
        }
        offset += n as u64;
        match received_lines_left {
            None if line.starts_with(b"Received:") => received_lines_left = Some(2),
            Some(1) => return Ok(offset),
            Some(left) => received_lines_left = Some(left - 1),
            None => {}
        }
    }
}
