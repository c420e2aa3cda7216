//! # smtpcm-outbox
//!
//! A durable outbox: a message handed to [`Outbox::enqueue`] is committed (rendered
//! bytes, attachments included, envelope and a stable `Message-ID`) before the call
//! returns, and workers ([`worker::run`]) deliver it later, retrying what the engine's
//! one predicate says may be retried.
//!
//! Two engines implement [`Store`]: SQLite ([`sqlite::SqliteStore`], a file, WAL and
//! `synchronous=FULL`) for one machine, and PostgreSQL ([`postgres::PgStore`]) for many
//! workers on many machines sharing one queue (`FOR UPDATE SKIP LOCKED` and leases).
//!
//! ```no_run
//! # async fn demo(message: smtpcm_engine::mime::PreparedMessage) -> smtpcm_outbox::Result<()> {
//! use smtpcm_outbox::{Outbox, Store};
//! let outbox = Outbox::open("/var/lib/app/outbox.sqlite", true).await?;
//! let queued = outbox.enqueue_prepared(&message, "SmtpServer=relay;").await?;
//! println!("queued {} {}", queued.id, queued.message_id);
//! # Ok(()) }
//! ```

pub mod error;
pub mod model;
pub mod outcome;
pub mod postgres;
pub mod render;
pub mod sqlite;
pub mod store;
pub mod worker;

pub use error::{OutboxError, Result};
pub use model::{
    Action, Claimed, Completion, Detail, NewMessage, Queued, Recipient, RecipientState, Settings,
    State, Status, Summary, UnknownPolicy, now_ms,
};
pub use store::{Body, CHUNK_BYTES, Store};

use smtpcm_engine::mime::PreparedMessage;

/// Whether `db` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// An outbox in either engine, chosen by its name: a `postgres://` (or `postgresql://`)
/// URL, or a SQLite file path.
pub enum Outbox {
    /// A SQLite file.
    Sqlite(sqlite::SqliteStore),
    /// A PostgreSQL database.
    Postgres(postgres::PgStore),
}

impl Outbox {
    /// Open the outbox `db`. A SQLite file is created when `create` is set (with its
    /// directory); otherwise a missing file is an error. Migrations are applied.
    pub async fn open(db: &str, create: bool) -> Result<Self> {
        if is_postgres_url(db) {
            Ok(Outbox::Postgres(postgres::PgStore::open(db).await?))
        } else {
            let path = std::path::PathBuf::from(db);
            let store =
                tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(&path, create))
                    .await
                    .map_err(|e| OutboxError::Invalid(format!("opening the outbox: {e}")))??;
            Ok(Outbox::Sqlite(store))
        }
    }

    /// Render `message` and commit it, to be delivered through `route`. When this returns
    /// `Ok`, the message is durable.
    pub async fn enqueue_prepared(&self, message: &PreparedMessage, route: &str) -> Result<Queued> {
        let item = render::render(message, route).await?;
        let mut q = self.enqueue(vec![item], now_ms()).await?;
        q.pop()
            .ok_or_else(|| OutboxError::Invalid("enqueue returned nothing".into()))
    }
}

macro_rules! both {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Outbox::Sqlite($s) => $e,
            Outbox::Postgres($s) => $e,
        }
    };
}

impl Store for Outbox {
    fn name(&self) -> &str {
        both!(self, s => s.name())
    }
    async fn enqueue(&self, batch: Vec<(NewMessage, Body)>, now: i64) -> Result<Vec<Queued>> {
        both!(self, s => s.enqueue(batch, now).await)
    }
    async fn settings(&self) -> Result<Settings> {
        both!(self, s => s.settings().await)
    }
    async fn set_settings(&self, settings: Settings) -> Result<()> {
        both!(self, s => s.set_settings(settings).await)
    }
    async fn recover(&self, now: i64, settings: Settings) -> Result<u64> {
        both!(self, s => s.recover(now, settings).await)
    }
    async fn claim(
        &self,
        owner: &str,
        limit: usize,
        now: i64,
        until: i64,
        ready_max: u64,
    ) -> Result<Vec<Claimed>> {
        both!(self, s => s.claim(owner, limit, now, until, ready_max).await)
    }
    async fn renew(&self, owner: &str, until: i64) -> Result<()> {
        both!(self, s => s.renew(owner, until).await)
    }
    async fn chunk(&self, id: i64, seq: i64) -> Result<Option<Vec<u8>>> {
        both!(self, s => s.chunk(id, seq).await)
    }
    async fn mark_dot(&self, id: i64, owner: &str) -> Result<bool> {
        both!(self, s => s.mark_dot(id, owner).await)
    }
    async fn complete(&self, id: i64, owner: &str, c: Completion) -> Result<bool> {
        both!(self, s => s.complete(id, owner, c).await)
    }
    async fn complete_many(&self, owner: &str, outcomes: Vec<(i64, Completion)>) -> Result<u64> {
        both!(self, s => s.complete_many(owner, outcomes).await)
    }
    async fn has_pending(&self) -> Result<bool> {
        both!(self, s => s.has_pending().await)
    }
    async fn status(&self, now: i64) -> Result<Status> {
        both!(self, s => s.status(now).await)
    }
    async fn list(&self, state: Option<State>, limit: usize) -> Result<Vec<Summary>> {
        both!(self, s => s.list(state, limit).await)
    }
    async fn show(&self, id: i64) -> Result<Detail> {
        both!(self, s => s.show(id).await)
    }
    async fn act(&self, id: i64, action: Action, now: i64) -> Result<State> {
        both!(self, s => s.act(id, action, now).await)
    }
    async fn purge(&self, before: i64) -> Result<u64> {
        both!(self, s => s.purge(before).await)
    }
}
