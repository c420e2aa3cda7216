//! Typed values of the expression language.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use super::ast::{CastType, DateType};
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
    /// A date or time of one of the SSIS date types, normalised to what that type holds
    /// (see [`DateType`]); time-only types carry the date 1899-12-30, the OLE zero date.
    Date(DateType, NaiveDateTime),
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
            Value::Date(ty, d) => format_date(*ty, d),
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
            Value::Date(ty, _) => ty.name(),
            Value::Null(t) => match t {
                CastType::WStr(_) | CastType::Str(..) => "DT_WSTR",
                CastType::I4 => "DT_I4",
                CastType::I8 => "DT_I8",
                CastType::R8 => "DT_R8",
                CastType::Numeric(_) => "DT_NUMERIC",
                CastType::Bool => "DT_BOOL",
                CastType::Date(ty) => ty.name(),
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
            vartype::DATE => Value::Date(DateType::Date, DateType::Date.normalize(parse_date(t)?)),
            _ => Value::Str(text.to_owned()),
        })
    }
}

/// The .NET type name SSIS shows for a VARTYPE (`Int32`, `Boolean`, ...), for messages.
///
/// ```
/// assert_eq!(smtpcm::expr::vartype_name(3), "Int32");
/// assert_eq!(smtpcm::expr::vartype_name(11), "Boolean");
/// ```
pub fn vartype_name(data_type: u16) -> &'static str {
    match data_type {
        vartype::I1 => "SByte",
        vartype::UI1 => "Byte",
        vartype::I2 => "Int16",
        vartype::UI2 => "UInt16",
        vartype::I4 => "Int32",
        vartype::UI4 => "UInt32",
        vartype::I8 => "Int64",
        vartype::UI8 => "UInt64",
        vartype::R4 => "Single",
        vartype::R8 => "Double",
        vartype::CY | vartype::DECIMAL => "Decimal",
        vartype::BOOL => "Boolean",
        vartype::DATE => "DateTime",
        vartype::OBJECT => "Object",
        _ => "String",
    }
}

impl Value {
    /// Converts a value given for a parameter (`/Par`, `Project.params`) into its type,
    /// strictly: unlike [`Value::from_vartype`], an empty or malformed number and anything
    /// but `True`/`False`/`1`/`0`/`-1` for a Boolean is an error, whose text says what the
    /// type accepts (and never repeats the value, which may be a secret).
    ///
    /// ```
    /// use smtpcm::expr::Value;
    /// assert_eq!(Value::parse_vartype(3, " 42 "), Ok(Value::I4(42)));
    /// assert!(Value::parse_vartype(3, "forty-two").is_err());
    /// assert!(Value::parse_vartype(3, "").is_err());
    /// assert!(Value::parse_vartype(11, "maybe").is_err());
    /// assert_eq!(Value::parse_vartype(11, "TRUE"), Ok(Value::Bool(true)));
    /// ```
    pub fn parse_vartype(data_type: u16, text: &str) -> Result<Value, String> {
        let t = text.trim();
        fn int<T: std::str::FromStr + Into<i64>>(t: &str, what: &str) -> Result<i64, String> {
            t.parse::<T>()
                .map(Into::into)
                .map_err(|_| format!("expected {what}"))
        }
        let i4 = |n: i64| Value::I4(n as i32);
        Ok(match data_type {
            vartype::I1 => i4(int::<i8>(t, "a whole number from -128 to 127")?),
            vartype::UI1 => i4(int::<u8>(t, "a whole number from 0 to 255")?),
            vartype::I2 => i4(int::<i16>(t, "a whole number from -32768 to 32767")?),
            vartype::UI2 => i4(int::<u16>(t, "a whole number from 0 to 65535")?),
            vartype::I4 => i4(int::<i32>(
                t,
                "a whole number from -2147483648 to 2147483647",
            )?),
            vartype::UI4 => Value::I8(int::<u32>(t, "a whole number from 0 to 4294967295")?),
            vartype::I8 => Value::I8(int::<i64>(
                t,
                "a whole number from -9223372036854775808 to 9223372036854775807",
            )?),
            // Held as i64 here, so the top half of UInt64 is out of reach.
            vartype::UI8 => Value::I8(
                t.parse::<u64>()
                    .ok()
                    .and_then(|n| i64::try_from(n).ok())
                    .ok_or("expected a whole number from 0 to 9223372036854775807")?,
            ),
            vartype::R4 | vartype::R8 | vartype::CY | vartype::DECIMAL => {
                let f: f64 = t
                    .parse()
                    .ok()
                    .filter(|f: &f64| f.is_finite())
                    .ok_or("expected a number such as 12.5")?;
                if matches!(data_type, vartype::CY | vartype::DECIMAL) {
                    let scale = t.split_once('.').map(|(_, f)| f.len()).unwrap_or(0);
                    Value::Numeric(
                        f,
                        u8::try_from(scale).map_err(|_| "too many decimal places")?,
                    )
                } else {
                    Value::R8(f)
                }
            }
            vartype::BOOL => match t.to_ascii_lowercase().as_str() {
                "true" | "1" | "-1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                _ => return Err("expected True or False (or 1, -1, 0)".into()),
            },
            vartype::DATE => Value::Date(
                DateType::Date,
                DateType::Date
                    .normalize(parse_date(t).ok_or("expected a date such as 2024-02-29 13:05:09")?),
            ),
            _ => Value::Str(text.to_owned()),
        })
    }
}

