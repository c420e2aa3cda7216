//! The session core that [`Client`](super::Client) and [`DataWriter`](super::DataWriter)
//! share: the byte stream, the reply decoder, and whether the stream is still in step
//! with the server.
//!
//! Both sides speak to the server only through this API. The client adds what a session
//! knows about the server (greeting, capabilities, TLS settings, timeouts); the writer
//! borrows the core alone while a message is being sent.
//!
//! **Cancel safety.** Every write, read and TLS upgrade poisons the session while it is
//! in flight and restores the previous state when it completes. A future dropped between
//! sending a command and reading its reply (a `tokio::time::timeout`, a `select!`) thus
//! leaves the session poisoned: every later command fails at once with a clear error,
//! and the client never reads a stale reply as the answer to a new command.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use super::command::Command;
use super::error::{ErrorKind, SmtpError, Stage};
use super::reply::{Reply, ReplyDecoder};
use super::stream::Stream;

/// The tracing target of the SMTP transcript (commands and replies, at debug level).
pub const TRANSCRIPT_TARGET: &str = "smtpcm::transcript";

/// Why a session is poisoned when an operation on it never completed.
const CANCELLED: &str = "an earlier command was cancelled before its reply was read, \
                         so the session is out of step with the server";

/// Proof that an exchange is in flight; hand it back to [`Session::disarm`].
#[must_use = "an armed session stays poisoned until disarmed"]
pub(crate) struct Armed(Option<&'static str>);

/// The stream, its decoder, and the session's state between commands.
pub(crate) struct Session {
    stream: Stream,
    decoder: ReplyDecoder,
    /// Why nothing more may be sent on the stream (abandoned data, I/O error, timeout,
    /// 421, a cancelled command); `None` while it is in step with the server.
    poisoned: Option<&'static str>,
    /// `MAIL FROM` was accepted and the transaction has not ended: `RSET` before the next `MAIL`.
    in_transaction: bool,
    /// Where the socket's bytes land before the decoder takes them: allocated once, not
    /// a zeroed stack array per read (that memset cost more than parsing the replies).
    read_buf: Box<[u8]>,
}

/// Bytes read from the socket at once: a window of pipelined replies fits.
const READ_BUF: usize = 16 * 1024;

impl Session {
    pub(crate) fn new(stream: Stream) -> Self {
        Session {
            stream,
            decoder: ReplyDecoder::default(),
            poisoned: None,
            in_transaction: false,
            read_buf: vec![0; READ_BUF].into_boxed_slice(),
        }
    }

    pub(crate) fn stream(&self) -> &Stream {
        &self.stream
    }

    /// Fails at once if the stream can no longer carry commands.
    pub(crate) fn ensure_usable(&self, stage: Stage) -> Result<(), SmtpError> {
        match self.poisoned {
            Some(reason) => Err(SmtpError::new(
                stage,
                ErrorKind::Protocol(format!("connection cannot be used: {reason}")),
            )),
            None => Ok(()),
        }
    }

    pub(crate) fn is_usable(&self) -> bool {
        self.poisoned.is_none()
    }

    /// Marks the stream as out of step for `why` (until [`clear_poison`](Self::clear_poison)).
    pub(crate) fn poison(&mut self, why: &'static str) {
        self.poisoned = Some(why);
    }

    /// The stream is in step again (a message ended with the server's verdict).
    pub(crate) fn clear_poison(&mut self) {
        self.poisoned = None;
    }

    /// Clears a poison set for `why` alone (a pipelined batch that ended in step).
    pub(crate) fn unpoison(&mut self, why: &'static str) {
        if self.poisoned == Some(why) {
            self.poisoned = None;
        }
    }

    pub(crate) fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    pub(crate) fn set_in_transaction(&mut self, open: bool) {
        self.in_transaction = open;
    }

    /// Whether bytes beyond the last complete reply are waiting.
    pub(crate) fn has_buffered(&self) -> bool {
        self.decoder.has_buffered()
    }

    /// Encodes a command into `wire` and logs it (redacted) for the transcript.
    pub(crate) fn queue<C: Command + ?Sized>(&self, cmd: &C, wire: &mut Vec<u8>) {
        tracing::debug!(target: TRANSCRIPT_TARGET, "C: {cmd}");
        cmd.encode(wire);
    }

    /// Marks the session as mid-exchange until [`disarm`](Self::disarm): a future dropped
    /// in between leaves it poisoned. Exchanges nest (a pipelined batch of commands
    /// around each write and read).
    pub(crate) fn arm(&mut self) -> Armed {
        Armed(self.poisoned.replace(CANCELLED))
    }

    /// Ends an exchange begun by [`arm`](Self::arm). A poison set meanwhile for another
    /// reason (an I/O error, a `421`) stays.
    pub(crate) fn disarm(&mut self, armed: Armed) {
        if self.poisoned == Some(CANCELLED) {
            self.poisoned = armed.0;
        }
    }

    /// Sends one command and reads its reply, whatever the code.
    pub(crate) async fn command<C: Command + Sync + ?Sized>(
        &mut self,
        cmd: &C,
        stage: Stage,
        limit: Duration,
    ) -> Result<Reply, SmtpError> {
        self.ensure_usable(stage)?;
        let mut wire = Vec::new();
        self.queue(cmd, &mut wire);
        // Armed from the first byte written to the reply read: dropped in between, the
        // session stays poisoned.
        let armed = self.arm();
        self.write(&wire, stage, limit).await?;
        let reply = self.read_reply(stage, limit).await?;
        self.disarm(armed);
        Ok(reply)
    }

    /// Writes and flushes `bytes` within `limit`; any failure leaves the session unusable.
    pub(crate) async fn write(
        &mut self,
        bytes: &[u8],
        stage: Stage,
        limit: Duration,
    ) -> Result<(), SmtpError> {
        let armed = self.arm();
        self.write_unguarded(bytes, stage, limit).await?;
        self.disarm(armed);
        Ok(())
    }

    /// Reads the next complete reply within `limit`.
    ///
    /// A code the stage cannot have is [`ErrorKind::UnexpectedReply`], and a `421`
    /// poisons the session (the server is closing it).
    pub(crate) async fn read_reply(
        &mut self,
        stage: Stage,
        limit: Duration,
    ) -> Result<Reply, SmtpError> {
        let armed = self.arm();
        let reply = self.read_unguarded(stage, limit).await?;
        // A 421 poisoned the session for its own reason, which disarming keeps.
        self.disarm(armed);
        Ok(reply)
    }

    /// Writes and flushes `bytes` within `limit`, counting in `written` how many bytes the
    /// stream took even when the write then fails: a pipelined batch needs to know which
    /// messages' end markers left this host before the connection broke.
    pub(crate) async fn write_counted(
        &mut self,
        bytes: &[u8],
        stage: Stage,
        limit: Duration,
        written: &mut usize,
    ) -> Result<(), SmtpError> {
        let armed = self.arm();
        let stream = &mut self.stream;
        let result = timeout(limit, async {
            while *written < bytes.len() {
                match stream.write(&bytes[*written..]).await? {
                    0 => return Err(std::io::ErrorKind::WriteZero.into()),
                    n => *written += n,
                }
            }
            stream.flush().await
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.broken(stage, ErrorKind::Io(e), "a write failed")),
            Err(_) => {
                return Err(self.broken(stage, ErrorKind::Timeout(limit), "a write timed out"));
            }
        }
        self.disarm(armed);
        Ok(())
    }

    /// The next reply if it has already been received whole, without any I/O; checked and
    /// logged as [`read_reply`](Self::read_reply) does.
    pub(crate) fn buffered_reply(&mut self, stage: Stage) -> Result<Option<Reply>, SmtpError> {
        match self.decoder.next_reply() {
            Ok(None) => Ok(None),
            Ok(Some(reply)) => self.check_reply(stage, Ok(Ok(reply))).map(Some),
            Err(malformed) => {
                let kind = ErrorKind::Protocol(malformed.to_string());
                self.check_reply(stage, Ok(Err(kind))).map(Some)
            }
        }
    }

    async fn write_unguarded(
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

    async fn read_unguarded(&mut self, stage: Stage, limit: Duration) -> Result<Reply, SmtpError> {
        let read = timeout(limit, self.read_reply_unbounded()).await;
        let read = read.map_err(|_| limit);
        self.check_reply(stage, read)
    }

    /// Logs a reply and refuses a failed read or a code the stage cannot have (poisoning
    /// the session); a `421` poisons it too, but is returned as a reply.
    fn check_reply(
        &mut self,
        stage: Stage,
        read: Result<Result<Reply, ErrorKind>, Duration>,
    ) -> Result<Reply, SmtpError> {
        let reply = self.check_read(stage, read)?;
        if reply.code == 421 {
            self.poisoned = Some("the server is closing the session (421)");
        }
        Ok(reply)
    }

    fn check_read(
        &mut self,
        stage: Stage,
        read: Result<Result<Reply, ErrorKind>, Duration>,
    ) -> Result<Reply, SmtpError> {
        if let Ok(Ok(reply)) = &read {
            log_reply(reply, stage);
        }
        match read {
            Err(limit) => Err(self.broken(stage, ErrorKind::Timeout(limit), "a reply timed out")),
            Ok(Err(kind)) => Err(self.broken(stage, kind, "the reply could not be read")),
            Ok(Ok(reply)) if !stage_allows(stage, reply.code) => Err(self.broken(
                stage,
                ErrorKind::UnexpectedReply(reply),
                "the server sent a reply code its command cannot have",
            )),
            Ok(Ok(reply)) => Ok(reply),
        }
    }

    async fn read_reply_unbounded(&mut self) -> Result<Reply, ErrorKind> {
        loop {
            match self.decoder.next_reply() {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(malformed) => return Err(ErrorKind::Protocol(malformed.to_string())),
            }
            let n = self
                .stream
                .read(&mut self.read_buf)
                .await
                .map_err(ErrorKind::Io)?;
            if n == 0 {
                return Err(ErrorKind::Disconnected);
            }
            self.decoder.push(&self.read_buf[..n]);
        }
    }

    /// Poisons the session for `why` and returns the error of `kind` at `stage`.
    pub(crate) fn broken(&mut self, stage: Stage, kind: ErrorKind, why: &'static str) -> SmtpError {
        self.poisoned = Some(why);
        SmtpError::new(stage, kind)
    }

    /// Replaces the plain stream by what `upgrade` makes of it (the TLS handshake).
    ///
    /// The session is poisoned while the upgrade runs, so dropping it half-way leaves a
    /// session that refuses commands rather than one whose stream is gone.
    pub(crate) async fn upgrade<F, Fut>(&mut self, upgrade: F) -> Result<(), SmtpError>
    where
        F: FnOnce(Box<dyn super::stream::Io>) -> Fut,
        Fut: Future<Output = Result<Stream, SmtpError>>,
    {
        let Some(plain) = self.stream.take_plain() else {
            return Err(SmtpError::new(
                Stage::TlsHandshake,
                ErrorKind::Protocol("the session is already encrypted".into()),
            ));
        };
        let armed = self.arm();
        match upgrade(plain).await {
            Ok(stream) => {
                self.stream = stream;
                self.disarm(armed);
                Ok(())
            }
            Err(e) => {
                self.poisoned = Some("the TLS handshake failed");
                Err(e)
            }
        }
    }

    /// Closes the stream (TLS close_notify, then FIN) within `limit`, ignoring errors.
    pub(crate) async fn shutdown(&mut self, limit: Duration) {
        let _ = timeout(limit, self.stream.shutdown()).await;
    }
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

/// Logs a reply to the transcript. The text of a failed `AUTH` is withheld: careless servers
/// echo the credentials they refused (the driver redacts the same text in the error it returns).
fn log_reply(reply: &Reply, stage: Stage) {
    let enhanced = reply
        .enhanced
        .map(|(class, subject, detail)| format!("{class}.{subject}.{detail} "))
        .unwrap_or_default();
    if stage == Stage::Auth && !matches!(reply.code, 235 | 334) {
        tracing::debug!(
            target: TRANSCRIPT_TARGET,
            "S: {} {enhanced}[text withheld: a failed AUTH reply may echo credentials]",
            reply.code
        );
        return;
    }
    let last = reply.lines.len().saturating_sub(1);
    for (i, line) in reply.lines.iter().enumerate() {
        let sep = if i == last { ' ' } else { '-' };
        let line = super::reply::escape_controls(line);
        tracing::debug!(target: TRANSCRIPT_TARGET, "S: {}{sep}{enhanced}{line}", reply.code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_allows_only_codes_the_command_can_have() {
        assert!(stage_allows(Stage::Data, 354));
        assert!(!stage_allows(Stage::Data, 250));
        assert!(!stage_allows(Stage::DataEnd, 354));
        assert!(stage_allows(Stage::Auth, 334) && stage_allows(Stage::Auth, 235));
        assert!(!stage_allows(Stage::Mail, 334));
        for code in [100, 199, 600, 999, 260, 190] {
            assert!(!stage_allows(Stage::Rcpt, code), "{code}");
        }
        for code in [250, 251, 421, 450, 550, 554] {
            assert!(stage_allows(Stage::Rcpt, code), "{code}");
        }
    }
}
