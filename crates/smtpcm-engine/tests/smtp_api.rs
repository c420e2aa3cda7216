//! The engine API of issue 8.8: a session over any stream, extensions masked by
//! configuration, and DSN parameters.

#[path = "fixtures/smtp/script_server.rs"]
mod script_server;

use std::time::Duration;

use script_server::{Delivery, Script, Step, serve_stream, step, text};
use smtpcm_engine::smtp::{
    Client, ClientConfig, Dsn, DsnRet, Envelope, SmtpError, Timeouts, TlsMode,
};

const GREETING: &str = "220 mx.test ESMTP ready\r\n";
const EHLO: &str = "EHLO client.test\r\n";

fn config() -> ClientConfig {
    let mut cfg = ClientConfig::new("mx.test", 25, TlsMode::None);
    cfg.helo_name = Some("client.test".into());
    cfg.timeouts = Timeouts::uniform(Duration::from_secs(5));
    cfg
}

fn quit() -> Step {
    Step {
        close: true,
        ..step("QUIT\r\n", "221 2.0.0 Bye\r\n")
    }
}

/// Runs `client` over an in-memory duplex against `script`, on every delivery mode, and
/// checks the client's bytes.
async fn over_duplex<T, F, Fut>(script: Script, cfg: ClientConfig, client: F) -> Vec<T>
where
    F: Fn(Client) -> Fut,
    Fut: Future<Output = T>,
{
    let mut results = Vec::new();
    for delivery in Delivery::ALL {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(serve_stream(theirs, script.clone(), delivery));
        let c = Client::from_stream(ours, &cfg)
            .await
            .expect("greeting and EHLO");
        results.push(client(c).await);
        let sent = server.await.expect("server");
        assert_eq!(
            text(&sent),
            text(&script.expected_client_bytes()),
            "client bytes differ ({delivery:?})"
        );
    }
    results
}

#[tokio::test]
async fn from_stream_runs_a_whole_session_over_a_duplex() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, "250-mx.test\r\n250 PIPELINING\r\n"),
            step(
                "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n",
                "250 Ok\r\n250 Ok\r\n354 go\r\n",
            ),
            step("hi\r\n.\r\n", "250 2.0.0 queued\r\n"),
            quit(),
        ],
    );
    let results = over_duplex(script, config(), |mut c| async move {
        assert_eq!(c.greeting(), "mx.test ESMTP ready");
        assert!(!c.peer_is_loopback() && !c.is_tls());
        let report = c.send(&Envelope::new("a@x", ["b@x"]), &b"hi"[..]).await?;
        c.quit().await?;
        Ok::<_, SmtpError>(report)
    })
    .await;
    for r in results {
        assert_eq!(r.expect("sent").reply.message(), "queued");
    }
}

#[tokio::test]
async fn disabled_pipelining_and_chunking_are_not_used_when_offered() {
    let script = Script::new(
        GREETING,
        vec![
            step(
                EHLO,
                "250-mx.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 DSN\r\n",
            ),
            // Lockstep and DATA: neither one write for all commands, nor BDAT.
            step("MAIL FROM:<a@x>\r\n", "250 Ok\r\n"),
            step("RCPT TO:<b@x>\r\n", "250 Ok\r\n"),
            step("DATA\r\n", "354 go\r\n"),
            step("..dot\r\n.\r\n", "250 2.0.0 queued\r\n"),
            quit(),
        ],
    );
    let mut cfg = config();
    cfg.disabled_extensions = vec!["pipelining".parse().unwrap(), "CHUNKING".parse().unwrap()];
    let results = over_duplex(script, cfg, |mut c| async move {
        let caps = c.capabilities().clone();
        let report = c.send(&Envelope::new("a@x", ["b@x"]), &b".dot"[..]).await?;
        c.quit().await?;
        Ok::<_, SmtpError>((caps, report))
    })
    .await;
    for r in results {
        let (caps, report) = r.expect("sent");
        assert!(!caps.pipelining && !caps.chunking && caps.dsn);
        assert_eq!(report.reply.code, 250);
    }
}

fn dsn_config() -> ClientConfig {
    let mut cfg = config();
    cfg.dsn = Dsn {
        notify: Some("SUCCESS,FAILURE".parse().unwrap()),
        ret: Some(DsnRet::Hdrs),
        envid: Some("from config".into()),
    };
    cfg
}

fn dsn_envelope() -> Envelope {
    let mut envelope = Envelope::new("a@x", ["b+1@x", "c@x"]);
    // The envelope's ENVID wins over the configuration's; NOTIFY and RET fall back.
    envelope.dsn.envid = Some("job=42 run+1".into());
    envelope
}

#[tokio::test]
async fn dsn_parameters_are_sent_when_the_server_offers_dsn() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, "250-mx.test\r\n250-PIPELINING\r\n250 DSN\r\n"),
            step(
                "MAIL FROM:<a@x> RET=HDRS ENVID=job+3D42+20run+2B1\r\n\
                 RCPT TO:<b+1@x> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2B1@x\r\n\
                 RCPT TO:<c@x> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@x\r\n\
                 DATA\r\n",
                "250 Ok\r\n250 Ok\r\n250 Ok\r\n354 go\r\n",
            ),
            step("x\r\n.\r\n", "250 2.0.0 queued\r\n"),
            quit(),
        ],
    );
    let results = over_duplex(script, dsn_config(), |mut c| async move {
        let report = c.send(&dsn_envelope(), &b"x"[..]).await?;
        c.quit().await?;
        Ok::<_, SmtpError>(report)
    })
    .await;
    for r in results {
        assert_eq!(r.expect("sent").accepted.len(), 2);
    }
}

#[tokio::test]
async fn dsn_parameters_are_left_out_when_the_server_does_not_offer_dsn() {
    let script = Script::new(
        GREETING,
        vec![
            step(EHLO, "250-mx.test\r\n250 PIPELINING\r\n"),
            step(
                "MAIL FROM:<a@x>\r\nRCPT TO:<b+1@x>\r\nRCPT TO:<c@x>\r\nDATA\r\n",
                "250 Ok\r\n250 Ok\r\n250 Ok\r\n354 go\r\n",
            ),
            step("x\r\n.\r\n", "250 2.0.0 queued\r\n"),
            quit(),
        ],
    );
    let results = over_duplex(script, dsn_config(), |mut c| async move {
        let report = c.send(&dsn_envelope(), &b"x"[..]).await?;
        c.quit().await?;
        Ok::<_, SmtpError>(report)
    })
    .await;
    for r in results {
        r.expect("sent");
    }
}

#[tokio::test]
async fn an_envid_with_a_line_break_is_refused_before_sending() {
    let script = Script::new(
        GREETING,
        vec![step(EHLO, "250-mx.test\r\n250 DSN\r\n"), quit()],
    );
    let results = over_duplex(script, config(), |mut c| async move {
        let mut envelope = Envelope::new("a@x", ["b@x"]);
        envelope.dsn.envid = Some("x\r\nRCPT TO:<evil@x>".into());
        let err = c.begin(&envelope).await.expect_err("refused");
        c.quit().await.expect("quit");
        err
    })
    .await;
    for err in results {
        assert!(err.to_string().contains("ENVID"), "{err}");
    }
}
