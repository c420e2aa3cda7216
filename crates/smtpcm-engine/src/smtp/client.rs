//! The SMTP session: one method per verb, in the shape of Go's `net/smtp`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

use super::capabilities::Capabilities;
use super::command::{self, Command};
use super::config::{ClientConfig, Timeouts};
use super::data::DataWriter;
use super::envelope::{Envelope, MailParams, SendReport};
use super::error::{ErrorKind, RecipientRejection, SmtpError, Stage};
use super::reply::{Reply, ReplyDecoder};
use super::stream::Stream;
use super::tls;
use crate::security::TlsMode;

/// The tracing target of the SMTP transcript (commands and replies, at debug level).
pub const TRANSCRIPT_TARGET: &str = "smtpcm::transcript";

/// Where the session stands between commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionState {
    /// At a command boundary with no mail transaction open.
    Ready,
    /// `MAIL FROM` was accepted and the transaction has not ended: `RSET` before the next `MAIL`.
    InTransaction,
    /// The byte stream is in an unknown place (abandoned data, I/O error, timeout, 421):
    /// nothing more may be sent on it.
    Unusable(&'static str),
}

/// A connected, greeted SMTP session.
///
/// ```no_run
/// # async fn demo() -> Result<(), smtpcm_engine::smtp::SmtpError> {
/// use smtpcm_engine::smtp::{Client, ClientConfig, Envelope, TlsMode};
/// let mut client = Client::connect(&ClientConfig::new("127.0.0.1", 25, TlsMode::None)).await?;
/// let envelope = Envelope::new("a@example.com", ["b@example.com"]);
/// let report = client.send(&envelope, &b"Subject: hi\r\n\r\nHello\r\n"[..]).await?;
/// println!("{}", report.reply);
/// client.quit().await
/// # }
/// ```
pub struct Client {
    stream: Stream,
    decoder: ReplyDecoder,
    host: String,
    helo_name: String,
    greeting: String,
    capabilities: Capabilities,
    tls_config: Option<Arc<rustls::ClientConfig>>,
    peer_is_loopback: bool,
    timeouts: Timeouts,
    state: SessionState,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("tls", &self.is_tls())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects and greets: TCP (and TLS at once for [`TlsMode::Implicit`]), the `220`
    /// greeting, `EHLO` (falling back to `HELO` on `500`/`502`), then `STARTTLS` as the
    /// mode asks, and `EHLO` again inside TLS.
    ///
    /// With [`TlsMode::StartTls`], a server that does not offer STARTTLS is an error at
    /// stage [`Stage::StartTls`], and nothing but `QUIT` is sent. With
    /// [`TlsMode::StartTlsWhenAvailable`], STARTTLS is used when offered, and a failure
    /// once it is attempted is an error, not a fallback to plain text.
    pub async fn connect(cfg: &ClientConfig) -> Result<Client, SmtpError> {
        let t = cfg.timeouts;
        let tls_config = match cfg.tls {
            TlsMode::None => None,
            _ => Some(
                tls::client_config(cfg.extra_ca_file.as_deref())
                    .map_err(|m| SmtpError::new(Stage::TlsHandshake, ErrorKind::Tls(m)))?,
            ),
        };
        if let Some(name) = &cfg.helo_name {
            check_helo_name(name)?;
        }
        let tcp = open_tcp(cfg).await?;
        let peer_is_loopback = tcp
            .peer_addr()
            .is_ok_and(|a| crate::security::is_loopback_ip(a.ip()));
        let helo_name = match &cfg.helo_name {
            Some(name) => name.trim().to_string(),
            None => default_helo_name(tcp.local_addr().ok().map(|a| a.ip())),
        };
        let mut client = Client {
            stream: Stream::Plain(tcp),
            decoder: ReplyDecoder::default(),
            host: cfg.host.trim().to_string(),
            helo_name,
            greeting: String::new(),
            capabilities: Capabilities::default(),
            tls_config,
            peer_is_loopback,
            timeouts: t,
            state: SessionState::Ready,
        };
        if cfg.tls == TlsMode::Implicit {
            client.handshake().await?;
        }
        let greeting = client.read_reply(Stage::Greeting, t.greeting).await?;
        if greeting.code != 220 {
            client.quit_quietly().await;
            return Err(SmtpError::rejected(Stage::Greeting, "connection", greeting));
        }
        client.greeting = greeting.message();
        client.ehlo().await?;
        match cfg.tls {
            TlsMode::StartTls if !client.capabilities.starttls => {
                client.quit_quietly().await;
                return Err(SmtpError::new(
                    Stage::StartTls,
                    ErrorKind::StartTlsNotOffered,
                ));
            }
            TlsMode::StartTls => client.starttls().await?,
            TlsMode::StartTlsWhenAvailable if client.capabilities.starttls => {
                client.starttls().await?
            }
            _ => {}
        }
        Ok(client)
    }

