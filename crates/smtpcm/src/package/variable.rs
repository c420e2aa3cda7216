//! Variables and parameters.

use super::origin::Origin;

/// VARTYPE codes used by `DTS:DataType` on variables and package parameters.
pub mod vartype {
    /// 16-bit integer (`VT_I2`).
    pub const I2: u16 = 2;
    /// 32-bit integer (`VT_I4`).
    pub const I4: u16 = 3;
    /// Single precision float (`VT_R4`).
    pub const R4: u16 = 4;
    /// Double precision float (`VT_R8`).
    pub const R8: u16 = 5;
    /// Currency (`VT_CY`).
    pub const CY: u16 = 6;
    /// Date/time (`VT_DATE`).
    pub const DATE: u16 = 7;
    /// String (`VT_BSTR`).
    pub const STRING: u16 = 8;
    /// Boolean (`VT_BOOL`, true written as `-1` in format 3).
    pub const BOOL: u16 = 11;
    /// Object (`VT_UNKNOWN`/serialised object).
    pub const OBJECT: u16 = 13;
    /// Decimal (`VT_DECIMAL`).
    pub const DECIMAL: u16 = 14;
    /// Signed byte.
    pub const I1: u16 = 16;
    /// Unsigned byte.
    pub const UI1: u16 = 17;
    /// Unsigned 16-bit integer.
    pub const UI2: u16 = 18;
    /// Unsigned 32-bit integer.
    pub const UI4: u16 = 19;
    /// 64-bit integer (`VT_I8`).
    pub const I8: u16 = 20;
    /// Unsigned 64-bit integer.
    pub const UI8: u16 = 21;

    /// Maps a .NET `TypeCode` (used by `Project.params`) to the VARTYPE used in packages.
    pub fn from_type_code(code: u16) -> u16 {
        match code {
            3 => BOOL,
            5 => I1,
            6 => UI1,
            7 => I2,
            8 => UI2,
            9 => I4,
            10 => UI4,
            11 => I8,
            12 => UI8,
            13 => R4,
            14 => R8,
            15 => DECIMAL,
            16 => DATE,
            1 => OBJECT,
            _ => STRING,
        }
    }
}

/// A `DTS:Variable`.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// `User`, `System` or a custom namespace.
    pub namespace: String,
    /// `ObjectName`.
    pub name: String,
    /// `DTSID`.
    pub dtsid: String,
    /// VARTYPE code of the value (see [`vartype`]).
    pub data_type: u16,
    /// The value as written in the file (for booleans `-1`/`0` or `True`/`False`).
    pub value: String,
    /// The variable's expression (may be empty).
    pub expression: String,
    /// When true, the value comes from `expression` at run time.
    pub evaluate_as_expression: bool,
    pub(crate) origin: Option<Origin>,
}

impl Variable {
    /// A new `User::` string variable.
    pub fn new(namespace: &str, name: &str, data_type: u16, value: &str) -> Variable {
        Variable {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dtsid: super::connection::new_dtsid(),
            data_type,
            value: value.to_owned(),
            expression: String::new(),
            evaluate_as_expression: false,
            origin: None,
        }
    }

    /// `Namespace::Name`.
    pub fn qualified_name(&self) -> String {
        format!("{}::{}", self.namespace, self.name)
    }

    /// True for `Namespace::Name` or a bare `Name`. Namespaces and names compare
    /// case-insensitively here, which is enough for lookup by people on a command line.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.trim().trim_start_matches('[').trim_end_matches(']');
        match name.split_once("::") {
            Some((ns, n)) => {
                ns.eq_ignore_ascii_case(&self.namespace)
                    && n.to_lowercase() == self.name.to_lowercase()
            }
            None => name.to_lowercase() == self.name.to_lowercase(),
        }
    }
}

/// A package (`DTS:PackageParameter`) or project (`Project.params`) parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Parameter name without the `$Package::`/`$Project::` prefix.
    pub name: String,
    /// `DTSID`.
    pub dtsid: String,
    /// VARTYPE code (project parameters are converted from TypeCode).
    pub data_type: u16,
    /// The design value as written.
    pub value: String,
    /// Sensitive parameters hold secrets; never print their value.
    pub sensitive: bool,
    /// Must be supplied at run time.
    pub required: bool,
    pub(crate) origin: Option<Origin>,
}

impl Parameter {
    /// A new parameter.
    pub fn new(name: &str, data_type: u16, value: &str) -> Parameter {
        Parameter {
            name: name.to_owned(),
            dtsid: super::connection::new_dtsid(),
            data_type,
            value: value.to_owned(),
            sensitive: false,
            required: false,
            origin: None,
        }
    }
}
