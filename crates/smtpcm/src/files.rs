//! Reading and writing users' files safely.
//!
//! * [`atomic_write`] (and [`AtomicFile`] for streamed content) is the one way this crate saves a
//!   user's file: the bytes go to a fresh temporary file in the target's directory (created
//!   with `O_EXCL`), are fsynced, get the original file's mode (and owner, when allowed), and
//!   only then replace the target with `rename(2)`, after which the directory is fsynced. The
//!   target itself is never opened for writing, so a crash, a `kill -9`, a full disk or a file
//!   size limit leaves either the old file or the new one, never a mix. A symlink is written
//!   through: the file it points to is replaced and the link stays a link.
//! * [`stage`] + [`StagedFile::commit`] split that in two, so that a tool editing several files
//!   can write and fsync every temporary file first and rename only when all of them made it.
//! * [`read_capped`] reads a file whole with a size cap ([`max_file_bytes`]), so `/dev/zero` or
//!   a runaway file is an error rather than an out-of-memory abort.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("Package.dtsx");
//! std::fs::write(&path, "old").unwrap();
//! smtpcm::files::atomic_write(&path, b"new").unwrap();
//! assert_eq!(std::fs::read(&path).unwrap(), b"new");
//! assert_eq!(smtpcm::files::read_capped(&path).unwrap(), b"new");
//! ```

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Default cap on a file read whole (packages, `.conmgr`, `Project.params`): 256 MiB.
///
/// Real packages reach a few hundred megabytes only with huge embedded layouts; the cap is
/// generous for those and still stops `/dev/zero` long before memory runs out.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Environment variable that overrides [`DEFAULT_MAX_FILE_BYTES`] (a number of bytes).
pub const MAX_FILE_BYTES_ENV: &str = "SMTPCM_MAX_FILE_BYTES";

/// How many symlinks [`atomic_write`] follows before giving up (Linux's own limit is 40).
const MAX_SYMLINK_HOPS: usize = 40;

/// The cap [`read_capped`] applies: `SMTPCM_MAX_FILE_BYTES` when it holds a positive number,
/// else [`DEFAULT_MAX_FILE_BYTES`].
pub fn max_file_bytes() -> u64 {
    std::env::var(MAX_FILE_BYTES_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_MAX_FILE_BYTES)
}

/// Why a file could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The OS refused.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file holds more than the cap.
    #[error(
        "{path}: larger than {cap} bytes, the limit for a file read whole (set {MAX_FILE_BYTES_ENV} to raise it)"
    )]
    TooLarge {
        /// The file.
        path: String,
        /// The cap that was exceeded.
        cap: u64,
    },
}

/// Reads `path` whole, refusing anything over [`max_file_bytes`].
pub fn read_capped(path: impl AsRef<Path>) -> Result<Vec<u8>, ReadError> {
    read_capped_with(path.as_ref(), max_file_bytes())
}

