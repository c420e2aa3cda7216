//! Subject and body templates (MiniJinja), and CSS inlining for HTML bodies.
//!
//! A template sees the package's variables by namespace (`{{ User.Region }}`,
//! `{{ System.PackageName }}`), its parameters (`{{ Package.Env }}` for `$Package::Env`,
//! `{{ Project.Env }}`), the task's fields (`{{ Task.ToLine }}`, `{{ Task.Subject }}`), and
//! `User` variables also by their bare name (`{{ Region }}`). Sensitive parameters are left
//! out: a password must not end up in a mail.
//!
//! An HTML template escapes every value it prints (`<`, `>`, `&`, quotes); a text template
//! prints values as they are. A name that is not defined is an error, never a blank, and
//! every error names the template, its line and its column. What a template can build is
//! bounded: its output is capped at [`MAX_TEMPLATE_OUTPUT`] bytes, a string repeated with `*`
//! at MiniJinja's 100,000,000 bytes, its run at [`TEMPLATE_FUEL`] instructions, and macros
//! and `namespace()` (the two ways to grow a value across loop iterations) are not available.
//!
//! ```
//! use smtpcm::template::{TemplateContext, TemplateKind, render};
//! let mut ctx = TemplateContext::default();
//! ctx.insert("User::Region", "EMEA & APAC");
//! let html = render("Subject", "<p>{{ User.Region }} {{ Region }}</p>", TemplateKind::Html, &ctx).unwrap();
//! assert_eq!(html, "<p>EMEA &amp; APAC EMEA &amp; APAC</p>");
//! let e = render("Subject", "Hi\n{{ Missing }}", TemplateKind::Text, &ctx).unwrap_err();
//! assert_eq!(e.to_string(), "Subject:2:4: `Missing` is undefined");
//! ```

use std::collections::BTreeMap;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value as JValue};

use crate::expr::Value;

/// The most bytes a template may produce (the same bound as an expression's string).
pub const MAX_TEMPLATE_OUTPUT: usize = 16 * 1024 * 1024;

/// The largest template source read from a file or variable.
pub const MAX_TEMPLATE_SOURCE: u64 = 8 * 1024 * 1024;

/// Instructions a template may run before it is stopped (MiniJinja's fuel): enough for a
/// table of tens of thousands of rows, not for an endless loop.
pub const TEMPLATE_FUEL: u64 = 50_000_000;

/// Whether the template's output is HTML (values are escaped) or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    /// Plain text: values are printed as they are.
    Text,
    /// HTML: values are escaped; `{{ x | safe }}` prints markup on purpose.
    Html,
}

/// What a template can refer to: values by namespace and name.
#[derive(Debug, Clone, Default)]
pub struct TemplateContext {
    namespaces: BTreeMap<String, BTreeMap<String, JValue>>,
}

impl TemplateContext {
    /// Adds a value under its qualified name: `User::X`, `System::X`, `$Package::X`,
    /// `$Project::X`, `Task::X`, or a bare name (taken as `User::X`).
    pub fn insert(&mut self, qualified: &str, value: impl Into<TemplateValue>) {
        let qualified = qualified.trim().trim_start_matches('$');
        let (namespace, name) = qualified.split_once("::").unwrap_or(("User", qualified));
        self.namespaces
            .entry(namespace.to_string())
            .or_default()
            .insert(name.to_string(), value.into().0);
    }

    fn to_value(&self) -> JValue {
        let mut top: BTreeMap<String, JValue> = BTreeMap::new();
        if let Some(user) = self.namespaces.get("User") {
            for (k, v) in user {
                top.insert(k.clone(), v.clone());
            }
        }
        // The namespaces always exist, so `{{ User.Missing }}` names `Missing`, not `User`.
        for ns in ["User", "System", "Package", "Project", "Task"] {
            top.insert(
                ns.to_string(),
                JValue::from(BTreeMap::<String, JValue>::new()),
            );
        }
        // Namespaces win over a bare User name that happens to be spelled the same.
        for (ns, values) in &self.namespaces {
            top.insert(ns.clone(), JValue::from(values.clone()));
        }
        JValue::from(top)
    }
}

/// A value a template can print: text, a number, a boolean, or nothing.
#[derive(Debug, Clone)]
pub struct TemplateValue(JValue);

impl From<&str> for TemplateValue {
    fn from(s: &str) -> Self {
        TemplateValue(JValue::from(s))
    }
}

impl From<String> for TemplateValue {
    fn from(s: String) -> Self {
        TemplateValue(JValue::from(s))
    }
}

