//! Issue 8's boundaries, checked where the compiler cannot check them:
//! the engine depends on nothing SSIS (no XML parser, not the SSIS crate, not even
//! transitively), and no source file of the workspace grows past 800 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every package's direct dependencies, by name, from Cargo.lock.
fn lock_graph() -> BTreeMap<String, Vec<String>> {
    let lock = std::fs::read_to_string(workspace().join("Cargo.lock")).expect("Cargo.lock");
    let mut graph = BTreeMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let mut name = None;
        let mut deps = Vec::new();
        let mut in_deps = false;
        for line in block.lines() {
            let line = line.trim();
            if let Some(n) = line.strip_prefix("name = ") {
                name = Some(n.trim_matches('"').to_string());
            } else if line.starts_with("dependencies = [") {
                in_deps = true;
            } else if in_deps && line == "]" {
                in_deps = false;
            } else if in_deps {
                // "name", or "name version" when two versions are locked.
                let dep = line.trim_matches(|c| c == '"' || c == ',');
                deps.push(dep.split(' ').next().unwrap_or(dep).to_string());
            }
        }
        if let Some(name) = name {
            graph.entry(name).or_insert_with(Vec::new).extend(deps);
        }
    }
    graph
}

#[test]
fn the_engine_depends_on_nothing_ssis() {
    let graph = lock_graph();
    assert!(
        graph.contains_key("smtpcm-engine"),
        "smtpcm-engine is not in Cargo.lock"
    );
    let mut seen = BTreeSet::new();
    let mut todo = vec!["smtpcm-engine".to_string()];
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone()) {
            todo.extend(graph.get(&name).cloned().unwrap_or_default());
        }
    }
    for forbidden in ["roxmltree", "quick-xml", "smtpcm", "smtpcm-cli"] {
        assert!(
            !seen.contains(forbidden),
            "smtpcm-engine depends (perhaps transitively) on {forbidden}"
        );
    }
    // The lock file lists dev-dependencies too; the sink is the engine's test peer only.
    assert!(
        seen.contains("rustls") && seen.contains("smtp-proto"),
        "{seen:?}"
    );
}

#[test]
fn no_source_file_is_over_800_lines() {
    let mut checked = 0;
    let mut too_long = Vec::new();
    let crates = workspace().join("crates");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates)
        .expect("crates/")
        .map(|e| e.expect("entry").path().join("src"))
        .collect();
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let lines = std::fs::read_to_string(&path)
                    .expect("source")
                    .lines()
                    .count();
                checked += 1;
                if lines > 800 {
                    too_long.push(format!("{} ({lines} lines)", path.display()));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} source files found under {}",
        crates.display()
    );
    assert!(too_long.is_empty(), "over 800 lines: {too_long:?}");
}
