//! Transcript replay: canned server transcripts played against the real client over
//! loopback TCP, with replies delivered whole, line by line and byte by byte. Each
//! test asserts the exact bytes the client sent.

#[path = "fixtures/smtp/script_server.rs"]
mod script_server;

use std::time::Duration;

use script_server::{Delivery, Script, Step, check_all, replay, step, text};
use smtpcm_engine::auth::{AuthChannel, ServerStep};
use smtpcm_engine::smtp::{
    Client, ClientConfig, Envelope, ErrorKind, SmtpError, Stage, Timeouts, TlsMode,
};
use tokio::io::AsyncWriteExt;

const GREETING: &str = "220 mx.test ESMTP ready\r\n";
const EHLO: &str = "EHLO client.test\r\n";
const EHLO_PIPELINING: &str =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n";
const EHLO_PLAIN: &str = "250-mx.test\r\n250 8BITMIME\r\n";
fn quit() -> Step {
    Step {
        close: true,
        ..step("QUIT\r\n", "221 2.0.0 Bye\r\n")
    }
}

fn config(port: u16) -> ClientConfig {
    let mut cfg = ClientConfig::new("127.0.0.1", port, TlsMode::None);
    cfg.helo_name = Some("client.test".into());
    cfg.timeouts = Timeouts::uniform(Duration::from_secs(5));
    cfg
}

#[tokio::test]
async fn ehlo_falls_back_to_helo_and_sends_in_lockstep() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, "502 5.5.2 Error: command not recognized\r\n"),
            step("HELO client.test\r\n", "250 mx.test\r\n"),
            step("MAIL FROM:<a@x>\r\n", "250 2.1.0 Ok\r\n"),
            step("RCPT TO:<b@x>\r\n", "250 2.1.5 Ok\r\n"),
            step("DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n"),
            step(
                "Subject: t\r\n\r\nline one\r\n..dot line\r\nlast\r\n.\r\n",
                "250 2.0.0 Ok: queued as 1\r\n",
            ),
            quit(),
        ],
    );
    let results = check_all(script, |port| async move {
        let mut c = Client::connect(&config(port)).await?;
        assert_eq!(c.greeting(), "mx.test ESMTP ready");
        assert!(
            c.capabilities().lines.is_empty(),
            "HELO offers no extensions"
        );
        let env = Envelope::new("a@x", ["b@x"]);
        // Bare LF and a leading dot: normalised and stuffed on the wire.
        let report = c
            .send(&env, &b"Subject: t\n\nline one\n.dot line\nlast"[..])
            .await?;
        c.quit().await?;
        Ok::<_, SmtpError>(report)
    })
    .await;
    for r in results {
        let report = r.expect("send succeeds");
        assert_eq!(report.accepted, ["b@x"]);
        assert_eq!(report.reply.code, 250);
        assert_eq!(
            report.bytes,
            "Subject: t\r\n\r\nline one\r\n.dot line\r\nlast\r\n".len() as u64
        );
    }
}

#[tokio::test]
async fn pipelining_reports_the_one_rejected_recipient() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, EHLO_PIPELINING),
            // One write: a lockstep client would wait for the MAIL reply and time out here.
            step(
                "MAIL FROM:<a@x> SIZE=12\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nRCPT TO:<d@x>\r\nDATA\r\n",
                "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <c@x>: Recipient address rejected\r\n\
                 250 2.1.5 Ok\r\n354 go ahead\r\n",
            ),
            step("Subject: t\r\n.\r\n", "250 2.0.0 Ok: queued\r\n"),
            quit(),
        ],
    );
    let results = check_all(script, |port| async move {
        let mut c = Client::connect(&config(port)).await?;
        let mut env = Envelope::new("a@x", ["b@x", "c@x", "d@x"]);
        env.size = Some(12);
        let mut w = c.begin(&env).await?;
        assert_eq!(w.accepted(), ["b@x", "d@x"]);
        w.write_all(b"Subject: t\r\n").await.expect("write");
        let report = w.finish().await?;
        c.quit().await?;
        Ok::<_, SmtpError>(report)
    })
    .await;
    for r in results {
        let report = r.expect("send succeeds");
        assert_eq!(report.accepted, ["b@x", "d@x"]);
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].recipient, "c@x");
        assert_eq!(report.rejected[0].reply.code, 550);
        assert_eq!(report.rejected[0].reply.enhanced, Some((5, 1, 1)));
    }
}

