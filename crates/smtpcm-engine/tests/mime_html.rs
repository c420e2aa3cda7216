//! HTML messages: the text alternative, inline parts, the multipart nesting, and the errors,
//! checked against `mail-parser` as an independent decoder.

use mail_parser::{MessageParser, MimeHeaders, PartType};
use smtpcm_engine::address::Mailbox;
use smtpcm_engine::mime::{Attachment, BodyFile, InlinePart, Message, MimeError};

fn render(message: &Message) -> Vec<u8> {
    let prepared = message.prepare().expect("prepare");
    let mut out = Vec::new();
    let written = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(prepared.write_to(&mut out))
        .expect("write_to");
    assert_eq!(written, out.len() as u64);
    assert_eq!(
        prepared.size(),
        out.len() as u64,
        "size() announced up front"
    );
    for (i, &b) in out.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(out.get(i + 1), Some(&b'\n'), "bare CR at byte {i}"),
            b'\n' => assert!(i > 0 && out[i - 1] == b'\r', "bare LF at byte {i}"),
            _ => {}
        }
    }
    for line in out.split(|&b| b == b'\n') {
        assert!(line.len() <= 999, "a line of {} bytes", line.len());
    }
    out
}

fn base() -> Message {
    Message {
        from: Some(Mailbox::new("etl@example.com")),
        to: vec![Mailbox::new("ops@example.com")],
        subject: "report".into(),
        ..Default::default()
    }
}

/// The MIME tree as `type[child,child]`.
fn structure(raw: &[u8]) -> String {
    let parsed = MessageParser::default().parse(raw).expect("parses");
    fn walk(m: &mail_parser::Message<'_>, i: usize) -> String {
        let part = &m.parts[i];
        let ct = part
            .content_type()
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
            .unwrap_or_else(|| "text/plain".into());
        match &part.body {
            PartType::Multipart(children) => format!(
                "{ct}[{}]",
                children
                    .iter()
                    .map(|&c| walk(m, c as usize))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            _ => ct,
        }
    }
    walk(&parsed, 0)
}

fn png(seed: u8, len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    v
}

#[test]
fn html_only_gets_a_generated_text_alternative() {
    let raw = render(&Message {
        html_body: Some("<h1>Load finished</h1><p>42 <b>tables</b> loaded.</p>".into()),
        ..base()
    });
    assert_eq!(
        structure(&raw),
        "multipart/alternative[text/plain,text/html]"
    );
    let parsed = MessageParser::default().parse(&raw).unwrap();
    let text = parsed.body_text(0).unwrap();
    // html2text's plain rendering: markup gone, emphasis marked as in plain-text mail.
    assert!(
        text.contains("Load finished") && text.contains("42 **tables** loaded."),
        "{text}"
    );
    assert!(!text.contains("<b>") && !text.contains("<p>"), "{text}");
}

#[test]
fn the_given_text_wins_over_the_generated_one() {
    let raw = render(&Message {
        text_body: Some("my own text".into()),
        html_body: Some("<p>html</p>".into()),
        ..base()
    });
    let parsed = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(parsed.body_text(0).unwrap().trim_end(), "my own text");
}

#[test]
fn mixed_related_alternative_nesting_and_byte_identical_parts() {
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.png");
    let chart = dir.path().join("chart.gif");
    let report = dir.path().join("report.pdf");
    let unused = dir.path().join("unused.png");
    std::fs::write(&logo, png(1, 5000)).unwrap();
    std::fs::write(&chart, png(2, 57 * 3)).unwrap();
    std::fs::write(&report, png(3, 100)).unwrap();
    std::fs::write(&unused, png(4, 10)).unwrap();
    let raw = render(&Message {
        html_body: Some(
            r#"<p><img src="cid:logo@corp"> <img src="CID:chart"> <img src="cid:logo@corp"></p>"#
                .into(),
        ),
        inline_parts: vec![
            InlinePart::new("logo@corp", &logo),
            InlinePart::new("chart", &chart),
            InlinePart::new("unused@corp", &unused),
        ],
        attachments: vec![Attachment::new(&report)],
        ..base()
    });
    assert_eq!(
        structure(&raw),
        "multipart/mixed[multipart/related[multipart/alternative[text/plain,text/html],image/png,image/gif],application/pdf,image/png]"
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.contains("type=\"multipart/alternative\""),
        "RFC 2387 type parameter"
    );
    let parsed = MessageParser::default().parse(&raw).unwrap();
    let by_cid = |cid: &str| {
        parsed
            .parts
            .iter()
            .find(|p| p.content_id() == Some(cid))
            .unwrap_or_else(|| panic!("a part with Content-ID {cid}"))
    };
    assert_eq!(
        by_cid("logo@corp").contents(),
        std::fs::read(&logo).unwrap()
    );
    assert_eq!(by_cid("chart").contents(), std::fs::read(&chart).unwrap());
    assert_eq!(
        by_cid("logo@corp").content_disposition().map(|d| d.ctype()),
        Some("inline")
    );
    // The part nothing refers to is an ordinary attachment, after the real ones.
    let attachments: Vec<_> = parsed.attachments().collect();
    let names: Vec<_> = attachments
        .iter()
        .filter_map(|a| a.attachment_name())
        .collect();
    assert!(names.ends_with(&["report.pdf", "unused.png"]), "{names:?}");
    let unused_part = attachments
        .iter()
        .find(|a| a.attachment_name() == Some("unused.png"))
        .unwrap();
    assert_eq!(
        unused_part.content_disposition().map(|d| d.ctype()),
        Some("attachment")
    );
    assert_eq!(unused_part.content_id(), None);
    assert_eq!(unused_part.contents(), std::fs::read(&unused).unwrap());
}

#[test]
fn levels_that_are_not_needed_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.png");
    std::fs::write(&logo, png(1, 10)).unwrap();
    let related_only = render(&Message {
        html_body: Some(r#"<img src="cid:logo">"#.into()),
        inline_parts: vec![InlinePart::new("logo", &logo)],
        ..base()
    });
    assert_eq!(
        structure(&related_only),
        "multipart/related[multipart/alternative[text/plain,text/html],image/png]"
    );
    let mixed_only = render(&Message {
        html_body: Some("<p>no images</p>".into()),
        attachments: vec![Attachment::new(&logo)],
        ..base()
    });
    assert_eq!(
        structure(&mixed_only),
        "multipart/mixed[multipart/alternative[text/plain,text/html],image/png]"
    );
    // Inline parts with a plain-text body have nothing to be inline in: attachments.
    let text_only = render(&Message {
        text_body: Some("plain".into()),
        inline_parts: vec![InlinePart::new("logo", &logo)],
        ..base()
    });
    assert_eq!(
        structure(&text_only),
        "multipart/mixed[text/plain,image/png]"
    );
}

#[test]
fn relative_paths_next_to_the_body_file_become_generated_content_ids() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("img")).unwrap();
    let logo = dir.path().join("img").join("logo big.png");
    std::fs::write(&logo, png(9, 300)).unwrap();
    let body = dir.path().join("body.html");
    std::fs::write(
        &body,
        "<html><body><p>Hi</p><img alt=\"logo\" src=\"img/logo%20big.png\"><img src=\"https://cdn.example/x.png\"></body></html>\n",
    )
    .unwrap();
    let raw = render(&Message {
        body_file: Some(BodyFile::html(&body)),
        ..base()
    });
    assert_eq!(
        structure(&raw),
        "multipart/related[multipart/alternative[text/plain,text/html],image/png]"
    );
    let parsed = MessageParser::default().parse(&raw).unwrap();
    let image = parsed
        .parts
        .iter()
        .find(|p| p.content_id().is_some())
        .expect("inline part");
    let cid = image.content_id().unwrap();
    assert!(cid.ends_with("@smtpcm"), "{cid}");
    assert_eq!(image.contents(), std::fs::read(&logo).unwrap());
    let html = parsed.body_html(0).unwrap();
    assert!(html.contains(&format!("src=\"cid:{cid}\"")), "{html}");
    assert!(
        html.contains("src=\"https://cdn.example/x.png\""),
        "remote URLs are kept: {html}"
    );
}

