//! The worker's statements: claiming a batch and recording outcomes. They run inside the
//! group-commit writer's transaction (see [`super::group`]).

use std::collections::HashMap;

use rusqlite::{Connection, params};

use crate::model::{Claimed, Completion, Recipient, RecipientState, State, dsn_from_columns};

/// Record one attempt's outcome if `owner` still holds the message's lease.
///
/// A `sent` message keeps the reply its recipients were accepted with in `accepted_reply`,
/// and those recipients stay `pending` in their table (`sent` is final, so nothing reads
/// them for delivery again; [`super::recipients`] shows them as accepted).
pub(super) fn complete_one(
    conn: &Connection,
    id: i64,
    owner: &str,
    c: &Completion,
) -> rusqlite::Result<bool> {
    let accepted_reply = (c.state == State::Sent)
        .then(|| {
            c.recipients
                .iter()
                .find(|r| r.1 == RecipientState::Accepted)
                .and_then(|r| r.2.as_deref())
        })
        .flatten();
    let n = conn
        .prepare_cached(
            "UPDATE messages SET state = ?3, next_attempt_at = ?4, last_error = COALESCE(?5, last_error), \
               unknown_count = unknown_count + ?6, resent_count = resent_count + ?7, \
               lease_owner = NULL, lease_until = NULL, dot_sent = 0, accepted_reply = ?8 \
             WHERE id = ?1 AND state = 'sending' AND lease_owner = ?2",
        )?
        .execute(params![
            id,
            owner,
            c.state.as_str(),
            c.next_attempt_at,
            c.last_error,
            i64::from(c.unknown),
            i64::from(c.unknown && c.state == State::Queued),
            accepted_reply,
        ])?;
    if n == 1 {
        let mut up = conn.prepare_cached(
            "UPDATE recipients SET state = ?3, reply = ?4 WHERE message = ?1 AND seq = ?2 AND state = 'pending'",
        )?;
        for (seq, st, reply) in &c.recipients {
            let implied = accepted_reply.is_some()
                && *st == RecipientState::Accepted
                && reply.as_deref() == accepted_reply;
            if !implied {
                up.execute(params![id, seq, st.as_str(), reply])?;
            }
        }
    }
    Ok(n == 1)
}

/// The statements of [`Store::claim`](crate::store::Store::claim), inside the caller's transaction.
pub(super) fn claim_in(
    conn: &Connection,
    owner: &str,
    limit: usize,
    now: i64,
    lease_until: i64,
    ready_max: i64,
) -> rusqlite::Result<Vec<Claimed>> {
    let mut claimed = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "UPDATE messages SET state = 'sending', lease_owner = ?1, lease_until = ?2, \
               dot_sent = CASE WHEN size <= ?5 THEN 1 ELSE 0 END, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM messages WHERE state = 'queued' AND next_attempt_at <= ?3 \
                          ORDER BY next_attempt_at, created_at, id LIMIT ?4) \
             RETURNING id, message_id, route, sender, size, eight_bit, smtputf8, attempts, created_at, \
               dsn_notify, dsn_ret, dsn_envid",
        )?;
        let rows = stmt.query_map(
            params![owner, lease_until, now, limit as i64, ready_max],
            |r| {
                Ok(Claimed {
                    id: r.get(0)?,
                    message_id: r.get(1)?,
                    route: r.get(2)?,
                    sender: r.get(3)?,
                    size: r.get::<_, i64>(4)? as u64,
                    eight_bit: r.get(5)?,
                    smtputf8: r.get(6)?,
                    attempts: r.get(7)?,
                    created_at: r.get(8)?,
                    pending: Vec::new(),
                    accepted_before: false,
                    ready: None,
                    dsn: dsn_from_columns(r.get(9)?, r.get(10)?, r.get(11)?).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            9,
                            rusqlite::types::Type::Text,
                            e.into(),
                        )
                    })?,
                })
            },
        )?;
        for row in rows {
            claimed.push(row?);
        }
    }
    if claimed.is_empty() {
        return Ok(claimed);
    }
    // Recipients and bodies by ranges of ids rather than two lookups per message: claimed
    // ids are usually consecutive. A range spans gaps of at most RANGE_GAP ids, so the
    // rows of unclaimed messages it also reads (and skips) stay few.
    const RANGE_GAP: i64 = 16;
    let index: HashMap<i64, usize> = claimed.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    let mut ids: Vec<i64> = claimed.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    for id in ids {
        match ranges.last_mut() {
            Some((_, hi)) if id - *hi <= RANGE_GAP => *hi = id,
            _ => ranges.push((id, id)),
        }
    }
    let mut accepted = vec![false; claimed.len()];
    for &(lo, hi) in &ranges {
        let mut stmt = conn.prepare_cached(
            "SELECT message, seq, address, state, reply FROM recipients \
             WHERE message BETWEEN ?1 AND ?2 ORDER BY message, seq",
        )?;
        let mut rows = stmt.query(params![lo, hi])?;
        while let Some(r) = rows.next()? {
            let Some(&i) = index.get(&r.get::<_, i64>(0)?) else {
                continue;
            };
            let state: String = r.get(3)?;
            let state: RecipientState = state.parse().map_err(|e: String| {
                rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.into())
            })?;
            match state {
                RecipientState::Pending => claimed[i].pending.push(Recipient {
                    seq: r.get(1)?,
                    address: r.get(2)?,
                    state,
                    reply: r.get(4)?,
                }),
                RecipientState::Accepted => accepted[i] = true,
                _ => {}
            }
        }
    }
    for (c, a) in claimed.iter_mut().zip(accepted) {
        c.accepted_before = a;
        if c.size as i64 <= ready_max {
            // An empty message has no chunk; the others get theirs below.
            c.ready = Some(Vec::new());
        }
    }
    // One chunk at most each (ready_max <= CHUNK_BYTES).
    let any_ready = claimed.iter().any(|c| c.ready.is_some());
    for &(lo, hi) in ranges.iter().filter(|_| any_ready) {
        let mut stmt = conn.prepare_cached(
            "SELECT message, data FROM body_chunks WHERE message BETWEEN ?1 AND ?2 AND seq = 0",
        )?;
        let mut rows = stmt.query(params![lo, hi])?;
        while let Some(r) = rows.next()? {
            if let Some(&i) = index.get(&r.get::<_, i64>(0)?)
                && let Some(ready) = claimed[i].ready.as_mut()
            {
                *ready = r.get(1)?;
            }
        }
    }
    Ok(claimed)
}
