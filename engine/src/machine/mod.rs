//! The pure state machine: `(definition, case, trigger, now) -> (case, effects)` or a refusal.
//!
//! No I/O and no clock: the caller passes `now` and the calendar. A refusal changes nothing
//! (the case is taken by reference; a new one is returned only on success).

mod admin;
mod case;
pub mod civil;
mod compiled;
mod effect;
pub mod migrate;
mod refusal;
mod schedule;
mod stuck;
mod transition;
pub mod value;

#[cfg(test)]
mod admin_tests;
#[cfg(test)]
mod props;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use admin::DeadlineChange;
pub use case::{ArmedTimer, Case, OpenTask, Status, TimerKey, TimerKind, TimerStatus};
pub use compiled::{
    AdminDef, ConstraintDef, Definition, DelayDef, EventDef, NoticeDef, SERVER_ROLES, STARTED_ON,
    StateDef, Target, TaskDef, TimerDef,
};
pub use effect::{Cause, CloseReason, DedupeKey, Detail, Effect, History, NoticeDeadline};
pub use refusal::Refusal;
pub use schedule::{MAX_RUNS, ScheduleDef, more_than_once_a_minute, next_run, next_runs};
pub use stuck::{stuck_at, stuck_limit};
pub use value::{Guard, Value, Variables};

use crate::calendar::Calendar;
use transition::Tx;

/// Who acts: an id for history and the roles they hold in this case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub id: String,
    pub roles: Vec<String>,
}

impl Actor {
    fn may(&self, allowed: &[Arc<str>]) -> bool {
        self.roles
            .iter()
            .any(|r| allowed.iter().any(|a| **a == **r))
    }
}

pub type Inputs = BTreeMap<String, serde_json::Value>;