/// The date SSIS's time-only types sit on: OLE Automation's day zero.
fn time_only_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or_default()
}

/// `d` with its fraction of a second cut to `digits` digits (0 to 9).
fn truncate_fraction(d: NaiveDateTime, digits: u32) -> NaiveDateTime {
    let nanos = d.nanosecond().min(999_999_999);
    let unit = 10u32.pow(9 - digits.min(9));
    d.with_nanosecond(nanos - nanos % unit).unwrap_or(d)
}

/// `.` and the first `digits` digits of the fraction of a second; empty for 0 digits.
fn fraction(d: &NaiveDateTime, digits: u8) -> String {
    if digits == 0 {
        return String::new();
    }
    let all = format!("{:09}", d.nanosecond().min(999_999_999));
    format!(".{}", &all[..usize::from(digits.min(9))])
}

fn format_date(ty: DateType, d: &NaiveDateTime) -> String {
    let date = || d.format("%Y-%m-%d").to_string();
    let time = || d.format("%H:%M:%S").to_string();
    match ty {
        DateType::Date => format!("{} {}", date(), time()),
        DateType::DbDate => date(),
        DateType::DbTime => time(),
        DateType::DbTime2(scale) => format!("{}{}", time(), fraction(d, scale)),
        DateType::DbTimestamp => {
            // "yyyy-mm-dd hh:mm:ss[.fff]": the milliseconds only when there are some.
            let ms = if d.nanosecond() >= 1_000_000 {
                fraction(d, 3)
            } else {
                String::new()
            };
            format!("{} {}{ms}", date(), time())
        }
        DateType::DbTimestamp2(scale) => format!("{} {}{}", date(), time(), fraction(d, scale)),
        DateType::FileTime => format!(
            "{} {}:{:03}",
            date(),
            time(),
            d.nanosecond().min(999_999_999) / 1_000_000
        ),
    }
}

impl DateType {
    /// `d` reduced to what this type holds: the date part dropped for time-only types, the
    /// time dropped for `DT_DBDATE`, the fraction of a second cut to the type's scale.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use smtpcm::expr::DateType;
    /// let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap().and_hms_nano_opt(13, 5, 9, 123_456_789).unwrap();
    /// assert_eq!(DateType::DbTimestamp.normalize(d).to_string(), "2024-02-29 13:05:09.123");
    /// assert_eq!(DateType::DbDate.normalize(d).to_string(), "2024-02-29 00:00:00");
    /// ```
    pub fn normalize(self, d: NaiveDateTime) -> NaiveDateTime {
        match self {
            DateType::Date => truncate_fraction(d, 7),
            DateType::DbDate => d.date().and_time(NaiveTime::MIN),
            DateType::DbTime => time_only_date().and_time(truncate_fraction(d, 0).time()),
            DateType::DbTime2(scale) => {
                time_only_date().and_time(truncate_fraction(d, u32::from(scale)).time())
            }
            DateType::DbTimestamp | DateType::FileTime => truncate_fraction(d, 3),
            DateType::DbTimestamp2(scale) => truncate_fraction(d, u32::from(scale)),
        }
    }
}

/// Parses a time of day (`hh:mm:ss[.fffffff]`, `hh:mm`), or the time part of a date and time.
pub(crate) fn parse_time(s: &str) -> Option<NaiveTime> {
    let s = s.trim();
    for f in ["%H:%M:%S%.f", "%H:%M"] {
        if let Ok(t) = NaiveTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    parse_date(s).map(|d| d.time())
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
