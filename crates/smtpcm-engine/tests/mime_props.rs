//! Properties of the streaming message writer, checked against `mail-parser` as an
//! independent decoder.

use std::path::PathBuf;

use base64::Engine as _;
use mail_parser::{MessageParser, MimeHeaders};
use proptest::prelude::*;
use smtpcm_engine::address::Mailbox;
use smtpcm_engine::mime::{ATTACHMENT_CHUNK_BYTES, Attachment, Message, MimeError, Priority};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async { tokio::time::timeout(std::time::Duration::from_secs(60), f).await })
        .expect("finished within the time limit")
}

fn render(message: &Message) -> (smtpcm_engine::mime::PreparedMessage, Vec<u8>) {
    let prepared = message.prepare().expect("prepare");
    let mut out = Vec::new();
    let written = block_on(prepared.write_to(&mut out)).expect("write_to");
    assert_eq!(written, out.len() as u64, "write_to's count");
    assert_eq!(
        prepared.size(),
        out.len() as u64,
        "size() announced up front"
    );
    (prepared, out)
}

fn base_message() -> Message {
    Message {
        from: Some(Mailbox::parse("Sender <sender@example.com>").unwrap()),
        to: vec![Mailbox::parse("to@example.com").unwrap()],
        subject: "test".into(),
        text_body: Some("body".into()),
        ..Default::default()
    }
}

/// Lines are CRLF-terminated, no bare CR or LF, none over 998 bytes.
fn assert_wire_format(out: &[u8]) {
    for (i, &b) in out.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(out.get(i + 1), Some(&b'\n'), "bare CR at byte {i}"),
            b'\n' => assert!(i > 0 && out[i - 1] == b'\r', "bare LF at byte {i}"),
            _ => {}
        }
    }
    assert!(out.ends_with(b"\r\n"), "message ends with CRLF");
    for (n, line) in out.split(|&b| b == b'\n').enumerate() {
        assert!(line.len() <= 999, "line {} is {} bytes", n + 1, line.len());
    }
}

fn header_section(out: &[u8]) -> &str {
    let text = std::str::from_utf8(out).expect("UTF-8 output");
    let end = text.find("\r\n\r\n").expect("header/body separator");
    &text[..end + 2]
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn tricky_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z]{1,10}( [A-Za-z]{1,10}){0,2}",
        "[A-Za-z ,;.<>@\"\\\\()]{1,30}",
        "[a-zäöüéß日本語 ]{1,30}",
        "[a-z]{60,120}",
    ]
    .prop_map(|s| s.trim().to_string())
    .prop_filter("non-empty", |s| !s.is_empty())
}

fn mailbox(domain: &'static str) -> impl Strategy<Value = Mailbox> {
    (
        proptest::option::of(tricky_name()),
        "[a-z][a-z0-9]{0,6}(\\.[a-z0-9]{1,5}){0,2}",
    )
        .prop_map(move |(name, local)| Mailbox {
            name,
            address: format!("{local}@{domain}"),
        })
}

#[derive(Debug, Clone)]
struct FileSpec {
    name: String,
    content: Vec<u8>,
}

fn file_spec() -> impl Strategy<Value = FileSpec> {
    let sizes = prop_oneof![
        Just(0usize),
        Just(1),
        Just(56),
        Just(57),
        Just(58),
        0usize..3000,
    ];
    (
        // Binary types only: mail-parser charset-decodes text/* attachments, so their
        // contents() is not the raw bytes (the base64 test below covers raw decoding).
        "[a-zA-Z0-9éü日 _-]{1,40}\\.(pdf|zip|bin|xlsx)",
        sizes,
        any::<u64>(),
    )
        .prop_map(|(name, size, seed)| {
            // Cheap deterministic bytes covering every value.
            let mut x = seed | 1;
            let content = (0..size)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            FileSpec { name, content }
        })
}

