//! Structural edits for the lossless saver: connection managers, Send Mail tasks and variables
//! (package or task scope) added to or removed from a loaded package.
//!
//! Like every other save, these are splices into the original bytes: a new element is written
//! where SSIS would put it (after the last sibling, or into an empty `<DTS:Executables />`),
//! indented like its siblings and in the shape SSIS writes for the package's format (3: see
//! `tree3`; 6: the assembly-qualified task type of SSIS 2012; 8: the `Microsoft.SendMailTask`
//! moniker). A
//! removed element is cut out together with the line break and indentation in front of it.
//! Every byte outside those ranges is copied through.

use std::collections::HashSet;
use std::ops::Range;

use roxmltree::{Document, Node};

use super::SaveError;
use super::load::DTS_NS;
use super::source::{Splice, escape_attr, escape_text};
use crate::package::{Executable, ExecutableKind, Package, SourceDoc, Variable};

const CONTACT_8: &str = "Send Mail Task; Microsoft Corporation; SQL Server 2016; © 2015 Microsoft Corporation; All Rights Reserved;http://www.microsoft.com/sql/support/default.asp;1";
/// SQL Server 2008's Send Mail task contact, written in formats 3 and 6.
pub(super) const CONTACT_2008: &str = "Send Mail Task; Microsoft Corporation; Microsoft SQL Server 2008; © 2007 Microsoft Corporation; All Rights Reserved;http://www.microsoft.com/sql/support/default.asp;1";
pub(super) const SEND_MAIL_NS: &str = "www.microsoft.com/sqlserver/dts/tasks/sendmailtask";

pub(super) fn unsupported(doc: &SourceDoc, what: String) -> SaveError {
    SaveError::Unsupported {
        origin: doc.origin_name.clone(),
        what,
    }
}

pub(super) fn is_dts(n: Node, name: &str) -> bool {
    n.is_element() && n.has_tag_name((DTS_NS, name))
}

