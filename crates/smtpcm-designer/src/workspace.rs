//! The files the designer has open, what they looked like on disk when opened, and saving.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use smtpcm::dtsx::{self, ConmgrFile, LoadError};
use smtpcm::package::{Connections, Package, Parameter};

/// What a file looked like on disk: modification time, size and a hash of its bytes. Two
/// different fingerprints mean someone else changed (or replaced, or removed) the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Modification time, when the file system reports one.
    pub modified: Option<SystemTime>,
    /// Size in bytes.
    pub size: u64,
    /// Hash of the bytes (SipHash; compared only within one process).
    pub hash: u64,
}

impl Fingerprint {
    /// The fingerprint of `bytes` as found at `path` (whose metadata gives the time).
    fn of(path: &Path, bytes: &[u8]) -> Fingerprint {
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        Fingerprint {
            modified,
            size: bytes.len() as u64,
            hash: h.finish(),
        }
    }

    /// The file's current fingerprint, or `None` when it does not exist (or cannot be read).
    pub fn current(path: &Path) -> Option<Fingerprint> {
        let bytes = smtpcm::files::read_capped(path).ok()?;
        Some(Fingerprint::of(path, &bytes))
    }
}

/// A loaded document.
#[derive(Debug, Clone)]
pub enum Doc {
    /// A `.dtsx` package.
    Package(Box<Package>),
    /// A `.conmgr` project connection manager.
    Conmgr(Box<ConmgrFile>),
}

/// A load error as the explorer shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Diagnostic {
    /// The whole message, `file:line:col: ...`.
    pub message: String,
    /// Line, when known.
    pub line: Option<u32>,
    /// Column, when known.
    pub column: Option<u32>,
}

impl From<&LoadError> for Diagnostic {
    fn from(e: &LoadError) -> Self {
        let pos = e.position();
        Diagnostic {
            message: e.to_string(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
        }
    }
}

/// One open file.
#[derive(Debug, Clone)]
pub struct OpenFile {
    /// Where it lives.
    pub path: PathBuf,
    /// The document, unless it failed to load.
    pub doc: Option<Doc>,
    /// Why it failed to load.
    pub error: Option<Diagnostic>,
    /// The file on disk when it was opened or last saved; `None` for a new file.
    pub disk: Option<Fingerprint>,
    /// Edited since opened or saved.
    pub dirty: bool,
}

/// Why a save did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The file changed on disk since it was opened; nothing was written.
    #[error(
        "{0}: changed on disk since it was opened; reload it, or save again to keep your version"
    )]
    Conflict(String),
    /// The document cannot be serialised or written.
    #[error("{0}")]
    Failed(String),
}

/// The open files.
#[derive(Debug, Default)]
pub struct Workspace {
    /// Open files, in the order opened; indices are the files' ids in the API.
    pub files: Vec<OpenFile>,
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

impl Workspace {
    /// Opens packages, `.conmgr` files and folders (every `.dtsx` and `.conmgr` in them).
    /// Files that fail to load are kept with their diagnostic.
    pub fn open(paths: &[PathBuf]) -> Workspace {
        let mut ws = Workspace::default();
        let defaults = [PathBuf::from(".")];
        let paths = if paths.is_empty() {
            &defaults[..]
        } else {
            paths
        };
        for p in paths {
            if p.is_dir() {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                    .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                    .unwrap_or_default();
                entries.sort();
                for e in entries {
                    if has_ext(&e, "conmgr") || has_ext(&e, "dtsx") {
                        ws.open_file(&e);
                    }
                }
            } else {
                ws.open_file(p);
            }
        }
        ws
    }

    /// Opens (or re-opens) one file, returning its index.
    pub fn open_file(&mut self, path: &Path) -> usize {
        let file = load(path);
        match self.files.iter().position(|f| f.path == path) {
            Some(i) => {
                self.files[i] = file;
                self.attach_project(i);
                i
            }
            None => {
                self.files.push(file);
                let i = self.files.len() - 1;
                self.attach_project(i);
                i
            }
        }
    }

    /// Adds a new, unsaved package at `path`.
    pub fn add_new(&mut self, path: PathBuf, package: Package) -> usize {
        self.add_new_doc(path, Doc::Package(Box::new(package)))
    }

    /// Adds a new, unsaved document (package or `.conmgr`) at `path`.
    pub fn add_new_doc(&mut self, path: PathBuf, doc: Doc) -> usize {
        self.files.push(OpenFile {
            path,
            doc: Some(doc),
            error: None,
            disk: None,
            dirty: true,
        });
        let i = self.files.len() - 1;
        self.attach_project(i);
        i
    }

