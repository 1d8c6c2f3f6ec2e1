//! Changes of a running case outside its events, each by an actor's decision with a reason:
//! correcting recorded values, extending, suspending or resuming a deadline, closing the case.
//! Deadlines move through the same functions as the workflow's own `suspend`, `resume` and
//! `extend` (`transition.rs`), so the two paths count alike; every move is recorded in the
//! deadline's explanation and in the history row (hash-chained by the store).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::case::{Case, TimerKind, TimerStatus};
use super::civil::civil_date;
use super::compiled::{Definition, STARTED_ON};
use super::effect::{Cause, Detail, Effect};
use super::refusal::Refusal;
use super::transition::{Decider, Tx};
use super::value::Variables;
use super::{Actor, Inputs, open_state};
use crate::calendar::{Calendar, Length, french};

/// How a decision moves a deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeadlineChange {
    /// Longer by this length, in its own unit, from the end of the period.
    Extend(Length),
    /// Stopped as of this day; the remaining length is kept.
    Suspend { from: NaiveDate },
    /// The remaining length runs again from this day.
    Resume { on: NaiveDate },
}

impl DeadlineChange {
    pub fn name(&self) -> &'static str {
        match self {
            DeadlineChange::Extend(_) => "extension",
            DeadlineChange::Suspend { .. } => "suspension",
            DeadlineChange::Resume { .. } => "resumption",
        }
    }
}

fn allowed(by: &Actor, roles: &[Arc<str>], action: &str) -> Result<(), Refusal> {
    if by.may(roles) {
        Ok(())
    } else {
        Err(Refusal::RoleNotAllowed {
            action: action.to_string(),
            allowed: roles.iter().map(|r| r.to_string()).collect(),
        })
    }
}

/// The reason, trimmed; none (or only blanks) is refused.
fn reason_for(reason: Option<String>, action: &str) -> Result<String, Refusal> {
    match reason.map(|r| r.trim().to_string()) {
        Some(r) if !r.is_empty() => Ok(r),
        _ => Err(Refusal::MissingReason {
            action: action.to_string(),
        }),
    }
}

fn invalid(input: &str, why: String) -> Refusal {
    Refusal::InvalidInput {
        input: input.to_string(),
        why,
    }
}

/// Replaces recorded values; the deadlines, task due dates and reminders counted from a
/// corrected date are counted again. Refused if a timer that already fired would, with the
/// corrected value, end on a day still to come.
#[allow(clippy::too_many_arguments)]
pub(super) fn correction(
    def: &Definition,
    cal: &Calendar,
    case: &Case,
    by: Actor,
    inputs: &Inputs,
    reason: Option<String>,
    fired: &[String],
    now: DateTime<Utc>,
) -> Result<(Case, Vec<Effect>), Refusal> {
    let action = "correct the case's values";
    open_state(def, case)?;
    allowed(&by, &def.admin.corrections_by, action)?;
    let reason = reason_for(reason, action)?;
    if inputs.is_empty() {
        return Err(Refusal::MissingInput {
            input: "inputs".into(),
        });
    }
    let mut typed = Variables::new();
    for (name, raw) in inputs {
        // `started_on` is the day the case was opened, a fact of the server, not a value an
        // actor recorded.
        let unknown = || Refusal::UnknownInput {
            input: name.clone(),
        };
        if name == STARTED_ON {
            return Err(unknown());
        }
        let (key, _) = def.var(name).ok_or_else(unknown)?;
        let value = def
            .coerce(name, raw)
            .ok_or_else(unknown)?
            .map_err(|why| invalid(name, why))?;
        typed.insert(key.clone(), value);
    }
    let mut variables = case.variables.clone();
    let mut changed = Vec::new();
    {
        let vars = Arc::make_mut(&mut variables);
        for (k, v) in &typed {
            let old = vars.insert(k.clone(), v.clone());
            if old.as_ref() != Some(v) {
                changed.push((k.clone(), old));
            }
        }
    }
    let corrected: Vec<Arc<str>> = changed.iter().map(|(k, _)| k.clone()).collect();
    not_unfired(def, cal, &variables, &corrected, fired, now)?;
    let from = case.state.clone();
    let mut next = case.clone();
    next.variables = variables;
    let mut tx = Tx::new(def, cal, now, next);
    for (k, old) in changed {
        let new = typed.get(&k).map(|v| v.to_json()).unwrap_or_default();
        tx.detail.push(Detail::Corrected {
            variable: k,
            old: old.map(|v| v.to_json()),
            new,
        });
    }
    let who = Decider {
        by: Some(by.id.clone()),
        event: None,
        reason: Some(reason.clone()),
    };
    tx.recount(&corrected, &who);
    for n in &def.admin.corrections_notify {
        tx.notice(n, None);
    }
    Ok(tx.finish(
        Some(by.id),
        Cause::Correction,
        Some(from),
        typed,
        Some(reason),
    ))
}

