//! Many messages over one session without a wait per command: RFC 2920 pipelining
//! across messages, and RFC 3030 `BDAT` chunks back to back.
//!
//! [`Client::begin`](super::Client::begin) pipelines the commands of *one* message, so a
//! message costs two round trips (envelope and `DATA`, then content). A [`Pipeline`] goes
//! further, as RFC 2920 allows:
//!
//! - **DATA** (the server offers PIPELINING): the content of one message, its final dot,
//!   and the next message's `MAIL`, `RCPT`s and `DATA` go out in one write. The content
//!   is the first "command" of the group (RFC 2920 §3.1) and `DATA` is the last, so there
//!   is one round trip per message.
//! - **BDAT** (PIPELINING and CHUNKING): `MAIL`, `RCPT`s and `BDAT <n> LAST` with the
//!   content go out without waiting at all, up to [`PipelineConfig::window`] messages
//!   whose replies are still owed. A message queued behind one whose verdict is not
//!   known yet starts with `RSET`, since a refused BDAT leaves the server's state
//!   indeterminate (RFC 3030 §2).
//! - Neither: each message is sent in lockstep with [`Client::send`](super::Client::send).
//!
//! Replies are matched in order to the message and command they answer, so a refusal at
//! `MAIL`, at any `RCPT`, at `DATA` or after the dot fails that message alone. A session
//! that breaks mid-window (a reset, a timeout, a `421`) settles every message still in
//! flight by what is known of it:
//!
//! - its final reply was read: delivered or refused, as the server said;
//! - its end of data (final dot, or `BDAT LAST` and its bytes) left this host and no reply
//!   came: [`ErrorKind::DeliveryUnknown`], which
//!   [`is_retryable`](SmtpError::is_retryable) refuses, since the server may have it;
//! - anything less: a connection error that `is_retryable` accepts.

use std::collections::VecDeque;
use std::time::Duration;

use super::client::Client;
use super::command;
use super::dsn::Dsn;
use super::encoder::DataEncoder;
use super::envelope::{Envelope, MailParams, SendReport};
use super::error::{ErrorKind, RecipientRejection, SmtpError, Stage};
use super::reply::Reply;
use super::session::TRANSCRIPT_TARGET;

/// Why a session is poisoned while a pipeline has replies owed (a dropped pipeline).
const ABANDONED: &str = "a pipelined batch was abandoned with replies still owed";

/// Bytes queued before they are written even though the window is not full, so a
/// window of large messages does not gather them all in memory first.
const FLUSH_AT: usize = 256 * 1024;

/// Settings for a [`Pipeline`].
///
/// ```
/// use smtpcm_engine::smtp::PipelineConfig;
/// assert!(PipelineConfig::default().window >= 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineConfig {
    /// With BDAT: how many messages may have replies owed before the pipeline waits for
    /// the oldest. `0` is taken as `1`. (With DATA the `354` bounds it to one message.)
    pub window: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig { window: 32 }
    }
}

/// How a [`Pipeline`] sends, from what the server offers (after any extension the
/// configuration disabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineMode {
    /// `BDAT <n> LAST` back to back (PIPELINING and CHUNKING).
    Chunking,
    /// Content, dot and the next envelope in one write (PIPELINING without CHUNKING).
    Data,
    /// One message at a time, each command waiting for its reply.
    Lockstep,
}

/// The outcome of one message submitted to a [`Pipeline`].
#[derive(Debug)]
pub struct Outcome {
    /// The number [`Pipeline::submit`] returned for the message.
    pub id: u64,
    /// The server's verdict, or why there is none.
    pub result: Result<SendReport, SmtpError>,
}

/// What is still owed a reply, in the order the replies will come.
///
/// `Rset` ends a transaction the server may have left open: DATA refused after MAIL was
/// accepted, or (BDAT) one whose verdict is not known when the next message is queued.
// `Rset` is rare; boxing `InFlight` would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
enum Slot {
    Rset,
    Message(InFlight),
}

