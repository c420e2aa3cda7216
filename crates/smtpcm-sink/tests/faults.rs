//! Each fault kind at several stages, and `times` counted across connections.

mod common;

use std::time::Duration;

use common::{STEP, connect, connect_raw};
use smtpcm_sink::{Fault, FaultScript, FaultStage, Sink, SinkConfig, SinkHandle};

async fn sink_with(faults: FaultScript) -> SinkHandle {
    Sink::start(SinkConfig {
        faults,
        keep_messages: true,
        ..SinkConfig::default()
    })
    .await
    .unwrap()
}

fn reply(code: u16, text: &str) -> Fault {
    Fault::Reply(code, text.to_owned())
}

#[tokio::test]
async fn connect_stage_reply_is_sent_before_any_greeting_and_the_connection_closed() {
    let sink =
        sink_with(FaultScript::new().always(FaultStage::Connect, reply(421, "4.3.2 Busy"))).await;
    let mut client = connect_raw(sink.local_addr()).await;
    let busy = client.reply().await;
    assert_eq!((busy.code, busy.text()), (421, "4.3.2 Busy".to_owned()));
    assert!(client.closed_silently().await);
    sink.shutdown().await;
}

#[tokio::test]
async fn connect_stage_disconnect_closes_without_a_byte() {
    let sink = sink_with(FaultScript::new().always(FaultStage::Connect, Fault::Disconnect)).await;
    let mut client = connect_raw(sink.local_addr()).await;
    assert!(client.closed_silently().await);
    sink.shutdown().await;
}

#[tokio::test]
async fn greeting_554_leaves_only_quit() {
    let sink =
        sink_with(FaultScript::new().always(FaultStage::Greeting, reply(554, "5.3.2 No service")))
            .await;
    let (mut client, greeting) = connect(sink.local_addr()).await;
    assert_eq!(greeting.code, 554);
    assert_eq!(client.code("EHLO c").await, 503);
    assert_eq!(client.code("QUIT").await, 221);
    sink.shutdown().await;
}

#[tokio::test]
async fn stall_sends_nothing_until_the_idle_timeout_closes() {
    let sink = Sink::start(SinkConfig {
        idle_timeout: Duration::from_millis(300),
        faults: FaultScript::new().always(FaultStage::Mail, Fault::Stall),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);
    client.send(b"MAIL FROM:<a@x>\r\n").await;
    assert!(
        client.closed_silently().await,
        "a stalled server never answers"
    );
    sink.shutdown().await;
}

#[tokio::test]
async fn idle_clients_get_421() {
    let sink = Sink::start(SinkConfig {
        idle_timeout: Duration::from_millis(200),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.reply().await.code, 421);
    sink.shutdown().await;
}

#[tokio::test]
async fn ehlo_and_auth_and_mail_faults_replace_the_reply() {
    let sink = sink_with(
        FaultScript::new()
            .times(FaultStage::Ehlo, reply(502, "5.5.1 No EHLO"), 1)
            .always(
                FaultStage::Auth,
                reply(454, "4.7.0 Temporary authentication failure"),
            )
            .times(FaultStage::Mail, reply(451, "4.3.0 Try later"), 1),
    )
    .await;
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 502);
    assert_eq!(client.code("HELO c").await, 250, "fallback to HELO works");
    assert_eq!(client.code("AUTH PLAIN AAAA").await, 454);
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 451);
    assert_eq!(
        client.code("RCPT TO:<b@x>").await,
        503,
        "the refused MAIL opened nothing"
    );
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 250);
    sink.shutdown().await;
}

#[tokio::test]
async fn rcpt_fault_with_times_counts_across_connections() {
    let sink =
        sink_with(FaultScript::new().times(FaultStage::Rcpt, reply(451, "4.3.0 Later"), 2)).await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let (mut client, _) = connect(sink.local_addr()).await;
        assert_eq!(client.code("EHLO c").await, 250);
        assert_eq!(client.code("MAIL FROM:<a@x>").await, 250);
        codes.push(client.code("RCPT TO:<b@x>").await);
        assert_eq!(client.code("QUIT").await, 221);
    }
    assert_eq!(codes, [451, 451, 250]);
    assert_eq!(sink.connections(), 3);
    sink.shutdown().await;
}