/// A timer that fired is history: a correction may not make its deadline end after `now`,
/// as if it had not expired.
fn not_unfired(
    def: &Definition,
    cal: &Calendar,
    variables: &Variables,
    corrected: &[Arc<str>],
    fired: &[String],
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    for id in fired {
        let Some(after) = def.timer(id).and_then(|t| t.after.as_ref()) else {
            continue;
        };
        let Some(var) = after.from.as_ref().filter(|f| corrected.contains(f)) else {
            continue;
        };
        let Some(date) = variables.get(var).and_then(|v| v.as_date()) else {
            continue;
        };
        let d = after
            .count(cal, date)
            .map_err(|e| invalid(var, e.to_string()))?;
        if d.expires_at() > now {
            return Err(Refusal::TimerAlreadyFired {
                timer: id.clone(),
                variable: var.to_string(),
                corrected_due: d.due,
            });
        }
    }
    Ok(())
}

/// Extends, suspends or resumes a deadline of the case; its task's due date and its
/// reminders move with it.
#[allow(clippy::too_many_arguments)]
pub(super) fn deadline(
    def: &Definition,
    cal: &Calendar,
    case: &Case,
    timer: &str,
    change: DeadlineChange,
    by: Actor,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<(Case, Vec<Effect>), Refusal> {
    let action = format!("{} the deadline '{timer}'", verb(&change));
    open_state(def, case)?;
    allowed(&by, &def.admin.deadlines_by, &action)?;
    let reason = match change {
        // Resuming ends a suspension already justified; a reason is welcome, not required.
        DeadlineChange::Resume { .. } => reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty()),
        _ => Some(reason_for(reason, &action)?),
    };
    let ti = def
        .timers
        .iter()
        .position(|t| *t.id == *timer)
        .ok_or_else(|| Refusal::UnknownTimer {
            key: timer.to_string(),
        })?;
    let not_armed = || Refusal::TimerNotArmed {
        timer: timer.to_string(),
    };
    let live = case
        .timers
        .iter()
        .find(|t| *t.key.timer == *timer && t.kind == TimerKind::Deadline);
    let today = civil_date(now);
    let rule = def.timers[ti]
        .after
        .as_ref()
        .map(|d| d.rule)
        .unwrap_or_default();
    match &change {
        DeadlineChange::Extend(length) => {
            let live = live.ok_or_else(not_armed)?;
            if length.count == 0 || length.count > Length::max(length.unit) {
                return Err(invalid(
                    "length",
                    format!(
                        "an extension is 1 to {} {}",
                        Length::max(length.unit),
                        length.unit
                    ),
                ));
            }
            if live.is_armed() {
                cal.extended(&live.due, *length, rule)
                    .map_err(|e| invalid("length", e.to_string()))?;
            }
        }
        DeadlineChange::Suspend { from } => {
            let live = live.filter(|t| t.is_armed()).ok_or_else(not_armed)?;
            if *from > today {
                return Err(invalid(
                    "from",
                    format!(
                        "a suspension is recorded once it has begun: {from} is after today ({today})"
                    ),
                ));
            }
            if *from > live.due.due {
                return Err(invalid(
                    "from",
                    format!("the deadline ended on {} before {from}", live.due.due),
                ));
            }
            if *from < live.due.began() {
                return Err(invalid(
                    "from",
                    format!("the deadline runs from {}, after {from}", live.due.began()),
                ));
            }
        }
        DeadlineChange::Resume { on } => {
            let Some(TimerStatus::Suspended {
                since, remaining, ..
            }) = live.map(|t| &t.status)
            else {
                return Err(Refusal::TimerNotSuspended {
                    timer: timer.to_string(),
                });
            };
            if on < since {
                return Err(invalid(
                    "on",
                    format!("the deadline was suspended on {since}, after {on}"),
                ));
            }
            if *on > today {
                return Err(invalid(
                    "on",
                    format!(
                        "a resumption is recorded once it has happened: {on} is after today ({today})"
                    ),
                ));
            }
            cal.deadline_under(*on, None, *remaining, rule)
                .map_err(|e| invalid("on", e.to_string()))?;
        }
    }
    let from = case.state.clone();
    let mut tx = Tx::new(def, cal, now, case.clone());
    let who = Decider {
        by: Some(by.id.clone()),
        event: None,
        reason: reason.clone(),
    };
    match change {
        DeadlineChange::Extend(length) => tx.extend(ti, length, &who),
        DeadlineChange::Suspend { from } => tx.suspend(ti, from, &who),
        DeadlineChange::Resume { on } => tx.resume(ti, on, &who),
    }
    Ok(tx.finish(
        Some(by.id),
        Cause::Deadline {
            timer: def.timers[ti].id.clone(),
            change: change.name(),
        },
        Some(from),
        Variables::new(),
        reason,
    ))
}

