//! `smtpcm run`: run a package's Send Mail tasks with dtexec's options and exit codes.

use std::io::Write;
use std::path::PathBuf;

use smtpcm::run::{self, ExecStatus, ExitCode, Override, RunOptions, RunReport, Runner};

#[derive(clap::Args, Debug)]
#[command(after_help = RUN_HELP)]
pub struct RunArgs {
    /// A .dtsx file, or a project folder (.dtsx, .conmgr and Project.params).
    #[arg(value_name = "PACKAGE.dtsx|PROJECT_DIR")]
    package: Option<PathBuf>,
    /// dtexec /F[ile]: the package file (instead of the positional argument).
    #[arg(long, value_name = "PACKAGE.dtsx")]
    file: Option<PathBuf>,
    /// dtexec /Conn: `name_or_guid;connection_string`. Repeatable.
    #[arg(long = "conn", value_name = "NAME;CONNSTR")]
    conn: Vec<String>,
    /// dtexec /Set: `property_path;value`. Repeatable, applied in order.
    #[arg(long = "set", value_name = "PATH;VALUE")]
    set: Vec<String>,
    /// dtexec /Par: `[$Package::|$Project::]name[(type)];value` or `CM.<name>.<Property>;value`.
    #[arg(long = "par", value_name = "NAME;VALUE")]
    par: Vec<String>,
    /// dtexec /Va[lidate]: check everything and send nothing.
    #[arg(long)]
    validate: bool,
    /// Count task types that cannot run here as succeeded (logged) instead of refusing to run.
    #[arg(long)]
    skip_unsupported: bool,
    /// Look up absolute package paths (attachments, File connections) under this directory.
    #[arg(long, value_name = "DIR")]
    path_root: Option<PathBuf>,
    /// Trust this PEM file of CA certificates in addition to the system's roots.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// A project folder whose .conmgr files and Project.params apply to the package.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// The package to run within a project folder (file stem or package name).
    #[arg(long = "package", value_name = "NAME")]
    package_name: Option<String>,
    /// Print the run report as JSON on stdout instead of the log.
    #[arg(long)]
    json: bool,
    /// Queue each message in a durable outbox instead of sending it (a SQLite file path or a
    /// postgres:// URL; without a value, the default outbox). Give it as --outbox=DB before
    /// the package, or after it.
    #[arg(long, value_name = "DB", num_args = 0..=1, default_missing_value = "", require_equals = false)]
    outbox: Option<String>,
}

const RUN_HELP: &str = "\
dtexec-style options are accepted too, case-insensitively, with `/` or `-`:
  /F[ile] PKG  /Conn[ection] NAME;CONNSTR  /Set PATH;VALUE  /Par[ameter] NAME;VALUE  /Va[lidate]
Exit codes (as dtexec):
  0  success    1  failure    3  canceled    4  package not found
  5  package could not be loaded    6  command-line error";

/// dtexec option names (lower case) and the GNU-style option they map to.
const DTEXEC_OPTIONS: [(&str, &str); 11] = [
    ("f", "--file"),
    ("file", "--file"),
    ("conn", "--conn"),
    ("connection", "--conn"),
    ("set", "--set"),
    ("par", "--par"),
    ("parameter", "--par"),
    ("va", "--validate"),
    ("validate", "--validate"),
    ("pack", "--package"),
    ("proj", "--project"),
];

/// Rewrites dtexec-style options after `run` (`/Conn`, `-SET`, `/va` ...) into the GNU form
/// clap parses. Only exact option names are rewritten, so a path such as `/tmp/p.dtsx` is left alone.
///
/// Returns the arguments unchanged when the subcommand is not `run`.
pub fn preprocess_args(args: Vec<String>) -> Vec<String> {
    let Some(run_at) = args
        .iter()
        .skip(1)
        .position(|a| !a.starts_with('-'))
        .map(|i| i + 1)
    else {
        return args;
    };
    if !args[run_at].eq_ignore_ascii_case("run") {
        return args;
    }
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            if i <= run_at || a.starts_with("--") {
                return a;
            }
            let Some(name) = a.strip_prefix('/').or_else(|| a.strip_prefix('-')) else {
                return a;
            };
            let lower = name.to_ascii_lowercase();
            DTEXEC_OPTIONS
                .iter()
                .find(|(dtexec, _)| *dtexec == lower)
                .map(|(_, gnu)| (*gnu).to_owned())
                .unwrap_or(a)
        })
        .collect()
}

/// True when the command line runs `smtpcm run`, so usage errors exit with dtexec's 6.
pub fn is_run(args: &[String]) -> bool {
    args.iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .is_some_and(|a| a.eq_ignore_ascii_case("run"))
}

fn dtser(code: ExitCode) -> &'static str {
    match code {
        ExitCode::Success => "DTSER_SUCCESS",
        ExitCode::Failure => "DTSER_FAILURE",
        ExitCode::Canceled => "DTSER_CANCELED",
        ExitCode::NotFound | ExitCode::LoadFailed | ExitCode::CommandLine => "DTSER_FAILURE",
    }
}

/// The last line for exit code 6, which is not a package result: dtexec documents 6 as
/// "syntactic or semantic errors in the command line", so the line says that, not DTSER_FAILURE.
const COMMAND_LINE_INVALID: &str =
    "DTExec: The command line is not valid: syntactic or semantic errors in the command line (6).";

