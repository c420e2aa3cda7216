//! The shared engine: PostgreSQL, for many workers on many machines. Workers claim
//! messages with `FOR UPDATE SKIP LOCKED` and a lease, so two never take the same one, and
//! a message whose worker died is taken over when its lease expires.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Transaction};

use crate::error::{OutboxError, Result};
use crate::model::{
    Action, Claimed, Completion, Detail, NewMessage, Queued, Recipient, RecipientState, Settings,
    State, Status, Summary, UnknownPolicy, dsn_columns, dsn_from_columns,
};
use crate::store::{Body, CHUNK_BYTES, Store};

/// Versioned migrations, applied in order under an advisory lock (so workers starting
/// together do not race) and recorded in `schema_version`.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE messages (
        id BIGSERIAL PRIMARY KEY,
        message_id TEXT NOT NULL,
        route TEXT NOT NULL,
        sender TEXT NOT NULL,
        size BIGINT NOT NULL,
        eight_bit BOOLEAN NOT NULL,
        smtputf8 BOOLEAN NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        unknown_count INTEGER NOT NULL DEFAULT 0,
        resent_count INTEGER NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL,
        next_attempt_at BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until BIGINT,
        dot_sent INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
     );
     CREATE INDEX messages_due ON messages (state, next_attempt_at);
     CREATE INDEX messages_message_id ON messages (message_id);
     CREATE TABLE recipients (
        message BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        address TEXT NOT NULL,
        state TEXT NOT NULL,
        reply TEXT,
        PRIMARY KEY (message, seq)
     );
     CREATE TABLE body_chunks (
        message BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        seq BIGINT NOT NULL,
        data BYTEA NOT NULL,
        PRIMARY KEY (message, seq)
     );",
    ),
    (
        2,
        "ALTER TABLE messages ADD COLUMN dsn_notify TEXT;
         ALTER TABLE messages ADD COLUMN dsn_ret TEXT;
         ALTER TABLE messages ADD COLUMN dsn_envid TEXT;",
    ),
];

/// An arbitrary constant naming the migration advisory lock.
const MIGRATION_LOCK: i64 = 0x736d_7470_636d;

const SUMMARY_COLUMNS: &str = "id, message_id, state, attempts, unknown_count, sender, size, \
     created_at, next_attempt_at, lease_owner, last_error";

/// An outbox in a PostgreSQL database.
pub struct PgStore {
    name: String,
    url: String,
    idle: Mutex<Vec<Client>>,
}

/// `url` without its password, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    match auth {
        Some(a) => {
            let user = a.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

impl PgStore {
    /// Connect to `url` (`postgres://user@host:port/db`) and apply migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let store = PgStore {
            name: redact_url(url),
            url: url.to_owned(),
            idle: Mutex::new(Vec::new()),
        };
        let mut client = store.connect().await?;
        store.migrate(&mut client).await?;
        store.put(client).await;
        Ok(store)
    }

    async fn connect(&self) -> Result<Client> {
        let config: tokio_postgres::Config = self
            .url
            .parse()
            .map_err(|e| OutboxError::Invalid(format!("{}: {e}", self.name)))?;
        let mut config = config;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| OutboxError::postgres(&self.name, e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("outbox PostgreSQL connection ended: {e}");
            }
        });
        Ok(client)
    }

    async fn get(&self) -> Result<Client> {
        while let Some(c) = self.idle.lock().await.pop() {
            if !c.is_closed() {
                return Ok(c);
            }
        }
        self.connect().await
    }

    async fn put(&self, client: Client) {
        if !client.is_closed() {
            self.idle.lock().await.push(client);
        }
    }

    async fn migrate(&self, client: &mut Client) -> Result<()> {
        let e = |e| OutboxError::postgres(&self.name, e);
        let tx = client.transaction().await.map_err(e)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(e)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .await
            .map_err(e)?;
        let current: i64 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
            .await
            .map_err(e)?
            .get(0);
        let supported = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > supported {
            return Err(OutboxError::SchemaTooNew {
                db: self.name.clone(),
                found: current,
                supported,
            });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.batch_execute(sql).await.map_err(e)?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[version],
            )
            .await
            .map_err(e)?;
        }
        tx.commit().await.map_err(e)
    }

    /// Run `f` in a transaction on a pooled connection, committing when it succeeds.
    async fn tx<T, F>(&self, f: F) -> Result<T>
    where
        F: for<'a> FnOnce(
            &'a Transaction<'a>,
            &'a str,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>,
    {
        let mut client = self.get().await?;
        let result = async {
            let tx = client
                .transaction()
                .await
                .map_err(|e| OutboxError::postgres(&self.name, e))?;
            let value = f(&tx, &self.name).await?;
            tx.commit()
                .await
                .map_err(|e| OutboxError::postgres(&self.name, e))?;
            Ok(value)
        }
        .await;
        self.put(client).await;
        result
    }
}