struct InFlight {
    id: u64,
    from: String,
    params: MailParams,
    recipients: Vec<String>,
    mail: Option<Reply>,
    rcpts: Vec<Reply>,
    /// DATA mode: the reply to `DATA`, once read.
    data: Option<Reply>,
    /// The failure already decided when a `354` came for a transaction that had failed
    /// (its empty message was ended with a dot whose reply is only consumed).
    decided: Option<SmtpError>,
    /// Where the end of data ends in the pipeline's output buffer, once queued.
    end_at: Option<usize>,
    /// The end of data was written whole.
    end_written: bool,
    /// Message bytes (before dot-stuffing) and the BDAT chunk size.
    bytes: u64,
    chunk: usize,
}

impl InFlight {
    /// The stage of the next reply owed and how long to wait for it.
    fn expects(&self, mode: PipelineMode) -> Stage {
        if self.mail.is_none() {
            Stage::Mail
        } else if self.rcpts.len() < self.recipients.len() {
            Stage::Rcpt
        } else if mode == PipelineMode::Data && self.data.is_none() {
            Stage::Data
        } else {
            Stage::DataEnd
        }
    }

    /// The failure of the envelope, once its replies are in: MAIL refused, or every RCPT.
    fn envelope_failure(&mut self) -> Option<SmtpError> {
        let mail = self.mail.as_ref()?;
        if !mail.is_positive() {
            let shown = command::Mail {
                from: &self.from,
                size: self.params.size,
                body_8bit: self.params.body_8bit,
                smtputf8: self.params.smtputf8,
                ret: None,
                envid: None,
            }
            .to_string();
            return Some(SmtpError::rejected(Stage::Mail, shown, mail.clone()));
        }
        if self.rcpts.iter().any(Reply::is_positive) {
            return None;
        }
        let all = self
            .recipients
            .iter()
            .zip(&self.rcpts)
            .map(|(r, reply)| RecipientRejection {
                recipient: r.clone(),
                reply: reply.clone(),
            })
            .collect();
        Some(SmtpError::new(
            Stage::Rcpt,
            ErrorKind::AllRecipientsRejected(all),
        ))
    }

    fn report(self, reply: Reply) -> SendReport {
        let mut accepted = Vec::with_capacity(self.recipients.len());
        let mut rejected = Vec::new();
        for (recipient, r) in self.recipients.into_iter().zip(self.rcpts) {
            if r.is_positive() {
                accepted.push(recipient);
            } else {
                rejected.push(RecipientRejection {
                    recipient,
                    reply: r,
                });
            }
        }
        SendReport {
            accepted,
            rejected,
            reply,
            bytes: self.bytes,
        }
    }
}

