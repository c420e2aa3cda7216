//! Every real package in the shared corpus loads, saves byte-identical, and edits touch only
//! the bytes they mean to.

#[path = "support/corpus.rs"]
mod corpus_support;
use corpus_support::corpus;
use std::path::{Path, PathBuf};

use smtpcm::dtsx;
use smtpcm::package::{ConnectionKind, ExecutableKind};

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn find(dir: &Path, needle: &str) -> PathBuf {
    files(dir, "dtsx")
        .into_iter()
        .chain(files(dir, "conmgr"))
        .find(|p| p.file_name().unwrap().to_string_lossy().contains(needle))
        .unwrap_or_else(|| panic!("corpus file containing {needle:?}"))
}

#[test]
fn every_package_loads_and_saves_byte_identical() {
    let Some(dir) = corpus() else { return };
    let list = files(&dir, "dtsx");
    assert!(
        list.len() >= 21,
        "expected the 21 corpus packages, found {}",
        list.len()
    );
    for path in list {
        let original = std::fs::read(&path).unwrap();
        let pkg = dtsx::load_package(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(pkg.format_version, 3 | 6 | 8),
            "{}: format {}",
            path.display(),
            pkg.format_version
        );
        assert!(!pkg.name.is_empty(), "{}: package name", path.display());
        let saved = pkg.to_bytes().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            saved == original,
            "{}: unchanged save differs",
            path.display()
        );
    }
}

#[test]
fn every_conmgr_loads_and_saves_byte_identical() {
    let Some(dir) = corpus() else { return };
    let list = files(&dir, "conmgr");
    assert_eq!(list.len(), 5);
    for path in list {
        let original = std::fs::read(&path).unwrap();
        let file = dtsx::load_conmgr(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!file.connection.name.is_empty());
        assert_eq!(file.to_bytes().unwrap(), original, "{}", path.display());
    }
}

