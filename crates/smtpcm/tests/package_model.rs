//! The object model: new packages, connection managers, property paths, diagnostics.

use smtpcm::dtsx::{self, LoadError, SaveError};
use smtpcm::package::{ConnectionKind, Package, PathError, Variable};

const SMALL_F8: &str = r#"<?xml version="1.0"?>
<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts"
  DTS:refId="Package"
  DTS:CreationName="Microsoft.Package"
  DTS:DTSID="{F8DE33C0-868B-4372-9115-3BC60966007F}"
  DTS:ExecutableType="Microsoft.Package"
  DTS:ObjectName="Small">
  <DTS:Property
    DTS:Name="PackageFormatVersion">8</DTS:Property>
  <DTS:Variables>
    <DTS:Variable
      DTS:CreationName=""
      DTS:DTSID="{14B75304-E0FF-491A-AC7A-03EB213AB2B6}"
      DTS:IncludeInDebugDump="2345"
      DTS:Namespace="User"
      DTS:ObjectName="To">
      <DTS:VariableValue
        DTS:DataType="8">a@example.org</DTS:VariableValue>
    </DTS:Variable>
  </DTS:Variables>
  <DTS:Executables>
    <DTS:Executable
      DTS:refId="Package\Mail"
      DTS:CreationName="Microsoft.SendMailTask"
      DTS:DTSID="{9DC53CE5-74F8-464B-9A6E-94988DF44071}"
      DTS:ExecutableType="Microsoft.SendMailTask"
      DTS:ObjectName="Mail">
      <DTS:Variables />
      <DTS:ObjectData>
        <SendMailTask:SendMailTaskData
          SendMailTask:SMTPServer="{00000000-0000-0000-0000-00000000DEAD}"
          SendMailTask:From="f@example.org"
          SendMailTask:Subject="Hi" xmlns:SendMailTask="www.microsoft.com/sqlserver/dts/tasks/sendmailtask" />
      </DTS:ObjectData>
    </DTS:Executable>
  </DTS:Executables>
</DTS:Executable>"#;

#[test]
fn new_package_saves_and_reloads_identically() {
    let mut pkg = Package::new("Report & Co");
    let id = {
        let cm = pkg.connections.add("SMTP");
        assert_eq!(
            cm.connection_string,
            "SmtpServer=;UseWindowsAuthentication=False;EnableSsl=False;"
        );
        assert_eq!(cm.kind, ConnectionKind::Smtp);
        assert!(
            cm.dtsid.starts_with('{')
                && cm.dtsid.ends_with('}')
                && cm.dtsid == cm.dtsid.to_uppercase()
        );
        cm.dtsid.clone()
    };
    pkg.set_property(
        r"\Package.Connections[SMTP Connection Manager].Properties[SmtpServer]",
        "127.0.0.1:2525",
    )
    .unwrap();
    let bytes = pkg.to_bytes().unwrap();
    assert!(
        bytes.starts_with(&[0xEF, 0xBB, 0xBF]),
        "BOM like the designer"
    );
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    assert!(
        text.contains(
            "\r\n  <DTS:Property\r\n    DTS:Name=\"PackageFormatVersion\">8</DTS:Property>"
        )
    );
    assert!(text.contains("DTS:ObjectName=\"Report &amp; Co\""));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.dtsx");
    pkg.save(&path).unwrap();
    let again = dtsx::load_package(&path).unwrap();
    assert_eq!(again.name, "Report & Co");
    assert_eq!(again.format_version, 8);
    let cm = again.connections.get(&id.to_lowercase()).unwrap();
    assert_eq!(
        cm.connection_string,
        "SmtpServer=127.0.0.1:2525;UseWindowsAuthentication=False;EnableSsl=False;"
    );
    assert_eq!(
        cm.ref_id,
        "Package.ConnectionManagers[SMTP Connection Manager]"
    );
    // Loaded from its own bytes, it saves byte-identical.
    assert_eq!(again.to_bytes().unwrap(), bytes);
}

