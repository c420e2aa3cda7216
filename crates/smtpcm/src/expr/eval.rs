//! Evaluation of an [`Expr`] against a [`Scope`].

use chrono::{Datelike, Duration, Months, NaiveDateTime, Timelike};

use super::ast::{BinOp, CastType, DateType, Expr, ExprKind, UnOp};
use super::value::{Value, parse_date, parse_time};
use super::{ExprError, MAX_STRING_CHARS, Scope};

type R = Result<Value, ExprError>;

/// Fails when a string result of `chars` characters (`None`: the count itself overflowed)
/// would exceed [`MAX_STRING_CHARS`]. Called before the result is allocated.
fn check_size(function: &str, chars: Option<u64>, col: usize) -> Result<(), ExprError> {
    match chars {
        Some(n) if n <= MAX_STRING_CHARS as u64 => Ok(()),
        _ => Err(ExprError::TooLong {
            column: col,
            function: function.to_owned(),
            chars: chars.unwrap_or(u64::MAX),
        }),
    }
}

/// Characters in `s`, counted only when its byte length does not already prove it fits.
fn char_count(s: &str) -> u64 {
    s.chars().count() as u64
}

/// The size check for a concatenation, without counting characters in the common case: a
/// string never has more characters than bytes.
fn check_concat(x: &str, y: &str, col: usize) -> Result<(), ExprError> {
    if x.len().saturating_add(y.len()) <= MAX_STRING_CHARS {
        return Ok(());
    }
    check_size(
        "+ (concatenation)",
        char_count(x).checked_add(char_count(y)),
        col,
    )
}

fn err(col: usize, message: String) -> ExprError {
    ExprError::Eval {
        column: col,
        message,
    }
}

pub(crate) fn eval(e: &Expr, scope: &dyn Scope) -> R {
    match &e.kind {
        ExprKind::Literal(v) => Ok(v.clone()),
        ExprKind::Var(name) => scope
            .variable(name)
            .ok_or_else(|| ExprError::UnknownVariable {
                column: e.col,
                name: name.clone(),
            }),
        ExprKind::Unary(op, inner) => unary(*op, eval(inner, scope)?, e.col),
        ExprKind::Binary(op, a, b) => {
            // && and || short-circuit, as in SSIS.
            if matches!(op, BinOp::And | BinOp::Or) {
                let l = eval(a, scope)?;
                let lb = as_bool(&l, a.col, "left operand")?;
                match (op, lb) {
                    (BinOp::And, Some(false)) => return Ok(Value::Bool(false)),
                    (BinOp::Or, Some(true)) => return Ok(Value::Bool(true)),
                    _ => {}
                }
                let r = eval(b, scope)?;
                let rb = as_bool(&r, b.col, "right operand")?;
                return Ok(match (lb, rb) {
                    (Some(_), Some(r)) => Value::Bool(r),
                    _ => Value::Null(CastType::Bool),
                });
            }
            binary(*op, eval(a, scope)?, eval(b, scope)?, e.col)
        }
        ExprKind::Cond(c, a, b) => {
            let cv = eval(c, scope)?;
            match as_bool(&cv, c.col, "condition of `?:`")? {
                Some(true) => eval(a, scope),
                Some(false) => eval(b, scope),
                None => Ok(Value::Null(CastType::WStr(0))),
            }
        }
        ExprKind::Cast(ty, inner) => cast(*ty, eval(inner, scope)?, e.col, scope),
        ExprKind::Call(name, args) => {
            let values = args
                .iter()
                .map(|a| eval(a, scope))
                .collect::<Result<Vec<_>, _>>()?;
            call(name, &values, e.col, scope)
        }
    }
}

fn as_bool(v: &Value, col: usize, what: &str) -> Result<Option<bool>, ExprError> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Null(_) => Ok(None),
        other => Err(ExprError::Type {
            column: col,
            message: format!("{what} must be DT_BOOL, found {}", other.type_name()),
        }),
    }
}

