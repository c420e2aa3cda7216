//! Issue 11 against real Postfix: an HTML template with inline images (one explicit `cid:`,
//! one relative `src` next to the body file), an attachment and an unreferenced inline part
//! goes through Postfix into the Maildir. Read back, Python's `email` (policy default) finds
//! no defect, mail-parser agrees on the structure, every part decodes byte-identical to its
//! source, and headless Chromium shows the inline images (naturalWidth > 0).
//!
//! Needs `PYTHON_MAIL` and `CHROMIUM` in the env file (`scripts/servers/python-mail.sh`).

#[path = "support/servers.rs"]
mod servers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use servers::TestServers;
use smtpcm::connection_manager::SmtpConnectionManager;
use smtpcm::send_mail::{MessageSourceResolver, MessageSourceType, SendMailTask, TaskError};
use smtpcm::template::TemplateContext;
use smtpcm_engine::mime::InlinePart;

/// A 3x2 RGB PNG (so naturalWidth is 3 once decoded).
const PNG_3X2: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0x12, 0x16, 0xF1,
    0x4D, 0x00, 0x00, 0x00, 0x10, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0x00,
    0x41, 0x0C, 0x70, 0x16, 0x00, 0x41, 0xD2, 0x05, 0xFB, 0x87, 0xF0, 0xB9, 0x48, 0x00, 0x00, 0x00,
    0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// A 1x1 GIF.
const GIF_1X1: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

/// Resolves the task's File connection to the body file and supplies template variables.
struct Resolver {
    body: PathBuf,
}

impl MessageSourceResolver for Resolver {
    fn file_connection(&self, _name: &str) -> Result<PathBuf, TaskError> {
        Ok(self.body.clone())
    }
    fn string_variable(&self, name: &str) -> Result<String, TaskError> {
        Err(TaskError::Template(smtpcm::template::TemplateError {
            template: name.into(),
            line: 1,
            column: 1,
            message: "no variables here".into(),
        }))
    }
    fn template_context(&self) -> TemplateContext {
        let mut ctx = TemplateContext::default();
        ctx.insert("User::Name", "<Ada & Bob>");
        ctx.insert("System::PackageName", "Nightly");
        ctx
    }
}

fn tool(servers: &TestServers, key: &str) -> Option<String> {
    match servers.get(key) {
        Some(v) if Path::new(v).exists() => Some(v.to_string()),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI=true but {key} is not in the test-server env file (scripts/servers/python-mail.sh)"
            )
        }
        _ => {
            eprintln!("skipped: {key} not set up (scripts/servers/python-mail.sh start)");
            None
        }
    }
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// Runs `cmd` to completion, killing it if it hangs far beyond any normal run (a guard
/// against a wedged browser, not a timing check). Output goes to files, so a large output
/// cannot fill a pipe while we wait.
fn run_guarded(mut cmd: Command, what: &str) -> (bool, Vec<u8>, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("{what} did not finish in 300 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (
        status.success(),
        std::fs::read(out.path()).unwrap(),
        String::from_utf8_lossy(&std::fs::read(err.path()).unwrap()).into_owned(),
    )
}

fn b64(s: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_str().expect("base64 string"))
        .expect("base64")
}

