//! One SMTP conversation: reads pipelined commands, answers them in order, receives bodies,
//! and applies the fault script.

mod auth;
mod conn;
mod transfer;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smtp_proto::{
    Error as ProtoError, MAIL_BODY_8BITMIME, MAIL_BODY_BINARYMIME, MAIL_SMTPUTF8, MailFrom, RcptTo,
    Request,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tracing::debug;

use crate::fault::{ArmedMidData, Fault, FaultStage};
use crate::server::Shared;
use crate::store::Body;
use conn::Conn;

/// Longest command or AUTH response line accepted, CRLF included. RFC 5321 asks for at least 512;
/// AUTH responses carrying tokens need more.
const MAX_LINE: usize = 4096;
/// Longest wait for a client to close after the server has finished with it.
const LINGER: Duration = Duration::from_secs(2);
/// How much is read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Why a session ended abnormally; logged, never shown to the peer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error("I/O error while {stage}: {source}")]
    Io {
        stage: &'static str,
        source: io::Error,
    },
    #[error("no input for the idle timeout while {stage}")]
    Idle { stage: &'static str },
    #[error("TLS handshake failed: {0}")]
    Handshake(io::Error),
}

/// What the command loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// Send pending replies and close politely (QUIT, 421).
    Close,
    /// Scripted [`Fault::Disconnect`]: send pending replies and close without reading more.
    Disconnect,
    /// Scripted [`Fault::Reset`]: send pending replies, then an abortive close.
    Reset,
    /// Scripted [`Fault::Stall`]: never answer, keep reading and dropping input.
    Stall,
    /// Scripted [`Fault::Stall`] mid-body: never answer and stop reading.
    Hang,
}

/// How the connection is closed once the session is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Half-close, then drain input for a moment so the last reply is not destroyed by a reset.
    Graceful,
    /// Half-close and close without reading: unread or still arriving input draws a reset.
    Abrupt,
    /// Abortive close (`SO_LINGER` 0): a TCP reset at once.
    Reset,
}

/// A mail transaction between MAIL and the end of its message.
struct Transaction {
    mail_from: String,
    rcpt_to: Vec<String>,
    utf8: bool,
    /// The body of a BDAT transfer in progress (between chunks).
    chunked: Option<(u64, Body)>,
    /// Message content bytes received so far, as sent on the wire.
    received: u64,
    mid_data: Option<ArmedMidData>,
}

/// Serves one accepted connection to its end; problems are logged, not returned.
pub(crate) async fn run(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr, id: usize) {
    // Replies are batched per read already; Nagle would only delay them.
    let _ = tcp.set_nodelay(true);
    let mut session = Session {
        id,
        peer,
        shared,
        conn: Conn::Plain(tcp),
        input: Vec::new(),
        output: Vec::new(),
        inject: None,
        tls: false,
        helo: None,
        greeted: true,
        auth_user: None,
        transaction: None,
    };
    debug!(connection = id, %peer, "connected");
    let end = match session.serve().await {
        Ok(end) => {
            debug!(connection = id, ?end, "closed");
            end
        }
        Err(SessionError::Idle { stage }) => {
            debug!(connection = id, stage, "idle timeout");
            session.reply(421, "4.4.2 Idle timeout, closing connection");
            let _ = session.flush().await;
            End::Graceful
        }
        Err(e) => {
            debug!(connection = id, %peer, error = %e, "session ended");
            End::Graceful
        }
    };
    session.close(end).await;
}

struct Session {
    id: usize,
    peer: SocketAddr,
    shared: Arc<Shared>,
    conn: Conn,
    /// Received bytes not yet consumed.
    input: Vec<u8>,
    /// Replies not yet written; flushed whenever the session is about to wait for input.
    output: Vec<u8>,
    /// Bytes a fault wants sent right after the next reply.
    inject: Option<Vec<u8>>,
    tls: bool,
    helo: Option<String>,
    /// False after a scripted non-2xx greeting: then only QUIT is served.
    greeted: bool,
    auth_user: Option<String>,
    transaction: Option<Transaction>,
}

enum Line {
    Complete(Vec<u8>),
    TooLong,
}