/// [`read_capped`] with an explicit cap.
///
/// ```
/// let err = smtpcm::files::read_capped_with("/dev/zero".as_ref(), 1024).unwrap_err();
/// assert!(err.to_string().contains("larger than 1024 bytes"), "{err}");
/// ```
pub fn read_capped_with(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let io_err = |source| ReadError::Io {
        path: path.display().to_string(),
        source,
    };
    let too_large = || ReadError::TooLarge {
        path: path.display().to_string(),
        cap,
    };
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    // A regular file says how big it is: refuse before reading a byte. Devices and pipes
    // report 0, so the read below is bounded as well.
    if meta.is_file() && meta.len() > cap {
        return Err(too_large());
    }
    let hint = if meta.is_file() { meta.len() } else { 0 };
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > cap {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Why a file could not be written. Unless [`WriteError::target_changed`] says otherwise, the
/// target file is exactly as it was.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Finding the target (following symlinks) or reading its permissions failed.
    #[error("{path}: cannot write: {source}")]
    Target {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Creating, writing or syncing the temporary file failed (disk full, file too large,
    /// read-only directory). The target was not touched; the temporary file is removed.
    #[error("{path}: cannot write (the file is unchanged): {source}")]
    Temp {
        /// The target file.
        path: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Renaming the temporary file over the target failed; the target was not touched.
    #[error("{path}: cannot replace the file (it is unchanged): {source}")]
    Rename {
        /// The target file.
        path: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The new content is in place but the directory could not be synced, so it might not
    /// survive a power loss.
    #[error("{path}: written, but syncing its directory failed: {source}")]
    DirSync {
        /// The target file.
        path: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl WriteError {
    /// True when the target already holds the new content despite the error.
    pub fn target_changed(&self) -> bool {
        matches!(self, WriteError::DirSync { .. })
    }
}

/// Follows `path` through symlinks to the file that really gets written. A dangling link
/// resolves to where it points, so the new file is created there and the link stays.
fn resolve_symlinks(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINK_HOPS {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&current)?;
                current = if target.is_absolute() {
                    target
                } else {
                    current
                        .parent()
                        .unwrap_or_else(|| Path::new(""))
                        .join(target)
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "more than {MAX_SYMLINK_HOPS} levels of symbolic links"
    )))
}

/// A file being written: a temporary file next to the target, which replaces the target only
/// on [`AtomicFile::commit`]. Dropping it without committing removes the temporary file and
/// leaves the target as it was.
///
/// ```
/// use std::io::Write;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("out.txt");
/// let mut f = smtpcm::files::AtomicFile::create(&path).unwrap();
/// f.write_all(b"line 1\n").unwrap();
/// assert!(!path.exists(), "nothing is visible before commit");
/// f.commit().unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"line 1\n");
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    /// The path as given, for messages.
    shown: PathBuf,
    /// The file the rename replaces (symlinks resolved).
    target: PathBuf,
    temp: tempfile::NamedTempFile,
}

/// A fully written and fsynced temporary file, waiting to replace its target.
#[derive(Debug)]
pub struct StagedFile {
    inner: AtomicFile,
}

impl AtomicFile {
    /// Starts writing `path`: creates the temporary file (with `O_EXCL`) in the directory of
    /// the file `path` resolves to, and gives it the mode (and, when permitted, the owner and
    /// group) of the existing file.
    pub fn create(path: impl AsRef<Path>) -> Result<AtomicFile, WriteError> {
        let shown = path.as_ref().to_path_buf();
        let target_err = |source| WriteError::Target {
            path: shown.display().to_string(),
            source,
        };
        let temp_err = |source| WriteError::Temp {
            path: shown.display().to_string(),
            source,
        };
        let target = resolve_symlinks(&shown).map_err(target_err)?;
        let existing = match std::fs::metadata(&target) {
            Ok(m) if m.is_file() => Some(m),
            Ok(_) => {
                return Err(target_err(io::Error::other("not a regular file")));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(target_err(e)),
        };
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".smtpcm-tmp");
        #[cfg(unix)]
        if existing.is_none() {
            // A new file gets the mode `open(2)` would give it (0666 less the umask) rather
            // than the private 0600 of a temporary file.
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let temp = builder.tempfile_in(&dir).map_err(temp_err)?;
        if let Some(meta) = &existing {
            copy_owner_and_mode(temp.as_file(), meta).map_err(temp_err)?;
        }
        Ok(AtomicFile {
            shown,
            target,
            temp,
        })
    }

    /// The file that [`AtomicFile::commit`] will replace (the path with symlinks resolved).
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes and fsyncs the temporary file; the target is still untouched.
    pub fn finish(self) -> Result<StagedFile, WriteError> {
        let result = self.temp.as_file().sync_all();
        match result {
            Ok(()) => Ok(StagedFile { inner: self }),
            Err(source) => Err(WriteError::Temp {
                path: self.shown.display().to_string(),
                source,
            }),
        }
    }

    /// [`AtomicFile::finish`] then [`StagedFile::commit`].
    pub fn commit(self) -> Result<(), WriteError> {
        self.finish()?.commit()
    }
}

impl Write for AtomicFile {
    // Straight to the file: the OS error (EFBIG, ENOSPC) stays as it is, without the
    // temporary file's name that `NamedTempFile` would wrap around it.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.as_file_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.as_file_mut().flush()
    }
}

impl StagedFile {
    /// The file the commit replaces (the path with symlinks resolved).
    pub fn target(&self) -> &Path {
        &self.inner.target
    }

    /// Renames the temporary file over the target and fsyncs the directory.
    pub fn commit(self) -> Result<(), WriteError> {
        let AtomicFile {
            shown,
            target,
            temp,
        } = self.inner;
        let shown = shown.display().to_string();
        temp.persist(&target).map_err(|e| WriteError::Rename {
            path: shown.clone(),
            source: e.error,
        })?;
        sync_dir(&target).map_err(|source| WriteError::DirSync {
            path: shown,
            source,
        })
    }
}

/// Fsyncs the directory holding `file`, so that the rename itself is durable.
fn sync_dir(file: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened for syncing on other systems; the rename is what it is.
        let _ = file;
        Ok(())
    }
}

#[cfg(unix)]
fn copy_owner_and_mode(temp: &File, original: &std::fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mine = temp.metadata()?;
    if mine.uid() != original.uid() || mine.gid() != original.gid() {
        // Only root may give a file away; anyone may keep a group they belong to. When the
        // change is not permitted the new file is simply owned by whoever saved it, as with
        // any editor that saves by rename.
        match std::os::unix::fs::fchown(temp, Some(original.uid()), Some(original.gid())) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                let _ = std::os::unix::fs::fchown(temp, None, Some(original.gid()));
            }
            Err(e) => return Err(e),
        }
    }
    // After chown, which clears set-id bits, so they are restored too.
    temp.set_permissions(std::fs::Permissions::from_mode(
        original.permissions().mode() & 0o7777,
    ))
}

#[cfg(not(unix))]
fn copy_owner_and_mode(temp: &File, original: &std::fs::Metadata) -> io::Result<()> {
    temp.set_permissions(original.permissions())
}

/// Writes the whole of `bytes` to a temporary file and fsyncs it, without touching `path`
/// yet; [`StagedFile::commit`] puts it in place.
pub fn stage(path: impl AsRef<Path>, bytes: &[u8]) -> Result<StagedFile, WriteError> {
    let mut file = AtomicFile::create(path)?;
    if let Err(source) = file.write_all(bytes) {
        return Err(WriteError::Temp {
            path: file.shown.display().to_string(),
            source,
        });
    }
    file.finish()
}

/// Replaces `path` with `bytes` atomically (see the module documentation).
pub fn atomic_write(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), WriteError> {
    stage(path, bytes)?.commit()
}

/// As [`atomic_write`], for a file that holds a secret (a refresh token): the new file has
/// mode 0600 whatever the old one had, from before its first byte is written.
pub fn atomic_write_private(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), WriteError> {
    let mut file = AtomicFile::create(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let private = std::fs::Permissions::from_mode(0o600);
        if let Err(source) = file.temp.as_file().set_permissions(private) {
            return Err(WriteError::Temp {
                path: file.shown.display().to_string(),
                source,
            });
        }
    }
    if let Err(source) = file.write_all(bytes) {
        return Err(WriteError::Temp {
            path: file.shown.display().to_string(),
            source,
        });
    }
    file.commit()
}

/// How far [`write_batch`] got before it failed.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct BatchError {
    /// Files that already hold their new content (only when a rename failed after others
    /// succeeded, or a directory sync failed).
    pub changed: Vec<PathBuf>,
    /// The file that failed.
    pub failed: PathBuf,
    /// Why it failed.
    #[source]
    pub error: WriteError,
    /// Files that were not written and are exactly as they were (the failed one included
    /// unless [`WriteError::target_changed`]).
    pub unchanged: Vec<PathBuf>,
}

