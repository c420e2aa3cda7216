//! Where message bodies go while they arrive, and what is kept once they are accepted.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::fs::File;
use tokio::io::{AsyncWriteExt, BufWriter};

use crate::config::MAX_IN_MEMORY;

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Reverse path from MAIL FROM, without angle brackets; empty for the null sender `<>`.
    pub mail_from: String,
    /// Accepted recipients, in RCPT order, without angle brackets.
    pub rcpt_to: Vec<String>,
    /// Whether the message arrived over TLS (STARTTLS or implicit).
    pub tls: bool,
    /// The account the client authenticated as, if it did.
    pub auth_user: Option<String>,
    /// Size of the message content in bytes, after dot-unstuffing.
    pub size: u64,
    /// The `.eml` file holding the message, when the sink has a directory.
    pub path: Option<PathBuf>,
    /// The message bytes, only when the sink has no directory and the message is at most
    /// [`MAX_IN_MEMORY`] bytes.
    pub data: Option<Vec<u8>>,
}

/// A message body being received: written to a spool file, kept in memory, or only counted.
pub(crate) struct Body {
    size: u64,
    limit: Option<u64>,
    kind: BodyKind,
}

enum BodyKind {
    Memory(Vec<u8>),
    Spool(Spool),
    CountOnly,
}

/// A temporary file renamed into place once the message is accepted, and removed otherwise,
/// so readers of the directory never see half a message.
struct Spool {
    file: BufWriter<File>,
    temp: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl Drop for Spool {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: the session is ending (abort or error) and has nobody to report to.
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// A finished body, ready to become a [`Captured`].
pub(crate) struct Stored {
    pub(crate) size: u64,
    pub(crate) path: Option<PathBuf>,
    pub(crate) data: Option<Vec<u8>>,
}

impl Body {
    /// Starts a body in `dir` under a name made of the time and `sequence`, or in memory.
    pub(crate) async fn open(
        dir: Option<&Path>,
        sequence: u64,
        limit: Option<u64>,
    ) -> io::Result<Self> {
        let kind = match dir {
            Some(dir) => {
                let name = eml_name(sequence);
                let temp = dir.join(format!(".{name}.tmp"));
                let file = File::create(&temp).await.map_err(|e| {
                    io::Error::new(e.kind(), format!("creating {}: {e}", temp.display()))
                })?;
                BodyKind::Spool(Spool {
                    file: BufWriter::new(file),
                    dest: dir.join(name),
                    temp,
                    done: false,
                })
            }
            None => BodyKind::Memory(Vec::new()),
        };
        Ok(Self {
            size: 0,
            limit,
            kind,
        })
    }

    /// Appends content; past the size limit (or the in-memory cap) bytes are only counted.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.size = self.size.saturating_add(bytes.len() as u64);
        let over_memory_cap = matches!(self.kind, BodyKind::Memory(_)) && self.size > MAX_IN_MEMORY;
        if self.too_large() || over_memory_cap {
            // Replacing a spool drops it, which deletes its file.
            self.kind = BodyKind::CountOnly;
        }
        match &mut self.kind {
            BodyKind::Memory(buf) => buf.extend_from_slice(bytes),
            BodyKind::Spool(spool) => spool.file.write_all(bytes).await.map_err(|e| {
                io::Error::new(e.kind(), format!("writing {}: {e}", spool.temp.display()))
            })?,
            BodyKind::CountOnly => {}
        }
        Ok(())
    }

    /// Whether the content so far exceeds the configured SIZE limit.
    pub(crate) fn too_large(&self) -> bool {
        self.limit.is_some_and(|limit| self.size > limit)
    }

    /// Makes the body permanent: renames the spool file into place.
    pub(crate) async fn finish(self) -> io::Result<Stored> {
        let size = self.size;
        let (path, data) = match self.kind {
            BodyKind::Memory(buf) => (None, Some(buf)),
            BodyKind::CountOnly => (None, None),
            BodyKind::Spool(mut spool) => {
                spool.file.flush().await?;
                spool.file.get_ref().sync_all().await?;
                tokio::fs::rename(&spool.temp, &spool.dest)
                    .await
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!(
                                "renaming {} to {}: {e}",
                                spool.temp.display(),
                                spool.dest.display()
                            ),
                        )
                    })?;
                spool.done = true;
                (Some(spool.dest.clone()), None)
            }
        };
        Ok(Stored { size, path, data })
    }
}

/// `<unix-millis>-<sequence>.eml`: sorts by arrival and never collides within one sink.
fn eml_name(sequence: u64) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{millis:013}-{sequence:06}.eml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_body_keeps_bytes_and_limit_is_tracked() {
        let mut body = Body::open(None, 1, Some(5)).await.unwrap();
        body.write(b"abc").await.unwrap();
        assert!(!body.too_large());
        body.write(b"def").await.unwrap();
        assert!(body.too_large());
        let stored = body.finish().await.unwrap();
        assert_eq!(stored.size, 6);
        assert_eq!(stored.data, None, "oversized content is counted, not kept");
    }

    #[tokio::test]
    async fn spool_is_renamed_on_finish_and_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut kept = Body::open(Some(dir.path()), 1, None).await.unwrap();
        kept.write(b"hello\r\n").await.unwrap();
        let stored = kept.finish().await.unwrap();
        let path = stored.path.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello\r\n");
        assert!(path.extension().is_some_and(|e| e == "eml"));

        let mut dropped = Body::open(Some(dir.path()), 2, None).await.unwrap();
        dropped.write(b"partial").await.unwrap();
        drop(dropped);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names.len(),
            1,
            "only the finished message remains: {names:?}"
        );
    }
}
