//! The outbox against real engines: a SQLite file always, PostgreSQL when the test server
//! runs (scripts/servers/postgres.sh); delivery against the scriptable capture sink.

#[path = "support/pg.rs"]
mod pg;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use smtpcm_engine::Endpoint;
use smtpcm_engine::address::{Mailbox, parse_list};
use smtpcm_engine::auth::{AuthConfig, AuthMethod};
use smtpcm_engine::mime::{Message, PreparedMessage};
use smtpcm_engine::security::TlsMode;
use smtpcm_engine::smtp::ClientConfig;
use smtpcm_outbox::worker::{self, Counters, WorkerConfig};
use smtpcm_outbox::{
    Action, Completion, Outbox, OutboxError, RecipientState, Settings, State, Store, UnknownPolicy,
    now_ms,
};
use smtpcm_sink::{Fault, FaultScript, FaultStage, Sink, SinkConfig, SinkHandle};

fn message(to: &str) -> PreparedMessage {
    Message {
        from: Some(Mailbox::parse("etl@x.test").unwrap()),
        to: parse_list(to).unwrap(),
        subject: "outbox test".into(),
        text_body: Some("hello from the outbox".into()),
        ..Message::default()
    }
    .prepare()
    .unwrap()
}

/// Each engine the machine offers: SQLite always, PostgreSQL when running.
struct Engines {
    dir: tempfile::TempDir,
    pg: Option<String>,
    dbs: Vec<String>,
}

impl Engines {
    fn new() -> Self {
        Engines {
            dir: tempfile::tempdir().unwrap(),
            pg: pg::server_url(),
            dbs: Vec::new(),
        }
    }

    /// Fresh outboxes, one per engine, labelled.
    async fn outboxes(&mut self, label: &str) -> Vec<(&'static str, Outbox)> {
        let path = self.dir.path().join(format!("{label}.sqlite"));
        let mut all = vec![(
            "sqlite",
            Outbox::open(path.to_str().unwrap(), true).await.unwrap(),
        )];
        if let Some(server) = self.pg.clone() {
            let (url, name) = pg::fresh_database(&server, label).await;
            self.dbs.push(name);
            all.push(("postgres", Outbox::open(&url, true).await.unwrap()));
        }
        all
    }

    async fn cleanup(self) {
        if let Some(server) = &self.pg {
            for db in &self.dbs {
                pg::drop_database(server, db).await;
            }
        }
    }
}

async fn sink(faults: FaultScript, reject: &[&str]) -> SinkHandle {
    Sink::start(SinkConfig {
        keep_messages: true,
        faults,
        reject_recipients: reject.iter().map(|s| s.to_string()).collect(),
        ..SinkConfig::default()
    })
    .await
    .unwrap()
}

fn route(sink: &SinkHandle) -> String {
    format!("127.0.0.1:{}", sink.local_addr().port())
}

fn router() -> Arc<dyn worker::Router> {
    Arc::new(|route: &str| {
        let (host, port) = route.split_once(':').ok_or("bad route")?;
        Ok::<_, String>(Endpoint {
            client: ClientConfig::new(host, port.parse().map_err(|_| "bad port")?, TlsMode::None),
            auth: AuthConfig {
                method: AuthMethod::Anonymous,
                target_name: None,
                allow_insecure: false,
            },
        })
    })
}

fn quick() -> WorkerConfig {
    WorkerConfig {
        concurrency: 2,
        until_empty: true,
        retry_initial: Duration::from_millis(20),
        retry_max: Duration::from_millis(50),
        idle_poll: Duration::from_millis(20),
        ..WorkerConfig::default()
    }
}

