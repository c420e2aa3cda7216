//! HTML messages: the text alternative, inline parts, and the nesting of RFC 2046 and
//! RFC 2387 as Outlook writes it (MS-OXCMAIL §2.1.3.1.4):
//!
//! ```text
//! multipart/mixed                      only with attachments
//!   multipart/related                  only with inline parts the HTML refers to
//!     multipart/alternative
//!       text/plain                     the given text, or one generated from the HTML
//!       text/html
//!     image/png (Content-ID, inline)   streamed from disk like an attachment
//!   application/pdf (attachment)       attachments, then inline parts nothing refers to
//! ```
//!
//! Levels that are not needed are left out. Inline parts are streamed through the same
//! chunked base64 path as attachments, so a 100 MiB image costs no more memory than a 100 MiB
//! attachment.

use std::path::PathBuf;

use super::html::{self, DEFAULT_MAX_HTML_BYTES};
use super::parts::{Body, attachment_part, render_body};
use super::{Attachment, Message, MimeError};

/// A file sent inside the HTML body's `multipart/related`, referred to as `cid:<content_id>`.
///
/// ```
/// use smtpcm_engine::address::Mailbox;
/// use smtpcm_engine::mime::{InlinePart, Message};
///
/// let dir = tempfile::tempdir().unwrap();
/// let logo = dir.path().join("logo.png");
/// std::fs::write(&logo, b"\x89PNG\r\n\x1a\n").unwrap();
/// let message = Message {
///     from: Some(Mailbox::new("etl@example.com")),
///     to: vec![Mailbox::new("ops@example.com")],
///     html_body: Some(r#"<p>Loaded.</p><img src="cid:logo@corp">"#.into()),
///     inline_parts: vec![InlinePart::new("logo@corp", &logo)],
///     ..Default::default()
/// };
/// assert!(message.prepare().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InlinePart {
    /// The Content-ID without angle brackets, as the HTML names it after `cid:`.
    pub content_id: String,
    /// Where the file is.
    pub path: PathBuf,
    /// MIME type; defaults to a guess from the file name.
    pub content_type: Option<String>,
}

impl InlinePart {
    /// An inline part with its type guessed from `path`.
    pub fn new(content_id: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        InlinePart {
            content_id: content_id.into(),
            path: path.into(),
            content_type: None,
        }
    }

    fn as_attachment(&self) -> Attachment {
        Attachment {
            path: self.path.clone(),
            file_name: None,
            content_type: self.content_type.clone(),
        }
    }
}

/// Whether the message takes the HTML layout of this module.
pub(super) fn applies(m: &Message) -> bool {
    match &m.body_file {
        Some(f) => f.html,
        None => m.html_body.is_some(),
    }
}

/// A Content-ID must fit between angle brackets on one header line.
fn check_content_id(cid: &str) -> Result<(), MimeError> {
    let valid = !cid.is_empty()
        && cid.len() <= 200
        && cid
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b'\\'));
    if valid {
        Ok(())
    } else {
        Err(MimeError::InvalidContentId {
            content_id: cid.to_string(),
        })
    }
}

