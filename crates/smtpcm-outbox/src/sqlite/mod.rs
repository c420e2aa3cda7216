//! The embedded engine: one SQLite file in WAL mode with `synchronous=FULL`, so a commit
//! survives a crash of the process and of the machine.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::error::{OutboxError, Result};
use crate::model::{
    Action, Claimed, Completion, Detail, NewMessage, Queued, Recipient, Settings, State, Status,
    Summary, UnknownPolicy, dsn_columns,
};
use crate::store::{Body, CHUNK_BYTES, Store};

mod delivery;
mod group;
mod schema;
use delivery::{claim_in, complete_one};
use group::{GroupWriter, Job};
use schema::MIGRATIONS;

/// How long a writer waits for another process's lock before reporting it, unless
/// `SMTPCM_OUTBOX_BUSY_TIMEOUT_MS` says otherwise.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

fn busy_timeout() -> Duration {
    std::env::var("SMTPCM_OUTBOX_BUSY_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(BUSY_TIMEOUT, Duration::from_millis)
}

const SUMMARY_COLUMNS: &str = "id, message_id, state, attempts, unknown_count, sender, size, \
     created_at, next_attempt_at, lease_owner, last_error";

/// An outbox in a SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    name: String,
    conn: Arc<Mutex<Connection>>,
    /// The group-commit writer (see [`GroupWriter`]).
    writer: std::sync::mpsc::Sender<Job>,
    /// A second connection for reading message bodies: in WAL mode a reader never waits
    /// for the writer's fsync, so the next message's bytes stream while outcomes commit.
    reader: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Open (and with `create`, create) the outbox at `path`, applying migrations.
    ///
    /// ```no_run
    /// # fn demo() -> smtpcm_outbox::Result<()> {
    /// let store = smtpcm_outbox::sqlite::SqliteStore::open("/var/lib/app/outbox.sqlite".as_ref(), true)?;
    /// # Ok(()) }
    /// ```
    pub fn open(path: &Path, create: bool) -> Result<Self> {
        let name = path.display().to_string();
        let err = |e| OutboxError::sqlite(&name, e);
        if !create && !path.exists() {
            return Err(OutboxError::Invalid(format!(
                "no outbox at {name} (queue a message with --outbox first)"
            )));
        }
        if create && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OutboxError::Io {
                db: name.clone(),
                context: format!("creating {}", dir.display()),
                source,
            })?;
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags).map_err(err)?;
        conn.busy_timeout(busy_timeout()).map_err(err)?;
        // WAL lets readers (status, list) run beside a writer; FULL syncs the WAL on every
        // commit, so a committed enqueue survives power loss, not only a crash.
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OutboxError::Database {
                db: name,
                detail: format!("cannot switch to WAL journal mode (got {mode})"),
            });
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(err)?;
        // Without the planner stability guarantee, binding a new value to a parameter the
        // plan looked at (the claim's LIMIT) expires the statement, and every claim would
        // be compiled again.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(err)?;
        let conn = Arc::new(Mutex::new(conn));
        let mut store = SqliteStore {
            writer: GroupWriter::spawn(name.clone(), conn.clone()),
            reader: conn.clone(),
            name,
            conn,
        };
        store.migrate()?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| OutboxError::sqlite(&store.name, e))?;
        reader
            .busy_timeout(busy_timeout())
            .map_err(|e| OutboxError::sqlite(&store.name, e))?;
        store.reader = Arc::new(Mutex::new(reader));
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let name = self.name.clone();
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| OutboxError::Invalid("outbox connection poisoned".into()))?;
        let err = |e| OutboxError::sqlite(&name, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            .map_err(err)?;
        let current: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        let supported = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > supported {
            return Err(OutboxError::SchemaTooNew {
                db: name.clone(),
                found: current,
                supported,
            });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.execute_batch(sql).map_err(err)?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [version],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Limit the database to `pages` pages (`PRAGMA max_page_count`): a way to reproduce a
    /// full disk in tests.
    pub fn set_max_page_count(&self, pages: u64) -> Result<()> {
        self.blocking(move |c| {
            c.query_row(&format!("PRAGMA max_page_count={pages}"), [], |_| Ok(()))
        })
    }

    /// Run `f` in the group-commit writer's next transaction; see [`GroupWriter`].
    async fn grouped<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let stopped = || OutboxError::Invalid("the outbox writer stopped".into());
        self.writer
            .send(Job {
                run: Box::new(move |c| f(c).map(|v| Box::new(v) as Box<dyn Any + Send>)),
                reply,
            })
            .map_err(|_| stopped())?;
        let value = answer.await.map_err(|_| stopped())??;
        value.downcast::<T>().map(|v| *v).map_err(|_| stopped())
    }

    /// Run `f` on the connection, in this thread (for callers outside async code).
    fn blocking<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| OutboxError::Invalid("outbox connection poisoned".into()))?;
        f(&mut conn).map_err(|e| OutboxError::sqlite(&self.name, e))
    }

    /// Run `f` on the connection on tokio's blocking pool (SQLite calls block on locks and
    /// fsync). Errors from `f` itself are already classified.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &str) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = this
                .conn
                .lock()
                .map_err(|_| OutboxError::Invalid("outbox connection poisoned".into()))?;
            f(&mut conn, &this.name)
        })
        .await
        .map_err(|e| OutboxError::Invalid(format!("outbox task failed: {e}")))?
    }
}