async fn work(outbox: Outbox, cfg: WorkerConfig) -> (Outbox, Arc<Counters>) {
    let outbox = Arc::new(outbox);
    let counters = Arc::new(Counters::default());
    worker::run(
        outbox.clone(),
        router(),
        cfg,
        counters.clone(),
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .unwrap();
    (Arc::into_inner(outbox).unwrap(), counters)
}

fn message_ids(sink: &SinkHandle) -> Vec<String> {
    sink.messages()
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(m.data.as_deref().unwrap_or_default()).into_owned();
            text.lines()
                .find_map(|l| l.strip_prefix("Message-ID: ").map(str::to_owned))
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_stored_bytes_and_records_each_recipient() {
    let mut engines = Engines::new();
    for (engine, outbox) in engines.outboxes("recipients").await {
        let sink = sink(FaultScript::new(), &["bad@x.test"]).await;
        let m = message("good@x.test; bad@x.test");
        let q = outbox.enqueue_prepared(&m, &route(&sink)).await.unwrap();
        assert_eq!(q.message_id, m.message_id(), "{engine}");
        let (outbox, counters) = work(outbox, quick()).await;
        let d = outbox.show(q.id).await.unwrap();
        assert_eq!(d.summary.state, State::Sent, "{engine}: {d:?}");
        assert_eq!(d.recipients[0].state, RecipientState::Accepted, "{engine}");
        // The reply to the final dot, whether stored per recipient or once per message.
        assert!(
            d.recipients[0].reply.as_deref().unwrap().starts_with("250"),
            "{engine}: {d:?}"
        );
        assert_eq!(d.recipients[1].state, RecipientState::Rejected, "{engine}");
        assert!(
            d.recipients[1].reply.as_deref().unwrap().starts_with("550"),
            "{engine}: {d:?}"
        );
        assert_eq!(message_ids(&sink), [m.message_id().to_owned()], "{engine}");
        assert_eq!(sink.messages()[0].rcpt_to, ["good@x.test"], "{engine}");
        assert_eq!(
            counters
                .rejected_recipients
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        // The stored bytes are what was rendered at enqueue time.
        let mut rendered = Vec::new();
        m.write_to(&mut rendered).await.unwrap();
        assert_eq!(
            sink.messages()[0].data.as_deref(),
            Some(&rendered[..]),
            "{engine}"
        );
    }
    engines.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_recipient_is_retried_alone() {
    let mut engines = Engines::new();
    for (engine, outbox) in engines.outboxes("deferred").await {
        // The first RCPT of the first transaction gets a 451; everything else is accepted.
        let sink = sink(
            FaultScript::new().times(
                FaultStage::Rcpt,
                Fault::Reply(451, "4.3.0 Try again later".into()),
                1,
            ),
            &[],
        )
        .await;
        let m = message("first@x.test; second@x.test");
        let q = outbox.enqueue_prepared(&m, &route(&sink)).await.unwrap();
        let (outbox, _) = work(outbox, quick()).await;
        let d = outbox.show(q.id).await.unwrap();
        assert_eq!(d.summary.state, State::Sent, "{engine}: {d:?}");
        assert_eq!(d.summary.attempts, 2, "{engine}");
        let got = sink.messages();
        assert_eq!(got.len(), 2, "{engine}");
        assert_eq!(got[0].rcpt_to, ["second@x.test"], "{engine}");
        // The accepted recipient is never sent the message again.
        assert_eq!(got[1].rcpt_to, ["first@x.test"], "{engine}");
        assert_eq!(
            message_ids(&sink),
            [m.message_id(), m.message_id()],
            "{engine}"
        );
    }
    engines.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_fails_the_message_with_the_reply() {
    let mut engines = Engines::new();
    for (engine, outbox) in engines.outboxes("permanent").await {
        let sink = sink(
            FaultScript::new().always(
                FaultStage::Mail,
                Fault::Reply(550, "5.7.1 Sender refused".into()),
            ),
            &[],
        )
        .await;
        let q = outbox
            .enqueue_prepared(&message("a@x.test"), &route(&sink))
            .await
            .unwrap();
        let (outbox, _) = work(outbox, quick()).await;
        let d = outbox.show(q.id).await.unwrap();
        assert_eq!(d.summary.state, State::Failed, "{engine}");
        assert!(
            d.summary
                .last_error
                .as_deref()
                .unwrap()
                .contains("550 5.7.1 Sender refused"),
            "{engine}: {d:?}"
        );
        assert_eq!(d.summary.attempts, 1, "{engine}: a 5xx is not retried");
        // An operator's retry queues it again.
        assert_eq!(
            outbox.act(q.id, Action::Retry, now_ms()).await.unwrap(),
            State::Queued
        );
    }
    engines.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_after_the_dot_is_held_or_resent_per_policy() {
    let mut engines = Engines::new();
    for policy in [UnknownPolicy::Hold, UnknownPolicy::Resend] {
        let label = format!("unknown_{}", policy.as_str());
        for (engine, outbox) in engines.outboxes(&label).await {
            outbox
                .set_settings(Settings {
                    unknown_policy: policy,
                    ..Settings::default()
                })
                .await
                .unwrap();
            // The first transaction loses its connection after the final dot.
            let sink = sink(
                FaultScript::new().times(FaultStage::AfterDot, Fault::Disconnect, 1),
                &[],
            )
            .await;
            let m = message("a@x.test");
            let q = outbox.enqueue_prepared(&m, &route(&sink)).await.unwrap();
            let (outbox, counters) = work(outbox, quick()).await;
            let d = outbox.show(q.id).await.unwrap();
            let status = outbox.status(now_ms()).await.unwrap();
            assert_eq!(d.summary.unknown_count, 1, "{engine} {policy:?}: {d:?}");
            assert_eq!(status.unknown_events, 1, "{engine} {policy:?}");
            assert_eq!(
                counters.unknown.load(std::sync::atomic::Ordering::Relaxed),
                1
            );
            match policy {
                UnknownPolicy::Hold => {
                    // Held for the operator: nothing sent again, nothing arrived twice.
                    assert_eq!(d.summary.state, State::Unknown, "{engine}");
                    assert_eq!(status.count(State::Unknown), 1, "{engine}");
                    assert_eq!(status.resent_after_unknown, 0, "{engine}");
                    assert!(sink.messages().is_empty(), "{engine}");
                    // The operator releases it: sent, and counted as a resend.
                    outbox.act(q.id, Action::Release, now_ms()).await.unwrap();
                    let (outbox, _) = work(outbox, quick()).await;
                    let after = outbox.status(now_ms()).await.unwrap();
                    assert_eq!(outbox.show(q.id).await.unwrap().summary.state, State::Sent);
                    assert_eq!(after.resent_after_unknown, 1, "{engine}");
                }
                UnknownPolicy::Resend => {
                    assert_eq!(d.summary.state, State::Sent, "{engine}");
                    assert_eq!(status.resent_after_unknown, 1, "{engine}");
                }
            }
            assert_eq!(message_ids(&sink), [m.message_id()], "{engine} {policy:?}");
        }
    }
    engines.cleanup().await;
}

/// A worker that dies: its lease expires and the message is taken over. Before the final
/// dot it is simply queued again; after it, delivery is unknown and the policy decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_leases_are_taken_over() {
    let mut engines = Engines::new();
    for (engine, outbox) in engines.outboxes("lease").await {
        let settings = Settings::default();
        let a = outbox
            .enqueue_prepared(&message("a@x.test"), "127.0.0.1:9")
            .await
            .unwrap();
        let b = outbox
            .enqueue_prepared(&message("b@x.test"), "127.0.0.1:9")
            .await
            .unwrap();
        let now = now_ms();
        let claimed = outbox.claim("dead", 10, now, now + 1000, 0).await.unwrap();
        assert_eq!(claimed.len(), 2, "{engine}");
        // Another worker finds nothing to claim while the lease holds.
        assert!(
            outbox
                .claim("alive", 10, now, now + 1000, 0)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            outbox.recover(now + 500, settings).await.unwrap(),
            0,
            "{engine}"
        );
        // The dead worker had sent b's final dot, not a's.
        assert!(outbox.mark_dot(b.id, "dead").await.unwrap());
        assert!(!outbox.mark_dot(b.id, "someone-else").await.unwrap());
        assert_eq!(
            outbox.recover(now + 2000, settings).await.unwrap(),
            2,
            "{engine}"
        );
        assert_eq!(
            outbox.show(a.id).await.unwrap().summary.state,
            State::Queued
        );
        let db = outbox.show(b.id).await.unwrap();
        assert_eq!(db.summary.state, State::Unknown, "{engine}");
        assert_eq!(db.summary.unknown_count, 1, "{engine}");
        // The dead worker's late answer is refused: it no longer holds the lease.
        let late = Completion {
            state: State::Sent,
            next_attempt_at: now,
            recipients: Vec::new(),
            last_error: None,
            unknown: false,
        };
        assert!(
            !outbox.complete(a.id, "dead", late).await.unwrap(),
            "{engine}"
        );
        let taken = outbox
            .claim("alive", 10, now + 2000, now + 9000, 0)
            .await
            .unwrap();
        assert_eq!(
            taken.iter().map(|c| c.id).collect::<Vec<_>>(),
            [a.id],
            "{engine}"
        );
    }
    engines.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_expires_and_operations_follow_the_state_rules() {
    let mut engines = Engines::new();
    for (engine, outbox) in engines.outboxes("ops").await {
        outbox
            .set_settings(Settings {
                max_age: Duration::from_secs(60),
                ..Settings::default()
            })
            .await
            .unwrap();
        let settings = outbox.settings().await.unwrap();
        assert_eq!(settings.max_age, Duration::from_secs(60));
        let a = outbox
            .enqueue_prepared(&message("a@x.test"), "127.0.0.1:9")
            .await
            .unwrap();
        let b = outbox
            .enqueue_prepared(&message("b@x.test"), "127.0.0.1:9")
            .await
            .unwrap();
        // Hold b; then a minute passes and a expires, b (held) does not.
        assert_eq!(
            outbox.act(b.id, Action::Hold, now_ms()).await.unwrap(),
            State::Held
        );
        let later = now_ms() + 61_000;
        assert_eq!(
            outbox.recover(later, settings).await.unwrap(),
            1,
            "{engine}"
        );
        let status = outbox.status(later).await.unwrap();
        assert_eq!(status.count(State::Expired), 1, "{engine}");
        assert_eq!(status.count(State::Held), 1, "{engine}");
        assert_eq!(status.oldest_pending_age_secs, None, "{engine}");
        // Wrong states are refused with a clear error.
        let e = outbox.act(a.id, Action::Hold, now_ms()).await.unwrap_err();
        assert!(matches!(e, OutboxError::WrongState { .. }), "{engine}: {e}");
        assert!(e.to_string().contains("is expired"), "{e}");
        assert!(matches!(
            outbox.act(999_999, Action::Retry, now_ms()).await,
            Err(OutboxError::NotFound(999_999))
        ));
        // Release b: queued again, oldest pending age is counted from its enqueue.
        outbox.act(b.id, Action::Release, now_ms()).await.unwrap();
        let status = outbox.status(now_ms() + 5_000).await.unwrap();
        assert_eq!(status.count(State::Queued), 1);
        assert!(status.oldest_pending_age_secs.unwrap() >= 5, "{status:?}");
        // Purge removes finished messages only (the expired a), not the queued b.
        assert_eq!(outbox.purge(now_ms() + 1).await.unwrap(), 1, "{engine}");
        assert!(matches!(
            outbox.show(a.id).await,
            Err(OutboxError::NotFound(_))
        ));
        assert_eq!(outbox.list(None, 10).await.unwrap().len(), 1);
        assert_eq!(
            outbox.list(Some(State::Queued), 10).await.unwrap()[0].id,
            b.id
        );
    }
    engines.cleanup().await;
}

/// SQLITE_FULL (reproduced with `PRAGMA max_page_count`): the enqueue fails with a clear
/// error and commits nothing; earlier messages stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_full_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.sqlite");
    let store = smtpcm_outbox::sqlite::SqliteStore::open(&path, true).unwrap();
    let first = smtpcm_outbox::render::render(&message("a@x.test"), "r")
        .await
        .unwrap();
    store.enqueue(vec![first], now_ms()).await.unwrap();
    store.set_max_page_count(40).unwrap();
    let big = smtpcm_outbox::NewMessage {
        message_id: "<big@x.test>".into(),
        route: "r".into(),
        sender: "a@x.test".into(),
        recipients: vec!["b@x.test".into()],
        eight_bit: false,
        smtputf8: false,
        dsn: Default::default(),
    };
    let e = store
        .enqueue(
            vec![(big, smtpcm_outbox::Body::memory(vec![b'x'; 1 << 20]))],
            now_ms(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, OutboxError::Full { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("full.sqlite: the disk or database is full"),
        "{e}"
    );
    let status = store.status(now_ms()).await.unwrap();
    assert_eq!(status.count(State::Queued), 1);
}

/// A database written by a newer version is refused, not migrated backwards or misread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.sqlite");
    drop(smtpcm_outbox::sqlite::SqliteStore::open(&path, true).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("INSERT INTO schema_version (version) VALUES (99)", [])
        .unwrap();
    drop(c);
    let e = match smtpcm_outbox::sqlite::SqliteStore::open(&path, false) {
        Err(e) => e,
        Ok(_) => panic!("a newer schema was accepted"),
    };
    assert!(
        e.to_string()
            .contains("schema version 99 is newer than this smtpcm supports (3)"),
        "{e}"
    );
}

/// An outbox written by the first schema (no DSN columns) is migrated in place when it is
/// opened: what it holds stays queued and can be claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_outbox_is_migrated_and_keeps_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.sqlite");
    let store = smtpcm_outbox::sqlite::SqliteStore::open(&path, true).unwrap();
    let q = store
        .enqueue(
            vec![
                smtpcm_outbox::render::render(&message("a@x.test"), "r")
                    .await
                    .unwrap(),
            ],
            now_ms(),
        )
        .await
        .unwrap();
    drop(store);
    // Back to the shape version 1 had.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "ALTER TABLE messages DROP COLUMN dsn_notify; ALTER TABLE messages DROP COLUMN dsn_ret;
         ALTER TABLE messages DROP COLUMN dsn_envid; ALTER TABLE messages DROP COLUMN accepted_reply;
         DROP INDEX messages_due; DROP INDEX messages_leased;
         CREATE INDEX messages_due ON messages (state, next_attempt_at);
         DELETE FROM schema_version WHERE version > 1;",
    )
    .unwrap();
    drop(c);
    let store = smtpcm_outbox::sqlite::SqliteStore::open(&path, false).unwrap();
    // Version 3's partial indexes replaced version 1's index on (state, time).
    let c = rusqlite::Connection::open(&path).unwrap();
    let due: String = c
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'messages_due'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(due.contains("WHERE state = 'queued'"), "{due}");
    drop(c);
    let now = now_ms();
    let claimed = store
        .claim("w", 10, now, now + 1000, u64::MAX)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, q[0].id);
    assert!(claimed[0].dsn.is_empty());
}

/// `rate_per_relay` spaces the sends to one relay over all tasks: 6 messages at 2 per second
/// start at 0, 0.5, ..., 2.5 s, so the run cannot end before 2 s however many tasks claim them.
/// Only a lower bound on the time is asserted: a loaded machine makes the run slower, never
/// faster, so it cannot fail the test; without the limit the run takes milliseconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_to_one_relay_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rate.sqlite");
    let outbox = Outbox::open(path.to_str().unwrap(), true).await.unwrap();
    let sink = sink(FaultScript::new(), &[]).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let m = message(&format!("r{i}@x.test"));
        outbox.enqueue_prepared(&m, &route(&sink)).await.unwrap();
        ids.push(m.message_id().to_owned());
    }
    let cfg = WorkerConfig {
        concurrency: 4,
        rate_per_relay: Some(2.0),
        ..quick()
    };
    let started = std::time::Instant::now();
    let (_outbox, _) = work(outbox, cfg).await;
    let elapsed = started.elapsed();
    let mut got = message_ids(&sink);
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "every message arrives once");
    assert!(
        elapsed >= Duration::from_secs(2),
        "6 messages at 2/s took only {elapsed:?}: the rate limit is not applied"
    );
}

/// A ready claim carries each small message's stored bytes and its dot mark, in the one
/// commit: a worker killed while holding the batch leaves all of it unknown (never resent
/// silently), while a message claimed not ready is simply queued again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_claim_carries_the_bytes_and_the_dot_mark() {
    let mut engines = Engines::new();
    for (engine, outbox) in engines.outboxes("ready").await {
        let mut ids = Vec::new();
        for to in ["a@x.test", "b@x.test", "c@x.test"] {
            let q = outbox
                .enqueue_prepared(&message(to), "127.0.0.1:9")
                .await
                .unwrap();
            ids.push((q.id, q.size));
        }
        let now = now_ms();
        // Two ready (everything fits), then the third claimed not ready.
        let ready = outbox
            .claim("dead", 2, now, now + 1000, u64::MAX)
            .await
            .unwrap();
        assert_eq!(ready.len(), 2, "{engine}");
        for c in &ready {
            let stored = outbox.chunk(c.id, 0).await.unwrap().unwrap();
            assert_eq!(c.ready.as_deref(), Some(&stored[..]), "{engine}");
            assert_eq!(stored.len() as u64, c.size, "{engine}");
            assert_eq!(c.pending.len(), 1, "{engine}");
        }
        let too_big = ids[2].1 - 1;
        let streamed = outbox
            .claim("dead", 10, now, now + 1000, too_big)
            .await
            .unwrap();
        assert_eq!(streamed.len(), 1, "{engine}");
        assert!(streamed[0].ready.is_none(), "{engine}");
        assert_eq!(streamed[0].pending[0].address, "c@x.test", "{engine}");
        // The worker dies: its lease runs out.
        let settings = Settings::default();
        assert_eq!(outbox.recover(now + 2000, settings).await.unwrap(), 3);
        let states: Vec<State> = {
            let mut v = Vec::new();
            for (id, _) in &ids {
                v.push(outbox.show(*id).await.unwrap().summary.state);
            }
            v
        };
        assert_eq!(
            states,
            [State::Unknown, State::Unknown, State::Queued],
            "{engine}"
        );
    }
    engines.cleanup().await;
}

