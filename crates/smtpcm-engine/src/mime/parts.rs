//! The pieces of a message: rendered body parts, attachment part headers, and the
//! streaming of attachment files in whole base64 lines.

use super::*;

/// Rendered headers and content of the body (everything but attachments).
pub(super) struct BodyPart {
    /// Part headers, ending with the blank line.
    pub(super) headers: String,
    /// Encoded content, ending with CRLF.
    pub(super) content: Vec<u8>,
    /// Content streamed from a file after `content` (a large body file).
    pub(super) streamed: Option<Chunk>,
}

pub(super) fn text_part(subtype: &str, text: &str) -> BodyPart {
    let text = normalize_crlf(text);
    let encoding = TextEncoding::choose(&text);
    BodyPart {
        headers: format!(
            "Content-Type: text/{subtype}; charset=utf-8\r\nContent-Transfer-Encoding: {}\r\n\r\n",
            encoding.as_str()
        ),
        content: encoding.encode(&text),
        streamed: None,
    }
}

pub(super) fn render_body(text: Option<&str>, html: Option<&str>, boundary_id: &str) -> BodyPart {
    match (text, html) {
        (Some(text), Some(html)) => {
            let boundary = format!("=_alt_{boundary_id}");
            let mut content = Vec::new();
            for (i, part) in [text_part("plain", text), text_part("html", html)]
                .into_iter()
                .enumerate()
            {
                // The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1), so
                // every delimiter after content starts with its own CRLF; otherwise the
                // part's final line break would be lost.
                let lead = if i == 0 { "" } else { "\r\n" };
                content.extend_from_slice(format!("{lead}--{boundary}\r\n").as_bytes());
                content.extend_from_slice(part.headers.as_bytes());
                content.extend_from_slice(&part.content);
            }
            content.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            BodyPart {
                headers: format!(
                    "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"
                ),
                content,
                streamed: None,
            }
        }
        (None, Some(html)) => text_part("html", html),
        (text, None) => text_part("plain", text.unwrap_or("")),
    }
}

/// Headers of an attachment part and the file's current length.
pub(super) fn attachment_part(a: &Attachment) -> Result<(String, u64), MimeError> {
    let io_error = |source| MimeError::Attachment {
        path: a.path.clone(),
        source,
    };
    let meta = std::fs::metadata(&a.path).map_err(io_error)?;
    if !meta.is_file() {
        return Err(io_error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    // Opening proves readability now, not halfway through the DATA phase.
    drop(std::fs::File::open(&a.path).map_err(io_error)?);

    let file_name = match &a.file_name {
        Some(name) => name.clone(),
        None => a
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".to_string()),
    };
    check_value("Content-Disposition", &file_name)?;
    let content_type = match &a.content_type {
        Some(ct) => {
            check_value("Content-Type", ct)?;
            let parsed: mime_guess::mime::Mime =
                ct.parse().map_err(|_| MimeError::ContentType {
                    path: a.path.clone(),
                    value: ct.clone(),
                })?;
            // Parameters such as charset are kept; `name` is added below.
            parsed.to_string()
        }
        None => mime_guess::from_path(Path::new(&file_name))
            .first_or_octet_stream()
            .essence_str()
            .to_string(),
    };
    let mut h = Headers::default();
    h.content_type_with_name(&content_type, &file_name);
    h.raw("Content-Transfer-Encoding", "base64");
    h.content_disposition_attachment(&file_name);
    Ok((h.finish(), meta.len()))
}

/// Collects chunks while keeping the running size.
#[derive(Default)]
pub(super) struct Body {
    pub(super) chunks: Vec<Chunk>,
    pub(super) size: u64,
    pub(super) attachment_bytes: u64,
}

impl Body {
    pub(super) fn text(&mut self, s: &str) {
        self.bytes(s.as_bytes().to_vec());
    }

    pub(super) fn bytes(&mut self, b: Vec<u8>) {
        self.size += b.len() as u64;
        match self.chunks.last_mut() {
            Some(Chunk::Bytes(prev)) => prev.extend_from_slice(&b),
            _ => self.chunks.push(Chunk::Bytes(b)),
        }
    }

    pub(super) fn body(&mut self, part: BodyPart) {
        self.bytes(part.content);
        if let Some(chunk) = part.streamed {
            if let Chunk::TextFile { normalized_len, .. } = &chunk {
                self.size += base64_encoded_len(*normalized_len);
            }
            self.chunks.push(chunk);
        }
    }

    pub(super) fn file(&mut self, path: PathBuf, len: u64) {
        self.size += base64_encoded_len(len);
        self.attachment_bytes += len;
        self.chunks.push(Chunk::File { path, len });
    }
}

pub(super) async fn stream_file<W: AsyncWrite + Unpin + ?Sized>(
    path: &Path,
    expected: u64,
    w: &mut W,
    raw: &mut [u8],
    encoded: &mut Vec<u8>,
) -> Result<u64, MimeError> {
    let io_error = |source| MimeError::Attachment {
        path: path.to_path_buf(),
        source,
    };
    let changed = |actual| MimeError::AttachmentChanged {
        path: path.to_path_buf(),
        expected,
        actual,
    };
    let mut file = tokio::fs::File::open(path).await.map_err(io_error)?;
    let now = file.metadata().await.map_err(io_error)?.len();
    if now != expected {
        return Err(changed(now));
    }
    let mut total = 0u64;
    let mut written = 0u64;
    loop {
        let filled = fill(&mut file, raw).await.map_err(io_error)?;
        total += filled as u64;
        if total > expected {
            return Err(changed(total));
        }
        if filled == 0 {
            break;
        }
        encoded.clear();
        encode_base64_lines(&raw[..filled], encoded);
        w.write_all(encoded).await?;
        written += encoded.len() as u64;
        if filled < raw.len() {
            break;
        }
    }
    if total != expected {
        return Err(changed(total));
    }
    // A file that grew by less than a chunk after the last full read is caught here.
    if fill(&mut file, &mut raw[..1]).await.map_err(io_error)? != 0 {
        return Err(changed(total + 1));
    }
    Ok(written)
}

/// Reads until `buf` is full or the file ends; returns how many bytes were read.
pub(super) async fn fill<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]).await? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
