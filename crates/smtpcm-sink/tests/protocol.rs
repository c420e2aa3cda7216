//! Plain-text SMTP behaviour: envelope, pipelining, dot-unstuffing, BDAT, limits, AUTH, garbage.

mod common;

use common::{STEP, connect};
use smtpcm_sink::{Sink, SinkAuth, SinkConfig};

#[tokio::test]
async fn message_is_captured_with_its_envelope_and_transcript() {
    let mut sink = Sink::start(SinkConfig {
        max_size: Some(1000),
        keep_messages: true,
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let (mut client, greeting) = connect(sink.local_addr()).await;
    assert_eq!(greeting.code, 220);
    let ehlo = client.cmd("EHLO client.test").await;
    assert_eq!(ehlo.code, 250);
    for ext in [
        "PIPELINING",
        "SIZE 1000",
        "8BITMIME",
        "SMTPUTF8",
        "CHUNKING",
        "STARTTLS",
    ] {
        assert!(
            ehlo.lines.iter().any(|l| l == ext),
            "{ext} missing: {ehlo:?}"
        );
    }
    assert!(!ehlo.text().contains("AUTH"), "no AUTH without an account");

    let body = "Subject: hi\r\n\r\nHello\r\n";
    let done = client
        .send_mail("a@example.com", &["b@example.com", "c@example.com"], body)
        .await;
    assert_eq!(done.code, 250, "{done:?}");
    assert_eq!(client.code("QUIT").await, 221);

    let got = sink.next_message(STEP).await.expect("message captured");
    assert_eq!(got.mail_from, "a@example.com");
    assert_eq!(got.rcpt_to, ["b@example.com", "c@example.com"]);
    assert!(!got.tls);
    assert_eq!(got.auth_user, None);
    assert_eq!(got.size, body.len() as u64);
    assert_eq!(got.data.as_deref(), Some(body.as_bytes()));
    assert_eq!(got.path, None);
    assert_eq!(sink.messages(), vec![got]);
    assert_eq!(sink.connections(), 1);

    let transcript = sink.transcript();
    assert!(
        transcript.contains(&"[1] C: MAIL FROM:<a@example.com>".to_owned()),
        "{transcript:#?}"
    );
    assert!(
        transcript.contains(&"[1] S: 221 2.0.0 Bye".to_owned()),
        "{transcript:#?}"
    );
    sink.shutdown().await;
}

#[tokio::test]
async fn pipelined_commands_in_one_write_are_answered_in_order() {
    let mut sink = Sink::start(SinkConfig {
        reject_recipients: vec!["bounce-*".into()],
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    client
        .send(b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<bounce-1@x>\r\nRCPT TO:<ok@x>\r\nDATA\r\n")
        .await;
    assert_eq!(client.reply().await.code, 250);
    assert_eq!(client.reply().await.code, 250);
    let rejected = client.reply().await;
    assert_eq!(rejected.code, 550);
    assert!(rejected.text().starts_with("5.1.1"), "{rejected:?}");
    assert_eq!(client.reply().await.code, 250);
    assert_eq!(client.reply().await.code, 354);
    client.send(b"body\r\n.\r\nRSET\r\nQUIT\r\n").await;
    assert_eq!(client.reply().await.code, 250);
    assert_eq!(client.reply().await.code, 250);
    assert_eq!(client.reply().await.code, 221);

    let got = sink.next_message(STEP).await.unwrap();
    assert_eq!(got.rcpt_to, ["ok@x"]);
    assert_eq!(got.data.as_deref(), Some(&b"body\r\n"[..]));
    sink.shutdown().await;
}

#[tokio::test]
async fn dot_stuffing_is_removed_even_when_split_byte_by_byte() {
    let mut sink = Sink::start(SinkConfig::default()).await.unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);

    // A stuffed dot on the very first line, a stuffed ".." line and a lone-dot line.
    let stuffed = "..first\r\nmiddle\r\n...two\r\n..\r\nlast\r\n";
    let plain = ".first\r\nmiddle\r\n..two\r\n.\r\nlast\r\n";
    assert_eq!(client.send_mail("a@x", &["b@x"], stuffed).await.code, 250);
    let got = sink.next_message(STEP).await.unwrap();
    assert_eq!(String::from_utf8(got.data.unwrap()).unwrap(), plain);

    assert_eq!(client.code("MAIL FROM:<a@x>").await, 250);
    assert_eq!(client.code("RCPT TO:<b@x>").await, 250);
    assert_eq!(client.code("DATA").await, 354);
    for byte in stuffed.as_bytes().iter().chain(b".\r\n") {
        client.send(std::slice::from_ref(byte)).await;
    }
    assert_eq!(client.reply().await.code, 250);
    let got = sink.next_message(STEP).await.unwrap();
    assert_eq!(String::from_utf8(got.data.unwrap()).unwrap(), plain);

    // The empty message: the terminator right after 354.
    assert_eq!(client.send_mail("a@x", &["b@x"], "").await.code, 250);
    let got = sink.next_message(STEP).await.unwrap();
    assert_eq!(got.size, 0);
    sink.shutdown().await;
}

#[tokio::test]
async fn bdat_chunks_are_joined_without_unstuffing() {
    let mut sink = Sink::start(SinkConfig::default()).await.unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 250);
    assert_eq!(client.code("RCPT TO:<b@x>").await, 250);
    client
        .send(b"BDAT 6\r\n..a\r\nbBDAT 4 LAST\r\nc\r\n.")
        .await;
    let first = client.reply().await;
    assert_eq!(first.code, 250);
    assert!(first.text().contains("6 octets"), "{first:?}");
    assert_eq!(client.reply().await.code, 250);
    let got = sink.next_message(STEP).await.unwrap();
    assert_eq!(got.data.as_deref(), Some(&b"..a\r\nbc\r\n."[..]));

    // BDAT with no transaction: the chunk is still consumed, so the next command parses.
    client.send(b"BDAT 6 LAST\r\nNOOP\r\n").await;
    assert_eq!(client.reply().await.code, 503);
    assert_eq!(client.code("NOOP").await, 250);
    sink.shutdown().await;
}

#[tokio::test]
async fn size_limit_is_enforced_at_mail_and_after_the_data() {
    let sink = Sink::start(SinkConfig {
        max_size: Some(10),
        keep_messages: true,
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);
    assert_eq!(client.code("MAIL FROM:<a@x> SIZE=11").await, 552);
    let done = client
        .send_mail("a@x", &["b@x"], "0123456789 is too long\r\n")
        .await;
    assert_eq!(done.code, 552);
    assert!(sink.messages().is_empty());
    assert_eq!(
        client.send_mail("a@x", &["b@x"], "short\r\n").await.code,
        250
    );
    assert_eq!(sink.messages().len(), 1);
    sink.shutdown().await;
}

#[tokio::test]
async fn auth_plain_and_login_check_the_account_and_keep_secrets_out_of_the_transcript() {
    let mut sink = Sink::start(SinkConfig {
        auth: Some(SinkAuth {
            required: true,
            ..SinkAuth::new("alice", "s3cret")
        }),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    let ehlo = client.cmd("EHLO c").await;
    assert!(
        ehlo.lines.contains(&"AUTH PLAIN LOGIN".to_owned()),
        "{ehlo:?}"
    );
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 530);
    // "\0alice\0wrong"
    assert_eq!(client.code("AUTH PLAIN AGFsaWNlAHdyb25n").await, 535);
    let challenge = client.cmd("AUTH LOGIN").await;
    assert_eq!(
        (challenge.code, challenge.text()),
        (334, "VXNlcm5hbWU6".to_owned())
    );
    assert_eq!(client.code("YWxpY2U=").await, 334);
    assert_eq!(client.code("czNjcmV0").await, 235);
    assert_eq!(
        client.code("AUTH PLAIN").await,
        503,
        "already authenticated"
    );
    assert_eq!(client.send_mail("a@x", &["b@x"], "x\r\n").await.code, 250);
    let got = sink.next_message(STEP).await.unwrap();
    assert_eq!(got.auth_user.as_deref(), Some("alice"));

    // PLAIN with the response on its own line, then cancelled.
    let (mut other, _) = connect(sink.local_addr()).await;
    assert_eq!(other.code("EHLO c").await, 250);
    assert_eq!(other.code("AUTH PLAIN").await, 334);
    assert_eq!(other.code("*").await, 501);
    // "\0alice\0s3cret"
    assert_eq!(other.code("AUTH PLAIN").await, 334);
    assert_eq!(other.code("AGFsaWNlAHMzY3JldA==").await, 235);

    let transcript = sink.transcript().join("\n");
    for secret in [
        "s3cret",
        "czNjcmV0",
        "AGFsaWNlAHMzY3JldA==",
        "AGFsaWNlAHdyb25n",
        "YWxpY2U=",
    ] {
        assert!(
            !transcript.contains(secret),
            "{secret} leaked:\n{transcript}"
        );
    }
    assert!(
        transcript.contains("C: AUTH PLAIN <redacted>"),
        "{transcript}"
    );
    sink.shutdown().await;
}

#[tokio::test]
async fn garbage_long_lines_and_bad_sequences_get_errors_and_the_session_survives() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    client.send(b"\x00\xff\xfe garbage\r\n").await;
    assert_eq!(client.reply().await.code, 500);
    client.send(&vec![b'A'; 10_000]).await;
    client.send(b"\r\n").await;
    let long = client.reply().await;
    assert_eq!(long.code, 500);
    assert!(long.text().contains("too long"), "{long:?}");
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 503, "EHLO first");
    assert_eq!(client.code("EHLO c").await, 250);
    assert_eq!(client.code("RCPT TO:<b@x>").await, 503, "MAIL first");
    assert_eq!(client.code("MAIL FROM:<not an address").await, 501);
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 250);
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 503, "nested MAIL");
    assert_eq!(client.code("DATA").await, 554, "no recipients");
    assert_eq!(
        client.code("RCPT TO:<ü@x>").await,
        553,
        "non-ASCII without SMTPUTF8"
    );
    assert_eq!(client.code("RSET").await, 250);
    assert_eq!(client.code("MAIL FROM:<ü@x> SMTPUTF8").await, 250);
    assert_eq!(client.code("RCPT TO:<ö@x>").await, 250);
    assert_eq!(client.code("NOOP").await, 250);
    assert_eq!(client.code("QUIT").await, 221);
    sink.shutdown().await;
}

#[tokio::test]
async fn recipients_beyond_the_limit_get_452_and_the_message_keeps_the_first_ones() {
    let mut sink = Sink::start(SinkConfig {
        max_recipients: 3,
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 250);
    let mut codes = Vec::new();
    for n in 0..5 {
        codes.push(client.code(&format!("RCPT TO:<r{n}@x>")).await);
    }
    assert_eq!(codes, [250, 250, 250, 452, 452]);
    let too_many = client.cmd("RCPT TO:<r5@x>").await;
    assert_eq!(too_many.text(), "4.5.3 Too many recipients");
    assert_eq!(client.code("DATA").await, 354);
    client.send(b"hi\r\n.\r\n").await;
    assert_eq!(client.reply().await.code, 250);
    let got = sink.next_message(STEP).await.unwrap();
    assert_eq!(got.rcpt_to, ["r0@x", "r1@x", "r2@x"]);
    // The limit is per message.
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 250);
    assert_eq!(client.code("RCPT TO:<s@x>").await, 250);
    sink.shutdown().await;
}

#[test]
fn the_default_recipient_limit_is_postfixs() {
    assert_eq!(SinkConfig::default().max_recipients, 1000);
    assert_eq!(smtpcm_sink::DEFAULT_MAX_RECIPIENTS, 1000);
}

#[tokio::test]
async fn without_keep_messages_nothing_is_held_once_read_and_the_queue_is_bounded() {
    let mut sink = Sink::start(SinkConfig::default()).await.unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);
    // More messages than may wait unread: the surplus is saved (250) but not queued. All
    // pipelined in one write, so the test costs no round trips.
    let total = smtpcm_sink::PENDING_LIMIT + 5;
    let transaction = "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nx\r\n.\r\n";
    client.send(transaction.repeat(total).as_bytes()).await;
    for _ in 0..total {
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(client.reply().await.code);
        }
        assert_eq!(got, [250, 250, 354, 250]);
    }
    assert!(sink.messages().is_empty(), "no history unless asked for");
    let mut queued = 0;
    while sink
        .next_message(std::time::Duration::from_millis(100))
        .await
        .is_some()
    {
        queued += 1;
    }
    assert_eq!(queued, smtpcm_sink::PENDING_LIMIT);
    sink.shutdown().await;
}