prop_compose! {
    fn message_spec()(
        from in mailbox("sender.example"),
        to in proptest::collection::vec(mailbox("to.example"), 0..4),
        cc in proptest::collection::vec(mailbox("cc.example"), 0..3),
        bcc in proptest::collection::vec(mailbox("bcc.example"), 0..3),
        reply_to in proptest::collection::vec(mailbox("reply.example"), 0..2),
        subject in prop_oneof!["\\PC{0,120}", "[a-z]{900,1200}", "[a-z ]{0,300}"],
        text in proptest::option::of("(\\PC|\n|\r\n|\r){0,400}"),
        html in proptest::option::of("<p>(\\PC|\n){0,200}</p>"),
        priority in prop_oneof![Just(Priority::High), Just(Priority::Normal), Just(Priority::Low)],
        files in proptest::collection::vec(file_spec(), 0..4),
        extra_value in proptest::option::of("\\PC{0,100}"),
    ) -> (Message, Vec<FileSpec>) {
        let mut to = to;
        if to.is_empty() && cc.is_empty() && bcc.is_empty() {
            to.push(Mailbox::new("fallback@to.example"));
        }
        let message = Message {
            from: Some(from),
            to,
            cc,
            bcc,
            reply_to,
            subject,
            // The oracle reads the first text body; keep one whenever there is HTML.
            text_body: if html.is_some() { Some(text.clone().unwrap_or_default()) } else { text },
            html_body: html,
            priority,
            extra_headers: extra_value.map(|v| vec![("X-Job".to_string(), v)]).unwrap_or_default(),
            ..Default::default()
        };
        (message, files)
    }
}

fn write_files(dir: &tempfile::TempDir, files: &[FileSpec]) -> Vec<Attachment> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            // Separate directories keep equal generated names apart.
            let sub = dir.path().join(i.to_string());
            std::fs::create_dir(&sub).expect("mkdir");
            let path = sub.join(&f.name);
            std::fs::write(&path, &f.content).expect("write attachment");
            Attachment::new(path)
        })
        .collect()
}

fn normalised(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n")
}

