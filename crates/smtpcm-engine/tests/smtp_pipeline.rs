//! Cross-message pipelining (RFC 2920) and BDAT windows (RFC 3030) against a scripted
//! server: a refusal at MAIL, RCPT, DATA or after the end of data, in every position of a
//! batch; replies delivered one byte at a time; a connection lost in the middle of a
//! window (which messages were delivered, which are unknown, which may be retried).
//!
//! The server here answers every command as it parses it, in order, and reads message
//! content by the rules of DATA (up to the dot) and BDAT (the announced size). Nothing is
//! timed: the client's writes are counted through a wrapper around its stream.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use smtpcm_engine::smtp::{
    Client, ClientConfig, Envelope, ErrorKind, Outcome, PipelineConfig, PipelineMode, Stage,
    Timeouts, TlsMode,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

/// Where the scripted server departs from `250`/`354`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Mail,
    /// The first of the two recipients.
    FirstRcpt,
    /// Both recipients.
    EveryRcpt,
    Data,
    /// After the final dot (or `BDAT LAST` and its bytes).
    End,
}

#[derive(Debug, Clone, Default)]
struct Plan {
    chunking: bool,
    /// Refuse message `.0` at `.1` with reply `.2`.
    refuse: Option<(usize, At, &'static str)>,
    /// Close the connection when message `.0` reaches `.1`, without replying.
    lose: Option<(usize, At)>,
    /// Write replies one byte at a time.
    bytes: bool,
}

/// What the server saw: the content of each message it accepted, by message number.
#[derive(Debug, Default)]
struct Seen {
    accepted: Vec<usize>,
    commands: Vec<String>,
}

async fn serve(mut io: DuplexStream, plan: Plan) -> Seen {
    let mut seen = Seen::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let say = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    say(&mut out, "220 mx.test ESMTP");
    let mut msg: Option<usize> = None;
    let mut next = 0usize;
    let mut rcpt_in_msg = 0;
    loop {
        if !out.is_empty() {
            if plan.bytes {
                for b in &out {
                    if io.write_all(&[*b]).await.is_err() {
                        return seen;
                    }
                    tokio::task::yield_now().await;
                }
            } else if io.write_all(&out).await.is_err() {
                return seen;
            }
            out.clear();
        }
        let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") else {
            let mut chunk = [0u8; 8192];
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => return seen,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let line = String::from_utf8_lossy(&buf[..pos]).into_owned();
        buf.drain(..pos + 2);
        seen.commands.push(line.clone());
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("MAIL FROM:") {
            msg = Some(next);
            next += 1;
            rcpt_in_msg = 0;
        }
        let here = |at: At| msg.map(|m| (m, at));
        let refused = |at: At| match (plan.refuse, here(at)) {
            (Some((m, a, reply)), Some(h)) if (m, a) == h => Some(reply),
            _ => None,
        };
        let lost = |at: At| plan.lose.is_some() && plan.lose == here(at);
        if upper.starts_with("EHLO") {
            let ext = if plan.chunking {
                "250-mx.test\r\n250-PIPELINING\r\n250 CHUNKING"
            } else {
                "250-mx.test\r\n250 PIPELINING"
            };
            say(&mut out, ext);
        } else if upper.starts_with("MAIL FROM:") {
            if lost(At::Mail) {
                return seen;
            }
            say(&mut out, refused(At::Mail).unwrap_or("250 2.1.0 Ok"));
        } else if upper.starts_with("RCPT TO:") {
            rcpt_in_msg += 1;
            if lost(At::FirstRcpt) && rcpt_in_msg == 1 {
                return seen;
            }
            let reply = match plan.refuse {
                Some((m, a, reply)) if Some(m) == msg => match (a, rcpt_in_msg) {
                    (At::FirstRcpt, 1) | (At::EveryRcpt, _) => Some(reply),
                    _ => None,
                },
                _ => None,
            };
            say(&mut out, reply.unwrap_or("250 2.1.5 Ok"));
        } else if upper == "DATA" {
            if lost(At::Data) {
                return seen;
            }
            if let Some(reply) = refused(At::Data) {
                say(&mut out, reply);
                continue;
            }
            say(&mut out, "354 go ahead");
            // Flush the 354, then read the content up to the dot.
            if plan.bytes {
                for b in &out {
                    let _ = io.write_all(&[*b]).await;
                }
            } else {
                let _ = io.write_all(&out).await;
            }
            out.clear();
            loop {
                if let Some(p) = find(&buf, b"\r\n.\r\n") {
                    buf.drain(..p + 5);
                    break;
                }
                if buf.starts_with(b".\r\n") {
                    buf.drain(..3);
                    break;
                }
                let mut chunk = [0u8; 8192];
                match io.read(&mut chunk).await {
                    Ok(0) | Err(_) => return seen,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            end_of_data(&plan, &mut seen, &mut out, msg, &say);
            if lost(At::End) {
                return seen;
            }
        } else if upper.starts_with("BDAT ") {
            let size: usize = upper
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            while buf.len() < size {
                let mut chunk = [0u8; 8192];
                match io.read(&mut chunk).await {
                    Ok(0) | Err(_) => return seen,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            buf.drain(..size);
            if lost(At::End) {
                return seen;
            }
            end_of_data(&plan, &mut seen, &mut out, msg, &say);
        } else if upper == "RSET" {
            say(&mut out, "250 2.0.0 Ok");
        } else if upper == "QUIT" {
            say(&mut out, "221 2.0.0 Bye");
            let _ = io.write_all(&out).await;
            return seen;
        } else {
            say(&mut out, "500 5.5.2 what?");
        }
    }
}

/// The reply after the end of data: refused as planned, refused because the envelope
/// was, or accepted (and recorded).
fn end_of_data(
    plan: &Plan,
    seen: &mut Seen,
    out: &mut Vec<u8>,
    msg: Option<usize>,
    say: &dyn Fn(&mut Vec<u8>, &str),
) {
    let Some(m) = msg else {
        say(out, "503 5.5.1 no transaction");
        return;
    };
    match plan.refuse {
        Some((r, At::End, reply)) if r == m => say(out, reply),
        Some((r, At::Mail | At::EveryRcpt, _)) if r == m => {
            say(out, "554 5.5.1 Error: no valid recipients")
        }
        _ => {
            if plan.lose == Some((m, At::End)) {
                return;
            }
            seen.accepted.push(m);
            say(out, "250 2.0.0 Ok: queued");
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The client's stream, counting its writes.
struct Counting {
    inner: DuplexStream,
    writes: Arc<AtomicUsize>,
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

const BATCH: usize = 4;

struct Run {
    mode: PipelineMode,
    outcomes: Vec<Outcome>,
    seen: Seen,
    /// Client writes during the batch (after EHLO).
    batch_writes: usize,
}

async fn run(plan: Plan, window: usize) -> Run {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(serve(theirs, plan));
    let writes = Arc::new(AtomicUsize::new(0));
    let stream = Counting {
        inner: ours,
        writes: writes.clone(),
    };
    let mut cfg = ClientConfig::new("mx.test", 25, TlsMode::None);
    cfg.helo_name = Some("client.test".into());
    cfg.timeouts = Timeouts::uniform(Duration::from_secs(30));
    let mut client = Client::from_stream(stream, &cfg)
        .await
        .expect("greeting and EHLO");
    let before = writes.load(Ordering::Relaxed);
    let envelopes: Vec<Envelope> = (0..BATCH)
        .map(|i| Envelope::new(format!("from{i}@x"), [format!("a{i}@x"), format!("b{i}@x")]))
        .collect();
    let bodies: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| format!("Subject: {i}\r\n\r\n.leading dot\r\nbody {i}\r\n").into_bytes())
        .collect();
    let mut pipeline = client.pipeline(PipelineConfig { window });
    let mode = pipeline.mode();
    let mut outcomes = Vec::new();
    for (e, b) in envelopes.iter().zip(&bodies) {
        pipeline.submit(e, b).await;
        outcomes.extend(pipeline.outcomes());
    }
    outcomes.extend(pipeline.finish().await);
    let batch_writes = writes.load(Ordering::Relaxed) - before;
    outcomes.sort_by_key(|o| o.id);
    let _ = client.quit().await;
    let seen = server.await.expect("server task");
    Run {
        mode,
        outcomes,
        seen,
        batch_writes,
    }
}

fn code_of(o: &Outcome) -> Option<u16> {
    match &o.result {
        Ok(r) => Some(r.reply.code),
        Err(e) => match e.kind() {
            ErrorKind::Rejected(r) => Some(r.code),
            ErrorKind::AllRecipientsRejected(all) => all.first().map(|r| r.reply.code),
            _ => None,
        },
    }
}

#[tokio::test]
async fn data_mode_sends_content_dot_and_next_envelope_in_one_write() {
    for bytes in [false, true] {
        let r = run(
            Plan {
                bytes,
                ..Plan::default()
            },
            8,
        )
        .await;
        assert_eq!(r.mode, PipelineMode::Data);
        assert_eq!(r.seen.accepted, [0, 1, 2, 3]);
        for o in &r.outcomes {
            let report = o.result.as_ref().expect("accepted");
            assert_eq!(report.accepted.len(), 2);
        }
        // One write per message (its envelope with the previous content), and one for
        // the last content: the dot and the next MAIL never go apart.
        assert_eq!(r.batch_writes, BATCH + 1, "bytes={bytes}");
    }
}

#[tokio::test]
async fn chunking_sends_the_window_without_waiting() {
    for (window, writes) in [(BATCH, 1), (2, 3), (1, BATCH)] {
        let r = run(
            Plan {
                chunking: true,
                bytes: true,
                ..Plan::default()
            },
            window,
        )
        .await;
        assert_eq!(r.mode, PipelineMode::Chunking);
        assert_eq!(r.seen.accepted, [0, 1, 2, 3]);
        assert!(r.outcomes.iter().all(|o| o.result.is_ok()));
        // A full window is written before any reply is awaited. With a window of 2 the
        // first write carries messages 0 and 1, then one message per freed slot... at
        // most: replies read together free several slots at once.
        assert!(
            r.batch_writes <= writes,
            "window {window}: {} writes",
            r.batch_writes
        );
        if window >= BATCH {
            assert_eq!(r.batch_writes, 1);
        }
        let bdat = r
            .seen
            .commands
            .iter()
            .filter(|c| c.starts_with("BDAT"))
            .count();
        assert_eq!(bdat, BATCH);
    }
}

#[tokio::test]
async fn a_refusal_anywhere_fails_that_message_alone() {
    let cases = [
        (At::Mail, "550 5.7.1 sender refused", Stage::Mail, 550),
        (At::Mail, "451 4.3.0 try later", Stage::Mail, 451),
        (At::FirstRcpt, "550 5.1.1 no such user", Stage::DataEnd, 250),
        (At::EveryRcpt, "550 5.1.1 no such user", Stage::Rcpt, 550),
        (At::Data, "554 5.5.1 no data now", Stage::Data, 554),
        (At::End, "554 5.7.1 spam", Stage::DataEnd, 554),
        (At::End, "452 4.3.1 full", Stage::DataEnd, 452),
    ];
    for chunking in [false, true] {
        for bytes in [false, true] {
            for &(at, reply, stage, code) in &cases {
                if chunking && at == At::Data {
                    continue;
                }
                for pos in 0..BATCH {
                    let plan = Plan {
                        chunking,
                        bytes,
                        refuse: Some((pos, at, reply)),
                        ..Plan::default()
                    };
                    let r = run(plan, 2).await;
                    let ctx = format!("chunking={chunking} bytes={bytes} {at:?} at {pos}");
                    assert_eq!(r.outcomes.len(), BATCH, "{ctx}");
                    for (i, o) in r.outcomes.iter().enumerate() {
                        assert_eq!(o.id as usize, i, "{ctx}");
                        if i != pos {
                            let report = o
                                .result
                                .as_ref()
                                .unwrap_or_else(|e| panic!("{ctx}: {i}: {e}"));
                            assert_eq!(report.accepted.len(), 2, "{ctx}");
                            continue;
                        }
                        assert_eq!(code_of(o), Some(code), "{ctx}: {:?}", o.result);
                        match &o.result {
                            // One recipient refused: delivered to the other, and reported.
                            Ok(report) => {
                                assert_eq!(at, At::FirstRcpt, "{ctx}");
                                assert_eq!(report.accepted, [format!("b{pos}@x")]);
                                assert_eq!(report.rejected[0].recipient, format!("a{pos}@x"));
                                assert_eq!(report.rejected[0].reply.code, 550);
                            }
                            Err(e) => {
                                assert_eq!(e.stage(), stage, "{ctx}: {e}");
                                assert_eq!(e.is_retryable(), code < 500, "{ctx}: {e}");
                            }
                        }
                    }
                    let expected: Vec<usize> = (0..BATCH)
                        .filter(|&i| i != pos || at == At::FirstRcpt)
                        .collect();
                    assert_eq!(r.seen.accepted, expected, "{ctx}");
                    // DATA refused after MAIL was accepted leaves a transaction open: the
                    // next MAIL is preceded by RSET.
                    let rsets = r.seen.commands.iter().filter(|c| *c == "RSET").count();
                    if chunking {
                        // With BDAT, a message queued behind one still in flight starts
                        // with RSET; the first never does.
                        let first_mail = r.seen.commands.iter().position(|c| c.starts_with("MAIL"));
                        let first_rset = r.seen.commands.iter().position(|c| c == "RSET");
                        assert!(first_rset.is_none_or(|p| Some(p) > first_mail), "{ctx}");
                        assert!(rsets < BATCH, "{ctx}");
                    } else {
                        let want = usize::from(at == At::Data && pos + 1 < BATCH);
                        assert_eq!(rsets, want, "{ctx}: {:?}", r.seen.commands);
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn every_recipient_refused_with_a_354_ends_the_empty_message() {
    // A server that answers DATA with 354 although no recipient was accepted (RFC 2920
    // §3.1) gets a lone dot, and the message is reported with its RCPT refusals.
    let r = run(
        Plan {
            refuse: Some((1, At::EveryRcpt, "550 5.1.1 nobody")),
            ..Plan::default()
        },
        2,
    )
    .await;
    let e = r.outcomes[1].result.as_ref().expect_err("refused");
    assert!(matches!(e.kind(), ErrorKind::AllRecipientsRejected(all) if all.len() == 2));
    assert_eq!(r.seen.accepted, [0, 2, 3]);
}

#[tokio::test]
async fn a_connection_lost_mid_window_says_what_was_delivered_unknown_or_retryable() {
    // (chunking, where the server drops, outcomes per message: D delivered, U unknown,
    // R retryable)
    let cases: [(bool, (usize, At), &str); 6] = [
        // DATA: message 1's dot went out with message 2's envelope; 2 is retryable.
        (false, (1, At::End), "DURR"),
        (false, (2, At::Mail), "DDRR"),
        (false, (2, At::Data), "DDRR"),
        (false, (0, At::FirstRcpt), "RRRR"),
        // BDAT with a window of 4: everything left this host before the loss.
        (true, (1, At::End), "DUUU"),
        (true, (2, At::Mail), "DDUU"),
    ];
    for bytes in [false, true] {
        for (chunking, lose, want) in cases {
            let plan = Plan {
                chunking,
                bytes,
                lose: Some(lose),
                ..Plan::default()
            };
            let r = run(plan, BATCH).await;
            let got: String = r
                .outcomes
                .iter()
                .map(|o| match &o.result {
                    Ok(_) => 'D',
                    Err(e) if e.is_delivery_unknown() => {
                        assert!(!e.is_retryable(), "{e}");
                        'U'
                    }
                    Err(e) if e.is_retryable() => 'R',
                    Err(e) => panic!("unexpected outcome: {e}"),
                })
                .collect();
            assert_eq!(got, want, "chunking={chunking} bytes={bytes} lose={lose:?}");
            let delivered: Vec<usize> = want
                .chars()
                .enumerate()
                .filter(|(_, c)| *c == 'D')
                .map(|(i, _)| i)
                .collect();
            assert_eq!(r.seen.accepted, delivered);
        }
    }
}

#[tokio::test]
async fn a_pipeline_dropped_with_replies_owed_leaves_the_session_refusing_commands() {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(serve(
        theirs,
        Plan {
            chunking: true,
            ..Plan::default()
        },
    ));
    let mut cfg = ClientConfig::new("mx.test", 25, TlsMode::None);
    cfg.helo_name = Some("client.test".into());
    let mut client = Client::from_stream(ours, &cfg).await.expect("EHLO");
    {
        let mut pipeline = client.pipeline(PipelineConfig { window: 8 });
        pipeline
            .submit(&Envelope::new("a@x", ["b@x"]), b"Subject: s\r\n\r\nhi\r\n")
            .await;
        assert_eq!(pipeline.in_flight(), 1);
        // Dropped without finish: its replies are still owed.
    }
    let e = client
        .noop()
        .await
        .expect_err("out of step with the server");
    assert!(
        e.to_string().contains("pipelined batch was abandoned"),
        "{e}"
    );
    drop(client);
    server.await.expect("server task");
}

#[tokio::test]
async fn after_finish_the_session_takes_commands_and_begin_still_works() {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(serve(
        theirs,
        Plan {
            refuse: Some((1, At::Data, "554 5.5.1 no")),
            ..Plan::default()
        },
    ));
    let mut cfg = ClientConfig::new("mx.test", 25, TlsMode::None);
    cfg.helo_name = Some("client.test".into());
    let mut client = Client::from_stream(ours, &cfg).await.expect("EHLO");
    let env = Envelope::new("a@x", ["b@x"]);
    let body: &[u8] = b"Subject: s\r\n\r\nhi\r\n";
    let outcomes = client
        .send_batch([(&env, body), (&env, body)], PipelineConfig::default())
        .await;
    assert!(outcomes[0].result.is_ok());
    assert_eq!(
        outcomes[1].result.as_ref().unwrap_err().stage(),
        Stage::Data
    );
    // The last transaction was left open by the refused DATA: the next one starts with RSET.
    let report = client.send(&env, body).await.expect("sent after the batch");
    assert_eq!(report.reply.code, 250);
    client.quit().await.expect("QUIT");
    let seen = server.await.expect("server task");
    assert_eq!(seen.accepted, [0, 2]);
    assert_eq!(seen.commands.iter().filter(|c| *c == "RSET").count(), 1);
}
