//! The streaming message writer returned by [`Client::begin`](super::Client::begin).
//!
//! Bytes written are encoded (CRLF, dot-stuffing for DATA) into a block buffer.
//! When a block is full it is sent by a future that borrows the session core and hands
//! it back when done; while that future runs, writes return `Pending`, which is
//! the backpressure. Each block has its own timeout (`Timeouts::data_block`), so a
//! large message is never cut off by a whole-message deadline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;

use super::command;
use super::config::Timeouts;
use super::encoder::DataEncoder;
use super::envelope::SendReport;
use super::error::{ErrorKind, RecipientRejection, SmtpError, Stage};
use super::reply::Reply;
use super::session::{Session, TRANSCRIPT_TARGET};

/// Bytes gathered before a block (or BDAT chunk) is sent.
const BLOCK_SIZE: usize = 64 * 1024;

type BlockFuture<'a> =
    Pin<Box<dyn Future<Output = (&'a mut Session, Vec<u8>, Result<(), SmtpError>)> + Send + 'a>>;

enum State<'a> {
    /// No block in flight; the session is ours to use.
    Idle(&'a mut Session),
    /// A block is being sent; the future holds the session until it completes.
    Busy(BlockFuture<'a>),
    /// Only between taking the session out of `Idle` and putting it into `Busy`.
    Moving,
}

/// Writes the message content of one transaction (see [`Client::begin`](super::Client::begin)).
///
/// It implements [`AsyncWrite`]: line endings are normalised to CRLF and, for DATA,
/// leading dots are doubled; with CHUNKING the content goes in BDAT chunks.
/// Call [`finish`](Self::finish) to end the message and get the server's verdict.
///
/// Dropping the writer without `finish` never completes the message: the end-of-data
/// marker is not sent, and the client refuses further commands (it can only be quit,
/// which then just closes the connection).
pub struct DataWriter<'a> {
    state: State<'a>,
    timeouts: Timeouts,
    encoder: DataEncoder,
    block: Vec<u8>,
    chunked: bool,
    accepted: Vec<String>,
    rejected: Vec<RecipientRejection>,
    error: Option<SmtpError>,
}

impl std::fmt::Debug for DataWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataWriter")
            .field("chunked", &self.chunked)
            .field("accepted", &self.accepted)
            .field("rejected", &self.rejected)
            .field("message_bytes", &self.encoder.message_bytes())
            .finish_non_exhaustive()
    }
}

impl<'a> DataWriter<'a> {
    pub(crate) fn new(
        session: &'a mut Session,
        timeouts: Timeouts,
        accepted: Vec<String>,
        rejected: Vec<RecipientRejection>,
        chunked: bool,
    ) -> Self {
        // Until the final reply is read, the stream is mid-message.
        session.poison("a message transfer was abandoned before its end");
        DataWriter {
            state: State::Idle(session),
            timeouts,
            encoder: if chunked {
                DataEncoder::line_endings_only()
            } else {
                DataEncoder::dot_stuffing()
            },
            // Grown on demand, up to 2 * BLOCK_SIZE for a large message. Reserving that up
            // front cost a batch of small messages 128 KiB per message, which the allocator
            // handed back to the kernel and faulted in again every time.
            block: Vec::new(),
            chunked,
            accepted,
            rejected,
            error: None,
        }
    }

    /// Recipients the server accepted.
    pub fn accepted(&self) -> &[String] {
        &self.accepted
    }

    /// Recipients the server refused, each with its reply.
    pub fn rejected(&self) -> &[RecipientRejection] {
        &self.rejected
    }

    /// Ends the message (`CRLF.CRLF`, or `BDAT <n> LAST`) and reads the server's reply.
    ///
    /// If the connection drops or times out after the end was sent and before the reply,
    /// the error is [`ErrorKind::DeliveryUnknown`]: the message may have been accepted.
    pub async fn finish(mut self) -> Result<SendReport, SmtpError> {
        std::future::poll_fn(|cx| self.poll_block(cx)).await;
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let State::Idle(session) = std::mem::replace(&mut self.state, State::Moving) else {
            return Err(internal_error());
        };
        self.encoder.finish(&mut self.block);
        let reply = end_message(session, self.timeouts, &self.block, self.chunked).await?;
        if !reply.is_positive() {
            let shown = if self.chunked {
                command::Bdat {
                    size: self.block.len(),
                    last: true,
                }
                .to_string()
            } else {
                "end of data".to_string()
            };
            return Err(SmtpError::rejected(Stage::DataEnd, shown, reply));
        }
        Ok(SendReport {
            accepted: self.accepted,
            rejected: self.rejected,
            reply,
            bytes: self.encoder.message_bytes(),
        })
    }

    /// The typed error behind a failed write, if any (the `io::Error` carries a copy).
    pub fn take_error(&mut self) -> Option<SmtpError> {
        self.error.take()
    }

    /// Drives a block in flight to completion; `Ready` when the session is idle again.
    fn poll_block(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let State::Busy(future) = &mut self.state else {
            return Poll::Ready(());
        };
        let (session, mut buffer, result) = ready!(future.as_mut().poll(cx));
        self.state = State::Idle(session);
        buffer.clear();
        // Reuse the allocation: nothing was encoded while the block was in flight.
        if self.block.is_empty() {
            self.block = buffer;
        }
        if let Err(e) = result {
            self.error = Some(e);
        }
        Poll::Ready(())
    }