#[tokio::test]
async fn html_template_with_inline_images_through_postfix_is_clean_and_renders() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    let (Some(python), Some(chromium)) =
        (tool(&servers, "PYTHON_MAIL"), tool(&servers, "CHROMIUM"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("img")).unwrap();
    std::fs::write(dir.path().join("img/chart.png"), PNG_3X2).unwrap();
    let logo = dir.path().join("logo.gif");
    std::fs::write(&logo, GIF_1X1).unwrap();
    let report = dir.path().join("report.bin");
    let report_bytes = pseudo_random(200_003, 11);
    std::fs::write(&report, &report_bytes).unwrap();
    let extra = dir.path().join("extra.png");
    std::fs::write(&extra, PNG_3X2).unwrap();
    let body = dir.path().join("mail.html");
    let long_line = "lorem ipsum ".repeat(200);
    std::fs::write(
        &body,
        format!(
            "<html><head><style>.who {{ font-weight: bold }}</style></head><body>\n\
             <p>Grüße, <span class=\"who\">{{{{ User.Name }}}}</span> — {{{{ System.PackageName }}}} für {{{{ Task.ToLine }}}}</p>\n\
             <p>{long_line}</p>\n\
             <img alt=\"chart\" src=\"img/chart.png\"> <img alt=\"logo\" src=\"cid:logo@corp\">\n\
             </body></html>\n"
        ),
    )
    .unwrap();

    let rcpt = servers.unique_recipient("html");
    let task = SendMailTask {
        from_line: "etl@sender.test".into(),
        to_line: rcpt.clone(),
        subject: "Load {{ System.PackageName }}: {{ User.Name }}".into(),
        message_source_type: MessageSourceType::FileConnection,
        message_source: "Body".into(),
        file_attachments: report.display().to_string(),
        body_is_html: true,
        inline_parts: vec![
            InlinePart::new("logo@corp", &logo),
            InlinePart::new("unused@corp", &extra),
        ],
        template: true,
        inline_css: true,
        ..SendMailTask::default()
    };
    let cs = format!(
        "SmtpServer={};Port={};UseWindowsAuthentication=False;EnableSsl=True;",
        servers.tls_server_name(),
        servers.starttls_port()
    );
    let mut cm = SmtpConnectionManager::with_connection_string("SMTP", &cs).unwrap();
    cm.set_extra_ca_file(Some(servers.ca_file()));
    let resolver = Resolver { body: body.clone() };
    tokio::time::timeout(Duration::from_secs(120), task.execute(&cm, &resolver))
        .await
        .expect("send finished")
        .expect("sent");

    let delivered = servers
        .wait_for_maildir_message(&rcpt, Duration::from_secs(60))
        .expect("message in the Maildir");
    let raw = servers::strip_delivery_headers(&delivered).to_vec();
    let eml = dir.path().join("delivered.eml");
    std::fs::write(&eml, &raw).unwrap();

    // Python's email package and mail-parser.
    let mut cmd = Command::new(&python);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/mail_check.py"
    ))
    .arg(&eml);
    let (ok, stdout, stderr) = run_guarded(cmd, "mail_check.py");
    assert!(ok, "mail_check.py failed: {stderr}");
    let report_json: serde_json::Value = serde_json::from_slice(&stdout).expect("JSON");
    assert_eq!(
        report_json["defects"],
        serde_json::json!([]),
        "email defects"
    );
    assert_eq!(
        report_json["mailparser"]["defects"],
        serde_json::json!([]),
        "mail-parser defects"
    );
    assert_eq!(
        report_json["structure"],
        "multipart/mixed[multipart/related[multipart/alternative[text/plain,text/html],image/png,image/gif],application/octet-stream,image/png]"
    );
    let parts = report_json["parts"].as_array().unwrap();
    let part =
        |pred: &dyn Fn(&serde_json::Value) -> bool| parts.iter().find(|p| pred(p)).expect("part");
    let chart = part(&|p| {
        p["content_id"]
            .as_str()
            .is_some_and(|c| c.ends_with("@smtpcm>"))
    });
    assert_eq!(b64(&chart["payload"]), PNG_3X2);
    assert_eq!(chart["disposition"], "inline");
    let logo_part = part(&|p| p["content_id"] == "<logo@corp>");
    assert_eq!(b64(&logo_part["payload"]), GIF_1X1);
    let report_part = part(&|p| p["filename"] == "report.bin");
    assert_eq!(b64(&report_part["payload"]), report_bytes);
    assert_eq!(report_part["disposition"], "attachment");
    let unused = part(&|p| p["filename"] == "extra.png");
    assert_eq!(
        unused["disposition"], "attachment",
        "unreferenced inline part"
    );
    assert!(unused["content_id"].is_null());
    assert_eq!(b64(&unused["payload"]), PNG_3X2);

    let html = part(&|p| p["content_type"] == "text/html")["text"]
        .as_str()
        .unwrap()
        .to_string();
    let text = part(&|p| p["content_type"] == "text/plain")["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        html.contains("&lt;Ada &amp; Bob&gt;"),
        "HTML escaped: {html}"
    );
    assert!(html.contains("Grüße") && html.contains(&rcpt), "{html}");
    assert!(html.contains(long_line.trim_end()), "long line intact");
    assert!(
        html.contains("style=\"font-weight: bold;\""),
        "CSS inlined: {html}"
    );
    assert!(
        !html.contains("img/chart.png"),
        "relative src rewritten: {html}"
    );
    assert!(
        text.contains("<Ada & Bob>") && text.contains("Grüße"),
        "{text}"
    );
    let subject_line = String::from_utf8_lossy(&raw)
        .lines()
        .any(|l| l.starts_with("Subject: Load Nightly: <Ada & Bob>"));
    assert!(subject_line, "subject rendered, not HTML-escaped");

    // mail-parser agrees: the same bodies, and the same non-body parts with the same bytes.
    let sha_of = |t: &str| {
        let out = Command::new(&python)
            .args([
                "-c",
                "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write as _;
                c.stdin.take().unwrap().write_all(t.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(
        report_json["mailparser"]["text_html"],
        serde_json::json!([sha_of(&html)])
    );
    assert_eq!(
        report_json["mailparser"]["text_plain"],
        serde_json::json!([sha_of(&text)])
    );
    let mut ours: Vec<(String, Option<String>, Vec<u8>)> = parts
        .iter()
        .filter(|p| !p["content_type"].as_str().unwrap().starts_with("text/"))
        .map(|p| {
            (
                p["filename"].as_str().unwrap().to_string(),
                p["content_id"].as_str().map(str::to_string),
                b64(&p["payload"]),
            )
        })
        .collect();
    let mut theirs: Vec<(String, Option<String>, Vec<u8>)> =
        report_json["mailparser"]["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["filename"].as_str().unwrap().to_string(),
                    a["content_id"].as_str().map(str::to_string),
                    b64(&a["payload"]),
                )
            })
            .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "mail-parser sees the same parts");

    // Chromium: cid: URLs point at the decoded parts; a script records each image's
    // naturalWidth in the DOM, which --dump-dom prints once the page has loaded.
    let page_dir = dir.path().join("page");
    std::fs::create_dir(&page_dir).unwrap();
    let mut page = html.clone();
    for (i, p) in parts.iter().enumerate() {
        if let Some(cid) = p["content_id"].as_str() {
            let file = format!("part{i}");
            std::fs::write(page_dir.join(&file), b64(&p["payload"])).unwrap();
            let bare = cid.trim_start_matches('<').trim_end_matches('>');
            page = page.replace(&format!("cid:{bare}"), &file);
        }
    }
    assert!(
        !page.contains("cid:"),
        "every cid: resolved to a decoded part"
    );
    page = page.replace(
        "</body>",
        "<script>window.addEventListener('load', () => { for (const img of document.images) \
         img.setAttribute('data-natural-width', String(img.naturalWidth)); \
         document.body.setAttribute('data-loaded', 'yes'); });</script></body>",
    );
    let page_file = page_dir.join("page.html");
    std::fs::write(&page_file, &page).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(&chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--allow-file-access-from-files",
        "--virtual-time-budget=10000",
        "--dump-dom",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(format!("file://{}", page_file.display()));
    let (_, stdout, stderr) = run_guarded(cmd, "chromium --dump-dom");
    let dom = String::from_utf8_lossy(&stdout);
    assert!(
        dom.contains("data-loaded=\"yes\""),
        "page did not finish loading; stderr: {stderr}"
    );
    let widths: Vec<u32> = dom
        .split("data-natural-width=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
        .collect();
    assert_eq!(widths.len(), 2, "two images in the page: {dom}");
    assert!(
        widths.iter().all(|&w| w > 0),
        "every inline image displayed (naturalWidth > 0): {widths:?}"
    );
}
