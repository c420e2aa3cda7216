//! Loading and saving `.dtsx` packages, `.conmgr` project connection managers and
//! `Project.params`.
//!
//! Loading uses roxmltree, which keeps byte ranges, so errors carry `file:line:column` and every
//! editable value remembers where it came from. Saving splices changed values into the original
//! bytes (see `source`); an unchanged package therefore saves byte-identical, BOM and CRLF
//! included. quick-xml is not needed for that path: re-serialising through an event writer would
//! have to reproduce every formatting quirk of every SSIS version to stay byte-identical, while a
//! splice cannot touch bytes it was not asked to change. New objects (a new package, an added
//! connection manager) are written from templates in the corpus's format-8 shape.
//!
//! ```
//! use smtpcm::dtsx;
//! let pkg = smtpcm::package::Package::new("Hello");
//! let bytes = pkg.to_bytes().unwrap();
//! let again = dtsx::load_str(std::str::from_utf8(&bytes).unwrap(), "hello.dtsx").unwrap();
//! assert_eq!(again.name, "Hello");
//! assert_eq!(again.to_bytes().unwrap(), bytes);
//! ```

mod load;
mod new;
mod save;
pub(crate) mod source;
mod tree;
mod tree3;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use new::new_smtp_conmgr;
pub use save::{SaveError, invalid_xml_char};

use crate::package::{ConnectionManager, Connections, Package, Parameter, SourceDoc};

/// Why a file could not be loaded. Positions are 1-based.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than the cap on files read whole ([`crate::files::max_file_bytes`]).
    #[error(
        "{path}: larger than {cap} bytes, the limit for a package, .conmgr or Project.params (set {} to raise it)",
        crate::files::MAX_FILE_BYTES_ENV
    )]
    TooLarge {
        /// The file.
        path: String,
        /// The cap.
        cap: u64,
    },
    /// The bytes are not UTF-8 text.
    #[error("{origin}: {reason}")]
    Encoding {
        /// File name or origin label.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The text is not well-formed XML.
    #[error("{origin}:{line}:{column}: malformed XML: {message}")]
    Xml {
        /// File name or origin label.
        origin: String,
        /// Line.
        line: u32,
        /// Column.
        column: u32,
        /// Parser message.
        message: String,
    },
    /// Well-formed XML that is not a package of the expected shape.
    #[error("{origin}:{line}:{column}: {message}")]
    Structure {
        /// File name or origin label.
        origin: String,
        /// Line.
        line: u32,
        /// Column.
        column: u32,
        /// What is wrong.
        message: String,
    },
}

impl LoadError {
    /// `(line, column)` of the problem, when known.
    pub fn position(&self) -> Option<(u32, u32)> {
        match self {
            LoadError::Xml { line, column, .. } | LoadError::Structure { line, column, .. } => {
                Some((*line, *column))
            }
            _ => None,
        }
    }
}

/// Reads a whole file, capped at [`crate::files::max_file_bytes`] so that `/dev/zero` or a
/// runaway file is an error instead of an out-of-memory abort.
fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    crate::files::read_capped(path).map_err(|e| match e {
        crate::files::ReadError::Io { path, source } => LoadError::Io { path, source },
        crate::files::ReadError::TooLarge { path, cap } => LoadError::TooLarge { path, cap },
    })
}

/// Loads a `.dtsx` file.
pub fn load_package(path: impl AsRef<Path>) -> Result<Package, LoadError> {
    let path = path.as_ref();
    load_bytes(read(path)?, &path.display().to_string())
}

/// Loads a package from text; `origin` names it in diagnostics.
///
/// ```
/// let text = "<DTS:Executable xmlns:DTS=\"www.microsoft.com/SqlServer/Dts\">\n  <a></b>\n</DTS:Executable>";
/// let err = smtpcm::dtsx::load_str(text, "bad.dtsx")
///     .unwrap_err();
/// assert!(err.to_string().starts_with("bad.dtsx:2:"), "{err}");
/// ```
pub fn load_str(text: &str, origin: &str) -> Result<Package, LoadError> {
    load_bytes(text.as_bytes().to_vec(), origin)
}

/// Loads a package from raw file bytes (UTF-8, BOM optional).
pub fn load_bytes(bytes: Vec<u8>, origin: &str) -> Result<Package, LoadError> {
    let (text, prefix_len) = load::decode(&bytes, origin)?;
    let doc = load::parse_xml(&text, origin, "packages")?;
    let root = doc.root_element();
    let reader = load::Reader {
        doc: &doc,
        base: prefix_len,
        origin,
        format: load::format_version(root),
    };
    let source = Arc::new(SourceDoc {
        newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
        bytes,
        prefix_len,
        origin_name: origin.to_owned(),
    });
    reader.package(root, source)
}

