//! The SQLite schema: one migration per version.

/// The schema, one migration per version; applied in order, each in its own transaction,
/// and recorded in `schema_version`. Never edit a released migration: add one.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL,
        route TEXT NOT NULL,
        sender TEXT NOT NULL,
        size INTEGER NOT NULL,
        eight_bit INTEGER NOT NULL,
        smtputf8 INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        unknown_count INTEGER NOT NULL DEFAULT 0,
        resent_count INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        lease_owner TEXT,
        lease_until INTEGER,
        dot_sent INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
     );
     CREATE INDEX messages_due ON messages (state, next_attempt_at);
     CREATE INDEX messages_message_id ON messages (message_id);
     CREATE TABLE recipients (
        message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        address TEXT NOT NULL,
        state TEXT NOT NULL,
        reply TEXT,
        PRIMARY KEY (message, seq)
     );
     CREATE TABLE body_chunks (
        message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (message, seq)
     );",
    ),
    (
        2,
        "ALTER TABLE messages ADD COLUMN dsn_notify TEXT;
         ALTER TABLE messages ADD COLUMN dsn_ret TEXT;
         ALTER TABLE messages ADD COLUMN dsn_envid TEXT;",
    ),
    (
        // Partial indexes: a message enters the due index when queued and leaves it when
        // claimed, and a sent one is in no index at all. With one index on (state, time),
        // every claim and every outcome moved an entry (four b-tree writes per message).
        // `created_at` makes the index cover the maximum-age scan of `recover`.
        //
        // `accepted_reply`: the reply to the attempt that delivered a `sent` message. Its
        // recipients still `pending` were accepted with that reply, so delivering a message
        // rewrites one row, not one more per recipient (see `complete_one`).
        3,
        "DROP INDEX messages_due;
         CREATE INDEX messages_due ON messages (next_attempt_at, created_at) WHERE state = 'queued';
         CREATE INDEX messages_leased ON messages (lease_until) WHERE state = 'sending';
         ALTER TABLE messages ADD COLUMN accepted_reply TEXT;",
    ),
];