/// Sends many messages over one [`Client`] with one round trip per message (DATA) or
/// none (BDAT); see the [module documentation](self) for what is sent when.
///
/// Submit messages with [`submit`](Self::submit), collect the outcomes that are ready
/// with [`outcomes`](Self::outcomes), and end with [`finish`](Self::finish), which waits
/// for every reply still owed. Every submitted message gets exactly one [`Outcome`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use smtpcm_engine::smtp::{Client, ClientConfig, Envelope, PipelineConfig, PipelineMode, TlsMode};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// let (ours, mut theirs) = tokio::io::duplex(4096);
/// let server = tokio::spawn(async move {
///     theirs.write_all(b"220 mx\r\n").await.unwrap();
///     let mut buf = [0u8; 512];
///     let _ = theirs.read(&mut buf).await.unwrap(); // EHLO
///     theirs.write_all(b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n").await.unwrap();
///     let mut got = Vec::new();
///     while !got.ends_with(b"Hi\r\n") {
///         let n = theirs.read(&mut buf).await.unwrap();
///         got.extend_from_slice(&buf[..n]);
///     }
///     // Everything in one write: no wait for the replies to MAIL and RCPT.
///     assert_eq!(got, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 4 LAST\r\nHi\r\n");
///     theirs.write_all(b"250 ok\r\n250 ok\r\n250 queued\r\n").await.unwrap();
/// });
/// let mut cfg = ClientConfig::new("mx", 25, TlsMode::None);
/// cfg.helo_name = Some("client.test".into());
/// let mut client = Client::from_stream(ours, &cfg).await.unwrap();
/// let mut pipeline = client.pipeline(PipelineConfig::default());
/// assert_eq!(pipeline.mode(), PipelineMode::Chunking);
/// let id = pipeline.submit(&Envelope::new("a@x", ["b@x"]), b"Hi\n").await;
/// let outcomes = pipeline.finish().await;
/// assert_eq!(outcomes[0].id, id);
/// assert_eq!(outcomes[0].result.as_ref().unwrap().reply.code, 250);
/// server.await.unwrap();
/// # });
/// ```
pub struct Pipeline<'c> {
    client: &'c mut Client,
    mode: PipelineMode,
    window: usize,
    /// Bytes queued for the next write.
    out: Vec<u8>,
    /// DATA mode: the encoded content (dot-stuffed, final dot included) of the message
    /// whose `354` has not come yet.
    staged: Vec<u8>,
    staged_bytes: u64,
    slots: VecDeque<Slot>,
    messages_in_flight: usize,
    done: Vec<Outcome>,
    next_id: u64,
    started: bool,
    /// The last transaction may be open on the server: DATA refused after MAIL was
    /// accepted, or a refused BDAT.
    needs_rset: bool,
    /// Why the session broke; later messages are not sent.
    broken: Option<SmtpError>,
}

impl std::fmt::Debug for Pipeline<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("mode", &self.mode)
            .field("window", &self.window)
            .field("in_flight", &self.messages_in_flight)
            .field("broken", &self.broken.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A [`Pipeline`] over this session, in the best mode the server offers.
    pub fn pipeline(&mut self, config: PipelineConfig) -> Pipeline<'_> {
        let caps = self.capabilities();
        let mode = match (caps.pipelining, caps.chunking) {
            (true, true) => PipelineMode::Chunking,
            (true, false) => PipelineMode::Data,
            (false, _) => PipelineMode::Lockstep,
        };
        Pipeline {
            client: self,
            mode,
            window: config.window.max(1),
            out: Vec::new(),
            staged: Vec::new(),
            staged_bytes: 0,
            slots: VecDeque::new(),
            messages_in_flight: 0,
            done: Vec::new(),
            next_id: 0,
            started: false,
            needs_rset: false,
            broken: None,
        }
    }

    /// Sends every message of `messages` through a [`Pipeline`] and returns one outcome
    /// per message, in order (the outcome's `id` is the message's index).
    pub async fn send_batch<'m, I>(&mut self, messages: I, config: PipelineConfig) -> Vec<Outcome>
    where
        I: IntoIterator<Item = (&'m Envelope, &'m [u8])>,
    {
        let mut pipeline = self.pipeline(config);
        let mut all = Vec::new();
        for (envelope, content) in messages {
            pipeline.submit(envelope, content).await;
            all.extend(pipeline.outcomes());
        }
        all.extend(pipeline.finish().await);
        all.sort_by_key(|o| o.id);
        all
    }
}