/// A `.conmgr` file: one project connection manager plus the bytes it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct ConmgrFile {
    /// The connection manager.
    pub connection: ConnectionManager,
    pub(crate) source: Arc<SourceDoc>,
}

impl ConmgrFile {
    /// The file with any edits to `connection` spliced in.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SaveError> {
        save::conmgr_bytes(self)
    }

    /// Writes [`ConmgrFile::to_bytes`] to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), SaveError> {
        save::write_file(path.as_ref(), &self.to_bytes()?)
    }
}

/// Loads a `.conmgr` project connection manager.
pub fn load_conmgr(path: impl AsRef<Path>) -> Result<ConmgrFile, LoadError> {
    let path = path.as_ref();
    conmgr_from_bytes(read(path)?, &path.display().to_string())
}

/// Loads a `.conmgr` from bytes; `origin` names it in diagnostics.
pub fn conmgr_from_bytes(bytes: Vec<u8>, origin: &str) -> Result<ConmgrFile, LoadError> {
    let (text, prefix_len) = load::decode(&bytes, origin)?;
    let doc = load::parse_xml(&text, origin, ".conmgr files")?;
    let root = doc.root_element();
    let reader = load::Reader {
        doc: &doc,
        base: prefix_len,
        origin,
        format: 8,
    };
    if !root.has_tag_name((load::DTS_NS, "ConnectionManager")) {
        return Err(reader.error_at(
            root.range().start,
            "root element is not <DTS:ConnectionManager>; not a .conmgr file".into(),
        ));
    }
    let connection = reader.connection(root);
    Ok(ConmgrFile {
        connection,
        source: Arc::new(SourceDoc {
            newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
            bytes,
            prefix_len,
            origin_name: origin.to_owned(),
        }),
    })
}

/// Parses `Project.params` text into `$Project::` parameters.
pub fn load_params_str(text: &str, origin: &str) -> Result<Vec<Parameter>, LoadError> {
    let (text, _) = load::decode(text.as_bytes(), origin)?;
    let doc = load::parse_xml(&text, origin, "Project.params files")?;
    Ok(load::project_params(&doc))
}

/// Reads and parses a `Project.params` file (size-capped like every file read whole).
pub fn load_params(path: impl AsRef<Path>) -> Result<Vec<Parameter>, LoadError> {
    let path = path.as_ref();
    let origin = path.display().to_string();
    let bytes = read(path)?;
    let (text, _) = load::decode(&bytes, &origin)?;
    load_params_str(&text, &origin)
}

/// A project folder: packages, `.conmgr` connection managers and `Project.params`.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Packages in the folder, with their file paths, sorted by path. Each has
    /// `project_connections` and `project_parameters` filled.
    pub packages: Vec<(PathBuf, Package)>,
    /// The `.conmgr` files, sorted by path.
    pub connection_files: Vec<(PathBuf, ConmgrFile)>,
    /// Project connection managers (the same as in `connection_files`).
    pub connections: Connections,
    /// `$Project::` parameters (empty when there is no `Project.params`).
    pub parameters: Vec<Parameter>,
}

/// Loads every `.dtsx`, `.conmgr` and the `Project.params` of a project folder.
pub fn load_project(dir: impl AsRef<Path>) -> Result<Project, LoadError> {
    let dir = dir.as_ref();
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let ext_is = |p: &Path, ext: &str| p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext));
    let mut connection_files = Vec::new();
    for f in files.iter().filter(|p| ext_is(p, "conmgr")) {
        connection_files.push((f.clone(), load_conmgr(f)?));
    }
    let params_path = dir.join("Project.params");
    let parameters = if params_path.exists() {
        load_params(&params_path)?
    } else {
        Vec::new()
    };
    let connections = Connections::from_vec(
        connection_files
            .iter()
            .map(|(_, c)| c.connection.clone())
            .collect(),
    );
    let mut packages = Vec::new();
    for f in files.iter().filter(|p| ext_is(p, "dtsx")) {
        let mut pkg = load_package(f)?;
        pkg.project_connections = connections.clone();
        pkg.project_parameters = parameters.clone();
        packages.push((f.clone(), pkg));
    }
    Ok(Project {
        packages,
        connection_files,
        connections,
        parameters,
    })
}

impl Package {
    /// The package as file bytes: the original bytes with every changed value spliced in, or
    /// a fresh format-8 document for a package that was never loaded.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SaveError> {
        save::package_bytes(self)
    }

    /// Writes [`Package::to_bytes`] to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), SaveError> {
        save::write_file(path.as_ref(), &self.to_bytes()?)
    }
}