const OURS: [&str; 16] = [
    "Date",
    "From",
    "Reply-To",
    "To",
    "Cc",
    "Message-ID",
    "Subject",
    "MIME-Version",
    "X-Priority",
    "Importance",
    "X-Job",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Bcc",
    "",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn written_message_matches_its_size_and_decodes_back((mut message, files) in message_spec()) {
        let dir = tempfile::tempdir().expect("tempdir");
        message.attachments = write_files(&dir, &files);
        let (prepared, out) = render(&message);
        assert_wire_format(&out);
        prop_assert!(out.is_ascii(), "ASCII addresses give an ASCII message");
        prop_assert!(!prepared.needs_smtputf8());
        prop_assert_eq!(prepared.attachment_bytes(), files.iter().map(|f| f.content.len() as u64).sum::<u64>());

        let headers = header_section(&out);
        for line in headers.split("\r\n").filter(|l| !l.is_empty() && !l.starts_with([' ', '\t'])) {
            let name = line.split(':').next().unwrap_or("");
            prop_assert!(OURS[..14].contains(&name), "unexpected header line {:?}", line);
        }
        let text = String::from_utf8_lossy(&out);
        for b in &message.bcc {
            prop_assert!(!text.contains(&b.address), "Bcc {} leaked into the message", b.address);
        }

        let parsed = MessageParser::default().parse(&out).expect("mail-parser parses it");
        prop_assert_eq!(squash(parsed.subject().unwrap_or("")), squash(&message.subject));
        let from = parsed.from().and_then(|a| a.first()).expect("From");
        let sender = message.from.as_ref().unwrap();
        prop_assert_eq!(from.address(), Some(sender.address.as_str()));
        prop_assert_eq!(from.name().map(squash), sender.name.as_deref().map(squash));
        let parsed_to: Vec<_> = parsed.to().map(|a| a.iter().filter_map(|m| m.address()).map(str::to_string).collect()).unwrap_or_default();
        let want_to: Vec<_> = message.to.iter().map(|m| m.address.clone()).collect();
        prop_assert_eq!(parsed_to, want_to);
        prop_assert!(parsed.bcc().is_none());

        if let Some(body) = &message.text_body {
            let got = parsed.body_text(0).map(|b| b.into_owned()).unwrap_or_default();
            let (got, want) = (normalised(&got), normalised(body));
            prop_assert_eq!(got.trim_end_matches("\r\n"), want.trim_end_matches("\r\n"));
        }
        if let Some(html) = &message.html_body {
            let got = parsed.body_html(0).map(|b| b.into_owned()).unwrap_or_default();
            let (got, want) = (normalised(&got), normalised(html));
            prop_assert_eq!(got.trim_end_matches("\r\n"), want.trim_end_matches("\r\n"));
        }
        let attachments: Vec<_> = parsed.attachments().collect();
        prop_assert_eq!(attachments.len(), files.len());
        for (got, want) in attachments.iter().zip(&files) {
            prop_assert_eq!(got.attachment_name(), Some(want.name.as_str()));
            prop_assert!(got.contents() == want.content.as_slice(), "{} differs", want.name);
        }
    }

    #[test]
    fn header_values_never_inject(subject in "(\\PC|\r|\n|\t){0,200}", extra in "(\\PC|\r|\n){0,200}") {
        let mut message = base_message();
        message.subject = subject.clone();
        message.extra_headers = vec![("X-Job".into(), extra.clone())];
        match message.prepare() {
            Err(MimeError::HeaderInjection { header }) => {
                let culprit = if subject.contains(['\r', '\n']) { "Subject" } else { "X-Job" };
                prop_assert_eq!(header, culprit);
                prop_assert!(subject.contains(['\r', '\n']) || extra.contains(['\r', '\n']));
            }
            Err(e) => return Err(TestCaseError::fail(format!("unexpected error {e}"))),
            Ok(_) => {
                prop_assert!(!subject.contains(['\r', '\n']) && !extra.contains(['\r', '\n']));
                let (_, out) = render(&message);
                assert_wire_format(&out);
                let headers = header_section(&out);
                for line in headers.split("\r\n").filter(|l| !l.is_empty()) {
                    prop_assert!(line.len() <= 998, "header line of {} bytes", line.len());
                    if !line.starts_with([' ', '\t']) {
                        let name = line.split(':').next().unwrap_or("");
                        prop_assert!(OURS[..14].contains(&name), "unexpected header line {:?}", line);
                    }
                }
                let parsed = MessageParser::default().parse(&out).expect("parses");
                prop_assert_eq!(squash(parsed.subject().unwrap_or("")), squash(&subject));
            }
        }
    }

    #[test]
    fn base64_streaming_decodes_to_the_file(size in prop_oneof![
        Just(0usize), Just(1), Just(56), Just(57), Just(58),
        Just(ATTACHMENT_CHUNK_BYTES - 1), Just(ATTACHMENT_CHUNK_BYTES), Just(ATTACHMENT_CHUNK_BYTES + 1),
        Just(2 * ATTACHMENT_CHUNK_BYTES + 57), 0usize..(3 * ATTACHMENT_CHUNK_BYTES),
    ], seed in any::<u8>()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data.bin");
        let content: Vec<u8> = (0..size).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        std::fs::write(&path, &content).expect("write");
        let mut message = base_message();
        message.attachments = vec![Attachment::new(&path)];
        let (_, out) = render(&message);
        let text = std::str::from_utf8(&out).expect("ASCII");
        let start = text.find("Content-Disposition: attachment").expect("attachment part");
        let body_start = start + text[start..].find("\r\n\r\n").expect("part body") + 4;
        let body_end = body_start + text[body_start..].find("--").expect("closing delimiter");
        // The CRLF right before the delimiter belongs to the delimiter (RFC 2046 §5.1.1).
        let body = text[body_start..body_end].strip_suffix("\r\n").expect("delimiter CRLF");
        let lines: Vec<&str> = body.split_terminator("\r\n").collect();
        if let Some((last, full)) = lines.split_last() {
            prop_assert!(full.iter().all(|l| l.len() == 76), "every line but the last is 76 chars");
            prop_assert!(!last.is_empty() && last.len() <= 76);
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(lines.concat())
            .expect("valid base64");
        prop_assert!(decoded == content, "decoded attachment differs ({} bytes)", size);
    }
}

#[test]
fn a_file_that_changes_after_prepare_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (before, after) in [
        (100usize, 101usize),
        (100, 99),
        (0, 5),
        (ATTACHMENT_CHUNK_BYTES, ATTACHMENT_CHUNK_BYTES + 1),
    ] {
        let path: PathBuf = dir.path().join(format!("grows-{before}-{after}.log"));
        std::fs::write(&path, vec![b'a'; before]).expect("write");
        let mut message = base_message();
        message.attachments = vec![Attachment::new(&path)];
        let prepared = message.prepare().expect("prepare");
        std::fs::write(&path, vec![b'b'; after]).expect("rewrite");
        let mut out = Vec::new();
        match block_on(prepared.write_to(&mut out)) {
            Err(MimeError::AttachmentChanged {
                path: p,
                expected,
                actual,
            }) => {
                assert_eq!(
                    (p, expected, actual),
                    (path.clone(), before as u64, after as u64)
                );
            }
            other => panic!("{before}->{after}: expected AttachmentChanged, got {other:?}"),
        }
    }
}

