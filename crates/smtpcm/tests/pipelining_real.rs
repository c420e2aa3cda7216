//! Cross-message pipelining and BDAT windows against real servers:
//! - the capture server (smtpcm-sink, which offers PIPELINING and CHUNKING), in process;
//! - Postfix with `smtpd_forbid_unauth_pipelining=yes` and `reject_unauth_pipelining`
//!   (`SMTP_STRICT_PIPELINING_PORT` of scripts/test-servers.sh), which disconnects or
//!   refuses a client that pipelines where RFC 2920 does not allow it. Every message must
//!   arrive, in both modes: BDAT (CHUNKING offered) and DATA (CHUNKING disabled).

#[path = "support/servers.rs"]
mod servers;

use std::time::Duration;

use smtpcm_engine::smtp::{
    Client, ClientConfig, Envelope, Extension, Outcome, PipelineConfig, PipelineMode, Timeouts,
    TlsMode,
};
use smtpcm_sink::{Sink, SinkConfig};

fn config(port: u16, disabled: Vec<Extension>) -> ClientConfig {
    let mut cfg = ClientConfig::new("127.0.0.1", port, TlsMode::None);
    cfg.helo_name = Some("client.test".into());
    cfg.timeouts = Timeouts::uniform(Duration::from_secs(60));
    cfg.disabled_extensions = disabled;
    cfg
}

fn body(tag: &str, i: usize) -> Vec<u8> {
    // A leading dot and a bare LF: stuffed (DATA) or not (BDAT), CRLF either way.
    format!("Subject: {tag} {i}\r\nX-Batch: {tag}\r\n\r\n.dot line {i}\nlast line\r\n").into_bytes()
}

async fn send_all(
    port: u16,
    disabled: Vec<Extension>,
    envelopes: &[Envelope],
    tag: &str,
) -> (PipelineMode, Vec<Outcome>) {
    let mut client = Client::connect(&config(port, disabled))
        .await
        .expect("connect");
    let bodies: Vec<Vec<u8>> = (0..envelopes.len()).map(|i| body(tag, i)).collect();
    let mode = client.pipeline(PipelineConfig::default()).mode();
    let outcomes = client
        .send_batch(
            envelopes.iter().zip(bodies.iter().map(Vec::as_slice)),
            PipelineConfig { window: 4 },
        )
        .await;
    // The session is in step after the batch: it takes another command.
    client.noop().await.expect("NOOP after the batch");
    client.quit().await.expect("QUIT");
    (mode, outcomes)
}

#[tokio::test]
async fn capture_server_receives_a_bdat_window_intact() {
    let mut sink = Sink::start(SinkConfig {
        starttls: false,
        reject_recipients: vec!["refused*".into()],
        keep_messages: true,
        ..SinkConfig::default()
    })
    .await
    .expect("sink");
    let port = sink.local_addr().port();
    let envelopes: Vec<Envelope> = (0..10)
        .map(|i| match i {
            3 => Envelope::new("a@x.test", ["refused@x.test"]),
            _ => Envelope::new("a@x.test", [format!("r{i}@x.test")]),
        })
        .collect();
    for (disabled, want) in [
        (vec![], PipelineMode::Chunking),
        (vec![Extension::Chunking], PipelineMode::Data),
    ] {
        let (mode, outcomes) = send_all(port, disabled, &envelopes, "sink").await;
        assert_eq!(mode, want);
        for (i, o) in outcomes.iter().enumerate() {
            if i == 3 {
                let e = o.result.as_ref().expect_err("refused recipient");
                assert!(e.is_permanent(), "{e}");
                continue;
            }
            let report = o
                .result
                .as_ref()
                .unwrap_or_else(|e| panic!("{mode:?} {i}: {e}"));
            assert_eq!(report.accepted, [format!("r{i}@x.test")]);
        }
        for i in (0..10).filter(|&i| i != 3) {
            let m = sink
                .next_message(Duration::from_secs(30))
                .await
                .expect("captured");
            assert_eq!(m.rcpt_to, [format!("r{i}@x.test")], "{mode:?}: in order");
            let data = m.data.expect("kept in memory");
            assert_eq!(
                data,
                format!("Subject: sink {i}\r\nX-Batch: sink\r\n\r\n.dot line {i}\r\nlast line\r\n")
                    .as_bytes()
            );
        }
    }
    let transcript = sink.transcript().join("\n");
    assert!(transcript.contains("BDAT"), "BDAT was used");
    sink.shutdown().await;
}

#[tokio::test]
async fn postfix_with_strict_pipelining_accepts_both_modes() {
    let Some(servers) = servers::TestServers::load() else {
        return;
    };
    let Some(port) = servers
        .get("SMTP_STRICT_PIPELINING_PORT")
        .and_then(|p| p.parse::<u16>().ok())
    else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but the env file has no SMTP_STRICT_PIPELINING_PORT");
        }
        eprintln!("skipped: the running test servers predate SMTP_STRICT_PIPELINING_PORT");
        return;
    };
    let domain = servers.mail_domain().to_string();
    for (disabled, want, tag) in [
        (vec![], PipelineMode::Chunking, "strict-bdat"),
        (vec![Extension::Chunking], PipelineMode::Data, "strict-data"),
    ] {
        let rcpts: Vec<String> = (0..6)
            .map(|i| servers.unique_recipient(&format!("{tag}{i}")))
            .collect();
        // Message 2 goes to a recipient the test policy refuses (550 at RCPT); message 4
        // has one refused and one good recipient.
        let refused = format!("reject-{tag}@{domain}");
        let envelopes: Vec<Envelope> = (0..6)
            .map(|i| match i {
                2 => Envelope::new(format!("sender@{domain}"), [refused.clone()]),
                4 => Envelope::new(
                    format!("sender@{domain}"),
                    [refused.clone(), rcpts[4].clone()],
                ),
                _ => Envelope::new(format!("sender@{domain}"), [rcpts[i].clone()]),
            })
            .collect();
        let (mode, outcomes) = send_all(port, disabled, &envelopes, tag).await;
        assert_eq!(mode, want);
        for (i, o) in outcomes.iter().enumerate() {
            match (i, &o.result) {
                (2, Err(e)) => assert!(e.is_permanent(), "{tag} {i}: {e}"),
                (2, Ok(r)) => panic!("{tag}: message 2 was accepted: {r:?}"),
                (_, Err(e)) => panic!("{tag} {i}: {e}"),
                (4, Ok(r)) => {
                    assert_eq!(r.accepted, [rcpts[4].clone()]);
                    assert_eq!(r.rejected[0].reply.code, 550);
                }
                (_, Ok(r)) => assert_eq!(r.reply.code, 250, "{tag} {i}"),
            }
        }
        for i in (0..6).filter(|&i| i != 2) {
            let raw = servers
                .wait_for_maildir_message(&rcpts[i], Duration::from_secs(60))
                .unwrap_or_else(|| panic!("{tag}: message {i} was not delivered"));
            let text = String::from_utf8_lossy(servers::strip_delivery_headers(&raw)).into_owned();
            assert!(text.contains(&format!("Subject: {tag} {i}\n")), "{text}");
            assert!(text.contains(&format!("\n.dot line {i}\n")), "{text}");
        }
    }
}
