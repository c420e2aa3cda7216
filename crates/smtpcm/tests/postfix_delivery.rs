//! Issue 2 against real Postfix on loopback (started by `scripts/test.sh`):
//! STARTTLS with a test CA, implicit TLS, Maildir read-back with byte-identical
//! attachments, a rejected recipient among three, the downgrade refusal, and a
//! 1 GiB attachment to smtp-sink.

#[path = "support/servers.rs"]
mod servers;

use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use mail_parser::{MessageParser, MimeHeaders};
use servers::TestServers;
use smtpcm::connection_manager::{ConnectionError, SmtpConnectionManager};
use smtpcm::send_mail::{NoPackage, SendMailTask, TaskError};
use smtpcm_engine::SendError;
use smtpcm_engine::mime::Priority;
use smtpcm_engine::smtp::ErrorKind;

const DELIVERY: Duration = Duration::from_secs(30);

fn manager(servers: &TestServers, extra: &str) -> SmtpConnectionManager {
    let cs = format!(
        "SmtpServer={};UseWindowsAuthentication=False;{extra}",
        servers.tls_server_name()
    );
    let mut cm =
        SmtpConnectionManager::with_connection_string("SMTP Connection Manager", &cs).unwrap();
    cm.set_extra_ca_file(Some(servers.ca_file()));
    cm
}

/// A plain task from etl@sender.test; tests add attachments or other fields on top.
fn task(to: &str, subject: &str, body: &str) -> SendMailTask {
    SendMailTask {
        from_line: "etl@sender.test".into(),
        to_line: to.into(),
        subject: subject.into(),
        message_source: body.into(),
        ..SendMailTask::default()
    }
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

async fn run_task(
    task: &SendMailTask,
    cm: &SmtpConnectionManager,
) -> Result<smtpcm_engine::smtp::SendReport, TaskError> {
    tokio::time::timeout(Duration::from_secs(60), task.execute(cm, &NoPackage))
        .await
        .expect("send did not finish within 60 s")
}

fn attachment_of<'a>(msg: &'a mail_parser::Message<'a>, name: &str) -> Option<&'a [u8]> {
    msg.attachments()
        .find(|a| a.attachment_name() == Some(name))
        .map(|a| a.contents())
}

#[tokio::test]
async fn starttls_delivery_reads_back_headers_body_and_attachments() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let binary = pseudo_random(300_001, 7);
    let text = "naïve café;\r\nline two\n.leading dot\r\n"
        .as_bytes()
        .to_vec();
    let bin_path = dir.path().join("export.bin");
    let txt_path = dir.path().join("résumé notes.txt");
    std::fs::write(&bin_path, &binary).unwrap();
    std::fs::write(&txt_path, &text).unwrap();

    let to = servers.unique_recipient("to");
    let cc = servers.unique_recipient("cc");
    let bcc = servers.unique_recipient("bcc");
    let subject = format!("Nightly load — ünïcödé {}", std::process::id());
    let task = SendMailTask {
        name: "Send Mail Task".into(),
        from_line: "\"ETL, Server\" <etl@sender.test>".into(),
        to_line: format!("\"Doe, Jane\" <{to}>"),
        cc_line: cc.clone(),
        bcc_line: bcc.clone(),
        subject: subject.clone(),
        message_source: "Hello,\n.\nall rows loaded.\n".into(),
        priority: Priority::High,
        file_attachments: format!("{}|{}", bin_path.display(), txt_path.display()),
        ..SendMailTask::default()
    };
    let cm = manager(
        &servers,
        &format!("EnableSsl=True;Port={};", servers.starttls_port()),
    );
    let report = run_task(&task, &cm)
        .await
        .expect("send over STARTTLS failed");
    assert_eq!(report.rejected.len(), 0, "{:?}", report.rejected);
    assert_eq!(report.accepted.len(), 3);

    let raw = servers
        .wait_for_maildir_message(&to, DELIVERY)
        .expect("message not delivered to To");
    let msg = MessageParser::default()
        .parse(&raw)
        .expect("delivered message does not parse");
    assert_eq!(msg.subject(), Some(subject.as_str()));
    let from = msg.from().and_then(|a| a.first()).expect("no From");
    assert_eq!(from.address(), Some("etl@sender.test"));
    assert_eq!(from.name(), Some("ETL, Server"));
    assert_eq!(
        msg.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some(to.as_str())
    );
    assert_eq!(
        msg.cc().and_then(|a| a.first()).and_then(|a| a.address()),
        Some(cc.as_str())
    );
    assert!(msg.bcc().is_none(), "Bcc header leaked");
    assert!(
        !String::from_utf8_lossy(&raw).contains(&bcc),
        "Bcc address appears in the delivered message"
    );
    assert_eq!(
        msg.header_raw("X-Priority")
            .map(str::trim)
            .and_then(|v| v.split_whitespace().next()),
        Some("1")
    );
    assert_eq!(
        msg.body_text(0).map(|b| b.replace("\r\n", "\n")).as_deref(),
        Some("Hello,\n.\nall rows loaded.\n")
    );
    assert_eq!(
        attachment_of(&msg, "export.bin"),
        Some(binary.as_slice()),
        "binary attachment differs"
    );
    assert_eq!(
        attachment_of(&msg, "résumé notes.txt"),
        Some(text.as_slice()),
        "text attachment differs"
    );
    // Postfix records TLS in its Received header.
    assert!(
        String::from_utf8_lossy(&raw).contains("TLS"),
        "no TLS in Received:"
    );

    assert!(
        servers.wait_for_maildir_message(&cc, DELIVERY).is_some(),
        "Cc not delivered"
    );
    assert!(
        servers.wait_for_maildir_message(&bcc, DELIVERY).is_some(),
        "Bcc not delivered"
    );
}

