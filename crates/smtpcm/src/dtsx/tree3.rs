//! Structural edits of format-3 packages (SSIS 2005/2008, `SSIS.Package.2`): the shapes and
//! places SSIS 2008 uses.
//!
//! Format 3 has no `<DTS:ConnectionManagers>` or `<DTS:Executables>` wrappers: connection
//! managers and executables are direct children of the package (or container), one element
//! per line without indentation, and every property is a `<DTS:Property DTS:Name="...">`
//! child element rather than an attribute (see ../shared/docs/ssis-reference.md §3.2 and the
//! corpus's 2008 packages, whose Send Mail tasks and SMTP connection manager these copy). The
//! Send Mail data keeps its attributes and writes every one of them, empty or not, with
//! attachments as `<SendMailTask:Attachments SendMailTask:FileName="..."/>` children.
//! Variables (package or task scope) go between an owner's leading properties and its
//! `<DTS:LoggingOptions>`, each property again a `DTS:Property` child.

use roxmltree::Node;

use super::SaveError;
use super::load::DTS_NS;
use super::source::{Splice, escape_attr, escape_text};
use super::tree::{CONTACT_2008, SEND_MAIL_NS, is_dts, unsupported};
use crate::package::{
    ConnectionKind, ConnectionManager, Executable, ExecutableKind, SourceDoc, Variable, vartype,
};

fn prop(name: &str, value: &str) -> String {
    format!(
        "<DTS:Property DTS:Name=\"{name}\">{}</DTS:Property>",
        escape_text(value)
    )
}

fn check(doc: &SourceDoc, what: &str, field: &str, value: &str) -> Result<(), SaveError> {
    match super::invalid_xml_char(value) {
        None => Ok(()),
        Some((position, c)) => Err(SaveError::NotXmlChar {
            origin: doc.origin_name.clone(),
            what: format!("{what} {field}"),
            position,
            code: format!("U+{:04X}", u32::from(c)),
        }),
    }
}

/// An SMTP (or other) connection manager element as SSIS 2008 writes it.
pub(super) fn connection_xml(cm: &ConnectionManager, nl: &str) -> String {
    let mut s = String::from("<DTS:ConnectionManager>");
    for (name, value) in [
        ("DelayValidation", "0"),
        ("ObjectName", cm.name.as_str()),
        ("DTSID", cm.dtsid.as_str()),
        ("Description", cm.description.as_str()),
    ] {
        s.push_str(nl);
        s.push_str(&prop(name, value));
    }
    s.push_str(nl);
    s.push_str(&prop("CreationName", &cm.creation_name));
    for p in &cm.property_expressions {
        s.push_str(&format!(
            "<DTS:PropertyExpression DTS:Name=\"{}\">{}</DTS:PropertyExpression>",
            escape_attr(&p.property),
            escape_text(&p.expression)
        ));
    }
    let cs = escape_attr(&cm.connection_string);
    if cm.kind == ConnectionKind::Smtp {
        s.push_str(&format!(
            "<DTS:ObjectData><SmtpConnectionManager ConnectionString=\"{cs}\"/></DTS:ObjectData>"
        ));
    } else {
        s.push_str(&format!(
            "<DTS:ObjectData><DTS:ConnectionManager>{nl}{}</DTS:ConnectionManager></DTS:ObjectData>",
            prop("ConnectionString", &cm.connection_string)
        ));
    }
    s.push_str("</DTS:ConnectionManager>");
    s
}

/// The splice that adds `new` connection managers to a format-3 package: after its last
/// connection manager, or, in a package without any, where SSIS 2008 puts them (after the
/// package's leading `<DTS:Property>` run, which ends with `SuppressConfigurationWarnings`).
pub(super) fn connections_splice(
    doc: &SourceDoc,
    root: Node,
    new: &[&ConnectionManager],
) -> Result<Splice, SaveError> {
    let base = doc.prefix_len;
    let nl = doc.newline;
    let at = match root.children().rfind(|c| is_dts(*c, "ConnectionManager")) {
        Some(last) => last.range().end,
        None => root
            .children()
            .filter(|c| c.is_element())
            .take_while(|c| is_dts(*c, "Property"))
            .last()
            .map(|c| c.range().end)
            .ok_or_else(|| {
                unsupported(doc, "connection managers (no place to insert them)".into())
            })?,
    };
    let text: String = new
        .iter()
        .map(|c| format!("{nl}{}", connection_xml(c, nl)))
        .collect();
    Ok(Splice {
        range: at + base..at + base,
        text,
    })
}