/// The whitespace in front of the line `pos` is on.
fn indent_at(text: &str, pos: usize) -> String {
    let line_start = text[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
    text[line_start..pos]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// The range to cut for a removed element: the element and the whitespace before it, back to
/// (and including) the previous line break.
pub(super) fn cut_range(text: &str, r: Range<usize>) -> Range<usize> {
    let before = &text[..r.start];
    let ws = before.len() - before.trim_end_matches([' ', '\t']).len();
    let mut start = r.start - ws;
    if text[..start].ends_with("\r\n") {
        start -= 2;
    } else if text[..start].ends_with('\n') {
        start -= 1;
    }
    start..r.end
}

/// Splices for added and removed connection managers and Send Mail tasks.
pub(crate) fn splices(doc: &SourceDoc, pkg: &Package) -> Result<Vec<Splice>, SaveError> {
    let new_tasks = pkg.all_executables().iter().any(|e| e.origin.is_none());
    let new_vars = pkg.variables.iter().any(|v| v.origin.is_none());
    // Task-scoped variables added to a loaded task (a new task writes its own).
    let new_task_vars = pkg
        .all_executables()
        .iter()
        .any(|e| e.origin.is_some() && e.variables.iter().any(|v| v.origin.is_none()));
    let kept_cms: HashSet<usize> = pkg
        .connections
        .iter()
        .filter_map(|c| c.origin.as_ref().map(|o| o.element.start))
        .collect();
    let loaded_cms = pkg.origin.as_ref().map(|o| o.list_len).unwrap_or(0);
    let removed_cm = kept_cms.len() < loaded_cms;
    let kept_execs = kept_executables(pkg);
    if !new_tasks
        && !new_vars
        && !new_task_vars
        && !removed_cm
        && !executables_removed(doc, &kept_execs)?
    {
        return Ok(Vec::new());
    }
    let text = std::str::from_utf8(&doc.bytes[doc.prefix_len..])
        .map_err(|_| unsupported(doc, "the tree (source is not UTF-8)".into()))?;
    let xml =
        parse(text).ok_or_else(|| unsupported(doc, "the tree (source no longer parses)".into()))?;
    let base = doc.prefix_len;
    let root = xml.root_element();
    let mut out = Vec::new();
    // Removed connection managers.
    if removed_cm {
        // Inside <DTS:ConnectionManagers> (format 6, 8) or children of the package (format 3).
        let in_file = root.children().flat_map(|c| {
            if is_dts(c, "ConnectionManagers") {
                c.children()
                    .filter(|g| is_dts(*g, "ConnectionManager"))
                    .collect()
            } else if is_dts(c, "ConnectionManager") {
                vec![c]
            } else {
                Vec::new()
            }
        });
        for c in in_file {
            if !kept_cms.contains(&(c.range().start + base)) {
                let r = cut_range(text, c.range());
                out.push(Splice {
                    range: r.start + base..r.end + base,
                    text: String::new(),
                });
            }
        }
    }
    // Removed executables: children of the package or of a kept container that are no
    // longer in the model.
    for node in xml.descendants().filter(|n| is_dts(*n, "Executable")) {
        let Some(owner) = owner_of(node) else {
            continue;
        };
        let owner_kept = owner == root || kept_execs.contains(&(owner.range().start + base));
        if !owner_kept || kept_execs.contains(&(node.range().start + base)) {
            continue;
        }
        if referenced_by_constraint(owner, node) {
            return Err(unsupported(
                doc,
                format!(
                    "removing executable {:?}: precedence constraints still refer to it",
                    node.attribute((DTS_NS, "ObjectName")).unwrap_or_default()
                ),
            ));
        }
        let r = cut_range(text, node.range());
        out.push(Splice {
            range: r.start + base..r.end + base,
            text: String::new(),
        });
    }
    // New package variables.
    if new_vars && pkg.format_version < 6 {
        let new: Vec<&Variable> = pkg
            .variables
            .iter()
            .filter(|v| v.origin.is_none())
            .collect();
        out.push(super::tree3::variables_splice(doc, root, &pkg.name, &new)?);
    } else if new_vars {
        let Some(wrapper) = root.children().find(|c| is_dts(*c, "Variables")) else {
            return Err(unsupported(
                doc,
                "new variable: the package has no <DTS:Variables> element".into(),
            ));
        };
        let indent = format!("{}  ", indent_at(text, wrapper.range().start));
        let mut fragments = String::new();
        for v in pkg.variables.iter().filter(|v| v.origin.is_none()) {
            fragments.push_str(doc.newline);
            fragments.push_str(&variable_xml(doc, v, &indent, doc.newline)?);
        }
        out.push(insert_children(
            text,
            base,
            doc.newline,
            wrapper,
            &fragments,
        ));
    }
    // New variables of loaded tasks, into the task's own <DTS:Variables> (SSIS writes
    // `<DTS:Variables />` for a task without variables), in the same shape as package ones.
    for e in pkg.all_executables() {
        let Some(o) = &e.origin else { continue };
        if !e.variables.iter().any(|v| v.origin.is_none()) {
            continue;
        }
        let Some(node) = xml
            .descendants()
            .find(|n| n.is_element() && n.range().start + base == o.element.start)
        else {
            return Err(unsupported(doc, format!("new variable in {:?}", e.name)));
        };
        if pkg.format_version < 6 {
            let new: Vec<&Variable> = e.variables.iter().filter(|v| v.origin.is_none()).collect();
            out.push(super::tree3::variables_splice(doc, node, &e.name, &new)?);
            continue;
        }
        let Some(wrapper) = node.children().find(|c| is_dts(*c, "Variables")) else {
            return Err(unsupported(
                doc,
                format!(
                    "new variable in {:?}: the task has no <DTS:Variables> element",
                    e.name
                ),
            ));
        };
        let indent = format!("{}  ", indent_at(text, wrapper.range().start));
        let mut fragments = String::new();
        for v in e.variables.iter().filter(|v| v.origin.is_none()) {
            fragments.push_str(doc.newline);
            fragments.push_str(&variable_xml(doc, v, &indent, doc.newline)?);
        }
        out.push(insert_children(
            text,
            base,
            doc.newline,
            wrapper,
            &fragments,
        ));
    }
    // New Send Mail tasks, in the package and in loaded containers.
    insert_new(doc, pkg, text, root, &pkg.executables, &mut out)?;
    for e in pkg.all_executables() {
        if let Some(o) = &e.origin
            && e.executables.iter().any(|c| c.origin.is_none())
        {
            {
                let Some(node) = xml
                    .descendants()
                    .find(|n| n.is_element() && n.range().start + base == o.element.start)
                else {
                    return Err(unsupported(doc, format!("new task in {:?}", e.name)));
                };
                insert_new(doc, pkg, text, node, &e.executables, &mut out)?;
            }
        }
    }
    Ok(out)
}

fn parse(text: &str) -> Option<Document<'_>> {
    Document::parse_with_options(
        text,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            ..Default::default()
        },
    )
    .ok()
}