/// One pipelined batch with a refusal in the middle: each reply goes to its own message,
/// and the refused one alone fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_inside_a_pipelined_batch_fails_that_message_alone() {
    let mut engines = Engines::new();
    for (engine, outbox) in engines.outboxes("batch").await {
        let sink = sink(FaultScript::new(), &["nobody@x.test"]).await;
        let mut queued = Vec::new();
        for i in 0..9 {
            let to = if i == 4 { "nobody@x.test" } else { "ok@x.test" };
            queued.push(
                outbox
                    .enqueue_prepared(&message(to), &route(&sink))
                    .await
                    .unwrap(),
            );
        }
        let cfg = WorkerConfig {
            concurrency: 1,
            ..quick()
        };
        let (outbox, counters) = work(outbox, cfg).await;
        let mut states = Vec::new();
        for q in &queued {
            states.push(outbox.show(q.id).await.unwrap().summary.state);
        }
        let mut expected = vec![State::Sent; 9];
        expected[4] = State::Failed;
        assert_eq!(states, expected, "{engine}");
        assert_eq!(
            counters.sent.load(std::sync::atomic::Ordering::Relaxed),
            8,
            "{engine}"
        );
        let got = message_ids(&sink);
        let want: Vec<String> = queued
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 4)
            .map(|(_, q)| q.message_id.clone())
            .collect();
        assert_eq!(
            got, want,
            "{engine}: delivered in order, the refused one missing"
        );
        let d = outbox.show(queued[4].id).await.unwrap();
        assert_eq!(d.recipients[0].state, RecipientState::Rejected, "{engine}");
    }
    engines.cleanup().await;
}