impl Session {
    async fn serve(&mut self) -> Result<End, SessionError> {
        match self.shared.faults.take(FaultStage::Connect) {
            Some(Fault::Reply(code, text)) => {
                self.reply(code, &text);
                return self.finish(Flow::Close).await;
            }
            Some(Fault::Disconnect) => return self.finish(Flow::Disconnect).await,
            Some(Fault::Reset) => return self.finish(Flow::Reset).await,
            Some(Fault::Stall) => return self.finish(Flow::Stall).await,
            Some(Fault::InjectAfterStartTls(bytes)) => {
                self.note_server(&format!("<{} injected bytes>", bytes.len()));
                self.output.extend_from_slice(&bytes);
                self.flush().await?;
            }
            None => {}
        }
        if self.shared.cfg.implicit_tls {
            self.upgrade().await?;
        }
        match self.shared.faults.take(FaultStage::Greeting) {
            Some(Fault::Reply(code, text)) => {
                self.reply(code, &text);
                self.greeted = (200..300).contains(&code);
                if code == 421 {
                    return self.finish(Flow::Close).await;
                }
            }
            Some(Fault::Disconnect) => return self.finish(Flow::Disconnect).await,
            Some(Fault::Reset) => return self.finish(Flow::Reset).await,
            Some(Fault::Stall) => return self.finish(Flow::Stall).await,
            Some(Fault::InjectAfterStartTls(bytes)) => {
                self.inject = Some(bytes);
                self.greet();
            }
            None => self.greet(),
        }

        loop {
            let flow = match self.next_line("reading a command").await? {
                None => return Ok(End::Graceful),
                Some(Line::TooLong) => {
                    self.note_client("<line too long>");
                    self.reply(500, "5.5.2 Line too long");
                    Flow::Continue
                }
                Some(Line::Complete(line)) => self.command(&line).await?,
            };
            if flow != Flow::Continue {
                return self.finish(flow).await;
            }
        }
    }

    /// Carries out a flow that ends the session, and says how to close the connection.
    async fn finish(&mut self, flow: Flow) -> Result<End, SessionError> {
        match flow {
            Flow::Continue | Flow::Close => {
                self.flush().await?;
                Ok(End::Graceful)
            }
            Flow::Disconnect => {
                self.flush().await?;
                Ok(End::Abrupt)
            }
            Flow::Reset => {
                // Replies to earlier pipelined commands go out first, so the client can tell
                // which command met the reset.
                self.flush().await?;
                self.note_server("<reset>");
                Ok(End::Reset)
            }
            Flow::Stall => {
                self.stall().await?;
                Ok(End::Graceful)
            }
            Flow::Hang => {
                self.hang().await?;
                Ok(End::Abrupt)
            }
        }
    }

    /// The session's flow for a fault at a command stage, or `None` to go on normally.
    fn fault_flow(&mut self, fault: Fault) -> Option<Flow> {
        match fault {
            Fault::Reply(code, text) => {
                self.reply(code, &text);
                Some(if code == 421 {
                    Flow::Close
                } else {
                    Flow::Continue
                })
            }
            Fault::Disconnect => Some(Flow::Disconnect),
            Fault::Reset => Some(Flow::Reset),
            Fault::Stall => Some(Flow::Stall),
            Fault::InjectAfterStartTls(bytes) => {
                self.inject = Some(bytes);
                None
            }
        }
    }

    fn greet(&mut self) {
        let text = format!("{} ESMTP smtpcm-sink ready", self.shared.cfg.hostname);
        self.reply(220, &text);
    }