    /// What the server offered in its latest EHLO reply.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Whether the session is encrypted.
    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// The host name as configured.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether the server's address is a loopback address.
    pub fn peer_is_loopback(&self) -> bool {
        self.peer_is_loopback
    }

    /// The text of the server's `220` greeting.
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// The TLS version and cipher suite, e.g. `"TLSv1.3 TLS13_AES_256_GCM_SHA384"`.
    pub fn tls_info(&self) -> Option<String> {
        self.stream.tls_info()
    }

    /// Sends `EHLO` and records the capabilities; falls back to `HELO` (no extensions) when the
    /// server answers `500` or `502`.
    pub async fn ehlo(&mut self) -> Result<(), SmtpError> {
        self.ensure_usable(Stage::Ehlo)?;
        let name = self.helo_name.clone();
        let ehlo = command::Ehlo(&name);
        let reply = self.command(&ehlo, Stage::Ehlo, self.timeouts.ehlo).await?;
        if reply.code == 250 {
            self.capabilities = Capabilities::from_ehlo(&reply);
            // EHLO also resets any open transaction (RFC 5321 §4.1.4).
            self.state = SessionState::Ready;
            return Ok(());
        }
        if !matches!(reply.code, 500 | 502) {
            return Err(SmtpError::rejected(Stage::Ehlo, ehlo.to_string(), reply));
        }
        let helo = command::Helo(&name);
        let reply = self.command(&helo, Stage::Ehlo, self.timeouts.ehlo).await?;
        if reply.code != 250 {
            return Err(SmtpError::rejected(Stage::Ehlo, helo.to_string(), reply));
        }
        self.capabilities = Capabilities::default();
        self.state = SessionState::Ready;
        Ok(())
    }

    /// Sends `NOOP` (a cheap check that a pooled connection still works).
    pub async fn noop(&mut self) -> Result<(), SmtpError> {
        self.ensure_usable(Stage::Noop)?;
        let reply = self
            .command(&command::Noop, Stage::Noop, self.timeouts.quit)
            .await?;
        if !reply.is_positive() {
            return Err(SmtpError::rejected(Stage::Noop, "NOOP", reply));
        }
        Ok(())
    }

    /// Sends `RSET`, abandoning any open mail transaction.
    pub async fn rset(&mut self) -> Result<(), SmtpError> {
        self.ensure_usable(Stage::Rset)?;
        let reply = self
            .command(&command::Rset, Stage::Rset, self.timeouts.quit)
            .await?;
        if !reply.is_positive() {
            return Err(SmtpError::rejected(Stage::Rset, "RSET", reply));
        }
        self.state = SessionState::Ready;
        Ok(())
    }

    /// Sends `QUIT` and closes the connection. A connection left unusable (for example by
    /// an abandoned [`DataWriter`]) is closed without sending anything.
    pub async fn quit(mut self) -> Result<(), SmtpError> {
        if let SessionState::Unusable(_) = self.state {
            let _ = timeout(self.timeouts.quit, self.stream.shutdown()).await;
            return Ok(());
        }
        let reply = self
            .command(&command::Quit, Stage::Quit, self.timeouts.quit)
            .await;
        let _ = timeout(self.timeouts.quit, self.stream.shutdown()).await;
        let reply = reply?;
        if !reply.is_positive() {
            return Err(SmtpError::rejected(Stage::Quit, "QUIT", reply));
        }
        Ok(())
    }

    /// Sends `MAIL FROM:<from>` with the parameters the server supports.
    ///
    /// `SIZE=` is sent only when the server offers SIZE, and a size above its limit fails
    /// with [`ErrorKind::MessageTooLarge`] before anything is sent. `BODY=8BITMIME` and
    /// `SMTPUTF8` fail with [`ErrorKind::ExtensionNotOffered`] when not offered.
    pub async fn mail(&mut self, from: &str, params: &MailParams) -> Result<Reply, SmtpError> {
        let mail = self.mail_command(from, params)?;
        self.ensure_ready().await?;
        let reply = self.command(&mail, Stage::Mail, self.timeouts.mail).await?;
        if !reply.is_positive() {
            return Err(SmtpError::rejected(Stage::Mail, mail.to_string(), reply));
        }
        self.state = SessionState::InTransaction;
        Ok(reply)
    }