fn pg(db: &str) -> impl Fn(tokio_postgres::Error) -> OutboxError + '_ {
    move |e| OutboxError::postgres(db, e)
}

fn summary(r: &tokio_postgres::Row) -> Result<Summary> {
    let state: String = r.get(2);
    Ok(Summary {
        id: r.get(0),
        message_id: r.get(1),
        state: state.parse().map_err(OutboxError::Invalid)?,
        attempts: r.get(3),
        unknown_count: r.get(4),
        sender: r.get(5),
        size: r.get::<_, i64>(6) as u64,
        created_at: r.get(7),
        next_attempt_at: r.get(8),
        lease_owner: r.get(9),
        last_error: r.get(10),
    })
}

async fn recipients(
    tx: &Transaction<'_>,
    db: &str,
    id: i64,
    only_pending: bool,
) -> Result<Vec<Recipient>> {
    let rows = tx
        .query(
            "SELECT seq, address, state, reply FROM recipients \
             WHERE message = $1 AND ($2 = FALSE OR state = 'pending') ORDER BY seq",
            &[&id, &only_pending],
        )
        .await
        .map_err(pg(db))?;
    rows.iter()
        .map(|r| {
            let state: String = r.get(2);
            Ok(Recipient {
                seq: r.get(0),
                address: r.get(1),
                state: state.parse().map_err(OutboxError::Invalid)?,
                reply: r.get(3),
            })
        })
        .collect()
}

impl Store for PgStore {
    fn name(&self) -> &str {
        &self.name
    }

    async fn enqueue(&self, batch: Vec<(NewMessage, Body)>, now: i64) -> Result<Vec<Queued>> {
        // The chunks are read from the rendered body on this thread, one at a time, and
        // each is sent before the next is read: bounded memory whatever the size.
        self.tx(move |tx, db| {
            Box::pin(async move {
                let mut queued = Vec::with_capacity(batch.len());
                for (m, mut body) in batch {
                    let size = body.len();
                    let [n, r, e] = dsn_columns(&m.dsn);
                    let id: i64 = tx
                        .query_one(
                            "INSERT INTO messages (message_id, route, sender, size, eight_bit, smtputf8, \
                             state, created_at, next_attempt_at, dsn_notify, dsn_ret, dsn_envid) \
                             VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $7, $8, $9, $10) RETURNING id",
                            &[&m.message_id, &m.route, &m.sender, &(size as i64), &m.eight_bit, &m.smtputf8, &now, &n, &r, &e],
                        )
                        .await
                        .map_err(pg(db))?
                        .get(0);
                    for (seq, r) in m.recipients.iter().enumerate() {
                        tx.execute(
                            "INSERT INTO recipients (message, seq, address, state) VALUES ($1, $2, $3, 'pending')",
                            &[&id, &(seq as i32), r],
                        )
                        .await
                        .map_err(pg(db))?;
                    }
                    let mut seq = 0i64;
                    while let Some(data) = body.next_chunk().map_err(|source| OutboxError::Io {
                        db: db.to_owned(),
                        context: "reading the rendered message".into(),
                        source,
                    })? {
                        tx.execute(
                            "INSERT INTO body_chunks (message, seq, data) VALUES ($1, $2, $3)",
                            &[&id, &seq, &data],
                        )
                        .await
                        .map_err(pg(db))?;
                        seq += 1;
                    }
                    queued.push(Queued { id, message_id: m.message_id, size });
                }
                Ok(queued)
            })
        })
        .await
    }