/// A Send Mail task element as SSIS 2008 writes it.
pub(super) fn send_mail_xml(
    doc: &SourceDoc,
    e: &Executable,
    nl: &str,
) -> Result<String, SaveError> {
    let ExecutableKind::SendMail(d) = &e.kind else {
        return Err(unsupported(doc, format!("new executable {:?}", e.name)));
    };
    let what = format!("new task {:?}", e.name);
    check(doc, &what, "name", &e.name)?;
    check(doc, &what, "description", &e.description)?;
    let ty = e.executable_type.as_str();
    let mut s = format!(
        "<DTS:Executable DTS:ExecutableType=\"{}\">",
        escape_attr(ty)
    );
    let disabled = if e.disabled { "-1" } else { "0" };
    for (name, value) in [
        ("ExecutionLocation", "0"),
        ("ExecutionAddress", ""),
        ("TaskContact", CONTACT_2008),
        ("ForceExecValue", "0"),
    ] {
        s.push_str(nl);
        s.push_str(&prop(name, value));
    }
    s.push_str(&format!(
        "{nl}<DTS:Property DTS:Name=\"ExecValue\" DTS:DataType=\"3\">0</DTS:Property>"
    ));
    for (name, value) in [
        ("ForceExecutionResult", "-1"),
        ("Disabled", disabled),
        ("FailPackageOnFailure", "0"),
        ("FailParentOnFailure", "0"),
        ("MaxErrorCount", "1"),
        ("ISOLevel", "1048576"),
        ("LocaleID", "-1"),
        ("TransactionOption", "1"),
        ("DelayValidation", "0"),
    ] {
        s.push_str(nl);
        s.push_str(&prop(name, value));
    }
    // SSIS 2008's order: the task's variables between its leading properties and its
    // logging options.
    for v in &e.variables {
        s.push_str(nl);
        s.push_str(&variable_xml(doc, v, nl)?);
    }
    s.push_str(&format!(
        "{nl}<DTS:LoggingOptions>{nl}{}{nl}{}{nl}<DTS:Property DTS:Name=\"EventFilter\" DTS:DataType=\"8\"></DTS:Property></DTS:LoggingOptions>",
        prop("LoggingMode", "0"),
        prop("FilterKind", "1"),
    ));
    for p in &e.property_expressions {
        check(doc, &what, "property expression name", &p.property)?;
        check(doc, &what, "property expression", &p.expression)?;
        s.push_str(&format!(
            "<DTS:PropertyExpression DTS:Name=\"{}\">{}</DTS:PropertyExpression>",
            escape_attr(&p.property),
            escape_text(&p.expression)
        ));
    }
    for (name, value) in [
        ("ObjectName", e.name.as_str()),
        ("DTSID", e.dtsid.as_str()),
        ("Description", e.description.as_str()),
        ("CreationName", ty),
        ("DisableEventHandlers", "0"),
    ] {
        s.push_str(nl);
        s.push_str(&prop(name, value));
    }
    s.push_str("<DTS:ObjectData><SendMailTask:SendMailTaskData");
    for (name, value) in [
        ("SMTPServer", &d.smtp_server_ref),
        ("From", &d.from),
        ("To", &d.to),
        ("CC", &d.cc),
        ("BCC", &d.bcc),
        ("Subject", &d.subject),
        ("Priority", &d.priority),
        ("MessageSourceType", &d.message_source_type),
        ("MessageSource", &d.message_source),
    ] {
        check(doc, &what, name, value)?;
        s.push_str(&format!(" SendMailTask:{name}=\"{}\"", escape_attr(value)));
    }
    s.push_str(&format!(" xmlns:SendMailTask=\"{SEND_MAIL_NS}\""));
    if d.attachments.is_empty() {
        s.push_str("/>");
    } else {
        s.push('>');
        for a in &d.attachments {
            check(doc, &what, "attachment", a)?;
            s.push_str(&format!(
                "<SendMailTask:Attachments SendMailTask:FileName=\"{}\"/>",
                escape_attr(a)
            ));
        }
        s.push_str("</SendMailTask:SendMailTaskData>");
    }
    s.push_str("</DTS:ObjectData></DTS:Executable>");
    Ok(s)
}

