//! What the outbox stores: message states, recipients, settings, and reports.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use smtpcm_engine::smtp::{Dsn, DsnError};

/// Where a message is in its life.
///
/// ```text
/// queued ─claim─▶ sending ─250─▶ sent
///   ▲  ▲             │ 4xx/lost before dot ──▶ queued (backoff)
///   │  │             │ 5xx ──▶ failed
///   │  └─resend──────┤ lost after dot ──▶ unknown (hold) | queued (resend)
///   └──release── held/unknown        queued past max age ──▶ expired
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for a worker (possibly until `next_attempt_at`).
    Queued,
    /// Claimed by a worker holding a lease.
    Sending,
    /// Every recipient was accepted or permanently rejected, at least one accepted.
    Sent,
    /// Permanently refused (5xx), with the server's reply.
    Failed,
    /// The connection was lost after the final dot: the relay may or may not have the
    /// message. Held for an operator under the `hold` policy.
    Unknown,
    /// Held by an operator (`outbox hold`).
    Held,
    /// Still not delivered after the outbox's maximum age.
    Expired,
}

impl State {
    /// Every state, in display order.
    pub const ALL: [State; 7] = [
        State::Queued,
        State::Sending,
        State::Sent,
        State::Failed,
        State::Unknown,
        State::Held,
        State::Expired,
    ];

    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Sending => "sending",
            State::Sent => "sent",
            State::Failed => "failed",
            State::Unknown => "unknown",
            State::Held => "held",
            State::Expired => "expired",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown message state {s:?}"))
    }
}

/// Where one recipient is. An accepted recipient is never sent the message again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientState {
    /// Not yet accepted (never tried, or deferred with a 4xx).
    Pending,
    /// The relay accepted the message for this recipient.
    Accepted,
    /// The relay refused this recipient for good (5xx).
    Rejected,
}

impl RecipientState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Pending => "pending",
            RecipientState::Accepted => "accepted",
            RecipientState::Rejected => "rejected",
        }
    }
}

impl FromStr for RecipientState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(RecipientState::Pending),
            "accepted" => Ok(RecipientState::Accepted),
            "rejected" => Ok(RecipientState::Rejected),
            _ => Err(format!("unknown recipient state {s:?}")),
        }
    }
}

/// What to do with a message whose connection was lost after the final dot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownPolicy {
    /// Leave it in `unknown` for an operator to `release` (resend) or `purge`: no duplicates.
    #[default]
    Hold,
    /// Send it again at once (at-least-once): a duplicate is possible, and counted.
    Resend,
}

impl UnknownPolicy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownPolicy::Hold => "hold",
            UnknownPolicy::Resend => "resend",
        }
    }
}

impl FromStr for UnknownPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "hold" => Ok(UnknownPolicy::Hold),
            "resend" => Ok(UnknownPolicy::Resend),
            _ => Err(format!("unknown policy {s:?} (expected hold or resend)")),
        }
    }
}

/// Settings stored in the outbox itself, shared by every worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// The unknown-window policy.
    pub unknown_policy: UnknownPolicy,
    /// A message not delivered this long after it was queued expires (Postfix's
    /// `maximal_queue_lifetime`, 5 days by default).
    #[serde(serialize_with = "secs")]
    pub max_age: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            unknown_policy: UnknownPolicy::Hold,
            max_age: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

/// A message to queue: its envelope, where it goes, and its rendered bytes.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The `Message-ID` of the rendered message (angle brackets included).
    pub message_id: String,
    /// Where the message goes, opaque to the outbox: the CLI stores the connection string
    /// (it never holds a secret value, only the names of environment variables or files).
    pub route: String,
    /// The envelope sender.
    pub sender: String,
    /// The envelope recipients.
    pub recipients: Vec<String>,
    /// The message needs `BODY=8BITMIME`.
    pub eight_bit: bool,
    /// The message needs `SMTPUTF8`.
    pub smtputf8: bool,
    /// Delivery status notifications to ask for (RFC 3461); empty asks for none beyond
    /// what the stored connection string says.
    pub dsn: Dsn,
}

/// A message the outbox accepted: committed when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queued {
    /// The outbox's id for the message.
    pub id: i64,
    /// Its `Message-ID`.
    pub message_id: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One recipient of a stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// Position in the envelope.
    pub seq: i32,
    /// The address.
    pub address: String,
    /// Where it is.
    pub state: RecipientState,
    /// The relay's last reply about it, if any.
    pub reply: Option<String>,
}

/// A message as `list` and `show` present it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The outbox id.
    pub id: i64,
    /// The `Message-ID`.
    pub message_id: String,
    /// Its state.
    pub state: State,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// How often the connection was lost after the final dot.
    pub unknown_count: i32,
    /// The envelope sender.
    pub sender: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was queued (milliseconds since the Unix epoch).
    pub created_at: i64,
    /// When a worker may try it next (milliseconds since the Unix epoch).
    pub next_attempt_at: i64,
    /// The worker holding it, while `sending`.
    pub lease_owner: Option<String>,
    /// The last error or refusal.
    pub last_error: Option<String>,
}