#[derive(Clone, Debug)]
pub struct StartRequest {
    pub by: Actor,
    pub inputs: Inputs,
    pub now: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub enum Trigger {
    Event {
        name: String,
        by: Actor,
        inputs: Inputs,
        reason: Option<String>,
    },
    /// A timer armed under `key` is due.
    Timer { key: TimerKey },
    /// A case started by this one ended.
    ChildEnded { workflow: String, outcome: String },
    /// Replace recorded values of the case's variables (`administration.corrections`).
    /// `fired` lists the timers of the case that already fired (the store knows them): a
    /// correction may not move one of them back into the future.
    Correction {
        by: Actor,
        inputs: Inputs,
        reason: Option<String>,
        fired: Vec<String>,
    },
    /// Extend, suspend or resume deadline `timer` (`administration.deadlines`).
    Deadline {
        timer: String,
        change: DeadlineChange,
        by: Actor,
        reason: Option<String>,
    },
    /// Close the case with `outcome` before a final state (`administration.closing`).
    Close {
        by: Actor,
        reason: Option<String>,
        outcome: String,
    },
}

/// Checks and types the inputs of an action.
fn typed_inputs(
    def: &Definition,
    required: &[Arc<str>],
    optional: &[Arc<str>],
    given: &Inputs,
) -> Result<Variables, Refusal> {
    let listed = |names: &[Arc<str>], name: &str| names.iter().any(|n| **n == *name);
    for name in given.keys() {
        if !listed(required, name) && !listed(optional, name) {
            return Err(Refusal::UnknownInput {
                input: name.clone(),
            });
        }
    }
    for name in required {
        if !given.contains_key(&**name) {
            return Err(Refusal::MissingInput {
                input: name.to_string(),
            });
        }
    }
    let mut typed = Variables::new();
    for (name, raw) in given {
        // Listed names are declared variables (the compiler checked), so the shared name is
        // the listed one.
        let key = required
            .iter()
            .chain(optional)
            .find(|n| ***n == **name)
            .ok_or_else(|| Refusal::UnknownInput {
                input: name.clone(),
            })?;
        let v = def
            .coerce(name, raw)
            .ok_or_else(|| Refusal::UnknownInput {
                input: name.clone(),
            })?
            .map_err(|why| Refusal::InvalidInput {
                input: name.clone(),
                why,
            })?;
        typed.insert(key.clone(), v);
    }
    Ok(typed)
}

fn guard(cond: &Guard, vars: &Variables) -> Result<(), Refusal> {
    match cond.first_failure(vars) {
        None => Ok(()),
        Some((variable, why)) => Err(Refusal::GuardFailed { variable, why }),
    }
}

/// Starts a case: checks the role and inputs, enters the initial state, arms the case timers.
pub fn start(
    def: &Definition,
    cal: &Calendar,
    req: StartRequest,
) -> Result<(Case, Vec<Effect>), Refusal> {
    if !req.by.may(&def.start.by) {
        return Err(Refusal::RoleNotAllowed {
            action: "start a case".into(),
            allowed: def.start.by.iter().map(|r| r.to_string()).collect(),
        });
    }
    let inputs = typed_inputs(
        def,
        &def.start.inputs,
        &def.start.optional_inputs,
        &req.inputs,
    )?;
    let today = civil::civil_date(req.now);
    let mut variables = inputs.clone();
    if let Some((name, _)) = def.var(STARTED_ON) {
        variables.insert(name.clone(), Value::Date(today));
    }
    let initial = &def.states[def.initial];
    let case = Case {
        workflow: def.id.clone(),
        state: initial.id.clone(),
        variables: Arc::new(variables),
        status: Status::Open,
        started_on: today,
        entered_on: today,
        entered_at: req.now,
        timers: Vec::new(),
        tasks: Vec::new(),
        arming_seq: 0,
        transitions: 0,
    };
    let mut tx = Tx::new(def, cal, req.now, case);
    for &ti in &def.case_timers {
        tx.arm_timer(ti, today);
    }
    tx.arm_state(def.initial);
    for n in &def.start.notify {
        tx.notice(n, None);
    }
    tx.announce_state(def.initial);
    Ok(tx.finish(Some(req.by.id), Cause::Start, None, inputs, None))
}

/// Applies a trigger to a case.
pub fn step(
    def: &Definition,
    cal: &Calendar,
    case: &Case,
    trigger: Trigger,
    now: DateTime<Utc>,
) -> Result<(Case, Vec<Effect>), Refusal> {
    match trigger {
        Trigger::Event {
            name,
            by,
            inputs,
            reason,
        } => event(def, cal, case, &name, by, &inputs, reason, now),
        Trigger::Timer { key } => timer(def, cal, case, &key, now),
        Trigger::ChildEnded { workflow, outcome } => {
            child_ended(def, cal, case, &workflow, &outcome, now)
        }
        Trigger::Correction {
            by,
            inputs,
            reason,
            fired,
        } => admin::correction(def, cal, case, by, &inputs, reason, &fired, now),
        Trigger::Deadline {
            timer,
            change,
            by,
            reason,
        } => admin::deadline(def, cal, case, &timer, change, by, reason, now),
        Trigger::Close {
            by,
            reason,
            outcome,
        } => admin::close(def, cal, case, by, reason, &outcome, now),
    }
}

pub(crate) fn open_state<'d>(
    def: &'d Definition,
    case: &Case,
) -> Result<(usize, &'d StateDef), Refusal> {
    if let Status::Closed { outcome } = &case.status {
        return Err(Refusal::CaseClosed {
            outcome: outcome.to_string(),
        });
    }
    let si = def
        .state_index(&case.state)
        .ok_or_else(|| Refusal::EventNotAllowed {
            event: String::new(),
            state: case.state.to_string(),
        })?;
    Ok((si, &def.states[si]))
}

