//! The mapping file of a migration: how the cases of an older version of a workflow become
//! cases of a newer one (states, renamed and dropped variables, what becomes of each timer).
//! Parsed with positions like a workflow, and checked against both compiled versions so that
//! every mistake comes back at once as a `Diagnostic` with a stable `mapping-*` code.

use indexmap::IndexMap;
use serde::Deserialize;

use crate::definition::validate::{listed, suggest};
use crate::definition::{Diagnostic, Located, Pos, VarType, limits, yaml_error};
use crate::machine::Definition;

/// What becomes of an armed timer of the old version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerPolicy {
    /// The timer keeps its due date (and its reminders) under the new version's timer of the
    /// same id.
    Keep,
    /// The timer is cancelled and the new version's timer of the same id is not armed.
    Cancel,
    /// The default: cancelled, then the new version's timer of the same id armed again,
    /// counted from the date the state (or, for a case timer, the case) began.
    Rearm,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Only the cases of this version move (default: the cases of every older version).
    #[serde(default)]
    pub from_version: Option<Located<u32>>,
    /// Old state → new state; a state not listed keeps its name.
    #[serde(default)]
    pub states: IndexMap<String, Located<String>>,
    /// Old variable → new name; a variable not listed keeps its name.
    #[serde(default)]
    pub variables: IndexMap<String, Located<String>>,
    /// Variables of the old version whose values are not carried over.
    #[serde(default)]
    pub drop: Vec<Located<String>>,
    /// Timer id of the old version → what becomes of it (default `rearm`).
    #[serde(default)]
    pub timers: IndexMap<String, Located<TimerPolicy>>,
}

impl Mapping {
    /// The state of the new version a case in `old` goes to.
    pub fn state<'a>(&'a self, old: &'a str) -> &'a str {
        self.states.get(old).map_or(old, |s| s.as_str())
    }

    /// The new name of variable `old`, or `None` when it is dropped.
    pub fn variable<'a>(&'a self, old: &'a str) -> Option<&'a str> {
        if self.drop.iter().any(|d| d.as_str() == old) {
            return None;
        }
        Some(self.variables.get(old).map_or(old, |v| v.as_str()))
    }

    pub fn timer(&self, id: &str) -> TimerPolicy {
        self.timers.get(id).map_or(TimerPolicy::Rearm, |p| p.value)
    }
}

const START: Pos = Pos { line: 1, column: 1 };

/// Parses a mapping file; a syntax error, an unknown key or a wrong type is one `mapping-yaml`
/// diagnostic at the position the parser reports.
pub fn parse(text: &str) -> Result<Mapping, Diagnostic> {
    if let Some(mut d) = limits::check_text(text) {
        d.message = format!("the mapping file is too large: {}", d.message);
        return Err(d);
    }
    let text = if text.trim().is_empty() { "{}" } else { text };
    serde_saphyr::from_str::<Mapping>(text).map_err(|e| {
        let (pos, message) = yaml_error(&e);
        Diagnostic::error("mapping-yaml", pos, message).with_hint(
            "a mapping has the keys from_version, states, variables, drop and timers; a \
             timer is keep, cancel or rearm (docs/migrations.md)",
        )
    })
}

/// Every problem of `mapping` for moving the open cases of several older versions (each with
/// its number) to `new`. A key that names a state, variable or timer of some of these versions
/// only is checked against those; one that names none of them is reported. A problem found for
/// some versions only says which.
pub fn check_versions(
    mapping: &Mapping,
    olds: &[(u32, &Definition)],
    new: &Definition,
) -> Vec<Diagnostic> {
    let mut found: Vec<(Diagnostic, Vec<u32>)> = Vec::new();
    for &(version, old) in olds {
        let own = own_keys(mapping, old, olds);
        for d in check(&own, old, new) {
            // The same mistake seen from two versions (its hint may differ: the names offered
            // are each version's).
            let same = |f: &Diagnostic| (f.code, f.pos, &f.message) == (d.code, d.pos, &d.message);
            match found.iter_mut().find(|(f, _)| same(f)) {
                Some((_, versions)) => versions.push(version),
                None => found.push((d, vec![version])),
            }
        }
    }
    let mut out: Vec<Diagnostic> = found
        .into_iter()
        .map(|(mut d, versions)| {
            if versions.len() < olds.len() {
                let listed: Vec<String> = versions.iter().map(u32::to_string).collect();
                d.message = format!("{} (cases of version {})", d.message, listed.join(", "));
            }
            d
        })
        .collect();
    out.sort_by_key(|d| d.pos);
    out
}

