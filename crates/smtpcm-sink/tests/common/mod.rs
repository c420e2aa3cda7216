//! A deliberately plain SMTP client for driving the sink byte by byte.
#![allow(dead_code)] // each test binary uses a different part of it

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Upper bound for any single step; only reached when something is broken.
pub const STEP: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

pub struct Client<S> {
    pub stream: S,
    buf: Vec<u8>,
}

pub async fn connect(addr: SocketAddr) -> (Client<TcpStream>, Reply) {
    let stream = timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect failed");
    let mut client = Client::new(stream);
    let greeting = client.reply().await;
    (client, greeting)
}

pub async fn connect_raw(addr: SocketAddr) -> Client<TcpStream> {
    let stream = timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect failed");
    Client::new(stream)
}

pub fn connector(ca_pem: &str) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.expect("CA PEM parses"))
            .expect("CA accepted");
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

pub async fn tls_handshake(
    tcp: TcpStream,
    ca_pem: &str,
    name: &'static str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from(name).expect("valid server name");
    timeout(STEP, connector(ca_pem).connect(name, tcp))
        .await
        .expect("TLS handshake timed out")
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        timeout(STEP, async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        })
        .await
        .expect("write timed out")
        .expect("write failed");
    }

    /// Reads one (possibly multi-line) reply; panics on EOF or garbage.
    pub async fn reply(&mut self) -> Reply {
        self.try_reply()
            .await
            .expect("connection closed before a reply")
    }

    /// Reads one reply, or `None` if the server closed the connection first.
    pub async fn try_reply(&mut self) -> Option<Reply> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("not a reply line: {line:?}"));
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if last {
                return Some(Reply { code, lines });
            }
        }
    }

    pub async fn cmd(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    pub async fn code(&mut self, line: &str) -> u16 {
        self.cmd(line).await.code
    }

    /// True when the server closes without sending anything more.
    pub async fn closed_silently(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut rest = Vec::new();
        let read = timeout(STEP, self.stream.read_to_end(&mut rest))
            .await
            .expect("server neither closed nor answered");
        // A reset counts as closed too.
        read.is_err() || rest.is_empty()
    }

    /// Everything the server sends until it closes.
    pub async fn rest(&mut self) -> Vec<u8> {
        let mut rest = std::mem::take(&mut self.buf);
        let _ = timeout(STEP, self.stream.read_to_end(&mut rest))
            .await
            .expect("server did not close");
        rest
    }

    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).collect();
                return Some(String::from_utf8(line[..end].to_vec()).expect("UTF-8 reply"));
            }
            let mut chunk = [0u8; 4096];
            let n = timeout(STEP, self.stream.read(&mut chunk))
                .await
                .expect("reply timed out")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a whole transaction and returns the reply to the final dot.
    pub async fn send_mail(&mut self, from: &str, to: &[&str], stuffed_body: &str) -> Reply {
        assert_eq!(self.code(&format!("MAIL FROM:<{from}>")).await, 250);
        for rcpt in to {
            assert_eq!(self.code(&format!("RCPT TO:<{rcpt}>")).await, 250);
        }
        assert_eq!(self.code("DATA").await, 354);
        self.send(stuffed_body.as_bytes()).await;
        self.send(b".\r\n").await;
        self.reply().await
    }
}

impl Client<TcpStream> {
    /// Sends STARTTLS, expects 220 and completes the handshake for `localhost`.
    pub async fn starttls(mut self, ca_pem: &str) -> Client<TlsStream<TcpStream>> {
        assert_eq!(self.code("STARTTLS").await, 220);
        assert!(self.buf.is_empty(), "bytes after the 220: {:?}", self.buf);
        let tls = tls_handshake(self.stream, ca_pem, "localhost")
            .await
            .expect("TLS handshake");
        Client::new(tls)
    }
}
