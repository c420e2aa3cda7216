//! Checks that the real test servers from `scripts/test-servers.sh` are up and configured
//! the way the other integration tests rely on, using nothing but raw sockets and rustls.

#[path = "support/servers.rs"]
mod servers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use servers::TestServers;

/// Bounds every socket read and write, so a wrong server configuration fails, not hangs.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);

fn connect(servers: &TestServers, port: u16) -> TcpStream {
    let stream = TcpStream::connect((servers.host(), port))
        .unwrap_or_else(|e| panic!("connect to {}:{port}: {e}", servers.host()));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Reads one (possibly multi-line) SMTP reply and returns its lines.
fn read_reply(reader: &mut impl BufRead) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read SMTP reply");
        assert!(
            n > 0,
            "server closed the connection; reply so far: {lines:?}"
        );
        let line = line.trim_end().to_owned();
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line);
        if last {
            return lines;
        }
    }
}

fn command(stream: &mut (impl BufRead + Write), line: &str) -> Vec<String> {
    stream
        .write_all(format!("{line}\r\n").as_bytes())
        .and_then(|()| stream.flush())
        .unwrap_or_else(|e| panic!("send {line:?}: {e}"));
    read_reply(stream)
}

/// A `BufReader` that also writes to the underlying stream.
struct Conn<S: Read + Write>(BufReader<S>);

impl<S: Read + Write> Read for Conn<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}
impl<S: Read + Write> BufRead for Conn<S> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.0.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.0.consume(amt)
    }
}
impl<S: Read + Write> Write for Conn<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.get_mut().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.get_mut().flush()
    }
}

fn tls_client(
    servers: &TestServers,
    tcp: TcpStream,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let pem = std::fs::read(servers.ca_file()).expect("read test CA file");
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.expect("parse test CA"))
            .expect("add test CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(servers.tls_server_name().to_owned()).expect("server name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS client");
    rustls::StreamOwned::new(conn, tcp)
}

fn ehlo_keywords(reply: &[String]) -> Vec<String> {
    reply
        .iter()
        .skip(1)
        .map(|l| l[4..].split(' ').next().unwrap_or("").to_ascii_uppercase())
        .collect()
}

#[test]
fn every_cleartext_listener_greets_with_220() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    for (name, port) in [
        ("SMTP_STARTTLS", servers.starttls_port()),
        ("SMTP_PLAIN", servers.plain_port()),
        ("SMTP_AUTH", servers.auth_port()),
        ("SMTP_AUTH_TLSONLY", servers.auth_tlsonly_port()),
        ("SMTP_AUTH_SMTPSVC", servers.auth_smtpsvc_port()),
        ("SMTP_SINK", servers.sink_port()),
        ("SMTP_SINK_DUMP", servers.sink_dump_port()),
    ] {
        let mut conn = Conn(BufReader::new(connect(&servers, port)));
        let banner = read_reply(&mut conn);
        assert!(banner[0].starts_with("220"), "{name} banner: {banner:?}");
        command(&mut conn, "QUIT");
    }
}

#[test]
fn implicit_tls_listener_greets_inside_tls_with_a_certificate_from_the_test_ca() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    let tls = tls_client(&servers, connect(&servers, servers.implicit_port()));
    let mut conn = Conn(BufReader::new(tls));
    let banner = read_reply(&mut conn);
    assert!(banner[0].starts_with("220"), "banner: {banner:?}");
    let ehlo = command(&mut conn, "EHLO smoke.test");
    assert!(!ehlo_keywords(&ehlo).contains(&"STARTTLS".to_owned()));
    command(&mut conn, "QUIT");
}

#[test]
fn extensions_offered_match_each_listener_role() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    let keywords = |port| {
        let mut conn = Conn(BufReader::new(connect(&servers, port)));
        read_reply(&mut conn);
        let ehlo = command(&mut conn, "EHLO smoke.test");
        command(&mut conn, "QUIT");
        ehlo_keywords(&ehlo)
    };
    let starttls = keywords(servers.starttls_port());
    for wanted in [
        "STARTTLS",
        "PIPELINING",
        "CHUNKING",
        "SIZE",
        "8BITMIME",
        "SMTPUTF8",
    ] {
        assert!(
            starttls.contains(&wanted.to_owned()),
            "{wanted} missing: {starttls:?}"
        );
    }
    assert!(!starttls.contains(&"AUTH".to_owned()), "{starttls:?}");

    let plain = keywords(servers.plain_port());
    assert!(!plain.contains(&"STARTTLS".to_owned()), "{plain:?}");

    let auth = keywords(servers.auth_port());
    assert!(auth.contains(&"AUTH".to_owned()), "{auth:?}");
    assert!(auth.contains(&"STARTTLS".to_owned()), "{auth:?}");

    let smtpsvc = keywords(servers.auth_smtpsvc_port());
    assert!(smtpsvc.contains(&"AUTH".to_owned()), "{smtpsvc:?}");

    let tls_only = keywords(servers.auth_tlsonly_port());
    assert!(!tls_only.contains(&"AUTH".to_owned()), "{tls_only:?}");
    assert!(tls_only.contains(&"STARTTLS".to_owned()), "{tls_only:?}");
}

