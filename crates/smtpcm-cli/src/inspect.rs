//! `smtpcm inspect`: every SMTP connection manager and Send Mail task, resolved.

use std::path::PathBuf;

use smtpcm::run::{self, InspectReport};

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Packages (.dtsx) or project folders.
    #[arg(value_name = "PACKAGE", required = true)]
    packages: Vec<PathBuf>,
    /// A project folder whose .conmgr files and Project.params apply to the packages.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Print a JSON array, one object per file: {"file", "report"} or {"file", "error"}.
    #[arg(long)]
    json: bool,
}

fn print_human(file: &str, r: &InspectReport) {
    println!(
        "{file}: package \"{}\" (format {})",
        r.package, r.format_version
    );
    for c in &r.connections {
        println!(
            "  connection \"{}\" {} [{}] {}",
            c.name, c.dtsid, c.creation_name, c.scope
        );
        println!("    ConnectionString: {}", c.connection_string);
        if c.connection_string != c.stored_connection_string {
            println!("    (stored: {})", c.stored_connection_string);
        }
        for (p, e) in &c.expressions {
            println!("    expression {p}: {e}");
        }
        for w in &c.warnings {
            println!("    warning: {w}");
        }
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
        for w in &t.warnings {
            println!("    warning: {w}");
        }
    }
}

/// Runs the command; 0 when every file loaded, 1 otherwise.
pub fn run(args: InspectArgs) -> i32 {
    let mut failed = false;
    let mut json = Vec::new();
    for path in &args.packages {
        let file = path.display().to_string();
        match run::load_target(path, None, args.project.as_deref()) {
            Ok(pkg) => {
                let report = run::inspect(&pkg);
                if args.json {
                    json.push(serde_json::json!({ "file": file, "report": report }));
                } else {
                    print_human(&file, &report);
                }
            }
            Err(e) => {
                failed = true;
                if args.json {
                    json.push(serde_json::json!({ "file": file, "error": e.to_string() }));
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