fn unary(op: UnOp, v: Value, col: usize) -> R {
    if v.is_null() {
        return Ok(v);
    }
    match (op, v) {
        (UnOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
        (UnOp::Neg, Value::I4(n)) => n
            .checked_neg()
            .map(Value::I4)
            .ok_or_else(|| err(col, "integer overflow".into())),
        (UnOp::Neg, Value::I8(n)) => n
            .checked_neg()
            .map(Value::I8)
            .ok_or_else(|| err(col, "integer overflow".into())),
        (UnOp::Neg, Value::R8(f)) => Ok(Value::R8(-f)),
        (UnOp::Neg, Value::Numeric(f, s)) => Ok(Value::Numeric(-f, s)),
        (UnOp::BitNot, Value::I4(n)) => Ok(Value::I4(!n)),
        (UnOp::BitNot, Value::I8(n)) => Ok(Value::I8(!n)),
        (op, v) => Err(ExprError::Type {
            column: col,
            message: format!("operator {op:?} cannot be applied to {}", v.type_name()),
        }),
    }
}

/// Numeric promotion: both as i64 when integral, else both as f64.
enum Num {
    Int(i64, bool),
    Real(f64, Option<u8>),
}

fn num(v: &Value) -> Option<Num> {
    Some(match v {
        Value::I4(n) => Num::Int(i64::from(*n), false),
        Value::I8(n) => Num::Int(*n, true),
        Value::R8(f) => Num::Real(*f, None),
        Value::Numeric(f, s) => Num::Real(*f, Some(*s)),
        _ => return None,
    })
}

fn binary(op: BinOp, a: Value, b: Value, col: usize) -> R {
    let type_err = || ExprError::Type {
        column: col,
        message: format!(
            "the data types {} and {} are incompatible for operator {op:?}",
            a.type_name(),
            b.type_name()
        ),
    };
    if a.is_null() || b.is_null() {
        return Ok(match op {
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                Value::Null(CastType::Bool)
            }
            _ if a.is_null() => a,
            _ => b,
        });
    }
    if let (Value::Str(x), Value::Str(y)) = (&a, &b) {
        return match op {
            BinOp::Add => {
                check_concat(x, y, col)?;
                let mut joined = String::with_capacity(x.len() + y.len());
                joined.push_str(x);
                joined.push_str(y);
                Ok(Value::Str(joined))
            }
            _ if is_comparison(op) => Ok(Value::Bool(compare(op, x.cmp(y)))),
            _ => Err(type_err()),
        };
    }
    if let (Value::Bool(x), Value::Bool(y)) = (&a, &b) {
        return match op {
            BinOp::Eq => Ok(Value::Bool(x == y)),
            BinOp::Ne => Ok(Value::Bool(x != y)),
            BinOp::BitAnd => Ok(Value::Bool(*x & *y)),
            BinOp::BitOr => Ok(Value::Bool(*x | *y)),
            BinOp::BitXor => Ok(Value::Bool(*x ^ *y)),
            _ => Err(type_err()),
        };
    }
    if let (Value::Date(_, x), Value::Date(_, y)) = (&a, &b) {
        return if is_comparison(op) {
            Ok(Value::Bool(compare(op, x.cmp(y))))
        } else {
            Err(type_err())
        };
    }
    let (Some(x), Some(y)) = (num(&a), num(&b)) else {
        return Err(type_err());
    };
    match (x, y) {
        (Num::Int(x, wide_x), Num::Int(y, wide_y)) => {
            let wide = wide_x || wide_y;
            let overflow = || err(col, format!("integer overflow in {op:?}"));
            let n = match op {
                BinOp::Add => x.checked_add(y).ok_or_else(overflow)?,
                BinOp::Sub => x.checked_sub(y).ok_or_else(overflow)?,
                BinOp::Mul => x.checked_mul(y).ok_or_else(overflow)?,
                BinOp::Div | BinOp::Mod if y == 0 => {
                    return Err(err(col, "division by zero".into()));
                }
                BinOp::Div => x / y,
                BinOp::Mod => x % y,
                BinOp::BitAnd => x & y,
                BinOp::BitOr => x | y,
                BinOp::BitXor => x ^ y,
                cmp => return Ok(Value::Bool(compare(cmp, x.cmp(&y)))),
            };
            if wide {
                Ok(Value::I8(n))
            } else {
                i32::try_from(n).map(Value::I4).map_err(|_| overflow())
            }
        }
        (x, y) => {
            let (fx, sx) = real(x);
            let (fy, sy) = real(y);
            let f = match op {
                BinOp::Add => fx + fy,
                BinOp::Sub => fx - fy,
                BinOp::Mul => fx * fy,
                BinOp::Div if fy == 0.0 => return Err(err(col, "division by zero".into())),
                BinOp::Div => fx / fy,
                BinOp::Mod if fy == 0.0 => return Err(err(col, "division by zero".into())),
                BinOp::Mod => fx % fy,
                BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                    let ord = fx
                        .partial_cmp(&fy)
                        .ok_or_else(|| err(col, "comparison with NaN".into()))?;
                    return Ok(Value::Bool(compare(op, ord)));
                }
                _ => return Err(type_err()),
            };
            Ok(match (sx, sy) {
                (Some(a), Some(b)) => Value::Numeric(f, a.max(b)),
                (Some(s), None) | (None, Some(s)) if matches!(op, BinOp::Add | BinOp::Sub) => {
                    Value::Numeric(f, s)
                }
                _ => Value::R8(f),
            })
        }
    }
}