    /// Sends `RCPT TO:<to>`; a refusal names the recipient.
    pub async fn rcpt(&mut self, to: &str) -> Result<Reply, SmtpError> {
        self.ensure_usable(Stage::Rcpt)?;
        check_address(to, Stage::Rcpt)?;
        let rcpt = command::Rcpt(to);
        let reply = self.command(&rcpt, Stage::Rcpt, self.timeouts.rcpt).await?;
        if !reply.is_positive() {
            return Err(
                SmtpError::rejected(Stage::Rcpt, rcpt.to_string(), reply).with_recipient(to)
            );
        }
        Ok(reply)
    }

    /// Starts a message: `MAIL`, every `RCPT`, then `DATA` (or nothing more when the
    /// server offers CHUNKING, whose writer sends `BDAT`). When the server offers
    /// PIPELINING, all of these go in one write and the replies are matched in order.
    ///
    /// The SIZE limit is checked first. Returns a writer when at least one recipient was
    /// accepted; if none was, fails with [`ErrorKind::AllRecipientsRejected`] naming each.
    pub async fn begin<'a>(&'a mut self, envelope: &Envelope) -> Result<DataWriter<'a>, SmtpError> {
        if envelope.recipients.is_empty() {
            return Err(SmtpError::new(
                Stage::Rcpt,
                ErrorKind::InvalidInput("the envelope has no recipients".into()),
            ));
        }
        let needs_utf8 = envelope.smtputf8
            || !envelope.from.is_ascii()
            || envelope.recipients.iter().any(|r| !r.is_ascii());
        let params = MailParams {
            size: envelope.size,
            body_8bit: envelope.eight_bit,
            smtputf8: needs_utf8,
        };
        let mail = self.mail_command(&envelope.from, &params)?;
        for r in &envelope.recipients {
            check_address(r, Stage::Rcpt)?;
        }
        self.ensure_ready().await?;
        let chunking = self.capabilities.chunking;
        let t = self.timeouts;

        let (mail_reply, rcpt_replies, data_reply) = if self.capabilities.pipelining {
            let mut wire = Vec::new();
            self.queue(&mail, &mut wire);
            for r in &envelope.recipients {
                self.queue(&command::Rcpt(r), &mut wire);
            }
            if !chunking {
                self.queue(&command::Data, &mut wire);
            }
            self.write(&wire, Stage::Mail, t.mail).await?;
            let mail_reply = self.read_reply(Stage::Mail, t.mail).await?;
            closing(&mail_reply, Stage::Mail, &mail)?;
            let mut rcpt_replies = Vec::with_capacity(envelope.recipients.len());
            for r in &envelope.recipients {
                let reply = self.read_reply(Stage::Rcpt, t.rcpt).await?;
                closing(&reply, Stage::Rcpt, &command::Rcpt(r))?;
                rcpt_replies.push(reply);
            }
            let data_reply = match chunking {
                true => None,
                false => Some(self.read_reply(Stage::Data, t.data_init).await?),
            };
            (mail_reply, rcpt_replies, data_reply)
        } else {
            let mail_reply = self.command(&mail, Stage::Mail, t.mail).await?;
            if !mail_reply.is_positive() {
                return Err(SmtpError::rejected(
                    Stage::Mail,
                    mail.to_string(),
                    mail_reply,
                ));
            }
            self.state = SessionState::InTransaction;
            let mut rcpt_replies = Vec::with_capacity(envelope.recipients.len());
            for r in &envelope.recipients {
                let rcpt = command::Rcpt(r);
                let reply = self.command(&rcpt, Stage::Rcpt, t.rcpt).await?;
                closing(&reply, Stage::Rcpt, &rcpt)?;
                rcpt_replies.push(reply);
            }
            let data_reply = match chunking || !rcpt_replies.iter().any(Reply::is_positive) {
                true => None,
                false => Some(
                    self.command(&command::Data, Stage::Data, t.data_init)
                        .await?,
                ),
            };
            (mail_reply, rcpt_replies, data_reply)
        };

        // RFC 2920 §3.1: a 354 despite failures means an (empty) message must still be ended.
        let data_opened = data_reply.as_ref().is_some_and(|r| r.code == 354);
        if !mail_reply.is_positive() {
            if data_opened {
                self.end_unwanted_data().await?;
            }
            return Err(SmtpError::rejected(
                Stage::Mail,
                mail.to_string(),
                mail_reply,
            ));
        }
        self.state = SessionState::InTransaction;
        let mut accepted = Vec::new();
        let mut rejected = Vec::new();
        for (recipient, reply) in envelope.recipients.iter().zip(rcpt_replies) {
            if reply.is_positive() {
                accepted.push(recipient.clone());
            } else {
                rejected.push(RecipientRejection {
                    recipient: recipient.clone(),
                    reply,
                });
            }
        }
        if accepted.is_empty() {
            if data_opened {
                self.end_unwanted_data().await?;
            }
            return Err(SmtpError::new(
                Stage::Rcpt,
                ErrorKind::AllRecipientsRejected(rejected),
            ));
        }
        if let Some(reply) = data_reply
            && reply.code != 354
        {
            return Err(SmtpError::rejected(Stage::Data, "DATA", reply));
        }
        Ok(DataWriter::new(self, accepted, rejected, chunking))
    }

    /// Sends one whole message read from `body`: [`begin`](Self::begin), copy, and
    /// [`DataWriter::finish`].
    pub async fn send<R: AsyncRead + Unpin>(
        &mut self,
        envelope: &Envelope,
        mut body: R,
    ) -> Result<SendReport, SmtpError> {
        let mut writer = self.begin(envelope).await?;
        if let Err(e) = tokio::io::copy(&mut body, &mut writer).await {
            return Err(writer.take_error().unwrap_or_else(|| {
                SmtpError::new(Stage::DataTransfer, ErrorKind::Io(e))
                    .with_detail("reading the message body failed; the message was not sent")
            }));
        }
        writer.finish().await
    }

    // ---- crate-internal building blocks -------------------------------------------------

    pub(crate) fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    pub(crate) fn set_state(&mut self, state: SessionState) {
        self.state = state;
    }

    /// Fails at once if the connection can no longer carry commands.
    pub(crate) fn ensure_usable(&self, stage: Stage) -> Result<(), SmtpError> {
        match self.state {
            SessionState::Unusable(reason) => Err(SmtpError::new(
                stage,
                ErrorKind::Protocol(format!("connection cannot be used: {reason}")),
            )),
            _ => Ok(()),
        }
    }

    /// Brings the session to a command boundary with no transaction open.
    async fn ensure_ready(&mut self) -> Result<(), SmtpError> {
        self.ensure_usable(Stage::Mail)?;
        if self.state == SessionState::InTransaction {
            self.rset().await?;
        }
        Ok(())
    }

    fn mail_command<'f>(
        &self,
        from: &'f str,
        params: &MailParams,
    ) -> Result<command::Mail<'f>, SmtpError> {
        check_address(from, Stage::Mail)?;
        let caps = &self.capabilities;
        if let (Some(limit), Some(size)) = (caps.size, params.size)
            && limit > 0
            && size > limit
        {
            return Err(SmtpError::new(
                Stage::Mail,
                ErrorKind::MessageTooLarge { size, limit },
            ));
        }
        if params.body_8bit && !caps.eight_bit_mime {
            return Err(SmtpError::new(
                Stage::Mail,
                ErrorKind::ExtensionNotOffered("8BITMIME"),
            ));
        }
        if params.smtputf8 && !caps.smtputf8 {
            return Err(SmtpError::new(
                Stage::Mail,
                ErrorKind::ExtensionNotOffered("SMTPUTF8"),
            ));
        }
        Ok(command::Mail {
            from,
            size: params.size.filter(|_| caps.size.is_some()),
            body_8bit: params.body_8bit,
            smtputf8: params.smtputf8,
        })
    }

    /// Ends a DATA the server opened although the transaction failed (RFC 2920): the server
    /// then rejects the empty message.
    async fn end_unwanted_data(&mut self) -> Result<(), SmtpError> {
        self.log_client(&".");
        self.write(b".\r\n", Stage::DataEnd, self.timeouts.data_end)
            .await?;
        self.read_reply(Stage::DataEnd, self.timeouts.data_end)
            .await?;
        Ok(())
    }

    fn log_client(&self, shown: &dyn std::fmt::Display) {
        tracing::debug!(target: TRANSCRIPT_TARGET, "C: {shown}");
    }

    /// Encodes a command into `wire` and logs it (redacted) for the transcript.
    pub(crate) fn queue<C: Command>(&self, cmd: &C, wire: &mut Vec<u8>) {
        self.log_client(cmd);
        cmd.encode(wire);
    }

    /// Sends one command and reads its reply, whatever the code.
    pub(crate) async fn command<C: Command + Sync>(
        &mut self,
        cmd: &C,
        stage: Stage,
        limit: Duration,
    ) -> Result<Reply, SmtpError> {
        self.ensure_usable(stage)?;
        let mut wire = Vec::new();
        self.queue(cmd, &mut wire);
        self.write(&wire, stage, limit).await?;
        self.read_reply(stage, limit).await
    }

    /// Writes and flushes `bytes` within `limit`; any failure leaves the session unusable.
    pub(crate) async fn write(
        &mut self,
        bytes: &[u8],
        stage: Stage,
        limit: Duration,
    ) -> Result<(), SmtpError> {
        let stream = &mut self.stream;
        let result = timeout(limit, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.broken(stage, ErrorKind::Io(e), "a write failed")),
            Err(_) => Err(self.broken(stage, ErrorKind::Timeout(limit), "a write timed out")),
        }
    }

    /// Reads the next complete reply within `limit`.
    pub(crate) async fn read_reply(
        &mut self,
        stage: Stage,
        limit: Duration,
    ) -> Result<Reply, SmtpError> {
        match timeout(limit, self.read_reply_unbounded()).await {
            Err(_) => Err(self.broken(stage, ErrorKind::Timeout(limit), "a reply timed out")),
            Ok(Err(kind)) => Err(self.broken(stage, kind, "the reply could not be read")),
            Ok(Ok(reply)) => {
                if !stage_allows(stage, reply.code) {
                    return Err(self.broken(
                        stage,
                        ErrorKind::UnexpectedReply(reply),
                        "the server sent a reply code its command cannot have",
                    ));
                }
                if reply.code == 421 {
                    self.state = SessionState::Unusable("the server is closing the session (421)");
                }
                Ok(reply)
            }
        }
    }

    async fn read_reply_unbounded(&mut self) -> Result<Reply, ErrorKind> {
        let mut buf = [0u8; 4096];
        loop {
            match self.decoder.next_reply() {
                Ok(Some(reply)) => {
                    log_reply(&reply);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(malformed) => return Err(ErrorKind::Protocol(malformed.to_string())),
            }
            let n = self.stream.read(&mut buf).await.map_err(ErrorKind::Io)?;
            if n == 0 {
                return Err(ErrorKind::Disconnected);
            }
            self.decoder.push(&buf[..n]);
        }
    }

    fn broken(&mut self, stage: Stage, kind: ErrorKind, why: &'static str) -> SmtpError {
        self.state = SessionState::Unusable(why);
        SmtpError::new(stage, kind)
    }

    async fn starttls(&mut self) -> Result<(), SmtpError> {
        let reply = self
            .command(&command::StartTls, Stage::StartTls, self.timeouts.starttls)
            .await?;
        if reply.code != 220 {
            return Err(SmtpError::rejected(Stage::StartTls, "STARTTLS", reply));
        }
        if self.decoder.has_buffered() {
            return Err(self.broken(
                Stage::StartTls,
                ErrorKind::Protocol(
                    "server sent more data after its 220 to STARTTLS, before the TLS handshake \
                     (possible command injection); refusing to continue"
                        .into(),
                ),
                "plaintext was injected before the TLS handshake",
            ));
        }
        self.handshake().await?;
        self.ehlo().await
    }

    async fn handshake(&mut self) -> Result<(), SmtpError> {
        let Some(config) = self.tls_config.clone() else {
            return Err(SmtpError::new(
                Stage::TlsHandshake,
                ErrorKind::Tls("TLS requested but not configured".into()),
            ));
        };
        let name = tls::server_name(&self.host)
            .map_err(|m| SmtpError::new(Stage::TlsHandshake, ErrorKind::Tls(m)))?;
        let Some(tcp) = self.stream.take_plain() else {
            return Err(SmtpError::new(
                Stage::TlsHandshake,
                ErrorKind::Protocol("the session is already encrypted".into()),
            ));
        };
        let limit = self.timeouts.starttls;
        match timeout(limit, TlsConnector::from(config).connect(name, tcp)).await {
            Err(_) => Err(self.broken(
                Stage::TlsHandshake,
                ErrorKind::Timeout(limit),
                "TLS handshake timed out",
            )),
            Ok(Err(e)) => Err(self.broken(
                Stage::TlsHandshake,
                ErrorKind::Tls(format!("{} (server {:?})", e, self.host)),
                "TLS handshake failed",
            )),
            Ok(Ok(tls)) => {
                self.stream = Stream::Tls(Box::new(tls));
                tracing::debug!(
                    target: TRANSCRIPT_TARGET,
                    "TLS established: {}",
                    self.stream.tls_info().unwrap_or_default()
                );
                Ok(())
            }
        }
    }

    /// Best-effort `QUIT` on a path that is already failing.
    async fn quit_quietly(&mut self) {
        if self
            .command(&command::Quit, Stage::Quit, self.timeouts.quit)
            .await
            .is_ok()
        {
            let _ = timeout(self.timeouts.quit, self.stream.shutdown()).await;
        }
    }
}

