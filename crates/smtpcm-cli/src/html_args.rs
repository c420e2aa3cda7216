//! `smtpcm send`'s HTML options: `--html-body`, `--html-body-file`, `--inline CID=PATH`,
//! `--template`, `--var NAME=VALUE`, `--inline-css`, `--max-html-bytes`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use clap::builder::TypedValueParser as _;
use smtpcm::expr::{PackageScope, Scope as _};
use smtpcm::send_mail::{MessageSourceResolver, NoPackage, SendMailTask, TaskError};
use smtpcm::template::{MAX_TEMPLATE_SOURCE, TemplateContext};
use smtpcm_engine::mime::{InlinePart, MAX_UNSIZED_BODY};

#[derive(clap::Args, Debug, Clone)]
pub struct HtmlArgs {
    /// The HTML body. A text alternative is sent with it: --body, --body-file, or one
    /// generated from the HTML.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["html_body_file", "html"])]
    pub html_body: Option<String>,
    /// Read the HTML body from this file (UTF-8, at most --max-html-bytes). Relative image
    /// paths in it (`<img src="logo.png">`) are sent as inline parts.
    #[arg(long, value_name = "PATH", conflicts_with = "html")]
    pub html_body_file: Option<PathBuf>,
    /// A file shown in the HTML as `cid:CID` (repeatable). One nothing refers to is
    /// attached instead. Streamed, never loaded whole.
    #[arg(long = "inline", value_name = "CID=PATH", value_parser = clap::builder::OsStringValueParser::new().try_map(|s| parse_inline(&s)))]
    pub inline: Vec<InlinePart>,
    /// Subject, the HTML body and the text body are MiniJinja templates; --var values are
    /// `{{ NAME }}` (also `{{ User.NAME }}`).
    #[arg(long)]
    pub template: bool,
    /// A template value (repeatable; needs --template).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var, requires = "template")]
    pub var: Vec<(String, String)>,
    /// Move the HTML body's `<style>` rules into `style` attributes.
    #[arg(long)]
    pub inline_css: bool,
    /// The largest HTML body in bytes (default 8 MiB).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_html_bytes: Option<u64>,
}

fn parse_inline(raw: &OsStr) -> Result<InlinePart, String> {
    let bytes = raw.as_encoded_bytes();
    let Some(eq) = bytes.iter().position(|&b| b == b'=') else {
        return Err("expected CID=PATH".into());
    };
    let cid = std::str::from_utf8(&bytes[..eq])
        .map_err(|_| "the CID is not UTF-8".to_string())?
        .trim();
    if cid.is_empty() {
        return Err("the CID before '=' is empty".into());
    }
    let path = path_after(raw, eq + 1)?;
    if path.as_os_str().is_empty() {
        return Err(format!("no PATH after {cid}="));
    }
    Ok(InlinePart::new(cid, path))
}

/// The part of `raw` from byte `start` on (just after an ASCII `=`), as a path.
#[cfg(unix)]
fn path_after(raw: &OsStr, start: usize) -> Result<PathBuf, String> {
    use std::os::unix::ffi::OsStrExt as _;
    Ok(PathBuf::from(OsStr::from_bytes(&raw.as_bytes()[start..])))
}

#[cfg(not(unix))]
fn path_after(raw: &OsStr, start: usize) -> Result<PathBuf, String> {
    let text = raw.to_str().ok_or("the path is not valid Unicode")?;
    Ok(PathBuf::from(&text[start..]))
}

fn parse_var(raw: &str) -> Result<(String, String), String> {
    let (name, value) = raw.split_once('=').ok_or("expected NAME=VALUE")?;
    let name = name.trim();
    let bare = name.strip_prefix("User::").unwrap_or(name);
    let valid = bare
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && bare.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "{name:?} is not a variable name (letters, digits and _, not starting with a digit)"
        ));
    }
    Ok((bare.to_string(), value.to_string()))
}

impl HtmlArgs {
    /// Whether any HTML body was given.
    pub fn has_html(&self) -> bool {
        self.html_body.is_some() || self.html_body_file.is_some()
    }
}

/// Reads a text file whole for the command line, capped; the error names the option.
pub fn read_text(option: &str, path: &Path, cap: u64) -> Result<String, String> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(cap + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("{option} {}: {e}", path.display()))?;
    if bytes.len() as u64 > cap {
        return Err(format!(
            "{option} {}: larger than {cap} bytes, too large to read whole",
            path.display()
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{option} {}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// The body settings the HTML options make, applied to `task` (whose `message_source`
/// holds `--body`, if given). Returns the HTML file to stream when it needs no rendering
/// here (no template, no CSS inlining).
pub fn apply(
    args: &HtmlArgs,
    text_file: Option<&Path>,
    task: &mut SendMailTask,
) -> Result<Option<PathBuf>, String> {
    task.inline_parts = args.inline.clone();
    task.template = args.template;
    task.inline_css = args.inline_css;
    task.max_html_bytes = args.max_html_bytes;
    if !args.has_html() {
        return Ok(None);
    }
    // The text alternative: --body, --body-file (read whole, since the HTML is the body),
    // or generated from the HTML (None).
    task.text_alternative = match text_file {
        Some(path) => Some(read_text("--body-file", path, MAX_UNSIZED_BODY)?),
        None if task.message_source.is_empty() => None,
        None => Some(std::mem::take(&mut task.message_source)),
    };
    task.body_is_html = true;
    match (&args.html_body, &args.html_body_file) {
        (Some(html), _) => {
            task.message_source = html.clone();
            Ok(None)
        }
        (None, Some(path)) if args.template || args.inline_css => {
            let cap = args
                .max_html_bytes
                .unwrap_or(MAX_TEMPLATE_SOURCE)
                .min(MAX_TEMPLATE_SOURCE);
            task.message_source = read_text("--html-body-file", path, cap)?;
            Ok(None)
        }
        (None, Some(path)) => {
            task.message_source.clear();
            Ok(Some(path.clone()))
        }
        (None, None) => Ok(None),
    }
}

/// `send`'s resolver: no package, but `--var` values and a few System variables for
/// templates.
#[derive(Clone, Default)]
pub struct CliResolver {
    pub vars: Vec<(String, String)>,
}

impl MessageSourceResolver for CliResolver {
    fn file_connection(&self, name: &str) -> Result<PathBuf, TaskError> {
        NoPackage.file_connection(name)
    }

    fn string_variable(&self, name: &str) -> Result<String, TaskError> {
        NoPackage.string_variable(name)
    }

    fn template_context(&self) -> TemplateContext {
        let mut ctx = TemplateContext::default();
        // The System variables a run would have, for a package named after the command.
        let package = smtpcm::package::Package::new("smtpcm send");
        let scope = PackageScope::new(&package);
        for name in ["PackageName", "MachineName", "UserName", "StartTime"] {
            let qualified = format!("System::{name}");
            if let Some(value) = scope.variable(&qualified) {
                ctx.insert(&qualified, &value);
            }
        }
        for (name, value) in &self.vars {
            ctx.insert(&format!("User::{name}"), value.as_str());
        }
        ctx
    }
}

/// Names the body option in a template error about the task's `MessageSource`.
pub fn name_body(e: TaskError, args: &HtmlArgs) -> TaskError {
    match e {
        TaskError::Template(mut t) if t.template == "MessageSource" => {
            t.template = match (&args.html_body, &args.html_body_file) {
                (Some(_), _) => "--html-body".to_string(),
                (None, Some(path)) => format!("--html-body-file {}", path.display()),
                (None, None) => "--body".to_string(),
            };
            TaskError::Template(t)
        }
        other => other,
    }
}
