//! Every corpus package runs with its SMTP connection managers pointed at a loopback capture
//! server (`/Conn`) and unsupported tasks skipped; each delivered message matches the fields
//! its task resolves to (stored values, overridden by property expressions).

#[path = "support/corpus.rs"]
mod corpus_support;
use corpus_support::corpus;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mail_parser::{HeaderValue, MessageParser, MimeHeaders};
use smtpcm::dtsx;
use smtpcm::expr::{self, PackageScope, Scope, Value};
use smtpcm::package::{ConnectionKind, Connections};
use smtpcm::run::{ExitCode, Override, RunOptions, Runner, map_path};
use smtpcm_sink::{Sink, SinkConfig};

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// The `owner__repo__` prefix of a corpus file name: packages and `.conmgr` files of one project share it.
fn project_prefix(p: &Path) -> String {
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    let mut parts = name.splitn(3, "__");
    format!(
        "{}__{}__",
        parts.next().unwrap(),
        parts.next().unwrap_or("")
    )
}

fn addresses(list: &str) -> Vec<String> {
    list.split([';', ','])
        .map(|a| {
            let a = a.trim();
            let inner = a
                .rsplit_once('<')
                .map(|(_, r)| r.trim_end_matches('>'))
                .unwrap_or(a);
            inner.trim().to_ascii_lowercase()
        })
        .filter(|a| !a.is_empty())
        .collect()
}

fn header_addresses(v: Option<&mail_parser::Address>) -> Vec<String> {
    v.map(|a| {
        a.iter()
            .filter_map(|x| x.address())
            .map(|s| s.to_ascii_lowercase())
            .collect()
    })
    .unwrap_or_default()
}

/// A field's expected value: its property expression evaluated, or the stored value. `None`
/// when the expression depends on run-time state (error variables) the test does not model.
fn expected(
    exec: &smtpcm::package::Executable,
    scope: &PackageScope<'_>,
    property: &str,
    stored: &str,
) -> Option<String> {
    match exec.property_expression(property) {
        None => Some(stored.to_owned()),
        Some(e) if e.contains("System::Error") || e.contains("System::SourceName") => None,
        Some(e) => Some(expr::evaluate(e, scope).unwrap().to_display_string()),
    }
}

