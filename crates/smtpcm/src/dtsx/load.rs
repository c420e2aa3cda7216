//! Reading `.dtsx`, `.conmgr` and `Project.params` into the object model.
//!
//! One reader serves formats 3, 6 and 8: every property is looked up first as a `DTS:` attribute
//! (2012+) and then as a `<DTS:Property DTS:Name>` child element (2005/2008), and every list is
//! gathered both from its wrapper element (`DTS:Executables`) and from direct children (format 3
//! has no wrappers).

use std::ops::Range;
use std::sync::Arc;

use roxmltree::{Document, Node};

use super::LoadError;
use super::source::{Origin, Slot};
use crate::package::{
    ConnectionKind, ConnectionManager, Connections, ConstraintValue, EvalOp, EventHandler,
    Executable, ExecutableKind, ForLoop, Package, Parameter, PrecedenceConstraint,
    PropertyExpression, SendMailTaskData, SourceDoc, Variable, vartype,
};

pub(crate) const DTS_NS: &str = "www.microsoft.com/SqlServer/Dts";
pub(crate) const SENDMAIL_NS: &str = "www.microsoft.com/sqlserver/dts/tasks/sendmailtask";
const SSIS_NS: &str = "www.microsoft.com/SqlServer/SSIS";

/// How many XML elements deep an executable may sit. Loading, saving and dropping the
/// executable tree all recurse once per container; real packages nest a handful of
/// containers (about two elements each), so this only stops a hostile file from
/// overflowing the stack.
const MAX_EXECUTABLE_DEPTH: usize = 256;

/// Decodes the raw bytes: UTF-8 with an optional BOM. Returns the text and the BOM length.
pub(crate) fn decode(bytes: &[u8], origin: &str) -> Result<(String, usize), LoadError> {
    let (body, prefix) = match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => (rest, 3),
        [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] => {
            return Err(LoadError::Encoding {
                origin: origin.to_owned(),
                reason: "UTF-16 files are not supported; save the package as UTF-8".into(),
            });
        }
        _ => (bytes, 0),
    };
    match std::str::from_utf8(body) {
        Ok(text) => Ok((text.to_owned(), prefix)),
        Err(e) => {
            let (line, column) = line_col_bytes(body, e.valid_up_to());
            Err(LoadError::Encoding {
                origin: origin.to_owned(),
                reason: format!("invalid UTF-8 at {line}:{column}"),
            })
        }
    }
}

fn line_col_bytes(text: &[u8], pos: usize) -> (u32, u32) {
    let before = &text[..pos.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    (line as u32, col as u32)
}

/// Byte offset of the `<!DOCTYPE` in the prolog: after the XML declaration, processing
/// instructions, comments and white space. roxmltree reports a refused DTD at 1:1, which is
/// not where it is.
fn doctype_offset(text: &str) -> usize {
    let mut at = 0;
    loop {
        let rest = &text[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        let skip = if trimmed.starts_with("<?") {
            trimmed.find("?>").map(|i| i + 2)
        } else if trimmed.starts_with("<!--") {
            trimmed.find("-->").map(|i| i + 3)
        } else {
            None
        };
        match skip {
            Some(n) => at += n,
            None => return at,
        }
    }
}

/// Parses `text`, refusing any DTD. SSIS never writes one, and an internal DTD is the way to
/// entity-expansion attacks (one 100 KB entity referenced 20,000 times took 5.9 GB), so a
/// DOCTYPE is an error, not something to expand with a budget. `kind` names the kind of file
/// in the message ("packages", ".conmgr files", "Project.params files").
pub(crate) fn parse_xml<'a>(
    text: &'a str,
    origin: &str,
    kind: &str,
) -> Result<Document<'a>, LoadError> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    Document::parse_with_options(text, opts).map_err(|e| {
        if matches!(e, roxmltree::Error::DtdDetected) {
            let (line, column) = line_col_bytes(text.as_bytes(), doctype_offset(text));
            return LoadError::Structure {
                origin: origin.to_owned(),
                line,
                column,
                message: format!("DOCTYPE declarations are not allowed in {kind}"),
            };
        }
        let pos = e.pos();
        LoadError::Xml {
            origin: origin.to_owned(),
            line: pos.row,
            column: pos.col,
            message: e.to_string(),
        }
    })
}

/// Shared state while walking one document.
pub(crate) struct Reader<'a, 'input> {
    pub doc: &'a Document<'input>,
    pub base: usize,
    pub origin: &'a str,
    pub format: u32,
}