/// A message in full: its summary, route and recipients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detail {
    /// The summary.
    #[serde(flatten)]
    pub summary: Summary,
    /// The stored route (connection string, no secret values).
    pub route: String,
    /// Every recipient with its state.
    pub recipients: Vec<Recipient>,
}

/// Counts per state and the age of the oldest message still to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// `(state, count)` for every state, zeros included.
    pub counts: Vec<(State, u64)>,
    /// Age in seconds of the oldest `queued` or `sending` message.
    pub oldest_pending_age_secs: Option<u64>,
    /// Times a connection was lost after the final dot, over all messages.
    pub unknown_events: u64,
    /// Messages sent again after an unknown outcome (policy `resend`, or `release`).
    pub resent_after_unknown: u64,
    /// The outbox's settings.
    pub settings: Settings,
}

impl Status {
    /// The count for one state.
    pub fn count(&self, state: State) -> u64 {
        self.counts
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n)
    }

    /// Messages a worker still has to deliver (`queued` and `sending`).
    pub fn pending(&self) -> u64 {
        self.count(State::Queued) + self.count(State::Sending)
    }
}

/// A message claimed by a worker: what it needs to deliver it.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The outbox id.
    pub id: i64,
    /// The `Message-ID`.
    pub message_id: String,
    /// The stored route.
    pub route: String,
    /// The envelope sender.
    pub sender: String,
    /// Size in bytes.
    pub size: u64,
    /// Needs `BODY=8BITMIME`.
    pub eight_bit: bool,
    /// Needs `SMTPUTF8`.
    pub smtputf8: bool,
    /// Delivery attempts including this one.
    pub attempts: i32,
    /// When it was queued (ms).
    pub created_at: i64,
    /// Recipients still `pending`: the only ones this attempt addresses.
    pub pending: Vec<Recipient>,
    /// Some recipient accepted the message in an earlier attempt.
    pub accepted_before: bool,
    /// The whole rendered message when it was claimed *ready* (see
    /// [`Store::claim`](crate::store::Store::claim)): its bytes came with the claim and its
    /// dot mark is already durable, so it can go into a pipelined batch at once.
    pub ready: Option<Vec<u8>>,
    /// The delivery status notifications queued with it.
    pub dsn: Dsn,
}

/// A [`Dsn`] as the three nullable text columns both engines store it in.
pub(crate) fn dsn_columns(dsn: &Dsn) -> [Option<String>; 3] {
    [
        dsn.notify.map(|n| n.to_string()),
        dsn.ret.map(|r| r.to_string()),
        dsn.envid.clone(),
    ]
}

/// The [`Dsn`] back from its columns; a value this smtpcm cannot read is an error.
pub(crate) fn dsn_from_columns(
    notify: Option<String>,
    ret: Option<String>,
    envid: Option<String>,
) -> std::result::Result<Dsn, String> {
    Ok(Dsn {
        notify: notify
            .map(|n| n.parse().map_err(|e: DsnError| e.to_string()))
            .transpose()?,
        ret: ret
            .map(|r| r.parse().map_err(|e: DsnError| e.to_string()))
            .transpose()?,
        envid,
    })
}

/// What a delivery attempt decided, written in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The message's next state.
    pub state: State,
    /// When to try again (for `queued`).
    pub next_attempt_at: i64,
    /// Recipient updates: `(seq, state, reply)`.
    pub recipients: Vec<(i32, RecipientState, Option<String>)>,
    /// The error or refusal to show.
    pub last_error: Option<String>,
    /// The connection was lost after the final dot (counted).
    pub unknown: bool,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// An operator's action on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Try again now: from `failed`, `expired`, `unknown`, `held` or `queued`. Recipients
    /// refused for good become pending again; accepted ones stay accepted.
    Retry,
    /// Keep workers away from it: from `queued` or `unknown`.
    Hold,
    /// Queue it again now: from `held` or `unknown` (an unknown one is then sent again,
    /// which the outbox counts as a resend after an unknown outcome).
    Release,
}

impl Action {
    /// The command's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Retry => "retry",
            Action::Hold => "hold",
            Action::Release => "release",
        }
    }

    /// The states it applies to.
    pub fn allowed(self) -> &'static [State] {
        match self {
            Action::Retry => &[
                State::Failed,
                State::Expired,
                State::Unknown,
                State::Held,
                State::Queued,
            ],
            Action::Hold => &[State::Queued, State::Unknown],
            Action::Release => &[State::Held, State::Unknown],
        }
    }

    /// The state it leads to.
    pub fn target(self) -> State {
        match self {
            Action::Hold => State::Held,
            Action::Retry | Action::Release => State::Queued,
        }
    }

    /// The allowed states as text, for errors.
    pub fn allowed_text(self) -> &'static str {
        match self {
            Action::Retry => "failed, expired, unknown, held or queued messages",
            Action::Hold => "queued or unknown messages",
            Action::Release => "held or unknown messages",
        }
    }
}