/// Opens the TCP connection (trying every address the name resolves to) within the connect timeout.
async fn open_tcp(cfg: &ClientConfig) -> Result<TcpStream, SmtpError> {
    let bare_host = cfg
        .host
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let target = format!("{}:{}", cfg.host.trim(), cfg.port);
    let limit = cfg.timeouts.connect;
    let tcp = match timeout(limit, TcpStream::connect((bare_host, cfg.port))).await {
        Err(_) => {
            return Err(
                SmtpError::new(Stage::Connect, ErrorKind::Timeout(limit)).with_detail(target)
            );
        }
        Ok(Err(e)) => {
            return Err(SmtpError::new(Stage::Connect, ErrorKind::Io(e)).with_detail(target));
        }
        Ok(Ok(tcp)) => tcp,
    };
    // Commands are written whole, so Nagle's algorithm would only delay them.
    let _ = tcp.set_nodelay(true);
    tracing::debug!(target: TRANSCRIPT_TARGET, "connected to {target}");
    Ok(tcp)
}

/// An EHLO name must be one token: no spaces or control characters (they would inject commands).
fn check_helo_name(name: &str) -> Result<(), SmtpError> {
    let name = name.trim();
    if name.is_empty()
        || name
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(SmtpError::new(
            Stage::Ehlo,
            ErrorKind::InvalidInput(format!("EHLO name {name:?} is empty or contains spaces")),
        ));
    }
    Ok(())
}

