use super::*;

fn message() -> Message {
    Message {
        from: Some(Mailbox::parse("Sender <s@example.com>").unwrap()),
        to: vec![Mailbox::parse("t@example.com").unwrap()],
        date: Some(DateTime::parse_from_rfc2822("Mon, 23 Nov 2026 10:00:00 +0100").unwrap()),
        message_id: Some("fixed@example.com".into()),
        ..Default::default()
    }
}

fn render(m: &Message) -> String {
    let p = m.prepare().unwrap();
    let mut out = Vec::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let n = rt.block_on(p.write_to(&mut out)).unwrap();
    assert_eq!((n, out.len() as u64), (p.size(), p.size()));
    String::from_utf8(out).unwrap()
}

#[test]
fn text_only_layout() {
    let mut m = message();
    m.subject = "Hi".into();
    m.text_body = Some("line 1\nline 2".into());
    m.bcc = vec![Mailbox::parse("hidden@example.com").unwrap()];
    m.priority = Priority::High;
    assert_eq!(
        render(&m),
        "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n\
         From: Sender <s@example.com>\r\n\
         To: t@example.com\r\n\
         Message-ID: <fixed@example.com>\r\n\
         Subject: Hi\r\n\
         MIME-Version: 1.0\r\n\
         X-Priority: 1 (Highest)\r\n\
         Importance: High\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 7bit\r\n\
         \r\n\
         line 1\r\nline 2\r\n"
    );
}

#[test]
fn validation_names_the_culprit() {
    let mut m = message();
    m.subject = "a\nb".into();
    assert!(
        matches!(m.prepare(), Err(MimeError::HeaderInjection { header }) if header == "Subject")
    );

    let mut m = message();
    m.extra_headers = vec![("X-Job".into(), "ok\r".into())];
    assert!(matches!(m.prepare(), Err(MimeError::HeaderInjection { header }) if header == "X-Job"));

    let mut m = message();
    m.extra_headers = vec![("Content-Type".into(), "text/html".into())];
    assert!(matches!(m.prepare(), Err(MimeError::ReservedHeader { .. })));

    let mut m = message();
    m.extra_headers = vec![("Bad Name".into(), "x".into())];
    assert!(matches!(
        m.prepare(),
        Err(MimeError::InvalidHeaderName { .. })
    ));

    let mut m = message();
    m.message_id = Some("has space@x".into());
    assert!(matches!(
        m.prepare(),
        Err(MimeError::InvalidMessageId { .. })
    ));

    let mut m = message();
    m.from = None;
    assert!(matches!(m.prepare(), Err(MimeError::NoSender)));

    let mut m = message();
    m.to.clear();
    assert!(matches!(m.prepare(), Err(MimeError::NoRecipients)));

    let mut m = message();
    m.cc = vec![Mailbox::new("bob@")];
    let e = m.prepare().unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"header "Cc": "bob@" is not a valid e-mail address: missing domain"#
    );

    let mut m = message();
    m.attachments = vec![Attachment::new("/nonexistent/report.csv")];
    let e = m.prepare().unwrap_err();
    assert!(
        e.to_string()
            .starts_with("attachment /nonexistent/report.csv: "),
        "{e}"
    );
}

#[test]
fn utf8_addresses_need_smtputf8() {
    let mut m = message();
    assert!(!m.prepare().unwrap().needs_smtputf8());
    m.cc = vec![Mailbox::parse("jörg@example.de").unwrap()];
    let p = m.prepare().unwrap();
    assert!(p.needs_smtputf8() && p.needs_8bitmime());
}

#[test]
fn recipients_are_deduplicated_in_linear_time() {
    // 100k distinct recipients plus each again in another case: quadratic work here took
    // seconds; linear work is milliseconds. The count proves the de-duplication; the size
    // makes a quadratic regression visible as a hung test rather than a passing one.
    let n = 100_000;
    let to: Vec<Mailbox> = (0..n)
        .map(|i| Mailbox::parse(&format!("user{i}@example.com")).unwrap())
        .collect();
    let bcc: Vec<Mailbox> = (0..n)
        .map(|i| Mailbox::parse(&format!("USER{i}@EXAMPLE.COM")).unwrap())
        .collect();
    let m = Message {
        to,
        bcc,
        ..Default::default()
    };
    let recipients = m.recipients();
    assert_eq!(recipients.len(), n);
    assert_eq!(recipients[0], "user0@example.com");
    assert_eq!(recipients[n - 1], format!("user{}@example.com", n - 1));
}