/// `mapping` without the keys that name nothing of `old` but something of another of `olds`:
/// they are meant for the cases of that other version.
fn own_keys(mapping: &Mapping, old: &Definition, olds: &[(u32, &Definition)]) -> Mapping {
    let elsewhere =
        |known: &dyn Fn(&Definition) -> bool| !known(old) && olds.iter().any(|(_, o)| known(o));
    let mut own = mapping.clone();
    own.states
        .retain(|k, _| !elsewhere(&|d: &Definition| d.state(k).is_some()));
    own.variables
        .retain(|k, _| !elsewhere(&|d: &Definition| d.var_type(k).is_some()));
    own.drop
        .retain(|k| !elsewhere(&|d: &Definition| d.var_type(k).is_some()));
    own.timers
        .retain(|k, _| !elsewhere(&|d: &Definition| d.timer(k).is_some()));
    own
}

/// Every problem of `mapping` for moving the open cases of `old` to `new`, in file order.
/// Only non-final states need a place in the new version: closed cases do not move.
pub fn check(mapping: &Mapping, old: &Definition, new: &Definition) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let old_states: Vec<&str> = old.states.iter().map(|s| &*s.id).collect();
    let new_states: Vec<&str> = new.states.iter().map(|s| &*s.id).collect();
    let hint = |name: &str, among: &[&str]| {
        suggest(name, among)
            .unwrap_or_else(|| format!("the states are {}", listed(among.iter().copied())))
    };
    for (from, to) in &mapping.states {
        if old.state(from).is_none() {
            out.push(
                Diagnostic::error(
                    "mapping-unknown-state",
                    to.pos,
                    format!("`{from}` is not a state of the old version"),
                )
                .with_hint(hint(from, &old_states)),
            );
        }
        match new.state(to) {
            None => out.push(
                Diagnostic::error(
                    "mapping-unknown-state",
                    to.pos,
                    format!("`{}` is not a state of the new version", to.value),
                )
                .with_hint(hint(to, &new_states)),
            ),
            Some(s) if s.is_final && old.state(from).is_some_and(|o| !o.is_final) => out.push(
                Diagnostic::error(
                    "mapping-final-state",
                    to.pos,
                    format!(
                        "the open state `{from}` is mapped to the final state `{}`: a migration \
                         does not close cases",
                        to.value
                    ),
                )
                .with_hint("map it to a waiting state; close the case afterwards"),
            ),
            Some(_) => {}
        }
    }
    for s in old.states.iter().filter(|s| !s.is_final) {
        if mapping.states.contains_key(&*s.id) {
            continue;
        }
        match new.state(&s.id) {
            Some(n) if !n.is_final => {}
            Some(_) => out.push(
                Diagnostic::error(
                    "mapping-final-state",
                    START,
                    format!("the open state `{}` is final in the new version", s.id),
                )
                .with_hint(format!(
                    "map it under `states:` (`{}: <waiting state>`)",
                    s.id
                )),
            ),
            None => out.push(
                Diagnostic::error(
                    "mapping-unmapped-state",
                    START,
                    format!(
                        "cases in state `{}` of the old version have no state in the new one",
                        s.id
                    ),
                )
                .with_hint(format!("add `{}: <new state>` under `states:`", s.id)),
            ),
        }
    }
    check_variables(mapping, old, new, &mut out);
    check_timers(mapping, old, new, &mut out);
    out.sort_by_key(|d| d.pos);
    out
}