/// Whether `code` is a reply the command of `stage` can have (RFC 5321 §4.2, §4.3.2).
///
/// A reply is three digits, the first 2 to 5 and the second 0 to 5. A `4xx` or `5xx` can
/// answer anything; `3xx` only `DATA` (`354`) and `AUTH` (`334`); `2xx` anything but
/// `DATA`. Anything else means the server and the client are out of step.
fn stage_allows(stage: Stage, code: u16) -> bool {
    let (first, second) = (code / 100, code / 10 % 10);
    if !(2..=5).contains(&first) || second > 5 {
        return false;
    }
    match first {
        2 => stage != Stage::Data,
        3 => matches!(stage, Stage::Data | Stage::Auth),
        _ => true,
    }
}

/// A `421` means the server is closing the session: report it rather than carry on.
fn closing(reply: &Reply, stage: Stage, cmd: &dyn std::fmt::Display) -> Result<(), SmtpError> {
    if reply.code == 421 {
        return Err(SmtpError::rejected(stage, cmd.to_string(), reply.clone()));
    }
    Ok(())
}

fn log_reply(reply: &Reply) {
    let enhanced = reply
        .enhanced
        .map(|(class, subject, detail)| format!("{class}.{subject}.{detail} "))
        .unwrap_or_default();
    let last = reply.lines.len().saturating_sub(1);
    for (i, line) in reply.lines.iter().enumerate() {
        let sep = if i == last { ' ' } else { '-' };
        tracing::debug!(target: TRANSCRIPT_TARGET, "S: {}{sep}{enhanced}{line}", reply.code);
    }
}

/// Refuses addresses that would break the command line (CR, LF, other controls, angle brackets).
fn check_address(address: &str, stage: Stage) -> Result<(), SmtpError> {
    if address
        .chars()
        .any(|c| c.is_control() || c == '<' || c == '>')
    {
        return Err(SmtpError::new(
            stage,
            ErrorKind::InvalidInput(format!(
                "address {address:?} contains a control character or angle bracket"
            )),
        ));
    }
    Ok(())
}

/// This machine's host name if it is a usable domain, else an address literal (RFC 5321 §4.1.3).
fn default_helo_name(local: Option<IpAddr>) -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if valid {
        return host;
    }
    match local {
        Some(IpAddr::V4(v4)) => format!("[{v4}]"),
        Some(IpAddr::V6(v6)) => format!("[IPv6:{v6}]"),
        None => "[127.0.0.1]".to_string(),
    }
}
