//! New variables in a format-3 (SSIS 2008) package: a package-scoped `User::` variable (the
//! designer's "New variable…") and a task-scoped `smtpcm::` setting, written in the shape SSIS
//! 2008 writes (`DTS:Property` children, the value after `IncludeInDebugDump`), where it puts
//! them (after the last variable, or in front of the owner's `<DTS:LoggingOptions>`); seen by
//! the library, `smtpcm inspect` and `smtpcm run --validate`, every other byte unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use smtpcm::dtsx;
use smtpcm::package::{Executable, Package, Variable, vartype};

/// Variables in the file (package and tasks), Send Mail task at package level.
const F2: &str = "avgrishin__Dts2008__RepInvDecl.dtsx";
/// No variable anywhere; a Send Mail task with a File connection body.
const F13: &str = "Vglukhov__PR_Euras__AvgSaldo_Stat.dtsx";

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/dtsx");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("corpus not found at ../shared/corpus/dtsx and CI=true");
    }
    eprintln!("skipped: ../shared not found");
    None
}

fn smtpcm(args: &[&str], path: &Path) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_smtpcm"))
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

fn send_mail_task(pkg: &mut Package) -> &mut Executable {
    pkg.executables
        .iter_mut()
        .find(|e| e.name == "Send Mail Task")
        .expect("the package-level Send Mail task")
}

/// The element SSIS 2008 writes for a string variable (copied from `User::CcLine` of F2).
fn variable_2008(namespace: &str, name: &str, dtsid: &str, value: &str) -> String {
    format!(
        "\n<DTS:Variable>\n<DTS:Property DTS:Name=\"Expression\"></DTS:Property>\n<DTS:Property DTS:Name=\"EvaluateAsExpression\">0</DTS:Property>\n<DTS:Property DTS:Name=\"Namespace\">{namespace}</DTS:Property>\n<DTS:Property DTS:Name=\"ReadOnly\">0</DTS:Property>\n<DTS:Property DTS:Name=\"RaiseChangedEvent\">0</DTS:Property>\n<DTS:Property DTS:Name=\"IncludeInDebugDump\">2345</DTS:Property><DTS:VariableValue DTS:DataType=\"8\">{value}</DTS:VariableValue>\n<DTS:Property DTS:Name=\"ObjectName\">{name}</DTS:Property>\n<DTS:Property DTS:Name=\"DTSID\">{dtsid}</DTS:Property>\n<DTS:Property DTS:Name=\"Description\"></DTS:Property>\n<DTS:Property DTS:Name=\"CreationName\"></DTS:Property></DTS:Variable>"
    )
}

fn task_setting<'a>(task: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    task["smtpcm"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s.to_string().contains(name))
        .unwrap_or_else(|| panic!("inspect shows no smtpcm::{name}: {task}"))
}

