//! The transcript (tracing target `smtpcm_engine::transcript`) shows every command and reply,
//! and never an AUTH payload.

#[path = "fixtures/smtp/script_server.rs"]
mod script_server;

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use script_server::{Delivery, Script, Step, replay, step, text};
use smtpcm_engine::auth::AuthChannel;
use smtpcm_engine::smtp::{Client, ClientConfig, Envelope, TRANSCRIPT_TARGET, Timeouts, TlsMode};
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber, span};

/// Collects the messages of transcript events.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        if event.metadata().target() == TRANSCRIPT_TARGET {
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().expect("capture lock").push(message.0);
        }
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

#[tokio::test]
async fn transcript_shows_commands_and_replies_but_no_secrets() {
    let script = Script::new(
        "220 mx.test ESMTP\r\n",
        vec![
            step(
                "EHLO client.test\r\n",
                "250-mx.test\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n",
            ),
            step(
                "AUTH PLAIN AHVzZXIAaHVudGVyMg==\r\n",
                // A careless server that echoes what it refused.
                "535 5.7.8 bad password hunter2 in AHVzZXIAaHVudGVyMg==\r\n",
            ),
            step("AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n"),
            step("dXNlcg==\r\n", "334 UGFzc3dvcmQ6\r\n"),
            step("aHVudGVyMg==\r\n", "235 2.7.0 ok\r\n"),
            step(
                "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n",
                "250 Ok\r\n250 Ok\r\n354 go\r\n",
            ),
            step("hi\r\n.\r\n", "250 2.0.0 queued\r\n"),
            Step {
                close: true,
                ..step("QUIT\r\n", "221 Bye\r\n")
            },
        ],
    );
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let (result, sent) = replay(script.clone(), Delivery::Whole, |port| async move {
        let mut cfg = ClientConfig::new("127.0.0.1", port, TlsMode::None);
        cfg.helo_name = Some("client.test".into());
        cfg.timeouts = Timeouts::uniform(Duration::from_secs(5));
        let mut c = Client::connect(&cfg).await?;
        c.auth_start("PLAIN", Some(b"\0user\0hunter2")).await?;
        c.auth_start("LOGIN", None).await?;
        c.auth_respond(b"user").await?;
        c.auth_respond(b"hunter2").await?;
        c.send(&Envelope::new("a@x", ["b@x"]), &b"hi"[..]).await?;
        c.quit().await
    })
    .await;
    result.expect("session");
    assert_eq!(text(&sent), text(&script.expected_client_bytes()));

    let lines = capture.0.lock().expect("capture lock").clone();
    for expected in [
        "S: 220 mx.test ESMTP",
        "C: EHLO client.test",
        "S: 250-mx.test",
        "S: 250 AUTH PLAIN LOGIN",
        "C: AUTH PLAIN <redacted>",
        "S: 535 5.7.8 [text withheld: a failed AUTH reply may echo credentials]",
        "C: AUTH LOGIN",
        "C: <redacted>",
        "C: MAIL FROM:<a@x>",
        "C: RCPT TO:<b@x>",
        "C: DATA",
        "C: .",
        "S: 250 2.0.0 queued",
        "C: QUIT",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "missing {expected:?} in {lines:#?}"
        );
    }
    for secret in ["hunter2", "aHVudGVyMg", "AHVzZXIAaHVudGVyMg"] {
        assert!(
            !lines.iter().any(|l| l.contains(secret)),
            "secret {secret:?} leaked into {lines:#?}"
        );
    }
}
