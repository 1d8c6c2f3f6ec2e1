//! Typed variable values, the coercion of actor inputs and literals to them, and the
//! evaluation of `when` conditions.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::calendar::{FIRST_YEAR, LAST_YEAR};
use crate::definition::{Condition, Literal, Test, VarType, Variable};

/// The value of a case variable. `enum`, `email` and `document` variables hold text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Text(Arc<str>),
    Integer(i64),
    Boolean(bool),
    Date(NaiveDate),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(s) => f.write_str(s),
            Value::Integer(n) => write!(f, "{n}"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Date(d) => write!(f, "{d}"),
        }
    }
}

impl Value {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_date(&self) -> Option<NaiveDate> {
        match self {
            Value::Date(d) => Some(*d),
            _ => None,
        }
    }

    /// The value as JSON, as it is written in scenarios and API requests.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Text(s) => serde_json::Value::String(s.to_string()),
            Value::Integer(n) => serde_json::Value::from(*n),
            Value::Boolean(b) => serde_json::Value::Bool(*b),
            Value::Date(d) => serde_json::Value::String(d.to_string()),
        }
    }
}

/// Variable name → value. Names are shared with the definition, so copying a case copies no
/// text.
pub type Variables = BTreeMap<Arc<str>, Value>;

/// Parses `YYYY-MM-DD` inside the calendar's supported years.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let d = ymd(s).ok_or_else(|| format!("expected a date as YYYY-MM-DD, got '{s}'"))?;
    if !(FIRST_YEAR..=LAST_YEAR).contains(&d.year()) {
        return Err(format!(
            "date {d} is outside the supported years {FIRST_YEAR}-{LAST_YEAR}"
        ));
    }
    Ok(d)
}

/// Exactly `YYYY-MM-DD` (chrono's parser also takes other widths and is slower).
fn ymd(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

/// A sane check, not RFC 5322: one `@`, a non-empty local part, a dotted domain, no spaces.
fn check_email(s: &str) -> Result<(), String> {
    let bad = || format!("'{s}' is not an email address");
    let (local, domain) = s.split_once('@').ok_or_else(bad)?;
    let ok = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(()) } else { Err(bad()) }
}

const MAX_TEXT: usize = 10_000;

fn text(s: &str) -> Result<Arc<str>, String> {
    if s.len() > MAX_TEXT {
        return Err(format!("text longer than {MAX_TEXT} bytes"));
    }
    Ok(Arc::from(s))
}

/// Checks an input against its variable's type.
pub fn coerce(var: &Variable, input: &serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    match (var.ty, input) {
        (VarType::Text | VarType::Document, J::String(s)) => text(s).map(Value::Text),
        (VarType::Email, J::String(s)) => {
            let s = s.trim();
            check_email(s)?;
            Ok(Value::Text(Arc::from(s)))
        }
        (VarType::Enum, J::String(s)) => {
            if var.values.iter().any(|v| v == s) {
                Ok(Value::Text(Arc::from(s.as_str())))
            } else {
                Err(format!("'{s}' is not one of {}", var.values.join(", ")))
            }
        }
        (VarType::Date, J::String(s)) => parse_date(s).map(Value::Date),
        (VarType::Integer, J::Number(n)) => n
            .as_i64()
            .map(Value::Integer)
            .ok_or_else(|| format!("expected a whole number, got {n}")),
        (VarType::Boolean, J::Bool(b)) => Ok(Value::Boolean(*b)),
        (ty, other) => Err(format!(
            "expected {}, got {}",
            type_name(ty),
            json_kind(other)
        )),
    }
}