#[test]
fn first_variables_of_a_format_3_package_and_task_go_before_their_logging_options() {
    let Some(dir) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("AvgSaldo_Stat.dtsx");
    std::fs::copy(dir.join(F13), &path).unwrap();
    let original = std::fs::read_to_string(&path).unwrap();

    // The body comes from a variable that does not exist yet: validation says so.
    let mut pkg = dtsx::load_package(&path).unwrap();
    assert_eq!(pkg.format_version, 3);
    assert!(pkg.variables.iter().all(|v| v.namespace != "User"));
    let d = send_mail_task(&mut pkg).send_mail_mut().unwrap();
    d.message_source_type = "Variable".into();
    d.message_source = "User::MailBody".into();
    pkg.save(&path).unwrap();
    let edited = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        edited.replacen(
            "SendMailTask:MessageSourceType=\"Variable\" SendMailTask:MessageSource=\"User::MailBody\"",
            "SendMailTask:MessageSourceType=\"FileConnection\" SendMailTask:MessageSource=\"AvgSaldo_Stat\"",
            1
        ),
        original
    );
    let (_, report) = smtpcm(
        &["run", "--validate", "--skip-unsupported", "--json"],
        &path,
    );
    assert_eq!(report["exit_code"], "Failure", "{report}");
    assert!(report.to_string().contains("User::MailBody"), "{report}");

    // "New variable…" and two HTML settings of the task.
    let mut pkg = dtsx::load_package(&path).unwrap();
    let body = Variable::new("User", "MailBody", vartype::STRING, "<p>Saldo & co</p>");
    let body_id = body.dtsid.clone();
    pkg.variables.push(body);
    let task = send_mail_task(&mut pkg);
    let format = Variable::new("smtpcm", "BodyFormat", vartype::STRING, "Html");
    let max = Variable::new("smtpcm", "MaxHtmlBytes", vartype::STRING, "65536");
    let (format_id, max_id) = (format.dtsid.clone(), max.dtsid.clone());
    task.variables.push(format);
    task.variables.push(max);
    pkg.save(&path).unwrap();
    let saved = std::fs::read_to_string(&path).unwrap();

    // The library reads them back.
    let again = dtsx::load_package(&path).unwrap();
    let v = again.variable("User::MailBody").expect("the new variable");
    assert_eq!(v.value, "<p>Saldo & co</p>");
    assert_eq!(v.dtsid, body_id);
    let t = again
        .executables
        .iter()
        .find(|e| e.name == "Send Mail Task")
        .unwrap();
    let names: Vec<(String, String)> = t
        .variables
        .iter()
        .map(|v| (v.qualified_name(), v.value.clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("smtpcm::BodyFormat".to_owned(), "Html".to_owned()),
            ("smtpcm::MaxHtmlBytes".to_owned(), "65536".to_owned())
        ]
    );

    // The 2008 shape, in front of the owner's logging options; nothing else changed.
    let pkg_xml = variable_2008(
        "User",
        "MailBody",
        &body_id,
        "&lt;p&gt;Saldo &amp; co&lt;/p&gt;",
    );
    let task_xml = format!(
        "{}{}",
        variable_2008("smtpcm", "BodyFormat", &format_id, "Html"),
        variable_2008("smtpcm", "MaxHtmlBytes", &max_id, "65536")
    );
    assert_eq!(saved.matches(&pkg_xml).count(), 1, "{saved}");
    assert_eq!(saved.matches(&task_xml).count(), 1, "{saved}");
    let rest = saved.replacen(&pkg_xml, "", 1).replacen(&task_xml, "", 1);
    assert_eq!(rest, edited, "every other byte is unchanged");
    for xml in [&pkg_xml, &task_xml] {
        let at = saved.find(xml.as_str()).unwrap();
        assert!(
            saved[..at].ends_with("<DTS:Property DTS:Name=\"DelayValidation\">0</DTS:Property>"),
            "after the leading properties"
        );
        assert!(saved[at + xml.len()..].starts_with("\n<DTS:LoggingOptions>"));
    }
    // The package's variable comes before its first executable, the task's inside the task.
    let task_at = saved
        .find("<DTS:Property DTS:Name=\"ObjectName\">Send Mail Task")
        .unwrap();
    // (The package element itself is on the first line, after the XML declaration.)
    let first_child_exec = saved.find("\n<DTS:Executable ").unwrap();
    assert!(saved.find(&pkg_xml).unwrap() < first_child_exec);
    let task_xml_at = saved.find(&task_xml).unwrap();
    assert!(first_child_exec < task_xml_at && task_xml_at < task_at);
    assert!(
        !saved[task_xml_at..task_at].contains("<DTS:Executable "),
        "in the Send Mail task itself"
    );

    // `inspect` and `run --validate` see them: the body variable resolves now.
    let (code, report) = smtpcm(&["inspect", "--json"], &path);
    assert_eq!(code, 0, "{report}");
    let task = report[0]["report"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["path"] == "Package\\Send Mail Task")
        .unwrap()
        .clone();
    assert_eq!(task["message_source_type"], "Variable", "{task}");
    assert!(
        task_setting(&task, "BodyFormat")
            .to_string()
            .contains("Html")
    );
    assert!(
        task_setting(&task, "MaxHtmlBytes")
            .to_string()
            .contains("65536")
    );
    let (_, report) = smtpcm(
        &["run", "--validate", "--skip-unsupported", "--json"],
        &path,
    );
    let run = report["executables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "Package\\Send Mail Task")
        .unwrap();
    assert_eq!(run["status"], "Validated", "{report}");
    assert_eq!(report["exit_code"], "Success", "{report}");

    // A loaded format-3 variable's value is changed in place.
    let mut pkg = dtsx::load_package(&path).unwrap();
    pkg.variable_mut("User::MailBody").unwrap().value = "plain".into();
    pkg.save(&path).unwrap();
    let changed = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        changed,
        saved.replacen(
            &pkg_xml,
            &variable_2008("User", "MailBody", &body_id, "plain"),
            1
        )
    );
    let again = dtsx::load_package(&path).unwrap();
    assert_eq!(again.variable("User::MailBody").unwrap().value, "plain");
}