fn immediate<'c>(conn: &'c mut Connection, db: &str) -> Result<rusqlite::Transaction<'c>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| OutboxError::sqlite(db, e))
}

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<Summary> {
    let state: String = r.get(2)?;
    Ok(Summary {
        id: r.get(0)?,
        message_id: r.get(1)?,
        state: state.parse().map_err(|e: String| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into())
        })?,
        attempts: r.get(3)?,
        unknown_count: r.get(4)?,
        sender: r.get(5)?,
        size: r.get::<_, i64>(6)? as u64,
        created_at: r.get(7)?,
        next_attempt_at: r.get(8)?,
        lease_owner: r.get(9)?,
        last_error: r.get(10)?,
    })
}

/// A message's recipients. In a `sent` message, the ones still `pending` were accepted
/// with the message's `accepted_reply` (see [`complete_one`]), and are shown so.
fn recipients(tx: &Connection, id: i64) -> rusqlite::Result<Vec<Recipient>> {
    let mut stmt = tx.prepare_cached(
        "SELECT r.seq, r.address, \
           CASE WHEN r.state = 'pending' AND m.state = 'sent' THEN 'accepted' ELSE r.state END, \
           CASE WHEN r.state = 'pending' AND m.state = 'sent' THEN m.accepted_reply ELSE r.reply END \
         FROM recipients r JOIN messages m ON m.id = r.message WHERE r.message = ?1 ORDER BY r.seq",
    )?;
    let rows = stmt.query_map([id], |r| {
        let state: String = r.get(2)?;
        Ok(Recipient {
            seq: r.get(0)?,
            address: r.get(1)?,
            state: state.parse().map_err(|e: String| {
                rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into())
            })?,
            reply: r.get(3)?,
        })
    })?;
    rows.collect()
}

fn get_setting(c: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
        r.get(0)
    })
    .optional()
}

impl Store for SqliteStore {
    fn name(&self) -> &str {
        &self.name
    }