#[tokio::test]
async fn implicit_tls_delivers() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    let to = servers.unique_recipient("implicit");
    let task = task(&to, "implicit TLS", "wrapper mode");
    let cm = manager(
        &servers,
        &format!(
            "EnableSsl=False;TlsMode=Implicit;Port={};",
            servers.implicit_port()
        ),
    );
    run_task(&task, &cm)
        .await
        .expect("send over implicit TLS failed");
    let raw = servers
        .wait_for_maildir_message(&to, DELIVERY)
        .expect("not delivered");
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(msg.subject(), Some("implicit TLS"));
}

#[tokio::test]
async fn one_rejected_recipient_of_three_is_reported_and_others_delivered() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    let first = servers.unique_recipient("first");
    let third = servers.unique_recipient("third");
    let rejected = format!("reject-{}@{}", std::process::id(), servers.mail_domain());
    let task = task(
        &format!("{first}; {rejected}; {third}"),
        "three recipients",
        "one of us is unwanted",
    );
    let cm = manager(
        &servers,
        &format!("EnableSsl=True;Port={};", servers.starttls_port()),
    );
    let report = run_task(&task, &cm)
        .await
        .expect("the transaction should succeed for two recipients");
    assert_eq!(report.accepted, vec![first.clone(), third.clone()]);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].recipient, rejected);
    assert_eq!(
        report.rejected[0].reply.code / 100,
        5,
        "{}",
        report.rejected[0].reply
    );
    assert!(servers.wait_for_maildir_message(&first, DELIVERY).is_some());
    assert!(servers.wait_for_maildir_message(&third, DELIVERY).is_some());
}