#[test]
fn starttls_upgrades_and_verifies_against_the_test_ca() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    let mut conn = Conn(BufReader::new(connect(&servers, servers.starttls_port())));
    read_reply(&mut conn);
    command(&mut conn, "EHLO smoke.test");
    let go = command(&mut conn, "STARTTLS");
    assert!(go[0].starts_with("220"), "STARTTLS reply: {go:?}");
    let tcp = conn.0.into_inner();
    let mut tls = Conn(BufReader::new(tls_client(&servers, tcp)));
    let ehlo = command(&mut tls, "EHLO smoke.test");
    assert!(ehlo[0].starts_with("250"), "EHLO after TLS: {ehlo:?}");
    command(&mut tls, "QUIT");
}

#[test]
fn delivered_bytes_can_be_read_back_from_the_maildir() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    let rcpt = servers.unique_recipient("smoke");
    let body = format!("Subject: smoke\r\nTo: <{rcpt}>\r\n\r\nline one\r\n..dot-stuffed line\r\n");
    let mut conn = Conn(BufReader::new(connect(&servers, servers.plain_port())));
    read_reply(&mut conn);
    command(&mut conn, "EHLO smoke.test");
    assert!(command(&mut conn, "MAIL FROM:<sender@example.com>")[0].starts_with("250"));
    let rejected = command(&mut conn, "RCPT TO:<reject-smoke@test.local>");
    assert!(
        rejected[0].starts_with("550"),
        "reject-* RCPT: {rejected:?}"
    );
    let accepted = command(&mut conn, &format!("RCPT TO:<{rcpt}>"));
    assert!(accepted[0].starts_with("250"), "RCPT: {accepted:?}");
    assert!(command(&mut conn, "DATA")[0].starts_with("354"));
    let done = command(&mut conn, &format!("{body}."));
    assert!(done[0].starts_with("250"), "end of data: {done:?}");
    command(&mut conn, "QUIT");

    let stored = servers
        .wait_for_maildir_message(&rcpt, DELIVERY_TIMEOUT)
        .unwrap_or_else(|| {
            panic!(
                "no delivery for {rcpt}; see {}",
                servers.postfix_log().display()
            )
        });
    let expected = body.replace("\r\n", "\n").replace("\n..", "\n.");
    assert_eq!(
        String::from_utf8_lossy(servers::strip_delivery_headers(&stored)),
        expected
    );
    assert_eq!(servers.read_maildir_messages(&rcpt).len(), 1);
}

#[test]
fn dumping_sink_writes_the_message_after_its_own_headers() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    let rcpt = servers.unique_recipient("sink-smoke");
    let mut conn = Conn(BufReader::new(connect(&servers, servers.sink_dump_port())));
    read_reply(&mut conn);
    command(&mut conn, "EHLO smoke.test");
    command(&mut conn, "MAIL FROM:<sender@example.com>");
    command(&mut conn, &format!("RCPT TO:<{rcpt}>"));
    command(&mut conn, "DATA");
    let done = command(&mut conn, "Subject: sink\r\n\r\npayload\r\n.");
    assert!(done[0].starts_with("250"), "end of data: {done:?}");
    command(&mut conn, "QUIT");

    let path = servers
        .wait_for_sink_dump(&rcpt, DELIVERY_TIMEOUT)
        .expect("smtp-sink dump file for our recipient");
    let offset = servers::sink_dump_message_offset(&path).expect("dump layout") as usize;
    let dump = std::fs::read(&path).expect("read dump");
    std::fs::remove_file(&path).ok();
    assert_eq!(&dump[offset..], b"Subject: sink\n\npayload\n\n");
}

#[test]
fn kerberos_files_are_in_place() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    for path in [
        servers.krb5_config(),
        servers.keytab(),
        servers.ntlm_user_file(),
        servers.ntlm_user_file_wrong(),
        servers.ca_file(),
    ] {
        assert!(path.is_file(), "{} missing", path.display());
    }
    let ccache = servers.krb5_ccache();
    let ccache_path = ccache.strip_prefix("FILE:").unwrap_or(ccache);
    assert!(
        std::path::Path::new(ccache_path).is_file(),
        "ticket cache {ccache} missing"
    );
    let kdc = connect(&servers, servers.kdc_port());
    drop(kdc);
    let users = std::fs::read_to_string(servers.ntlm_user_file()).unwrap();
    assert_eq!(
        users.trim_end(),
        format!(
            "{}:{}:{}",
            servers.ntlm_domain(),
            servers.sasl_user(),
            servers.sasl_password()
        )
    );
}

#[test]
fn strip_delivery_headers_removes_exactly_what_postfix_prepends() {
    let stored = b"Return-Path: <a@example.com>\nX-Original-To: b@test.local\n\
Delivered-To: b@test.local\nReceived: from vm (localhost [127.0.0.1])\n\tby localhost (Postfix)\n\
\tfor <b@test.local>; Mon\nReceived: from elsewhere\nSubject: hi\n\nbody\n";
    assert_eq!(
        servers::strip_delivery_headers(stored),
        &b"Received: from elsewhere\nSubject: hi\n\nbody\n"[..]
    );
    assert_eq!(
        servers::delivered_to(stored).as_deref(),
        Some("b@test.local")
    );
    assert_eq!(
        servers::delivered_to(b"Subject: x\n\nDelivered-To: b@test.local\n"),
        None
    );
}
