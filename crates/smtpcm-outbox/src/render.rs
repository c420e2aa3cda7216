//! Rendering a prepared message into a [`Body`] at bounded memory.

use std::io::Seek;

use smtpcm_engine::mime::PreparedMessage;
use tokio::io::AsyncWriteExt;

use crate::error::{OutboxError, Result};
use crate::model::NewMessage;
use crate::store::Body;

/// Messages up to this size are rendered in memory; larger ones (attachments, big body
/// files) go through an anonymous temporary file, so memory stays bounded.
pub const IN_MEMORY_LIMIT: u64 = 4 * 1024 * 1024;

/// Render `message` (reading its attachments now, so a file deleted after the enqueue
/// loses nothing) and describe it for the outbox, to be delivered through `route`.
pub async fn render(message: &PreparedMessage, route: &str) -> Result<(NewMessage, Body)> {
    let io = |context: &str| {
        let context = context.to_owned();
        move |source| OutboxError::Io {
            db: "(rendering)".into(),
            context: context.clone(),
            source,
        }
    };
    let mime = |e: smtpcm_engine::mime::MimeError| OutboxError::Invalid(e.to_string());
    let body = if message.size() <= IN_MEMORY_LIMIT {
        let mut buf = Vec::with_capacity(message.size() as usize);
        message.write_to(&mut buf).await.map_err(mime)?;
        Body::memory(buf)
    } else {
        let file = tempfile::tempfile().map_err(io("creating a temporary file"))?;
        let mut out =
            tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file));
        let len = message.write_to(&mut out).await.map_err(mime)?;
        out.flush().await.map_err(io("writing a temporary file"))?;
        let mut file = out.into_inner().into_std().await;
        file.rewind().map_err(io("rewinding a temporary file"))?;
        Body::file(file, len)
    };
    let new = NewMessage {
        message_id: message.message_id().to_owned(),
        route: route.to_owned(),
        sender: message.envelope_from().to_owned(),
        recipients: message.recipients().to_vec(),
        eight_bit: message.needs_8bitmime(),
        smtputf8: message.needs_smtputf8(),
        dsn: Default::default(),
    };
    Ok((new, body))
}
