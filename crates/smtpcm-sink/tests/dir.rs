//! Directory mode: one `.eml` per accepted message, written atomically.

mod common;

use common::{STEP, connect};
use smtpcm_sink::{Sink, SinkConfig};

#[tokio::test]
async fn each_message_becomes_an_eml_file_with_the_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("mail");
    let mut sink = Sink::start(SinkConfig {
        dir: Some(spool.clone()),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let (mut client, _) = connect(sink.local_addr()).await;
    assert_eq!(client.code("EHLO c").await, 250);
    let first = "Subject: 1\r\n\r\n..dot\r\n";
    let big = "x".repeat(998) + "\r\n";
    let second = big.repeat(2000);
    assert_eq!(client.send_mail("a@x", &["b@x"], first).await.code, 250);
    assert_eq!(client.send_mail("a@x", &["c@x"], &second).await.code, 250);
    // A transfer cut short leaves no file behind.
    assert_eq!(client.code("MAIL FROM:<a@x>").await, 250);
    assert_eq!(client.code("RCPT TO:<b@x>").await, 250);
    assert_eq!(client.code("DATA").await, 354);
    client.send(b"partial\r\n").await;
    drop(client);

    let one = sink.next_message(STEP).await.unwrap();
    let two = sink.next_message(STEP).await.unwrap();
    assert_eq!(one.data, None, "dir mode keeps nothing in memory");
    assert_eq!(two.size, second.len() as u64);
    let one_path = one.path.unwrap();
    let two_path = two.path.unwrap();
    assert_eq!(
        std::fs::read(&one_path).unwrap(),
        b"Subject: 1\r\n\r\n.dot\r\n"
    );
    assert_eq!(std::fs::read(&two_path).unwrap(), second.as_bytes());
    assert!(
        one_path < two_path,
        "names sort by arrival: {one_path:?} {two_path:?}"
    );

    sink.shutdown().await;
    let mut names: Vec<String> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "only finished messages: {names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".eml") && !n.starts_with('.')),
        "{names:?}"
    );
}