#[tokio::test]
async fn data_start_faults_apply_to_data_and_to_the_first_bdat_chunk() {
    let sink = sink_with(FaultScript::new().times(
        FaultStage::DataStart,
        reply(554, "5.0.0 No data today"),
        2,
    ))
    .await;
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 250);
    assert_eq!(client.code("RCPT TO:<b@x>").await, 250);
    assert_eq!(client.code("DATA").await, 554);
    // The chunk of a refused BDAT is consumed, so the following NOOP is still a command.
    client.send(b"BDAT 3 LAST\r\nabcNOOP\r\n").await;
    assert_eq!(client.reply().await.code, 554);
    assert_eq!(client.reply().await.code, 250);
    assert!(sink.messages().is_empty());
    sink.shutdown().await;
}

#[tokio::test]
async fn mid_data_disconnect_and_reply_abort_the_transfer() {
    let sink = sink_with(
        FaultScript::new()
            .times(
                FaultStage::MidData { after_bytes: 10 },
                Fault::Disconnect,
                1,
            )
            .times(
                FaultStage::MidData { after_bytes: 0 },
                reply(421, "4.4.2 Aborted"),
                1,
            ),
    )
    .await;
    let body = "0123456789abcdefghij\r\n".repeat(10);
    for expected in [None, Some(421)] {
        let (mut client, _) = connect(sink.local_addr()).await;
        assert_eq!(client.code("EHLO c").await, 250);
        assert_eq!(client.code("MAIL FROM:<a@x>").await, 250);
        assert_eq!(client.code("RCPT TO:<b@x>").await, 250);
        assert_eq!(client.code("DATA").await, 354);
        client.send(body.as_bytes()).await;
        // The server may close while the client still writes; a failed write is fine here.
        let _ = tokio::time::timeout(STEP, async {
            use tokio::io::AsyncWriteExt;
            client.stream.write_all(b".\r\n").await
        })
        .await;
        let got = client.try_reply().await.map(|r| r.code);
        assert_eq!(got, expected);
        assert!(client.closed_silently().await);
    }
    // Both rules are used up: the third transfer goes through.
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);
    assert_eq!(client.send_mail("a@x", &["b@x"], &body).await.code, 250);
    assert_eq!(sink.messages().len(), 1);
    sink.shutdown().await;
}

#[tokio::test]
async fn after_dot_faults_drop_the_message_and_a_retry_is_captured() {
    let mut sink = sink_with(
        FaultScript::new()
            .times(FaultStage::AfterDot, reply(451, "4.3.0 Queue full"), 1)
            .times(FaultStage::AfterDot, Fault::Disconnect, 1),
    )
    .await;
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);
    assert_eq!(client.send_mail("a@x", &["b@x"], "one\r\n").await.code, 451);
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 250);
    assert_eq!(client.code("RCPT TO:<b@x>").await, 250);
    assert_eq!(client.code("DATA").await, 354);
    client.send(b"two\r\n.\r\n").await;
    assert!(
        client.closed_silently().await,
        "disconnect instead of the 250"
    );

    let (mut retry, _) = connect(sink.local_addr()).await;
    assert_eq!(retry.code("EHLO c").await, 250);
    assert_eq!(
        retry.send_mail("a@x", &["b@x"], "three\r\n").await.code,
        250
    );
    let got = sink.next_message(STEP).await.unwrap();
    assert_eq!(got.data.as_deref(), Some(&b"three\r\n"[..]));
    assert_eq!(sink.messages().len(), 1);
    sink.shutdown().await;
}

#[tokio::test]
async fn starttls_reply_fault_keeps_the_session_plaintext() {
    let sink = sink_with(
        FaultScript::new().always(FaultStage::StartTls, reply(454, "4.7.0 TLS not available")),
    )
    .await;
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);
    assert_eq!(client.code("STARTTLS").await, 454);
    assert_eq!(client.code("NOOP").await, 250, "still talking plaintext");
    sink.shutdown().await;
}

