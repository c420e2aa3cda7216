//! The outbox's errors: one line each, naming the database and what went wrong.

use crate::model::State;

/// Why an outbox operation failed. Nothing committed before the failure is lost; an
/// enqueue that fails committed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The database file is not a database, or is damaged.
    #[error("outbox {db}: the database is corrupt or not an outbox ({detail})")]
    Corrupt {
        /// The database (path or redacted URL).
        db: String,
        /// The engine's message.
        detail: String,
    },
    /// Another process held the database lock for longer than the busy timeout.
    #[error("outbox {db}: the database is locked by another process ({detail})")]
    Locked {
        /// The database.
        db: String,
        /// The engine's message.
        detail: String,
    },
    /// The disk (or the database's size limit) is full.
    #[error("outbox {db}: the disk or database is full ({detail})")]
    Full {
        /// The database.
        db: String,
        /// The engine's message.
        detail: String,
    },
    /// The PostgreSQL server could not be reached or dropped the connection.
    #[error("outbox {db}: cannot reach the PostgreSQL server ({detail})")]
    Unreachable {
        /// The database (URL with any password removed).
        db: String,
        /// The driver's message.
        detail: String,
    },
    /// The schema was written by a newer smtpcm.
    #[error("outbox {db}: schema version {found} is newer than this smtpcm supports ({supported})")]
    SchemaTooNew {
        /// The database.
        db: String,
        /// The version found.
        found: i64,
        /// The newest version known here.
        supported: i64,
    },
    /// No message with this id.
    #[error("outbox: no message with id {0}")]
    NotFound(i64),
    /// The operation does not apply to a message in this state.
    #[error("outbox: message {id} is {state}; {action} applies only to {allowed}")]
    WrongState {
        /// The id.
        id: i64,
        /// Its state.
        state: State,
        /// The operation.
        action: &'static str,
        /// The states it applies to.
        allowed: &'static str,
    },
    /// Reading or writing the rendered message failed.
    #[error("outbox {db}: {context}: {source}")]
    Io {
        /// The database.
        db: String,
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Any other database error.
    #[error("outbox {db}: {detail}")]
    Database {
        /// The database.
        db: String,
        /// The engine's message.
        detail: String,
    },
    /// A bad argument (database name, setting).
    #[error("outbox: {0}")]
    Invalid(String),
}

impl OutboxError {
    /// Whether retrying the same operation later may succeed (a lock, an unreachable server).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            OutboxError::Locked { .. } | OutboxError::Unreachable { .. }
        )
    }

    /// Classify a SQLite error for the database `db`.
    pub(crate) fn sqlite(db: &str, e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        let db = db.to_owned();
        let detail = e.to_string();
        match e.sqlite_error_code() {
            Some(C::NotADatabase | C::DatabaseCorrupt) => OutboxError::Corrupt { db, detail },
            Some(C::DatabaseBusy | C::DatabaseLocked) => OutboxError::Locked { db, detail },
            Some(C::DiskFull) => OutboxError::Full { db, detail },
            _ => OutboxError::Database { db, detail },
        }
    }

    /// Classify a PostgreSQL error for the database `db`.
    pub(crate) fn postgres(db: &str, e: tokio_postgres::Error) -> Self {
        let db = db.to_owned();
        // The driver's Display is terse ("db error"); the server's message is in the source.
        let detail = match e.as_db_error() {
            Some(d) => format!("{}: {}", d.code().code(), d.message()),
            None => {
                let mut s = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(inner) = src {
                    s.push_str(": ");
                    s.push_str(&inner.to_string());
                    src = inner.source();
                }
                s
            }
        };
        if e.is_closed() || e.as_db_error().is_none() && e.code().is_none() {
            return OutboxError::Unreachable { db, detail };
        }
        match e.code().map(|c| c.code()) {
            // disk_full, insufficient_resources, out_of_memory
            Some("53100" | "53000" | "53200") => OutboxError::Full { db, detail },
            // data_corrupted, index_corrupted
            Some("XX001" | "XX002") => OutboxError::Corrupt { db, detail },
            // lock_not_available, deadlock_detected
            Some("55P03" | "40P01") => OutboxError::Locked { db, detail },
            // admin_shutdown, crash_shutdown, cannot_connect_now
            Some("57P01" | "57P02" | "57P03") => OutboxError::Unreachable { db, detail },
            _ => OutboxError::Database { db, detail },
        }
    }
}

/// Shorthand for the outbox's results.
pub type Result<T> = std::result::Result<T, OutboxError>;