    fn start_block(&mut self) {
        let State::Idle(session) = std::mem::replace(&mut self.state, State::Moving) else {
            return;
        };
        let block = std::mem::take(&mut self.block);
        let chunked = self.chunked;
        let limit = self.timeouts.data_block;
        self.state = State::Busy(Box::pin(async move {
            let result = send_block(session, limit, &block, chunked).await;
            (session, block, result)
        }));
    }

    /// Fails once a block has failed. The `io::Error` carries a copy of the typed error
    /// ([`SmtpError::from_io_error`]), and the writer keeps the original for
    /// [`take_error`](Self::take_error) and [`finish`](Self::finish).
    fn check(&self) -> io::Result<()> {
        match (&self.error, &self.state) {
            (Some(e), _) => Err(e.to_io_error()),
            (None, State::Moving) => Err(internal_error().to_io_error()),
            _ => Ok(()),
        }
    }

    /// Sends whatever is complete: every buffered byte for DATA, whole chunks for BDAT
    /// (the tail of a BDAT message goes with `BDAT LAST`, so flushing does not cause
    /// small chunks and extra round trips).
    fn poll_send_complete(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_block(cx));
            self.check()?;
            let due = if self.chunked {
                self.block.len() >= BLOCK_SIZE
            } else {
                !self.block.is_empty()
            };
            if !due {
                return Poll::Ready(Ok(()));
            }
            self.start_block();
        }
    }
}

impl AsyncWrite for DataWriter<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            ready!(this.poll_block(cx));
            this.check()?;
            if this.block.len() >= BLOCK_SIZE {
                this.start_block();
                continue;
            }
            // Encoding at most doubles the input, so the block stays under 2 * BLOCK_SIZE.
            let take = buf.len().min(BLOCK_SIZE - this.block.len());
            this.encoder.encode(&buf[..take], &mut this.block);
            return Poll::Ready(Ok(take));
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_send_complete(cx)
    }

    /// Flushes like `poll_flush`; it does not end the message (use [`DataWriter::finish`]).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_send_complete(cx)
    }
}

/// Sends one DATA block, or one BDAT chunk and its reply, within the per-block timeout.
async fn send_block(
    session: &mut Session,
    limit: std::time::Duration,
    block: &[u8],
    chunked: bool,
) -> Result<(), SmtpError> {
    tracing::trace!(target: TRANSCRIPT_TARGET, "C: <{} bytes of message data>", block.len());
    if !chunked {
        return session.write(block, Stage::DataTransfer, limit).await;
    }
    let bdat = command::Bdat {
        size: block.len(),
        last: false,
    };
    let mut wire = Vec::with_capacity(block.len() + 16);
    session.queue(&bdat, &mut wire);
    wire.extend_from_slice(block);
    let armed = session.arm();
    session.write(&wire, Stage::DataTransfer, limit).await?;
    let reply = session.read_reply(Stage::DataTransfer, limit).await?;
    session.disarm(armed);
    if !reply.is_positive() {
        return Err(SmtpError::rejected(
            Stage::DataTransfer,
            bdat.to_string(),
            reply,
        ));
    }
    Ok(())
}

/// Sends the last bytes and the end marker, then reads the verdict.
///
/// A failed write means the end marker did not fully leave this host, so the server
/// cannot have accepted the message. Once it has, a lost or silent connection leaves
/// the outcome unknown.
async fn end_message(
    session: &mut Session,
    t: Timeouts,
    tail: &[u8],
    chunked: bool,
) -> Result<Reply, SmtpError> {
    let mut wire = Vec::with_capacity(tail.len() + 16);
    if chunked {
        session.queue(
            &command::Bdat {
                size: tail.len(),
                last: true,
            },
            &mut wire,
        );
    } else {
        tracing::debug!(target: TRANSCRIPT_TARGET, "C: .");
    }
    wire.extend_from_slice(tail);
    session.write(&wire, Stage::DataEnd, t.data_block).await?;
    match session.read_reply(Stage::DataEnd, t.data_end).await {
        Ok(reply) => {
            // The verdict puts the stream back in step, unless the server is closing (421).
            if reply.code != 421 {
                session.clear_poison();
                session.set_in_transaction(false);
            }
            Ok(reply)
        }
        // A well-formed reply with an impossible code (a 354 after the dot) is the server
        // breaking the protocol, reported as such rather than as a lost connection.
        Err(e) if matches!(e.kind(), ErrorKind::UnexpectedReply(_)) => Err(e),
        Err(e) => Err(
            SmtpError::new(Stage::DataEnd, ErrorKind::DeliveryUnknown).with_detail(
                match e.kind() {
                    ErrorKind::Timeout(_) | ErrorKind::Disconnected | ErrorKind::Io(_) => {
                        e.to_string()
                    }
                    _ => format!("unreadable reply: {e}"),
                },
            ),
        ),
    }
}

fn internal_error() -> SmtpError {
    SmtpError::new(
        Stage::DataTransfer,
        ErrorKind::Protocol("message writer used after a failure".into()),
    )
}
