//! Typed values of the expression language.

use chrono::{NaiveDate, NaiveDateTime};

use super::ast::CastType;
use crate::package::vartype;

/// A typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `DT_WSTR` / `DT_STR`.
    Str(String),
    /// `DT_I4` (and smaller integers).
    I4(i32),
    /// `DT_I8`.
    I8(i64),
    /// `DT_R8` / `DT_R4`.
    R8(f64),
    /// `DT_NUMERIC`/`DT_DECIMAL`/`DT_CY`: a value and its scale (digits after the point).
    Numeric(f64, u8),
    /// `DT_BOOL`.
    Bool(bool),
    /// `DT_DATE` / `DT_DBTIMESTAMP`.
    Date(NaiveDateTime),
    /// A typed NULL.
    Null(CastType),
}

impl Value {
    /// The value as text, the way a `(DT_WSTR, n)` cast renders it (NULL is empty).
    ///
    /// ```
    /// use smtpcm::expr::Value;
    /// assert_eq!(Value::Bool(true).to_display_string(), "True");
    /// assert_eq!(Value::R8(2.5).to_display_string(), "2.5");
    /// assert_eq!(Value::Numeric(3.0, 2).to_display_string(), "3.00");
    /// ```
    pub fn to_display_string(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::I4(n) => n.to_string(),
            Value::I8(n) => n.to_string(),
            Value::R8(f) => f.to_string(),
            Value::Numeric(f, scale) => format!("{f:.prec$}", prec = usize::from(*scale)),
            Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
            Value::Date(d) => {
                if d.and_utc().timestamp_subsec_nanos() == 0 {
                    d.format("%Y-%m-%d %H:%M:%S").to_string()
                } else {
                    d.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
                }
            }
            Value::Null(_) => String::new(),
        }
    }

    /// True for a NULL of any type.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null(_))
    }

    /// The SSIS type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "DT_WSTR",
            Value::I4(_) => "DT_I4",
            Value::I8(_) => "DT_I8",
            Value::R8(_) => "DT_R8",
            Value::Numeric(..) => "DT_NUMERIC",
            Value::Bool(_) => "DT_BOOL",
            Value::Date(_) => "DT_DBTIMESTAMP",
            Value::Null(t) => match t {
                CastType::WStr(_) | CastType::Str(..) => "DT_WSTR",
                CastType::I4 => "DT_I4",
                CastType::I8 => "DT_I8",
                CastType::R8 => "DT_R8",
                CastType::Numeric(_) => "DT_NUMERIC",
                CastType::Bool => "DT_BOOL",
                CastType::Date => "DT_DBTIMESTAMP",
            },
        }
    }

    /// Converts a variable's stored text and VARTYPE into a value; `None` when the text does
    /// not parse as that type.
    ///
    /// ```
    /// use smtpcm::expr::Value;
    /// assert_eq!(Value::from_vartype(3, "522"), Some(Value::I4(522)));
    /// assert_eq!(Value::from_vartype(11, "-1"), Some(Value::Bool(true)));
    /// ```
    pub fn from_vartype(data_type: u16, text: &str) -> Option<Value> {
        let t = text.trim();
        Some(match data_type {
            vartype::I2 | vartype::I4 | vartype::I1 | vartype::UI1 | vartype::UI2 => {
                Value::I4(if t.is_empty() { 0 } else { t.parse().ok()? })
            }
            vartype::UI4 | vartype::I8 | vartype::UI8 => {
                Value::I8(if t.is_empty() { 0 } else { t.parse().ok()? })
            }
            vartype::R4 | vartype::R8 => {
                Value::R8(if t.is_empty() { 0.0 } else { t.parse().ok()? })
            }
            vartype::CY | vartype::DECIMAL => {
                let scale = t.split_once('.').map(|(_, f)| f.len()).unwrap_or(0);
                Value::Numeric(
                    if t.is_empty() { 0.0 } else { t.parse().ok()? },
                    u8::try_from(scale).ok()?,
                )
            }
            vartype::BOOL => Value::Bool(t == "-1" || t == "1" || t.eq_ignore_ascii_case("true")),
            vartype::DATE => Value::Date(parse_date(t)?),
            _ => Value::Str(text.to_owned()),
        })
    }
}

/// Parses the date spellings found in packages and expressions.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    const DATETIME: [&str; 6] = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %I:%M %p",
    ];
    for f in DATETIME {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(d);
        }
    }
    for f in ["%Y-%m-%d", "%m/%d/%Y", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return d.and_hms_opt(0, 0, 0);
        }
    }
    None
}
