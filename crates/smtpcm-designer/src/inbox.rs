//! The built-in capture server (the `smtpcm-sink` crate, in process) and its inbox.

use mail_parser::{MessageParser, MimeHeaders};
use serde::Serialize;
use smtpcm_sink::{Captured, Sink, SinkConfig, SinkHandle};
use tokio::sync::Mutex;

/// The capture server, started on first use.
#[derive(Default)]
pub(crate) struct Inbox {
    sink: Mutex<Option<SinkHandle>>,
}

/// A message in the list.
#[derive(Debug, Serialize)]
pub(crate) struct MessageSummary {
    pub id: usize,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub size: u64,
    pub tls: bool,
}

/// One message, parsed.
#[derive(Debug, Serialize)]
pub(crate) struct MessageView {
    pub id: usize,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<AttachmentView>,
}

/// An attachment of a captured message.
#[derive(Debug, Serialize)]
pub(crate) struct AttachmentView {
    pub index: usize,
    pub name: String,
    pub content_type: String,
    pub size: usize,
}

impl Inbox {
    /// The capture server's address (`127.0.0.1:PORT`), starting it if needed.
    pub async fn addr(&self) -> std::io::Result<std::net::SocketAddr> {
        let mut guard = self.sink.lock().await;
        if guard.is_none() {
            *guard = Some(
                Sink::start(SinkConfig {
                    keep_messages: true,
                    // The designer sends plain text to it: there is nothing to protect on
                    // loopback, and no CA file to hand to the runner.
                    starttls: false,
                    ..SinkConfig::default()
                })
                .await?,
            );
        }
        guard
            .as_ref()
            .map(SinkHandle::local_addr)
            .ok_or_else(|| std::io::Error::other("capture server not running"))
    }

    pub async fn messages(&self) -> Vec<Captured> {
        self.sink
            .lock()
            .await
            .as_ref()
            .map(SinkHandle::messages)
            .unwrap_or_default()
    }

    pub async fn list(&self) -> Vec<MessageSummary> {
        self.messages()
            .await
            .iter()
            .enumerate()
            .map(|(id, m)| {
                let subject = m
                    .data
                    .as_deref()
                    .and_then(|d| MessageParser::default().parse(d))
                    .and_then(|p| p.subject().map(str::to_owned))
                    .unwrap_or_default();
                MessageSummary {
                    id,
                    from: m.mail_from.clone(),
                    to: m.rcpt_to.clone(),
                    subject,
                    size: m.size,
                    tls: m.tls,
                }
            })
            .collect()
    }

    pub async fn raw(&self, id: usize) -> Option<Vec<u8>> {
        self.messages().await.get(id).and_then(|m| m.data.clone())
    }

    pub async fn view(&self, id: usize) -> Option<MessageView> {
        let all = self.messages().await;
        let m = all.get(id)?;
        let data = m.data.as_deref()?;
        let parsed = MessageParser::default().parse(data)?;
        let headers = parsed
            .headers_raw()
            .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
            .collect();
        let attachments = parsed
            .attachments()
            .enumerate()
            .map(|(index, a)| AttachmentView {
                index,
                name: a.attachment_name().unwrap_or("attachment").to_owned(),
                content_type: a
                    .content_type()
                    .map(|c| match c.subtype() {
                        Some(s) => format!("{}/{s}", c.ctype()),
                        None => c.ctype().to_owned(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".into()),
                size: a.contents().len(),
            })
            .collect();
        Some(MessageView {
            id,
            mail_from: m.mail_from.clone(),
            rcpt_to: m.rcpt_to.clone(),
            headers,
            text: parsed.body_text(0).map(|t| t.into_owned()),
            // Only a real text/html part: mail-parser would otherwise render the text body as HTML.
            html: parsed.parts.iter().find_map(|p| match &p.body {
                mail_parser::PartType::Html(h) => Some(h.to_string()),
                _ => None,
            }),
            attachments,
        })
    }

    pub async fn attachment(&self, id: usize, index: usize) -> Option<(String, String, Vec<u8>)> {
        let all = self.messages().await;
        let data = all.get(id)?.data.as_deref()?;
        let parsed = MessageParser::default().parse(data)?;
        let a = parsed.attachments().nth(index)?;
        Some((
            a.attachment_name().unwrap_or("attachment").to_owned(),
            a.content_type()
                .map(|c| match c.subtype() {
                    Some(s) => format!("{}/{s}", c.ctype()),
                    None => c.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".into()),
            a.contents().to_vec(),
        ))
    }
}
