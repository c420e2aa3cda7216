//! Connection managers and the package's collection of them.

use super::executable::PropertyExpression;
use super::origin::Origin;

/// The default connection string SSIS gives a new SMTP connection manager.
pub const DEFAULT_SMTP_CONNECTION_STRING: &str =
    "SmtpServer=;UseWindowsAuthentication=False;EnableSsl=False;";

/// What a connection manager connects to, from its `CreationName`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionKind {
    /// Microsoft's SMTP connection manager (`CreationName="SMTP"` exactly).
    Smtp,
    /// A File connection manager (`FILE`); its connection string is a path.
    File,
    /// A Flat File connection manager (`FLATFILE`); its connection string is a path.
    FlatFile,
    /// Anything else, including look-alikes such as `SMTP (KingswaySoft)`.
    Other(String),
}

impl ConnectionKind {
    /// Classifies a `CreationName`. Only the exact Microsoft monikers are recognised, so a
    /// third-party `SMTP (KingswaySoft)` is never mistaken for ours.
    ///
    /// ```
    /// use smtpcm::package::ConnectionKind;
    /// assert_eq!(ConnectionKind::from_creation_name("SMTP"), ConnectionKind::Smtp);
    /// assert!(matches!(
    ///     ConnectionKind::from_creation_name("SMTP (KingswaySoft)"),
    ///     ConnectionKind::Other(_)
    /// ));
    /// ```
    pub fn from_creation_name(creation_name: &str) -> ConnectionKind {
        match creation_name {
            "SMTP" => ConnectionKind::Smtp,
            "FILE" => ConnectionKind::File,
            "FLATFILE" => ConnectionKind::FlatFile,
            other => ConnectionKind::Other(other.to_owned()),
        }
    }
}

/// One connection manager (`DTS:ConnectionManager`), in a package or a `.conmgr` file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionManager {
    /// `ObjectName`.
    pub name: String,
    /// `DTSID`, braced GUID as written.
    pub dtsid: String,
    /// `CreationName` (`SMTP`, `FILE`, `OLEDB`, ...).
    pub creation_name: String,
    /// `Description`.
    pub description: String,
    /// For SMTP the `<SmtpConnectionManager ConnectionString>` value; for FILE/FLATFILE the
    /// path; for others the inner `DTS:ConnectionString` when present.
    pub connection_string: String,
    /// `<DTS:PropertyExpression>` children, evaluated at run time.
    pub property_expressions: Vec<PropertyExpression>,
    /// Classified from `creation_name` at load or creation.
    pub kind: ConnectionKind,
    /// `DTS:refId` (format 6/8), empty for format 3 and `.conmgr` files.
    pub ref_id: String,
    pub(crate) origin: Option<Origin>,
}

impl ConnectionManager {
    /// A new connection manager of the given creation name with a fresh DTSID.
    ///
    /// SMTP managers start with SSIS's default connection string.
    pub fn new(creation_name: &str) -> ConnectionManager {
        let kind = ConnectionKind::from_creation_name(creation_name);
        let connection_string = if kind == ConnectionKind::Smtp {
            DEFAULT_SMTP_CONNECTION_STRING.to_owned()
        } else {
            String::new()
        };
        let name = match kind {
            ConnectionKind::Smtp => "SMTP Connection Manager".to_owned(),
            _ => format!("{creation_name} Connection Manager"),
        };
        ConnectionManager {
            name,
            dtsid: new_dtsid(),
            creation_name: creation_name.to_owned(),
            description: String::new(),
            connection_string,
            property_expressions: Vec::new(),
            kind,
            ref_id: String::new(),
            origin: None,
        }
    }

    /// True when `name_or_id` is this manager's name (case-insensitive) or DTSID (GUID
    /// comparison ignores case and braces).
    pub fn matches(&self, name_or_id: &str) -> bool {
        self.name.eq_ignore_ascii_case(name_or_id)
            || self.name.to_lowercase() == name_or_id.to_lowercase()
            || same_guid(&self.dtsid, name_or_id)
    }

    /// The property expression for `property`, if any (case-insensitive).
    pub fn property_expression(&self, property: &str) -> Option<&str> {
        self.property_expressions
            .iter()
            .find(|p| p.property.eq_ignore_ascii_case(property))
            .map(|p| p.expression.as_str())
    }
}

/// A fresh DTSID in SSIS's spelling: upper-case GUID in braces.
pub fn new_dtsid() -> String {
    format!("{{{}}}", uuid::Uuid::new_v4().to_string().to_uppercase())
}

/// Compares two GUIDs ignoring case and surrounding braces; non-GUID text never matches.
pub fn same_guid(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> Option<uuid::Uuid> {
        let t = s.trim();
        let t = t
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(t);
        uuid::Uuid::parse_str(t).ok()
    }
    matches!((norm(a), norm(b)), (Some(x), Some(y)) if x == y)
}

/// The connection managers of a package (or of a project).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Connections {
    items: Vec<ConnectionManager>,
}

impl Connections {
    /// Wraps loaded managers.
    pub fn from_vec(items: Vec<ConnectionManager>) -> Connections {
        Connections { items }
    }

    /// Adds a new manager, as SSIS's `Connections.Add(creationName)` does, and returns it.
    ///
    /// The name is made unique (`SMTP Connection Manager 1`, ...) like the designer does.
    ///
    /// ```
    /// let mut pkg = smtpcm::package::Package::new("P");
    /// let id = pkg.connections.add("SMTP").dtsid.clone();
    /// let second = pkg.connections.add("SMTP").name.clone();
    /// assert_eq!(second, "SMTP Connection Manager 1");
    /// assert!(pkg.connections.get(&id.to_lowercase()).is_some());
    /// ```
    pub fn add(&mut self, creation_name: &str) -> &mut ConnectionManager {
        let mut cm = ConnectionManager::new(creation_name);
        let base = cm.name.clone();
        let mut n = 0;
        while self
            .items
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(&cm.name))
        {
            n += 1;
            cm.name = format!("{base} {n}");
        }
        self.items.push(cm);
        let last = self.items.len() - 1;
        &mut self.items[last]
    }

    /// Removes the manager matching `name_or_id` (see [`ConnectionManager::matches`]) and
    /// returns it; saving a loaded package then cuts its element out of the file.
    pub fn remove(&mut self, name_or_id: &str) -> Option<ConnectionManager> {
        let i = self.items.iter().position(|c| c.matches(name_or_id))?;
        Some(self.items.remove(i))
    }

    /// Finds a manager by name (case-insensitive) or DTSID (any case, braces optional).
    pub fn get(&self, name_or_id: &str) -> Option<&ConnectionManager> {
        self.items.iter().find(|c| c.matches(name_or_id))
    }

    /// Mutable variant of [`Connections::get`].
    pub fn get_mut(&mut self, name_or_id: &str) -> Option<&mut ConnectionManager> {
        self.items.iter_mut().find(|c| c.matches(name_or_id))
    }

    /// All managers in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConnectionManager> {
        self.items.iter()
    }

    /// All managers, mutably.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, ConnectionManager> {
        self.items.iter_mut()
    }

    /// Number of managers.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The managers as a slice.
    pub fn as_slice(&self) -> &[ConnectionManager] {
        &self.items
    }
}

impl<'a> IntoIterator for &'a Connections {
    type Item = &'a ConnectionManager;
    type IntoIter = std::slice::Iter<'a, ConnectionManager>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}
