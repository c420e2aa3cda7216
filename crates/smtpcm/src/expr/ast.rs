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
    /// `DT_DATE`, `DT_DBDATE`, `DT_DBTIMESTAMP`, `DT_DBTIMESTAMP2`.
    Date,
}

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
            ("DT_DATE" | "DT_DBDATE" | "DT_DBTIMESTAMP" | "DT_DBTIMESTAMP2", _)
                if params.len() <= 1 =>
            {
                CastType::Date
            }
            _ => return None,
        })
    }
}