#[tokio::test]
async fn all_recipients_rejected_names_each_and_sends_no_data() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, EHLO_PIPELINING),
            step(
                "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nDATA\r\n",
                "250 2.1.0 Ok\r\n550 5.1.1 <b@x>: unknown\r\n450 4.2.0 <c@x>: greylisted\r\n\
                 554 5.5.1 Error: no valid recipients\r\n",
            ),
            quit(),
        ],
    );
    let results = check_all(script, |port| async move {
        let mut c = Client::connect(&config(port)).await.expect("connect");
        let env = Envelope::new("a@x", ["b@x", "c@x"]);
        let err = c.begin(&env).await.expect_err("all rejected");
        c.quit().await.expect("quit");
        err
    })
    .await;
    for err in results {
        let ErrorKind::AllRecipientsRejected(all) = err.kind() else {
            panic!("wrong error: {err}");
        };
        let names: Vec<_> = all.iter().map(|r| r.recipient.as_str()).collect();
        assert_eq!(names, ["b@x", "c@x"]);
        assert_eq!(err.stage(), Stage::Rcpt);
        assert!(err.is_transient(), "c@x was only greylisted");
        let shown = err.to_string();
        assert!(
            shown.contains("<b@x>: 550 5.1.1") && shown.contains("<c@x>: 450 4.2.0"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn message_over_size_limit_fails_before_mail() {
    let script = Script::new(
        GREETING,
        vec![step(EHLO, "250-mx.test\r\n250 SIZE 1000\r\n"), quit()],
    );
    let results = check_all(script, |port| async move {
        let mut c = Client::connect(&config(port)).await.expect("connect");
        let mut env = Envelope::new("a@x", ["b@x"]);
        env.size = Some(5000);
        let err = c.begin(&env).await.expect_err("too large");
        c.quit().await.expect("quit");
        err
    })
    .await;
    for err in results {
        assert!(
            matches!(
                err.kind(),
                ErrorKind::MessageTooLarge {
                    size: 5000,
                    limit: 1000
                }
            ),
            "{err}"
        );
        assert!(err.is_permanent());
    }
}

#[tokio::test]
async fn data_refused_with_554_is_a_data_stage_rejection() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, EHLO_PLAIN),
            step("MAIL FROM:<a@x>\r\n", "250 2.1.0 Ok\r\n"),
            step("RCPT TO:<b@x>\r\n", "250 2.1.5 Ok\r\n"),
            step("DATA\r\n", "554 5.7.1 Transaction failed\r\n"),
            // The transaction is still open: the next message starts with RSET.
            step("RSET\r\n", "250 2.0.0 Ok\r\n"),
            step("MAIL FROM:<a@x>\r\n", "250 2.1.0 Ok\r\n"),
            step("RCPT TO:<b@x>\r\n", "250 2.1.5 Ok\r\n"),
            step("DATA\r\n", "354 go\r\n"),
            step("x\r\n.\r\n", "250 2.0.0 Ok\r\n"),
            quit(),
        ],
    );
    let results = check_all(script, |port| async move {
        let mut c = Client::connect(&config(port)).await.expect("connect");
        let env = Envelope::new("a@x", ["b@x"]);
        let err = c.begin(&env).await.expect_err("DATA refused");
        let report = c.send(&env, &b"x"[..]).await.expect("second message");
        c.quit().await.expect("quit");
        (err, report)
    })
    .await;
    for (err, report) in results {
        assert_eq!(err.stage(), Stage::Data);
        assert_eq!(err.reply().map(|r| r.code), Some(554));
        assert!(err.is_permanent());
        assert_eq!(
            err.to_string(),
            "DATA rejected: 554 5.7.1 Transaction failed"
        );
        assert_eq!(report.reply.code, 250);
    }
}

#[tokio::test]
async fn disconnect_after_final_dot_is_delivery_unknown() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, EHLO_PIPELINING),
            step(
                "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n",
                "250 Ok\r\n250 Ok\r\n354 go\r\n",
            ),
            Step {
                close: true,
                ..step("hello\r\n.\r\n", "")
            },
        ],
    );
    let results = check_all(script, |port| async move {
        let mut c = Client::connect(&config(port)).await.expect("connect");
        let env = Envelope::new("a@x", ["b@x"]);
        let err = c.send(&env, &b"hello\r\n"[..]).await.expect_err("no reply");
        // The session is unusable now: quit sends nothing.
        c.quit().await.expect("quit closes quietly");
        err
    })
    .await;
    for err in results {
        assert!(err.is_delivery_unknown(), "{err}");
        assert_eq!(err.stage(), Stage::DataEnd);
        assert!(!err.is_connection(), "must not invite a blind retry");
    }
}