/// Renders everything after the top-level headers `top` into `out`.
pub(super) fn render(
    m: &Message,
    top: String,
    boundary_id: &str,
    out: &mut Body,
) -> Result<(), MimeError> {
    let max = m.max_html_bytes.unwrap_or(DEFAULT_MAX_HTML_BYTES);
    let (source, label, base_dir) = match &m.body_file {
        Some(f) => (
            html::read_html_file(&f.path, max)?,
            f.path.display().to_string(),
            Some(f.path.parent().map(|p| p.to_path_buf()).unwrap_or_default()),
        ),
        None => {
            let html = m.html_body.clone().unwrap_or_default();
            if html.len() as u64 > max {
                return Err(MimeError::HtmlTooLarge {
                    html: "HTML body".into(),
                    max,
                });
            }
            (html, "HTML body".to_string(), m.html_base_dir.clone())
        }
    };
    let scanned = html::scan(&source, base_dir.as_deref(), &label)?;

    let mut related: Vec<InlinePart> = Vec::new();
    for part in &m.inline_parts {
        check_content_id(&part.content_id)?;
        if m.inline_parts
            .iter()
            .filter(|p| p.content_id == part.content_id)
            .count()
            > 1
        {
            return Err(MimeError::DuplicateContentId {
                content_id: part.content_id.clone(),
            });
        }
    }
    for cid in &scanned.cids {
        if let Some((_, path)) = scanned.generated.iter().find(|(c, _)| c == cid) {
            related.push(InlinePart::new(cid.clone(), path.clone()));
        } else if let Some(part) = m.inline_parts.iter().find(|p| &p.content_id == cid) {
            related.push(part.clone());
        } else {
            return Err(MimeError::UnresolvedCid {
                content_id: cid.clone(),
                html: label,
            });
        }
    }
    // An inline part nothing refers to would be invisible; it is sent as an attachment.
    let attachments: Vec<Attachment> = m
        .attachments
        .iter()
        .cloned()
        .chain(
            m.inline_parts
                .iter()
                .filter(|p| !scanned.cids.contains(&p.content_id))
                .map(InlinePart::as_attachment),
        )
        .collect();

    // The text alternative is rendered from the document as written, before rewriting.
    let text = match &m.text_body {
        Some(text) => text.clone(),
        None => html::text_alternative(&source, &label)?,
    };
    drop(source);
    let alternative = render_body(Some(&text), Some(&scanned.html), boundary_id);
    drop(text);

    // Each level is written as: its Content-Type (ending the header block above it), the
    // first child, then later children each after "\r\n--boundary\r\n" (the CRLF before a
    // delimiter belongs to it, RFC 2046 §5.1.1), then the close delimiter.
    out.text(&top);
    let mixed = format!("=_mixed_{boundary_id}");
    if !attachments.is_empty() {
        out.text(&format!(
            "Content-Type: multipart/mixed; boundary=\"{mixed}\"\r\n\r\n--{mixed}\r\n"
        ));
    }
    let rel = format!("=_rel_{boundary_id}");
    if !related.is_empty() {
        // RFC 2387 §3.1: `type` is the root part's type.
        out.text(&format!(
            "Content-Type: multipart/related; type=\"multipart/alternative\"; boundary=\"{rel}\"\r\n\r\n--{rel}\r\n"
        ));
    }
    out.text(&alternative.headers);
    out.body(alternative);
    for part in &related {
        out.text(&format!("\r\n--{rel}\r\n"));
        let (headers, len) = inline_part_headers(part)?;
        out.text(&headers);
        out.file(part.path.clone(), len);
    }
    if !related.is_empty() {
        out.text(&format!("\r\n--{rel}--\r\n"));
    }
    for attachment in &attachments {
        out.text(&format!("\r\n--{mixed}\r\n"));
        let (headers, len) = attachment_part(attachment)?;
        out.text(&headers);
        out.file(attachment.path.clone(), len);
    }
    if !attachments.is_empty() {
        out.text(&format!("\r\n--{mixed}--\r\n"));
    }
    Ok(())
}

/// An attachment's headers with `Content-ID` added and the disposition `inline`.
fn inline_part_headers(part: &InlinePart) -> Result<(String, u64), MimeError> {
    let (headers, len) = attachment_part(&part.as_attachment()).map_err(|e| match e {
        MimeError::Attachment { path, source } => MimeError::InlineImage {
            reference: format!("cid:{}", part.content_id),
            html: "HTML body".into(),
            reason: source.to_string(),
            path,
        },
        other => other,
    })?;
    // attachment_part writes exactly one "Content-Disposition: attachment;" line start.
    let headers = headers.replacen(
        "Content-Disposition: attachment;",
        &format!(
            "Content-ID: <{}>\r\nContent-Disposition: inline;",
            part.content_id
        ),
        1,
    );
    Ok((headers, len))
}
