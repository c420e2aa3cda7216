//! Windows paths in packages, mapped the way SSIS on Linux maps them.

use std::path::{Path, PathBuf};

/// Maps a path written in a package to a local one.
///
/// SSIS on Linux drops the drive letter and turns backslashes into slashes
/// (`D:\home\ssis\travel.csv` → `/home/ssis/travel.csv`); a UNC path `\\server\share\x`
/// becomes `/server/share/x`. When `root` is given, every absolute result is placed under it,
/// so a test (or a migration dry run) can provide the files in a scratch directory.
/// Relative paths are left as they are.
///
/// ```
/// use smtpcm::run::map_path;
/// use std::path::{Path, PathBuf};
/// assert_eq!(map_path(r"D:\a\b.txt", None), PathBuf::from("/a/b.txt"));
/// assert_eq!(map_path(r"c:\tmp\d.xlsx", Some(Path::new("/srv/root"))), PathBuf::from("/srv/root/tmp/d.xlsx"));
/// assert_eq!(map_path("/var/x", Some(Path::new("/r"))), PathBuf::from("/r/var/x"));
/// assert_eq!(map_path("rel/x", Some(Path::new("/r"))), PathBuf::from("rel/x"));
/// ```
pub fn map_path(written: &str, root: Option<&Path>) -> PathBuf {
    let trimmed = written.trim();
    let bytes = trimmed.as_bytes();
    let without_drive = if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        &trimmed[2..]
    } else {
        trimmed
    };
    let unified = without_drive.replace('\\', "/");
    let mut collapsed = String::with_capacity(unified.len());
    for c in unified.chars() {
        // `\\server\share` and `a\\b` both collapse to single separators.
        if c == '/' && collapsed.ends_with('/') {
            continue;
        }
        collapsed.push(c);
    }
    let absolute = collapsed.starts_with('/');
    match root {
        Some(root) if absolute => root.join(collapsed.trim_start_matches('/')),
        _ => PathBuf::from(collapsed),
    }
}