#[test]
fn kingswaysoft_lookalike_is_not_smtp() {
    let Some(dir) = corpus() else { return };
    let file = dtsx::load_conmgr(find(&dir, "nhadi2020")).unwrap();
    assert_eq!(
        file.connection.kind,
        ConnectionKind::Other("SMTP (KingswaySoft)".into())
    );
    let ms = dtsx::load_conmgr(find(&dir, "dataalias__Control__Integration__Control")).unwrap();
    assert_eq!(ms.connection.kind, ConnectionKind::Smtp);
    assert_eq!(ms.connection.description, "Send mail connection");
    assert!(
        ms.connection
            .connection_string
            .starts_with("SmtpServer=mail-tools.bridgepoint.local;")
    );
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn editing_one_connection_string_changes_only_that_attribute() {
    let Some(dir) = corpus() else { return };
    for needle in [
        "SetEntAttrBrok",
        "Chapter3__SendMailTask",
        "roanokecollege",
        "Part82",
    ] {
        let path = find(&dir, needle);
        let original = std::fs::read(&path).unwrap();
        let mut pkg = dtsx::load_package(&path).unwrap();
        let cm = pkg
            .connections
            .iter_mut()
            .find(|c| c.kind == ConnectionKind::Smtp)
            .expect("an SMTP connection manager");
        let old = cm.connection_string.clone();
        cm.connection_string =
            "SmtpServer=127.0.0.1:2525;UseWindowsAuthentication=False;EnableSsl=True;".into();
        let saved = pkg.to_bytes().unwrap();
        // Expected: the original bytes with exactly that attribute value replaced.
        let needle_attr = format!("ConnectionString=\"{old}\"");
        let at = find_bytes(&original, needle_attr.as_bytes()).expect("old attribute in the file")
            + "ConnectionString=\"".len();
        let mut expected = original[..at].to_vec();
        expected.extend_from_slice(
            b"SmtpServer=127.0.0.1:2525;UseWindowsAuthentication=False;EnableSsl=True;",
        );
        expected.extend_from_slice(&original[at + old.len()..]);
        assert!(
            saved == expected,
            "{needle}: save changed more than the attribute value"
        );
        let again = dtsx::load_bytes(saved, "edited").unwrap();
        let cm = again
            .connections
            .iter()
            .find(|c| c.kind == ConnectionKind::Smtp)
            .unwrap();
        assert_eq!(
            cm.connection_string,
            "SmtpServer=127.0.0.1:2525;UseWindowsAuthentication=False;EnableSsl=True;"
        );
    }
}

#[test]
fn send_mail_tasks_are_modelled() {
    let Some(dir) = corpus() else { return };
    // Attachments child and property expressions, format 3.
    let pkg = dtsx::load_package(find(&dir, "RepInvDecl")).unwrap();
    let mails: Vec<_> = pkg
        .all_executables()
        .into_iter()
        .filter(|e| e.is_send_mail())
        .collect();
    assert_eq!(mails.len(), 2);
    let with_att = mails
        .iter()
        .find(|e| !e.send_mail().unwrap().attachments.is_empty())
        .unwrap();
    assert_eq!(
        with_att.send_mail().unwrap().attachments,
        vec![r"c:\tmp\d.xlsx".to_owned()]
    );
    assert!(with_att.property_expression("FileAttachments").is_some());
    let smtp = pkg
        .connection(&with_att.send_mail().unwrap().smtp_server_ref)
        .unwrap();
    assert_eq!(smtp.kind, ConnectionKind::Smtp);

    // Empty ObjectData inside an OnPreExecute handler; no SMTP CM at all.
    let pkg = dtsx::load_package(find(&dir, "Video150")).unwrap();
    let mail = pkg
        .all_executables()
        .into_iter()
        .find(|e| e.is_send_mail())
        .unwrap();
    assert!(!mail.send_mail().unwrap().present);
    assert!(
        mail.path.contains(".EventHandlers[OnPreExecute]"),
        "{}",
        mail.path
    );

    // Only a Subject, disabled, inside a For Loop's OnError handler.
    let pkg = dtsx::load_package(find(&dir, "AmirHeydari66")).unwrap();
    let mail = pkg
        .all_executables()
        .into_iter()
        .find(|e| e.is_send_mail())
        .unwrap();
    assert!(mail.disabled);
    let d = mail.send_mail().unwrap();
    assert_eq!(
        (
            d.subject.as_str(),
            d.priority.as_str(),
            d.smtp_server_ref.as_str()
        ),
        ("0 description", "Normal", "")
    );

    // Defaults omitted in format 8; MessageSource with &#xA;.
    let pkg = dtsx::load_package(find(&dir, "atorres16")).unwrap();
    let d = pkg.executables.iter().find_map(|e| e.send_mail()).unwrap();
    assert_eq!(d.message_source, "Return Code:0\nError:\nOutput:");
    assert_eq!(d.priority, "High");
    assert_eq!(d.cc, "");

    // Failure constraint to the Send Mail task (format 6).
    let pkg = dtsx::load_package(find(&dir, "01PrecedenceConstraints")).unwrap();
    let to_mail = pkg
        .precedence_constraints
        .iter()
        .find(|c| pkg.executables[c.to].is_send_mail())
        .unwrap();
    assert_eq!(to_mail.value, smtpcm::package::ConstraintValue::Failure);
}

#[test]
fn editing_task_fields_inserts_omitted_attributes() {
    let Some(dir) = corpus() else { return };
    let path = find(&dir, "roanokecollege");
    let mut pkg = dtsx::load_package(&path).unwrap();
    pkg.set_property(
        r"\Package\People Search Directory Error Email.Properties[BCCLine]",
        "audit@example.org",
    )
    .unwrap();
    pkg.set_property(
        r"\Package\People Search Directory Error Email.Properties[Priority]",
        "low",
    )
    .unwrap();
    let saved = pkg.to_bytes().unwrap();
    let text = String::from_utf8(saved.clone()).unwrap();
    assert!(text.contains("SendMailTask:BCC=\"audit@example.org\""));
    let again = dtsx::load_bytes(saved, "x").unwrap();
    let d = again
        .executables
        .iter()
        .find_map(|e| e.send_mail())
        .unwrap();
    assert_eq!(
        (d.bcc.as_str(), d.priority.as_str()),
        ("audit@example.org", "Low")
    );
    assert!(matches!(
        again.executables[0].kind,
        ExecutableKind::SendMail(_)
    ));
}
