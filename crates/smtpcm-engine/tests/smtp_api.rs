//! The engine API of issue 8.8: a session over any stream, extensions masked by
//! configuration, and DSN parameters.

#[path = "fixtures/smtp/script_server.rs"]
mod script_server;

use std::time::Duration;

use script_server::{Delivery, Script, Step, serve_stream, step, text};
use smtpcm_engine::smtp::{Client, ClientConfig, Envelope, SmtpError, Timeouts, TlsMode};

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