    async fn settings(&self) -> Result<Settings> {
        let client = self.get().await?;
        let rows = client
            .query("SELECT key, value FROM settings", &[])
            .await
            .map_err(pg(&self.name));
        self.put(client).await;
        let mut s = Settings::default();
        for r in rows? {
            let (k, v): (String, String) = (r.get(0), r.get(1));
            match k.as_str() {
                "unknown_policy" => s.unknown_policy = v.parse().map_err(OutboxError::Invalid)?,
                "max_age_secs" => {
                    s.max_age = Duration::from_secs(
                        v.parse()
                            .map_err(|_| OutboxError::Invalid(format!("bad max_age_secs {v:?}")))?,
                    )
                }
                _ => {}
            }
        }
        Ok(s)
    }

    async fn set_settings(&self, s: Settings) -> Result<()> {
        self.tx(|tx, db| {
            Box::pin(async move {
                for (k, v) in [
                    ("unknown_policy", s.unknown_policy.as_str().to_owned()),
                    ("max_age_secs", s.max_age.as_secs().to_string()),
                ] {
                    tx.execute(
                        "INSERT INTO settings (key, value) VALUES ($1, $2) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        &[&k, &v],
                    )
                    .await
                    .map_err(pg(db))?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn recover(&self, now: i64, s: Settings) -> Result<u64> {
        let after_dot = match s.unknown_policy {
            UnknownPolicy::Hold => "unknown",
            UnknownPolicy::Resend => "queued",
        };
        let resent = i32::from(s.unknown_policy == UnknownPolicy::Resend);
        let oldest = now.saturating_sub(s.max_age.as_millis() as i64);
        self.tx(|tx, db| {
            Box::pin(async move {
                // SKIP LOCKED: a lease another worker is recovering right now is left to it.
                let n = tx
                    .execute(
                        "UPDATE messages SET \
                           state = CASE WHEN dot_sent = 1 THEN $2 ELSE 'queued' END, \
                           unknown_count = unknown_count + dot_sent, \
                           resent_count = resent_count + dot_sent * $3, \
                           last_error = CASE WHEN dot_sent = 1 \
                             THEN 'worker ' || lease_owner || ' stopped after the final dot: delivery unknown' \
                             ELSE last_error END, \
                           lease_owner = NULL, lease_until = NULL, dot_sent = 0, next_attempt_at = $1 \
                         WHERE id IN (SELECT id FROM messages WHERE state = 'sending' AND lease_until < $1 \
                                      FOR UPDATE SKIP LOCKED)",
                        &[&now, &after_dot, &resent],
                    )
                    .await
                    .map_err(pg(db))?;
                let m = tx
                    .execute(
                        "UPDATE messages SET state = 'expired', \
                           last_error = COALESCE(last_error || '; ', '') || 'expired: not delivered within the maximum age' \
                         WHERE id IN (SELECT id FROM messages WHERE state = 'queued' AND created_at < $1 \
                                      FOR UPDATE SKIP LOCKED)",
                        &[&oldest],
                    )
                    .await
                    .map_err(pg(db))?;
                Ok(n + m)
            })
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
        self.tx(|tx, db| {
            Box::pin(async move {
                let rows = tx
                    .query(
                        "UPDATE messages SET state = 'sending', lease_owner = $1, lease_until = $2, \
                           dot_sent = CASE WHEN size <= $5 THEN 1 ELSE 0 END, attempts = attempts + 1 \
                         WHERE id IN (SELECT id FROM messages WHERE state = 'queued' AND next_attempt_at <= $3 \
                                      ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                         RETURNING id, message_id, route, sender, size, eight_bit, smtputf8, attempts, created_at, \
                           dsn_notify, dsn_ret, dsn_envid",
                        &[&owner, &lease_until, &now, &(limit as i64), &ready_max],
                    )
                    .await
                    .map_err(pg(db))?;
                let mut claimed = Vec::with_capacity(rows.len());
                for r in rows {
                    let id: i64 = r.get(0);
                    let all = recipients(tx, db, id, false).await?;
                    claimed.push(Claimed {
                        accepted_before: all.iter().any(|r| r.state == RecipientState::Accepted),
                        id,
                        message_id: r.get(1),
                        route: r.get(2),
                        sender: r.get(3),
                        size: r.get::<_, i64>(4) as u64,
                        eight_bit: r.get(5),
                        smtputf8: r.get(6),
                        attempts: r.get(7),
                        created_at: r.get(8),
                        pending: all
                            .into_iter()
                            .filter(|r| r.state == RecipientState::Pending)
                            .collect(),
                        ready: None,
                        dsn: dsn_from_columns(r.get(9), r.get(10), r.get(11))
                            .map_err(|e| OutboxError::Database { db: db.to_owned(), detail: e })?,
                    });
                }
                // The bytes of the messages claimed ready, in one query (one chunk each).
                let ready: Vec<i64> = claimed
                    .iter()
                    .filter(|c| c.size as i64 <= ready_max)
                    .map(|c| c.id)
                    .collect();
                if !ready.is_empty() {
                    let rows = tx
                        .query(
                            "SELECT message, data FROM body_chunks WHERE message = ANY($1) AND seq = 0",
                            &[&ready],
                        )
                        .await
                        .map_err(pg(db))?;
                    let mut bodies: std::collections::HashMap<i64, Vec<u8>> =
                        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
                    for c in claimed.iter_mut().filter(|c| c.size as i64 <= ready_max) {
                        c.ready = Some(bodies.remove(&c.id).unwrap_or_default());
                    }
                }
                claimed.sort_by_key(|c| c.id);
                Ok(claimed)
            })
        })
        .await
    }

    async fn renew(&self, owner: &str, lease_until: i64) -> Result<()> {
        let client = self.get().await?;
        let r = client
            .execute(
                "UPDATE messages SET lease_until = $2 WHERE state = 'sending' AND lease_owner = $1",
                &[&owner, &lease_until],
            )
            .await
            .map_err(pg(&self.name));
        self.put(client).await;
        r.map(|_| ())
    }

    async fn chunk(&self, id: i64, seq: i64) -> Result<Option<Vec<u8>>> {
        let client = self.get().await?;
        let r = client
            .query_opt(
                "SELECT data FROM body_chunks WHERE message = $1 AND seq = $2",
                &[&id, &seq],
            )
            .await
            .map_err(pg(&self.name));
        self.put(client).await;
        Ok(r?.map(|row| row.get(0)))
    }

    async fn mark_dot(&self, id: i64, owner: &str) -> Result<bool> {
        let client = self.get().await?;
        let r = client
            .execute(
                "UPDATE messages SET dot_sent = 1 WHERE id = $1 AND state = 'sending' AND lease_owner = $2",
                &[&id, &owner],
            )
            .await
            .map_err(pg(&self.name));
        self.put(client).await;
        Ok(r? == 1)
    }

    async fn complete(&self, id: i64, owner: &str, c: Completion) -> Result<bool> {
        Ok(self.complete_many(owner, vec![(id, c)]).await? == 1)
    }

    async fn complete_many(&self, owner: &str, outcomes: Vec<(i64, Completion)>) -> Result<u64> {
        let owner = owner.to_owned();
        self.tx(|tx, db| {
            Box::pin(async move {
                let message = tx
                    .prepare(
                        "UPDATE messages SET state = $3, next_attempt_at = $4, last_error = COALESCE($5, last_error), \
                           unknown_count = unknown_count + $6, resent_count = resent_count + $7, \
                           lease_owner = NULL, lease_until = NULL, dot_sent = 0 \
                         WHERE id = $1 AND state = 'sending' AND lease_owner = $2",
                    )
                    .await
                    .map_err(pg(db))?;
                let recipient = tx
                    .prepare(
                        "UPDATE recipients SET state = $3, reply = $4 \
                         WHERE message = $1 AND seq = $2 AND state = 'pending'",
                    )
                    .await
                    .map_err(pg(db))?;
                let mut held = 0;
                for (id, c) in &outcomes {
                    let n = tx
                        .execute(
                            &message,
                            &[
                                id,
                                &owner,
                                &c.state.as_str(),
                                &c.next_attempt_at,
                                &c.last_error,
                                &i32::from(c.unknown),
                                &i32::from(c.unknown && c.state == State::Queued),
                            ],
                        )
                        .await
                        .map_err(pg(db))?;
                    if n == 1 {
                        held += 1;
                        for (seq, st, reply) in &c.recipients {
                            tx.execute(&recipient, &[id, seq, &st.as_str(), reply])
                                .await
                                .map_err(pg(db))?;
                        }
                    }
                }
                Ok(held)
            })
        })
        .await
    }

    async fn has_pending(&self) -> Result<bool> {
        let client = self.get().await?;
        let r = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE state IN ('queued', 'sending'))",
                &[],
            )
            .await
            .map_err(pg(&self.name))?;
        Ok(r.get(0))
    }

    async fn status(&self, now: i64) -> Result<Status> {
        let settings = self.settings().await?;
        let client = self.get().await?;
        let result = async {
            let mut counts: Vec<(State, u64)> = State::ALL.iter().map(|s| (*s, 0)).collect();
            for r in client
                .query("SELECT state, COUNT(*) FROM messages GROUP BY state", &[])
                .await
                .map_err(pg(&self.name))?
            {
                let s: String = r.get(0);
                if let Some(slot) = counts.iter_mut().find(|(st, _)| st.as_str() == s) {
                    slot.1 = r.get::<_, i64>(1) as u64;
                }
            }
            let r = client
                .query_one(
                    "SELECT (SELECT MIN(created_at) FROM messages WHERE state IN ('queued', 'sending')), \
                            COALESCE(SUM(unknown_count), 0)::BIGINT, COALESCE(SUM(resent_count), 0)::BIGINT FROM messages",
                    &[],
                )
                .await
                .map_err(pg(&self.name))?;
            let oldest: Option<i64> = r.get(0);
            Ok(Status {
                counts,
                oldest_pending_age_secs: oldest
                    .map(|t| (now.saturating_sub(t).max(0) / 1000) as u64),
                unknown_events: r.get::<_, i64>(1) as u64,
                resent_after_unknown: r.get::<_, i64>(2) as u64,
                settings,
            })
        }
        .await;
        self.put(client).await;
        result
    }

    async fn list(&self, state: Option<State>, limit: usize) -> Result<Vec<Summary>> {
        let client = self.get().await?;
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM messages WHERE ($1::TEXT IS NULL OR state = $1) ORDER BY id LIMIT $2"
        );
        let rows = client
            .query(&sql, &[&state.map(State::as_str), &(limit as i64)])
            .await
            .map_err(pg(&self.name));
        self.put(client).await;
        rows?.iter().map(summary).collect()
    }

    async fn show(&self, id: i64) -> Result<Detail> {
        self.tx(|tx, db| {
            Box::pin(async move {
                let sql = format!("SELECT {SUMMARY_COLUMNS}, route FROM messages WHERE id = $1");
                let row = tx
                    .query_opt(&sql, &[&id])
                    .await
                    .map_err(pg(db))?
                    .ok_or(OutboxError::NotFound(id))?;
                Ok(Detail {
                    summary: summary(&row)?,
                    route: row.get(11),
                    recipients: recipients(tx, db, id, false).await?,
                })
            })
        })
        .await
    }

    async fn act(&self, id: i64, action: Action, now: i64) -> Result<State> {
        self.tx(|tx, db| {
            Box::pin(async move {
                let state: String = tx
                    .query_opt("SELECT state FROM messages WHERE id = $1 FOR UPDATE", &[&id])
                    .await
                    .map_err(pg(db))?
                    .ok_or(OutboxError::NotFound(id))?
                    .get(0);
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
                    "UPDATE messages SET state = $2, next_attempt_at = $3, \
                       resent_count = CASE WHEN $2 = 'queued' AND unknown_count > resent_count \
                                      THEN resent_count + 1 ELSE resent_count END \
                     WHERE id = $1",
                    &[&id, &target.as_str(), &now],
                )
                .await
                .map_err(pg(db))?;
                if action == Action::Retry {
                    tx.execute(
                        "UPDATE recipients SET state = 'pending' WHERE message = $1 AND state = 'rejected'",
                        &[&id],
                    )
                    .await
                    .map_err(pg(db))?;
                }
                Ok(target)
            })
        })
        .await
    }

    async fn purge(&self, before: i64) -> Result<u64> {
        let client = self.get().await?;
        let r = client
            .execute(
                "DELETE FROM messages WHERE state IN ('sent', 'failed', 'expired') AND created_at < $1",
                &[&before],
            )
            .await
            .map_err(pg(&self.name));
        self.put(client).await;
        r
    }
}
