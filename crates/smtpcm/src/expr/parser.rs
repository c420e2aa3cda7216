//! Pratt parser from tokens to [`Expr`].

use super::ExprError;
use super::ast::{BinOp, CastType, Expr, ExprKind, UnOp};
use super::lexer::{Tok, Token, tokenize};
use super::value::Value;

pub(crate) fn parse(src: &str) -> Result<Expr, ExprError> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        end_col: src.chars().count() + 1,
        nesting: 0,
    };
    let e = p.expr(0)?;
    if let Some(t) = p.peek() {
        return Err(ExprError::Syntax {
            column: t.col,
            message: "unexpected token after the end of the expression".into(),
        });
    }
    Ok(e)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end_col: usize,
    /// Open `expr` calls plus the operators each has applied so far: an upper bound on the
    /// depth of the tree being built (see [`MAX_NESTING`]).
    nesting: usize,
}

/// How deep an expression may nest (parentheses, unary operators, or a chain of binary
/// operators, which builds a left-leaning tree). Parsing, evaluating and dropping the tree
/// all recurse, so without a bound a long enough input overflows the stack and aborts the
/// process. Real SSIS expressions are capped at 4000 characters and nest a few levels.
const MAX_NESTING: usize = 256;

/// Binding powers, lowest first, following the SSIS operator precedence table.
fn infix(tok: &Tok) -> Option<(u8, BinOp)> {
    Some(match tok {
        Tok::OrOr => (2, BinOp::Or),
        Tok::AndAnd => (3, BinOp::And),
        Tok::Pipe => (4, BinOp::BitOr),
        Tok::Caret => (5, BinOp::BitXor),
        Tok::Amp => (6, BinOp::BitAnd),
        Tok::EqEq => (7, BinOp::Eq),
        Tok::NotEq => (7, BinOp::Ne),
        Tok::Lt => (8, BinOp::Lt),
        Tok::Gt => (8, BinOp::Gt),
        Tok::Le => (8, BinOp::Le),
        Tok::Ge => (8, BinOp::Ge),
        Tok::Plus => (9, BinOp::Add),
        Tok::Minus => (9, BinOp::Sub),
        Tok::Star => (10, BinOp::Mul),
        Tok::Slash => (10, BinOp::Div),
        Tok::Percent => (10, BinOp::Mod),
        _ => return None,
    })
}