impl<'a, 'input> Reader<'a, 'input> {
    fn text(&self) -> &'input str {
        self.doc.input_text()
    }

    fn abs(&self, r: Range<usize>) -> Range<usize> {
        r.start + self.base..r.end + self.base
    }

    pub fn error_at(&self, pos: usize, message: String) -> LoadError {
        let p = self.doc.text_pos_at(pos);
        LoadError::Structure {
            origin: self.origin.to_owned(),
            line: p.row,
            column: p.col,
            message,
        }
    }

    /// The element's qualified name as spelled in the source (`DTS:Executable`).
    fn qname(&self, node: Node) -> &'input str {
        let s = &self.text()[node.range().start + 1..];
        let end = s
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(s.len());
        &s[..end]
    }

    /// Offset just past the `>` of the element's start tag (quotes respected).
    fn start_tag_end(&self, node: Node) -> usize {
        let r = node.range();
        let s = &self.text().as_bytes()[r.start..r.end];
        let mut quote = None;
        for (i, b) in s.iter().enumerate() {
            match (quote, *b) {
                (None, b'"' | b'\'') => quote = Some(*b),
                (Some(q), c) if c == q => quote = None,
                (None, b'>') => return r.start + i + 1,
                _ => {}
            }
        }
        r.end
    }

    /// The slot of a text-only element's content.
    fn text_slot(&self, node: Node) -> Slot {
        if node.children().any(|c| c.is_element()) {
            return Slot::Absent;
        }
        let r = node.range();
        let src = &self.text()[r.clone()];
        if src.ends_with("/>") {
            let close = r.end - 2;
            return Slot::SelfClosing {
                close: self.abs(close..r.end),
                qname: self.qname(node).to_owned(),
            };
        }
        let end = match src.rfind("</") {
            Some(i) => r.start + i,
            None => return Slot::Absent,
        };
        let start = self.start_tag_end(node);
        if node
            .children()
            .any(|c| c.is_text() && is_cdata(&self.text()[c.range()]))
        {
            return Slot::Absent;
        }
        Slot::Text(self.abs(start..end))
    }

    /// Where a new attribute would go: after the last one, with the same separator.
    fn missing_attr(&self, node: Node, qname: String) -> Slot {
        let attrs: Vec<_> = node.attributes().collect();
        let (insert_at, separator) = match attrs.last() {
            Some(last) => {
                let prev_end = if attrs.len() >= 2 {
                    attrs[attrs.len() - 2].range().end
                } else {
                    node.range().start + 1 + self.qname(node).len()
                };
                let sep = &self.text()[prev_end..last.range().start];
                let sep = if sep.trim().is_empty() && !sep.is_empty() {
                    sep
                } else {
                    " "
                };
                (last.range().end, sep.to_owned())
            }
            None => (
                node.range().start + 1 + self.qname(node).len(),
                " ".to_owned(),
            ),
        };
        Slot::MissingAttr {
            insert_at: insert_at + self.base,
            separator,
            qname,
        }
    }

    /// A DTS property: `DTS:Name` attribute, else `<DTS:Property DTS:Name="Name">` child.
    fn prop(&self, node: Node, name: &str) -> Option<(String, Slot)> {
        if let Some(a) = node.attribute_node((DTS_NS, name)) {
            return Some((a.value().to_owned(), Slot::Attr(self.abs(a.range_value()))));
        }
        let child = node
            .children()
            .find(|c| is_dts(*c, "Property") && c.attribute((DTS_NS, "Name")) == Some(name))?;
        Some((element_text(child), self.text_slot(child)))
    }

    /// Reads a property and records its slot under `field`.
    fn tracked(
        &self,
        origin: &mut Origin,
        field: &'static str,
        node: Node,
        name: &str,
        default: &str,
    ) -> String {
        match self.prop(node, name) {
            Some((value, slot)) => {
                origin.track(field, slot, &value);
                value
            }
            None => {
                let slot = if self.format >= 6 {
                    self.missing_attr(node, format!("DTS:{name}"))
                } else {
                    Slot::Absent
                };
                origin.track(field, slot, default);
                default.to_owned()
            }
        }
    }

    fn plain(&self, node: Node, name: &str) -> String {
        self.prop(node, name).map(|(v, _)| v).unwrap_or_default()
    }

    fn origin_for(&self, node: Node) -> Origin {
        Origin::new(self.abs(node.range()))
    }

    fn property_expressions(&self, node: Node) -> Vec<PropertyExpression> {
        node.children()
            .filter(|c| is_dts(*c, "PropertyExpression"))
            .map(|c| {
                let property = c.attribute((DTS_NS, "Name")).unwrap_or_default().to_owned();
                let expression = element_text(c);
                let mut origin = self.origin_for(c);
                origin.track("expression", self.text_slot(c), &expression);
                PropertyExpression {
                    property,
                    expression,
                    origin: Some(origin),
                }
            })
            .collect()
    }

    pub fn connection(&self, node: Node) -> ConnectionManager {
        let mut origin = self.origin_for(node);
        let name = self.tracked(&mut origin, "name", node, "ObjectName", "");
        let description = self.tracked(&mut origin, "description", node, "Description", "");
        let dtsid = self.plain(node, "DTSID");
        let creation_name = self.plain(node, "CreationName");
        let kind = ConnectionKind::from_creation_name(&creation_name);
        let ref_id = node
            .attribute((DTS_NS, "refId"))
            .unwrap_or_default()
            .to_owned();
        let property_expressions = self.property_expressions(node);
        origin.list_len = property_expressions.len();
        let inner = node
            .children()
            .find(|c| is_dts(*c, "ObjectData"))
            .and_then(|od| od.children().find(|c| c.is_element()));
        let mut connection_string = String::new();
        if let Some(inner) = inner {
            let attr = inner
                .attribute_node("ConnectionString")
                .or_else(|| inner.attribute_node((DTS_NS, "ConnectionString")));
            if let Some(a) = attr {
                connection_string = a.value().to_owned();
                origin.track(
                    "connection_string",
                    Slot::Attr(self.abs(a.range_value())),
                    &connection_string,
                );
            } else if let Some((v, slot)) = self.prop(inner, "ConnectionString") {
                connection_string = v;
                origin.track("connection_string", slot, &connection_string);
            } else {
                origin.track("connection_string", Slot::Absent, "");
            }
        } else {
            origin.track("connection_string", Slot::Absent, "");
        }
        ConnectionManager {
            name,
            dtsid,
            creation_name,
            description,
            connection_string,
            property_expressions,
            kind,
            ref_id,
            origin: Some(origin),
        }
    }

    fn variable(&self, node: Node) -> Variable {
        let mut origin = self.origin_for(node);
        let namespace = self.plain(node, "Namespace");
        let name = self.tracked(&mut origin, "name", node, "ObjectName", "");
        let dtsid = self.plain(node, "DTSID");
        let expression = self.tracked(&mut origin, "expression", node, "Expression", "");
        let eval = self.tracked(
            &mut origin,
            "evaluate_as_expression",
            node,
            "EvaluateAsExpression",
            "False",
        );
        let value_node = node.children().find(|c| is_dts(*c, "VariableValue"));
        let (data_type, value) = match value_node {
            Some(v) => {
                let dt = v
                    .attribute((DTS_NS, "DataType"))
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(vartype::STRING);
                let value = element_text(v);
                origin.track("value", self.text_slot(v), &value);
                (dt, value)
            }
            None => {
                origin.track("value", Slot::Absent, "");
                (vartype::STRING, String::new())
            }
        };
        Variable {
            namespace,
            name,
            dtsid,
            data_type,
            value,
            expression,
            evaluate_as_expression: parse_bool(&eval),
            origin: Some(origin),
        }
    }

    fn variables(&self, node: Node) -> Vec<Variable> {
        gather(node, "Variable", "Variables")
            .map(|v| self.variable(v))
            .collect()
    }

    fn package_parameter(&self, node: Node) -> Parameter {
        let mut origin = self.origin_for(node);
        let name = self.plain(node, "ObjectName");
        let dtsid = self.plain(node, "DTSID");
        let data_type = self
            .plain(node, "DataType")
            .parse()
            .unwrap_or(vartype::STRING);
        let value = self.tracked(&mut origin, "value", node, "ParameterValue", "");
        Parameter {
            name,
            dtsid,
            data_type,
            value,
            sensitive: parse_bool(&self.plain(node, "Sensitive")),
            required: parse_bool(&self.plain(node, "Required")),
            origin: Some(origin),
        }
    }

    fn executables(&self, node: Node, parent_path: &str) -> Result<Vec<Executable>, LoadError> {
        gather(node, "Executable", "Executables")
            .map(|e| self.executable(e, parent_path))
            .collect()
    }

    fn executable(&self, node: Node, parent_path: &str) -> Result<Executable, LoadError> {
        let depth = node.ancestors().filter(Node::is_element).count();
        if depth > MAX_EXECUTABLE_DEPTH {
            return Err(self.error_at(
                node.range().start,
                format!(
                    "executable {:?} is nested {depth} elements deep; at most {MAX_EXECUTABLE_DEPTH} are supported",
                    node.attribute((DTS_NS, "ObjectName")).unwrap_or_default()
                ),
            ));
        }
        let mut origin = self.origin_for(node);
        let name = self.tracked(&mut origin, "name", node, "ObjectName", "");
        let description = self.tracked(&mut origin, "description", node, "Description", "");
        let disabled = self.tracked(&mut origin, "disabled", node, "Disabled", "False");
        let dtsid = self.plain(node, "DTSID");
        let executable_type = self.plain(node, "ExecutableType");
        let path = node
            .attribute((DTS_NS, "refId"))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{parent_path}\\{name}"));
        let property_expressions = self.property_expressions(node);
        origin.list_len = property_expressions.len();
        let kind = self.executable_kind(node, &executable_type);
        let executables = self.executables(node, &path)?;
        let precedence_constraints = self.constraints(node, &executables)?;
        let event_handlers = self.event_handlers(node, &path)?;
        Ok(Executable {
            name,
            dtsid,
            path,
            description,
            executable_type,
            disabled: parse_bool(&disabled),
            kind,
            property_expressions,
            variables: self.variables(node),
            executables,
            precedence_constraints,
            event_handlers,
            origin: Some(origin),
        })
    }

    fn executable_kind(&self, node: Node, executable_type: &str) -> ExecutableKind {
        let t = executable_type.to_ascii_uppercase();
        if t == "MICROSOFT.SENDMAILTASK"
            || t.starts_with("MICROSOFT.SQLSERVER.DTS.TASKS.SENDMAILTASK.SENDMAILTASK")
        {
            ExecutableKind::SendMail(self.send_mail(node))
        } else if t == "STOCK:SEQUENCE" {
            ExecutableKind::Sequence
        } else if t == "STOCK:FORLOOP" {
            ExecutableKind::ForLoop(ForLoop {
                init_expression: self.plain(node, "InitExpression"),
                eval_expression: self.plain(node, "EvalExpression"),
                assign_expression: self.plain(node, "AssignExpression"),
            })
        } else if t == "STOCK:FOREACHLOOP" {
            ExecutableKind::ForEachLoop
        } else {
            ExecutableKind::Other
        }
    }

    fn send_mail(&self, node: Node) -> SendMailTaskData {
        let data = node
            .children()
            .find(|c| is_dts(*c, "ObjectData"))
            .and_then(|od| {
                od.children()
                    .find(|c| c.is_element() && c.tag_name().name() == "SendMailTaskData")
            });
        let Some(data) = data else {
            return SendMailTaskData::default();
        };
        let prefix = self
            .qname(data)
            .split_once(':')
            .map(|(p, _)| p)
            .unwrap_or("SendMailTask")
            .to_owned();
        let mut origin = self.origin_for(data);
        let mut field = |f: &'static str, attr: &str, default: &str| -> String {
            match data.attribute_node((SENDMAIL_NS, attr)) {
                Some(a) => {
                    origin.track(f, Slot::Attr(self.abs(a.range_value())), a.value());
                    a.value().to_owned()
                }
                None => {
                    origin.track(
                        f,
                        self.missing_attr(data, format!("{prefix}:{attr}")),
                        default,
                    );
                    default.to_owned()
                }
            }
        };
        let mut d = SendMailTaskData {
            smtp_server_ref: field("smtp_server_ref", "SMTPServer", ""),
            from: field("from", "From", ""),
            to: field("to", "To", ""),
            cc: field("cc", "CC", ""),
            bcc: field("bcc", "BCC", ""),
            subject: field("subject", "Subject", ""),
            message_source_type: field("message_source_type", "MessageSourceType", "DirectInput"),
            message_source: field("message_source", "MessageSource", ""),
            priority: field("priority", "Priority", "Normal"),
            attachments: Vec::new(),
            present: true,
            origin: None,
        };
        if let Some(list) = data.attribute((SENDMAIL_NS, "FileAttachments")) {
            d.attachments
                .extend(list.split('|').filter(|s| !s.is_empty()).map(str::to_owned));
            // The attribute form is not edited in place; a change is reported at save time.
            origin.items.push(super::source::Tracked {
                slot: Slot::Absent,
                original: list.to_owned(),
            });
        }
        for a in data
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "Attachments")
        {
            if let Some(f) = a.attribute_node((SENDMAIL_NS, "FileName")) {
                d.attachments.push(f.value().to_owned());
                origin.items.push(super::source::Tracked {
                    slot: Slot::Attr(self.abs(f.range_value())),
                    original: f.value().to_owned(),
                });
            }
        }
        d.origin = Some(origin);
        d
    }

    fn constraints(
        &self,
        node: Node,
        siblings: &[Executable],
    ) -> Result<Vec<PrecedenceConstraint>, LoadError> {
        gather(node, "PrecedenceConstraint", "PrecedenceConstraints")
            .map(|c| self.constraint(c, siblings))
            .collect()
    }

    fn constraint(
        &self,
        node: Node,
        siblings: &[Executable],
    ) -> Result<PrecedenceConstraint, LoadError> {
        let name = self.plain(node, "ObjectName");
        let resolve = |which: &str| -> Result<usize, LoadError> {
            // Format 6/8: DTS:From / DTS:To hold package paths. Format 3: IDREF children.
            let found = if let Some(path) = node.attribute((DTS_NS, which)) {
                siblings
                    .iter()
                    .position(|e| e.path.eq_ignore_ascii_case(path))
            } else {
                let is_from = which == "From";
                node.children()
                    .filter(|c| is_dts(*c, "Executable"))
                    .find(|c| parse_bool(c.attribute((DTS_NS, "IsFrom")).unwrap_or("0")) == is_from)
                    .and_then(|c| c.attribute("IDREF"))
                    .and_then(|id| {
                        siblings
                            .iter()
                            .position(|e| e.dtsid.eq_ignore_ascii_case(id))
                    })
            };
            found.ok_or_else(|| {
                self.error_at(
                    node.range().start,
                    format!("precedence constraint {name:?}: its {which} executable is not in the same container"),
                )
            })
        };
        let value = match self.plain(node, "Value").as_str() {
            "1" => ConstraintValue::Failure,
            "2" => ConstraintValue::Completion,
            _ => ConstraintValue::Success,
        };
        let eval_op = match self.plain(node, "EvalOp").as_str() {
            "1" => EvalOp::Expression,
            "3" => EvalOp::ExpressionAndConstraint,
            "4" => EvalOp::ExpressionOrConstraint,
            _ => EvalOp::Constraint,
        };
        Ok(PrecedenceConstraint {
            dtsid: self.plain(node, "DTSID"),
            from: resolve("From")?,
            to: resolve("To")?,
            value,
            eval_op,
            expression: self.plain(node, "Expression"),
            logical_and: self
                .prop(node, "LogicalAnd")
                .is_none_or(|(v, _)| parse_bool(&v)),
            name,
        })
    }

    fn event_handlers(
        &self,
        node: Node,
        parent_path: &str,
    ) -> Result<Vec<EventHandler>, LoadError> {
        gather(node, "EventHandler", "EventHandlers")
            .map(|h| {
                let event_name = self.plain(h, "EventName");
                let path = format!("{parent_path}.EventHandlers[{event_name}]");
                let executables = self.executables(h, &path)?;
                Ok(EventHandler {
                    precedence_constraints: self.constraints(h, &executables)?,
                    executables,
                    variables: self.variables(h),
                    dtsid: self.plain(h, "DTSID"),
                    disabled: parse_bool(&self.plain(h, "Disabled")),
                    event_name,
                })
            })
            .collect()
    }

    /// The whole package from its root `DTS:Executable`.
    pub fn package(&self, root: Node, source: Arc<SourceDoc>) -> Result<Package, LoadError> {
        if !is_dts(root, "Executable") {
            return Err(self.error_at(
                root.range().start,
                format!(
                    "root element is <{}>, expected <DTS:Executable> in namespace {DTS_NS}",
                    self.qname(root)
                ),
            ));
        }
        let mut origin = self.origin_for(root);
        let name = self.tracked(&mut origin, "name", root, "ObjectName", "");
        let description = self.tracked(&mut origin, "description", root, "Description", "");
        let connections: Vec<ConnectionManager> =
            gather(root, "ConnectionManager", "ConnectionManagers")
                .map(|c| self.connection(c))
                .collect();
        origin.list_len = connections.len();
        let executables = self.executables(root, "Package")?;
        Ok(Package {
            name,
            id: self.plain(root, "DTSID"),
            description,
            format_version: self.format,
            connections: Connections::from_vec(connections),
            project_connections: Connections::default(),
            variables: self.variables(root),
            package_parameters: gather(root, "PackageParameter", "PackageParameters")
                .map(|p| self.package_parameter(p))
                .collect(),
            project_parameters: Vec::new(),
            precedence_constraints: self.constraints(root, &executables)?,
            event_handlers: self.event_handlers(root, "Package")?,
            executables,
            source: Some(source),
            origin: Some(origin),
        })
    }
}