fn verb(change: &DeadlineChange) -> &'static str {
    match change {
        DeadlineChange::Extend(_) => "extend",
        DeadlineChange::Suspend { .. } => "suspend",
        DeadlineChange::Resume { .. } => "resume",
    }
}

/// The longest outcome a closing may give.
pub const MAX_OUTCOME: usize = 100;

/// Closes the case with `outcome` where it stands: its timers are cancelled and its tasks
/// closed; its state, values and history stay. A parent case is told as for any ended child.
#[allow(clippy::too_many_arguments)]
pub(super) fn close(
    def: &Definition,
    cal: &Calendar,
    case: &Case,
    by: Actor,
    reason: Option<String>,
    outcome: &str,
    now: DateTime<Utc>,
) -> Result<(Case, Vec<Effect>), Refusal> {
    let action = "close the case";
    open_state(def, case)?;
    allowed(&by, &def.admin.closing_by, action)?;
    let reason = reason_for(reason, action)?;
    let outcome = outcome.trim();
    if outcome.is_empty() {
        return Err(Refusal::MissingInput {
            input: "outcome".into(),
        });
    }
    if outcome.chars().count() > MAX_OUTCOME {
        return Err(invalid(
            "outcome",
            format!("an outcome is at most {MAX_OUTCOME} characters"),
        ));
    }
    let from = case.state.clone();
    let mut tx = Tx::new(def, cal, now, case.clone());
    let outcome: Arc<str> = Arc::from(outcome);
    tx.close_case(outcome.clone());
    tx.detail.push(Detail::Closed {
        outcome: outcome.clone(),
        on: tx.today,
    });
    Ok(tx.finish(
        Some(by.id),
        Cause::Closing { outcome },
        Some(from),
        Variables::new(),
        Some(reason),
    ))
}

/// "clôturé le lundi 4 janvier 2027 : sans_suite".
pub(super) fn closed_fr(outcome: &str, on: NaiveDate) -> String {
    format!(
        "dossier clôturé le {} (issue : {outcome}) ; délais annulés, tâches fermées",
        french::long_date(on)
    )
}
