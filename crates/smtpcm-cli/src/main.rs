//! `smtpcm`: send mail through an SSIS-style SMTP connection manager, check a
//! server, run a capture server, and run the demo.

mod assets;
mod check;
mod demo;
mod designer;
mod exit;
mod html_args;
mod inspect;
mod oauth;
mod outbox_cmd;
mod preflight;
mod run_cmd;
mod send;
mod set_connection;
mod sink;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::exit::{EXIT_CODES_HELP, Exit};

#[derive(Parser, Debug)]
#[command(
    name = "smtpcm",
    version,
    about = "SSIS-compatible SMTP connection manager and Send Mail task",
    after_help = EXIT_CODES_HELP,
    after_long_help = EXIT_CODES_HELP
)]
struct Cli {
    /// Log the SMTP transcript (secrets redacted) and more to stderr. Also see RUST_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send one message and print the outcome for each recipient.
    #[command(after_help = EXIT_CODES_HELP)]
    Send(send::SendArgs),
    /// Connect, negotiate TLS, EHLO and authenticate; print the capabilities. Sends no mail.
    #[command(after_help = EXIT_CODES_HELP)]
    Check(check::CheckArgs),
    /// Run a capture server on loopback: STARTTLS with a generated certificate, each message saved as .eml.
    Sink(sink::SinkArgs),
    /// Start a capture server, send a message with an attachment to it over STARTTLS, print what arrived.
    Demo(demo::DemoArgs),
    /// Run a package's Send Mail tasks as dtexec would (/Conn, /Set, /Par, /Validate).
    Run(run_cmd::RunArgs),
    /// List every SMTP connection manager and Send Mail task with resolved values.
    Inspect(inspect::InspectArgs),
    /// OAuth2: `oauth login` signs in with the device flow and stores the refresh token.
    #[command(after_help = EXIT_CODES_HELP)]
    Oauth(oauth::OAuthArgs),
    /// Set one connection manager's connection string in many packages, changing only those bytes.
    SetConnection(set_connection::SetConnectionArgs),
    /// The durable outbox: worker, status, list, show, retry, hold, release, purge, config.
    Outbox(outbox_cmd::OutboxArgs),
    /// Edit connection managers and Send Mail tasks in a browser (prints the URL to open).
    Designer(designer::DesignerArgs),
    /// Write the man pages and shell completions into a directory (for packaging).
    #[command(hide = true)]
    GenerateAssets(assets::AssetsArgs),
}

/// `--priority` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PriorityArg {
    High,
    Normal,
    Low,
}

impl From<PriorityArg> for smtpcm_engine::mime::Priority {
    fn from(p: PriorityArg) -> Self {
        match p {
            PriorityArg::High => smtpcm_engine::mime::Priority::High,
            PriorityArg::Normal => smtpcm_engine::mime::Priority::Normal,
            PriorityArg::Low => smtpcm_engine::mime::Priority::Low,
        }
    }
}

/// A CA file argument shared by commands that connect.
#[derive(clap::Args, Debug, Clone)]
pub struct TlsArgs {
    /// Trust this PEM file of CA certificates in addition to the system's roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,smtpcm::transcript=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: in a log file or a pipe they are noise.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// The command line as clap should see it.
///
/// Arguments are taken as `OsString`s, so a file name that is not UTF-8 reaches the
/// `PathBuf` options intact; a non-UTF-8 value for a text option is then a clap usage
/// error (exit 2), never a panic. `run` takes dtexec-style options that are rewritten as
/// text, so there every argument must be UTF-8 (else exit 6, dtexec's command-line code).
fn command_line() -> Result<(Vec<OsString>, bool), ExitCode> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let lossy: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let is_run = run_cmd::is_run(&lossy);
    if !is_run {
        return Ok((args, false));
    }
    let mut text = Vec::with_capacity(args.len());
    for (i, a) in args.into_iter().enumerate() {
        match a.into_string() {
            Ok(a) => text.push(a),
            Err(a) => {
                eprintln!(
                    "smtpcm run: argument {i} ({}) is not valid UTF-8",
                    a.to_string_lossy()
                );
                return Err(ExitCode::from(6));
            }
        }
    }
    let text = run_cmd::preprocess_args(text);
    Ok((text.into_iter().map(OsString::from).collect(), true))
}

fn main() -> ExitCode {
    let (args, is_run) = match command_line() {
        Ok(a) => a,
        Err(code) => return code,
    };
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            // dtexec exits with 6 for command-line errors.
            let code = if is_run { 6 } else { Exit::Usage.code() };
            return ExitCode::from(if usage { code as u8 } else { 0 });
        }
    };
    init_logging(cli.verbose);
    // One connection needs no second thread: a current-thread runtime spares it the
    // cross-thread wake-ups (futex, eventfd) of a multi-threaded one on every reply.
    let single = matches!(&cli.command, Command::Send(args) if args.single_connection());
    let runtime = match single {
        true => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        false => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("smtpcm: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Internal.code() as u8);
        }
    };
    let exit = runtime.block_on(async {
        match cli.command {
            Command::Send(args) => send::run(args).await.code(),
            Command::Check(args) => check::run(args).await.code(),
            Command::Sink(args) => sink::run(args).await.code(),
            Command::Demo(args) => demo::run(args).await.code(),
            Command::Run(args) => run_cmd::run(args).await,
            Command::Inspect(args) => inspect::run(args),
            Command::Oauth(args) => oauth::run(args).await.code(),
            Command::SetConnection(args) => set_connection::run(args),
            Command::Outbox(args) => outbox_cmd::run(args).await.code(),
            Command::Designer(args) => designer::run(args).await.code(),
            Command::GenerateAssets(args) => assets::run(args, Cli::command()).code(),
        }
    });
    ExitCode::from(exit as u8)
}
