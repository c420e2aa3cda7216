//! `smtpcm inspect`: every SMTP connection manager and Send Mail task, resolved.

use std::path::{Path, PathBuf};

use smtpcm::run::{self, InspectConnection, InspectReport};

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Packages (.dtsx), project connection managers (.conmgr) or project folders.
    #[arg(value_name = "PACKAGE", required = true)]
    packages: Vec<PathBuf>,
    /// A project folder whose .conmgr files and Project.params apply to the packages.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Print a JSON array, one object per file: {"file", "report"}, {"file", "connection"}
    /// for a .conmgr, or {"file", "error"}.
    #[arg(long)]
    json: bool,
}

fn print_connection(c: &InspectConnection) {
    println!(
        "  connection \"{}\" {} [{}] {}",
        c.name, c.dtsid, c.creation_name, c.scope
    );
    println!("    ConnectionString: {}", c.connection_string);
    if c.connection_string != c.stored_connection_string {
        println!("    (stored: {})", c.stored_connection_string);
    }
    if let Some(oauth) = &c.oauth {
        println!("    OAuth: {oauth}");
    }
    for (p, e) in &c.expressions {
        println!("    expression {p}: {e}");
    }
    for w in &c.warnings {
        println!("    warning: {w}");
    }
}

fn print_human(file: &str, r: &InspectReport) {
    println!(
        "{file}: package \"{}\" (format {})",
        r.package, r.format_version
    );
    for c in &r.connections {
        print_connection(c);
    }
    for t in &r.tasks {
        println!(
            "  task \"{}\"{}",
            t.path,
            if t.disabled { " (disabled)" } else { "" }
        );
        println!(
            "    SMTPServer: {} -> {}",
            t.smtp_connection_ref,
            t.smtp_connection.as_deref().unwrap_or("(unresolved)")
        );
        println!(
            "    From: {}  To: {}  CC: {}  BCC: {}",
            t.from, t.to, t.cc, t.bcc
        );
        println!("    Subject: {}  Priority: {}", t.subject, t.priority);
        println!("    {}: {:?}", t.message_source_type, t.message_source);
        for a in &t.attachments {
            println!("    attachment: {a}");
        }
        for (name, value) in &t.smtpcm {
            println!("    smtpcm::{name}: {value:?}");
        }
        for w in &t.warnings {
            println!("    warning: {w}");
        }
    }
}

/// What one argument turned out to be.
enum Inspected {
    Package(InspectReport),
    /// A `.conmgr` given on its own, outside any project folder.
    Conmgr(InspectConnection),
}

fn inspect_one(path: &Path, project: Option<&Path>) -> Result<Inspected, String> {
    let is_conmgr = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("conmgr"));
    if is_conmgr {
        let file = smtpcm::dtsx::load_conmgr(path).map_err(|e| e.to_string())?;
        return Ok(Inspected::Conmgr(run::inspect_connection_manager(
            &file.connection,
        )));
    }
    let pkg = run::load_target(path, None, project).map_err(|e| e.to_string())?;
    Ok(Inspected::Package(run::inspect(&pkg)))
}

/// Runs the command; 0 when every file loaded, 1 otherwise.
pub fn run(args: InspectArgs) -> i32 {
    let mut failed = false;
    let mut json = Vec::new();
    for path in &args.packages {
        let file = path.display().to_string();
        match inspect_one(path, args.project.as_deref()) {
            Ok(Inspected::Package(report)) if args.json => {
                json.push(serde_json::json!({ "file": file, "report": report }));
            }
            Ok(Inspected::Package(report)) => print_human(&file, &report),
            Ok(Inspected::Conmgr(c)) if args.json => {
                json.push(serde_json::json!({ "file": file, "connection": c }));
            }
            Ok(Inspected::Conmgr(c)) => {
                println!("{file}: project connection manager");
                print_connection(&c);
            }
            Err(e) => {
                failed = true;
                if args.json {
                    json.push(serde_json::json!({ "file": file, "error": e }));
                } else {
                    eprintln!("smtpcm inspect: {e}");
                }
            }
        }
    }
    if args.json {
        match serde_json::to_string_pretty(&json) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("smtpcm inspect: cannot write JSON: {e}");
                return 1;
            }
        }
    }
    i32::from(failed)
}
