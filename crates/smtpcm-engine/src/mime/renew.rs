//! New copies of a prepared message without rendering it again: `smtpcm send --count`
//! and other bulk senders give each copy its own `Message-ID` and `Date`, and nothing
//! else changes, so the body is encoded once instead of once per copy.

use std::cell::RefCell;

use super::{Chunk, PreparedMessage, unique};

/// What [`PreparedMessage::renewed`] replaces: only what [`super::Message::prepare`]
/// generated (a fixed Date or a given Message-ID stays as it was).
#[derive(Debug, Clone)]
pub(super) struct Renew {
    /// The Date was the current time.
    pub(super) date: bool,
    /// The Message-ID was generated, with this right-hand side.
    pub(super) id_domain: Option<String>,
}

/// The current local time as an RFC 2822 `Date` value. Computed at most once a second
/// per thread: formatting it (with the time-zone lookup) costs more than the rest of a
/// small message's copy.
pub(super) fn date_now() -> String {
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != second {
            *c = (second, chrono::Local::now().fixed_offset().to_rfc2822());
        }
        c.1.clone()
    })
}

/// Replace the value of header `name` in the header section at the start of `head`;
/// returns the change in length, or `None` when the header is not there.
fn replace_value(head: &mut Vec<u8>, name: &str, value: &str) -> Option<i64> {
    let end = memchr::memmem::find(head, b"\r\n\r\n").map_or(head.len(), |e| e + 2);
    let line = format!("{name}: ");
    let start = if head.starts_with(line.as_bytes()) {
        line.len()
    } else {
        let at = memchr::memmem::find(&head[..end], format!("\r\n{line}").as_bytes())?;
        at + 2 + line.len()
    };
    let stop = start + memchr::memmem::find(&head[start..end], b"\r\n")?;
    let old = stop - start;
    head.splice(start..stop, value.bytes());
    Some(value.len() as i64 - old as i64)
}

impl PreparedMessage {
    /// Another copy of this message, as preparing the same [`Message`](super::Message)
    /// again would make it: a new generated `Message-ID` and the current `Date` (each only
    /// if it was generated the first time), everything else shared. Attachments are read
    /// when the copy is written, as for the original.
    ///
    /// ```
    /// use smtpcm_engine::address::{parse_list, Mailbox};
    /// use smtpcm_engine::mime::Message;
    /// let first = Message {
    ///     from: Some(Mailbox::parse("etl@corp.example").unwrap()),
    ///     to: parse_list("ops@corp.example").unwrap(),
    ///     text_body: Some("Done.".into()),
    ///     ..Message::default()
    /// }
    /// .prepare()
    /// .unwrap();
    /// let copy = first.renewed();
    /// assert_ne!(copy.message_id(), first.message_id());
    /// assert_eq!(copy.size(), first.size());
    /// ```
    pub fn renewed(&self) -> PreparedMessage {
        let mut copy = PreparedMessage {
            chunks: self.chunks.clone(),
            size: self.size,
            envelope_from: self.envelope_from.clone(),
            recipients: self.recipients.clone(),
            smtputf8: self.smtputf8,
            attachment_bytes: self.attachment_bytes,
            message_id: self.message_id.clone(),
            renew: self.renew.clone(),
        };
        let Some(Chunk::Bytes(head)) = copy.chunks.first_mut() else {
            return copy;
        };
        let mut delta = 0;
        if self.renew.date {
            delta += replace_value(head, "Date", &date_now()).unwrap_or(0);
        }
        if let Some(domain) = &self.renew.id_domain {
            let id = format!("<{}@{domain}>", unique::token());
            if let Some(d) = replace_value(head, "Message-ID", &id) {
                delta += d;
                copy.message_id = id;
            }
        }
        copy.size = copy.size.saturating_add_signed(delta);
        copy
    }
}

#[cfg(test)]
mod tests {
    use crate::address::{Mailbox, parse_list};
    use crate::mime::Message;

    async fn bytes(m: &crate::mime::PreparedMessage) -> String {
        let mut out = Vec::new();
        let n = m.write_to(&mut out).await.unwrap();
        assert_eq!(n, m.size());
        assert_eq!(out.len() as u64, m.size());
        String::from_utf8(out).unwrap()
    }

    fn without(text: &str, header: &str) -> String {
        text.lines()
            .filter(|l| !l.starts_with(header))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn a_renewed_copy_differs_only_in_message_id_and_date() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.csv");
        std::fs::write(&file, "a,b\n1,2\n").unwrap();
        let m = Message {
            from: Some(Mailbox::parse("etl@corp.example").unwrap()),
            to: parse_list("ops@corp.example").unwrap(),
            subject: "Nightly Message-ID: and Date: in the subject".into(),
            text_body: Some("Date: not a header\r\nMessage-ID: nor this".into()),
            attachments: vec![crate::mime::Attachment {
                path: file,
                file_name: None,
                content_type: None,
            }],
            ..Message::default()
        };
        let first = m.prepare().unwrap();
        let copy = first.renewed();
        let (a, b) = (bytes(&first).await, bytes(&copy).await);
        assert_ne!(first.message_id(), copy.message_id());
        assert!(b.contains(&format!("\r\nMessage-ID: {}\r\n", copy.message_id())));
        assert_eq!(b.matches("Message-ID: <").count(), 1);
        assert_eq!(
            without(&without(&a, "Message-ID: <"), "Date: "),
            without(&without(&b, "Message-ID: <"), "Date: ")
        );
        // The body's look-alike lines are untouched.
        assert!(b.contains("Date: not a header"));
    }

    #[tokio::test]
    async fn a_given_message_id_and_date_are_kept() {
        let date = chrono::DateTime::parse_from_rfc2822("Tue, 1 Dec 2026 10:00:00 +0000").unwrap();
        let m = Message {
            from: Some(Mailbox::parse("etl@corp.example").unwrap()),
            to: parse_list("ops@corp.example").unwrap(),
            message_id: Some("<fixed@corp.example>".into()),
            date: Some(date),
            text_body: Some("x".into()),
            ..Message::default()
        };
        let first = m.prepare().unwrap();
        let copy = first.renewed();
        assert_eq!(copy.message_id(), "<fixed@corp.example>");
        assert_eq!(bytes(&first).await, bytes(&copy).await);
    }
}
