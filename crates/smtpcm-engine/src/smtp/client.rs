//! The SMTP session: one method per verb, in the shape of Go's `net/smtp`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

use super::capabilities::{Capabilities, Extension};
use super::command::{self, Command};
use super::config::{ClientConfig, Timeouts};
use super::data::DataWriter;
use super::dsn::Dsn;
use super::envelope::{Envelope, MailParams, SendReport};
use super::error::{ErrorKind, RecipientRejection, SmtpError, Stage};
use super::reply::Reply;
use super::session::{Session, TRANSCRIPT_TARGET};
use super::stream::Stream;
use super::tls;
use crate::security::TlsMode;

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
///
/// Cancel safety: a command future dropped before its reply was read (by a timeout or
/// `select!`) leaves the session poisoned; every later command then fails at once, and
/// [`quit`](Self::quit) only closes the connection.
pub struct Client {
    session: Session,
    host: String,
    helo_name: String,
    greeting: String,
    capabilities: Capabilities,
    tls_config: Option<Arc<rustls::ClientConfig>>,
    peer_is_loopback: bool,
    timeouts: Timeouts,
    disabled: Vec<Extension>,
    dsn: Dsn,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("tls", &self.is_tls())
            .field("usable", &self.session.is_usable())
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
        let tls_config = tls_config_for(cfg)?;
        if let Some(name) = &cfg.helo_name {
            check_helo_name(name)?;
        }
        let tcp = open_tcp(cfg).await?;
        let peer_is_loopback = tcp
            .peer_addr()
            .is_ok_and(|a| crate::security::is_loopback_ip(a.ip()));
        let local = tcp.local_addr().ok().map(|a| a.ip());
        Client::start(Box::new(tcp), cfg, tls_config, peer_is_loopback, local).await
    }

    /// Runs a session over a stream the caller already connected: a `TcpStream` set up
    /// its own way, a UNIX socket, a proxy tunnel, or a test duplex.
    ///
    /// Everything after the connect is as [`connect`](Self::connect): implicit TLS if
    /// `cfg.tls` asks, the `220` greeting, `EHLO`, `STARTTLS` as the mode asks.
    /// `cfg.host` is the name the certificate is checked against; `cfg.port` and the
    /// connect timeout are not used. The peer is not treated as loopback.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use smtpcm_engine::smtp::{Client, ClientConfig, TlsMode};
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// let (ours, mut theirs) = tokio::io::duplex(4096);
    /// let server = tokio::spawn(async move {
    ///     theirs.write_all(b"220 mx ready\r\n").await.unwrap();
    ///     let mut buf = [0u8; 64];
    ///     let n = theirs.read(&mut buf).await.unwrap();
    ///     assert_eq!(&buf[..n], b"EHLO client.test\r\n");
    ///     theirs.write_all(b"250-mx\r\n250 PIPELINING\r\n").await.unwrap();
    /// });
    /// let mut cfg = ClientConfig::new("mx", 25, TlsMode::None);
    /// cfg.helo_name = Some("client.test".into());
    /// let client = Client::from_stream(ours, &cfg).await.unwrap();
    /// assert!(client.capabilities().pipelining);
    /// server.await.unwrap();
    /// # });
    /// ```
    pub async fn from_stream<S>(stream: S, cfg: &ClientConfig) -> Result<Client, SmtpError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let tls_config = tls_config_for(cfg)?;
        if let Some(name) = &cfg.helo_name {
            check_helo_name(name)?;
        }
        Client::start(Box::new(stream), cfg, tls_config, false, None).await
    }

    /// Greets on a connected stream: implicit TLS if the mode asks, the `220`, `EHLO`,
    /// then `STARTTLS` as the mode asks, and `EHLO` again inside TLS.
    async fn start(
        stream: Box<dyn super::stream::Io>,
        cfg: &ClientConfig,
        tls_config: Option<Arc<rustls::ClientConfig>>,
        peer_is_loopback: bool,
        local: Option<IpAddr>,
    ) -> Result<Client, SmtpError> {
        let t = cfg.timeouts;
        let helo_name = match &cfg.helo_name {
            Some(name) => name.trim().to_string(),
            None => default_helo_name(local),
        };
        let mut client = Client {
            session: Session::new(Stream::Plain(stream)),
            host: cfg.host.trim().to_string(),
            helo_name,
            greeting: String::new(),
            capabilities: Capabilities::default(),
            tls_config,
            peer_is_loopback,
            timeouts: t,
            disabled: cfg.disabled_extensions.clone(),
            dsn: cfg.dsn.clone(),
        };
        if cfg.tls == TlsMode::Implicit {
            client.handshake().await?;
        }
        let greeting = client
            .session
            .read_reply(Stage::Greeting, t.greeting)
            .await?;
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
        self.session.stream().is_tls()
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
        self.session.stream().tls_info()
    }

    /// Whether the TLS handshake resumed an earlier session (a ticket or session ID from an
    /// earlier connection to this server), so it skipped the certificate exchange.
    ///
    /// Connections share one TLS configuration per CA set, so a second connection of a
    /// connection manager or a pool resumes when the server allows it.
    pub fn tls_resumed(&self) -> bool {
        self.session.stream().tls_resumed()
    }

    /// Sends `EHLO` and records the capabilities; falls back to `HELO` (no extensions) when the
    /// server answers `500` or `502`.
    pub async fn ehlo(&mut self) -> Result<(), SmtpError> {
        self.session.ensure_usable(Stage::Ehlo)?;
        let name = self.helo_name.clone();
        let ehlo = command::Ehlo(&name);
        let reply = self.command(&ehlo, Stage::Ehlo, self.timeouts.ehlo).await?;
        if reply.code == 250 {
            self.capabilities = Capabilities::from_ehlo(&reply);
            for &extension in &self.disabled {
                if self.capabilities.lines.iter().skip(1).any(|l| {
                    l.split([' ', '='])
                        .next()
                        .is_some_and(|k| k.eq_ignore_ascii_case(extension.keyword()))
                }) {
                    tracing::debug!("not using {extension}: disabled by configuration");
                }
                self.capabilities.disable(extension);
            }
            // EHLO also resets any open transaction (RFC 5321 §4.1.4).
            self.session.set_in_transaction(false);
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
        self.session.set_in_transaction(false);
        Ok(())
    }

    /// Sends `NOOP` (a cheap check that a pooled connection still works).
    pub async fn noop(&mut self) -> Result<(), SmtpError> {
        self.session.ensure_usable(Stage::Noop)?;
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
        self.session.ensure_usable(Stage::Rset)?;
        let reply = self
            .command(&command::Rset, Stage::Rset, self.timeouts.quit)
            .await?;
        if !reply.is_positive() {
            return Err(SmtpError::rejected(Stage::Rset, "RSET", reply));
        }
        self.session.set_in_transaction(false);
        Ok(())
    }

    /// Sends `QUIT` and closes the connection. A connection left unusable (for example by
    /// an abandoned [`DataWriter`]) is closed without sending anything.
    pub async fn quit(mut self) -> Result<(), SmtpError> {
        if !self.session.is_usable() {
            self.session.shutdown(self.timeouts.quit).await;
            return Ok(());
        }
        let reply = self
            .command(&command::Quit, Stage::Quit, self.timeouts.quit)
            .await;
        self.session.shutdown(self.timeouts.quit).await;
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
        self.session.set_in_transaction(true);
        Ok(reply)
    }

    /// Sends `RCPT TO:<to>`; a refusal names the recipient.
    pub async fn rcpt(&mut self, to: &str) -> Result<Reply, SmtpError> {
        self.session.ensure_usable(Stage::Rcpt)?;
        check_address(to, Stage::Rcpt)?;
        let rcpt = command::Rcpt::to(to);
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
    /// DSN parameters (the envelope's, else the configuration's) go on `MAIL` and each
    /// `RCPT` when the server offers DSN, and are left out (logged at debug) when not.
    ///
    /// The SIZE limit is checked first. Returns a writer when at least one recipient was
    /// accepted; if none was, fails with [`ErrorKind::AllRecipientsRejected`] naming each.
    pub async fn begin<'a>(&'a mut self, envelope: &Envelope) -> Result<DataWriter<'a>, SmtpError> {
        let (params, dsn) = self.check_envelope(envelope)?;
        let mut mail = self.mail_command(&envelope.from, &params)?;
        mail.ret = dsn.ret;
        mail.envid = dsn.envid.as_deref();
        let rcpt = |to| command::Rcpt {
            to,
            notify: dsn.notify,
            orcpt: !dsn.is_empty(),
        };
        self.ensure_ready().await?;
        let chunking = self.capabilities.chunking;
        let t = self.timeouts;

        let (mail_reply, rcpt_replies, data_reply) = if self.capabilities.pipelining {
            let session = &mut self.session;
            let mut wire = Vec::new();
            session.queue(&mail, &mut wire);
            for r in &envelope.recipients {
                session.queue(&rcpt(r), &mut wire);
            }
            if !chunking {
                session.queue(&command::Data, &mut wire);
            }
            // One exchange from the write to the last reply: cancelled anywhere in between,
            // the session is poisoned rather than left with replies owed.
            let armed = session.arm();
            session.write(&wire, Stage::Mail, t.mail).await?;
            let mail_reply = session.read_reply(Stage::Mail, t.mail).await?;
            closing(&mail_reply, Stage::Mail, &mail)?;
            let mut rcpt_replies = Vec::with_capacity(envelope.recipients.len());
            for r in &envelope.recipients {
                let reply = session.read_reply(Stage::Rcpt, t.rcpt).await?;
                closing(&reply, Stage::Rcpt, &rcpt(r))?;
                rcpt_replies.push(reply);
            }
            let data_reply = match chunking {
                true => None,
                false => Some(session.read_reply(Stage::Data, t.data_init).await?),
            };
            session.disarm(armed);
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
            self.session.set_in_transaction(true);
            let mut rcpt_replies = Vec::with_capacity(envelope.recipients.len());
            for r in &envelope.recipients {
                let rcpt = rcpt(r);
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
        self.session.set_in_transaction(true);
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
        Ok(DataWriter::new(
            &mut self.session,
            self.timeouts,
            accepted,
            rejected,
            chunking,
        ))
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

    /// Checks an envelope before anything is sent: at least one recipient, every address,
    /// the SIZE limit and extensions (through [`mail_command`](Self::mail_command)), and
    /// the DSN settings. Returns the MAIL parameters and the DSN settings to send (empty
    /// when the server does not offer DSN).
    pub(super) fn check_envelope(
        &self,
        envelope: &Envelope,
    ) -> Result<(MailParams, Dsn), SmtpError> {
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
        self.mail_command(&envelope.from, &params)?;
        for r in &envelope.recipients {
            check_address(r, Stage::Rcpt)?;
        }
        // The common case, no DSN anywhere, costs no clone.
        if envelope.dsn.is_empty() && self.dsn.is_empty() {
            return Ok((params, Dsn::default()));
        }
        let dsn = envelope.dsn.or(&self.dsn);
        dsn.check()
            .map_err(|e| SmtpError::new(Stage::Mail, ErrorKind::InvalidInput(e.to_string())))?;
        let dsn = match (dsn.is_empty(), self.capabilities.dsn) {
            (false, false) => {
                tracing::debug!(
                    "the server does not offer DSN: NOTIFY, RET, ENVID and ORCPT are not sent"
                );
                Dsn::default()
            }
            _ => dsn,
        };
        Ok((params, dsn))
    }

    /// The session core, for the [`Pipeline`](super::Pipeline) that borrows this client.
    pub(super) fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Brings the session to a command boundary with no transaction open (`RSET` if one is).
    pub(super) async fn ready_for_mail(&mut self) -> Result<(), SmtpError> {
        self.ensure_ready().await
    }

    pub(crate) fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Brings the session to a command boundary with no transaction open.
    async fn ensure_ready(&mut self) -> Result<(), SmtpError> {
        self.session.ensure_usable(Stage::Mail)?;
        if self.session.in_transaction() {
            self.rset().await?;
        }
        Ok(())
    }

    pub(super) fn mail_command<'f>(
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
            ret: None,
            envid: None,
        })
    }

    /// Ends a DATA the server opened although the transaction failed (RFC 2920): the server
    /// then rejects the empty message.
    async fn end_unwanted_data(&mut self) -> Result<(), SmtpError> {
        tracing::debug!(target: TRANSCRIPT_TARGET, "C: .");
        let limit = self.timeouts.data_end;
        let armed = self.session.arm();
        self.session.write(b".\r\n", Stage::DataEnd, limit).await?;
        self.session.read_reply(Stage::DataEnd, limit).await?;
        self.session.disarm(armed);
        Ok(())
    }

    /// Sends one command and reads its reply, whatever the code.
    pub(crate) async fn command<C: Command + Sync>(
        &mut self,
        cmd: &C,
        stage: Stage,
        limit: Duration,
    ) -> Result<Reply, SmtpError> {
        self.session.command(cmd, stage, limit).await
    }

    async fn starttls(&mut self) -> Result<(), SmtpError> {
        let reply = self
            .command(&command::StartTls, Stage::StartTls, self.timeouts.starttls)
            .await?;
        if reply.code != 220 {
            return Err(SmtpError::rejected(Stage::StartTls, "STARTTLS", reply));
        }
        if self.session.has_buffered() {
            return Err(self.session.broken(
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
        let limit = self.timeouts.starttls;
        let host = self.host.clone();
        self.session
            .upgrade(async move |plain| {
                match timeout(limit, TlsConnector::from(config).connect(name, plain)).await {
                    Err(_) => Err(SmtpError::new(
                        Stage::TlsHandshake,
                        ErrorKind::Timeout(limit),
                    )),
                    Ok(Err(e)) => Err(SmtpError::new(
                        Stage::TlsHandshake,
                        ErrorKind::Tls(format!("{e} (server {host:?})")),
                    )),
                    Ok(Ok(tls)) => Ok(Stream::Tls(Box::new(tls))),
                }
            })
            .await?;
        tracing::debug!(
            target: TRANSCRIPT_TARGET,
            "TLS established: {}",
            self.tls_info().unwrap_or_default()
        );
        Ok(())
    }

    /// Best-effort `QUIT` on a path that is already failing.
    async fn quit_quietly(&mut self) {
        if self
            .command(&command::Quit, Stage::Quit, self.timeouts.quit)
            .await
            .is_ok()
        {
            self.session.shutdown(self.timeouts.quit).await;
        }
    }
}

/// The TLS settings a session needs, built before connecting (a bad CA file fails early).
fn tls_config_for(cfg: &ClientConfig) -> Result<Option<Arc<rustls::ClientConfig>>, SmtpError> {
    match cfg.tls {
        TlsMode::None => Ok(None),
        _ => tls::client_config(cfg.extra_ca_file.as_deref())
            .map(Some)
            .map_err(|m| SmtpError::new(Stage::TlsHandshake, ErrorKind::Tls(m))),
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

/// A `421` means the server is closing the session: report it rather than carry on.
fn closing(reply: &Reply, stage: Stage, cmd: &dyn std::fmt::Display) -> Result<(), SmtpError> {
    if reply.code == 421 {
        return Err(SmtpError::rejected(stage, cmd.to_string(), reply.clone()));
    }
    Ok(())
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