/// The package or container an executable element belongs to: the parent of its
/// `<DTS:Executables>` wrapper (format 6, 8), or its parent executable (format 3, where a
/// `<DTS:Executable IDREF=...>` inside a precedence constraint is not an executable).
fn owner_of<'a, 'i>(node: Node<'a, 'i>) -> Option<Node<'a, 'i>> {
    let parent = node.parent()?;
    if is_dts(parent, "Executables") {
        parent.parent()
    } else if is_dts(parent, "Executable") {
        Some(parent)
    } else {
        None
    }
}

fn kept_executables(pkg: &Package) -> HashSet<usize> {
    pkg.all_executables()
        .iter()
        .filter_map(|e| e.origin.as_ref().map(|o| o.element.start))
        .collect()
}

/// Whether any loaded executable is missing from the model (cheap check before parsing).
fn executables_removed(doc: &SourceDoc, kept: &HashSet<usize>) -> Result<bool, SaveError> {
    let Ok(text) = std::str::from_utf8(&doc.bytes[doc.prefix_len..]) else {
        return Ok(false);
    };
    let Some(xml) = parse(text) else {
        return Ok(false);
    };
    let in_file = xml
        .descendants()
        .filter(|n| {
            is_dts(*n, "Executable")
                && owner_of(*n).is_some()
                // Executables inside event handlers are not children of a container's list.
                && n.ancestors().all(|a| !is_dts(a, "EventHandler"))
        })
        .count();
    let kept_in_file = xml
        .descendants()
        .filter(|n| kept.contains(&(n.range().start + doc.prefix_len)))
        .filter(|n| n.ancestors().all(|a| !is_dts(a, "EventHandler")))
        .count();
    Ok(kept_in_file < in_file)
}

fn referenced_by_constraint(owner: Node, exec: Node) -> bool {
    let keys: Vec<&str> = exec
        .attribute((DTS_NS, "refId"))
        .into_iter()
        .chain(super::tree3::dtsid_of(exec))
        .collect();
    // Format 6/8: in <DTS:PrecedenceConstraints>, by path; format 3: direct children, with
    // `<DTS:Executable IDREF="{DTSID}">` inside.
    owner
        .children()
        .filter(|c| is_dts(*c, "PrecedenceConstraints") || is_dts(*c, "PrecedenceConstraint"))
        .flat_map(|w| w.descendants())
        .any(|n| {
            n.attributes()
                .any(|a| keys.iter().any(|k| k.eq_ignore_ascii_case(a.value())))
        })
}

fn insert_new(
    doc: &SourceDoc,
    pkg: &Package,
    text: &str,
    owner: Node,
    list: &[Executable],
    out: &mut Vec<Splice>,
) -> Result<(), SaveError> {
    let new: Vec<&Executable> = list.iter().filter(|e| e.origin.is_none()).collect();
    if new.is_empty() {
        return Ok(());
    }
    for e in &new {
        if !matches!(e.kind, ExecutableKind::SendMail(_)) {
            return Err(unsupported(doc, format!("new executable {:?}", e.name)));
        }
        if !e.executables.is_empty() || !e.event_handlers.is_empty() {
            return Err(unsupported(
                doc,
                format!("new executable {:?} with children", e.name),
            ));
        }
    }
    let base = doc.prefix_len;
    let nl = doc.newline;
    if pkg.format_version < 6 {
        let at = super::tree3::executables_place(doc, owner, &new[0].name)?;
        let mut fragments = String::new();
        for e in &new {
            fragments.push_str(nl);
            fragments.push_str(&super::tree3::send_mail_xml(doc, e, nl)?);
        }
        out.push(Splice {
            range: at + base..at + base,
            text: fragments,
        });
        return Ok(());
    }
    let Some(wrapper) = owner.children().find(|c| is_dts(*c, "Executables")) else {
        return Err(unsupported(
            doc,
            format!(
                "new task {:?}: its container has no <DTS:Executables> element",
                new[0].name
            ),
        ));
    };
    let wrapper_indent = indent_at(text, wrapper.range().start);
    let child_indent = format!("{wrapper_indent}  ");
    let mut fragments = String::new();
    for e in &new {
        fragments.push_str(nl);
        fragments.push_str(&send_mail_xml(
            doc,
            e,
            pkg.format_version,
            &child_indent,
            nl,
        )?);
    }
    let splice = insert_children(text, base, nl, wrapper, &fragments);
    out.push(splice);
    Ok(())
}