fn type_name(ty: VarType) -> &'static str {
    match ty {
        VarType::Text | VarType::Document => "text",
        VarType::Date => "a date (YYYY-MM-DD)",
        VarType::Integer => "a whole number",
        VarType::Boolean => "true or false",
        VarType::Enum => "one of the listed values",
        VarType::Email => "an email address",
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "text",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A workflow literal as a value of the variable's type.
pub fn from_literal(ty: VarType, lit: &Literal) -> Result<Value, String> {
    match (ty, lit) {
        (VarType::Date, Literal::Text(s)) => parse_date(s).map(Value::Date),
        (VarType::Integer, Literal::Integer(n)) => Ok(Value::Integer(*n)),
        (VarType::Boolean, Literal::Boolean(b)) => Ok(Value::Boolean(*b)),
        (VarType::Text | VarType::Enum | VarType::Email | VarType::Document, Literal::Text(s)) => {
            Ok(Value::Text(Arc::from(s.as_str())))
        }
        (ty, lit) => Err(format!("{lit:?} is not {}", type_name(ty))),
    }
}

/// A `when` condition compiled once: variable names shared with the definition, literals
/// already typed, so evaluating it allocates nothing unless it fails.
#[derive(Clone, Debug)]
pub struct Guard {
    tests: Vec<VarTest>,
}

#[derive(Clone, Debug)]
struct VarTest {
    name: Arc<str>,
    ops: Vec<Op>,
}

/// One operator of a test, in the order they are checked.
#[derive(Clone, Debug)]
enum Op {
    Set(bool),
    Equals(Value),
    Not(Value),
    OneOf(Vec<Value>),
    AtLeast(Value),
    AtMost(Value),
}

impl Guard {
    /// Types the literals of `cond`; `var` gives a variable's shared name and type.
    pub fn compile<'v>(
        cond: &Condition,
        var: impl Fn(&str) -> Option<(&'v Arc<str>, VarType)>,
    ) -> Result<Guard, String> {
        let mut tests = Vec::with_capacity(cond.len());
        for (name, test) in cond {
            let (shared, ty) = var(name).ok_or_else(|| format!("unknown variable '{name}'"))?;
            let lit = |l: &Literal| {
                from_literal(ty, l).map_err(|e| format!("condition on '{name}': {e}"))
            };
            let mut ops = Vec::new();
            match &test.value {
                Test::Equals(l) => ops.push(Op::Equals(lit(l)?)),
                Test::Operators(o) => {
                    if let Some(want) = o.set {
                        ops.push(Op::Set(want));
                    }
                    if let Some(l) = &o.equals {
                        ops.push(Op::Equals(lit(l)?));
                    }
                    if let Some(l) = &o.not {
                        ops.push(Op::Not(lit(l)?));
                    }
                    if let Some(list) = &o.one_of {
                        ops.push(Op::OneOf(list.iter().map(lit).collect::<Result<_, _>>()?));
                    }
                    if let Some(l) = &o.at_least {
                        ops.push(Op::AtLeast(lit(l)?));
                    }
                    if let Some(l) = &o.at_most {
                        ops.push(Op::AtMost(lit(l)?));
                    }
                }
            }
            tests.push(VarTest {
                name: shared.clone(),
                ops,
            });
        }
        Ok(Guard { tests })
    }

    /// Whether every test passes on `vars`.
    pub fn holds(&self, vars: &Variables) -> bool {
        self.tests
            .iter()
            .all(|t| t.failing(vars.get(&t.name)).is_none())
    }

    /// The first test that does not hold, as (variable, why).
    pub fn first_failure(&self, vars: &Variables) -> Option<(String, String)> {
        self.tests.iter().find_map(|t| {
            let actual = vars.get(&t.name);
            let op = t.failing(actual)?;
            let shown = actual.map_or_else(|| "unset".to_string(), |v| format!("'{v}'"));
            Some((t.name.to_string(), format!("{} (value: {shown})", op.why())))
        })
    }
}

impl VarTest {
    fn failing(&self, actual: Option<&Value>) -> Option<&Op> {
        self.ops.iter().find(|op| !op.passes(actual))
    }
}

impl Op {
    fn passes(&self, actual: Option<&Value>) -> bool {
        match self {
            Op::Set(want) => actual.is_some() == *want,
            Op::Equals(v) => actual == Some(v),
            Op::Not(v) => actual != Some(v),
            Op::OneOf(list) => actual.is_some_and(|a| list.contains(a)),
            Op::AtLeast(v) => ordered(actual, v, |o| o.is_ge()),
            Op::AtMost(v) => ordered(actual, v, |o| o.is_le()),
        }
    }

    fn why(&self) -> String {
        match self {
            Op::Set(true) => "must be set".into(),
            Op::Set(false) => "must be unset".into(),
            Op::Equals(v) => format!("must equal {}", show(v)),
            Op::Not(v) => format!("must not equal {}", show(v)),
            Op::OneOf(list) => {
                let shown: Vec<String> = list.iter().map(show).collect();
                format!("must be one of {}", shown.join(", "))
            }
            Op::AtLeast(v) => format!("must be at least {}", show(v)),
            Op::AtMost(v) => format!("must be at most {}", show(v)),
        }
    }
}

fn ordered(actual: Option<&Value>, bound: &Value, ok: impl Fn(std::cmp::Ordering) -> bool) -> bool {
    match (actual, bound) {
        (Some(Value::Integer(a)), Value::Integer(b)) => ok(a.cmp(b)),
        (Some(Value::Date(a)), Value::Date(b)) => ok(a.cmp(b)),
        _ => false,
    }
}

/// A value as the workflow writes it: text and dates quoted.
fn show(v: &Value) -> String {
    match v {
        Value::Text(s) => format!("'{s}'"),
        Value::Date(d) => format!("'{d}'"),
        Value::Integer(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
    }
}
