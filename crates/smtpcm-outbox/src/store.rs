//! The storage trait both engines implement, and the rendered-message body.

use std::future::Future;
use std::io::Read;

use crate::error::Result;
use crate::model::{
    Claimed, Completion, Detail, NewMessage, Queued, Settings, State, Status, Summary,
};

/// The size of one stored piece of a rendered message. A message is written and read a
/// chunk at a time, so a 1 GiB attachment never has to fit in memory.
pub const CHUNK_BYTES: usize = 1024 * 1024;

/// A rendered message waiting to be stored: small ones in memory, large ones spooled to
/// an anonymous temporary file first (see [`crate::render`]). It is read a chunk at a time.
pub struct Body {
    reader: Box<dyn Read + Send>,
    len: u64,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Body {
    /// A message held in memory.
    pub fn memory(bytes: Vec<u8>) -> Self {
        Body {
            len: bytes.len() as u64,
            reader: Box::new(std::io::Cursor::new(bytes)),
        }
    }

    /// A message in a file positioned at its start, `len` bytes long.
    pub fn file(file: std::fs::File, len: u64) -> Self {
        Body {
            reader: Box::new(file),
            len,
        }
    }

    /// The message size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next chunk of at most [`CHUNK_BYTES`], or `None` at the end.
    pub fn next_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut buf = Vec::with_capacity(CHUNK_BYTES.min(self.len as usize).max(1));
        (&mut self.reader)
            .take(CHUNK_BYTES as u64)
            .read_to_end(&mut buf)?;
        Ok((!buf.is_empty()).then_some(buf))
    }
}

/// A durable message queue. [`crate::sqlite::SqliteStore`] and
/// [`crate::postgres::PgStore`] implement it; [`crate::Outbox`] picks one from a name.
///
/// Every method commits before it returns `Ok`. Times are milliseconds since the Unix
/// epoch, from the caller's clock.
pub trait Store: Send + Sync + 'static {
    /// The database as shown in messages (a path, or a URL without its password).
    fn name(&self) -> &str;

    /// Store messages and their rendered bodies in one transaction: all or none.
    fn enqueue(
        &self,
        batch: Vec<(NewMessage, Body)>,
        now: i64,
    ) -> impl Future<Output = Result<Vec<Queued>>> + Send;

    /// The outbox's settings.
    fn settings(&self) -> impl Future<Output = Result<Settings>> + Send;

    /// Replace the outbox's settings.
    fn set_settings(&self, settings: Settings) -> impl Future<Output = Result<()>> + Send;

    /// Take over expired leases and expire messages past the maximum age. A message whose
    /// lease expired after its final dot was sent becomes `unknown` (policy hold) or is
    /// queued again (policy resend), counted either way; one that had not reached the
    /// final dot is simply queued again. Returns how many messages changed.
    fn recover(&self, now: i64, settings: Settings) -> impl Future<Output = Result<u64>> + Send;

    /// Claim up to `limit` due messages for `owner` until `lease_until`, in one commit.
    ///
    /// A claimed message of at most `ready_max` bytes (capped at [`CHUNK_BYTES`]) is
    /// claimed *ready*: its dot mark (see [`mark_dot`](Self::mark_dot)) is set in the same
    /// commit and its bytes are returned in [`Claimed::ready`]. A batch of small messages
    /// then costs one durable write before it goes out pipelined, instead of one per
    /// message; the price is that a worker killed while holding the batch leaves all of it
    /// `unknown`, so the batch size bounds what one crash can make unknown. `0` claims
    /// nothing ready.
    fn claim(
        &self,
        owner: &str,
        limit: usize,
        now: i64,
        lease_until: i64,
        ready_max: u64,
    ) -> impl Future<Output = Result<Vec<Claimed>>> + Send;

    /// Extend every lease `owner` holds.
    fn renew(&self, owner: &str, lease_until: i64) -> impl Future<Output = Result<()>> + Send;

    /// Chunk `seq` (0-based) of a message's rendered bytes, or `None` past the end.
    fn chunk(&self, id: i64, seq: i64) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;

    /// Record, durably, that the final dot of message `id` is about to be sent. Returns
    /// false when `owner` no longer holds its lease: the caller must then not send it.
    fn mark_dot(&self, id: i64, owner: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Record the outcome of an attempt. Returns false when `owner` no longer held the lease.
    fn complete(
        &self,
        id: i64,
        owner: &str,
        completion: Completion,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Record the outcomes of several attempts in one commit. Returns how many of them
    /// `owner` still held the lease of (the others are left to whoever holds it).
    fn complete_many(
        &self,
        owner: &str,
        outcomes: Vec<(i64, Completion)>,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Whether any message is still to be delivered (`queued` or `sending`): what
    /// `--until-empty` waits for. Cheaper than [`status`](Self::status), which counts all.
    fn has_pending(&self) -> impl Future<Output = Result<bool>> + Send;

    /// Counts per state, age of the oldest pending message, unknown counters.
    fn status(&self, now: i64) -> impl Future<Output = Result<Status>> + Send;

    /// Messages, oldest first, optionally of one state.
    fn list(
        &self,
        state: Option<State>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Summary>>> + Send;

    /// One message with its recipients.
    fn show(&self, id: i64) -> impl Future<Output = Result<Detail>> + Send;

    /// Apply an operator action (see [`crate::Action`]).
    fn act(
        &self,
        id: i64,
        action: crate::Action,
        now: i64,
    ) -> impl Future<Output = Result<State>> + Send;

    /// Delete finished messages (`sent`, `failed`, `expired`) queued before `before`.
    fn purge(&self, before: i64) -> impl Future<Output = Result<u64>> + Send;
}