/// Where new executables of `owner` (the package or a container) go in format 3: after its
/// last executable, else after its `<DTS:LoggingOptions>` (SSIS 2008's order: variables,
/// logging options, executables, precedence constraints).
pub(super) fn executables_place(
    doc: &SourceDoc,
    owner: Node,
    name: &str,
) -> Result<usize, SaveError> {
    owner
        .children()
        .rfind(|c| is_dts(*c, "Executable"))
        .or_else(|| owner.children().rfind(|c| is_dts(*c, "LoggingOptions")))
        .map(|c| c.range().end)
        .ok_or_else(|| {
            unsupported(
                doc,
                format!("new task {name:?}: its container has no <DTS:LoggingOptions> to follow"),
            )
        })
}

/// The DTSID of a format-3 (or later) executable: an attribute, or a `DTS:Property` child.
pub(super) fn dtsid_of<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    node.attribute((DTS_NS, "DTSID")).or_else(|| {
        node.children()
            .find(|c| is_dts(*c, "Property") && c.attribute((DTS_NS, "Name")) == Some("DTSID"))
            .and_then(|c| c.text())
    })
}

/// A variable element as SSIS 2008 writes it: every property a `DTS:Property` child, the
/// value right after `IncludeInDebugDump` on the same line, and no `xml:space` on the value
/// (corpus: avgrishin `RepInvDecl.dtsx`, `User::CcLine`).
pub(super) fn variable_xml(doc: &SourceDoc, v: &Variable, nl: &str) -> Result<String, SaveError> {
    let what = format!("new variable {}", v.qualified_name());
    for (field, value) in [
        ("name", &v.name),
        ("namespace", &v.namespace),
        ("value", &v.value),
        ("expression", &v.expression),
    ] {
        check(doc, &what, field, value)?;
    }
    let eval = if v.evaluate_as_expression { "-1" } else { "0" };
    // What the designer writes: 2345 for strings, 6789 for other types.
    let dump = if v.data_type == vartype::STRING {
        "2345"
    } else {
        "6789"
    };
    let mut s = String::from("<DTS:Variable>");
    for (name, value) in [
        ("Expression", v.expression.as_str()),
        ("EvaluateAsExpression", eval),
        ("Namespace", v.namespace.as_str()),
        ("ReadOnly", "0"),
        ("RaiseChangedEvent", "0"),
        ("IncludeInDebugDump", dump),
    ] {
        s.push_str(nl);
        s.push_str(&prop(name, value));
    }
    s.push_str(&format!(
        "<DTS:VariableValue DTS:DataType=\"{}\">{}</DTS:VariableValue>",
        v.data_type,
        escape_text(&v.value)
    ));
    for (name, value) in [
        ("ObjectName", v.name.as_str()),
        ("DTSID", v.dtsid.as_str()),
        ("Description", ""),
        ("CreationName", ""),
    ] {
        s.push_str(nl);
        s.push_str(&prop(name, value));
    }
    s.push_str("</DTS:Variable>");
    Ok(s)
}

/// The splice that adds `new` variables to `owner` (the package or a loaded executable) in
/// format 3: after its last variable, or, without any, where SSIS 2008 puts the first one:
/// after the element in front of its `<DTS:LoggingOptions>` (the leading property run).
pub(super) fn variables_splice(
    doc: &SourceDoc,
    owner: Node,
    owner_name: &str,
    new: &[&Variable],
) -> Result<Splice, SaveError> {
    let base = doc.prefix_len;
    let nl = doc.newline;
    let at = match owner.children().rfind(|c| is_dts(*c, "Variable")) {
        Some(last) => last.range().end,
        None => owner
            .children()
            .find(|c| is_dts(*c, "LoggingOptions"))
            .and_then(|l| l.prev_sibling_element())
            .map(|c| c.range().end)
            .ok_or_else(|| {
                unsupported(
                    doc,
                    format!(
                        "new variable in {owner_name:?}: it has no <DTS:LoggingOptions> to precede"
                    ),
                )
            })?,
    };
    let mut text = String::new();
    for v in new {
        text.push_str(nl);
        text.push_str(&variable_xml(doc, v, nl)?);
    }
    Ok(Splice {
        range: at + base..at + base,
        text,
    })
}
