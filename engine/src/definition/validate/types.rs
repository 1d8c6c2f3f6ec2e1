//! Variables: declarations, references, and the types of literals and tests.

use chrono::NaiveDate;
use indexmap::IndexMap;

use super::{Checker, STARTED_ON, listed};
use crate::definition::model::{Condition, Delay, Literal, Operators, Test, VarType, Variable};
use crate::definition::{Located, Pos};

pub(super) fn check(c: &mut Checker<'_>) {
    declarations(c);
    let wf = c.wf;
    inputs(c, "start input", &wf.start.inputs);
    inputs(c, "start optional input", &wf.start.optional_inputs);
    for state in wf.states.values() {
        for (event_id, event) in &state.on {
            inputs(c, "event input", &event.inputs);
            inputs(c, "event optional input", &event.optional_inputs);
            set(c, &event.set);
            if let Some(when) = &event.when {
                condition(c, when, &format!("event `{event_id}`"), true);
            }
            for branch in &event.choose {
                if let Some(when) = &branch.when {
                    condition(c, when, &format!("a branch of `{event_id}`"), false);
                }
            }
        }
        for timer in &state.timers {
            set(c, &timer.set);
        }
    }
    for timer in &c.wf.timers {
        set(c, &timer.set);
    }
    for delay in all_delays(c) {
        if let Some(from) = &delay.from {
            date_variable(c, from);
        }
    }
}

fn declarations(c: &mut Checker<'_>) {
    for (name, var) in &c.wf.variables {
        let is_enum = var.ty == VarType::Enum;
        if is_enum && var.values.is_empty() {
            c.error(
                "invalid-enum",
                var.pos,
                format!("enum variable `{name}` has no `values`"),
                "list the allowed values under `values:`",
            );
        } else if !is_enum && !var.values.is_empty() {
            c.error(
                "invalid-enum",
                var.pos,
                format!("variable `{name}` has `values` but is not an enum"),
                "use `type: enum`, or remove `values`",
            );
        }
        let mut seen = Vec::new();
        for v in &var.values {
            if seen.contains(&v) {
                c.error(
                    "invalid-enum",
                    var.pos,
                    format!("enum variable `{name}` lists `{v}` twice"),
                    "remove the repeated value",
                );
            }
            seen.push(v);
            if is_enum && !var.labels.contains_key(v) {
                c.error(
                    "enum-label-missing",
                    var.pos,
                    format!("value `{v}` of enum variable `{name}` has no French label"),
                    format!("add it under `labels:`, e.g. `{v}: \"…\"`: actors read labels, not identifiers"),
                );
            }
        }
        for key in var.labels.keys() {
            if !var.values.contains(key) {
                c.error(
                    "enum-label-unknown",
                    var.pos,
                    format!("enum variable `{name}` has a label for `{key}`, which is not one of its values"),
                    "label only the values listed under `values:`",
                );
            }
        }
    }
}

fn inputs(c: &mut Checker<'_>, context: &str, names: &[Located<String>]) {
    for name in names {
        if name.as_str() == STARTED_ON {
            c.error(
                "reserved-variable",
                name.pos,
                format!("{context} `{STARTED_ON}` cannot be given: it is set when the case starts"),
                "remove it from the inputs",
            );
        } else if !c.is_variable(name) {
            c.unknown_variable(name, name.pos, context);
        }
    }
}

/// `set:` maps of events and timers: known variables, values of their type.
fn set(c: &mut Checker<'_>, values: &IndexMap<String, Located<Literal>>) {
    literals(c, values, "`set`");
}

fn literals(c: &mut Checker<'_>, values: &IndexMap<String, Located<Literal>>, context: &str) {
    for (name, value) in values {
        let pos = c.key_pos(name, value.pos);
        if name == STARTED_ON {
            c.error(
                "reserved-variable",
                pos,
                format!("{context} cannot give `{STARTED_ON}`: it is the date the case started"),
                "set another date variable",
            );
            continue;
        }
        let Some(var) = c.variable(name) else {
            c.unknown_variable(name, pos, context);
            continue;
        };
        if let Some(problem) = literal_problem(var, value) {
            c.error(
                "type-mismatch",
                value.pos,
                format!("{context} gives `{name}` {problem}"),
                expected(var),
            );
        }
    }
}