#[allow(clippy::too_many_arguments)]
fn event(
    def: &Definition,
    cal: &Calendar,
    case: &Case,
    name: &str,
    by: Actor,
    inputs: &Inputs,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<(Case, Vec<Effect>), Refusal> {
    let (_, state) = open_state(def, case)?;
    let ev = state.event(name).ok_or_else(|| Refusal::EventNotAllowed {
        event: name.to_string(),
        state: case.state.to_string(),
    })?;
    if !by.may(&ev.by) {
        return Err(Refusal::RoleNotAllowed {
            action: format!("send event '{name}'"),
            allowed: ev.by.iter().map(|r| r.to_string()).collect(),
        });
    }
    let typed = typed_inputs(def, &ev.inputs, &ev.optional_inputs, inputs)?;
    if let Some((var, ti)) = &ev.posted {
        posted_in_time(def, case, &typed, var, *ti, civil::civil_date(now))?;
    }
    // Conditions read the case as it was plus the event's inputs; `set` is applied once the
    // event is accepted. The map is copied only when the event changes it.
    let mut variables = case.variables.clone();
    if !typed.is_empty() {
        let vars = Arc::make_mut(&mut variables);
        for (k, v) in &typed {
            vars.insert(k.clone(), v.clone());
        }
    }
    for c in &ev.constraints {
        within_bounds(cal, c, &variables, civil::civil_date(now))?;
    }
    if let Some(cond) = &ev.when {
        guard(cond, &variables)?;
    }
    let target = match &ev.target {
        Target::Stay => None,
        Target::Goto(si) => Some(*si),
        Target::Choose(branches) => Some(
            branches
                .iter()
                .find(|(when, _)| when.as_ref().is_none_or(|c| c.holds(&variables)))
                .map(|(_, si)| *si)
                .ok_or_else(|| Refusal::NoBranch {
                    event: name.to_string(),
                })?,
        ),
    };
    if !ev.set.is_empty() {
        let vars = Arc::make_mut(&mut variables);
        for (k, v) in &ev.set {
            vars.insert(k.clone(), v.clone());
        }
    }
    let from = case.state.clone();
    let mut next = case.clone();
    next.variables = variables;
    let mut tx = Tx::new(def, cal, now, next);
    let effective = ev
        .effective
        .as_ref()
        .and_then(|v| tx.case.variables.get(v))
        .and_then(|v| v.as_date())
        .unwrap_or(tx.today);
    // The workflow's own suspensions and extensions go through the same moves as an
    // actor's decision (`admin.rs`); the event is the decision.
    let who = transition::Decider {
        by: Some(by.id.clone()),
        event: Some(ev.label.as_deref().unwrap_or(&ev.name).to_string()),
        reason: reason.clone(),
    };
    for &ti in &ev.suspend {
        tx.suspend(ti, effective, &who);
    }
    for &ti in &ev.resume {
        tx.resume(ti, effective, &who);
    }
    for &(ti, by) in &ev.extend {
        tx.extend(ti, by, &who);
    }
    tx.complete_tasks(name);
    if let Some(si) = target {
        tx.leave();
        tx.arm_state(si);
    }
    for n in &ev.notify {
        tx.event_notice(n, case);
    }
    if let Some(s) = &ev.start_case {
        tx.start_child(s);
    }
    for t in &ev.tell {
        tx.tell(t);
    }
    if let Some(si) = target {
        tx.announce_state(si);
    }
    Ok(tx.finish(
        Some(by.id),
        Cause::Event {
            name: ev.name.clone(),
        },
        Some(from),
        typed,
        reason,
    ))
}

/// A date input inside the bounds its workflow sets, each counted like a deadline from its
/// `from` date (the day of the event by default). An input not given, or a bound whose date is
/// not known yet, is not checked.
fn within_bounds(
    cal: &Calendar,
    c: &ConstraintDef,
    variables: &Variables,
    today: NaiveDate,
) -> Result<(), Refusal> {
    let Some(value) = variables.get(&c.var).and_then(|v| v.as_date()) else {
        return Ok(());
    };
    let limit = |d: &DelayDef| -> Option<NaiveDate> {
        let from = match &d.from {
            None => today,
            Some(var) => variables.get(var)?.as_date()?,
        };
        d.count(cal, from).ok().map(|dl| dl.due)
    };
    let refuse = |bound: &'static str, limit: NaiveDate| Refusal::DateOutOfRange {
        input: c.var.to_string(),
        value,
        bound,
        limit,
        message_fr: format!(
            "{} (date indiquée : {} ; {} : {}.)",
            c.message,
            crate::calendar::french::long_date(value),
            if bound == "not_before" {
                "au plus tôt le"
            } else {
                "au plus tard le"
            },
            crate::calendar::french::long_date(limit)
        ),
    };
    if let Some(min) = c.not_before.as_ref().and_then(limit)
        && value < min
    {
        return Err(refuse("not_before", min));
    }
    if let Some(max) = c.not_after.as_ref().and_then(limit)
        && value > max
    {
        return Err(refuse("not_after", max));
    }
    Ok(())
}

/// A letter that had to be posted within the period of timer `ti`: its dispatch date is not
/// in the future and, while the period (or its grace) is armed, not after the period's last
/// day. A letter posted on the last day is on time, whenever it arrives.
fn posted_in_time(
    def: &Definition,
    case: &Case,
    typed: &Variables,
    var: &Arc<str>,
    ti: usize,
    today: NaiveDate,
) -> Result<(), Refusal> {
    let Some(posted) = typed.get(var).and_then(|v| v.as_date()) else {
        return Ok(());
    };
    if posted > today {
        return Err(Refusal::InvalidInput {
            input: var.to_string(),
            why: format!("the dispatch date {posted} is after today ({today})"),
        });
    }
    let t = &def.timers[ti];
    let period = case
        .timers
        .iter()
        .find(|a| a.key.timer == t.id && matches!(a.kind, TimerKind::Deadline | TimerKind::Grace));
    match period {
        Some(p) if posted > p.due.due => {
            let what = t.label.as_deref().unwrap_or(&t.id);
            let basis = t
                .legal_basis
                .as_deref()
                .map(|b| format!(" ({b})"))
                .unwrap_or_default();
            Err(Refusal::PostedTooLate {
                input: var.to_string(),
                posted,
                due: p.due.due,
                message_fr: format!(
                    "Le courrier a été posté le {}, après le dernier jour du délai « {what} », \
                     le {}{basis} : il ne peut plus être enregistré.",
                    crate::calendar::french::long_date(posted),
                    crate::calendar::french::long_date(p.due.due)
                ),
            })
        }
        _ => Ok(()),
    }
}