fn check_variables(
    mapping: &Mapping,
    old: &Definition,
    new: &Definition,
    out: &mut Vec<Diagnostic>,
) {
    let old_vars: Vec<&str> = old.variables.keys().map(String::as_str).collect();
    let new_vars: Vec<&str> = new.variables.keys().map(String::as_str).collect();
    let unknown_old =
        |name: &str, pos: Pos| {
            Diagnostic::error(
                "mapping-unknown-variable",
                pos,
                format!("`{name}` is not a variable of the old version"),
            )
            .with_hint(suggest(name, &old_vars).unwrap_or_else(|| {
                format!("the variables are {}", listed(old_vars.iter().copied()))
            }))
        };
    for d in &mapping.drop {
        if old.var_type(d).is_none() {
            out.push(unknown_old(d, d.pos));
        }
        if mapping.variables.contains_key(d.as_str()) {
            out.push(
                Diagnostic::error(
                    "mapping-variable-conflict",
                    d.pos,
                    format!("`{}` is both renamed and dropped", d.value),
                )
                .with_hint("keep it under `variables:` or under `drop:`, not both"),
            );
        }
    }
    for (from, to) in &mapping.variables {
        if old.var_type(from).is_none() {
            out.push(unknown_old(from, to.pos));
        }
        if new.var_type(to).is_none() {
            out.push(
                Diagnostic::error(
                    "mapping-unknown-variable",
                    to.pos,
                    format!("`{}` is not a variable of the new version", to.value),
                )
                .with_hint(suggest(to, &new_vars).unwrap_or_else(|| {
                    format!("the variables are {}", listed(new_vars.iter().copied()))
                })),
            );
        }
    }
    // Two old variables must not land on one new name: one value would be lost.
    let mut landed: IndexMap<&str, &str> = IndexMap::new();
    for (name, var) in &old.variables {
        let Some(to) = mapping.variable(name) else {
            continue;
        };
        let pos_of = |n: &str| mapping.variables.get(n).map_or(START, |v| v.pos);
        let pos = pos_of(name);
        if let Some(first) = landed.insert(to, name) {
            out.push(
                Diagnostic::error(
                    "mapping-variable-conflict",
                    pos.max(pos_of(first)),
                    format!("`{first}` and `{name}` would both become `{to}`"),
                )
                .with_hint("rename or drop one of them"),
            );
        }
        let Some((_, target)) = new.var(to) else {
            if !mapping.variables.contains_key(name) {
                out.push(
                    Diagnostic::error(
                        "mapping-unmapped-variable",
                        START,
                        format!("the variable `{name}` of the old version is not in the new one"),
                    )
                    .with_hint(format!(
                        "rename it under `variables:` or list it under `drop:`{}",
                        suggest(name, &new_vars)
                            .map(|s| format!(" ({s})"))
                            .unwrap_or_default()
                    )),
                );
            }
            continue;
        };
        if let Some(why) = incompatible(var, target) {
            out.push(
                Diagnostic::error(
                    "mapping-variable-type",
                    pos,
                    format!("`{name}` cannot become `{to}`: {why}"),
                )
                .with_hint("map it to a variable of the same type, or drop it"),
            );
        }
    }
}

/// Why a value of `old` may not fit `new`: another type, or enum values the new one lacks.
fn incompatible(
    old: &crate::definition::Variable,
    new: &crate::definition::Variable,
) -> Option<String> {
    if old.ty != new.ty {
        return Some(format!("{:?} is not {:?}", old.ty, new.ty).to_lowercase());
    }
    if old.ty == VarType::Enum {
        let missing: Vec<&str> = old
            .values
            .iter()
            .filter(|v| !new.values.contains(v))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Some(format!(
                "the new version lacks the values {}",
                listed(missing)
            ));
        }
    }
    None
}

fn check_timers(mapping: &Mapping, old: &Definition, new: &Definition, out: &mut Vec<Diagnostic>) {
    let old_timers: Vec<&str> = old.timers.iter().map(|t| &*t.id).collect();
    for (id, policy) in &mapping.timers {
        let Some(t) = old.timer(id) else {
            out.push(
                Diagnostic::error(
                    "mapping-unknown-timer",
                    policy.pos,
                    format!("`{id}` is not a timer of the old version"),
                )
                .with_hint(suggest(id, &old_timers).unwrap_or_else(|| {
                    format!("the timers are {}", listed(old_timers.iter().copied()))
                })),
            );
            continue;
        };
        if policy.value != TimerPolicy::Keep {
            continue;
        }
        // Kept, the timer must belong where the case will be: the mapped state, or the case.
        let home = t.state.map(|si| mapping.state(&old.states[si].id));
        let fits = new.timer(id).is_some_and(|n| match (n.state, home) {
            (None, None) => true,
            (Some(si), Some(state)) => *new.states[si].id == *state,
            _ => false,
        });
        if !fits {
            let place = match home {
                Some(state) => format!("the state `{state}` of the new version"),
                None => "the case timers of the new version".to_string(),
            };
            out.push(
                Diagnostic::error(
                    "mapping-keep-missing",
                    policy.pos,
                    format!("`{id}` cannot be kept: {place} has no timer `{id}`"),
                )
                .with_hint("use `cancel`, or `rearm` to arm the new version's timers"),
            );
        }
    }
}
