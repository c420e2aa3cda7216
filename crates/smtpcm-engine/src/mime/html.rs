//! The HTML body: read (size-capped), its `cid:` references found, and relative image paths
//! next to the body file rewritten to generated Content-IDs.
//!
//! The document is rewritten with `lol_html`, which changes only the attributes it is told
//! to; every other byte of the HTML goes out as written.

use std::cell::RefCell;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use lol_html::{RewriteStrSettings, element, rewrite_str};

use super::MimeError;

/// The default for [`Message::max_html_bytes`](super::Message::max_html_bytes): 8 MiB.
/// An HTML body is read whole (its references must be resolved before a byte is sent), so it
/// needs a cap; mail clients clip far smaller bodies anyway (Gmail at about 100 KB).
pub const DEFAULT_MAX_HTML_BYTES: u64 = 8 * 1024 * 1024;

/// Attributes whose value is an image URL in HTML mail (`<img src>`, `<td background>`).
const URL_ATTRIBUTES: [&str; 2] = ["src", "background"];

/// The HTML body after its references were resolved.
#[derive(Debug)]
pub(super) struct ScannedHtml {
    /// The document with relative image paths rewritten to `cid:` URLs.
    pub(super) html: String,
    /// Every `cid:` the document refers to (generated ones included), without repeats,
    /// in document order.
    pub(super) cids: Vec<String>,
    /// Files found next to the body file, with the Content-ID generated for each.
    pub(super) generated: Vec<(String, PathBuf)>,
}