    async fn command(&mut self, line: &[u8]) -> Result<Flow, SessionError> {
        self.note_client(&redact(line));
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request.into_owned(),
            Err(e) => {
                self.reply_parse_error(e);
                return Ok(Flow::Continue);
            }
        };
        if !self.greeted && !matches!(request, Request::Quit) {
            self.reply(503, "5.5.1 No service, send QUIT");
            return Ok(Flow::Continue);
        }
        if let Some(stage) = stage_of(&request)
            && let Some(fault) = self.shared.faults.take(stage)
            && let Some(flow) = self.fault_flow(fault)
        {
            return Ok(flow);
        }
        match request {
            Request::Ehlo { host } => self.hello(host, true),
            Request::Helo { host } => self.hello(host, false),
            Request::StartTls => return self.starttls().await,
            Request::Auth {
                mechanism,
                initial_response,
            } => return self.auth(mechanism, initial_response).await,
            Request::Mail { from } => self.mail(from),
            Request::Rcpt { to } => self.rcpt(to),
            Request::Data => return self.data().await,
            Request::Bdat {
                chunk_size,
                is_last,
            } => return self.bdat(chunk_size, is_last).await,
            Request::Rset => {
                self.transaction = None;
                self.reply(250, "2.0.0 Ok");
            }
            Request::Noop { .. } => self.reply(250, "2.0.0 Ok"),
            Request::Vrfy { .. } => self.reply(252, "2.5.0 Cannot VRFY user, but will accept"),
            Request::Help { .. } => self.reply(214, "2.0.0 smtpcm-sink, see RFC 5321"),
            Request::Quit => {
                self.reply(221, "2.0.0 Bye");
                return Ok(Flow::Close);
            }
            Request::Lhlo { .. }
            | Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.reply(502, "5.5.1 Command not implemented"),
        }
        Ok(Flow::Continue)
    }

    fn hello(&mut self, host: String, extended: bool) {
        self.transaction = None;
        self.helo = Some(host.clone());
        let cfg = &self.shared.cfg;
        let mut lines = vec![format!("{} greets {host}", cfg.hostname)];
        if extended {
            let offers_auth = cfg.auth.is_some() && (self.tls || !cfg.require_tls);
            let extensions = [
                (cfg.pipelining, "PIPELINING".to_owned()),
                (
                    cfg.max_size.is_some(),
                    format!("SIZE {}", cfg.max_size.unwrap_or(0)),
                ),
                (cfg.eight_bit, "8BITMIME".to_owned()),
                (cfg.smtputf8, "SMTPUTF8".to_owned()),
                (cfg.chunking, "CHUNKING".to_owned()),
                (self.offers_starttls(), "STARTTLS".to_owned()),
                (offers_auth, auth_offer(cfg.auth.as_ref())),
                (true, "ENHANCEDSTATUSCODES".to_owned()),
            ];
            lines.extend(
                extensions
                    .into_iter()
                    .filter_map(|(on, ext)| on.then_some(ext)),
            );
        }
        self.reply_lines(250, &lines);
    }

    fn offers_starttls(&self) -> bool {
        self.shared.cfg.starttls && !self.tls
    }

    async fn starttls(&mut self) -> Result<Flow, SessionError> {
        if self.tls {
            self.reply(503, "5.5.1 TLS already active");
            return Ok(Flow::Continue);
        }
        if !self.offers_starttls() {
            self.reply(502, "5.5.1 STARTTLS not offered");
            return Ok(Flow::Continue);
        }
        self.reply(220, "2.0.0 Ready to start TLS");
        self.flush().await?;
        // Anything pipelined behind STARTTLS arrived in plaintext and must not be acted on once
        // encrypted (RFC 3207 §5, CVE-2011-0411).
        if !self.input.is_empty() {
            debug!(
                connection = self.id,
                bytes = self.input.len(),
                "discarding plaintext pipelined after STARTTLS"
            );
            self.input.clear();
        }
        self.upgrade().await?;
        self.helo = None;
        self.auth_user = None;
        self.transaction = None;
        Ok(Flow::Continue)
    }

    async fn upgrade(&mut self) -> Result<(), SessionError> {
        let Conn::Plain(tcp) = std::mem::replace(&mut self.conn, Conn::Upgrading) else {
            return Err(SessionError::Handshake(io::Error::other(
                "connection is not plaintext",
            )));
        };
        let accept = self.shared.tls.acceptor.accept(tcp);
        let stream = timeout(self.shared.cfg.idle_timeout, accept)
            .await
            .map_err(|_| SessionError::Idle {
                stage: "TLS handshake",
            })?
            .map_err(SessionError::Handshake)?;
        self.conn = Conn::Tls(Box::new(stream));
        self.tls = true;
        self.note_server("<TLS established>");
        Ok(())
    }

    fn mail(&mut self, from: MailFrom<String>) {
        let cfg = &self.shared.cfg;
        let utf8 = from.flags & MAIL_SMTPUTF8 != 0;
        let refusal = if self.helo.is_none() {
            Some((503, "5.5.1 Send EHLO or HELO first"))
        } else if cfg.require_tls && !self.tls {
            Some((530, "5.7.0 Must issue a STARTTLS command first"))
        } else if cfg.auth.as_ref().is_some_and(|a| a.required) && self.auth_user.is_none() {
            Some((530, "5.7.0 Authentication required"))
        } else if self.transaction.is_some() {
            Some((503, "5.5.1 Nested MAIL command"))
        } else if from.flags & MAIL_BODY_8BITMIME != 0 && !cfg.eight_bit {
            Some((555, "5.5.4 BODY=8BITMIME not supported"))
        } else if from.flags & MAIL_BODY_BINARYMIME != 0 {
            Some((555, "5.5.4 BODY=BINARYMIME not supported"))
        } else if utf8 && !cfg.smtputf8 {
            Some((555, "5.5.4 SMTPUTF8 not supported"))
        } else if !from.address.is_ascii() && !utf8 {
            Some((553, "5.6.7 Non-ASCII sender needs SMTPUTF8"))
        } else if cfg
            .max_size
            .is_some_and(|max| u64::try_from(from.size).unwrap_or(u64::MAX) > max)
        {
            Some((552, "5.3.4 Message size exceeds fixed maximum message size"))
        } else {
            None
        };
        if let Some((code, text)) = refusal {
            self.reply(code, text);
            return;
        }
        self.transaction = Some(Transaction {
            mail_from: from.address,
            rcpt_to: Vec::new(),
            utf8,
            chunked: None,
            received: 0,
            mid_data: None,
        });
        self.reply(250, "2.1.0 Ok");
    }

    fn rcpt(&mut self, to: RcptTo<String>) {
        let rejected = self.shared.cfg.rejects_recipient(&to.address);
        let Some(transaction) = self.transaction.as_mut() else {
            self.reply(503, "5.5.1 Need MAIL before RCPT");
            return;
        };
        if transaction.rcpt_to.len() >= self.shared.cfg.max_recipients {
            self.reply(452, "4.5.3 Too many recipients");
        } else if !to.address.is_ascii() && !transaction.utf8 {
            self.reply(553, "5.6.7 Non-ASCII recipient needs SMTPUTF8");
        } else if rejected {
            let text = format!("5.1.1 <{}>: Recipient address rejected", to.address);
            self.reply(550, &text);
        } else {
            transaction.rcpt_to.push(to.address);
            self.reply(250, "2.1.5 Ok");
        }
    }

    /// Closes the connection the way `end` says.
    async fn close(&mut self, end: End) {
        match end {
            End::Graceful => self.linger().await,
            End::Abrupt => {
                // Input is deliberately left unread: the kernel answers further data with a reset.
                let _ = self.conn.shutdown().await;
            }
            End::Reset => {
                let tcp = match &self.conn {
                    Conn::Plain(tcp) => Some(tcp),
                    Conn::Tls(tls) => Some(tls.get_ref().0),
                    Conn::Upgrading => None,
                };
                // SO_LINGER 0 makes the close on drop send RST and discard unsent data.
                if let Some(Err(e)) = tcp.map(TcpStream::set_zero_linger) {
                    debug!(connection = self.id, error = %e, "cannot set SO_LINGER 0");
                }
            }
        }
    }

    /// Half-closes, then reads and drops input for a moment: closing a socket with unread input
    /// sends a reset, which can destroy our last reply before the client has read it.
    async fn linger(&mut self) {
        let _ = self.conn.shutdown().await;
        let mut sink = vec![0u8; READ_CHUNK];
        let limit = self.shared.cfg.idle_timeout.min(LINGER);
        let _ = timeout(limit, async {
            while matches!(self.conn.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    }

    /// Never answers again: reads and drops input until the client leaves or goes idle.
    async fn stall(&mut self) -> Result<(), SessionError> {
        self.note_server("<stalling>");
        self.flush().await?;
        let mut sink = vec![0u8; READ_CHUNK];
        loop {
            match timeout(self.shared.cfg.idle_timeout, self.conn.read(&mut sink)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Ok(()),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Never answers and reads nothing more, until the idle timeout (or shutdown) ends the
    /// session: a client still writing fills the socket buffers and blocks.
    async fn hang(&mut self) -> Result<(), SessionError> {
        self.note_server("<stalling without reading>");
        self.flush().await?;
        tokio::time::sleep(self.shared.cfg.idle_timeout).await;
        Ok(())
    }

    /// The next line of input, CRLF included. `None` when the client closed the connection.
    async fn next_line(&mut self, stage: &'static str) -> Result<Option<Line>, SessionError> {
        let mut overlong = false;
        loop {
            if let Some(end) = self.input.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.input.drain(..=end).collect();
                return Ok(Some(if overlong || line.len() > MAX_LINE {
                    Line::TooLong
                } else {
                    Line::Complete(line)
                }));
            }
            if self.input.len() > MAX_LINE {
                overlong = true;
                self.input.clear();
            }
            if !self.fill(stage).await? {
                return Ok(None);
            }
        }
    }

    /// Sends pending replies, then waits for more input. False on end of stream.
    async fn fill(&mut self, stage: &'static str) -> Result<bool, SessionError> {
        self.flush().await?;
        self.input.reserve(READ_CHUNK);
        let read = timeout(
            self.shared.cfg.idle_timeout,
            self.conn.read_buf(&mut self.input),
        )
        .await
        .map_err(|_| SessionError::Idle { stage })?
        .map_err(|source| SessionError::Io { stage, source })?;
        Ok(read > 0)
    }

    async fn flush(&mut self) -> Result<(), SessionError> {
        if self.output.is_empty() {
            return Ok(());
        }
        // One write for everything pending: pipelined replies go out together, and injected
        // bytes share a segment with the reply they follow.
        let sent = async {
            self.conn.write_all(&self.output).await?;
            self.conn.flush().await
        };
        sent.await.map_err(|source| SessionError::Io {
            stage: "sending replies",
            source,
        })?;
        self.output.clear();
        Ok(())
    }

    fn reply(&mut self, code: u16, text: &str) {
        self.reply_lines(code, &[text]);
    }

    fn reply_lines(&mut self, code: u16, lines: &[impl AsRef<str>]) {
        for (index, line) in lines.iter().enumerate() {
            let separator = if index + 1 == lines.len() { ' ' } else { '-' };
            let line = format!("{code}{separator}{}", line.as_ref());
            self.note_server(&line);
            self.output.extend_from_slice(line.as_bytes());
            self.output.extend_from_slice(b"\r\n");
        }
        if let Some(bytes) = self.inject.take() {
            self.note_server(&format!("<{} injected bytes>", bytes.len()));
            self.output.extend_from_slice(&bytes);
        }
    }

    fn reply_parse_error(&mut self, error: ProtoError) {
        let text = match error {
            ProtoError::UnknownCommand => "5.5.2 Command not recognized".to_owned(),
            ProtoError::SyntaxError { syntax } => format!("5.5.4 Syntax: {syntax}"),
            ProtoError::InvalidSenderAddress => "5.1.7 Bad sender address syntax".to_owned(),
            ProtoError::InvalidRecipientAddress => "5.1.3 Bad recipient address syntax".to_owned(),
            ProtoError::InvalidParameter { param } => format!("5.5.4 Invalid parameter {param}"),
            ProtoError::UnsupportedParameter { param } => {
                let text = format!("5.5.4 Unsupported parameter {}", printable(&param));
                self.reply(555, &text);
                return;
            }
            ProtoError::ResponseTooLong => "5.5.2 Line too long".to_owned(),
            ProtoError::NeedsMoreData { .. } | ProtoError::InvalidResponse { .. } => {
                "5.5.2 Syntax error".to_owned()
            }
        };
        let code = if text.starts_with("5.5.2") { 500 } else { 501 };
        self.reply(code, &text);
    }

    fn note_client(&self, text: &str) {
        debug!(connection = self.id, "C: {text}");
        self.shared.note(self.id, 'C', text);
    }

    fn note_server(&self, text: &str) {
        debug!(connection = self.id, peer = %self.peer, "S: {text}");
        self.shared.note(self.id, 'S', text);
    }
}

/// The AUTH line of the EHLO reply: OAuth mechanisms only when a token is configured.
fn auth_offer(account: Option<&crate::config::SinkAuth>) -> String {
    if account.is_some_and(|a| a.token.is_some()) {
        "AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER".to_owned()
    } else {
        "AUTH PLAIN LOGIN".to_owned()
    }
}

/// The fault stage a command belongs to, for the stages decided before the command runs.
fn stage_of(request: &Request<String>) -> Option<FaultStage> {
    match request {
        Request::Ehlo { .. } | Request::Helo { .. } => Some(FaultStage::Ehlo),
        Request::StartTls => Some(FaultStage::StartTls),
        Request::Auth { .. } => Some(FaultStage::Auth),
        Request::Mail { .. } => Some(FaultStage::Mail),
        Request::Rcpt { .. } => Some(FaultStage::Rcpt),
        Request::Data => Some(FaultStage::DataStart),
        _ => None,
    }
}

/// A command line as it may appear in logs: AUTH arguments after the mechanism are secret.
fn redact(line: &[u8]) -> String {
    let text = printable(&String::from_utf8_lossy(line));
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(verb), Some(mechanism), rest) if verb.eq_ignore_ascii_case("AUTH") => {
            let secret = if rest.is_some() { " <redacted>" } else { "" };
            format!("{verb} {mechanism}{secret}")
        }
        _ => text,
    }
}

/// Text with line ends trimmed and control characters escaped, safe for one log line.
fn printable(text: &str) -> String {
    crate::escape_controls(text.trim_end_matches(['\r', '\n']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_arguments_are_redacted() {
        assert_eq!(
            redact(b"AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n"),
            "AUTH PLAIN <redacted>"
        );
        assert_eq!(redact(b"auth login\r\n"), "auth login");
        assert_eq!(redact(b"MAIL FROM:<a@b>\r\n"), "MAIL FROM:<a@b>");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("a\x1bb\r\n"), "a\\u{1b}b");
    }
}
