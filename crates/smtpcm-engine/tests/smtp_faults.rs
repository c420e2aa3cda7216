//! Hostile and broken servers against the real client, over loopback: a connection reset
//! while the body is being written (issue 8.5, issue 9.5), reply codes a stage cannot
//! have, and a refused STARTTLS (issue 9.5).

#[path = "fixtures/smtp/script_server.rs"]
mod script_server;

use std::time::Duration;

use script_server::{Delivery, Script, Step, check_all, start_each, step};
use smtpcm_engine::address::Mailbox;
use smtpcm_engine::auth::{AuthConfig, AuthMethod};
use smtpcm_engine::endpoint::send_on;
use smtpcm_engine::mime::{Message, PreparedMessage};
use smtpcm_engine::pool::{Pool, PoolConfig, RetryPolicy};
use smtpcm_engine::smtp::{
    Client, ClientConfig, Envelope, ErrorKind, SmtpError, Stage, Timeouts, TlsMode,
};
use smtpcm_engine::{Endpoint, SendError};
use tokio::io::AsyncReadExt;

const GREETING: &str = "220 mx.test ESMTP ready\r\n";
const EHLO: &str = "EHLO client.test\r\n";
/// No SIZE: the bodies here are larger than any limit a test server would announce.
const EHLO_PIPELINING: &str = "250-mx.test\r\n250 PIPELINING\r\n";
/// Far more than loopback socket buffers hold, so a server that stops reading and
/// resets is met while the body is still being written, never after the final dot.
const BIG: usize = 24 * 1024 * 1024;
/// What the server reads of the body before it resets the connection.
const READ_BEFORE_RESET: usize = 64 * 1024;

fn config(port: u16) -> ClientConfig {
    let mut cfg = ClientConfig::new("127.0.0.1", port, TlsMode::None);
    cfg.helo_name = Some("client.test".into());
    cfg.timeouts = Timeouts::uniform(Duration::from_secs(10));
    cfg
}

fn endpoint(port: u16) -> Endpoint {
    Endpoint {
        client: config(port),
        auth: AuthConfig {
            method: AuthMethod::Anonymous,
            target_name: None,
            allow_insecure: false,
        },
    }
}

/// Greeting, EHLO and one pipelined transaction, then a reset mid-body.
fn resetting(from: &str, to: &str) -> Script {
    Script::new(
        GREETING,
        vec![
            step(EHLO, EHLO_PIPELINING),
            step(
                format!("MAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n"),
                "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n",
            ),
            Step {
                reset: true,
                ..step(vec![0u8; READ_BEFORE_RESET], "")
            },
        ],
    )
}

/// Greeting, EHLO and one transaction that succeeds, then QUIT.
fn accepting(from: &str, to: &str) -> Script {
    Script::new(
        GREETING,
        vec![
            step(EHLO, EHLO_PIPELINING),
            step(
                format!("MAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n"),
                "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n",
            ),
            Step {
                until: Some(b"\r\n.\r\n".to_vec()),
                ..step("", "250 2.0.0 Ok: queued as 2\r\n")
            },
            Step {
                close: true,
                ..step("QUIT\r\n", "221 2.0.0 Bye\r\n")
            },
        ],
    )
}

fn big_message() -> PreparedMessage {
    let line = "a line of the body that is long enough to fill the socket buffers\n";
    Message {
        from: Some(Mailbox::parse("s@example.com").expect("sender")),
        to: vec![Mailbox::parse("t@example.com").expect("recipient")],
        subject: "big".into(),
        text_body: Some(line.repeat(BIG / line.len() + 1)),
        ..Message::default()
    }
    .prepare()
    .expect("prepare")
}

