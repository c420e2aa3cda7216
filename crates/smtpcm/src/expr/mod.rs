//! The part of the SSIS expression language that real packages use: literals with escapes,
//! `+` for addition and concatenation, variable and parameter references, casts, `?:`,
//! comparison and logic operators, and the common string and date functions.
//!
//! ```
//! use smtpcm::expr::{self, Value};
//! use std::collections::HashMap;
//!
//! let mut vars = HashMap::new();
//! vars.insert("User::ReturnCode".to_owned(), Value::I4(3));
//! let e = expr::parse(r#""Return Code:" + (DT_WSTR, 4)@[User::ReturnCode] + "\r\n""#).unwrap();
//! let v = expr::eval(&e, &vars).unwrap();
//! assert_eq!(v.to_display_string(), "Return Code:3\r\n");
//!
//! let err = expr::eval(&expr::parse("@[User::Missing] + \"x\"").unwrap(), &vars).unwrap_err();
//! assert_eq!(err.column(), 1);
//! ```

mod ast;
mod eval;
mod lexer;
mod parser;
mod scope;
mod value;

pub use ast::{BinOp, CastType, DateType, Expr, ExprKind, UnOp};
pub use scope::{PackageScope, Scope};
pub use value::{Value, vartype_name};

/// An expression error, with the 1-based column it points at.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    /// The text does not parse (or calls something that does not exist).
    #[error("column {column}: {message}")]
    Syntax {
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A referenced variable or parameter is not defined.
    #[error("column {column}: unknown variable @[{name}]")]
    UnknownVariable {
        /// 1-based column of the reference.
        column: usize,
        /// The name as written.
        name: String,
    },
    /// Operand types do not fit the operator or function.
    #[error("column {column}: {message}")]
    Type {
        /// 1-based column of the operator or function.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Evaluation failed (overflow, bad conversion, division by zero, ...).
    #[error("column {column}: {message}")]
    Eval {
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A string function or operator would produce more than [`MAX_STRING_CHARS`] characters.
    /// The size is computed before anything is allocated, so a hostile expression such as
    /// `REPLICATE(REPLICATE("abcdefghij",100000),100000)` fails here instead of aborting the
    /// process on an allocation failure.
    #[error(
        "column {column}: {function}: result would be {chars} characters, over the {MAX_STRING_CHARS} limit"
    )]
    TooLong {
        /// 1-based column of the function or operator.
        column: usize,
        /// The function (`REPLICATE`), operator (`+`) or cast (`(DT_WSTR, n)`) that refused.
        function: String,
        /// How many characters the result would have had (saturating at `u64::MAX`).
        chars: u64,
    },
}

/// The most characters a string value produced by an expression may hold: 16 MiB of
/// characters (16,777,216).
///
/// SSIS itself caps `DT_WSTR` at 4,000 characters and `DT_STR` at 8,000, but property
/// expressions (a `MessageSource` built from a variable, say) legitimately produce longer
/// text, so the cap here is far above anything a package needs and far below what would
/// exhaust memory. Every string-producing function, the `+` operator and string casts check
/// the size of their result against it before allocating.
///
/// ```
/// use smtpcm::expr::{self, ExprError, MAX_STRING_CHARS};
/// use std::collections::HashMap;
/// let scope: HashMap<String, expr::Value> = HashMap::new();
/// let err = expr::evaluate(r#"REPLICATE("ab", 10000000)"#, &scope).unwrap_err();
/// assert!(matches!(err, ExprError::TooLong { chars: 20_000_000, .. }));
/// assert_eq!(MAX_STRING_CHARS, 16 * 1024 * 1024);
/// ```
pub const MAX_STRING_CHARS: usize = 16 * 1024 * 1024;

impl ExprError {
    /// The 1-based column the error points at.
    pub fn column(&self) -> usize {
        match self {
            ExprError::Syntax { column, .. }
            | ExprError::UnknownVariable { column, .. }
            | ExprError::Type { column, .. }
            | ExprError::Eval { column, .. }
            | ExprError::TooLong { column, .. } => *column,
        }
    }
}

/// Parses expression text.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    parser::parse(src)
}

/// Evaluates a parsed expression; variables come from `scope`.
pub fn eval(expr: &Expr, scope: &dyn Scope) -> Result<Value, ExprError> {
    eval::eval(expr, scope)
}

/// Parses and evaluates in one step.
pub fn evaluate(src: &str, scope: &dyn Scope) -> Result<Value, ExprError> {
    eval(&parse(src)?, scope)
}