/// Reads an HTML body file whole, refusing more than `max` bytes or text that is not UTF-8.
pub(super) fn read_html_file(path: &Path, max: u64) -> Result<String, MimeError> {
    let fail = |reason: String| MimeError::BodyFile {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    // One byte past the cap tells "exactly max" from "more" without trusting metadata
    // (a pipe has none).
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > max {
        return Err(MimeError::HtmlTooLarge {
            html: path.display().to_string(),
            max,
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Finds the `cid:` references in `html` and rewrites relative image paths (resolved against
/// `base_dir`, when there is one) to generated Content-IDs. `label` names the document in
/// errors.
pub(super) fn scan(
    html: &str,
    base_dir: Option<&Path>,
    label: &str,
) -> Result<ScannedHtml, MimeError> {
    let state = RefCell::new(State::default());
    let handler = |el: &mut lol_html::html_content::Element<'_, '_>| -> lol_html::HandlerResult {
        for attr in URL_ATTRIBUTES {
            let Some(value) = el.get_attribute(attr) else {
                continue;
            };
            let mut st = state.borrow_mut();
            if st.error.is_some() {
                return Ok(());
            }
            match st.visit(value.trim(), base_dir, label) {
                Ok(Some(cid)) => el.set_attribute(attr, &format!("cid:{cid}"))?,
                Ok(None) => {}
                Err(e) => st.error = Some(e),
            }
        }
        Ok(())
    };
    let rewritten = rewrite_str(
        html,
        RewriteStrSettings::new()
            .append_element_content_handler(element!("[src], [background]", handler)),
    );
    let state = state.into_inner();
    if let Some(e) = state.error {
        return Err(e);
    }
    let html = rewritten.map_err(|e| MimeError::Html {
        html: label.to_string(),
        reason: e.to_string(),
    })?;
    Ok(ScannedHtml {
        html,
        cids: state.cids,
        generated: state.generated,
    })
}

#[derive(Default)]
struct State {
    cids: Vec<String>,
    generated: Vec<(String, PathBuf)>,
    error: Option<MimeError>,
}

impl State {
    /// Records one URL; returns the Content-ID to put in its place when it was a local file.
    fn visit(
        &mut self,
        value: &str,
        base_dir: Option<&Path>,
        label: &str,
    ) -> Result<Option<String>, MimeError> {
        if value.len() >= 4 && value[..4].eq_ignore_ascii_case("cid:") {
            // RFC 2392: the URL form of a Content-ID is percent-encoded.
            let cid = percent_decode(&value[4..]);
            if !self.cids.contains(&cid) {
                self.cids.push(cid);
            }
            return Ok(None);
        }
        let Some(base) = base_dir else {
            return Ok(None);
        };
        let Some(relative) = local_path(value) else {
            return Ok(None);
        };
        let path = base.join(&relative);
        if let Some((cid, _)) = self.generated.iter().find(|(_, p)| *p == path) {
            return Ok(Some(cid.clone()));
        }
        let escapes = Path::new(&relative)
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if escapes {
            return Err(MimeError::InlineImage {
                path,
                reference: value.to_string(),
                html: label.to_string(),
                reason: "a relative image path must stay in the body file's directory".into(),
            });
        }
        let meta = std::fs::metadata(&path).map_err(|e| MimeError::InlineImage {
            path: path.clone(),
            reference: value.to_string(),
            html: label.to_string(),
            reason: e.to_string(),
        })?;
        if !meta.is_file() {
            return Err(MimeError::InlineImage {
                path,
                reference: value.to_string(),
                html: label.to_string(),
                reason: "not a regular file".into(),
            });
        }
        let cid = format!("{}@smtpcm", super::unique::token());
        self.generated.push((cid.clone(), path));
        self.cids.push(cid.clone());
        Ok(Some(cid))
    }
}

/// The file path a URL names when it is a relative reference without scheme, host, query
/// or fragment (`logo.png`, `img/logo%20big.png`); `None` for anything else (`https:`,
/// `data:`, `//host/x`, `/abs`, `#frag`).
fn local_path(value: &str) -> Option<String> {
    if value.is_empty() || value.starts_with(['/', '\\', '#', '?']) {
        return None;
    }
    // A scheme is letters, digits, `+`, `-`, `.` before the first `:`, and ends before any
    // `/`; Windows drive letters (`C:`) count as a scheme here, which keeps them out.
    if let Some(colon) = value.find(':')
        && !value[..colon].contains(['/', '?', '#'])
    {
        return None;
    }
    let end = value.find(['?', '#']).unwrap_or(value.len());
    Some(percent_decode(&value[..end]))
}

/// Decodes `%XX` escapes; an invalid escape or a result that is not UTF-8 is kept literally.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// The plain-text alternative of an HTML body, 78 columns wide.
pub(super) fn text_alternative(html: &str, label: &str) -> Result<String, MimeError> {
    html2text::from_read(html.as_bytes(), 78).map_err(|e| MimeError::Html {
        html: label.to_string(),
        reason: format!("cannot render a text alternative: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths() {
        assert_eq!(local_path("logo.png").as_deref(), Some("logo.png"));
        assert_eq!(
            local_path("img/a%20b.png?x=1").as_deref(),
            Some("img/a b.png")
        );
        for remote in [
            "https://x/y.png",
            "data:image/png;base64,AA",
            "//host/x",
            "/abs.png",
            "#f",
            "C:/x.png",
            "",
        ] {
            assert_eq!(local_path(remote), None, "{remote}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b%2"), "a@b%2");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%FF"), "%FF");
    }

    #[test]
    fn cids_are_collected_and_files_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.png"), b"png").unwrap();
        let html = r#"<p><img src="cid:logo%40x"><img SRC='a.png'><td background="a.png"><img src="https://e/x.png"></p>"#;
        let s = scan(html, Some(dir.path()), "body.html").unwrap();
        assert_eq!(
            s.generated.len(),
            1,
            "one file, referenced twice, gets one cid"
        );
        let cid = &s.generated[0].0;
        assert_eq!(s.cids, vec!["logo@x".to_string(), cid.clone()]);
        assert!(
            s.html.contains(&format!("SRC=\"cid:{cid}\""))
                || s.html.contains(&format!("src=\"cid:{cid}\"")),
            "{}",
            s.html
        );
        assert!(
            s.html.contains(&format!("background=\"cid:{cid}\"")),
            "{}",
            s.html
        );
        assert!(s.html.contains(r#"src="https://e/x.png""#));
        assert!(s.html.starts_with("<p><img src=\"cid:logo%40x\">"));
    }

    #[test]
    fn a_missing_file_or_an_escape_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = scan(r#"<img src="nope.png">"#, Some(dir.path()), "b.html").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("nope.png") && text.contains("b.html"),
            "{text}"
        );
        let e = scan(r#"<img src="../etc/passwd">"#, Some(dir.path()), "b.html").unwrap_err();
        assert!(
            e.to_string().contains("stay in the body file's directory"),
            "{e}"
        );
        // Without a base directory relative paths are left alone.
        assert!(scan(r#"<img src="nope.png">"#, None, "HTML body").is_ok());
    }
}