/// Reads `PackageFormatVersion` (always a property element, in every format).
pub(crate) fn format_version(root: Node) -> u32 {
    root.children()
        .find(|c| {
            is_dts(*c, "Property") && c.attribute((DTS_NS, "Name")) == Some("PackageFormatVersion")
        })
        .and_then(|c| element_text(c).trim().parse().ok())
        .unwrap_or(8)
}

/// Parameters from a `Project.params` document.
pub(crate) fn project_params(doc: &Document) -> Vec<Parameter> {
    doc.descendants()
        .filter(|n| n.has_tag_name((SSIS_NS, "Parameter")))
        .map(|p| {
            let prop = |name: &str| {
                p.descendants()
                    .find(|c| {
                        c.has_tag_name((SSIS_NS, "Property"))
                            && c.attribute((SSIS_NS, "Name")) == Some(name)
                    })
                    .map(element_text)
                    .unwrap_or_default()
            };
            Parameter {
                name: p
                    .attribute((SSIS_NS, "Name"))
                    .unwrap_or_default()
                    .to_owned(),
                dtsid: prop("ID"),
                data_type: vartype::from_type_code(prop("DataType").trim().parse().unwrap_or(18)),
                value: prop("Value"),
                sensitive: parse_bool(&prop("Sensitive")),
                required: parse_bool(&prop("Required")),
                origin: None,
            }
        })
        .collect()
}