/// Writes several files as one unit: every new content is first written and fsynced to a
/// temporary file next to its target, and only when all of them made it are they renamed into
/// place, one after the other. A full disk or a size limit therefore changes nothing; only a
/// rename failing half-way (rare: the temporary files already exist) leaves some files changed,
/// and [`BatchError`] then says exactly which.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let a = dir.path().join("a.dtsx");
/// let missing = dir.path().join("no-such-dir/b.dtsx");
/// std::fs::write(&a, "old").unwrap();
/// let err = smtpcm::files::write_batch(&[(a.clone(), b"new".to_vec()), (missing, b"x".to_vec())])
///     .unwrap_err();
/// assert!(err.changed.is_empty());
/// assert_eq!(std::fs::read(&a).unwrap(), b"old", "nothing is written when one file fails");
/// ```
pub fn write_batch(items: &[(PathBuf, Vec<u8>)]) -> Result<(), BatchError> {
    let all = || items.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    let mut staged = Vec::with_capacity(items.len());
    for (path, bytes) in items {
        match stage(path, bytes) {
            Ok(s) => staged.push(s),
            Err(error) => {
                // Dropping `staged` removes every temporary file written so far.
                return Err(BatchError {
                    changed: Vec::new(),
                    failed: path.clone(),
                    error,
                    unchanged: all(),
                });
            }
        }
    }
    let mut changed = Vec::new();
    for (i, s) in staged.into_iter().enumerate() {
        let path = items[i].0.clone();
        if let Err(error) = s.commit() {
            let mut unchanged: Vec<PathBuf> =
                items[i + 1..].iter().map(|(p, _)| p.clone()).collect();
            if error.target_changed() {
                changed.push(path.clone());
            } else {
                unchanged.insert(0, path.clone());
            }
            return Err(BatchError {
                changed,
                failed: path,
                error,
                unchanged,
            });
        }
        changed.push(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn temp_files(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".smtpcm-tmp"))
            .collect()
    }

    #[test]
    #[cfg(unix)]
    fn keeps_mode_and_replaces_by_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.dtsx");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let before = std::fs::metadata(&path).unwrap();
        atomic_write(&path, b"new content").unwrap();
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new content");
        assert_eq!(after.permissions().mode() & 0o7777, 0o640);
        assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
        assert_ne!(
            after.ino(),
            before.ino(),
            "replaced by rename, not rewritten"
        );
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    #[cfg(unix)]
    fn target_is_never_opened_for_writing_before_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.dtsx");
        std::fs::write(&path, "original").unwrap();
        let inode = std::fs::metadata(&path).unwrap().ino();
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"half of the new ").unwrap();
        // Mid-write, the target is the same inode with the same bytes.
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
        assert_eq!(std::fs::read(&path).unwrap(), b"original");
        assert_eq!(temp_files(dir.path()).len(), 1);
        // Abandoning the write (an error path) removes the temporary file.
        drop(f);
        assert_eq!(std::fs::read(&path).unwrap(), b"original");
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    #[cfg(unix)]
    fn writes_through_a_symlink_and_keeps_the_link() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let real = dir.path().join("real/p.dtsx");
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.dtsx");
        std::os::unix::fs::symlink("real/p.dtsx", &link).unwrap();
        atomic_write(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        assert!(temp_files(dir.path()).is_empty());
        assert!(temp_files(&dir.path().join("real")).is_empty());
    }

    #[test]
    #[cfg(unix)]
    fn new_file_gets_the_usual_mode_not_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.conmgr");
        atomic_write(&path, b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        // 0666 less whatever the umask removes; never the temporary file's 0600.
        assert_ne!(mode, 0o600, "{mode:o}");
        assert_eq!(mode & 0o600, 0o600, "{mode:o}");
    }

    #[test]
    fn refuses_a_directory_as_target() {
        let dir = tempfile::tempdir().unwrap();
        let err = atomic_write(dir.path(), b"x").unwrap_err();
        assert!(matches!(err, WriteError::Target { .. }), "{err}");
        assert!(!err.target_changed());
    }

    #[test]
    fn missing_directory_is_a_temp_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/p.dtsx");
        let err = atomic_write(&path, b"x").unwrap_err();
        assert!(matches!(err, WriteError::Temp { .. }), "{err}");
        assert!(err.to_string().contains("p.dtsx"), "{err}");
    }

    #[test]
    fn read_cap_applies_to_regular_files_and_devices() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'x'; 2000]).unwrap();
        assert!(matches!(
            read_capped_with(&path, 1999),
            Err(ReadError::TooLarge { cap: 1999, .. })
        ));
        assert_eq!(read_capped_with(&path, 2000).unwrap().len(), 2000);
        #[cfg(unix)]
        assert!(matches!(
            read_capped_with(Path::new("/dev/zero"), 4096),
            Err(ReadError::TooLarge { cap: 4096, .. })
        ));
    }
}
