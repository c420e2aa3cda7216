//! Removing a property expression that was in the loaded file: the lossless saver cuts that
//! `<DTS:PropertyExpression>` element (with the line break and indentation in front of it) and
//! copies every other byte through. And adding expressions to a format-3 package, inline as
//! SSIS 2008 writes them.

#[path = "support/corpus.rs"]
mod corpus_support;
use corpus_support::corpus;

use smtpcm::dtsx;
use smtpcm::package::Executable;

const F15: &str =
    "dataalias__Control__Integration__DataFactoryCall__AzureFunction_pg_CallDataFactory.dtsx";
const F2: &str = "avgrishin__Dts2008__RepInvDecl.dtsx";

/// `text` without the first `<DTS:PropertyExpression DTS:Name="NAME">EXPRESSION</...>` element
/// at or after `from`, and without the spaces and the one line break in front of it.
fn without_element(text: &str, from: usize, name: &str, expression: &str) -> String {
    let tail = format!("DTS:Name=\"{name}\">{expression}</DTS:PropertyExpression>");
    let at = from
        + text[from..]
            .find(&tail)
            .expect("the element is in the file");
    let start = text[..at].rfind("<DTS:PropertyExpression").unwrap();
    let end = at + tail.len();
    let mut cut = text[..start].trim_end_matches([' ', '\t']).len();
    if text[..cut].ends_with("\r\n") {
        cut -= 2;
    } else if text[..cut].ends_with('\n') {
        cut -= 1;
    }
    format!("{}{}", &text[..cut], &text[end..])
}

fn first_with_expression<'a>(execs: &[&'a Executable], property: &str) -> &'a Executable {
    execs
        .iter()
        .find(|e| e.property_expression(property).is_some())
        .copied()
        .expect("a task with that expression")
}

#[test]
fn removing_loaded_expressions_cuts_only_their_elements() {
    let Some(dir) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("Package.dtsx");
    std::fs::copy(dir.join(F15), &path).unwrap();
    let original = std::fs::read_to_string(&path).unwrap();

    let mut pkg = dtsx::load_package(&path).unwrap();
    // A task in an OnError handler with four expressions: drop the Subject one.
    let all = pkg.all_executables();
    let task = first_with_expression(&all, "Subject");
    let (task_id, subject) = (
        task.dtsid.clone(),
        task.property_expression("Subject").unwrap().to_owned(),
    );
    let left: Vec<String> = task
        .property_expressions
        .iter()
        .filter(|p| p.property != "Subject")
        .map(|p| p.property.clone())
        .collect();
    assert_eq!(left.len(), 3);
    find_exec(&mut pkg, &task_id)
        .property_expressions
        .retain(|p| p.property != "Subject");
    // The connection manager's only expression (its ConnectionString).
    let cm = pkg
        .connections
        .iter_mut()
        .find(|c| c.property_expression("ConnectionString").is_some())
        .unwrap();
    let cm_expr = cm
        .property_expression("ConnectionString")
        .unwrap()
        .to_owned();
    let cm_id = cm.dtsid.clone();
    cm.property_expressions.clear();
    pkg.save(&path).unwrap();

    let saved = std::fs::read_to_string(&path).unwrap();
    let task_at = original.find(&task_id).unwrap();
    let expected = without_element(&original, task_at, "Subject", &subject);
    let expected = without_element(&expected, 0, "ConnectionString", &cm_expr);
    assert_eq!(saved, expected, "only the two elements were cut");
    assert!(saved.len() < original.len());

    let again = dtsx::load_package(&path).unwrap();
    let all = again.all_executables();
    let t = all.iter().find(|e| e.dtsid == task_id).unwrap();
    assert_eq!(t.property_expression("Subject"), None);
    let kept: Vec<&str> = t
        .property_expressions
        .iter()
        .map(|p| p.property.as_str())
        .collect();
    assert_eq!(kept, left);
    let c = again.connection(&cm_id).unwrap();
    assert!(c.property_expressions.is_empty());
    // And it saves byte-identical again.
    assert_eq!(again.to_bytes().unwrap(), saved.as_bytes());
}