    async fn enqueue(&self, batch: Vec<(NewMessage, Body)>, now: i64) -> Result<Vec<Queued>> {
        self.with(move |conn, db| {
            let err = |e| OutboxError::sqlite(db, e);
            let tx = immediate(conn, db)?;
            let mut queued = Vec::with_capacity(batch.len());
            for (m, mut body) in batch {
                let size = body.len();
                let [n, r, e] = dsn_columns(&m.dsn);
                tx.execute(
                    "INSERT INTO messages (message_id, route, sender, size, eight_bit, smtputf8, \
                     state, created_at, next_attempt_at, dsn_notify, dsn_ret, dsn_envid) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7, ?8, ?9, ?10)",
                    params![m.message_id, m.route, m.sender, size as i64, m.eight_bit, m.smtputf8, now, n, r, e],
                )
                .map_err(err)?;
                let id = tx.last_insert_rowid();
                {
                    let mut ins = tx
                        .prepare_cached(
                            "INSERT INTO recipients (message, seq, address, state) VALUES (?1, ?2, ?3, 'pending')",
                        )
                        .map_err(err)?;
                    for (seq, r) in m.recipients.iter().enumerate() {
                        ins.execute(params![id, seq as i64, r]).map_err(err)?;
                    }
                    let mut chunk = tx
                        .prepare_cached("INSERT INTO body_chunks (message, seq, data) VALUES (?1, ?2, ?3)")
                        .map_err(err)?;
                    let mut seq = 0i64;
                    while let Some(data) = body.next_chunk().map_err(|source| OutboxError::Io {
                        db: db.to_owned(),
                        context: "reading the rendered message".into(),
                        source,
                    })? {
                        chunk.execute(params![id, seq, data]).map_err(err)?;
                        seq += 1;
                    }
                }
                queued.push(Queued { id, message_id: m.message_id, size });
            }
            tx.commit().map_err(err)?;
            Ok(queued)
        })
        .await
    }

    async fn settings(&self) -> Result<Settings> {
        self.with(|conn, db| {
            let err = |e| OutboxError::sqlite(db, e);
            let mut s = Settings::default();
            if let Some(p) = get_setting(conn, "unknown_policy").map_err(err)? {
                s.unknown_policy = p.parse().map_err(OutboxError::Invalid)?;
            }
            if let Some(a) = get_setting(conn, "max_age_secs").map_err(err)? {
                let secs = a
                    .parse()
                    .map_err(|_| OutboxError::Invalid(format!("bad max_age_secs {a:?}")))?;
                s.max_age = Duration::from_secs(secs);
            }
            Ok(s)
        })
        .await
    }