#[test]
fn an_unresolved_cid_names_the_cid_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("mail.html");
    std::fs::write(&body, r#"<img src="cid:missing@corp">"#).unwrap();
    let e = Message {
        body_file: Some(BodyFile::html(&body)),
        ..base()
    }
    .prepare()
    .unwrap_err();
    assert!(matches!(e, MimeError::UnresolvedCid { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("cid:missing@corp") && text.contains("mail.html"),
        "{text}"
    );
}

#[test]
fn an_unreadable_inline_image_is_named() {
    let e = Message {
        html_body: Some(r#"<img src="cid:logo">"#.into()),
        inline_parts: vec![InlinePart::new("logo", "/nonexistent/logo.png")],
        ..base()
    }
    .prepare()
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("/nonexistent/logo.png") && text.contains("cid:logo"),
        "{text}"
    );
}

#[test]
fn bad_content_ids_are_refused() {
    for cid in ["", "a b", "<x>", "a\"b"] {
        let e = Message {
            html_body: Some("<p>x</p>".into()),
            inline_parts: vec![InlinePart::new(cid, "/etc/hostname")],
            ..base()
        }
        .prepare()
        .unwrap_err();
        assert!(
            matches!(e, MimeError::InvalidContentId { .. }),
            "{cid:?}: {e:?}"
        );
    }
}

#[test]
fn html_bodies_over_the_cap_are_refused() {
    let html = format!("<p>{}</p>", "x".repeat(2000));
    let e = Message {
        html_body: Some(html.clone()),
        max_html_bytes: Some(1000),
        ..base()
    }
    .prepare()
    .unwrap_err();
    assert!(
        matches!(e, MimeError::HtmlTooLarge { max: 1000, .. }),
        "{e:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("big.html");
    std::fs::write(&body, &html).unwrap();
    let e = Message {
        body_file: Some(BodyFile::html(&body)),
        max_html_bytes: Some(1000),
        ..base()
    }
    .prepare()
    .unwrap_err();
    assert!(
        e.to_string().contains("big.html") && e.to_string().contains("1000"),
        "{e}"
    );
    // At the cap exactly, it goes.
    assert!(
        Message {
            html_body: Some(html.clone()),
            max_html_bytes: Some(html.len() as u64),
            ..base()
        }
        .prepare()
        .is_ok()
    );
}

#[test]
fn very_long_html_lines_go_out_quoted_printable_and_decode_back() {
    let html = format!("<p>{}</p><p>Grüße</p>", "word ".repeat(2000));
    let raw = render(&Message {
        html_body: Some(html.clone()),
        ..base()
    });
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.contains("Content-Transfer-Encoding: quoted-printable"),
        "{text:.400}"
    );
    let parsed = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(parsed.body_html(0).unwrap().trim_end(), html);
}