#[test]
fn adding_a_connection_to_a_loaded_package_keeps_the_rest() {
    let mut pkg = dtsx::load_str(SMALL_F8, "small.dtsx").unwrap();
    pkg.connections.add("SMTP").name = "Relay".into();
    let bytes = pkg.to_bytes().unwrap();
    let text = String::from_utf8(bytes).unwrap();
    // Everything before the insertion point is untouched.
    let at = text.find("\n  <DTS:ConnectionManagers>").unwrap();
    assert_eq!(&text[..at], &SMALL_F8[..at]);
    assert!(text[at..].contains("<DTS:Variables>"));
    let again = dtsx::load_str(&text, "again").unwrap();
    assert_eq!(
        again.connections.get("relay").unwrap().kind,
        ConnectionKind::Smtp
    );
    assert_eq!(again.variable("User::To").unwrap().value, "a@example.org");
}

#[test]
fn dangling_smtp_reference_is_not_a_load_error() {
    let pkg = dtsx::load_str(SMALL_F8, "small.dtsx").unwrap();
    let task = pkg.executables.iter().find_map(|e| e.send_mail()).unwrap();
    assert_eq!(
        task.smtp_server_ref,
        "{00000000-0000-0000-0000-00000000DEAD}"
    );
    assert!(pkg.connection(&task.smtp_server_ref).is_none());
}

#[test]
fn property_paths_get_and_set() {
    let mut pkg = dtsx::load_str(SMALL_F8, "small.dtsx").unwrap();
    assert_eq!(
        pkg.get_property(r"\Package.Variables[User::To].Properties[Value]")
            .unwrap(),
        "a@example.org"
    );
    pkg.set_property(r"\PACKAGE.VARIABLES[user::to].VALUE", "b@example.org")
        .unwrap();
    pkg.set_property(r"\Package\Mail.Properties[Subject]", "Changed")
        .unwrap();
    pkg.set_property(r"\Package\mail.Properties[ToLine]", "c@example.org")
        .unwrap();
    assert_eq!(
        pkg.get_property(r"\Package\Mail.Properties[subject]")
            .unwrap(),
        "Changed"
    );
    let text = String::from_utf8(pkg.to_bytes().unwrap()).unwrap();
    let expected = SMALL_F8
        .replace(">a@example.org<", ">b@example.org<")
        .replace(
            "Subject=\"Hi\"",
            "Subject=\"Hi\"\n          SendMailTask:To=\"c@example.org\"",
        )
        .replace("Subject=\"Hi\"", "Subject=\"Changed\"");
    assert_eq!(text, expected);

    let mut pkg = Package::new("P");
    pkg.connections.add("SMTP");
    let cm = r"\Package.Connections[SMTP Connection Manager]";
    pkg.set_property(&format!("{cm}.Properties[EnableSsl]"), "true")
        .unwrap();
    pkg.set_property(&format!("{cm}.Properties[Timeout]"), "30")
        .unwrap();
    pkg.set_property(&format!("{cm}.Properties[Description]"), "relay")
        .unwrap();
    assert_eq!(
        pkg.get_property(&format!("{cm}.Properties[ConnectionString]"))
            .unwrap(),
        "SmtpServer=;UseWindowsAuthentication=False;EnableSsl=True;Timeout=30;"
    );
    assert!(matches!(
        pkg.set_property(&format!("{cm}.Properties[Timeout]"), "soon"),
        Err(PathError::BadValue { .. })
    ));
}

#[test]
fn unresolved_path_names_the_segment() {
    let mut pkg = dtsx::load_str(SMALL_F8, "small.dtsx").unwrap();
    match pkg.set_property(r"\Package.Connections[Nowhere].Properties[SmtpServer]", "x") {
        Err(PathError::NotFound { segment, .. }) => assert_eq!(segment, "Nowhere"),
        other => panic!("{other:?}"),
    }
    match pkg.get_property(r"\Package\Mail.Properties[Colour]") {
        Err(PathError::NotFound { segment, .. }) => assert_eq!(segment, "Colour"),
        other => panic!("{other:?}"),
    }
    match pkg.get_property(r"\Package\Nope\Mail.Properties[Subject]") {
        Err(PathError::NotFound { segment, .. }) => assert_eq!(segment, "Nope"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        pkg.get_property(r"Package.Bogus"),
        Err(PathError::Syntax { .. })
    ));
}

#[test]
fn malformed_xml_reports_file_line_column() {
    let bad = SMALL_F8.replace("<DTS:Variables />", "<DTS:Variables>");
    let err = dtsx::load_str(&bad, "broken.dtsx").unwrap_err();
    let (line, _col) = err.position().unwrap();
    assert!(matches!(err, LoadError::Xml { .. }));
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("broken.dtsx:{line}:")), "{msg}");
    assert!(line > 20, "{msg}");
}