#[test]
fn missing_attachment_is_named_at_prepare() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut message = base_message();
    message.attachments = vec![Attachment::new(dir.path().join("nope.pdf"))];
    let err = message.prepare().expect_err("missing file");
    assert!(matches!(err, MimeError::Attachment { .. }));
    assert!(err.to_string().contains("nope.pdf"), "{err}");
    message.attachments = vec![Attachment::new(dir.path())];
    let err = message.prepare().expect_err("directory");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[test]
fn non_ascii_file_names_use_rfc_2231() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("Отчёт за май.xlsx");
    std::fs::write(&path, b"xlsx").expect("write");
    let mut message = base_message();
    message.attachments = vec![Attachment::new(&path)];
    let (_, out) = render(&message);
    let text = String::from_utf8(out.clone()).expect("UTF-8");
    assert!(text.contains("filename*0*=utf-8''"), "{text}");
    assert!(text.contains(
        "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;"
    ));
    let parsed = MessageParser::default().parse(&out).expect("parses");
    let attachment = parsed.attachments().next().expect("attachment");
    assert_eq!(attachment.attachment_name(), Some("Отчёт за май.xlsx"));
}

#[test]
fn utf8_addresses_are_flagged_and_kept_raw() {
    let mut message = base_message();
    message.to = vec![Mailbox::parse("Jörg <jörg@bücher.example>").unwrap()];
    let (prepared, out) = render(&message);
    assert!(prepared.needs_smtputf8() && prepared.needs_8bitmime());
    let parsed = MessageParser::default().parse(&out).expect("parses");
    let to = parsed.to().and_then(|a| a.first()).expect("To");
    assert_eq!(
        (to.name(), to.address()),
        (Some("Jörg"), Some("jörg@bücher.example"))
    );
}

#[test]
fn explicit_content_types_keep_parameters_and_bad_ones_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("export.dat");
    std::fs::write(&path, b"a;b\r\n").expect("write");
    let mut message = base_message();
    message.attachments = vec![Attachment {
        path: path.clone(),
        file_name: Some("export.csv".into()),
        content_type: Some("text/csv; charset=utf-8".into()),
    }];
    let (_, out) = render(&message);
    let text = String::from_utf8(out).expect("UTF-8");
    assert!(
        text.contains("Content-Type: text/csv; charset=utf-8; name=\"export.csv\"\r\n"),
        "{text}"
    );
    assert!(text.contains("filename=\"export.csv\""), "{text}");

    message.attachments[0].content_type = Some("not a type".into());
    match message.prepare() {
        Err(MimeError::ContentType { path: p, value }) => {
            assert_eq!((p, value.as_str()), (path, "not a type"));
        }
        other => panic!("expected ContentType error, got {other:?}"),
    }
}