/// The start schedules' `with` values are checked the same way as `set`.
pub(super) fn start_values(c: &mut Checker<'_>, values: &IndexMap<String, Located<Literal>>) {
    literals(c, values, "schedule `with`");
}

fn date_variable(c: &mut Checker<'_>, from: &Located<String>) {
    if from.as_str() == STARTED_ON {
        return;
    }
    match c.variable(from) {
        None => c.unknown_variable(from, from.pos, "`from`"),
        Some(var) if var.ty != VarType::Date => c.error(
            "type-mismatch",
            from.pos,
            format!(
                "`from` names `{}`, a {} variable, but a delay counts from a date",
                from.value,
                type_name(var.ty)
            ),
            "use a variable of type `date`, or remove `from` to count from the day the state was entered",
        ),
        Some(_) => {}
    }
}

/// Every delay written in the workflow (timers, tasks, reminders, extensions, stuck_after).
pub(super) fn all_delays<'a>(c: &Checker<'a>) -> Vec<&'a Located<Delay>> {
    let wf = c.wf;
    let mut out = Vec::new();
    let timer_delays = |t: &'a crate::definition::model::Timer,
                        out: &mut Vec<&'a Located<Delay>>| {
        out.extend(t.after.iter().chain(&t.every).chain(&t.until));
        out.extend(t.reminders.iter().map(|r| &r.before));
    };
    for t in &wf.timers {
        timer_delays(t, &mut out);
    }
    for state in wf.states.values() {
        for t in &state.timers {
            timer_delays(t, &mut out);
        }
        for task in &state.tasks {
            out.extend(&task.due);
            out.extend(task.reminders.iter().map(|r| &r.before));
        }
        for event in state.on.values() {
            out.extend(event.extend.iter().map(|e| &e.by));
            for k in &event.constraints {
                out.extend(k.not_before.iter().chain(&k.not_after));
            }
        }
        out.extend(&state.stuck_after);
    }
    out
}

/// Checks names and types in a condition. `event` says whether it guards an event (an
/// equality that can never hold then makes the event impossible).
fn condition(c: &mut Checker<'_>, cond: &Located<Condition>, owner: &str, event: bool) {
    for (name, test) in cond.iter() {
        let pos = c.key_pos(name, test.pos).max(cond.pos);
        let Some(var) = (if name == STARTED_ON {
            Some(&STARTED_ON_VAR)
        } else {
            c.variable(name)
        }) else {
            c.unknown_variable(name, pos, &format!("the condition of {owner}"));
            continue;
        };
        match &test.value {
            Test::Equals(lit) => equality(c, var, name, lit, test.pos, owner, event),
            Test::Operators(ops) => operators(c, var, name, ops, test.pos, owner, event),
        }
    }
}

static STARTED_ON_VAR: Variable = Variable {
    ty: VarType::Date,
    label: None,
    values: Vec::new(),
    labels: std::collections::BTreeMap::new(),
};

fn equality(
    c: &mut Checker<'_>,
    var: &Variable,
    name: &str,
    lit: &Literal,
    pos: Pos,
    owner: &str,
    event: bool,
) {
    let Some(problem) = literal_problem(var, lit) else {
        return;
    };
    if var.ty == VarType::Enum && matches!(lit, Literal::Text(_)) {
        let code = if event {
            "impossible-event"
        } else {
            "impossible-branch"
        };
        c.error(
            code,
            pos,
            format!("{owner} can never happen: it tests `{name}` against {problem}"),
            expected(var),
        );
    } else {
        c.error(
            "type-mismatch",
            pos,
            format!("{owner} tests `{name}` against {problem}"),
            expected(var),
        );
    }
}