#[test]
fn removing_an_expression_from_a_format_3_package_cuts_only_it() {
    let Some(dir) = corpus() else { return };
    let bytes = std::fs::read(dir.join(F2)).unwrap();
    let original = String::from_utf8(bytes.clone()).unwrap();
    let mut pkg = dtsx::load_bytes(bytes, "f2.dtsx").unwrap();
    let all = pkg.all_executables();
    let task = first_with_expression(&all, "ToLine");
    let id = task.dtsid.clone();
    let to = task.property_expression("ToLine").unwrap().to_owned();
    find_exec(&mut pkg, &id)
        .property_expressions
        .retain(|p| p.property != "ToLine");
    let out = String::from_utf8(pkg.to_bytes().unwrap()).unwrap();
    assert_eq!(out, without_element(&original, 0, "ToLine", &to));
    let again = dtsx::load_str(&out, "f2.dtsx").unwrap();
    let all = again.all_executables();
    let t = all.iter().find(|e| e.dtsid == id).unwrap();
    assert_eq!(t.property_expression("ToLine"), None);
    assert_eq!(t.property_expressions.len(), 3);
}

/// The executable with DTSID `id`, anywhere in the package (event handlers included).
fn find_exec<'a>(
    pkg: &'a mut smtpcm::package::Package,
    id: &str,
) -> &'a mut smtpcm::package::Executable {
    fn walk<'a>(
        list: &'a mut [Executable],
        handlers: &'a mut [smtpcm::package::EventHandler],
        id: &str,
    ) -> Option<&'a mut Executable> {
        for e in list.iter_mut() {
            if e.dtsid == id {
                return Some(e);
            }
            if let Some(f) = walk(&mut e.executables, &mut e.event_handlers, id) {
                return Some(f);
            }
        }
        for h in handlers.iter_mut() {
            if let Some(f) = walk(&mut h.executables, &mut [], id) {
                return Some(f);
            }
        }
        None
    }
    walk(&mut pkg.executables, &mut pkg.event_handlers, id).expect("the executable")
}

#[test]
fn format_3_expressions_are_added_inline_where_ssis_2008_puts_them() {
    let Some(dir) = corpus() else { return };
    let bytes = std::fs::read(dir.join(F2)).unwrap();
    let original = String::from_utf8(bytes.clone()).unwrap();
    let mut pkg = dtsx::load_bytes(bytes, "f2.dtsx").unwrap();
    let all = pkg.all_executables();
    let id = first_with_expression(&all, "ToLine").dtsid.clone();
    find_exec(&mut pkg, &id)
        .property_expressions
        .push(smtpcm::package::PropertyExpression::new(
            "Subject",
            "\"Check \" + @[User::ToLine]",
        ));
    let cm = pkg.connections.get_mut("SMTP Connection Manager").unwrap();
    assert!(cm.property_expressions.is_empty());
    cm.property_expressions
        .push(smtpcm::package::PropertyExpression::new(
            "ConnectionString",
            "@[User::Smtp]",
        ));
    let out = String::from_utf8(pkg.to_bytes().unwrap()).unwrap();
    let task_old =
        "<DTS:PropertyExpression DTS:Name=\"ToLine\">@[User::ToLine]</DTS:PropertyExpression>";
    let task_new = format!(
        "{task_old}<DTS:PropertyExpression DTS:Name=\"Subject\">\"Check \" + @[User::ToLine]</DTS:PropertyExpression>"
    );
    let cm_old = "<DTS:Property DTS:Name=\"CreationName\">SMTP</DTS:Property><DTS:ObjectData>";
    let cm_new = "<DTS:Property DTS:Name=\"CreationName\">SMTP</DTS:Property><DTS:PropertyExpression DTS:Name=\"ConnectionString\">@[User::Smtp]</DTS:PropertyExpression><DTS:ObjectData>";
    assert_eq!(original.matches(task_old).count(), 1);
    assert_eq!(original.matches(cm_old).count(), 1);
    let expected = original
        .replacen(task_old, &task_new, 1)
        .replacen(cm_old, cm_new, 1);
    assert_eq!(out, expected);
    let again = dtsx::load_str(&out, "f2.dtsx").unwrap();
    let all = again.all_executables();
    let t = all.iter().find(|e| e.dtsid == id).unwrap();
    assert_eq!(
        t.property_expression("Subject"),
        Some("\"Check \" + @[User::ToLine]")
    );
    assert_eq!(
        again
            .connection("SMTP Connection Manager")
            .unwrap()
            .property_expression("ConnectionString"),
        Some("@[User::Smtp]")
    );
}
