//! The one table of Send Mail task properties: names, aliases, types, whether property
//! expressions may set them, and what a blank value means.
//!
//! `/Set \Package\Task.Properties[...]` (package paths), property expressions at run time
//! and `inspect` all go through this table, so a value means the same wherever it comes from:
//! `/Set …[Priority];1` and an expression that yields `"1"` both become `High`, through the
//! same `FromStr` impls the task itself uses.

use std::str::FromStr;

use super::executable::SendMailTaskData;
use crate::send_mail::MessageSourceType;
use smtpcm_engine::mime::Priority;

/// What a property's text is, which decides how it is checked and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyType {
    /// Free text (addresses, subject, body or its source name), stored as given.
    Text,
    /// The SMTP connection manager's name or DTSID, resolved when the task runs.
    Connection,
    /// `DirectInput`, `FileConnection`, `Variable` or 0, 1, 2 ([`MessageSourceType`]).
    MessageSourceType,
    /// `High`, `Normal`, `Low` or 1, 3, 5 ([`Priority`]).
    Priority,
    /// `|`-separated file paths.
    Attachments,
}

/// What an empty (or all-space) value does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blank {
    /// Stored as the empty string.
    Empty,
    /// Means the default, which is stored instead.
    Default(&'static str),
    /// Refused with the type's error.
    Invalid,
    /// Blank entries of the list are dropped (`a||b|` is `a` and `b`; blank is no attachment).
    SkipEntries,
}

/// One Send Mail task property.
#[derive(Debug)]
pub struct SendMailProperty {
    /// The runtime name, as property expressions and `/Set` write it (`FromLine`).
    pub name: &'static str,
    /// Other accepted spellings: the `.dtsx` attribute names (`From`, `SMTPServer`).
    pub aliases: &'static [&'static str],
    /// How the value is checked and stored.
    pub ty: PropertyType,
    /// Whether a property expression may set it.
    pub expression: bool,
    /// What a blank value means.
    pub blank: Blank,
}

/// Every Send Mail task property (Microsoft's `IDTSSendMailTask`, except `DebugMode`).
pub static SEND_MAIL_PROPERTIES: [SendMailProperty; 10] = [
    prop(
        "SmtpConnection",
        &["SMTPServer"],
        PropertyType::Connection,
        Blank::Empty,
    ),
    prop("FromLine", &["From"], PropertyType::Text, Blank::Empty),
    prop("ToLine", &["To"], PropertyType::Text, Blank::Empty),
    prop("CCLine", &["CC"], PropertyType::Text, Blank::Empty),
    prop("BCCLine", &["BCC"], PropertyType::Text, Blank::Empty),
    prop("Subject", &[], PropertyType::Text, Blank::Empty),
    prop(
        "MessageSourceType",
        &[],
        PropertyType::MessageSourceType,
        Blank::Default("DirectInput"),
    ),
    prop("MessageSource", &[], PropertyType::Text, Blank::Empty),
    prop("Priority", &[], PropertyType::Priority, Blank::Invalid),
    prop(
        "FileAttachments",
        &["Attachments"],
        PropertyType::Attachments,
        Blank::SkipEntries,
    ),
];

const fn prop(
    name: &'static str,
    aliases: &'static [&'static str],
    ty: PropertyType,
    blank: Blank,
) -> SendMailProperty {
    SendMailProperty {
        name,
        aliases,
        ty,
        // SSIS lets a property expression set every one of them, SmtpConnection included.
        expression: true,
        blank,
    }
}

/// The property called `name` (or one of its aliases), case-insensitively.
///
/// ```
/// use smtpcm::package::send_mail_property;
/// assert_eq!(send_mail_property("smtpserver").unwrap().name, "SmtpConnection");
/// assert!(send_mail_property("Disable").is_none());
/// ```
pub fn send_mail_property(name: &str) -> Option<&'static SendMailProperty> {
    let name = name.trim();
    SEND_MAIL_PROPERTIES.iter().find(|p| {
        p.name.eq_ignore_ascii_case(name) || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

impl SendMailProperty {
    /// The stored value as text (attachments joined with `|`).
    pub fn get(&self, d: &SendMailTaskData) -> String {
        match self.ty {
            PropertyType::Attachments => d.attachments.join("|"),
            _ => self.text_field(d).clone(),
        }
    }

    /// Checks `value` and stores it in its canonical form (`1` for `Priority` is stored as
    /// `High`); the error says what the property accepts.
    ///
    /// ```
    /// use smtpcm::package::{SendMailTaskData, send_mail_property};
    /// let mut d = SendMailTaskData::default();
    /// send_mail_property("Priority").unwrap().set(&mut d, "1").unwrap();
    /// assert_eq!(d.priority, "High");
    /// send_mail_property("FileAttachments").unwrap().set(&mut d, "a.txt||b.txt|").unwrap();
    /// assert_eq!(d.attachments, ["a.txt", "b.txt"]);
    /// assert!(send_mail_property("Priority").unwrap().set(&mut d, "urgent").is_err());
    /// ```
    pub fn set(&self, d: &mut SendMailTaskData, value: &str) -> Result<(), String> {
        let value = match self.blank {
            Blank::Default(default) if value.trim().is_empty() => default,
            _ => value,
        };
        let stored = match self.ty {
            PropertyType::Text | PropertyType::Connection => value.to_owned(),
            PropertyType::MessageSourceType => MessageSourceType::from_str(value)?.to_string(),
            PropertyType::Priority => Priority::from_str(value)
                .map_err(|e| e.to_string())?
                .to_string(),
            PropertyType::Attachments => {
                d.attachments = value
                    .split('|')
                    .filter(|p| !p.trim().is_empty())
                    .map(str::to_owned)
                    .collect();
                return Ok(());
            }
        };
        *self.text_field_mut(d) = stored;
        Ok(())
    }

    fn text_field<'d>(&self, d: &'d SendMailTaskData) -> &'d String {
        match self.name {
            "SmtpConnection" => &d.smtp_server_ref,
            "FromLine" => &d.from,
            "ToLine" => &d.to,
            "CCLine" => &d.cc,
            "BCCLine" => &d.bcc,
            "Subject" => &d.subject,
            "MessageSourceType" => &d.message_source_type,
            "Priority" => &d.priority,
            _ => &d.message_source,
        }
    }

    fn text_field_mut<'d>(&self, d: &'d mut SendMailTaskData) -> &'d mut String {
        match self.name {
            "SmtpConnection" => &mut d.smtp_server_ref,
            "FromLine" => &mut d.from,
            "ToLine" => &mut d.to,
            "CCLine" => &mut d.cc,
            "BCCLine" => &mut d.bcc,
            "Subject" => &mut d.subject,
            "MessageSourceType" => &mut d.message_source_type,
            "Priority" => &mut d.priority,
            _ => &mut d.message_source,
        }
    }
}