/// A reset while writing is a connection failure at the message-transfer stage.
fn assert_mid_body_connection_error(err: &SmtpError) {
    assert_eq!(err.stage(), Stage::DataTransfer, "{err}");
    assert!(
        matches!(err.kind(), ErrorKind::Io(_) | ErrorKind::Disconnected),
        "{err}"
    );
    assert!(err.is_connection(), "{err}");
    assert!(!err.is_delivery_unknown(), "the dot was never sent: {err}");
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn reset_mid_body_reaches_the_writer_as_a_typed_connection_error() {
    let (port, server) = start_each(vec![resetting("a@x", "b@x")], Delivery::Whole).await;
    let mut c = Client::connect(&config(port)).await.expect("connect");
    let mut w = c
        .begin(&Envelope::new("a@x", ["b@x"]))
        .await
        .expect("begin");
    let mut body = tokio::io::repeat(b'x').take(BIG as u64);
    let io_err = tokio::io::copy(&mut body, &mut w)
        .await
        .expect_err("the server reset the connection");
    // The io::Error the AsyncWrite caller sees carries the typed error ...
    let carried = SmtpError::from_io_error(&io_err).expect("a typed error inside the io::Error");
    assert_mid_body_connection_error(carried);
    // ... and the writer still holds the original.
    let kept = w.take_error().expect("the writer remembers its error");
    assert_mid_body_connection_error(&kept);
    drop(w);
    c.quit().await.expect("quit just closes");
    let sent = server.await.expect("server");
    assert!(!sent[0].ends_with(b"\r\n.\r\n"), "never terminated");
}

#[tokio::test]
async fn send_on_reports_a_reset_mid_body_as_an_smtp_error_not_a_mime_error() {
    let (port, server) = start_each(
        vec![resetting("s@example.com", "t@example.com")],
        Delivery::Whole,
    )
    .await;
    let message = big_message();
    let mut conn = endpoint(port).connect().await.expect("connect");
    let err = send_on(&mut conn.client, &message)
        .await
        .expect_err("the server reset the connection");
    let SendError::Smtp(smtp) = &err else {
        panic!("expected an SMTP connection error, got {err:?}");
    };
    assert_mid_body_connection_error(smtp);
    assert!(err.is_retryable());
    conn.client.quit().await.expect("quit just closes");
    server.await.expect("server");
}

#[tokio::test]
async fn pool_retries_a_message_whose_connection_was_reset_mid_body() {
    let (port, server) = start_each(
        vec![
            resetting("s@example.com", "t@example.com"),
            accepting("s@example.com", "t@example.com"),
        ],
        Delivery::Whole,
    )
    .await;
    let message = big_message();
    let pool = Pool::new(
        endpoint(port),
        PoolConfig {
            max_connections: 1,
            retry: RetryPolicy {
                max_retries: 1,
                initial_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(1),
            },
            ..PoolConfig::default()
        },
    );
    let report = pool.send(&message).await.expect("sent on the retry");
    assert_eq!(report.reply.message(), "Ok: queued as 2");
    assert_eq!(pool.connections_opened(), 2);
    pool.close().await;
    let sent = server.await.expect("server");
    assert_eq!(sent.len(), 2);
    assert!(sent[1].ends_with(b"QUIT\r\n"));
}

/// Plays `steps` (after the greeting) on every delivery mode, runs `client`, and checks
/// that nothing is sent after the impossible reply: no QUIT, no RSET, no data.
async fn impossible(
    steps: Vec<Step>,
    client: impl AsyncFn(&mut Client) -> SmtpError,
) -> Vec<SmtpError> {
    let script = Script::new(GREETING, steps);
    let client = &client;
    check_all(script, |port| async move {
        let mut c = Client::connect(&config(port)).await.expect("connect");
        let err = client(&mut c).await;
        let again = c.noop().await.expect_err("the session is closed");
        assert!(again.is_protocol(), "{again}");
        c.quit().await.expect("quit just closes");
        err
    })
    .await
}

fn assert_impossible(err: &SmtpError, stage: Stage, code: u16) {
    assert_eq!(err.stage(), stage, "{err}");
    assert!(
        matches!(err.kind(), ErrorKind::UnexpectedReply(r) if r.code == code),
        "{err}"
    );
    assert!(err.is_protocol(), "{err}");
    assert!(err.reply().is_none(), "not a refusal: {err}");
    assert!(!err.is_permanent() && !err.is_transient() && !err.is_retryable());
    assert!(!err.is_delivery_unknown() && !err.is_connection());
    assert!(err.to_string().contains("protocol error"), "{err}");
}

#[tokio::test]
async fn reply_code_600_to_mail_is_a_protocol_error() {
    let steps = vec![
        step(EHLO, "250 mx.test\r\n"),
        step("MAIL FROM:<a@x>\r\n", "600 6.0.0 what\r\n"),
    ];
    let results = impossible(steps, async |c| {
        c.begin(&Envelope::new("a@x", ["b@x"]))
            .await
            .expect_err("600")
    })
    .await;
    for err in results {
        assert_impossible(&err, Stage::Mail, 600);
    }
}

#[tokio::test]
async fn reply_code_999_in_a_pipeline_is_a_protocol_error() {
    let steps = vec![
        step(EHLO, EHLO_PIPELINING),
        step(
            "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n",
            "250 2.1.0 Ok\r\n999 nonsense\r\n354 go\r\n",
        ),
    ];
    let results = impossible(steps, async |c| {
        c.begin(&Envelope::new("a@x", ["b@x"]))
            .await
            .expect_err("999")
    })
    .await;
    for err in results {
        assert_impossible(&err, Stage::Rcpt, 999);
    }
}

#[tokio::test]
async fn reply_354_after_the_final_dot_is_a_protocol_error_not_rejected() {
    let steps = vec![
        step(EHLO, EHLO_PIPELINING),
        step(
            "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n",
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n",
        ),
        step("hello\r\n.\r\n", "354 still going\r\n"),
    ];
    let results = impossible(steps, async |c| {
        c.send(&Envelope::new("a@x", ["b@x"]), &b"hello\r\n"[..])
            .await
            .expect_err("354 after the dot")
    })
    .await;
    for err in results {
        assert_impossible(&err, Stage::DataEnd, 354);
    }
}

#[tokio::test]
async fn reply_250_to_data_is_a_protocol_error() {
    let steps = vec![
        step(EHLO, "250 mx.test\r\n"),
        step("MAIL FROM:<a@x>\r\n", "250 Ok\r\n"),
        step("RCPT TO:<b@x>\r\n", "250 Ok\r\n"),
        // A client that took this for "go ahead" would send the body as commands.
        step("DATA\r\n", "250 Ok\r\n"),
    ];
    let results = impossible(steps, async |c| {
        c.begin(&Envelope::new("a@x", ["b@x"]))
            .await
            .expect_err("250 to DATA")
    })
    .await;
    for err in results {
        assert_impossible(&err, Stage::Data, 250);
    }
}

#[tokio::test]
async fn starttls_454_is_a_tls_class_error_and_retryable() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, "250-mx.test\r\n250 STARTTLS\r\n"),
            step(
                "STARTTLS\r\n",
                "454 4.7.0 TLS not available due to local problem\r\n",
            ),
        ],
    );
    let results = check_all(script, |port| async move {
        let mut cfg = config(port);
        cfg.tls = TlsMode::StartTls;
        Client::connect(&cfg).await.expect_err("no TLS, no mail")
    })
    .await;
    for err in results {
        assert_eq!(err.stage(), Stage::StartTls);
        assert_eq!(err.reply().map(|r| r.code), Some(454));
        assert!(err.is_tls(), "{err}");
        assert!(err.is_retryable(), "a 4xx may work later: {err}");
    }
}

