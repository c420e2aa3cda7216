//! Group commit for the SQLite engine: many small writes share one transaction, so one fsync.

use std::any::Any;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{OutboxError, Result};

/// The statements of one [`Job`], and what they return (downcast by [`SqliteStore::grouped`](super::SqliteStore::grouped)).
pub(super) type JobFn =
    Box<dyn FnOnce(&Connection) -> rusqlite::Result<Box<dyn Any + Send>> + Send>;

/// One small write (a claim, a dot mark, outcomes) for the group-commit writer: run inside
/// the writer's transaction; its result is sent only once that transaction is committed.
pub(super) struct Job {
    pub(super) run: JobFn,
    pub(super) reply: tokio::sync::oneshot::Sender<Result<Box<dyn Any + Send>>>,
}

/// Group commit: with `synchronous=FULL`, each commit costs an fsync, and the workers'
/// writes (claims, dot marks, outcomes) would each pay one. A thread takes every write
/// waiting at that moment and commits them in one transaction, then answers each caller.
/// A caller still hears back only after its write is durable; under load, many writes
/// share one fsync. If one write fails, the group is rolled back and every caller told.
pub(super) struct GroupWriter;

impl GroupWriter {
    /// The most writes one commit takes.
    const MAX_BATCH: usize = 256;

    pub(super) fn spawn(
        name: String,
        conn: Arc<Mutex<Connection>>,
    ) -> std::sync::mpsc::Sender<Job> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("outbox-sqlite-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut jobs = vec![first];
                    while jobs.len() < Self::MAX_BATCH {
                        match rx.try_recv() {
                            Ok(j) => jobs.push(j),
                            Err(_) => break,
                        }
                    }
                    Self::commit(&name, &conn, jobs);
                }
            })
            .map(|_| tx)
            .unwrap_or_else(|e| {
                // Without the thread, every job's reply channel closes and the caller
                // gets an error; nothing is written in a wrong order.
                tracing::error!("cannot start the outbox writer thread: {e}");
                std::sync::mpsc::channel().0
            })
    }

    fn commit(name: &str, conn: &Mutex<Connection>, jobs: Vec<Job>) {
        let Ok(mut conn) = conn.lock() else {
            for j in jobs {
                let _ = j.reply.send(Err(OutboxError::Invalid(
                    "outbox connection poisoned".into(),
                )));
            }
            return;
        };
        let err = |e| OutboxError::sqlite(name, e);
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                let e = err(e);
                for j in jobs {
                    let _ = j.reply.send(Err(clone_error(&e)));
                }
                return;
            }
        };
        // No savepoint per job: the jobs are updates that fail only when the database
        // does (full, corrupt, I/O), and a savepoint copied every page a job touched. So
        // the first failure rolls the whole group back and every caller hears of it:
        // nothing of the group is committed, and nobody is told otherwise.
        let mut results = Vec::with_capacity(jobs.len());
        let mut replies = Vec::with_capacity(jobs.len());
        let mut failed = None;
        for j in jobs {
            if failed.is_none() {
                match (j.run)(&tx) {
                    Ok(v) => results.push(v),
                    Err(e) => failed = Some(err(e)),
                }
            }
            replies.push(j.reply);
        }
        let outcome = match failed {
            Some(e) => {
                drop(tx); // rolls back
                Err(e)
            }
            None => tx.commit().map_err(err),
        };
        match outcome {
            Ok(()) => {
                for (reply, r) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(r));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(clone_error(&e)));
                }
            }
        }
    }
}

/// The same error again, for each caller of a failed group commit.
fn clone_error(e: &OutboxError) -> OutboxError {
    let (db, detail) = match e {
        OutboxError::Corrupt { db, detail }
        | OutboxError::Locked { db, detail }
        | OutboxError::Full { db, detail }
        | OutboxError::Database { db, detail } => (db.clone(), detail.clone()),
        other => return OutboxError::Invalid(other.to_string()),
    };
    match e {
        OutboxError::Corrupt { .. } => OutboxError::Corrupt { db, detail },
        OutboxError::Locked { .. } => OutboxError::Locked { db, detail },
        OutboxError::Full { .. } => OutboxError::Full { db, detail },
        _ => OutboxError::Database { db, detail },
    }
}