    async fn set_settings(&self, s: Settings) -> Result<()> {
        self.with(move |conn, db| {
            let err = |e| OutboxError::sqlite(db, e);
            let tx = immediate(conn, db)?;
            for (k, v) in [
                ("unknown_policy", s.unknown_policy.as_str().to_owned()),
                ("max_age_secs", s.max_age.as_secs().to_string()),
            ] {
                tx.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![k, v],
                )
                .map_err(err)?;
            }
            tx.commit().map_err(err)
        })
        .await
    }

    async fn recover(&self, now: i64, s: Settings) -> Result<u64> {
        self.with(move |conn, db| {
            let err = |e| OutboxError::sqlite(db, e);
            let tx = immediate(conn, db)?;
            let after_dot = match s.unknown_policy {
                UnknownPolicy::Hold => "'unknown'",
                UnknownPolicy::Resend => "'queued'",
            };
            let resent = i64::from(s.unknown_policy == UnknownPolicy::Resend);
            let mut n = tx
                .execute(
                    &format!(
                        "UPDATE messages SET \
                           state = CASE WHEN dot_sent = 1 THEN {after_dot} ELSE 'queued' END, \
                           unknown_count = unknown_count + dot_sent, \
                           resent_count = resent_count + dot_sent * ?2, \
                           last_error = CASE WHEN dot_sent = 1 \
                             THEN 'worker ' || lease_owner || ' stopped after the final dot: delivery unknown' \
                             ELSE last_error END, \
                           lease_owner = NULL, lease_until = NULL, dot_sent = 0, next_attempt_at = ?1 \
                         WHERE state = 'sending' AND lease_until < ?1"
                    ),
                    params![now, resent],
                )
                .map_err(err)?;
            let oldest = now.saturating_sub(s.max_age.as_millis() as i64);
            n += tx
                .execute(
                    "UPDATE messages SET state = 'expired', \
                       last_error = COALESCE(last_error || '; ', '') || 'expired: not delivered within the maximum age' \
                     WHERE state = 'queued' AND created_at < ?1",
                    [oldest],
                )
                .map_err(err)?;
            tx.commit().map_err(err)?;
            Ok(n as u64)
        })
        .await
    }

    async fn claim(
        &self,
        owner: &str,
        limit: usize,
        now: i64,
        lease_until: i64,
        ready_max: u64,
    ) -> Result<Vec<Claimed>> {
        let owner = owner.to_owned();
        let ready_max = ready_max.min(CHUNK_BYTES as u64) as i64;
        // Through the group-commit writer: the claims of every task, and the outcomes
        // they just recorded, share one fsync.
        let mut claimed = self
            .grouped(move |conn| claim_in(conn, &owner, limit, now, lease_until, ready_max))
            .await?;
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }

    async fn renew(&self, owner: &str, lease_until: i64) -> Result<()> {
        let owner = owner.to_owned();
        self.with(move |conn, db| {
            conn.execute(
                "UPDATE messages SET lease_until = ?2 WHERE state = 'sending' AND lease_owner = ?1",
                params![owner, lease_until],
            )
            .map_err(|e| OutboxError::sqlite(db, e))?;
            Ok(())
        })
        .await
    }

    async fn chunk(&self, id: i64, seq: i64) -> Result<Option<Vec<u8>>> {
        let reader = self.reader.clone();
        let db = self.name.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader
                .lock()
                .map_err(|_| OutboxError::Invalid("outbox connection poisoned".into()))?;
            let db = db.as_str();
            conn.prepare_cached("SELECT data FROM body_chunks WHERE message = ?1 AND seq = ?2")
                .and_then(|mut s| s.query_row(params![id, seq], |r| r.get(0)).optional())
                .map_err(|e| OutboxError::sqlite(db, e))
        })
        .await
        .map_err(|e| OutboxError::Invalid(format!("outbox task failed: {e}")))?
    }

    async fn mark_dot(&self, id: i64, owner: &str) -> Result<bool> {
        let owner = owner.to_owned();
        self.grouped(move |conn| {
            let n = conn.execute(
                "UPDATE messages SET dot_sent = 1 WHERE id = ?1 AND state = 'sending' AND lease_owner = ?2",
                params![id, owner],
            )?;
            Ok(n as u64)
        })
        .await
        .map(|n| n == 1)
    }

    async fn complete(&self, id: i64, owner: &str, c: Completion) -> Result<bool> {
        Ok(self.complete_many(owner, vec![(id, c)]).await? == 1)
    }

    async fn complete_many(&self, owner: &str, outcomes: Vec<(i64, Completion)>) -> Result<u64> {
        let owner = owner.to_owned();
        self.grouped(move |conn| {
            let mut held = 0;
            for (id, c) in &outcomes {
                held += u64::from(complete_one(conn, *id, &owner, c)?);
            }
            Ok(held)
        })
        .await
    }

    async fn has_pending(&self) -> Result<bool> {
        self.with(|conn, db| {
            // Two probes of the partial indexes, not a count of the table.
            conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE state = 'queued') \
                     OR EXISTS (SELECT 1 FROM messages WHERE state = 'sending')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| OutboxError::sqlite(db, e))
        })
        .await
    }

    async fn status(&self, now: i64) -> Result<Status> {
        let settings = self.settings().await?;
        self.with(move |conn, db| {
            let err = |e| OutboxError::sqlite(db, e);
            let mut counts: Vec<(State, u64)> = State::ALL.iter().map(|s| (*s, 0)).collect();
            {
                let mut stmt = conn
                    .prepare("SELECT state, COUNT(*) FROM messages GROUP BY state")
                    .map_err(err)?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                    .map_err(err)?;
                for row in rows {
                    let (s, n) = row.map_err(err)?;
                    if let Some(slot) = counts.iter_mut().find(|(st, _)| st.as_str() == s) {
                        slot.1 = n as u64;
                    }
                }
            }
            let (oldest, unknown, resent): (Option<i64>, i64, i64) = conn
                .query_row(
                    "SELECT (SELECT MIN(created_at) FROM messages WHERE state IN ('queued', 'sending')), \
                            COALESCE(SUM(unknown_count), 0), COALESCE(SUM(resent_count), 0) FROM messages",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(err)?;
            Ok(Status {
                counts,
                oldest_pending_age_secs: oldest.map(|t| (now.saturating_sub(t).max(0) / 1000) as u64),
                unknown_events: unknown as u64,
                resent_after_unknown: resent as u64,
                settings,
            })
        })
        .await
    }

    async fn list(&self, state: Option<State>, limit: usize) -> Result<Vec<Summary>> {
        self.with(move |conn, db| {
            let err = |e| OutboxError::sqlite(db, e);
            let sql = format!(
                "SELECT {SUMMARY_COLUMNS} FROM messages WHERE (?1 IS NULL OR state = ?1) ORDER BY id LIMIT ?2"
            );
            let mut stmt = conn.prepare(&sql).map_err(err)?;
            let rows = stmt
                .query_map(params![state.map(State::as_str), limit as i64], summary)
                .map_err(err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(err)
        })
        .await
    }

    async fn show(&self, id: i64) -> Result<Detail> {
        self.with(move |conn, db| {
            let err = |e| OutboxError::sqlite(db, e);
            let sql = format!("SELECT {SUMMARY_COLUMNS}, route FROM messages WHERE id = ?1");
            let found = conn
                .query_row(&sql, [id], |r| Ok((summary(r)?, r.get::<_, String>(11)?)))
                .optional()
                .map_err(err)?;
            let (summary, route) = found.ok_or(OutboxError::NotFound(id))?;
            Ok(Detail {
                summary,
                route,
                recipients: recipients(conn, id).map_err(err)?,
            })
        })
        .await
    }

    async fn act(&self, id: i64, action: Action, now: i64) -> Result<State> {
        self.with(move |conn, db| {
            let err = |e| OutboxError::sqlite(db, e);
            let tx = immediate(conn, db)?;
            let state: String = tx
                .query_row("SELECT state FROM messages WHERE id = ?1", [id], |r| r.get(0))
                .optional()
                .map_err(err)?
                .ok_or(OutboxError::NotFound(id))?;
            let state: State = state.parse().map_err(OutboxError::Invalid)?;
            if !action.allowed().contains(&state) {
                return Err(OutboxError::WrongState {
                    id,
                    state,
                    action: action.as_str(),
                    allowed: action.allowed_text(),
                });
            }
            let target = action.target();
            tx.execute(
                "UPDATE messages SET state = ?2, next_attempt_at = ?3, \
                   resent_count = CASE WHEN ?2 = 'queued' AND unknown_count > resent_count \
                                  THEN resent_count + 1 ELSE resent_count END \
                 WHERE id = ?1",
                params![id, target.as_str(), now],
            )
            .map_err(err)?;
            if action == Action::Retry {
                tx.execute(
                    "UPDATE recipients SET state = 'pending' WHERE message = ?1 AND state = 'rejected'",
                    [id],
                )
                .map_err(err)?;
            }
            tx.commit().map_err(err)?;
            Ok(target)
        })
        .await
    }

    async fn purge(&self, before: i64) -> Result<u64> {
        self.with(move |conn, db| {
            let n = conn
                .execute(
                    "DELETE FROM messages WHERE state IN ('sent', 'failed', 'expired') AND created_at < ?1",
                    [before],
                )
                .map_err(|e| OutboxError::sqlite(db, e))?;
            Ok(n as u64)
        })
        .await
    }
}

/// The default outbox file: `$XDG_DATA_HOME/smtpcm/outbox.sqlite`, else
/// `$HOME/.local/share/smtpcm/outbox.sqlite`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })?;
    Some(base.join("smtpcm").join("outbox.sqlite"))
}
