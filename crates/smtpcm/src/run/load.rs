//! Finding and loading what to run: a `.dtsx` file, or a package in a project folder.

use std::path::{Path, PathBuf};

use crate::dtsx::{self, LoadError};
use crate::package::{Connections, Package};

use super::report::ExitCode;

/// Why nothing could be run, with the dtexec exit code that goes with it.
#[derive(Debug, thiserror::Error)]
pub enum LoadFailure {
    /// The file or folder does not exist (exit 4).
    #[error("{path}: package not found")]
    NotFound {
        /// What was looked for.
        path: PathBuf,
    },
    /// The folder holds no package of that name, or several and none was chosen (exit 4).
    #[error("{dir}: {reason}")]
    NoSuchPackage {
        /// The project folder.
        dir: PathBuf,
        /// What is missing, listing the packages there are.
        reason: String,
    },
    /// The file exists but does not load (exit 5).
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl LoadFailure {
    /// The dtexec exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            LoadFailure::NotFound { .. } | LoadFailure::NoSuchPackage { .. } => ExitCode::NotFound,
            LoadFailure::Load(_) => ExitCode::LoadFailed,
        }
    }
}

/// Loads the `.conmgr` files and `Project.params` of `dir` into `package`.
fn attach_project(package: &mut Package, dir: &Path) -> Result<(), LoadFailure> {
    let entries = std::fs::read_dir(dir).map_err(|_| LoadFailure::NotFound {
        path: dir.to_path_buf(),
    })?;
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let mut connections = Vec::new();
    for f in files.iter().filter(|p| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("conmgr"))
    }) {
        connections.push(dtsx::load_conmgr(f)?.connection);
    }
    package.project_connections = Connections::from_vec(connections);
    let params = dir.join("Project.params");
    if params.exists() {
        package.project_parameters = dtsx::load_params(&params)?;
    }
    Ok(())
}

/// Loads `target` (a `.dtsx` file or a project folder) for a run.
///
/// For a folder, `package_name` picks the package by file stem or package name; it may be
/// left out when the folder holds exactly one. `project_dir` attaches a project's `.conmgr`
/// files and `Project.params` to a package given as a file.
pub fn load_target(
    target: &Path,
    package_name: Option<&str>,
    project_dir: Option<&Path>,
) -> Result<Package, LoadFailure> {
    if !target.exists() {
        return Err(LoadFailure::NotFound {
            path: target.to_path_buf(),
        });
    }
    if target.is_dir() {
        let project = dtsx::load_project(target)?;
        let names: Vec<String> = project
            .packages
            .iter()
            .map(|(p, _)| {
                p.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let wanted = match package_name {
            Some(n) => n.trim_end_matches(".dtsx").to_owned(),
            None if project.packages.len() == 1 => names[0].clone(),
            None => {
                return Err(LoadFailure::NoSuchPackage {
                    dir: target.to_path_buf(),
                    reason: format!(
                        "holds {} packages; choose one with --package NAME: {}",
                        names.len(),
                        names.join(", ")
                    ),
                });
            }
        };
        return project
            .packages
            .into_iter()
            .zip(names.iter())
            .find(|((_, pkg), stem)| {
                stem.eq_ignore_ascii_case(&wanted) || pkg.name.eq_ignore_ascii_case(&wanted)
            })
            .map(|((_, pkg), _)| pkg)
            .ok_or_else(|| LoadFailure::NoSuchPackage {
                dir: target.to_path_buf(),
                reason: format!(
                    "no package named {wanted:?}; there are: {}",
                    names.join(", ")
                ),
            });
    }
    let mut package = dtsx::load_package(target)?;
    if let Some(dir) = project_dir {
        attach_project(&mut package, dir)?;
    }
    Ok(package)
}
