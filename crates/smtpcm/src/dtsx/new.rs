//! A new, empty package in format 8, shaped like the designer's output in the corpus
//! (UTF-8 BOM, CRLF, one attribute per line, attributes in the designer's order).
//!
//! The template is rendered and then loaded like any file, so a new package and a loaded one
//! share the same save path and a new package round-trips through its own bytes.

use super::source::escape_attr;
use crate::package::Package;
use crate::package::connection::new_dtsid;

/// Product version written as `LastModifiedProductVersion` (SSDT for SQL Server 2022).
const PRODUCT_VERSION: &str = "16.0.5397.1";

pub(crate) fn render(
    name: &str,
    dtsid: &str,
    version_guid: &str,
    created: &str,
    creator: &str,
    computer: &str,
) -> String {
    let lines = [
        "<?xml version=\"1.0\"?>".to_owned(),
        "<DTS:Executable xmlns:DTS=\"www.microsoft.com/SqlServer/Dts\"".to_owned(),
        "  DTS:refId=\"Package\"".to_owned(),
        format!("  DTS:CreationDate=\"{}\"", escape_attr(created)),
        "  DTS:CreationName=\"Microsoft.Package\"".to_owned(),
        format!("  DTS:CreatorComputerName=\"{}\"", escape_attr(computer)),
        format!("  DTS:CreatorName=\"{}\"", escape_attr(creator)),
        format!("  DTS:DTSID=\"{dtsid}\""),
        "  DTS:ExecutableType=\"Microsoft.Package\"".to_owned(),
        format!("  DTS:LastModifiedProductVersion=\"{PRODUCT_VERSION}\""),
        "  DTS:LocaleID=\"1033\"".to_owned(),
        format!("  DTS:ObjectName=\"{}\"", escape_attr(name)),
        "  DTS:PackageType=\"5\"".to_owned(),
        "  DTS:VersionBuild=\"1\"".to_owned(),
        format!("  DTS:VersionGUID=\"{version_guid}\">"),
        "  <DTS:Property".to_owned(),
        "    DTS:Name=\"PackageFormatVersion\">8</DTS:Property>".to_owned(),
        "  <DTS:Variables />".to_owned(),
        "  <DTS:Executables />".to_owned(),
        "</DTS:Executable>".to_owned(),
    ];
    format!("\u{FEFF}{}", lines.join("\r\n"))
}

impl Package {
    /// A new, empty package in format 8, as the SSIS designer would create it.
    ///
    /// ```
    /// let pkg = smtpcm::package::Package::new("Report");
    /// assert_eq!(pkg.format_version, 8);
    /// assert!(pkg.id.starts_with('{') && pkg.id.ends_with('}'));
    /// ```
    pub fn new(name: &str) -> Package {
        new_package(name)
    }
}

fn new_package(name: &str) -> Package {
    let created = chrono::Local::now()
        .format("%-m/%-d/%Y %-I:%M:%S %p")
        .to_string();
    let computer = gethostname::gethostname().to_string_lossy().into_owned();
    let creator = std::env::var("USER").unwrap_or_default();
    let text = render(
        name,
        &new_dtsid(),
        &new_dtsid(),
        &created,
        &creator,
        &computer,
    );
    match super::load_bytes(text.into_bytes(), name) {
        Ok(pkg) => pkg,
        // The template is fixed and every interpolated value is escaped, so it always parses;
        // reaching this is a bug in the template, not bad input.
        Err(e) => unreachable!("new-package template does not load: {e}"),
    }
}

/// A new project connection manager file (`.conmgr`) for an SMTP server, shaped like the
/// designer's (UTF-8 BOM, CRLF, one attribute per line, `ObjectName` first).
///
/// ```
/// let f = smtpcm::dtsx::new_smtp_conmgr("Mail").unwrap();
/// assert_eq!(f.connection.name, "Mail");
/// let bytes = f.to_bytes().unwrap();
/// let again = smtpcm::dtsx::conmgr_from_bytes(bytes.clone(), "Mail.conmgr").unwrap();
/// assert_eq!(again.connection.connection_string, f.connection.connection_string);
/// assert_eq!(again.to_bytes().unwrap(), bytes);
/// ```
pub fn new_smtp_conmgr(name: &str) -> Result<super::ConmgrFile, super::SaveError> {
    if let Some((position, c)) = super::invalid_xml_char(name) {
        return Err(super::SaveError::NotXmlChar {
            origin: format!("{name}.conmgr"),
            what: "connection manager name".into(),
            position,
            code: format!("U+{:04X}", u32::from(c)),
        });
    }
    let lines = [
        "<?xml version=\"1.0\"?>".to_owned(),
        "<DTS:ConnectionManager xmlns:DTS=\"www.microsoft.com/SqlServer/Dts\"".to_owned(),
        format!("  DTS:ObjectName=\"{}\"", escape_attr(name)),
        format!("  DTS:DTSID=\"{}\"", new_dtsid()),
        "  DTS:CreationName=\"SMTP\">".to_owned(),
        "  <DTS:ObjectData>".to_owned(),
        "    <SmtpConnectionManager".to_owned(),
        format!(
            "      ConnectionString=\"{}\" />",
            escape_attr(crate::package::connection::DEFAULT_SMTP_CONNECTION_STRING)
        ),
        "  </DTS:ObjectData>".to_owned(),
        "</DTS:ConnectionManager>".to_owned(),
    ];
    let text = format!("\u{FEFF}{}", lines.join("\r\n"));
    super::conmgr_from_bytes(text.into_bytes(), &format!("{name}.conmgr")).map_err(|e| {
        // Every interpolated value is escaped and checked above, so the template parses.
        super::SaveError::Unsupported {
            origin: format!("{name}.conmgr"),
            what: format!("new .conmgr ({e})"),
        }
    })
}
