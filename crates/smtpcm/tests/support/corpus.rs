//! Where the shared corpus of real SSIS packages lives, for the tests that read it.

use std::path::{Path, PathBuf};

/// The corpus folder (`../shared/corpus/dtsx` beside the repository), or `None` with a
/// message when it is absent; with `CI=true` its absence is a failure, not a skip.
pub fn corpus() -> Option<PathBuf> {
    let beside_repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/dtsx");
    let from_cwd = Path::new("../shared/corpus/dtsx").to_path_buf();
    if let Some(dir) = [beside_repo, from_cwd].into_iter().find(|d| d.is_dir()) {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("corpus not found at ../shared/corpus/dtsx and CI=true");
    }
    eprintln!("skipped: ../shared not found");
    None
}