impl Pipeline<'_> {
    /// How this pipeline sends.
    pub fn mode(&self) -> PipelineMode {
        self.mode
    }

    /// Whether the session still works; once it broke, every message submitted is
    /// settled at once as not sent (retryable).
    pub fn is_usable(&self) -> bool {
        self.broken.is_none()
    }

    /// Messages submitted whose outcome is not known yet.
    pub fn in_flight(&self) -> usize {
        self.messages_in_flight
    }

    /// The outcomes settled so far and not yet taken, in the order they were settled.
    pub fn outcomes(&mut self) -> std::vec::Drain<'_, Outcome> {
        self.done.drain(..)
    }

    /// Queues one message (its content as given: line endings are normalised, and dots
    /// stuffed for DATA) and sends what the mode allows; returns the message's id.
    ///
    /// It waits only as the mode needs: in DATA mode for the previous message's `354`,
    /// in BDAT mode when the window is full. An envelope that cannot be sent (no
    /// recipient, a bad address, over the SIZE limit) is settled at once with its error,
    /// and nothing of it is sent.
    pub async fn submit(&mut self, envelope: &Envelope, content: &[u8]) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if let Some(cause) = &self.broken {
            let result = Err(not_sent(Stage::Mail, cause));
            self.done.push(Outcome { id, result });
            return id;
        }
        let (params, dsn) = match self.client.check_envelope(envelope) {
            Ok(checked) => checked,
            Err(e) => {
                self.done.push(Outcome { id, result: Err(e) });
                return id;
            }
        };
        if self.mode == PipelineMode::Lockstep {
            let result = self.client.send(envelope, content).await;
            self.settle_lockstep(id, result);
            return id;
        }
        if let Err(e) = self.start().await {
            self.done.push(Outcome { id, result: Err(e) });
            return id;
        }
        let result = match self.mode {
            PipelineMode::Data => self.submit_data(id, envelope, params, &dsn, content).await,
            _ => self.submit_chunk(id, envelope, params, &dsn, content).await,
        };
        if let Err(cause) = result {
            // The session broke before this message was queued (waiting for the previous
            // one's 354, or for room in the window): it is not sent either.
            let queued = self
                .slots
                .iter()
                .any(|s| matches!(s, Slot::Message(m) if m.id == id));
            let stage = Stage::Mail;
            let unsent = (!queued).then(|| not_sent(stage, &cause));
            self.fail_all(cause);
            if let Some(e) = unsent {
                self.done.push(Outcome { id, result: Err(e) });
            }
        }
        id
    }

    /// Sends what is still queued and waits for every reply owed; returns the outcomes
    /// not yet taken. The client is then at a command boundary, ready for more mail
    /// (unless the session broke, when it can only be quit).
    pub async fn finish(mut self) -> Vec<Outcome> {
        if self.broken.is_none()
            && self.started
            && let Err(cause) = self.drain_all().await
        {
            self.fail_all(cause);
        }
        if self.broken.is_none() && self.started {
            let session = self.client.session_mut();
            session.unpoison(ABANDONED);
            session.set_in_transaction(self.needs_rset);
        }
        std::mem::take(&mut self.done)
    }

    // ---- sending -----------------------------------------------------------------------

    /// Before the first message: close any open transaction, and mark the session as
    /// owing replies until [`finish`](Self::finish).
    async fn start(&mut self) -> Result<(), SmtpError> {
        if !self.started {
            self.client.ready_for_mail().await?;
            self.client.session_mut().poison(ABANDONED);
            self.started = true;
        }
        Ok(())
    }

    async fn submit_data(
        &mut self,
        id: u64,
        envelope: &Envelope,
        params: MailParams,
        dsn: &Dsn,
        content: &[u8],
    ) -> Result<(), SmtpError> {
        // The previous message's content can go only after its 354.
        while self.awaiting_data_reply() {
            self.read_one().await?;
        }
        if std::mem::take(&mut self.needs_rset) {
            self.client
                .session_mut()
                .queue(&command::Rset, &mut self.out);
            self.slots.push_back(Slot::Rset);
        }
        self.queue_envelope(envelope, params, dsn);
        self.client
            .session_mut()
            .queue(&command::Data, &mut self.out);
        self.staged.clear();
        let mut encoder = DataEncoder::dot_stuffing();
        encoder.encode(content, &mut self.staged);
        encoder.finish(&mut self.staged);
        self.staged_bytes = encoder.message_bytes();
        self.push_message(id, envelope, params, 0);
        // The group: the previous content and dot, then this envelope and DATA.
        self.flush().await?;
        self.read_buffered()
    }

    async fn submit_chunk(
        &mut self,
        id: u64,
        envelope: &Envelope,
        params: MailParams,
        dsn: &Dsn,
        content: &[u8],
    ) -> Result<(), SmtpError> {
        while self.messages_in_flight >= self.window {
            self.flush().await?;
            self.read_one().await?;
            self.read_buffered()?;
        }
        // After a refused BDAT the server's state is "indeterminate" until RSET (RFC 3030
        // §2, after RFC 1830): some servers end the transaction, others keep it open and
        // would take the next MAIL as nested, or worse add the next RCPTs to it. A message
        // pipelined behind one whose verdict is not known yet therefore starts with RSET
        // (allowed anywhere in a group, RFC 2920 §3.1); it costs one short reply.
        if std::mem::take(&mut self.needs_rset) || self.messages_in_flight > 0 {
            self.client
                .session_mut()
                .queue(&command::Rset, &mut self.out);
            self.slots.push_back(Slot::Rset);
        }
        self.queue_envelope(envelope, params, dsn);
        self.staged.clear();
        let mut encoder = DataEncoder::line_endings_only();
        encoder.encode(content, &mut self.staged);
        encoder.finish(&mut self.staged);
        let bdat = command::Bdat {
            size: self.staged.len(),
            last: true,
        };
        self.client.session_mut().queue(&bdat, &mut self.out);
        tracing::trace!(target: TRANSCRIPT_TARGET, "C: <{} bytes of message data>", bdat.size);
        self.out.extend_from_slice(&self.staged);
        let bytes = encoder.message_bytes();
        self.push_message(id, envelope, params, bdat.size);
        if let Some(Slot::Message(m)) = self.slots.back_mut() {
            m.bytes = bytes;
            m.end_at = Some(self.out.len());
        }
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        self.read_buffered()
    }

    /// Queues `MAIL` and every `RCPT`, with the DSN parameters in force (as
    /// [`Client::begin`] sends them).
    fn queue_envelope(&mut self, envelope: &Envelope, params: MailParams, dsn: &Dsn) {
        let size = params
            .size
            .filter(|_| self.client.capabilities().size.is_some());
        let mail = command::Mail {
            from: &envelope.from,
            size,
            body_8bit: params.body_8bit,
            smtputf8: params.smtputf8,
            ret: dsn.ret,
            envid: dsn.envid.as_deref(),
        };
        let session = self.client.session_mut();
        session.queue(&mail, &mut self.out);
        for to in &envelope.recipients {
            let rcpt = command::Rcpt {
                to,
                notify: dsn.notify,
                orcpt: !dsn.is_empty(),
            };
            session.queue(&rcpt, &mut self.out);
        }
    }

    fn push_message(&mut self, id: u64, envelope: &Envelope, params: MailParams, chunk: usize) {
        let size = params
            .size
            .filter(|_| self.client.capabilities().size.is_some());
        self.slots.push_back(Slot::Message(InFlight {
            id,
            from: envelope.from.clone(),
            params: MailParams { size, ..params },
            recipients: envelope.recipients.clone(),
            mail: None,
            rcpts: Vec::with_capacity(envelope.recipients.len()),
            data: None,
            decided: None,
            end_at: None,
            end_written: false,
            bytes: 0,
            chunk,
        }));
        self.messages_in_flight += 1;
    }

    /// DATA mode: the newest message still waits for its reply to `DATA`.
    fn awaiting_data_reply(&self) -> bool {
        self.mode == PipelineMode::Data
            && matches!(self.slots.back(), Some(Slot::Message(m)) if m.data.is_none())
    }

    /// Writes everything queued in one write, noting which ends of data left this host.
    async fn flush(&mut self) -> Result<(), SmtpError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let limit = self.client.timeouts().data_block;
        let mut written = 0;
        let result = self
            .client
            .session_mut()
            .write_counted(&self.out, Stage::DataTransfer, limit, &mut written)
            .await;
        for slot in self.slots.iter_mut().rev() {
            let Slot::Message(m) = slot else { continue };
            if let Some(end) = m.end_at.take() {
                m.end_written = end <= written;
            }
        }
        self.out.clear();
        result
    }

    async fn drain_all(&mut self) -> Result<(), SmtpError> {
        while self.awaiting_data_reply() {
            self.read_one().await?;
        }
        self.flush().await?;
        while !self.slots.is_empty() {
            self.read_one().await?;
            self.read_buffered()?;
            // A 354 read meanwhile queued content (only the last message's, in DATA mode).
            self.flush().await?;
        }
        Ok(())
    }

    // ---- replies -----------------------------------------------------------------------

    fn expected(&self) -> Option<(Stage, Duration)> {
        let t = self.client.timeouts();
        let stage = match self.slots.front()? {
            Slot::Rset => Stage::Rset,
            Slot::Message(m) => m.expects(self.mode),
        };
        let limit = match stage {
            Stage::Mail => t.mail,
            Stage::Rcpt => t.rcpt,
            Stage::Data => t.data_init,
            Stage::Rset => t.quit,
            _ => t.data_end,
        };
        Some((stage, limit))
    }

    /// Reads (waiting as long as the stage allows) and applies the next reply owed.
    async fn read_one(&mut self) -> Result<(), SmtpError> {
        let Some((stage, limit)) = self.expected() else {
            return Ok(());
        };
        let reply = self.client.session_mut().read_reply(stage, limit).await?;
        self.apply(stage, reply)
    }

    /// Applies every reply already received whole, without waiting.
    fn read_buffered(&mut self) -> Result<(), SmtpError> {
        while let Some((stage, _)) = self.expected() {
            match self.client.session_mut().buffered_reply(stage)? {
                Some(reply) => self.apply(stage, reply)?,
                None => break,
            }
        }
        Ok(())
    }

    /// Matches `reply` to the command it answers; an error means the session broke.
    fn apply(&mut self, stage: Stage, reply: Reply) -> Result<(), SmtpError> {
        let closing = reply.code == 421;
        let Some(front) = self.slots.front_mut() else {
            return Ok(());
        };
        let m = match front {
            Slot::Rset => {
                self.slots.pop_front();
                if !reply.is_positive() {
                    return Err(SmtpError::rejected(Stage::Rset, "RSET", reply));
                }
                return Ok(());
            }
            Slot::Message(m) => m,
        };
        match stage {
            Stage::Mail | Stage::Rcpt if closing => {
                let shown = if stage == Stage::Mail {
                    "MAIL FROM"
                } else {
                    "RCPT TO"
                };
                let e = SmtpError::rejected(stage, shown, reply);
                let cause = e.duplicate();
                self.settle_front(Err(e));
                return Err(cause);
            }
            Stage::Mail => m.mail = Some(reply),
            Stage::Rcpt => m.rcpts.push(reply),
            Stage::Data => {
                let failure = m.envelope_failure();
                if reply.code == 354 {
                    // RFC 2920 §3.1: a 354 despite failures still needs its (empty)
                    // message ended, and the server then refuses it.
                    match failure {
                        None => {
                            self.out.extend_from_slice(&self.staged);
                            m.bytes = self.staged_bytes;
                        }
                        Some(e) => {
                            self.out.extend_from_slice(b".\r\n");
                            m.decided = Some(e);
                        }
                    }
                    tracing::debug!(target: TRANSCRIPT_TARGET, "C: .");
                    m.end_at = Some(self.out.len());
                    m.data = Some(reply);
                    return Ok(());
                }
                // No 354: the content is not sent. A transaction whose MAIL was accepted
                // stays open on the server until RSET.
                self.needs_rset = m.mail.as_ref().is_some_and(Reply::is_positive);
                let e = failure.unwrap_or_else(|| SmtpError::rejected(Stage::Data, "DATA", reply));
                let cause = closing.then(|| e.duplicate());
                self.settle_front(Err(e));
                return cause.map_or(Ok(()), Err);
            }
            _ => {
                // The reply after the end of data ends the transaction, whatever it says.
                let result = if let Some(e) = m.decided.take() {
                    Err(e)
                } else if let Some(e) = m.envelope_failure() {
                    Err(e)
                } else if reply.is_positive() {
                    Ok(reply)
                } else {
                    let shown = match self.mode {
                        PipelineMode::Chunking => command::Bdat {
                            size: m.chunk,
                            last: true,
                        }
                        .to_string(),
                        _ => "end of data".to_string(),
                    };
                    Err(SmtpError::rejected(Stage::DataEnd, shown, reply))
                };
                let cause = match &result {
                    Err(e) if closing => Some(e.duplicate()),
                    _ => None,
                };
                // A refused BDAT may leave the transaction open (see `submit_chunk`).
                if self.mode == PipelineMode::Chunking && result.is_err() {
                    self.needs_rset = true;
                }
                match result {
                    Ok(reply) => {
                        if let Some(Slot::Message(m)) = self.slots.pop_front() {
                            self.messages_in_flight -= 1;
                            let id = m.id;
                            let result = Ok(m.report(reply));
                            self.done.push(Outcome { id, result });
                        }
                    }
                    Err(e) => self.settle_front(Err(e)),
                }
                return cause.map_or(Ok(()), Err);
            }
        }
        Ok(())
    }

    /// Pops the front message with its outcome.
    fn settle_front(&mut self, result: Result<SendReport, SmtpError>) {
        if let Some(Slot::Message(m)) = self.slots.pop_front() {
            self.messages_in_flight -= 1;
            self.done.push(Outcome { id: m.id, result });
        }
    }

    fn settle_lockstep(&mut self, id: u64, result: Result<SendReport, SmtpError>) {
        if let Err(e) = &result
            && !self.client.session_mut().is_usable()
        {
            self.broken = Some(e.duplicate());
        }
        self.done.push(Outcome { id, result });
    }

    /// The session broke: settles every message in flight by what is known of it, and
    /// refuses the rest of the batch.
    fn fail_all(&mut self, cause: SmtpError) {
        tracing::debug!(
            "pipelined batch stopped with {} message(s) in flight: {cause}",
            self.messages_in_flight
        );
        let mode = self.mode;
        for slot in std::mem::take(&mut self.slots) {
            let Slot::Message(mut m) = slot else { continue };
            let result = if let Some(e) = m.decided.take() {
                Err(e)
            } else if m.end_written {
                Err(SmtpError::new(Stage::DataEnd, ErrorKind::DeliveryUnknown)
                    .with_detail(cause.to_string()))
            } else {
                Err(not_sent(m.expects(mode), &cause))
            };
            self.done.push(Outcome { id: m.id, result });
        }
        self.messages_in_flight = 0;
        self.out.clear();
        let session = self.client.session_mut();
        if session.is_usable() {
            // A refused RSET: the session is out of step with what this batch expects.
            session.poison("a pipelined batch failed");
        }
        self.broken = Some(cause);
    }
}

impl Drop for Pipeline<'_> {
    fn drop(&mut self) {
        if self.messages_in_flight > 0 {
            tracing::debug!(
                "pipelined batch dropped with {} message(s) in flight; the session is closed",
                self.messages_in_flight
            );
        }
    }
}

/// The error of a message the session broke before it was sent whole: a lost connection,
/// which [`SmtpError::is_retryable`] accepts, with the cause as detail.
fn not_sent(stage: Stage, cause: &SmtpError) -> SmtpError {
    SmtpError::new(stage, ErrorKind::Disconnected)
        .with_detail(format!("not sent whole before the session broke: {cause}"))
}
