//! Windows paths in packages, mapped the way SSIS on Linux maps them, and kept inside
//! `--path-root` when one is given.

use std::io;
use std::path::{Path, PathBuf};

/// A package path that cannot be used under the path root.
#[derive(Debug, thiserror::Error)]
pub enum PathRootError {
    /// `..` would leave the root.
    #[error("{written:?}: `..` climbs out of the path root {}", root.display())]
    Climbs {
        /// The path as written in the package.
        written: String,
        /// The root.
        root: PathBuf,
    },
    /// A symbolic link under the root points outside it.
    #[error("{written:?}: a symbolic link leads to {}, outside the path root {}", resolved.display(), root.display())]
    Symlink {
        /// The path as written in the package.
        written: String,
        /// Where the link leads.
        resolved: PathBuf,
        /// The root.
        root: PathBuf,
    },
    /// The root itself cannot be resolved (it does not exist, or cannot be read).
    #[error("path root {}: {source}", root.display())]
    Root {
        /// The root.
        root: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Maps a path written in a package to a local one.
///
/// SSIS on Linux drops the drive letter and turns backslashes into slashes
/// (`D:\home\ssis\travel.csv` → `/home/ssis/travel.csv`); a UNC path `\\server\share\x`
/// becomes `/server/share/x`. Without a root, relative paths are left as they are.
///
/// With a `root` (`--path-root`), every path, absolute or relative, is looked up under it,
/// and the root is a boundary: a `..` that would climb out of it, or a symbolic link under it
/// that leads outside, is an error. The result is then the resolved path (symbolic links
/// followed), so what is opened is what was checked.
///
/// ```
/// use smtpcm::run::map_path;
/// use std::path::{Path, PathBuf};
/// assert_eq!(map_path(r"D:\a\b.txt", None).unwrap(), PathBuf::from("/a/b.txt"));
/// assert_eq!(map_path("rel/x", None).unwrap(), PathBuf::from("rel/x"));
/// let root = tempfile::tempdir().unwrap();
/// let real = root.path().canonicalize().unwrap();
/// assert_eq!(map_path(r"c:\tmp\d.xlsx", Some(root.path())).unwrap(), real.join("tmp/d.xlsx"));
/// assert_eq!(map_path("rel/../x", Some(root.path())).unwrap(), real.join("x"));
/// assert!(map_path(r"C:\..\etc\passwd", Some(root.path())).is_err());
/// ```
pub fn map_path(written: &str, root: Option<&Path>) -> Result<PathBuf, PathRootError> {
    let trimmed = written.trim();
    let bytes = trimmed.as_bytes();
    let without_drive = if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        &trimmed[2..]
    } else {
        trimmed
    };
    let unified = without_drive.replace('\\', "/");
    let Some(root) = root else {
        let mut collapsed = String::with_capacity(unified.len());
        for c in unified.chars() {
            // `\\server\share` and `a\\b` both collapse to single separators.
            if c == '/' && collapsed.ends_with('/') {
                continue;
            }
            collapsed.push(c);
        }
        return Ok(PathBuf::from(collapsed));
    };
    // Under a root, `..` is resolved by hand (the file may not exist yet, so the system cannot
    // do it), and refusing to pop past the start keeps the result below the root.
    let mut relative = PathBuf::new();
    for part in unified.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if !relative.pop() {
                    return Err(PathRootError::Climbs {
                        written: written.to_owned(),
                        root: root.to_path_buf(),
                    });
                }
            }
            name => relative.push(name),
        }
    }
    let real_root = root.canonicalize().map_err(|source| PathRootError::Root {
        root: root.to_path_buf(),
        source,
    })?;
    let resolved = resolve_existing(&real_root.join(&relative));
    if !resolved.starts_with(&real_root) {
        return Err(PathRootError::Symlink {
            written: written.to_owned(),
            resolved,
            root: root.to_path_buf(),
        });
    }
    Ok(resolved)
}

/// `path` with its longest existing prefix resolved by the system (symbolic links followed)
/// and the rest, which does not exist yet, appended unchanged.
fn resolve_existing(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |acc: PathBuf, p| acc.join(p));
        }
        match (
            existing.file_name().map(|n| n.to_owned()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            // Nothing of it exists (cannot happen below an existing root).
            _ => return path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_inside_the_root_is_fine_and_past_it_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().canonicalize().unwrap();
        assert_eq!(
            map_path(r"D:\a\..\b\c.txt", Some(root.path())).unwrap(),
            real.join("b/c.txt")
        );
        for bad in [r"..\x", r"D:\a\..\..\x", "/../../etc/passwd", "a/../../x"] {
            let err = map_path(bad, Some(root.path())).unwrap_err();
            assert!(matches!(err, PathRootError::Climbs { .. }), "{bad}: {err}");
            assert!(
                err.to_string().contains("climbs out of the path root"),
                "{err}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_out_of_the_root_is_an_error() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "x").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            root.path().join("file.txt"),
        )
        .unwrap();
        for written in [r"C:\link\secret.txt", "file.txt", r"\link\not-there.txt"] {
            let err = map_path(written, Some(root.path())).unwrap_err();
            assert!(
                matches!(err, PathRootError::Symlink { .. }),
                "{written}: {err}"
            );
        }
        // A link that stays inside the root is followed.
        std::fs::create_dir(root.path().join("real")).unwrap();
        std::fs::write(root.path().join("real/a.txt"), "x").unwrap();
        std::os::unix::fs::symlink(root.path().join("real"), root.path().join("inner")).unwrap();
        assert_eq!(
            map_path(r"C:\inner\a.txt", Some(root.path())).unwrap(),
            root.path().canonicalize().unwrap().join("real/a.txt")
        );
    }

    #[test]
    fn a_missing_root_is_an_error() {
        let err = map_path("a.txt", Some(Path::new("/nonexistent/smtpcm-root"))).unwrap_err();
        assert!(matches!(err, PathRootError::Root { .. }), "{err}");
    }
}