/// A command-line error (exit 6): the message and the final line, both on stderr, so every
/// code-6 failure (clap's, a malformed option, a `/Par` value of the wrong type) reads the same.
fn command_line_error(messages: impl IntoIterator<Item = String>) -> i32 {
    for m in messages {
        eprintln!("smtpcm run: {m}");
    }
    eprintln!("{COMMAND_LINE_INVALID}");
    ExitCode::CommandLine.code()
}

/// The next delivery of a signal; a handler that could not be installed never fires.
#[cfg(unix)]
async fn recv(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM and names it. The handlers are installed when this is
/// called, before the run starts, so a signal during the run is never missed.
fn cancel_signal() -> impl std::future::Future<Output = &'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut term = signal(SignalKind::terminate()).ok();
        async move {
            tokio::select! {
                _ = recv(int.as_mut()) => "interrupt (Ctrl-C)",
                _ = recv(term.as_mut()) => "SIGTERM",
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            "Ctrl-C"
        }
    }
}

fn print_log(report: &RunReport) {
    for w in &report.warnings {
        println!("Warning: {w}");
    }
    for e in &report.executables {
        for w in &e.warnings {
            println!("Warning: {}: {w}", e.path);
        }
        for err in &e.errors {
            match &err.code {
                Some(code) => println!("Error: {code} at {}: {}", e.name, err.message),
                None => println!("Error: at {}: {}", e.name, err.message),
            }
        }
        for m in &e.messages {
            if m.recipients.is_empty() {
                // Handed to the outbox: the reply says what was queued.
                println!(
                    "Information: {}: message {:?} via \"{}\" {}",
                    e.path, m.subject, m.connection, m.reply
                );
            }
            for r in &m.recipients {
                let outcome = if r.accepted {
                    "accepted".to_owned()
                } else {
                    format!("refused: {}", r.reply.as_deref().unwrap_or(""))
                };
                println!(
                    "Information: {}: message {:?} via \"{}\" to <{}> {outcome}",
                    e.path, m.subject, m.connection, r.recipient
                );
            }
        }
        let status = match e.status {
            ExecStatus::Succeeded => "Success",
            ExecStatus::Failed => "Failure",
            ExecStatus::Disabled => "Disabled (skipped)",
            ExecStatus::SkippedUnsupported => "Skipped: unsupported task type, counted as success",
            ExecStatus::NotRun => "Not run (precedence constraints)",
            ExecStatus::Validated => "Validation succeeded",
            ExecStatus::Canceled => "Canceled",
        };
        println!("Progress: \"{}\": {status}", e.path);
    }
    for err in &report.errors {
        println!("Error: {}", err.message);
    }
    println!(
        "DTExec: The package execution returned {} ({}).",
        dtser(report.exit_code),
        report.exit_code.code()
    );
}

fn options(args: &RunArgs) -> Result<Vec<Override>, smtpcm::run::OverrideError> {
    let mut out = Vec::new();
    for c in &args.conn {
        out.push(Override::conn(c)?);
    }
    for s in &args.set {
        out.push(Override::set(s)?);
    }
    for p in &args.par {
        out.push(Override::par(p)?);
    }
    Ok(out)
}

/// Runs the command; returns the dtexec exit code.
pub async fn run(args: RunArgs) -> i32 {
    let target = match (&args.package, &args.file) {
        (Some(p), None) | (None, Some(p)) => p.clone(),
        (Some(_), Some(_)) => {
            return command_line_error([
                "give the package either as an argument or with /File, not both".to_owned(),
            ]);
        }
        (None, None) => {
            return command_line_error([
                "no package given (PACKAGE.dtsx, a project folder, or /File PACKAGE.dtsx)"
                    .to_owned(),
            ]);
        }
    };
    let overrides = match options(&args) {
        Ok(o) => o,
        Err(e) => return command_line_error([e.to_string()]),
    };
    let package = match run::load_target(
        &target,
        args.package_name.as_deref(),
        args.project.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("smtpcm run: {e}");
            return e.exit_code().code();
        }
    };
    let options = RunOptions {
        overrides,
        validate_only: args.validate,
        skip_unsupported: args.skip_unsupported,
        path_root: args.path_root.clone(),
        ca_file: args.ca_file.clone(),
        deliver: match &args.outbox {
            None => None,
            Some(db) => match crate::outbox_cmd::run_deliverer(db).await {
                Ok(d) => Some(d),
                Err(message) => {
                    eprintln!("smtpcm run: {message}");
                    return ExitCode::Failure.code();
                }
            },
        },
        ..RunOptions::default()
    };
    let canceled = cancel_signal();
    // The run races the signal: a Ctrl-C while the SMTP client waits for a reply cancels at
    // once, as dtexec does, instead of after the server's timeout.
    let report = tokio::select! {
        biased;
        signal = canceled => {
            eprintln!("smtpcm run: canceled by {signal}; DTExec: The package execution returned DTSER_CANCELED (3).");
            let _ = std::io::stdout().flush();
            // Exit here rather than return: dropping the runtime would wait for any blocking
            // work the run left behind (a DNS lookup, a file read), and cancel means now.
            std::process::exit(ExitCode::Canceled.code());
        }
        report = Runner::new(package, options).run() => report,
    };
    if report.exit_code == ExitCode::CommandLine {
        return command_line_error(report.errors.iter().map(|e| e.message.clone()));
    }
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("smtpcm run: cannot write the report as JSON: {e}"),
        }
    } else {
        print_log(&report);
    }
    report.exit_code.code()
}