fn is_dts(node: Node, local: &str) -> bool {
    node.is_element() && node.has_tag_name((DTS_NS, local))
}

fn is_cdata(raw: &str) -> bool {
    raw.starts_with("<![CDATA[")
}

/// Children named `item`, both direct and inside a `wrapper` child.
fn gather<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    item: &'a str,
    wrapper: &'a str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children().flat_map(move |c| {
        let list: Vec<Node<'a, 'input>> = if is_dts(c, item) {
            vec![c]
        } else if is_dts(c, wrapper) {
            c.children().filter(|g| is_dts(*g, item)).collect()
        } else {
            Vec::new()
        };
        list
    })
}

/// The concatenated text of an element's direct text children.
fn element_text(node: Node) -> String {
    node.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect()
}

/// SSIS booleans: `True`/`False` (2012+) or `-1`/`0` (2008); anything else is false.
pub(crate) fn parse_bool(s: &str) -> bool {
    let s = s.trim();
    s.eq_ignore_ascii_case("true") || s == "-1" || s == "1"
}

#[cfg(test)]
mod tests {
    use crate::dtsx::{LoadError, load_str};

    /// A package whose Send Mail task sits inside `levels` nested containers.
    fn nested_package(levels: usize) -> String {
        let open = r#"<DTS:Executables><DTS:Executable DTS:refId="C" DTS:CreationName="STOCK:SEQUENCE" DTS:ExecutableType="STOCK:SEQUENCE" DTS:ObjectName="C">"#;
        let close = "</DTS:Executable></DTS:Executables>";
        format!(
            r#"<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts" DTS:refId="Package" DTS:ExecutableType="Microsoft.Package" DTS:ObjectName="P">{}{}</DTS:Executable>"#,
            open.repeat(levels),
            close.repeat(levels)
        )
    }

    /// Found with the package fuzz target, fed a hand-built input: 20 000 nested containers
    /// overflowed the stack (an abort, not an error). Deep but plausible nesting still loads.
    #[test]
    fn executable_nesting_is_bounded() {
        let plausible = nested_package(100);
        let pkg = load_str(&plausible, "deep.dtsx").expect("100 nested containers load");
        assert_eq!(pkg.to_bytes().expect("saves"), plausible.as_bytes());

        match load_str(&nested_package(20_000), "deeper.dtsx") {
            Err(LoadError::Structure {
                origin,
                line,
                message,
                ..
            }) => {
                assert_eq!((origin.as_str(), line), ("deeper.dtsx", 1));
                assert!(message.contains("nested 257 elements deep"), "{message}");
            }
            other => panic!("expected a nesting error, got {other:?}"),
        }
    }
}