/// Writes up to `limit` bytes of body after `354`, returning how much the kernel accepted before
/// the write failed, and the error.
async fn write_body_until_error(
    client: &mut common::Client<tokio::net::TcpStream>,
    limit: usize,
) -> (usize, Option<std::io::Error>) {
    use tokio::io::AsyncWriteExt;
    let chunk = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq\r\n".repeat(1024);
    let mut written = 0;
    while written < limit {
        match tokio::time::timeout(STEP, client.stream.write_all(chunk.as_bytes())).await {
            Ok(Ok(())) => written += chunk.len(),
            Ok(Err(e)) => return (written, Some(e)),
            Err(_) => panic!("a write blocked for {STEP:?} after {written} bytes"),
        }
    }
    (written, None)
}

async fn open_data(sink: &SinkHandle) -> common::Client<tokio::net::TcpStream> {
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 250);
    assert_eq!(client.code("RCPT TO:<b@x>").await, 250);
    assert_eq!(client.code("DATA").await, 354);
    client
}

/// Far more than loopback socket buffers (tcp_rmem can reach 32 MiB) can hold, far less than
/// a server draining its input would swallow.
const UNDRAINED_BOUND: usize = 64 * 1024 * 1024;

#[tokio::test]
async fn mid_data_reset_makes_the_clients_body_write_fail() {
    let sink = sink_with(
        FaultScript::new().always(FaultStage::MidData { after_bytes: 1000 }, Fault::Reset),
    )
    .await;
    let mut client = open_data(&sink).await;
    let (written, error) = write_body_until_error(&mut client, 4 * UNDRAINED_BOUND).await;
    let error = error.unwrap_or_else(|| panic!("{written} bytes written without an error"));
    assert!(
        matches!(
            error.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
        "{error:?}"
    );
    assert!(written < UNDRAINED_BOUND, "{written} bytes were accepted");
    assert!(client.closed_silently().await, "no reply after a reset");
    sink.shutdown().await;
}

#[tokio::test]
async fn mid_data_disconnect_stops_reading_so_the_writer_fails() {
    let sink = sink_with(
        FaultScript::new().always(FaultStage::MidData { after_bytes: 1000 }, Fault::Disconnect),
    )
    .await;
    let mut client = open_data(&sink).await;
    let (written, error) = write_body_until_error(&mut client, 4 * UNDRAINED_BOUND).await;
    assert!(
        error.is_some() && written < UNDRAINED_BOUND,
        "the sink kept reading after the disconnect: {written} bytes accepted, error {error:?}"
    );
    sink.shutdown().await;
}

#[tokio::test]
async fn mid_data_stall_stops_reading_so_the_writer_blocks() {
    let sink = Sink::start(SinkConfig {
        faults: FaultScript::new().always(FaultStage::MidData { after_bytes: 1000 }, Fault::Stall),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let mut client = open_data(&sink).await;
    use tokio::io::AsyncWriteExt;
    let chunk = vec![b'x'; 1024 * 1024];
    let mut written = 0;
    // A write that cannot finish within a short grace period means the sink stopped reading;
    // the bound only decides when to give up, it cannot make the test pass on its own.
    loop {
        match tokio::time::timeout(Duration::from_millis(500), client.stream.write_all(&chunk))
            .await
        {
            Ok(Ok(())) => written += chunk.len(),
            Ok(Err(e)) => panic!("write failed after {written} bytes: {e}"),
            Err(_) => break,
        }
        assert!(
            written < UNDRAINED_BOUND,
            "the stalled sink kept reading: {written} bytes accepted"
        );
    }
    sink.shutdown().await;
}

#[tokio::test]
async fn reset_sends_a_tcp_reset_where_disconnect_sends_a_clean_close() {
    use tokio::io::AsyncReadExt;
    let sink = sink_with(
        FaultScript::new()
            .times(FaultStage::Mail, Fault::Reset, 1)
            .times(FaultStage::Mail, Fault::Disconnect, 1),
    )
    .await;
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let (mut client, _) = connect(sink.local_addr()).await;
        assert_eq!(client.code("EHLO c").await, 250);
        client.send(b"MAIL FROM:<a@x>\r\n").await;
        let mut rest = Vec::new();
        let read = tokio::time::timeout(STEP, client.stream.read_to_end(&mut rest))
            .await
            .expect("the server neither closed nor answered");
        outcomes.push(read.map_err(|e| e.kind()));
    }
    assert_eq!(
        outcomes,
        [Err(std::io::ErrorKind::ConnectionReset), Ok(0)],
        "reset first, then a clean close"
    );
    sink.shutdown().await;
}
