//! STARTTLS, implicit TLS, require_tls, and the plaintext-injection guards.

mod common;

use common::{Client, STEP, connect, connect_raw, tls_handshake};
use smtpcm_sink::{Fault, FaultScript, FaultStage, Sink, SinkAuth, SinkConfig};
use tokio::io::AsyncReadExt;
use tokio::time::timeout;

#[tokio::test]
async fn starttls_upgrades_with_a_certificate_the_ca_verifies_and_the_message_is_marked_tls() {
    let mut sink = Sink::start(SinkConfig::default()).await.unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    assert!(
        client
            .cmd("EHLO c")
            .await
            .lines
            .contains(&"STARTTLS".to_owned())
    );
    let mut tls = client.starttls(sink.ca_pem()).await;
    let ehlo = tls.cmd("EHLO c").await;
    assert_eq!(ehlo.code, 250);
    assert!(!ehlo.lines.contains(&"STARTTLS".to_owned()), "{ehlo:?}");
    assert_eq!(tls.code("STARTTLS").await, 503);
    assert_eq!(
        tls.send_mail("a@x", &["b@x"], "secret body\r\n").await.code,
        250
    );
    assert_eq!(tls.code("QUIT").await, 221);

    let got = sink.next_message(STEP).await.unwrap();
    assert!(got.tls);
    assert_eq!(got.data.as_deref(), Some(&b"secret body\r\n"[..]));
    sink.shutdown().await;
}

#[tokio::test]
async fn implicit_tls_greets_inside_tls_for_an_ip_address_name() {
    let mut sink = Sink::start(SinkConfig {
        implicit_tls: true,
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let raw = connect_raw(sink.local_addr()).await;
    let stream = tls_handshake(raw.stream, sink.ca_pem(), "127.0.0.1")
        .await
        .expect("handshake");
    let mut client = Client::new(stream);
    assert_eq!(client.reply().await.code, 220);
    let ehlo = client.cmd("EHLO c").await;
    assert!(!ehlo.lines.contains(&"STARTTLS".to_owned()), "{ehlo:?}");
    assert_eq!(client.send_mail("a@x", &["b@x"], "x\r\n").await.code, 250);
    assert!(sink.next_message(STEP).await.unwrap().tls);
    sink.shutdown().await;
}

#[tokio::test]
async fn ca_file_is_written_and_a_foreign_ca_is_refused() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let other = Sink::start(SinkConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    sink.write_ca_file(&ca_file).unwrap();
    assert_eq!(std::fs::read_to_string(&ca_file).unwrap(), sink.ca_pem());

    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("STARTTLS").await, 220);
    let refused = tls_handshake(client.stream, other.ca_pem(), "localhost").await;
    assert!(
        refused.is_err(),
        "a certificate from another sink's CA must not verify"
    );
    sink.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn require_tls_refuses_mail_and_hides_auth_until_encrypted() {
    let sink = Sink::start(SinkConfig {
        require_tls: true,
        auth: Some(SinkAuth::new("alice", "s3cret")),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    let ehlo = client.cmd("EHLO c").await;
    assert!(!ehlo.text().contains("AUTH"), "{ehlo:?}");
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 530);
    assert_eq!(client.code("AUTH PLAIN AGFsaWNlAHMzY3JldA==").await, 530);
    let mut tls = client.starttls(sink.ca_pem()).await;
    assert!(tls.cmd("EHLO c").await.text().contains("AUTH PLAIN LOGIN"));
    assert_eq!(tls.code("MAIL FROM:<a@x>").await, 250);
    sink.shutdown().await;
}

#[tokio::test]
async fn plaintext_pipelined_behind_starttls_is_discarded() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);
    // If the server kept "MAIL ...", its first encrypted reply would be a 503 for it.
    client.send(b"STARTTLS\r\nMAIL FROM:<evil@x>\r\n").await;
    assert_eq!(client.reply().await.code, 220);
    let stream = tls_handshake(client.stream, sink.ca_pem(), "localhost")
        .await
        .unwrap();
    let mut tls = Client::new(stream);
    assert_eq!(tls.code("EHLO c").await, 250);
    assert_eq!(tls.code("RCPT TO:<b@x>").await, 503, "no MAIL survived");
    sink.shutdown().await;
}

// Multi-threaded so the client's read can run while the server is still writing: a server that
// wrote the 220 and the injected bytes separately would often be caught between the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_bytes_follow_the_220_in_the_same_write() {
    let injected = b"250 injected\r\n".to_vec();
    let sink = Sink::start(SinkConfig {
        faults: FaultScript::new().always(
            FaultStage::StartTls,
            Fault::InjectAfterStartTls(injected.clone()),
        ),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);
    client.send(b"STARTTLS\r\n").await;
    // One read, before the client sends anything else: the bytes must already be there.
    let mut buf = vec![0u8; 1024];
    let n = timeout(STEP, client.stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let mut expected = b"220 2.0.0 Ready to start TLS\r\n".to_vec();
    expected.extend_from_slice(&injected);
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        String::from_utf8_lossy(&expected)
    );
    // The server then really expects a handshake.
    assert!(
        tls_handshake(client.stream, sink.ca_pem(), "localhost")
            .await
            .is_ok()
    );
    sink.shutdown().await;
}

#[tokio::test]
async fn ipv6_loopback_listens_and_the_certificate_names_it() {
    let listen = "[::1]:0".parse().unwrap();
    let sink = match Sink::start(SinkConfig {
        listen,
        ..SinkConfig::default()
    })
    .await
    {
        Ok(sink) => sink,
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
            eprintln!("skipped: no IPv6 loopback here ({e})");
            return;
        }
        Err(e) => panic!("cannot start on [::1]: {e}"),
    };
    assert!(sink.local_addr().is_ipv6());
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("STARTTLS").await, 220);
    let stream = tls_handshake(client.stream, sink.ca_pem(), "::1")
        .await
        .expect("certificate valid for ::1");
    let mut tls = Client::new(stream);
    assert_eq!(tls.code("EHLO c").await, 250);
    sink.shutdown().await;
}

#[cfg(unix)]
#[tokio::test]
async fn ca_file_is_not_written_through_a_planted_symlink() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    let planted = dir.path().join("sink-ca.pem");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();

    let err = sink.write_ca_file(&planted).unwrap_err().to_string();
    assert!(
        err.contains("sink-ca.pem") && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(std::fs::read_link(&planted).unwrap(), victim);

    // A regular file from an earlier run is replaced whole, and nothing else is left behind.
    let regular = dir.path().join("ca.pem");
    std::fs::write(&regular, b"old").unwrap();
    sink.write_ca_file(&regular).unwrap();
    assert_eq!(std::fs::read_to_string(&regular).unwrap(), sink.ca_pem());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    sink.shutdown().await;
}
