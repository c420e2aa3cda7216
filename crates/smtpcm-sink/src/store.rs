//! Where message bodies go while they arrive, and what is kept once they are accepted.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tempfile::TempPath;
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

/// A temporary file moved into place once the message is accepted, and removed otherwise
/// (dropping a [`TempPath`] deletes it), so readers of the directory never see half a message.
///
/// The temporary file has a random name and is created with `O_CREAT|O_EXCL`, which never
/// follows a symbolic link; the final name is taken without replacing anything already there.
/// So a local user who plants a symlink in the directory cannot make the sink write through it.
struct Spool {
    file: BufWriter<File>,
    temp: TempPath,
    dest: PathBuf,
}

/// How many other names are tried when the chosen `.eml` name is already taken.
const NAME_ATTEMPTS: u32 = 100;

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
                let (file, temp) = tempfile::Builder::new()
                    .prefix(".incoming-")
                    .suffix(".tmp")
                    .tempfile_in(dir)
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("creating a spool file in {}: {e}", dir.display()),
                        )
                    })?
                    .into_parts();
                BodyKind::Spool(Spool {
                    file: BufWriter::new(File::from_std(file)),
                    dest: dir.join(name),
                    temp,
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
                let Spool { temp, dest, .. } = spool;
                let path = tokio::task::spawn_blocking(move || publish(temp, dest))
                    .await
                    .map_err(io::Error::other)??;
                (Some(path), None)
            }
        };
        Ok(Stored { size, path, data })
    }
}

/// Moves a finished spool file to `dest`, or to `<stem>-<n>.eml` if something (a file, a
/// planted symlink) already has that name: nothing existing is replaced or written through.
/// Then syncs the directory so the new name survives a crash.
fn publish(mut temp: TempPath, dest: PathBuf) -> io::Result<PathBuf> {
    let stem = dest.with_extension("");
    let mut candidate = dest.clone();
    for attempt in 1..=NAME_ATTEMPTS {
        match temp.persist_noclobber(&candidate) {
            Ok(()) => {
                if let Some(dir) = candidate.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                return Ok(candidate);
            }
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                temp = e.path;
                candidate = PathBuf::from(format!("{}-{attempt}.eml", stem.display()));
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.error.kind(),
                    format!(
                        "moving {} to {}: {}",
                        e.path.display(),
                        candidate.display(),
                        e.error
                    ),
                ));
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{} and {NAME_ATTEMPTS} alternative names are all taken",
            dest.display()
        ),
    ))
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

    #[cfg(unix)]
    #[tokio::test]
    async fn a_symlink_planted_at_the_message_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        let mut body = Body::open(Some(dir.path()), 7, None).await.unwrap();
        let BodyKind::Spool(spool) = &body.kind else {
            panic!("a directory body spools")
        };
        let planted = spool.dest.clone();
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        body.write(b"attack\r\n").await.unwrap();
        let stored = body.finish().await.unwrap();
        let path = stored.path.unwrap();
        assert_ne!(path, planted, "another name is used");
        assert_eq!(std::fs::read(&path).unwrap(), b"attack\r\n");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(
            std::fs::read_link(&planted).unwrap(),
            victim,
            "the link is untouched"
        );
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
