//! The Send Mail task's extensions for HTML mail: body format, inline parts, templates and
//! CSS inlining, applied to the message the task builds.
//!
//! Without a template or CSS inlining an HTML body file is left to the message writer,
//! which reads it (size-capped) and resolves its images next to it. With either, the body
//! is read here (capped at [`MAX_TEMPLATE_SOURCE`]), rendered, and handed over as text, with
//! the file's directory kept for its relative image paths.

use std::path::Path;
use std::str::FromStr;

use smtpcm_engine::mime::Message;

use crate::send_mail::{MessageSourceResolver, SendMailTask, TaskError};
use crate::template::{self, MAX_TEMPLATE_SOURCE, TemplateContext, TemplateError, TemplateKind};

/// How the task's body is sent (`smtpcm::BodyFormat` in a package).
///
/// ```
/// use smtpcm::html_body::BodyFormat;
/// assert_eq!("html".parse::<BodyFormat>().unwrap(), BodyFormat::Html);
/// assert_eq!(BodyFormat::Text.to_string(), "Text");
/// assert!("markdown".parse::<BodyFormat>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFormat {
    /// `text/plain`, as SSIS sends.
    #[default]
    Text,
    /// `text/html`, with a text alternative (given, or generated from the HTML).
    Html,
}

impl std::fmt::Display for BodyFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyFormat::Text => "Text",
            BodyFormat::Html => "Html",
        })
    }
}

impl FromStr for BodyFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "plain" | "" => Ok(BodyFormat::Text),
            "html" => Ok(BodyFormat::Html),
            _ => Err(format!("{s:?} is not a body format: expected Text or Html")),
        }
    }
}

/// The task's own fields, as templates see them under `Task`.
fn task_context(task: &SendMailTask, resolver: &dyn MessageSourceResolver) -> TemplateContext {
    let mut ctx = resolver.template_context();
    for (name, value) in [
        ("Name", task.name.as_str()),
        ("FromLine", &task.from_line),
        ("ToLine", &task.to_line),
        ("CCLine", &task.cc_line),
        ("BCCLine", &task.bcc_line),
        ("Subject", &task.subject),
        ("FileAttachments", &task.file_attachments),
    ] {
        ctx.insert(&format!("Task::{name}"), value);
    }
    ctx.insert("Task::Priority", task.priority.to_string());
    ctx.insert(
        "Task::MessageSourceType",
        task.message_source_type.to_string(),
    );
    ctx
}

/// Applies the task's HTML settings to `m`, which `build_message` filled from the SSIS fields.
pub(crate) fn apply(
    task: &SendMailTask,
    m: &mut Message,
    resolver: &dyn MessageSourceResolver,
) -> Result<(), TaskError> {
    m.inline_parts.extend(task.inline_parts.iter().cloned());
    m.max_html_bytes = task.max_html_bytes;
    let html = task.body_is_html;
    if html && let Some(text) = &task.text_alternative {
        m.text_body = Some(text.clone());
    }
    if !(task.template || html && task.inline_css) {
        return Ok(());
    }
    let ctx = task_context(task, resolver);
    let kind = if html {
        TemplateKind::Html
    } else {
        TemplateKind::Text
    };
    if task.template {
        m.subject = template::render("Subject", &task.subject, TemplateKind::Text, &ctx)?;
        if html && let Some(text) = &m.text_body {
            m.text_body = Some(template::render(
                "text alternative",
                text,
                TemplateKind::Text,
                &ctx,
            )?);
        }
    }
    // The body as text, and the name errors give it.
    let (source, label) = match m.body_file.take() {
        Some(file) => {
            let source = read_source(&file.path)?;
            if html {
                m.html_base_dir = Some(
                    file.path
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default(),
                );
            }
            (source, file.path.display().to_string())
        }
        None if html => (
            m.html_body.take().unwrap_or_default(),
            "MessageSource".into(),
        ),
        None => (
            m.text_body.take().unwrap_or_default(),
            "MessageSource".into(),
        ),
    };
    let mut body = if task.template {
        template::render(&label, &source, kind, &ctx)?
    } else {
        source
    };
    if html && task.inline_css {
        body = template::inline_css(&body).map_err(|message| TemplateError {
            template: label.clone(),
            line: 1,
            column: 1,
            message,
        })?;
    }
    if html {
        m.html_body = Some(body);
    } else {
        m.text_body = Some(body);
    }
    Ok(())
}

fn read_source(path: &Path) -> Result<String, TaskError> {
    use std::io::Read as _;
    let fail = |message: String| {
        TaskError::Template(TemplateError {
            template: path.display().to_string(),
            line: 1,
            column: 1,
            message,
        })
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TEMPLATE_SOURCE + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(format!("cannot read the body: {e}")))?;
    if bytes.len() as u64 > MAX_TEMPLATE_SOURCE {
        return Err(fail(format!(
            "larger than {MAX_TEMPLATE_SOURCE} bytes, the limit for a template or CSS-inlined body"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}