    /// Gives a package the project connection managers and parameters of its folder.
    fn attach_project(&mut self, index: usize) {
        let Some(dir) = self.files[index].path.parent().map(Path::to_path_buf) else {
            return;
        };
        let conns: Vec<_> = self
            .files
            .iter()
            .filter(|f| f.path.parent() == Some(dir.as_path()))
            .filter_map(|f| match &f.doc {
                Some(Doc::Conmgr(c)) => Some(c.connection.clone()),
                _ => None,
            })
            .collect();
        let params_path = dir.join("Project.params");
        let params: Vec<Parameter> = if params_path.is_file() {
            dtsx::load_params(&params_path).unwrap_or_default()
        } else {
            Vec::new()
        };
        if let Some(Doc::Package(p)) = &mut self.files[index].doc {
            p.project_connections = Connections::from_vec(conns);
            p.project_parameters = params;
        }
    }

    /// Saves file `index`. Unless `force`, a file whose disk fingerprint differs from the one
    /// taken when it was opened is not written ([`SaveError::Conflict`]).
    pub fn save(&mut self, index: usize, force: bool) -> Result<(), SaveError> {
        let f = self
            .files
            .get(index)
            .ok_or_else(|| SaveError::Failed(format!("no open file #{index}")))?;
        let origin = f.path.display().to_string();
        let bytes = match &f.doc {
            Some(Doc::Package(p)) => p.to_bytes(),
            Some(Doc::Conmgr(c)) => c.to_bytes(),
            None => return Err(SaveError::Failed(format!("{origin}: not loaded"))),
        }
        .map_err(|e| SaveError::Failed(e.to_string()))?;
        let now = Fingerprint::current(&f.path);
        let changed = match (&f.disk, &now) {
            (Some(a), Some(b)) => a != b,
            (None, None) => false,
            // Removed since opened, or created by someone else since we made it.
            _ => f.path.exists() || f.disk.is_some(),
        };
        if changed && !force {
            return Err(SaveError::Conflict(origin));
        }
        smtpcm::files::atomic_write(&f.path, &bytes)
            .map_err(|e| SaveError::Failed(e.to_string()))?;
        let path = f.path.clone();
        // Reload from what was written, so that every origin points into the new bytes.
        self.reload_from(index, &path, bytes);
        Ok(())
    }

    fn reload_from(&mut self, index: usize, path: &Path, bytes: Vec<u8>) {
        let origin = path.display().to_string();
        let fp = Fingerprint::of(path, &bytes);
        let doc = if has_ext(path, "conmgr") {
            dtsx::conmgr_from_bytes(bytes, &origin).map(|c| Doc::Conmgr(Box::new(c)))
        } else {
            dtsx::load_bytes(bytes, &origin).map(|p| Doc::Package(Box::new(p)))
        };
        let f = &mut self.files[index];
        match doc {
            Ok(d) => {
                f.doc = Some(d);
                f.error = None;
            }
            Err(e) => f.error = Some(Diagnostic::from(&e)),
        }
        f.disk = Some(fp);
        f.dirty = false;
        self.attach_project(index);
    }

    /// Whether file `index` changed on disk since it was opened or saved.
    pub fn changed_on_disk(&self, index: usize) -> bool {
        self.files
            .get(index)
            .is_some_and(|f| f.disk.is_some() && Fingerprint::current(&f.path) != f.disk)
    }
}

fn load(path: &Path) -> OpenFile {
    let origin = path.display().to_string();
    let read = smtpcm::files::read_capped(path);
    let (doc, error, disk) = match read {
        Err(e) => (
            None,
            Some(Diagnostic {
                message: e.to_string(),
                line: None,
                column: None,
            }),
            None,
        ),
        Ok(bytes) => {
            let fp = Fingerprint::of(path, &bytes);
            let doc = if has_ext(path, "conmgr") {
                dtsx::conmgr_from_bytes(bytes, &origin).map(|c| Doc::Conmgr(Box::new(c)))
            } else {
                dtsx::load_bytes(bytes, &origin).map(|p| Doc::Package(Box::new(p)))
            };
            match doc {
                Ok(d) => (Some(d), None, Some(fp)),
                Err(e) => (None, Some(Diagnostic::from(&e)), Some(fp)),
            }
        }
    };
    OpenFile {
        path: path.to_path_buf(),
        doc,
        error,
        disk,
        dirty: false,
    }
}
