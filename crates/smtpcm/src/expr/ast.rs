//! The parsed form of an expression.

use super::value::Value;

/// A parsed expression node with the 1-based column it starts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// 1-based column of the node's first (or operator) token, for error messages.
    pub col: usize,
}

/// Expression node kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal, including typed `NULL(DT_...)`.
    Literal(Value),
    /// `@[Namespace::Name]` as written inside the brackets.
    Var(String),
    /// Prefix operator.
    Unary(UnOp, Box<Expr>),
    /// Infix operator.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `cond ? a : b`.
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `(DT_...) expr`.
    Cast(CastType, Box<Expr>),
    /// Function call; the name is upper-cased.
    Call(String, Vec<Expr>),
}

/// Prefix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    /// `-`
    Neg,
    /// `!`
    Not,
    /// `~`
    BitNot,
}

/// Infix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+` (addition or string concatenation)
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `&&`
    And,
    /// `||`
    Or,
    /// `&`
    BitAnd,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
}

/// Target types of casts and `NULL(...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastType {
    /// `DT_WSTR, length`
    WStr(u32),
    /// `DT_STR, length, codepage`
    Str(u32, u32),
    /// `DT_I1`/`DT_I2`/`DT_I4`/`DT_UI1`/`DT_UI2` (held as 32-bit).
    I4,
    /// `DT_I8`/`DT_UI4`/`DT_UI8` (held as 64-bit).
    I8,
    /// `DT_R4`/`DT_R8`.
    R8,
    /// `DT_NUMERIC, precision, scale`, `DT_DECIMAL, scale` and `DT_CY` (scale 4).
    Numeric(u8),
    /// `DT_BOOL`.
    Bool,
    /// One of the date and time types.
    Date(DateType),
}

/// The SSIS date and time types, which differ in what they hold and in how they convert to
/// a string (Microsoft's "Integration Services Data Types", *Converting Between Strings and
/// Date/Time Data Types*).
///
/// | type | string form |
/// |---|---|
/// | `DT_DBDATE` | `yyyy-mm-dd` |
/// | `DT_DBTIME` | `hh:mm:ss` |
/// | `DT_DBTIME2, s` | `hh:mm:ss` and `s` fractional digits |
/// | `DT_DBTIMESTAMP` | `yyyy-mm-dd hh:mm:ss`, and `.fff` when the milliseconds are not zero |
/// | `DT_DBTIMESTAMP2, s` | `yyyy-mm-dd hh:mm:ss` and `s` fractional digits |
/// | `DT_FILETIME` | `yyyy-mm-dd hh:mm:ss:fff` |
/// | `DT_DATE` | `yyyy-mm-dd hh:mm:ss` (see below) |
///
/// SSIS formats `DT_DATE` with the locale of the machine; Microsoft's Cast page adds that the
/// date part is ISO `YYYY-MM-DD` whatever the locale. smtpcm has no Windows locale to follow,
/// so it writes the locale-independent ISO form, to whole seconds, on every machine.
///
/// ```
/// use smtpcm::expr::{self, Value};
/// use std::collections::HashMap;
/// let scope: HashMap<String, Value> = HashMap::new();
/// let text = |src: &str| expr::evaluate(src, &scope).unwrap().to_display_string();
/// assert_eq!(text(r#"(DT_WSTR, 30) (DT_DBTIMESTAMP2, 4) "1999-10-11 16:34:52.1234""#), "1999-10-11 16:34:52.1234");
/// assert_eq!(text(r#"(DT_WSTR, 10) (DT_DBDATE) "1999-10-11 16:34:52""#), "1999-10-11");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateType {
    /// `DT_DATE`: what `DateTime` variables and `System::StartTime` hold.
    Date,
    /// `DT_DBDATE`: a date without a time.
    DbDate,
    /// `DT_DBTIME`: a time of day to whole seconds.
    DbTime,
    /// `DT_DBTIME2, scale`: a time of day with 0 to 7 fractional digits.
    DbTime2(u8),
    /// `DT_DBTIMESTAMP`: date and time to milliseconds; what `GETDATE()` returns.
    DbTimestamp,
    /// `DT_DBTIMESTAMP2, scale`: date and time with 0 to 7 fractional digits.
    DbTimestamp2(u8),
    /// `DT_FILETIME`: date and time to milliseconds.
    FileTime,
}

impl DateType {
    /// The SSIS name, e.g. `DT_DBTIMESTAMP2`.
    pub fn name(self) -> &'static str {
        match self {
            DateType::Date => "DT_DATE",
            DateType::DbDate => "DT_DBDATE",
            DateType::DbTime => "DT_DBTIME",
            DateType::DbTime2(_) => "DT_DBTIME2",
            DateType::DbTimestamp => "DT_DBTIMESTAMP",
            DateType::DbTimestamp2(_) => "DT_DBTIMESTAMP2",
            DateType::FileTime => "DT_FILETIME",
        }
    }

    /// True for the types that hold a time of day only.
    pub fn is_time_only(self) -> bool {
        matches!(self, DateType::DbTime | DateType::DbTime2(_))
    }
}

/// The largest fractional-second scale of `DT_DBTIME2` and `DT_DBTIMESTAMP2`.
const MAX_DATE_SCALE: i64 = 7;

impl CastType {
    pub(crate) fn from_parts(name: &str, params: &[i64]) -> Option<CastType> {
        let p = |i: usize| params.get(i).and_then(|v| u32::try_from(*v).ok());
        Some(match (name, params.len()) {
            ("DT_WSTR", 1) => CastType::WStr(p(0)?),
            ("DT_STR", 2) => CastType::Str(p(0)?, p(1)?),
            ("DT_I1" | "DT_I2" | "DT_I4" | "DT_UI1" | "DT_UI2", 0) => CastType::I4,
            ("DT_I8" | "DT_UI4" | "DT_UI8", 0) => CastType::I8,
            ("DT_R4" | "DT_R8", 0) => CastType::R8,
            ("DT_NUMERIC", 2) => CastType::Numeric(u8::try_from(p(1)?).ok()?),
            ("DT_DECIMAL", 1) => CastType::Numeric(u8::try_from(p(0)?).ok()?),
            ("DT_CY", 0) => CastType::Numeric(4),
            ("DT_BOOL", 0) => CastType::Bool,
            ("DT_DATE", 0) => CastType::Date(DateType::Date),
            ("DT_DBDATE", 0) => CastType::Date(DateType::DbDate),
            ("DT_DBTIME", 0) => CastType::Date(DateType::DbTime),
            ("DT_DBTIMESTAMP", 0) => CastType::Date(DateType::DbTimestamp),
            ("DT_FILETIME", 0) => CastType::Date(DateType::FileTime),
            // SSIS requires the scale; a missing one is taken as the maximum, 7.
            ("DT_DBTIME2" | "DT_DBTIMESTAMP2", 0 | 1) => {
                let scale = params.first().copied().unwrap_or(MAX_DATE_SCALE);
                if !(0..=MAX_DATE_SCALE).contains(&scale) {
                    return None;
                }
                let scale = scale as u8;
                CastType::Date(if name == "DT_DBTIME2" {
                    DateType::DbTime2(scale)
                } else {
                    DateType::DbTimestamp2(scale)
                })
            }
            _ => return None,
        })
    }
}