fn real(n: Num) -> (f64, Option<u8>) {
    match n {
        Num::Int(i, _) => (i as f64, None),
        Num::Real(f, s) => (f, s),
    }
}

fn is_comparison(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge
    )
}

fn compare(op: BinOp, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        BinOp::Eq => ord == Equal,
        BinOp::Ne => ord != Equal,
        BinOp::Lt => ord == Less,
        BinOp::Gt => ord == Greater,
        BinOp::Le => ord != Greater,
        _ => ord != Less,
    }
}

pub(crate) fn cast(ty: CastType, v: Value, col: usize, scope: &dyn Scope) -> R {
    if v.is_null() {
        return Ok(Value::Null(ty));
    }
    let fail = |why: &str| {
        err(
            col,
            format!(
                "cannot convert {} {:?} to {ty:?}: {why}",
                v.type_name(),
                v.to_display_string()
            ),
        )
    };
    match ty {
        CastType::WStr(len) | CastType::Str(len, _) => {
            let s = v.to_display_string();
            let chars = char_count(&s);
            // The result is never longer than its input, which was itself checked; the check
            // keeps casts under the same documented limit as every other string producer.
            check_size(&format!("{ty:?} cast"), Some(chars), col)?;
            if chars > u64::from(len) {
                return Err(err(
                    col,
                    format!("the value {s:?} is longer than the cast length {len}"),
                ));
            }
            Ok(Value::Str(s))
        }
        CastType::I4 | CastType::I8 => {
            let n: i64 = match &v {
                Value::I4(n) => i64::from(*n),
                Value::I8(n) => *n,
                Value::R8(f) | Value::Numeric(f, _) => {
                    let r = f.round();
                    if !r.is_finite() || r.abs() > 9.2e18 {
                        return Err(fail("out of range"));
                    }
                    r as i64
                }
                Value::Bool(b) => {
                    if *b {
                        -1
                    } else {
                        0
                    }
                }
                Value::Str(s) => s.trim().parse().map_err(|_| fail("not an integer"))?,
                _ => return Err(fail("unsupported conversion")),
            };
            if ty == CastType::I4 {
                i32::try_from(n)
                    .map(Value::I4)
                    .map_err(|_| fail("out of range for DT_I4"))
            } else {
                Ok(Value::I8(n))
            }
        }
        CastType::R8 | CastType::Numeric(_) => {
            let f = match &v {
                Value::I4(n) => f64::from(*n),
                Value::I8(n) => *n as f64,
                Value::R8(f) | Value::Numeric(f, _) => *f,
                Value::Str(s) => s.trim().parse().map_err(|_| fail("not a number"))?,
                Value::Bool(b) => {
                    if *b {
                        -1.0
                    } else {
                        0.0
                    }
                }
                _ => return Err(fail("unsupported conversion")),
            };
            Ok(match ty {
                CastType::Numeric(s) => {
                    let p = 10f64.powi(i32::from(s));
                    Value::Numeric((f * p).round() / p, s)
                }
                _ => Value::R8(f),
            })
        }
        CastType::Bool => match &v {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::I4(n) => Ok(Value::Bool(*n != 0)),
            Value::I8(n) => Ok(Value::Bool(*n != 0)),
            Value::R8(f) | Value::Numeric(f, _) => Ok(Value::Bool(*f != 0.0)),
            Value::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "-1" | "1" => Ok(Value::Bool(true)),
                "false" | "0" => Ok(Value::Bool(false)),
                _ => Err(fail("not a boolean")),
            },
            _ => Err(fail("unsupported conversion")),
        },
        CastType::Date(target) => {
            let d = match &v {
                // Microsoft: a time converted to a type that holds a date takes today's date.
                Value::Date(from, d) if from.is_time_only() && !target.is_time_only() => {
                    scope.now().date().and_time(d.time())
                }
                Value::Date(_, d) => *d,
                Value::Str(s) if target.is_time_only() => parse_time(s)
                    .map(|t| scope.now().date().and_time(t))
                    .ok_or_else(|| fail("not a time of day (expected hh:mm:ss)"))?,
                Value::Str(s) => parse_date(s).ok_or_else(|| {
                    fail(if target == DateType::DbDate {
                        "not a date (expected yyyy-mm-dd)"
                    } else {
                        "not a date (expected yyyy-mm-dd hh:mm:ss)"
                    })
                })?,
                _ => return Err(fail("unsupported conversion")),
            };
            Ok(Value::Date(target, target.normalize(d)))
        }
    }
}