#[tokio::test]
async fn every_corpus_package_runs_and_delivers_what_its_tasks_resolve_to() {
    let Some(dir) = corpus() else { return };
    let conmgrs = files(&dir, "conmgr");
    let mut total = 0;
    for path in files(&dir, "dtsx") {
        let mut pkg = dtsx::load_package(&path).unwrap();
        let prefix = project_prefix(&path);
        let project: Vec<_> = conmgrs
            .iter()
            .filter(|c| project_prefix(c) == prefix)
            .map(|c| dtsx::load_conmgr(c).unwrap().connection)
            .collect();
        pkg.project_connections = Connections::from_vec(project);

        let mut s = Sink::start(SinkConfig {
            starttls: false,
            ..SinkConfig::default()
        })
        .await
        .unwrap();
        let port = s.local_addr().port();
        let overrides: Vec<Override> = pkg
            .connections
            .iter()
            .chain(pkg.project_connections.iter())
            .filter(|c| c.kind == ConnectionKind::Smtp)
            .map(|c| Override::Conn {
                target: c.name.clone(),
                connection_string: format!(
                    "SmtpServer=127.0.0.1;UseWindowsAuthentication=False;EnableSsl=False;Port={port};"
                ),
            })
            .collect();

        // Provide every file the package refers to (attachments, File connections) under a root.
        let root = tempfile::tempdir().unwrap();
        let provide = |written: &str| {
            let local = map_path(written, Some(root.path())).unwrap();
            std::fs::create_dir_all(local.parent().unwrap()).unwrap();
            std::fs::write(&local, format!("contents of {written}\r\n")).unwrap();
        };
        for e in pkg.all_executables() {
            if let Some(d) = e.send_mail() {
                d.attachments.iter().for_each(|a| provide(a));
            }
        }
        for c in pkg
            .connections
            .iter()
            .filter(|c| matches!(c.kind, ConnectionKind::File | ConnectionKind::FlatFile))
        {
            if !c.connection_string.trim().is_empty() {
                provide(&c.connection_string);
            }
        }

        let options = RunOptions {
            overrides,
            skip_unsupported: true,
            path_root: Some(root.path().to_path_buf()),
            ..RunOptions::default()
        };
        let report = tokio::time::timeout(
            Duration::from_secs(60),
            Runner::new(pkg.clone(), options).run(),
        )
        .await
        .expect("run finishes");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            matches!(report.exit_code, ExitCode::Success | ExitCode::Failure),
            "{name}: {report:#?}"
        );
        let scope = PackageScope::new(&pkg);
        let sent: Vec<_> = report
            .executables
            .iter()
            .filter(|e| !e.messages.is_empty())
            .collect();
        for exec_report in &sent {
            let exec = pkg
                .all_executables()
                .into_iter()
                .find(|e| e.path == exec_report.path)
                .unwrap();
            let data = exec.send_mail().unwrap();
            let captured = s
                .next_message(Duration::from_secs(10))
                .await
                .expect("message arrived");
            let raw = captured.data.as_deref().unwrap();
            let msg = MessageParser::default().parse(raw).unwrap();
            let at = format!("{name}: {}", exec.path);

            if let Some(from) = expected(exec, &scope, "FromLine", &data.from) {
                assert_eq!(header_addresses(msg.from()), addresses(&from), "{at}: From");
            }
            if let Some(to) = expected(exec, &scope, "ToLine", &data.to) {
                assert_eq!(header_addresses(msg.to()), addresses(&to), "{at}: To");
            }
            if let Some(cc) = expected(exec, &scope, "CCLine", &data.cc) {
                assert_eq!(header_addresses(msg.cc()), addresses(&cc), "{at}: Cc");
            }
            if let Some(subject) = expected(exec, &scope, "Subject", &data.subject) {
                // mail-parser collapses the whitespace where a long header was folded.
                let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
                assert_eq!(
                    words(msg.subject().unwrap_or("")),
                    words(&subject),
                    "{at}: Subject"
                );
            }
            let body_source = expected(exec, &scope, "MessageSource", &data.message_source);
            let body = match (data.message_source_type.as_str(), body_source) {
                (_, None) => None,
                ("FileConnection", Some(cm)) => {
                    let file = pkg.connection(&cm).unwrap();
                    Some(format!("contents of {}\r\n", file.connection_string))
                }
                ("Variable", Some(var)) => match scope.variable(&var) {
                    Some(Value::Str(s)) => Some(s),
                    other => panic!("{at}: variable body {other:?}"),
                },
                (_, Some(text)) => Some(text),
            };
            if let Some(body) = body {
                let got = msg
                    .body_text(0)
                    .map(|b| b.replace("\r\n", "\n"))
                    .unwrap_or_default();
                assert_eq!(
                    got.trim_end(),
                    body.replace("\r\n", "\n").trim_end(),
                    "{at}: body"
                );
            }
            let priority = expected(exec, &scope, "Priority", &data.priority).unwrap();
            let x_priority = match msg.header("X-Priority") {
                Some(HeaderValue::Text(t)) => t.to_string(),
                _ => String::new(),
            };
            assert_eq!(
                priority.eq_ignore_ascii_case("High"),
                x_priority.starts_with('1'),
                "{at}: priority"
            );
            let mut want: Vec<String> = data
                .attachments
                .iter()
                .map(|a| {
                    map_path(a, None)
                        .unwrap()
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            let mut got: Vec<String> = msg
                .attachments()
                .filter_map(|a| a.attachment_name().map(str::to_owned))
                .collect();
            want.sort();
            got.sort();
            assert_eq!(got, want, "{at}: attachments");
            total += 1;
        }
        assert!(
            s.next_message(Duration::from_millis(50)).await.is_none(),
            "{name}: unreported mail"
        );
        s.shutdown().await;
    }
    eprintln!("{total} corpus messages delivered and checked");
    assert!(total >= 5, "only {total} corpus tasks sent mail");
}