fn operators(
    c: &mut Checker<'_>,
    var: &Variable,
    name: &str,
    ops: &Operators,
    pos: Pos,
    owner: &str,
    event: bool,
) {
    let empty = ops.set.is_none()
        && ops.equals.is_none()
        && ops.not.is_none()
        && ops.one_of.is_none()
        && ops.at_least.is_none()
        && ops.at_most.is_none();
    if empty {
        c.error(
            "type-mismatch",
            pos,
            format!("{owner} has an empty test on `{name}`"),
            "write a value, or one of `set`, `equals`, `not`, `one_of`, `at_least`, `at_most`",
        );
    }
    if let Some(lit) = &ops.equals {
        equality(c, var, name, lit, pos, owner, event);
    }
    let mut plain: Vec<(&str, &Literal)> = Vec::new();
    plain.extend(ops.not.iter().map(|l| ("not", l)));
    plain.extend(ops.one_of.iter().flatten().map(|l| ("one_of", l)));
    for (op, lit) in plain {
        if let Some(problem) = literal_problem(var, lit) {
            c.error(
                "type-mismatch",
                pos,
                format!("{owner} tests `{name}` with `{op}` against {problem}"),
                expected(var),
            );
        }
    }
    let bounds: Vec<(&str, &Literal)> = [("at_least", &ops.at_least), ("at_most", &ops.at_most)]
        .into_iter()
        .filter_map(|(op, l)| l.as_ref().map(|l| (op, l)))
        .collect();
    for (op, lit) in bounds {
        if !matches!(var.ty, VarType::Integer | VarType::Date) {
            c.error(
                "type-mismatch",
                pos,
                format!(
                    "{owner} uses `{op}` on `{name}`, a {} variable",
                    type_name(var.ty)
                ),
                "`at_least` and `at_most` apply to integer and date variables only",
            );
        } else if let Some(problem) = literal_problem(var, lit) {
            c.error(
                "type-mismatch",
                pos,
                format!("{owner} tests `{name}` with `{op}` against {problem}"),
                expected(var),
            );
        }
    }
}

pub(super) fn type_name(ty: VarType) -> &'static str {
    match ty {
        VarType::Text => "text",
        VarType::Date => "date",
        VarType::Integer => "integer",
        VarType::Boolean => "boolean",
        VarType::Enum => "enum",
        VarType::Email => "email",
        VarType::Document => "document",
    }
}

fn show(lit: &Literal) -> String {
    match lit {
        Literal::Boolean(b) => format!("the boolean `{b}`"),
        Literal::Integer(i) => format!("the integer `{i}`"),
        Literal::Text(s) => format!("the text `{s}`"),
    }
}

/// Why `lit` is not a value of `var`, as the end of a sentence ("the text `x`, not a date").
pub(super) fn literal_problem(var: &Variable, lit: &Literal) -> Option<String> {
    let fits = match (var.ty, lit) {
        (VarType::Text | VarType::Email | VarType::Document, Literal::Text(_)) => true,
        (VarType::Date, Literal::Text(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        (VarType::Integer, Literal::Integer(_)) => true,
        (VarType::Boolean, Literal::Boolean(_)) => true,
        (VarType::Enum, Literal::Text(s)) => var.values.contains(s),
        _ => false,
    };
    if fits {
        return None;
    }
    let what = match var.ty {
        VarType::Enum => "one of its values".to_string(),
        VarType::Date => "a date".to_string(),
        ty => format!("a value of type {}", type_name(ty)),
    };
    Some(format!("{}, not {what}", show(lit)))
}

fn expected(var: &Variable) -> String {
    match var.ty {
        VarType::Enum => format!(
            "allowed values: {}",
            listed(var.values.iter().map(String::as_str))
        ),
        VarType::Date => "write dates as YYYY-MM-DD, e.g. 2027-01-05".to_string(),
        VarType::Integer => "write a whole number".to_string(),
        VarType::Boolean => "write `true` or `false`".to_string(),
        _ => "write a text value".to_string(),
    }
}