fn arity(name: &str, args: &[Value], n: usize, col: usize) -> Result<(), ExprError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(ExprError::Syntax {
            column: col,
            message: format!("{name} takes {n} argument(s), {} given", args.len()),
        })
    }
}

fn text<'a>(name: &str, v: &'a Value, col: usize) -> Result<&'a str, ExprError> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(ExprError::Type {
            column: col,
            message: format!("{name} expects DT_WSTR, found {}", other.type_name()),
        }),
    }
}

fn int(name: &str, v: &Value, col: usize) -> Result<i64, ExprError> {
    match v {
        Value::I4(n) => Ok(i64::from(*n)),
        Value::I8(n) => Ok(*n),
        Value::R8(f) | Value::Numeric(f, _) if f.fract() == 0.0 => Ok(*f as i64),
        other => Err(ExprError::Type {
            column: col,
            message: format!("{name} expects an integer, found {}", other.type_name()),
        }),
    }
}

fn date(name: &str, v: &Value, col: usize) -> Result<NaiveDateTime, ExprError> {
    match v {
        Value::Date(_, d) => Ok(*d),
        Value::Str(s) => {
            parse_date(s).ok_or_else(|| err(col, format!("{name}: {s:?} is not a date")))
        }
        other => Err(ExprError::Type {
            column: col,
            message: format!("{name} expects a date, found {}", other.type_name()),
        }),
    }
}

/// Canonical date part from the SSIS spellings.
fn date_part(name: &str, v: &Value, col: usize) -> Result<&'static str, ExprError> {
    let p = text(name, v, col)?.trim().to_ascii_lowercase();
    Ok(match p.as_str() {
        "yyyy" | "yy" | "year" => "year",
        "qq" | "q" | "quarter" => "quarter",
        "mm" | "m" | "month" => "month",
        "dy" | "y" | "dayofyear" => "dayofyear",
        "dd" | "d" | "day" => "day",
        "wk" | "ww" | "week" => "week",
        "dw" | "weekday" => "weekday",
        "hh" | "hour" => "hour",
        "mi" | "n" | "minute" => "minute",
        "ss" | "s" | "second" => "second",
        "ms" | "millisecond" => "millisecond",
        _ => return Err(err(col, format!("{name}: unknown date part {p:?}"))),
    })
}