impl From<&Value> for TemplateValue {
    /// Numbers and booleans keep their type (so `{% if User.Count > 10 %}` works); dates are
    /// printed as the expression language prints them; a NULL is `none`.
    fn from(v: &Value) -> Self {
        TemplateValue(match v {
            Value::Str(s) => JValue::from(s.as_str()),
            Value::I4(i) => JValue::from(*i),
            Value::I8(i) => JValue::from(*i),
            Value::R8(f) | Value::Numeric(f, _) => JValue::from(*f),
            Value::Bool(b) => JValue::from(*b),
            Value::Null(_) => JValue::from(()),
            other => JValue::from(other.to_display_string()),
        })
    }
}

/// A template that did not parse or did not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{template}:{line}:{column}: {message}")]
pub struct TemplateError {
    /// Which template: `Subject`, `MessageSource`, or a file path.
    pub template: String,
    /// 1-based line in the template.
    pub line: usize,
    /// 1-based column (in characters) in that line.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Renders `source` with `ctx`; `name` identifies the template in errors.
pub fn render(
    name: &str,
    source: &str,
    kind: TemplateKind,
    ctx: &TemplateContext,
) -> Result<String, TemplateError> {
    let mut env = Environment::new();
    env.set_debug(true);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    // Keep a body's final newline: a template is the body as written.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    // `namespace()` is the one object a loop can grow step by step without bound.
    env.remove_global("namespace");
    let escape = match kind {
        TemplateKind::Html => AutoEscape::Html,
        TemplateKind::Text => AutoEscape::None,
    };
    env.set_auto_escape_callback(move |_| escape.clone());

    let fail = |e: minijinja::Error| template_error(name, source, &e);
    let template = env.template_from_named_str(name, source).map_err(fail)?;
    let mut out = CappedWriter::default();
    match template.render_captured_to(ctx.to_value(), &mut out) {
        Ok(_) => {}
        Err(_) if out.overflowed => {
            return Err(TemplateError {
                template: name.to_string(),
                line: 1,
                column: 1,
                message: format!(
                    "the output is larger than {MAX_TEMPLATE_OUTPUT} bytes, the limit for a template"
                ),
            });
        }
        Err(e) => return Err(fail(e)),
    }
    String::from_utf8(out.bytes).map_err(|_| TemplateError {
        template: name.to_string(),
        line: 1,
        column: 1,
        message: "the output is not UTF-8".into(),
    })
}

fn template_error(name: &str, source: &str, e: &minijinja::Error) -> TemplateError {
    let range = e
        .range()
        .filter(|r| r.start <= source.len() && r.end <= source.len());
    let (line, column) = match &range {
        Some(r) => {
            let before = &source[..r.start];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            (line, source[line_start..r.start].chars().count() + 1)
        }
        None => (e.line().unwrap_or(1), 1),
    };
    let mut message = e.kind().to_string();
    if let Some(detail) = e.detail() {
        message = if e.kind() == minijinja::ErrorKind::UndefinedError {
            // "`Missing` is undefined" says it all.
            detail.to_string()
        } else {
            format!("{message}: {detail}")
        };
    } else if e.kind() == minijinja::ErrorKind::UndefinedError
        && let Some(r) = range
        && let Some(expr) = source.get(r)
    {
        // Strict mode says only "undefined value"; the failing expression names it.
        message = format!("{message}: {}", expr.trim());
    }
    TemplateError {
        template: name.to_string(),
        line,
        column,
        message,
    }
}

/// Collects the output and refuses to grow past [`MAX_TEMPLATE_OUTPUT`].
#[derive(Default)]
struct CappedWriter {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_TEMPLATE_OUTPUT {
            self.overflowed = true;
            return Err(std::io::Error::other("template output too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Moves the rules of `<style>` blocks into `style` attributes, for mail clients that drop
/// `<style>` (css-inline; remote stylesheets are never fetched).
///
/// ```
/// let html = smtpcm::template::inline_css(
///     "<html><head><style>p { color: red }</style></head><body><p>Hi</p></body></html>",
/// ).unwrap();
/// assert!(html.contains(r#"<p style="color: red;">Hi</p>"#), "{html}");
/// ```
pub fn inline_css(html: &str) -> Result<String, String> {
    css_inline::CSSInliner::options()
        .load_remote_stylesheets(false)
        .build()
        .inline(html)
        .map_err(|e| format!("CSS inlining failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TemplateContext {
        let mut c = TemplateContext::default();
        c.insert("User::Name", "<Ada & \"Bob\">");
        c.insert("User::Count", &Value::I4(42));
        c.insert("System::PackageName", "Daily Load");
        c.insert("$Package::Env", "Prod");
        c.insert("Task::ToLine", "ops@corp.example");
        c.insert("Greeting", "Grüße, 日本");
        c
    }

    #[test]
    fn html_escapes_and_text_does_not() {
        let src = "{{ Name }}|{{ User.Count + 1 }}|{{ Package.Env }}|{{ System.PackageName }}|{{ Task.ToLine }}";
        assert_eq!(
            render("t", src, TemplateKind::Html, &ctx()).unwrap(),
            "&lt;Ada &amp; &quot;Bob&quot;&gt;|43|Prod|Daily Load|ops@corp.example"
        );
        assert_eq!(
            render("t", src, TemplateKind::Text, &ctx()).unwrap(),
            "<Ada & \"Bob\">|43|Prod|Daily Load|ops@corp.example"
        );
        // `safe` is the explicit way to print markup.
        assert_eq!(
            render("t", "{{ '<b>x</b>' | safe }}", TemplateKind::Html, &ctx()).unwrap(),
            "<b>x</b>"
        );
    }

    #[test]
    fn undefined_names_are_errors_with_line_and_column() {
        for (src, line, column, what) in [
            ("ok\n  {{ Nope }}", 2, 6, "Nope"),
            ("{{ User.Nope }}", 1, 4, "User.Nope"),
            // A filter on an undefined value fails where the filter is applied.
            ("é{{ Missing | upper }}", 1, 15, "Missing"),
        ] {
            let e = render("Body", src, TemplateKind::Html, &ctx()).unwrap_err();
            assert_eq!((e.line, e.column), (line, column), "{src}: {e}");
            assert!(
                e.message.contains("undefined") && e.message.contains(what),
                "{e}"
            );
            assert!(
                e.to_string()
                    .starts_with(&format!("Body:{line}:{column}: ")),
                "{e}"
            );
        }
        // `is defined` and `default` still work.
        assert_eq!(
            render(
                "t",
                "{{ Nope | default('x') }}{% if Nope is defined %}y{% endif %}",
                TemplateKind::Text,
                &ctx()
            )
            .unwrap(),
            "x"
        );
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let e = render(
            "Subject",
            "line one\nline {{ two",
            TemplateKind::Text,
            &ctx(),
        )
        .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.column > 1, "{e}");
        assert!(e.message.contains("syntax error"), "{e}");
        let e = render("Subject", "{% if %}", TemplateKind::Text, &ctx()).unwrap_err();
        assert_eq!((e.line, e.column), (1, 7), "{e}");
    }

    #[test]
    fn non_ascii_and_long_lines_pass_through() {
        let out = render(
            "t",
            "{{ Greeting }} {{ 'x' * 5000 }}\n",
            TemplateKind::Text,
            &ctx(),
        )
        .unwrap();
        assert!(out.starts_with("Grüße, 日本 xxx"));
        assert_eq!(
            out.len(),
            "Grüße, 日本 ".len() + 5000 + 1,
            "trailing newline kept"
        );
    }

    #[test]
    fn output_and_work_are_bounded() {
        let e = render(
            "t",
            "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
            TemplateKind::Text,
            &ctx(),
        )
        .unwrap_err();
        assert!(e.message.contains("larger than"), "{e}");
        let e = render("t", "{{ 'x' * 1000000000 }}", TemplateKind::Text, &ctx()).unwrap_err();
        assert!(e.message.contains("too large"), "{e}");
        let e = render(
            "t",
            "{% for i in range(10000000) %}{% endfor %}",
            TemplateKind::Text,
            &ctx(),
        )
        .unwrap_err();
        assert!(
            e.message.contains("fuel") || e.message.contains("range"),
            "{e}"
        );
        let e = render(
            "t",
            "{% set ns = namespace(x='a') %}",
            TemplateKind::Text,
            &ctx(),
        )
        .unwrap_err();
        assert!(
            e.message.contains("undefined") || e.message.contains("unknown"),
            "{e}"
        );
        let e = render(
            "t",
            "{% macro m() %}x{% endmacro %}",
            TemplateKind::Text,
            &ctx(),
        )
        .unwrap_err();
        assert!(
            e.message.contains("syntax") || e.message.contains("unknown"),
            "{e}"
        );
    }

    #[test]
    fn css_is_inlined() {
        let out = inline_css("<html><head><style>.k { font-weight: bold }</style></head><body><span class=\"k\">x</span></body></html>").unwrap();
        assert!(out.contains("style=\"font-weight: bold;\""), "{out}");
        assert!(!out.contains("<style>"), "{out}");
    }
}
