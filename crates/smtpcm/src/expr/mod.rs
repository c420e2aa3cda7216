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

pub use ast::{BinOp, CastType, Expr, ExprKind, UnOp};
pub use scope::{PackageScope, Scope};
pub use value::Value;

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
}

impl ExprError {
    /// The 1-based column the error points at.
    pub fn column(&self) -> usize {
        match self {
            ExprError::Syntax { column, .. }
            | ExprError::UnknownVariable { column, .. }
            | ExprError::Type { column, .. }
            | ExprError::Eval { column, .. } => *column,
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