fn part_of(part: &str, d: NaiveDateTime) -> i64 {
    i64::from(match part {
        "year" => d.year(),
        "quarter" => (d.month0() / 3 + 1) as i32,
        "month" => d.month() as i32,
        "dayofyear" => d.ordinal() as i32,
        "day" => d.day() as i32,
        "week" => {
            // SQL Server style: week 1 contains January 1st, weeks start on Sunday.
            let jan1 = d
                .with_ordinal(1)
                .map(|j| j.weekday().num_days_from_sunday())
                .unwrap_or(0);
            ((d.ordinal0() + jan1) / 7 + 1) as i32
        }
        "weekday" => (d.weekday().num_days_from_sunday() + 1) as i32,
        "hour" => d.hour() as i32,
        "minute" => d.minute() as i32,
        "second" => d.second() as i32,
        _ => (d.nanosecond() / 1_000_000) as i32,
    })
}

fn add_part(part: &str, n: i64, d: NaiveDateTime, col: usize) -> Result<NaiveDateTime, ExprError> {
    let overflow = || err(col, "DATEADD: date out of range".into());
    let months = |m: i64| -> Result<NaiveDateTime, ExprError> {
        let m32 = u32::try_from(m.unsigned_abs()).map_err(|_| overflow())?;
        if m >= 0 {
            d.checked_add_months(Months::new(m32))
        } else {
            d.checked_sub_months(Months::new(m32))
        }
        .ok_or_else(overflow)
    };
    let dur = |x: Option<Duration>| -> Result<NaiveDateTime, ExprError> {
        d.checked_add_signed(x.ok_or_else(overflow)?)
            .ok_or_else(overflow)
    };
    match part {
        "year" => months(n.checked_mul(12).ok_or_else(overflow)?),
        "quarter" => months(n.checked_mul(3).ok_or_else(overflow)?),
        "month" => months(n),
        "dayofyear" | "day" | "weekday" => dur(Duration::try_days(n)),
        "week" => dur(Duration::try_weeks(n)),
        "hour" => dur(Duration::try_hours(n)),
        "minute" => dur(Duration::try_minutes(n)),
        "second" => dur(Duration::try_seconds(n)),
        _ => dur(Duration::try_milliseconds(n)),
    }
}

fn diff_part(part: &str, a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    let months = |d: NaiveDateTime| i64::from(d.year()) * 12 + i64::from(d.month0());
    // Like SQL Server, DATEDIFF counts boundaries crossed, not elapsed whole units.
    match part {
        "year" => i64::from(b.year() - a.year()),
        "quarter" => {
            (i64::from(b.year()) * 4 + i64::from(b.month0() / 3))
                - (i64::from(a.year()) * 4 + i64::from(a.month0() / 3))
        }
        "month" => months(b) - months(a),
        "dayofyear" | "day" | "weekday" => (b.date() - a.date()).num_days(),
        "week" => {
            let start = |d: NaiveDateTime| {
                d.date().num_days_from_ce() as i64 - i64::from(d.weekday().num_days_from_sunday())
            };
            (start(b) - start(a)) / 7
        }
        "hour" => (b.date() - a.date()).num_days() * 24 + i64::from(b.hour()) - i64::from(a.hour()),
        "minute" => {
            let m = |d: NaiveDateTime| {
                d.date().num_days_from_ce() as i64 * 1440 + i64::from(d.hour() * 60 + d.minute())
            };
            m(b) - m(a)
        }
        "second" => b.and_utc().timestamp() - a.and_utc().timestamp(),
        _ => (b - a).num_milliseconds(),
    }
}