/// The splice that appends `fragments` (each starting with a line break) to the children of
/// `wrapper`, opening it first when it is self-closing (`<DTS:Executables />`).
fn insert_children(text: &str, base: usize, nl: &str, wrapper: Node, fragments: &str) -> Splice {
    let wrapper_indent = indent_at(text, wrapper.range().start);
    let raw = &text[wrapper.range()];
    if raw.ends_with("/>") {
        let qname = &raw[1..raw
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(1)];
        Splice {
            range: wrapper.range().start + base..wrapper.range().end + base,
            text: format!("<{qname}>{fragments}{nl}{wrapper_indent}</{qname}>"),
        }
    } else {
        let at = wrapper
            .children()
            .rfind(|c| c.is_element())
            .map(|c| c.range().end)
            .unwrap_or_else(|| wrapper.range().start + raw.rfind("</").unwrap_or(raw.len()));
        Splice {
            range: at + base..at + base,
            text: fragments.to_owned(),
        }
    }
}

/// A variable element as SSIS 2012+ writes it.
fn variable_xml(
    doc: &SourceDoc,
    v: &Variable,
    indent: &str,
    nl: &str,
) -> Result<String, SaveError> {
    for (field, value) in [
        ("name", &v.name),
        ("namespace", &v.namespace),
        ("value", &v.value),
        ("expression", &v.expression),
    ] {
        if let Some((position, c)) = super::invalid_xml_char(value) {
            return Err(SaveError::NotXmlChar {
                origin: doc.origin_name.clone(),
                what: format!("new variable {} {field}", v.qualified_name()),
                position,
                code: format!("U+{:04X}", u32::from(c)),
            });
        }
    }
    let a = format!("{indent}  ");
    let mut s = format!("{indent}<DTS:Variable");
    s.push_str(&format!("{nl}{a}DTS:CreationName=\"\""));
    s.push_str(&format!("{nl}{a}DTS:DTSID=\"{}\"", escape_attr(&v.dtsid)));
    if v.evaluate_as_expression {
        s.push_str(&format!("{nl}{a}DTS:EvaluateAsExpression=\"True\""));
    }
    if !v.expression.is_empty() {
        s.push_str(&format!(
            "{nl}{a}DTS:Expression=\"{}\"",
            escape_attr(&v.expression)
        ));
    }
    // What the designer writes: 2345 for strings, 6789 for other types.
    let dump = if v.data_type == crate::package::vartype::STRING {
        "2345"
    } else {
        "6789"
    };
    s.push_str(&format!("{nl}{a}DTS:IncludeInDebugDump=\"{dump}\""));
    s.push_str(&format!(
        "{nl}{a}DTS:Namespace=\"{}\"",
        escape_attr(&v.namespace)
    ));
    s.push_str(&format!(
        "{nl}{a}DTS:ObjectName=\"{}\">",
        escape_attr(&v.name)
    ));
    s.push_str(&format!(
        "{nl}{a}<DTS:VariableValue{nl}{a}  DTS:DataType=\"{}\"",
        v.data_type
    ));
    if v.data_type == crate::package::vartype::STRING {
        s.push_str(&format!("{nl}{a}  xml:space=\"preserve\""));
    }
    s.push_str(&format!(">{}</DTS:VariableValue>", escape_text(&v.value)));
    s.push_str(&format!("{nl}{indent}</DTS:Variable>"));
    Ok(s)
}