#[tokio::test]
async fn enable_ssl_against_a_server_without_starttls_fails_and_sends_nothing() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    let to = servers.unique_recipient("downgrade");
    let task = task(&to, "must not travel in clear", "secret");
    let cm = manager(
        &servers,
        &format!("EnableSsl=True;Port={};", servers.plain_port()),
    );
    let err = run_task(&task, &cm)
        .await
        .expect_err("a downgrade must fail");
    match &err {
        TaskError::Connection(ConnectionError::Send(SendError::Smtp(e))) => {
            assert!(matches!(e.kind(), ErrorKind::StartTlsNotOffered), "{e}");
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(err.to_string().contains("STARTTLS"), "{err}");
    assert!(
        servers
            .wait_for_maildir_message(&to, Duration::from_secs(3))
            .is_none(),
        "a message was delivered"
    );
}

/// Counts decoded bytes of the base64 attachment part in an smtp-sink dump, streaming.
fn decoded_attachment(dump: &Path, probes: &[u64]) -> (u64, Vec<u8>) {
    let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(dump).unwrap());
    let mut line = Vec::new();
    let mut in_attachment_headers = false;
    let mut in_body = false;
    let mut total = 0u64;
    let mut pending = Vec::new();
    let mut probed = vec![0u8; probes.len()];
    let mut chunk = Vec::with_capacity(1 << 16);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).unwrap() == 0 {
            break;
        }
        let text = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(&line);
        if in_body {
            if text.starts_with(b"--") {
                break;
            }
            pending.extend_from_slice(text);
            let usable = pending.len() / 4 * 4;
            chunk.clear();
            base64::engine::general_purpose::STANDARD
                .decode_vec(&pending[..usable], &mut chunk)
                .unwrap();
            for (i, p) in probes.iter().enumerate() {
                if *p >= total && *p < total + chunk.len() as u64 {
                    probed[i] = chunk[(*p - total) as usize];
                }
            }
            total += chunk.len() as u64;
            pending.drain(..usable);
        } else if text
            .to_ascii_lowercase()
            .starts_with(b"content-disposition: attachment")
        {
            in_attachment_headers = true;
        } else if in_attachment_headers && text.is_empty() {
            in_body = true;
        }
    }
    (total, probed)
}

#[tokio::test]
async fn one_gib_attachment_to_smtp_sink_arrives_whole() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    // Its own smtp-sink: this transfer takes long enough to make the small dump tests on the
    // shared one miss their deadlines.
    let Some((big_port, big_dir)) = servers.big_sink() else {
        return;
    };
    const SIZE: u64 = 1 << 30;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    // Sparse, so the test costs no disk for the source; marker bytes make corruption visible.
    let probes = [0u64, 57 * 1024 - 1, SIZE / 2 + 3, SIZE - 1];
    {
        let mut f = std::fs::File::create(&path).unwrap();
        f.set_len(SIZE).unwrap();
        for (i, p) in probes.iter().enumerate() {
            f.seek(SeekFrom::Start(*p)).unwrap();
            f.write_all(&[0xA0 + i as u8]).unwrap();
        }
    }
    let to = format!("big-{}@sink.test", std::process::id());
    let task = SendMailTask {
        file_attachments: path.display().to_string(),
        ..task(&to, "one gibibyte", "see attachment")
    };
    let cs = format!("SmtpServer={};Port={};", servers.host(), big_port);
    let cm = SmtpConnectionManager::with_connection_string("SMTP", &cs).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(600), task.execute(&cm, &NoPackage))
        .await
        .expect("1 GiB send did not finish in 10 minutes")
        .expect("1 GiB send failed");
    assert!(report.bytes > SIZE, "reported {} bytes", report.bytes);
    let dump = servers::wait_for_dump_in(&big_dir, &to, DELIVERY).expect("smtp-sink wrote no dump");
    let (decoded, probed) = decoded_attachment(&dump, &probes);
    let _ = std::fs::remove_file(&dump);
    assert_eq!(decoded, SIZE, "decoded attachment size at the receiver");
    assert_eq!(
        probed,
        vec![0xA0, 0xA1, 0xA2, 0xA3],
        "marker bytes changed in transit"
    );
}