fn call(name: &str, args: &[Value], col: usize, scope: &dyn Scope) -> R {
    // A NULL argument makes most functions return NULL; ISNULL and REPLACENULL are the exception.
    if !matches!(name, "ISNULL" | "REPLACENULL") && args.iter().any(Value::is_null) {
        return Ok(Value::Null(CastType::WStr(0)));
    }
    let s = |i: usize| text(name, &args[i], col);
    let n = |i: usize| int(name, &args[i], col);
    let chars = |i: usize| s(i).map(|t| t.chars().collect::<Vec<char>>());
    let out = |t: String| Ok(Value::Str(t));
    match name {
        "GETDATE" => {
            arity(name, args, 0, col)?;
            let ty = DateType::DbTimestamp;
            Ok(Value::Date(ty, ty.normalize(scope.now())))
        }
        "GETUTCDATE" => {
            arity(name, args, 0, col)?;
            let ty = DateType::DbTimestamp;
            Ok(Value::Date(ty, ty.normalize(scope.utc_now())))
        }
        "DATEPART" => {
            arity(name, args, 2, col)?;
            let p = date_part(name, &args[0], col)?;
            Ok(Value::I4(part_of(p, date(name, &args[1], col)?) as i32))
        }
        "YEAR" | "MONTH" | "DAY" => {
            arity(name, args, 1, col)?;
            let d = date(name, &args[0], col)?;
            Ok(Value::I4(match name {
                "YEAR" => d.year(),
                "MONTH" => d.month() as i32,
                _ => d.day() as i32,
            }))
        }
        "DATEADD" => {
            arity(name, args, 3, col)?;
            let p = date_part(name, &args[0], col)?;
            Ok(Value::Date(
                DateType::DbTimestamp,
                add_part(p, n(1)?, date(name, &args[2], col)?, col)?,
            ))
        }
        "DATEDIFF" => {
            arity(name, args, 3, col)?;
            let p = date_part(name, &args[0], col)?;
            let d = diff_part(p, date(name, &args[1], col)?, date(name, &args[2], col)?);
            Ok(i32::try_from(d).map(Value::I4).unwrap_or(Value::I8(d)))
        }
        "LEN" => {
            arity(name, args, 1, col)?;
            Ok(Value::I4(chars(0)?.len() as i32))
        }
        // Case mapping can lengthen a string (`ß` → `SS`), so the result is sized first.
        "UPPER" | "LOWER" => {
            arity(name, args, 1, col)?;
            let t = s(0)?;
            let upper = name == "UPPER";
            let chars = t
                .chars()
                .map(|c| {
                    if upper {
                        c.to_uppercase().len()
                    } else {
                        c.to_lowercase().len()
                    }
                } as u64)
                .sum();
            check_size(name, Some(chars), col)?;
            out(if upper {
                t.to_uppercase()
            } else {
                t.to_lowercase()
            })
        }
        // SSIS trims spaces only, not tabs or line breaks.
        "TRIM" => {
            arity(name, args, 1, col)?;
            out(s(0)?.trim_matches(' ').to_owned())
        }
        "LTRIM" => {
            arity(name, args, 1, col)?;
            out(s(0)?.trim_start_matches(' ').to_owned())
        }
        "RTRIM" => {
            arity(name, args, 1, col)?;
            out(s(0)?.trim_end_matches(' ').to_owned())
        }
        "REVERSE" => {
            arity(name, args, 1, col)?;
            out(s(0)?.chars().rev().collect())
        }
        "REPLACE" => {
            arity(name, args, 3, col)?;
            let (source, old, new) = (s(0)?, s(1)?, s(2)?);
            if old.is_empty() {
                return Err(err(col, "REPLACE: the search string is empty".into()));
            }
            if new.len() > old.len() {
                // Each of the (non-overlapping) matches grows the result by the difference.
                let matches = source.matches(old).count() as u64;
                let chars = matches.checked_mul(char_count(new)).and_then(|added| {
                    (char_count(source) - matches * char_count(old)).checked_add(added)
                });
                check_size(name, chars, col)?;
            }
            out(source.replace(old, new))
        }
        "SUBSTRING" => {
            arity(name, args, 3, col)?;
            let c = chars(0)?;
            let (start, len) = (n(1)?, n(2)?);
            if start < 1 || len < 0 {
                return Err(err(
                    col,
                    format!("SUBSTRING: start {start} must be >= 1 and length {len} >= 0"),
                ));
            }
            out(c
                .iter()
                .skip(start as usize - 1)
                .take(len as usize)
                .collect())
        }
        "LEFT" | "RIGHT" => {
            arity(name, args, 2, col)?;
            let c = chars(0)?;
            let k = n(1)?;
            if k < 0 {
                return Err(err(col, format!("{name}: negative length {k}")));
            }
            let k = (k as usize).min(c.len());
            out(if name == "LEFT" {
                c[..k].iter().collect()
            } else {
                c[c.len() - k..].iter().collect()
            })
        }
        "FINDSTRING" => {
            arity(name, args, 3, col)?;
            let hay = chars(0)?;
            let needle = chars(1)?;
            let occurrence = n(2)?;
            if occurrence < 1 {
                return Err(err(
                    col,
                    format!("FINDSTRING: occurrence {occurrence} must be >= 1"),
                ));
            }
            if needle.is_empty() {
                return Ok(Value::I4(0));
            }
            let mut seen = 0;
            for i in 0..hay.len() {
                if hay[i..].starts_with(&needle) {
                    seen += 1;
                    if seen == occurrence {
                        return Ok(Value::I4(i as i32 + 1));
                    }
                }
            }
            Ok(Value::I4(0))
        }
        "REPLICATE" => {
            arity(name, args, 2, col)?;
            let k = n(1)?;
            if k < 0 {
                return Err(err(col, format!("REPLICATE: count {k} is negative")));
            }
            let t = s(0)?;
            if t.is_empty() {
                return out(String::new());
            }
            // The size is known before anything is allocated: characters times count.
            check_size(name, char_count(t).checked_mul(k as u64), col)?;
            out(t.repeat(k as usize))
        }
        "TOKEN" | "TOKENCOUNT" => {
            // Arity before any `args[i]`: too few arguments must be an error, not a panic.
            arity(name, args, if name == "TOKENCOUNT" { 2 } else { 3 }, col)?;
            let delims: Vec<char> = chars(1)?;
            let source = s(0)?;
            let tokens: Vec<&str> = source
                .split(|c| delims.contains(&c))
                .filter(|t| !t.is_empty())
                .collect();
            if name == "TOKENCOUNT" {
                return Ok(Value::I4(tokens.len() as i32));
            }
            let k = n(2)?;
            if k < 1 {
                return Err(err(col, format!("TOKEN: occurrence {k} must be >= 1")));
            }
            out(tokens
                .get(k as usize - 1)
                .copied()
                .unwrap_or_default()
                .to_owned())
        }
        "ISNULL" => {
            arity(name, args, 1, col)?;
            Ok(Value::Bool(args[0].is_null()))
        }
        "REPLACENULL" => {
            arity(name, args, 2, col)?;
            Ok(if args[0].is_null() {
                args[1].clone()
            } else {
                args[0].clone()
            })
        }
        "ABS" => {
            arity(name, args, 1, col)?;
            match &args[0] {
                Value::I4(x) => Ok(Value::I4(
                    x.checked_abs()
                        .ok_or_else(|| err(col, "ABS overflow".into()))?,
                )),
                Value::I8(x) => Ok(Value::I8(
                    x.checked_abs()
                        .ok_or_else(|| err(col, "ABS overflow".into()))?,
                )),
                Value::R8(f) => Ok(Value::R8(f.abs())),
                Value::Numeric(f, sc) => Ok(Value::Numeric(f.abs(), *sc)),
                other => Err(ExprError::Type {
                    column: col,
                    message: format!("ABS expects a number, found {}", other.type_name()),
                }),
            }
        }
        _ => Err(ExprError::Syntax {
            column: col,
            message: format!("unknown function {name}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::expr::{ExprError, Value, evaluate};

    /// Found by fuzzing: TOKEN and TOKENCOUNT read their arguments before checking how many
    /// were given, so a call with fewer arguments panicked with an index out of bounds.
    #[test]
    fn token_functions_with_too_few_arguments_are_errors() {
        let scope: HashMap<String, Value> = HashMap::new();
        for src in ["TOKENCOUNT(\"a b\")", "TOKEN(\"a b\", \" \")", "TOKEN()"] {
            let err = evaluate(src, &scope).unwrap_err();
            assert!(
                matches!(&err, ExprError::Syntax { message, .. } if message.contains("argument")),
                "{src}: {err:?}"
            );
        }
    }
}
