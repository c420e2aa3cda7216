//! `smtpcm set-connection`: point one connection manager at a new relay in many files,
//! changing only the bytes of its connection string.
//!
//! The files are one unit. Every file is loaded, edited in memory and serialised first; if any
//! of that fails, nothing is written. The changed files are then saved through
//! [`smtpcm::files::write_batch`]: all new contents go to fsynced temporary files, and only
//! when every one of them is on disk are they renamed over the originals. The report names
//! exactly which files changed, which were already up to date, and which were left untouched.

use std::path::{Path, PathBuf};

use smtpcm::connection_string::{ConnectionString, redact};
use smtpcm::dtsx;
use smtpcm::package::ConnectionManager;

#[derive(clap::Args, Debug)]
pub struct SetConnectionArgs {
    /// Packages (.dtsx) and project connection managers (.conmgr) to edit in place.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// The connection manager's name or DTSID.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// The new connection string.
    #[arg(long = "conn", value_name = "CONNSTR")]
    conn: String,
    /// Print what would change and write nothing.
    #[arg(long)]
    dry_run: bool,
}

/// What the edit does to one file, decided before anything is written.
enum Plan {
    /// The connection string changes; `bytes` is the new file.
    Change {
        cm: String,
        old: String,
        bytes: Vec<u8>,
    },
    /// The manager already has this connection string (the file's bytes would not change).
    Unchanged { cm: String },
    /// The file has no manager of that name.
    NotFound,
}

fn is_conmgr(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("conmgr"))
}

/// One line naming a manager for the "more than one matches" error.
fn describe(index: usize, cm: &ConnectionManager) -> String {
    format!(
        "#{} \"{}\" (DTSID {})",
        index + 1,
        cm.name,
        if cm.dtsid.is_empty() {
            "none"
        } else {
            &cm.dtsid
        }
    )
}

/// Loads `path`, sets the connection string in memory and serialises the result.
fn plan(path: &Path, name: &str, conn: &str) -> Result<Plan, String> {
    let origin = path.display().to_string();
    let original = smtpcm::files::read_capped(path).map_err(|e| e.to_string())?;
    let (cm, old, bytes) = if is_conmgr(path) {
        let mut file =
            dtsx::conmgr_from_bytes(original.clone(), &origin).map_err(|e| e.to_string())?;
        if !file.connection.matches(name) {
            return Ok(Plan::NotFound);
        }
        let cm = file.connection.name.clone();
        let old = std::mem::replace(&mut file.connection.connection_string, conn.to_owned());
        (cm, old, file.to_bytes().map_err(|e| e.to_string())?)
    } else {
        let mut pkg = dtsx::load_bytes(original.clone(), &origin).map_err(|e| e.to_string())?;
        let matching: Vec<usize> = pkg
            .connections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.matches(name))
            .map(|(i, _)| i)
            .collect();
        match matching.as_slice() {
            [] => return Ok(Plan::NotFound),
            [_] => {}
            several => {
                let all = pkg.connections.as_slice();
                let list: Vec<String> = several.iter().map(|&i| describe(i, &all[i])).collect();
                return Err(format!(
                    "{origin}: {} connection managers match {name:?}: {}; name one by its DTSID",
                    several.len(),
                    list.join(", ")
                ));
            }
        }
        let Some(target) = pkg.connections.iter_mut().nth(matching[0]) else {
            return Ok(Plan::NotFound);
        };
        let cm = target.name.clone();
        let old = std::mem::replace(&mut target.connection_string, conn.to_owned());
        (cm, old, pkg.to_bytes().map_err(|e| e.to_string())?)
    };
    if bytes == original {
        Ok(Plan::Unchanged { cm })
    } else {
        Ok(Plan::Change { cm, old, bytes })
    }
}

/// Refuses a CONNSTR that cannot be used or cannot be stored in XML.
fn check_conn(conn: &str) -> Result<(), String> {
    if let Some((position, c)) = dtsx::invalid_xml_char(conn) {
        return Err(format!(
            "character U+{:04X} at position {position} cannot be stored in an XML file",
            u32::from(c)
        ));
    }
    ConnectionString::parse(conn)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Runs the command. Exit codes: 0 done (or nothing to do), 1 nothing written because a file
/// failed, the name matched nothing, or a write failed; 2 for a bad CONNSTR.
pub fn run(args: SetConnectionArgs) -> i32 {
    if let Err(e) = check_conn(&args.conn) {
        eprintln!("smtpcm set-connection: --conn: {e}");
        return 2;
    }
    let mut plans = Vec::new();
    let mut failures = 0;
    for path in &args.files {
        match plan(path, &args.name, &args.conn) {
            Ok(p) => plans.push((path.clone(), p)),
            Err(e) => {
                failures += 1;
                eprintln!("smtpcm set-connection: {e}");
            }
        }
    }
    if failures > 0 {
        eprintln!(
            "smtpcm set-connection: {failures} of {} file(s) failed; no file was written",
            args.files.len()
        );
        return 1;
    }
    if plans.iter().all(|(_, p)| matches!(p, Plan::NotFound)) {
        eprintln!(
            "smtpcm set-connection: no connection manager named {:?} in any of the {} file(s); no file was written",
            args.name,
            args.files.len()
        );
        return 1;
    }
    let writes: Vec<(PathBuf, Vec<u8>)> = plans
        .iter()
        .filter_map(|(path, p)| match p {
            Plan::Change { bytes, .. } => Some((path.clone(), bytes.clone())),
            _ => None,
        })
        .collect();
    let (mut changed, mut failed, mut untouched) = (Vec::new(), None, Vec::new());
    if args.dry_run {
        untouched = writes.iter().map(|(p, _)| p.clone()).collect();
    } else {
        match smtpcm::files::write_batch(&writes) {
            Ok(()) => changed = writes.iter().map(|(p, _)| p.clone()).collect(),
            Err(e) => {
                changed = e.changed;
                untouched = e.unchanged;
                failed = Some((e.failed, e.error));
            }
        }
    }
    for (path, p) in &plans {
        let file = path.display();
        match p {
            Plan::Change { cm, old, .. } => {
                // The old string may hold a secret (a look-alike manager's Password=); the
                // file keeps it, the report never shows it.
                let arrow = format!("\"{cm}\": {} -> {}", redact(old), redact(&args.conn));
                if args.dry_run {
                    println!("{file}: {arrow} (dry run: would change)");
                } else if changed.contains(path) {
                    println!("{file}: {arrow}");
                } else if failed.as_ref().is_some_and(|(f, _)| f == path) {
                    // The error itself (which says whether the file is unchanged) goes to
                    // stderr below.
                    println!("{file}: FAILED");
                } else if untouched.contains(path) {
                    println!("{file}: not written, left untouched (another file failed)");
                }
            }
            Plan::Unchanged { cm } => {
                println!(
                    "{file}: \"{cm}\": unchanged (already {})",
                    redact(&args.conn)
                )
            }
            Plan::NotFound => {
                println!("{file}: no connection manager named {:?}", args.name)
            }
        }
    }
    if let Some((_, e)) = &failed {
        eprintln!("smtpcm set-connection: {e}");
    }
    if args.dry_run {
        println!(
            "dry run: {} file(s) would change; nothing was written",
            writes.len()
        );
        return 0;
    }
    i32::from(failed.is_some())
}