#[tokio::test]
async fn starttls_required_but_not_offered_sends_only_quit() {
    let script = Script::new(GREETING, vec![step(EHLO, EHLO_PIPELINING), quit()]);
    let results = check_all(script, |port| async move {
        let mut cfg = config(port);
        cfg.tls = TlsMode::StartTls;
        Client::connect(&cfg)
            .await
            .expect_err("must refuse plain text")
    })
    .await;
    for err in results {
        assert!(matches!(err.kind(), ErrorKind::StartTlsNotOffered));
        assert_eq!(err.stage(), Stage::StartTls);
        assert!(
            err.to_string()
                .contains("EnableSsl=True forbids sending in clear")
        );
    }
}

#[tokio::test]
async fn bytes_injected_after_starttls_220_are_refused() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, "250-mx.test\r\n250 STARTTLS\r\n"),
            // A man in the middle appends a fake reply to the 220, in the same segment.
            step(
                "STARTTLS\r\n",
                "220 2.0.0 Ready to start TLS\r\n250 injected\r\n",
            ),
        ],
    );
    // Only whole delivery puts the injected bytes in the same read as the 220.
    let (result, sent) = replay(script.clone(), Delivery::Whole, |port| async move {
        let mut cfg = config(port);
        cfg.tls = TlsMode::StartTls;
        Client::connect(&cfg).await.expect_err("must refuse")
    })
    .await;
    assert_eq!(
        text(&sent),
        text(&script.expected_client_bytes()),
        "no handshake, no QUIT"
    );
    assert_eq!(result.stage(), Stage::StartTls);
    assert!(matches!(result.kind(), ErrorKind::Protocol(_)), "{result}");
}

#[tokio::test]
async fn rset_between_two_messages_reuses_the_connection() {
    let transaction = |n: u8| {
        vec![
            step(
                "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n",
                "250 Ok\r\n250 Ok\r\n354 go\r\n",
            ),
            step(
                format!("message {n}\r\n.\r\n"),
                format!("250 2.0.0 queued as {n}\r\n"),
            ),
        ]
    };
    let mut steps = vec![step(EHLO, EHLO_PIPELINING)];
    steps.extend(transaction(1));
    steps.push(step("RSET\r\n", "250 2.0.0 Ok\r\n"));
    steps.push(step("NOOP\r\n", "250 2.0.0 Ok\r\n"));
    steps.extend(transaction(2));
    steps.push(quit());
    let results = check_all(Script::new(GREETING, steps), |port| async move {
        let mut c = Client::connect(&config(port)).await?;
        let env = Envelope::new("a@x", ["b@x"]);
        let first = c.send(&env, &b"message 1"[..]).await?;
        c.rset().await?;
        c.noop().await?;
        let second = c.send(&env, &b"message 2\r\n"[..]).await?;
        c.quit().await?;
        Ok::<_, SmtpError>((first, second))
    })
    .await;
    for r in results {
        let (first, second) = r.expect("both sent");
        assert_eq!(first.reply.message(), "queued as 1");
        assert_eq!(second.reply.message(), "queued as 2");
    }
}

#[tokio::test]
async fn chunking_sends_bdat_without_dot_stuffing() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, "250-mx.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
            step(
                "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n",
                "250 Ok\r\n250 Ok\r\n",
            ),
            step(
                "BDAT 15 LAST\r\n.leading\r\nend\r\n",
                "250 2.0.0 Ok: queued\r\n",
            ),
            quit(),
        ],
    );
    let results = check_all(script, |port| async move {
        let mut c = Client::connect(&config(port)).await?;
        let report = c
            .send(&Envelope::new("a@x", ["b@x"]), &b".leading\nend"[..])
            .await?;
        c.quit().await?;
        Ok::<_, SmtpError>(report)
    })
    .await;
    for r in results {
        assert_eq!(r.expect("sent").bytes, 15);
    }
}