const TERNARY_BP: u8 = 1;
const PREFIX_BP: u8 = 11;

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn col(&self) -> usize {
        self.peek().map(|t| t.col).unwrap_or(self.end_col)
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<usize, ExprError> {
        match self.next() {
            Some(t) if t.tok == want => Ok(t.col),
            Some(t) => Err(ExprError::Syntax {
                column: t.col,
                message: format!("expected {what}"),
            }),
            None => Err(ExprError::Syntax {
                column: self.end_col,
                message: format!("expected {what} before the end of the expression"),
            }),
        }
    }

    /// Counts one more level of nesting, failing once the expression is too deep.
    fn nest(&mut self) -> Result<(), ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(ExprError::Syntax {
                column: self.col(),
                message: format!("expression nests more than {MAX_NESTING} levels deep"),
            });
        }
        Ok(())
    }

    fn expr(&mut self, min_bp: u8) -> Result<Expr, ExprError> {
        self.nest()?;
        let mut levels = 1;
        let mut lhs = self.prefix()?;
        while let Some(t) = self.peek().cloned() {
            if t.tok == Tok::Question {
                if TERNARY_BP < min_bp {
                    break;
                }
                self.pos += 1;
                self.nest()?;
                levels += 1;
                let then = self.expr(0)?;
                self.expect(Tok::Colon, "`:` of the conditional operator")?;
                let otherwise = self.expr(TERNARY_BP)?;
                lhs = Expr {
                    kind: ExprKind::Cond(Box::new(lhs), Box::new(then), Box::new(otherwise)),
                    col: t.col,
                };
                continue;
            }
            let Some((bp, op)) = infix(&t.tok) else { break };
            if bp <= min_bp {
                break;
            }
            self.pos += 1;
            self.nest()?;
            levels += 1;
            let rhs = self.expr(bp)?;
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                col: t.col,
            };
        }
        self.nesting -= levels;
        Ok(lhs)
    }

    fn prefix(&mut self) -> Result<Expr, ExprError> {
        let col = self.col();
        let Some(t) = self.next() else {
            return Err(ExprError::Syntax {
                column: col,
                message: "expression ends where an operand was expected".into(),
            });
        };
        let kind = match t.tok {
            Tok::Str(s) => ExprKind::Literal(Value::Str(s)),
            Tok::Int(n) => ExprKind::Literal(match i32::try_from(n) {
                Ok(v) => Value::I4(v),
                Err(_) => Value::I8(n),
            }),
            Tok::Real(f) => ExprKind::Literal(Value::R8(f)),
            Tok::Var(name) => ExprKind::Var(name),
            Tok::Minus => ExprKind::Unary(UnOp::Neg, Box::new(self.expr(PREFIX_BP)?)),
            Tok::Not => ExprKind::Unary(UnOp::Not, Box::new(self.expr(PREFIX_BP)?)),
            Tok::Tilde => ExprKind::Unary(UnOp::BitNot, Box::new(self.expr(PREFIX_BP)?)),
            Tok::LParen => {
                if let Some(Token {
                    tok: Tok::Ident(id),
                    ..
                }) = self.peek()
                    && id.len() > 3
                    // `get`: a non-ASCII identifier may have no char boundary at byte 3.
                    && id.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("DT_"))
                {
                    let ty = self.cast_type()?;
                    ExprKind::Cast(ty, Box::new(self.expr(PREFIX_BP)?))
                } else {
                    let inner = self.expr(0)?;
                    self.expect(Tok::RParen, "`)`")?;
                    return Ok(inner);
                }
            }
            Tok::Ident(id) => self.identifier(id, t.col)?,
            _ => {
                return Err(ExprError::Syntax {
                    column: t.col,
                    message: "expected an operand".into(),
                });
            }
        };
        Ok(Expr { kind, col: t.col })
    }

    fn identifier(&mut self, id: String, col: usize) -> Result<ExprKind, ExprError> {
        let upper = id.to_ascii_uppercase();
        if upper == "TRUE" || upper == "FALSE" {
            return Ok(ExprKind::Literal(Value::Bool(upper == "TRUE")));
        }
        if self.peek().map(|t| &t.tok) != Some(&Tok::LParen) {
            return Err(ExprError::Syntax {
                column: col,
                message: format!("unknown name {id:?}; variables are written @[Namespace::Name]"),
            });
        }
        self.pos += 1;
        if upper == "NULL" {
            let ty = self.cast_type()?;
            return Ok(ExprKind::Literal(Value::Null(ty)));
        }
        let mut args = Vec::new();
        if self.peek().map(|t| &t.tok) == Some(&Tok::RParen) {
            self.pos += 1;
        } else {
            loop {
                args.push(self.expr(0)?);
                match self.next() {
                    Some(Token {
                        tok: Tok::Comma, ..
                    }) => continue,
                    Some(Token {
                        tok: Tok::RParen, ..
                    }) => break,
                    Some(t) => {
                        return Err(ExprError::Syntax {
                            column: t.col,
                            message: format!("expected `,` or `)` in the arguments of {upper}"),
                        });
                    }
                    None => {
                        return Err(ExprError::Syntax {
                            column: self.end_col,
                            message: format!("arguments of {upper} are not closed by `)`"),
                        });
                    }
                }
            }
        }
        Ok(ExprKind::Call(upper, args))
    }

    /// After `(`: `DT_WSTR, 10)` and friends, including the closing `)`.
    fn cast_type(&mut self) -> Result<CastType, ExprError> {
        let col = self.col();
        let name = match self.next() {
            Some(Token {
                tok: Tok::Ident(s), ..
            }) => s.to_ascii_uppercase(),
            _ => {
                return Err(ExprError::Syntax {
                    column: col,
                    message: "expected a data type such as DT_WSTR".into(),
                });
            }
        };
        let mut params = Vec::new();
        loop {
            match self.next() {
                Some(Token {
                    tok: Tok::RParen, ..
                }) => break,
                Some(Token {
                    tok: Tok::Comma, ..
                }) => {
                    let pcol = self.col();
                    match self.next() {
                        Some(Token {
                            tok: Tok::Int(n), ..
                        }) => params.push(n),
                        _ => {
                            return Err(ExprError::Syntax {
                                column: pcol,
                                message: format!("expected an integer parameter of {name}"),
                            });
                        }
                    }
                }
                other => {
                    return Err(ExprError::Syntax {
                        column: other.map(|t| t.col).unwrap_or(self.end_col),
                        message: format!("expected `,` or `)` after {name}"),
                    });
                }
            }
        }
        CastType::from_parts(&name, &params).ok_or_else(|| ExprError::Syntax {
            column: col,
            message: format!(
                "unknown data type or wrong parameters: {name} with {} parameter(s)",
                params.len()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: a parenthesised identifier whose third byte falls inside a
    /// multi-byte character used to panic while checking for a `DT_` cast prefix.
    #[test]
    fn non_ascii_identifier_after_paren_is_an_error_not_a_panic() {
        let err = parse("(EE\u{73b}DT_WET(DR").unwrap_err();
        assert!(matches!(err, ExprError::Syntax { .. }), "{err:?}");
    }

    fn nesting_error(src: &str) -> bool {
        matches!(parse(src), Err(ExprError::Syntax { message, .. }) if message.contains("nests"))
    }

    /// Found with the expression fuzz target, fed a hand-built input (libFuzzer's 4 KB inputs
    /// stayed shallow enough): 10 000 nested parentheses overflowed the stack (an abort, not an
    /// error). Each shape that deepens the tree is now bounded, just above and below the limit.
    #[test]
    fn nesting_is_bounded_for_every_shape() {
        let n = MAX_NESTING;
        // Each shape, given k, builds the deepest input that needs at most k levels: one per
        // open `expr` call plus one per operator applied.
        let shapes: [fn(usize) -> String; 4] = [
            |k| format!("{}1{}", "(".repeat(k - 1), ")".repeat(k - 1)),
            |k| format!("{}1", "-".repeat(k - 1)),
            |k| format!("1{}", "+1".repeat(k - 2)),
            |k| format!("TRUE{}", " ? TRUE : TRUE".repeat((k - 1) / 2)),
        ];
        for (i, shape) in shapes.iter().enumerate() {
            let deepest = shape(n);
            let scope = std::collections::HashMap::new();
            let tree = parse(&deepest).unwrap_or_else(|e| panic!("shape {i} at the limit: {e}"));
            crate::expr::eval(&tree, &scope).unwrap_or_else(|e| panic!("shape {i}: {e}"));
            assert!(
                nesting_error(&shape(n + 1)),
                "shape {i} just over the limit"
            );
            assert!(
                nesting_error(&shape(100_000)),
                "shape {i} far over the limit"
            );
        }
    }
}
