//! `smtpcm set-connection`: point one connection manager at a new relay in many files,
//! changing only the bytes of its connection string.

use std::path::{Path, PathBuf};

use smtpcm::connection_string::ConnectionString;
use smtpcm::dtsx;

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
}

/// What happened to one file.
enum Outcome {
    Changed { cm: String, old: String },
    Unchanged { cm: String },
    NotFound,
}

fn edit(path: &Path, name: &str, conn: &str) -> Result<Outcome, String> {
    let is_conmgr = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("conmgr"));
    if is_conmgr {
        let mut file = dtsx::load_conmgr(path).map_err(|e| e.to_string())?;
        if !file.connection.matches(name) {
            return Ok(Outcome::NotFound);
        }
        let cm = file.connection.name.clone();
        if file.connection.connection_string == conn {
            return Ok(Outcome::Unchanged { cm });
        }
        let old = std::mem::replace(&mut file.connection.connection_string, conn.to_owned());
        // Bytes are produced before writing so a splice failure leaves the file untouched.
        let bytes = file.to_bytes().map_err(|e| e.to_string())?;
        std::fs::write(path, bytes).map_err(|e| format!("cannot write: {e}"))?;
        return Ok(Outcome::Changed { cm, old });
    }
    let mut pkg = dtsx::load_package(path).map_err(|e| e.to_string())?;
    let Some(cm) = pkg.connections.get_mut(name) else {
        return Ok(Outcome::NotFound);
    };
    let cm_name = cm.name.clone();
    if cm.connection_string == conn {
        return Ok(Outcome::Unchanged { cm: cm_name });
    }
    let old = std::mem::replace(&mut cm.connection_string, conn.to_owned());
    let bytes = pkg.to_bytes().map_err(|e| e.to_string())?;
    std::fs::write(path, bytes).map_err(|e| format!("cannot write: {e}"))?;
    Ok(Outcome::Changed { cm: cm_name, old })
}

/// Runs the command: 0 when every file loaded (found or not), 1 when any failed, 2 for a bad CONNSTR.
pub fn run(args: SetConnectionArgs) -> i32 {
    if let Err(e) = ConnectionString::parse(&args.conn) {
        eprintln!("smtpcm set-connection: --conn: {e}");
        return 2;
    }
    let mut failed = false;
    for path in &args.files {
        let file = path.display();
        match edit(path, &args.name, &args.conn) {
            Ok(Outcome::Changed { cm, old }) => {
                println!("{file}: \"{cm}\": {old} -> {}", args.conn)
            }
            Ok(Outcome::Unchanged { cm }) => {
                println!("{file}: \"{cm}\": unchanged (already {})", args.conn)
            }
            Ok(Outcome::NotFound) => {
                println!("{file}: no connection manager named {:?}", args.name)
            }
            Err(e) => {
                failed = true;
                println!("{file}: FAILED, left untouched: {e}");
            }
        }
    }
    i32::from(failed)
}