#[tokio::test]
async fn large_message_goes_in_several_bdat_chunks() {
    // 2000 lines of 51 bytes: more than one 64 KiB chunk.
    let body: Vec<u8> = (0..2000)
        .flat_map(|i| format!("{i:046}xyz\r\n").into_bytes())
        .collect();
    let first = &body[..65536];
    let rest = &body[65536..];
    let mut chunk1 = b"BDAT 65536\r\n".to_vec();
    chunk1.extend_from_slice(first);
    let mut chunk2 = format!("BDAT {} LAST\r\n", rest.len()).into_bytes();
    chunk2.extend_from_slice(rest);
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, "250-mx.test\r\n250 CHUNKING\r\n"),
            step("MAIL FROM:<a@x>\r\n", "250 Ok\r\n"),
            step("RCPT TO:<b@x>\r\n", "250 Ok\r\n"),
            step(chunk1, "250 2.0.0 65536 octets received\r\n"),
            step(chunk2, "250 2.0.0 Ok: queued\r\n"),
            quit(),
        ],
    );
    let body_len = body.len() as u64;
    let results = check_all(script, move |port| {
        let body = body.clone();
        async move {
            let mut c = Client::connect(&config(port)).await?;
            let report = c.send(&Envelope::new("a@x", ["b@x"]), &body[..]).await?;
            c.quit().await?;
            Ok::<_, SmtpError>(report)
        }
    })
    .await;
    for r in results {
        assert_eq!(r.expect("sent").bytes, body_len);
    }
}

#[tokio::test]
async fn stalled_server_hits_the_stage_timeout() {
    let stall = |expect: &str| Step {
        stall: true,
        ..step(expect, "")
    };
    let fast = |port| {
        let mut cfg = config(port);
        cfg.timeouts = Timeouts::uniform(Duration::from_millis(300));
        cfg
    };
    // Stalled after MAIL.
    let script = Script::new(
        GREETING,
        vec![step(EHLO, EHLO_PLAIN), stall("MAIL FROM:<a@x>\r\n")],
    );
    let results = check_all(script, |port| async move {
        let mut c = Client::connect(&fast(port)).await.expect("connect");
        let err = c
            .send(&Envelope::new("a@x", ["b@x"]), &b"x"[..])
            .await
            .expect_err("timeout");
        c.quit().await.expect("closes without QUIT");
        err
    })
    .await;
    for err in results {
        assert_eq!(err.stage(), Stage::Mail);
        assert!(
            matches!(err.kind(), ErrorKind::Timeout(d) if *d == Duration::from_millis(300)),
            "{err}"
        );
        assert!(err.is_connection());
    }
    // Stalled before the greeting.
    let script = Script::new("", vec![stall("")]);
    let results = check_all(script, |port| async move {
        Client::connect(&fast(port)).await.expect_err("timeout")
    })
    .await;
    for err in results {
        assert_eq!(err.stage(), Stage::Greeting, "{err}");
    }
}

#[tokio::test]
async fn dropped_writer_never_sends_the_end_of_data() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, EHLO_PIPELINING),
            step(
                "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n",
                "250 Ok\r\n250 Ok\r\n354 go\r\n",
            ),
            // Only the partial content; no dot, no QUIT may follow.
            step("partial\r\n", ""),
        ],
    );
    let results = check_all(script, |port| async move {
        let mut c = Client::connect(&config(port)).await.expect("connect");
        {
            let mut w = c
                .begin(&Envelope::new("a@x", ["b@x"]))
                .await
                .expect("begin");
            w.write_all(b"partial\r\n").await.expect("write");
            w.flush().await.expect("flush");
        }
        let err = c.noop().await.expect_err("session is unusable");
        c.quit().await.expect("quit just closes");
        err
    })
    .await;
    for err in results {
        assert!(matches!(err.kind(), ErrorKind::Protocol(_)), "{err}");
    }
}

#[tokio::test]
async fn auth_exchange_is_base64_both_ways() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, "250-mx.test\r\n250 AUTH LOGIN PLAIN\r\n"),
            step("AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n"),
            step("dXNlcg==\r\n", "334 UGFzc3dvcmQ6\r\n"),
            step("c2VjcmV0\r\n", "535 5.7.8 Authentication failed\r\n"),
            step(
                "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n",
                "235 2.7.0 Authentication successful\r\n",
            ),
            quit(),
        ],
    );
    let results = check_all(script, |port| async move {
        let mut c = Client::connect(&config(port)).await.expect("connect");
        assert_eq!(c.server_info().offered, ["LOGIN", "PLAIN"]);
        let s1 = c.auth_start("LOGIN", None).await.expect("start");
        let s2 = c.auth_respond(b"user").await.expect("user");
        let s3 = c.auth_respond(b"secret").await.expect("password");
        let s4 = c
            .auth_start("PLAIN", Some(b"\0user\0secret"))
            .await
            .expect("plain");
        c.quit().await.expect("quit");
        (s1, s2, s3, s4)
    })
    .await;
    for (s1, s2, s3, s4) in results {
        assert_eq!(s1, ServerStep::Challenge(b"Username:".to_vec()));
        assert_eq!(s2, ServerStep::Challenge(b"Password:".to_vec()));
        let ServerStep::Failure { code, message } = s3 else {
            panic!("expected failure, got {s3:?}");
        };
        assert_eq!(code, 535);
        assert!(!message.contains("c2VjcmV0") && !message.contains("secret"));
        assert_eq!(s4, ServerStep::Success);
    }
}