fn timer(
    def: &Definition,
    cal: &Calendar,
    case: &Case,
    key: &TimerKey,
    now: DateTime<Utc>,
) -> Result<(Case, Vec<Effect>), Refusal> {
    let unknown = || Refusal::UnknownTimer {
        key: key.to_string(),
    };
    if case.is_closed() {
        return Err(unknown());
    }
    let at = case
        .timers
        .iter()
        .position(|t| t.key == *key && t.is_armed())
        .ok_or_else(unknown)?;
    let from = case.state.clone();
    let mut tx = Tx::new(def, cal, now, case.clone());
    let fired = tx.case.timers.remove(at);
    let owner = fired.key.timer.clone();
    match fired.kind {
        TimerKind::Reminder { index } => {
            let (reminders, legal_basis) = if let Some(t) = def.timer(&owner) {
                (&t.reminders, t.legal_basis.clone())
            } else if let Some(t) = def.task(&owner) {
                (&t.reminders, t.legal_basis.clone())
            } else {
                return Err(unknown());
            };
            let own = NoticeDeadline {
                of: owner.clone(),
                deadline: fired.due.clone(),
                legal_basis,
            };
            if let Some(r) = reminders.get(index as usize) {
                for n in &r.notify {
                    tx.notice(n, Some(&own));
                }
            }
        }
        TimerKind::Deadline | TimerKind::Recurring { .. } | TimerKind::Grace => {
            let Some(ti) = def.timers.iter().position(|t| t.id == owner) else {
                return Err(unknown());
            };
            let t = &def.timers[ti];
            if let (TimerKind::Deadline, Some(days)) = (fired.kind, t.grace) {
                tx.start_grace(ti, &fired, days);
                return Ok(tx.finish(
                    None,
                    Cause::Timer { key: key.clone() },
                    Some(from),
                    Variables::new(),
                    None,
                ));
            }
            for (k, v) in &t.set {
                Arc::make_mut(&mut tx.case.variables).insert(k.clone(), v.clone());
            }
            let own = NoticeDeadline {
                of: owner.clone(),
                deadline: fired.due.clone(),
                legal_basis: t.legal_basis.clone(),
            };
            match t.goto {
                Some(si) => {
                    tx.leave();
                    tx.arm_state(si);
                }
                None => {
                    if let TimerKind::Recurring { n, base } = fired.kind {
                        tx.rearm_recurring(ti, n, base);
                    }
                }
            }
            for n in &t.notify {
                tx.notice(n, Some(&own));
            }
            if let Some(si) = t.goto {
                tx.announce_state(si);
            }
        }
    }
    Ok(tx.finish(
        None,
        Cause::Timer { key: key.clone() },
        Some(from),
        Variables::new(),
        None,
    ))
}

fn child_ended(
    def: &Definition,
    cal: &Calendar,
    case: &Case,
    workflow: &str,
    outcome: &str,
    now: DateTime<Utc>,
) -> Result<(Case, Vec<Effect>), Refusal> {
    let (_, state) = open_state(def, case)?;
    let si = state
        .on_child
        .iter()
        .find(|(o, _)| o == outcome)
        .map(|(_, si)| *si)
        .ok_or_else(|| Refusal::EventNotAllowed {
            event: format!("child_ended:{outcome}"),
            state: case.state.to_string(),
        })?;
    let from = case.state.clone();
    let mut tx = Tx::new(def, cal, now, case.clone());
    tx.leave();
    tx.arm_state(si);
    tx.announce_state(si);
    Ok(tx.finish(
        None,
        Cause::ChildEnded {
            workflow: workflow.to_string(),
            outcome: outcome.to_string(),
        },
        Some(from),
        Variables::new(),
        None,
    ))
}
