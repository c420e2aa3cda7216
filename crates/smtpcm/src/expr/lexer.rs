//! Tokens of the SSIS expression language, each with its 1-based column.

use super::ExprError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Str(String),
    Int(i64),
    Real(f64),
    Ident(String),
    /// `@[Namespace::Name]`, `@[$Package::P]` or `@Name`, without the `@[ ]`.
    Var(String),
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    EqEq,
    NotEq,
    Lt,
    Gt,
    Le,
    Ge,
    AndAnd,
    OrOr,
    Not,
    Question,
    Colon,
    Amp,
    Pipe,
    Caret,
    Tilde,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// 1-based column (in characters) where the token starts.
    pub col: usize,
}

pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let syntax = |col: usize, message: String| ExprError::Syntax {
        column: col,
        message,
    };
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two = |next: char| chars.get(i + 1) == Some(&next);
        let (tok, len) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ',' => (Tok::Comma, 1),
            '+' => (Tok::Plus, 1),
            '-' => (Tok::Minus, 1),
            '*' => (Tok::Star, 1),
            '/' => (Tok::Slash, 1),
            '%' => (Tok::Percent, 1),
            '?' => (Tok::Question, 1),
            ':' => (Tok::Colon, 1),
            '^' => (Tok::Caret, 1),
            '~' => (Tok::Tilde, 1),
            '=' if two('=') => (Tok::EqEq, 2),
            '=' => {
                return Err(syntax(
                    col,
                    "`=` is not an operator; use `==` to compare".into(),
                ));
            }
            '!' if two('=') => (Tok::NotEq, 2),
            '!' => (Tok::Not, 1),
            '<' if two('=') => (Tok::Le, 2),
            '<' => (Tok::Lt, 1),
            '>' if two('=') => (Tok::Ge, 2),
            '>' => (Tok::Gt, 1),
            '&' if two('&') => (Tok::AndAnd, 2),
            '&' => (Tok::Amp, 1),
            '|' if two('|') => (Tok::OrOr, 2),
            '|' => (Tok::Pipe, 1),
            '"' => {
                let (s, len) = string_literal(&chars, i)?;
                (Tok::Str(s), len)
            }
            '@' => {
                if chars.get(i + 1) == Some(&'[') {
                    let end = chars[i + 2..]
                        .iter()
                        .position(|c| *c == ']')
                        .ok_or_else(|| {
                            syntax(col, "variable reference `@[` is not closed by `]`".into())
                        })?;
                    let name: String = chars[i + 2..i + 2 + end].iter().collect();
                    if name.trim().is_empty() {
                        return Err(syntax(col, "empty variable reference `@[]`".into()));
                    }
                    (Tok::Var(name.trim().to_owned()), end + 3)
                } else {
                    let len = chars[i + 1..]
                        .iter()
                        .take_while(|c| {
                            c.is_alphanumeric() || **c == '_' || **c == ':' || **c == '$'
                        })
                        .count();
                    if len == 0 {
                        return Err(syntax(
                            col,
                            "`@` must be followed by a variable name".into(),
                        ));
                    }
                    (
                        Tok::Var(chars[i + 1..i + 1 + len].iter().collect()),
                        len + 1,
                    )
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                number(&chars, i)?
            }
            c if c.is_alphabetic() || c == '_' => {
                let len = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || **c == '_')
                    .count();
                (Tok::Ident(chars[i..i + len].iter().collect()), len)
            }
            other => return Err(syntax(col, format!("unexpected character {other:?}"))),
        };
        out.push(Token { tok, col });
        i += len;
    }
    Ok(out)
}

/// A `"..."` literal starting at `start`; returns the value and the length in chars.
fn string_literal(chars: &[char], start: usize) -> Result<(String, usize), ExprError> {
    let mut s = String::new();
    let mut i = start + 1;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(ExprError::Syntax {
                column: start + 1,
                message: "string literal is not closed by `\"`".into(),
            });
        };
        match c {
            '"' => return Ok((s, i + 1 - start)),
            '\\' => {
                let esc = chars.get(i + 1).copied();
                let bad = |m: &str| ExprError::Syntax {
                    column: i + 1,
                    message: m.to_owned(),
                };
                match esc {
                    Some('n') => s.push('\n'),
                    Some('r') => s.push('\r'),
                    Some('t') => s.push('\t'),
                    Some('a') => s.push('\u{7}'),
                    Some('b') => s.push('\u{8}'),
                    Some('f') => s.push('\u{c}'),
                    Some('v') => s.push('\u{b}'),
                    Some('0') => s.push('\0'),
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('x') => {
                        let hex: String = chars[i + 2..].iter().take(4).collect();
                        if hex.len() != 4 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                            return Err(bad("`\\x` needs exactly four hex digits"));
                        }
                        let code =
                            u32::from_str_radix(&hex, 16).map_err(|_| bad("bad `\\x` escape"))?;
                        s.push(
                            char::from_u32(code)
                                .ok_or_else(|| bad("`\\x` escape is not a character"))?,
                        );
                        i += 4;
                    }
                    Some(other) => return Err(bad(&format!("unknown escape `\\{other}`"))),
                    None => return Err(bad("string literal ends after `\\`")),
                }
                i += 2;
            }
            c => {
                s.push(c);
                i += 1;
            }
        }
    }
}

fn number(chars: &[char], start: usize) -> Result<(Tok, usize), ExprError> {
    let mut i = start;
    let mut real = false;
    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
        real |= chars[i] == '.';
        i += 1;
    }
    if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
        real = true;
        i += 1;
        if i < chars.len() && (chars[i] == '+' || chars[i] == '-') {
            i += 1;
        }
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
    }
    let text: String = chars[start..i].iter().collect();
    // Type suffixes (L, U, UL, E, F, M) are accepted and ignored beyond real-vs-integer.
    let suffix = chars[i..]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let err = || ExprError::Syntax {
        column: start + 1,
        message: format!("bad numeric literal {text:?}"),
    };
    let tok = if real {
        Tok::Real(text.parse().map_err(|_| err())?)
    } else {
        Tok::Int(text.parse().map_err(|_| err())?)
    };
    Ok((tok, i - start + suffix))
}