#[tokio::test]
async fn eight_bit_needs_8bitmime() {
    let script = Script::new(
        GREETING,
        vec![step(EHLO, "250-mx.test\r\n250 PIPELINING\r\n"), quit()],
    );
    let results = check_all(script, |port| async move {
        let mut c = Client::connect(&config(port)).await.expect("connect");
        let mut env = Envelope::new("a@x", ["b@x"]);
        env.eight_bit = true;
        let err = c.begin(&env).await.expect_err("refused locally");
        c.quit().await.expect("quit");
        err
    })
    .await;
    for err in results {
        assert!(
            matches!(err.kind(), ErrorKind::ExtensionNotOffered("8BITMIME")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn address_with_line_break_is_refused_before_sending() {
    let script = Script::new(GREETING, vec![step(EHLO, EHLO_PIPELINING), quit()]);
    let results = check_all(script, |port| async move {
        let mut c = Client::connect(&config(port)).await.expect("connect");
        let env = Envelope::new("a@x", ["b@x>\r\nRCPT TO:<evil@x"]);
        let err = c.begin(&env).await.expect_err("refused locally");
        c.quit().await.expect("quit");
        err
    })
    .await;
    for err in results {
        assert!(matches!(err.kind(), ErrorKind::InvalidInput(_)), "{err}");
    }
}

#[tokio::test]
async fn server_closing_with_421_mid_pipeline_is_reported_not_waited_on() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, EHLO_PIPELINING),
            Step {
                close: true,
                ..step(
                    "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nDATA\r\n",
                    "250 2.1.0 Ok\r\n421 4.7.0 mx.test Error: too many errors\r\n",
                )
            },
        ],
    );
    let results = check_all(script, |port| async move {
        let mut c = Client::connect(&config(port)).await.expect("connect");
        let err = c
            .begin(&Envelope::new("a@x", ["b@x", "c@x"]))
            .await
            .expect_err("421");
        // The session is over: quit closes without sending QUIT.
        c.quit().await.expect("quit closes quietly");
        err
    })
    .await;
    for err in results {
        assert_eq!(err.stage(), Stage::Rcpt);
        assert_eq!(err.reply().map(|r| r.code), Some(421));
        assert!(err.is_transient());
        assert_eq!(
            err.to_string(),
            "RCPT TO:<b@x> rejected: 421 4.7.0 mx.test Error: too many errors"
        );
    }
}

#[tokio::test]
async fn server_that_stops_reading_hits_the_data_block_timeout() {
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut script = Script::new(
        GREETING,
        vec![
            step(EHLO, EHLO_PIPELINING),
            step(
                "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n",
                "250 Ok\r\n250 Ok\r\n354 go\r\n",
            ),
            Step {
                freeze: true,
                ..Step::default()
            },
        ],
    );
    script.release = Some(release.clone());
    let (err, sent) = replay(script, Delivery::Whole, |port| {
        let release = release.clone();
        async move {
            let mut cfg = config(port);
            cfg.timeouts.data_block = Duration::from_millis(300);
            let mut c = Client::connect(&cfg).await.expect("connect");
            // An endless body: only backpressure and the block timeout can stop it.
            let err = c
                .send(&Envelope::new("a@x", ["b@x"]), tokio::io::repeat(b'a'))
                .await
                .expect_err("the server stopped reading");
            release.notify_one();
            err
        }
    })
    .await;
    assert_eq!(err.stage(), Stage::DataTransfer, "{err}");
    assert!(
        matches!(err.kind(), ErrorKind::Timeout(d) if *d == Duration::from_millis(300)),
        "{err}"
    );
    assert!(
        !sent.ends_with(b".\r\n"),
        "an unfinished message must not be terminated"
    );
}