#[test]
fn new_format_3_variables_follow_the_last_variable_of_their_owner() {
    let Some(dir) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("RepInvDecl.dtsx");
    std::fs::copy(dir.join(F2), &path).unwrap();
    let original = std::fs::read_to_string(&path).unwrap();

    let mut pkg = dtsx::load_package(&path).unwrap();
    let last_package_variable = pkg
        .variables
        .iter()
        .rfind(|v| v.namespace == "User")
        .unwrap();
    let last_name = last_package_variable.qualified_name();
    let body = Variable::new("User", "Body", vartype::STRING, "Line 1\nLine 2");
    let body_id = body.dtsid.clone();
    pkg.variables.push(body);
    let template = Variable::new("smtpcm", "Template", vartype::STRING, "True");
    let template_id = template.dtsid.clone();
    send_mail_task(&mut pkg).variables.push(template);
    pkg.save(&path).unwrap();
    let saved = std::fs::read_to_string(&path).unwrap();

    let pkg_xml = variable_2008("User", "Body", &body_id, "Line 1\nLine 2");
    let task_xml = variable_2008("smtpcm", "Template", &template_id, "True");
    assert_eq!(saved.matches(&pkg_xml).count(), 1, "{saved}");
    assert_eq!(saved.matches(&task_xml).count(), 1, "{saved}");
    let rest = saved.replacen(&pkg_xml, "", 1).replacen(&task_xml, "", 1);
    assert_eq!(rest, original, "every other byte is unchanged");
    // After the package's last variable (the last of its run of variables).
    let at = saved.find(&pkg_xml).unwrap();
    assert!(saved[..at].ends_with("</DTS:Variable>"));
    assert!(saved[at + pkg_xml.len()..].starts_with("\n<DTS:LoggingOptions>"));
    let name = last_name.split("::").nth(1).unwrap();
    let prev = saved[..at].rfind("<DTS:Variable>").unwrap();
    assert!(saved[prev..at].contains(&format!(">{name}</DTS:Property>")));

    let again = dtsx::load_package(&path).unwrap();
    assert_eq!(
        again.variable("User::Body").unwrap().value,
        "Line 1\nLine 2"
    );
    let t = again
        .executables
        .iter()
        .find(|e| e.name == "Send Mail Task")
        .unwrap();
    assert_eq!(t.variables.len(), 1);
    assert_eq!(t.variables[0].qualified_name(), "smtpcm::Template");
    assert_eq!(t.variables[0].value, "True");
    let (code, report) = smtpcm(&["inspect", "--json"], &path);
    assert_eq!(code, 0, "{report}");
    let task = report[0]["report"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["path"] == "Package\\Send Mail Task")
        .unwrap()
        .clone();
    assert!(task_setting(&task, "Template").to_string().contains("True"));
}

#[test]
fn a_new_format_3_variable_keeps_its_expression() {
    let Some(dir) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("RepInvDecl.dtsx");
    std::fs::copy(dir.join(F2), &path).unwrap();

    let mut pkg = dtsx::load_package(&path).unwrap();
    let mut v = Variable::new("User", "Greeting", vartype::STRING, "");
    v.expression = "\"Hi <\" + @[User::CcLine] + \">\"".into();
    v.evaluate_as_expression = true;
    pkg.variables.push(v);
    pkg.save(&path).unwrap();
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(saved.contains(
        "\n<DTS:Variable>\n<DTS:Property DTS:Name=\"Expression\">\"Hi &lt;\" + @[User::CcLine] + \"&gt;\"</DTS:Property>\n<DTS:Property DTS:Name=\"EvaluateAsExpression\">-1</DTS:Property>\n"
    ));
    let again = dtsx::load_package(&path).unwrap();
    let g = again.variable("User::Greeting").unwrap();
    assert!(g.evaluate_as_expression);
    assert_eq!(g.expression, "\"Hi <\" + @[User::CcLine] + \">\"");
}