#[test]
fn wrong_root_is_a_structure_error_with_position() {
    let err = dtsx::load_str("<?xml version=\"1.0\"?>\n<Package/>", "x.dtsx").unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Structure {
                line: 2,
                column: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn unsupported_edits_are_refused_not_dropped() {
    let mut pkg = dtsx::load_str(SMALL_F8, "small.dtsx").unwrap();
    // A new executable that is not a Send Mail task cannot be written.
    pkg.add_send_mail_task(None, "Other").unwrap().kind = smtpcm::package::ExecutableKind::Sequence;
    match pkg.to_bytes() {
        Err(SaveError::Unsupported { what, .. }) => assert!(what.contains("Other"), "{what}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn task_scoped_variable_is_inserted_into_the_task() {
    let mut pkg = dtsx::load_str(SMALL_F8, "small.dtsx").unwrap();
    pkg.executables[0]
        .variables
        .push(Variable::new("smtpcm", "BodyFormat", 8, "Html"));
    let out = String::from_utf8(pkg.to_bytes().unwrap()).unwrap();
    // Only the task's `<DTS:Variables />` changed, opened up around the new variable.
    let at = SMALL_F8.find("      <DTS:Variables />").unwrap();
    assert!(out.starts_with(&SMALL_F8[..at]));
    let rest = &SMALL_F8[at + "      <DTS:Variables />".len()..];
    assert!(out.ends_with(rest), "{out}");
    let inserted = &out[at..out.len() - rest.len()];
    assert!(
        inserted.starts_with(
            "      <DTS:Variables>\n        <DTS:Variable\n          DTS:CreationName=\"\""
        ),
        "{inserted}"
    );
    assert!(inserted.contains("DTS:Namespace=\"smtpcm\""), "{inserted}");
    assert!(
        inserted.ends_with("</DTS:Variable>\n      </DTS:Variables>"),
        "{inserted}"
    );
    let again = dtsx::load_str(&out, "small.dtsx").unwrap();
    let v = &again.executables[0].variables[0];
    assert_eq!(
        (v.namespace.as_str(), v.name.as_str(), v.value.as_str()),
        ("smtpcm", "BodyFormat", "Html")
    );
    // A second one goes after the first; the reloaded package saves byte-identical.
    assert_eq!(again.to_bytes().unwrap(), out.as_bytes());
    let mut again = again;
    again.executables[0]
        .variables
        .push(Variable::new("smtpcm", "Template", 8, "True"));
    let out2 = String::from_utf8(again.to_bytes().unwrap()).unwrap();
    let third = dtsx::load_str(&out2, "small.dtsx").unwrap();
    let names: Vec<_> = third.executables[0]
        .variables
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(names, ["BodyFormat", "Template"]);
}

#[test]
fn project_folder_brings_conmgr_and_params() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Small.dtsx"), SMALL_F8).unwrap();
    std::fs::write(
        dir.path().join("SMTP Connection Manager.conmgr"),
        r#"<?xml version="1.0"?>
<DTS:ConnectionManager xmlns:DTS="www.microsoft.com/SqlServer/Dts"
  DTS:ObjectName="SMTP Connection Manager"
  DTS:DTSID="{00000000-0000-0000-0000-00000000DEAD}"
  DTS:CreationName="SMTP">
  <DTS:ObjectData>
    <SmtpConnectionManager
      ConnectionString="SmtpServer=mail.example.org;UseWindowsAuthentication=False;EnableSsl=False;" />
  </DTS:ObjectData>
</DTS:ConnectionManager>"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Project.params"),
        r#"<?xml version="1.0"?>
<SSIS:Parameters xmlns:SSIS="www.microsoft.com/SqlServer/SSIS">
  <SSIS:Parameter SSIS:Name="prj_conn_SMTP">
    <SSIS:Properties>
      <SSIS:Property SSIS:Name="ID">{3C051037-4D22-43A3-88E0-895932089CAC}</SSIS:Property>
      <SSIS:Property SSIS:Name="Sensitive">0</SSIS:Property>
      <SSIS:Property SSIS:Name="Value">SmtpServer=relay;UseWindowsAuthentication=False;EnableSsl=False;</SSIS:Property>
      <SSIS:Property SSIS:Name="DataType">18</SSIS:Property>
    </SSIS:Properties>
  </SSIS:Parameter>
</SSIS:Parameters>"#,
    )
    .unwrap();
    let project = dtsx::load_project(dir.path()).unwrap();
    assert_eq!(project.parameters.len(), 1);
    assert_eq!(
        project.parameters[0].data_type,
        smtpcm::package::vartype::STRING
    );
    let (_, pkg) = &project.packages[0];
    // The task's dangling-in-package reference resolves to the project connection manager.
    let task = pkg.executables.iter().find_map(|e| e.send_mail()).unwrap();
    let cm = pkg.connection(&task.smtp_server_ref).unwrap();
    assert_eq!(cm.name, "SMTP Connection Manager");
    assert_eq!(
        pkg.get_property(r"\Package.Variables[$Project::prj_conn_SMTP]")
            .unwrap(),
        "SmtpServer=relay;UseWindowsAuthentication=False;EnableSsl=False;"
    );
    let scope = smtpcm::expr::PackageScope::new(pkg);
    let v = smtpcm::expr::evaluate("@[$Project::prj_conn_SMTP]", &scope).unwrap();
    assert!(v.to_display_string().starts_with("SmtpServer=relay;"));

    // Editing the .conmgr changes only its connection string bytes.
    let (path, file) = &project.connection_files[0];
    let mut file = file.clone();
    file.connection.connection_string =
        "SmtpServer=127.0.0.1;UseWindowsAuthentication=False;EnableSsl=False;".into();
    let before = std::fs::read_to_string(path).unwrap();
    let after = String::from_utf8(file.to_bytes().unwrap()).unwrap();
    assert_eq!(
        after,
        before.replace("SmtpServer=mail.example.org;", "SmtpServer=127.0.0.1;")
    );
}

#[test]
fn a_value_xml_cannot_hold_is_refused_at_save_naming_field_and_character() {
    let mut pkg = smtpcm::package::Package::new("P");
    pkg.connections.add("SMTP");
    let loaded = smtpcm::dtsx::load_bytes(pkg.to_bytes().unwrap(), "p.dtsx").unwrap();
    for (bad, code) in [("a\u{1}b", "U+0001"), ("x\u{FFFF}", "U+FFFF")] {
        let mut edited = loaded.clone();
        edited
            .connections
            .get_mut("SMTP Connection Manager")
            .unwrap()
            .connection_string = format!("SmtpServer={bad};");
        let err = edited.to_bytes().unwrap_err();
        assert!(
            matches!(err, smtpcm::dtsx::SaveError::NotXmlChar { .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.starts_with("p.dtsx: "), "{msg}");
        assert!(
            msg.contains("connection_string") && msg.contains(code),
            "{msg}"
        );
    }
    // Tab, CR and LF are fine: they are written as character references.
    let mut edited = loaded.clone();
    edited.connections.iter_mut().next().unwrap().description = "a\tb\r\nc".into();
    let again = smtpcm::dtsx::load_bytes(edited.to_bytes().unwrap(), "p.dtsx").unwrap();
    assert_eq!(
        again.connections.iter().next().unwrap().description,
        "a\tb\r\nc"
    );
}

/// Issue 9: one 100 KB internal entity referenced 20,000 times made `inspect` take 30 s and
/// 5.9 GB. No package needs a DTD, so any DOCTYPE is refused before anything is expanded.
#[test]
fn doctype_is_refused_in_packages_conmgr_and_project_params() {
    let entity = "x".repeat(100_000);
    let refs = "&big;".repeat(20_000);
    let package = format!(
        "<?xml version=\"1.0\"?>\n<!-- generated -->\n<!DOCTYPE x [<!ENTITY big \"{entity}\">]>\n\
         <DTS:Executable xmlns:DTS=\"www.microsoft.com/SqlServer/Dts\" DTS:ObjectName=\"P\">\
         <DTS:Property DTS:Name=\"Description\">{refs}</DTS:Property></DTS:Executable>"
    );
    let err = dtsx::load_str(&package, "evil.dtsx").unwrap_err();
    assert_eq!(
        err.to_string(),
        "evil.dtsx:3:1: DOCTYPE declarations are not allowed in packages"
    );

    let conmgr =
        "<!DOCTYPE a><DTS:ConnectionManager xmlns:DTS=\"www.microsoft.com/SqlServer/Dts\"/>";
    let err = dtsx::conmgr_from_bytes(conmgr.as_bytes().to_vec(), "evil.conmgr").unwrap_err();
    assert_eq!(
        err.to_string(),
        "evil.conmgr:1:1: DOCTYPE declarations are not allowed in .conmgr files"
    );

    let params = "\u{feff}<?xml version=\"1.0\"?>\n  <!DOCTYPE a>\n<SSIS:Parameters xmlns:SSIS=\"www.microsoft.com/SqlServer/SSIS\"/>";
    let err = dtsx::load_params_str(params, "Project.params").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Project.params:2:3: DOCTYPE declarations are not allowed in Project.params files"
    );
}

#[test]
fn files_read_whole_are_capped() {
    // /dev/zero never ends: without a cap it is read until memory runs out.
    let err = dtsx::load_package("/dev/zero").unwrap_err();
    assert!(matches!(err, LoadError::TooLarge { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("/dev/zero: larger than 268435456 bytes"),
        "{err}"
    );
    let err = dtsx::load_conmgr("/dev/zero").unwrap_err();
    assert!(matches!(err, LoadError::TooLarge { .. }), "{err}");
    let err = dtsx::load_params("/dev/zero").unwrap_err();
    assert!(matches!(err, LoadError::TooLarge { .. }), "{err}");
}

/// Issue 8: `/Set` on an SMTP sub-property goes through the connection-string tokenizer, so a
/// quoted value holding `;` survives and other keys keep their spelling and order.
#[test]
fn set_on_a_sub_property_keeps_quoted_values_and_spelling() {
    let mut pkg = Package::new("P");
    pkg.connections.add("SMTP").connection_string =
        "server = old ;PasswordFile=\"/srv/a;b\";enablessl=false;Note='x;y'".into();
    let path = r"\Package.Connections[SMTP Connection Manager].Properties[EnableSsl]";
    pkg.set_property(path, "true").unwrap();
    let cs = &pkg
        .connections
        .get("SMTP Connection Manager")
        .unwrap()
        .connection_string;
    assert_eq!(
        cs,
        "server = old ;PasswordFile=\"/srv/a;b\";enablessl=True;Note='x;y'"
    );
    let server = r"\Package.Connections[SMTP Connection Manager].Properties[SmtpServer]";
    assert_eq!(pkg.get_property(server).unwrap(), "old");
    pkg.set_property(server, "new;relay").unwrap();
    assert_eq!(
        pkg.connections
            .get("SMTP Connection Manager")
            .unwrap()
            .connection_string,
        "server = \"new;relay\" ;PasswordFile=\"/srv/a;b\";enablessl=True;Note='x;y'"
    );
    let timeout = r"\Package.Connections[SMTP Connection Manager].Properties[Timeout]";
    assert!(matches!(
        pkg.set_property(timeout, "0"),
        Err(PathError::BadValue { .. })
    ));
}

#[test]
fn expression_added_to_a_task_that_has_some_follows_the_last_one() {
    let first = "\n      <DTS:PropertyExpression\n        DTS:Name=\"Subject\">\"Hi \" + @[User::To]</DTS:PropertyExpression>";
    let at = SMALL_F8.find("      <DTS:Variables />").unwrap() + "      <DTS:Variables />".len();
    let src = format!("{}{first}{}", &SMALL_F8[..at], &SMALL_F8[at..]);
    let mut pkg = dtsx::load_str(&src, "small.dtsx").unwrap();
    pkg.executables[0]
        .property_expressions
        .push(smtpcm::package::PropertyExpression::new(
            "ToLine",
            "@[User::To] + \";b@x\"",
        ));
    let out = String::from_utf8(pkg.to_bytes().unwrap()).unwrap();
    let end = at + first.len();
    let added = "\n      <DTS:PropertyExpression\n        DTS:Name=\"ToLine\">@[User::To] + \";b@x\"</DTS:PropertyExpression>";
    assert_eq!(out, format!("{}{added}{}", &src[..end], &src[end..]));
    let again = dtsx::load_str(&out, "small.dtsx").unwrap();
    let names: Vec<_> = again.executables[0]
        .property_expressions
        .iter()
        .map(|p| (p.property.as_str(), p.expression.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("Subject", "\"Hi \" + @[User::To]"),
            ("ToLine", "@[User::To] + \";b@x\"")
        ]
    );
    // Removing a loaded expression cuts its element, not silently keeps it.
    let mut again = again;
    again.executables[0].property_expressions.remove(0);
    let out = String::from_utf8(again.to_bytes().unwrap()).unwrap();
    assert!(!out.contains("DTS:Name=\"Subject\""), "{out}");
    let third = dtsx::load_str(&out, "small.dtsx").unwrap();
    let left: Vec<(&str, &str)> = third.executables[0]
        .property_expressions
        .iter()
        .map(|p| (p.property.as_str(), p.expression.as_str()))
        .collect();
    assert_eq!(left, [("ToLine", "@[User::To] + \";b@x\"")]);
}

#[test]
fn first_expression_of_a_loaded_task_goes_after_its_variables() {
    let mut pkg = dtsx::load_str(SMALL_F8, "small.dtsx").unwrap();
    pkg.executables[0]
        .property_expressions
        .push(smtpcm::package::PropertyExpression::new(
            "Subject", "\"a<b\"",
        ));
    let out = String::from_utf8(pkg.to_bytes().unwrap()).unwrap();
    let at = SMALL_F8.find("      <DTS:Variables />").unwrap() + "      <DTS:Variables />".len();
    let added = "\n      <DTS:PropertyExpression\n        DTS:Name=\"Subject\">\"a&lt;b\"</DTS:PropertyExpression>";
    assert_eq!(
        out,
        format!("{}{added}{}", &SMALL_F8[..at], &SMALL_F8[at..])
    );
    let again = dtsx::load_str(&out, "small.dtsx").unwrap();
    assert_eq!(
        again.executables[0].property_expressions[0].expression,
        "\"a<b\""
    );
    assert_eq!(again.to_bytes().unwrap(), out.as_bytes());
}

#[test]
fn first_expression_of_a_loaded_connection_goes_before_its_object_data() {
    let cm = "  <DTS:ConnectionManagers>\n    <DTS:ConnectionManager\n      DTS:refId=\"Package.ConnectionManagers[SMTP]\"\n      DTS:CreationName=\"SMTP\"\n      DTS:DTSID=\"{00000000-0000-0000-0000-00000000DEAD}\"\n      DTS:ObjectName=\"SMTP\">\n      <DTS:ObjectData>\n        <SmtpConnectionManager\n          ConnectionString=\"SmtpServer=a;UseWindowsAuthentication=False;EnableSsl=False;\" />\n      </DTS:ObjectData>\n    </DTS:ConnectionManager>\n  </DTS:ConnectionManagers>\n";
    let at = SMALL_F8.find("  <DTS:Variables>").unwrap();
    let src = format!("{}{cm}{}", &SMALL_F8[..at], &SMALL_F8[at..]);
    let mut pkg = dtsx::load_str(&src, "small.dtsx").unwrap();
    pkg.connections
        .get_mut("SMTP")
        .unwrap()
        .property_expressions
        .push(smtpcm::package::PropertyExpression::new(
            "SmtpServer",
            "@[User::To]",
        ));
    let out = String::from_utf8(pkg.to_bytes().unwrap()).unwrap();
    let anchor = "DTS:ObjectName=\"SMTP\">";
    let ins = src.find(anchor).unwrap() + anchor.len();
    let added = "\n      <DTS:PropertyExpression\n        DTS:Name=\"SmtpServer\">@[User::To]</DTS:PropertyExpression>";
    assert_eq!(out, format!("{}{added}{}", &src[..ins], &src[ins..]));
    let again = dtsx::load_str(&out, "small.dtsx").unwrap();
    assert_eq!(
        again.connections.as_slice()[0].property_expressions[0].expression,
        "@[User::To]"
    );
}

#[test]
fn new_task_writes_its_task_scoped_variables() {
    let mut pkg = Package::new("P");
    pkg.add_send_mail_task(None, "Mail")
        .unwrap()
        .variables
        .push(Variable::new("smtpcm", "BodyFormat", 8, "Html"));
    let bytes = pkg.to_bytes().unwrap();
    let again = dtsx::load_bytes(bytes.clone(), "p.dtsx").unwrap();
    let v = &again.executables[0].variables;
    assert_eq!(v.len(), 1);
    assert_eq!(
        (v[0].namespace.as_str(), v[0].value.as_str()),
        ("smtpcm", "Html")
    );
    assert_eq!(again.to_bytes().unwrap(), bytes, "reloaded saves identical");
}