/// A Send Mail task element as SSIS writes it: one attribute per line, default values omitted.
fn send_mail_xml(
    doc: &SourceDoc,
    e: &Executable,
    format: u32,
    indent: &str,
    nl: &str,
) -> Result<String, SaveError> {
    let ExecutableKind::SendMail(d) = &e.kind else {
        return Err(unsupported(doc, format!("new executable {:?}", e.name)));
    };
    let what = format!("new task {:?}", e.name);
    let check = |v: &str, field: &str| -> Result<(), SaveError> {
        match super::invalid_xml_char(v) {
            None => Ok(()),
            Some((position, c)) => Err(SaveError::NotXmlChar {
                origin: doc.origin_name.clone(),
                what: format!("{what} {field}"),
                position,
                code: format!("U+{:04X}", u32::from(c)),
            }),
        }
    };
    let a = format!("{indent}  ");
    // Set by `Package::add_send_mail_task` for the package's format.
    let ty = e.executable_type.as_str();
    let contact = if format >= 8 { CONTACT_8 } else { CONTACT_2008 };
    let mut s = format!("{indent}<DTS:Executable");
    let mut attr = |name: &str, value: &str| {
        s.push_str(&format!("{nl}{a}DTS:{name}=\"{}\"", escape_attr(value)));
    };
    check(&e.name, "name")?;
    check(&e.description, "description")?;
    attr("refId", &e.path);
    attr("CreationName", ty);
    if !e.description.is_empty() {
        attr("Description", &e.description);
    }
    attr("DTSID", &e.dtsid);
    attr("ExecutableType", ty);
    attr("LocaleID", "-1");
    attr("ObjectName", &e.name);
    attr("TaskContact", contact);
    attr("ThreadHint", "0");
    s.push('>');
    if e.variables.is_empty() {
        s.push_str(&format!("{nl}{a}<DTS:Variables />"));
    } else {
        s.push_str(&format!("{nl}{a}<DTS:Variables>"));
        for v in &e.variables {
            s.push_str(nl);
            s.push_str(&variable_xml(doc, v, &format!("{a}  "), nl)?);
        }
        s.push_str(&format!("{nl}{a}</DTS:Variables>"));
    }
    for p in &e.property_expressions {
        check(&p.property, "property expression name")?;
        check(&p.expression, "property expression")?;
        s.push_str(&format!(
            "{nl}{a}<DTS:PropertyExpression{nl}{a}  DTS:Name=\"{}\">{}</DTS:PropertyExpression>",
            escape_attr(&p.property),
            escape_text(&p.expression)
        ));
    }
    s.push_str(&format!("{nl}{a}<DTS:ObjectData>"));
    s.push_str(&format!("{nl}{a}  <SendMailTask:SendMailTaskData"));
    let inner = format!("{a}    ");
    let attachments = d.attachments.join("|");
    let fields: [(&str, &str, &str); 10] = [
        ("SMTPServer", &d.smtp_server_ref, "\u{0}"),
        ("From", &d.from, ""),
        ("To", &d.to, ""),
        ("CC", &d.cc, ""),
        ("BCC", &d.bcc, ""),
        ("Subject", &d.subject, ""),
        ("Priority", &d.priority, "Normal"),
        ("MessageSourceType", &d.message_source_type, "DirectInput"),
        ("MessageSource", &d.message_source, ""),
        ("FileAttachments", &attachments, ""),
    ];
    // SSIS omits default values (an empty CC, Priority Normal, ...); SMTPServer is always written.
    let written: Vec<_> = fields
        .iter()
        .filter(|(_, v, default)| v != default)
        .collect();
    for (name, value, _) in &written {
        check(value, name)?;
    }
    for (name, value, _) in &written {
        s.push_str(&format!(
            "{nl}{inner}SendMailTask:{name}=\"{}\"",
            escape_attr(value)
        ));
    }
    s.push_str(&format!(" xmlns:SendMailTask=\"{SEND_MAIL_NS}\" />"));
    s.push_str(&format!("{nl}{a}</DTS:ObjectData>"));
    s.push_str(&format!("{nl}{indent}</DTS:Executable>"));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use crate::dtsx;
    use crate::package::Package;

    const CORPUS_6: &str = "../../../shared/corpus/dtsx/lucmilot__SSIS_2014_Book__850879_c03_download__Chapter3__SendMailTask.dtsx";

    fn corpus(name: &str) -> Option<Vec<u8>> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
        std::fs::read(p).ok()
    }

    #[test]
    fn new_package_with_connection_and_task_reloads() {
        let mut pkg = Package::new("Nightly");
        let cm = pkg.connections.add("SMTP");
        cm.connection_string =
            "SmtpServer=relay;UseWindowsAuthentication=False;EnableSsl=True;".into();
        let id = cm.dtsid.clone();
        pkg.variables.push(crate::package::Variable::new(
            "User",
            "Body",
            crate::package::vartype::STRING,
            "a < b",
        ));
        let task = pkg.add_send_mail_task(None, "Send Mail Task").unwrap();
        let d = task.send_mail_mut().unwrap();
        d.smtp_server_ref = id.clone();
        d.from = "etl@example.com".into();
        d.to = "ops@example.com".into();
        d.subject = "Done & dusted".into();
        d.message_source = "Line 1\nLine 2".into();
        let before = pkg.to_bytes().unwrap();
        let text = String::from_utf8(before.clone()).unwrap();
        assert!(
            text.contains("DTS:ExecutableType=\"Microsoft.SendMailTask\""),
            "{text}"
        );
        assert!(
            text.contains("\r\n    <DTS:Executable\r\n      DTS:refId=\"Package\\Send Mail Task\""),
            "{text}"
        );
        assert!(!text.contains("SendMailTask:CC="), "defaults are omitted");
        let again = dtsx::load_bytes(before.clone(), "n.dtsx").unwrap();
        let t = again.all_executables()[0].send_mail().unwrap().clone();
        assert_eq!(t.smtp_server_ref, id);
        assert_eq!(t.subject, "Done & dusted");
        assert_eq!(t.message_source, "Line 1\nLine 2");
        assert_eq!(again.connections.len(), 1);
        assert_eq!(again.variable("User::Body").unwrap().value, "a < b");
        // The reloaded package saves byte-identical.
        assert_eq!(again.to_bytes().unwrap(), before);
    }

    #[test]
    fn task_added_to_format_6_corpus_package_keeps_every_other_byte() {
        let Some(bytes) = corpus(CORPUS_6) else {
            eprintln!("skipped: corpus not present");
            return;
        };
        let mut pkg = dtsx::load_bytes(bytes.clone(), "c.dtsx").unwrap();
        pkg.add_send_mail_task(None, "Second")
            .unwrap()
            .send_mail_mut()
            .unwrap()
            .to = "x@example.com".into();
        let out = pkg.to_bytes().unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        let added_at = text
            .find("\r\n    <DTS:Executable\r\n      DTS:refId=\"Package\\Second\"")
            .or_else(|| text.find("\n    <DTS:Executable\n      DTS:refId=\"Package\\Second\""))
            .expect("inserted after the first task");
        let end = text[added_at..].find("</DTS:Executable>").unwrap()
            + added_at
            + "</DTS:Executable>".len();
        let mut rebuilt = out[..added_at].to_vec();
        rebuilt.extend_from_slice(&out[end..]);
        assert_eq!(rebuilt, bytes, "only the new element was added");
        assert!(
            text[added_at..end].contains("Version=11.0.0.0"),
            "format-6 type name"
        );
        let again = dtsx::load_bytes(out, "c.dtsx").unwrap();
        assert_eq!(again.executables.len(), 2);
        assert_eq!(
            again.executables[1].send_mail().unwrap().to,
            "x@example.com"
        );
    }

    #[test]
    fn removing_a_task_and_a_connection_cuts_only_their_elements() {
        let Some(bytes) = corpus(CORPUS_6) else {
            eprintln!("skipped: corpus not present");
            return;
        };
        let mut pkg = dtsx::load_bytes(bytes.clone(), "c.dtsx").unwrap();
        let id = pkg.executables[0].dtsid.clone();
        pkg.remove_executable(&id).unwrap();
        let cm = pkg.connections.as_slice()[0].dtsid.clone();
        assert!(pkg.connections.remove(&cm).is_some());
        let out = String::from_utf8(pkg.to_bytes().unwrap()).unwrap();
        assert!(!out.contains("DTS:ObjectName=\"Send Mail Task\""), "{out}");
        assert!(
            !out.contains("DTS:ObjectName=\"SMTP Connection Manager\""),
            "{out}"
        );
        let again = dtsx::load_str(&out, "c.dtsx").unwrap();
        assert!(again.executables.is_empty());
        assert!(again.connections.is_empty());
        // The layout CDATA block and the header are untouched.
        let src = String::from_utf8(bytes).unwrap();
        let tail = &src[src.find("  <DTS:DesignTimeProperties>").unwrap()..];
        assert!(out.ends_with(tail));
        let head = &src[..src.find("  <DTS:ConnectionManagers>").unwrap()];
        assert!(out.starts_with(head));
    }
}