#[tokio::test]
async fn a_command_dropped_before_its_reply_poisons_the_session() {
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut script = Script::new(
        GREETING,
        vec![
            step(EHLO, EHLO_PIPELINING),
            // A slow server: the reply comes only after the client gave up waiting.
            Step {
                hold: true,
                ..step("NOOP\r\n", "250 2.0.0 stale reply to NOOP\r\n")
            },
        ],
    );
    script.release = Some(release.clone());
    for delivery in Delivery::ALL {
        let expected = script.expected_client_bytes();
        let (port, server) = start_each(vec![script.clone()], delivery).await;
        let mut c = Client::connect(&config(port)).await.expect("connect");
        // The server holds its reply until released, so this always times out, after the
        // NOOP was written and while its reply is awaited.
        let cancelled = tokio::time::timeout(Duration::from_millis(50), c.noop()).await;
        assert!(cancelled.is_err(), "the server has not answered yet");
        release.notify_one();
        // Without the poison, RSET would read the stale 250 as its own reply.
        let err = c.rset().await.expect_err("the session is out of step");
        assert!(err.is_protocol(), "{err}");
        assert!(err.to_string().contains("cancelled"), "{err}");
        let err = c
            .begin(&Envelope::new("a@x", ["b@x"]))
            .await
            .expect_err("still out of step");
        assert!(err.is_protocol(), "{err}");
        c.quit().await.expect("quit just closes");
        let sent = server.await.expect("server");
        assert_eq!(
            script_server::text(&sent[0]),
            script_server::text(&expected),
            "nothing may follow the cancelled NOOP ({delivery:?})"
        );
    }
}
