//! Moving one open case from an older version of its workflow to a newer one, purely:
//! `(old, new, mapping, case, calendar, now) -> (case, effects)`. The plan of what changes
//! (state, variables, timers armed and cancelled, tasks opened and closed, deadlines
//! recomputed) is the history row's detail, so a dry run shows exactly what a migration
//! writes.
//!
//! Timers of the old version follow the mapping (`keep`, `cancel`, default `rearm`). A timer
//! the new version declares where the case will be is armed when the case held it under
//! `rearm`, or when the old version did not declare it there; one the old version declared
//! there but the case no longer holds has fired (or could not be counted) and stays unarmed.
//! Tasks go the same way: kept when the new version has them in the new state with the same
//! due date, role and title, else closed and opened again; a task the old state declared but
//! the case no longer holds was completed and is not reopened. Deadlines are counted from the
//! date the case entered its state (case timers: the date it started), through the calendar.

pub mod mapping;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::case::{ArmedTimer, Case, TimerKind, TimerStatus};
use super::compiled::{Definition, DelayDef};
use super::effect::{Cause, CloseReason, Detail, Effect};
use super::transition::Tx;
use super::value::Variables;
use crate::calendar::{Calendar, french};
pub use mapping::{Mapping, TimerPolicy};

/// One change a migration makes to a case, in the history row and in the dry run's plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    State {
        from: Arc<str>,
        to: Arc<str>,
    },
    VariableRenamed {
        from: Arc<str>,
        to: Arc<str>,
    },
    VariableDropped {
        name: Arc<str>,
    },
    /// `key` is the timer key as stored (`<id>#<seq>`); `kind` its stored kind.
    TimerKept {
        key: String,
        timer: Arc<str>,
        kind: &'static str,
        due: NaiveDate,
    },
    TimerCancelled {
        key: String,
        timer: Arc<str>,
        kind: &'static str,
        due: NaiveDate,
    },
    /// `previous_due`: the due date of the same timer before the migration (a deadline
    /// recomputed), if it had one.
    TimerArmed {
        key: String,
        timer: Arc<str>,
        kind: &'static str,
        due: NaiveDate,
        fire_at: DateTime<Utc>,
        previous_due: Option<NaiveDate>,
    },
    TaskKept {
        task: Arc<str>,
        due: Option<NaiveDate>,
    },
    TaskClosed {
        task: Arc<str>,
    },
    TaskOpened {
        task: Arc<str>,
        due: Option<NaiveDate>,
        previous_due: Option<NaiveDate>,
    },
}

impl Change {
    /// The sentence of the history (French, for the actors who read it).
    pub fn fr(&self) -> String {
        let date = |d: &NaiveDate| french::long_date(*d);
        match self {
            Change::State { from, to } => format!("état « {from} » devenu « {to} »"),
            Change::VariableRenamed { from, to } => {
                format!("donnée « {from} » renommée « {to} »")
            }
            Change::VariableDropped { name } => format!("donnée « {name} » abandonnée"),
            Change::TimerKept { timer, due, .. } => {
                format!("délai « {timer} » conservé, échéance le {}", date(due))
            }
            Change::TimerCancelled { timer, due, .. } => {
                format!("délai « {timer} » (échéance le {}) annulé", date(due))
            }
            Change::TimerArmed {
                timer,
                kind,
                due,
                previous_due,
                ..
            } => {
                let what = if *kind == "reminder" {
                    "rappel du délai"
                } else {
                    "délai"
                };
                match previous_due {
                    Some(p) if p != due => format!(
                        "{what} « {timer} » recalculé : échéance le {} au lieu du {}",
                        date(due),
                        date(p)
                    ),
                    _ => format!("{what} « {timer} » armé, échéance le {}", date(due)),
                }
            }
            Change::TaskKept { task, .. } => format!("tâche « {task} » conservée"),
            Change::TaskClosed { task } => format!("tâche « {task} » close"),
            Change::TaskOpened {
                task,
                due,
                previous_due,
            } => match (due, previous_due) {
                (Some(d), Some(p)) if d != p => format!(
                    "tâche « {task} » rouverte : échéance le {} au lieu du {}",
                    date(d),
                    date(p)
                ),
                (Some(d), _) => format!("tâche « {task} » ouverte, échéance le {}", date(d)),
                (None, _) => format!("tâche « {task} » ouverte"),
            },
        }
    }

    /// The line the command prints (English, like the other command outputs).
    pub fn en(&self) -> String {
        match self {
            Change::State { from, to } => format!("state {from} -> {to}"),
            Change::VariableRenamed { from, to } => format!("variable {from} renamed {to}"),
            Change::VariableDropped { name } => format!("variable {name} dropped"),
            Change::TimerKept { key, kind, due, .. } => {
                format!("timer {key} ({kind}) kept, due {due}")
            }
            Change::TimerCancelled { key, kind, due, .. } => {
                format!("timer {key} ({kind}) cancelled, was due {due}")
            }
            Change::TimerArmed {
                key,
                kind,
                due,
                previous_due,
                ..
            } => match previous_due {
                Some(p) if p != due => {
                    format!("timer {key} ({kind}) armed, due {due} (recomputed, was {p})")
                }
                _ => format!("timer {key} ({kind}) armed, due {due}"),
            },
            Change::TaskKept { task, due } => match due {
                Some(d) => format!("task {task} kept, due {d}"),
                None => format!("task {task} kept"),
            },
            Change::TaskClosed { task } => format!("task {task} closed"),
            Change::TaskOpened {
                task,
                due,
                previous_due,
            } => match (due, previous_due) {
                (Some(d), Some(p)) if d != p => {
                    format!("task {task} opened, due {d} (recomputed, was {p})")
                }
                (Some(d), _) => format!("task {task} opened, due {d}"),
                (None, _) => format!("task {task} opened"),
            },
        }
    }
}

/// The versions a migration goes between, for its history row.
#[derive(Clone, Copy, Debug)]
pub struct Versions {
    pub from: u32,
    pub to: u32,
}

/// Who migrates, and why: kept in the history row.
#[derive(Clone, Debug, Default)]
pub struct Decision {
    pub actor: Option<String>,
    pub reason: Option<String>,
}

/// The migrated case, the effects that write it, and the plan (the history row's detail).
#[derive(Clone, Debug)]
pub struct Migrated {
    pub case: Case,
    pub effects: Vec<Effect>,
    pub plan: Vec<Detail>,
}

/// Moves `case` (of `old`) to `new` as `mapping` says. The mapping has passed
/// [`mapping::check`] for these two versions; a case it cannot place (closed, or in a state
/// or with a variable the check did not see) is an error and nothing changes.
#[allow(clippy::too_many_arguments)]
pub fn migrate(
    old: &Definition,
    new: &Definition,
    mapping: &Mapping,
    versions: Versions,
    cal: &Calendar,
    case: &Case,
    now: DateTime<Utc>,
    decision: Decision,
) -> Result<Migrated, String> {
    if case.is_closed() {
        return Err("the case is closed".into());
    }
    let old_si = old
        .state_index(&case.state)
        .ok_or_else(|| format!("the state `{}` is not in the old version", case.state))?;
    let to = mapping.state(&case.state);
    let new_si = new
        .state_index(to)
        .ok_or_else(|| format!("the state `{to}` is not in the new version"))?;
    let mut changes = Vec::new();
    let mut next = case.clone();
    next.state = new.states[new_si].id.clone();
    if *next.state != *case.state {
        changes.push(Change::State {
            from: case.state.clone(),
            to: next.state.clone(),
        });
    }
    next.variables = Arc::new(variables(new, mapping, &case.variables, &mut changes)?);
    let mut tx = Tx::new(new, cal, now, next);
    let mut arm = Vec::new();
    move_timers(old, new, mapping, new_si, &mut tx, &mut arm, &mut changes);
    // The new version's timers where the case will be that it did not hold and the old
    // version did not declare there: new deadlines.
    let old_state_timers = &old.states[old_si].timers;
    let declared_before = |id: &str, of_state: bool| {
        let place = if of_state {
            old_state_timers
        } else {
            &old.case_timers
        };
        place.iter().any(|&ti| *old.timers[ti].id == *id)
    };
    for (&ti, of_state) in new.states[new_si]
        .timers
        .iter()
        .map(|ti| (ti, true))
        .chain(new.case_timers.iter().map(|ti| (ti, false)))
    {
        let id = &new.timers[ti].id;
        let held = case
            .timers
            .iter()
            .any(|t| t.key.timer == *id && !is_reminder(t));
        if !held && !declared_before(id, of_state) && !arm.iter().any(|&(a, _)| a == ti) {
            let from = if of_state {
                case.entered_on
            } else {
                case.started_on
            };
            arm.push((ti, from));
        }
    }
    for (ti, from) in arm {
        tx.arm_timer(ti, from);
    }
    move_tasks(old, new, old_si, new_si, case, &mut tx, &mut changes);
    changes.extend(effect_changes(case, &tx.effects));
    let mut plan: Vec<Detail> = changes
        .into_iter()
        .map(|change| Detail::Migrated { change })
        .collect();
    plan.append(&mut tx.detail);
    tx.detail = plan.clone();
    let (case_after, effects) = tx.finish(
        decision.actor,
        Cause::Migration {
            from_version: versions.from,
            to_version: versions.to,
        },
        Some(case.state.clone()),
        Variables::new(),
        decision.reason,
    );
    Ok(Migrated {
        case: case_after,
        effects,
        plan,
    })
}

fn is_reminder(t: &ArmedTimer) -> bool {
    matches!(t.kind, TimerKind::Reminder { .. })
}

/// The case's values under their new names (the new version's shared names), without the
/// dropped ones.
fn variables(
    new: &Definition,
    mapping: &Mapping,
    before: &Variables,
    changes: &mut Vec<Change>,
) -> Result<Variables, String> {
    let mut out = Variables::new();
    for (name, value) in before {
        let Some(to) = mapping.variable(name) else {
            changes.push(Change::VariableDropped { name: name.clone() });
            continue;
        };
        let (shared, _) = new
            .var(to)
            .ok_or_else(|| format!("the variable `{name}` has no place in the new version"))?;
        if **shared != **name {
            changes.push(Change::VariableRenamed {
                from: name.clone(),
                to: shared.clone(),
            });
        }
        out.insert(shared.clone(), value.clone());
    }
    Ok(out)
}

/// The timers the case holds, as the mapping says: kept, cancelled, or cancelled to be armed
/// again (pushed on `arm` with the date it counts from: the case's start for a case timer, the
/// state's entry for a timer of the state, and for a persistent timer of an earlier state the
/// date its arming counted from). A suspended timer, or one
/// waiting for letters in the post (grace), is never counted again from the start of its
/// period: it is kept when the new version has it where the case will be, else cancelled.
fn move_timers(
    old: &Definition,
    new: &Definition,
    mapping: &Mapping,
    new_si: usize,
    tx: &mut Tx<'_>,
    arm: &mut Vec<(usize, NaiveDate)>,
    changes: &mut Vec<Change>,
) {
    let held: Vec<ArmedTimer> = tx.case.timers.clone();
    let mut kept: Vec<ArmedTimer> = Vec::new();
    // Where the new version puts a timer id: in the new state (true), the case (false).
    let home = |id: &str| -> Option<(usize, bool)> {
        let ti = new.timers.iter().position(|t| *t.id == *id)?;
        match new.timers[ti].state {
            None => Some((ti, false)),
            Some(si) if si == new_si => Some((ti, true)),
            Some(_) => None,
        }
    };
    for t in held.iter().filter(|t| !is_reminder(t)) {
        let id = &t.key.timer;
        let place = home(id);
        let in_flight = !matches!(t.status, TimerStatus::Armed) || t.kind == TimerKind::Grace;
        let policy = if in_flight {
            if place.is_some() {
                TimerPolicy::Keep
            } else {
                TimerPolicy::Cancel
            }
        } else if old.timer(id).is_none() {
            TimerPolicy::Cancel
        } else {
            mapping.timer(id)
        };
        match (policy, place) {
            (TimerPolicy::Keep, Some((_, of_state))) => {
                let mut t = t.clone();
                t.of_state = of_state;
                changes.push(Change::TimerKept {
                    key: t.key.to_string(),
                    timer: t.key.timer.clone(),
                    kind: t.kind.name(),
                    due: t.due.due,
                });
                kept.push(t);
            }
            (TimerPolicy::Rearm, Some((ti, _))) => {
                let from = if new.case_timers.contains(&ti) {
                    tx.case.started_on
                } else if new.states[new_si].timers.contains(&ti) {
                    tx.case.entered_on
                } else {
                    match t.kind {
                        TimerKind::Recurring { base, .. } => base,
                        _ => t.due.from,
                    }
                };
                arm.push((ti, from));
            }
            _ => {}
        }
    }
    // Reminders go with the timer they remind of; those of tasks are left to `move_tasks`
    // (timer and task ids share one namespace).
    let mut timers = Vec::with_capacity(held.len());
    for t in held {
        if is_reminder(&t) {
            let of_task = old.task(&t.key.timer).is_some();
            if of_task || kept.iter().any(|k| k.key.timer == t.key.timer) {
                timers.push(t);
            } else {
                cancel(tx, &t, changes);
            }
        } else if let Some(k) = kept.iter().find(|k| k.key == t.key) {
            timers.push(k.clone());
        } else {
            cancel(tx, &t, changes);
        }
    }
    tx.case.timers = timers;
}

/// Drops a timer of the case. An armed one is cancelled by an effect (its change is read from
/// the effects); a suspended one has no armed row left (it was cancelled when suspended), so
/// only the plan says it is gone.
fn cancel(tx: &mut Tx<'_>, t: &ArmedTimer, changes: &mut Vec<Change>) {
    if t.is_armed() {
        tx.effects.push(Effect::CancelTimer { key: t.key.clone() });
    } else {
        changes.push(Change::TimerCancelled {
            key: t.key.to_string(),
            timer: t.key.timer.clone(),
            kind: t.kind.name(),
            due: t.due.due,
        });
    }
}

/// The open tasks of the case against the tasks of its new state, and the new state's tasks
/// the old state did not have.
fn move_tasks(
    old: &Definition,
    new: &Definition,
    old_si: usize,
    new_si: usize,
    case: &Case,
    tx: &mut Tx<'_>,
    changes: &mut Vec<Change>,
) {
    for open in tx.case.tasks.clone() {
        let Some(at) = tx.case.tasks.iter().position(|t| t.id == open.id) else {
            continue;
        };
        let Some(ki) = new.states[new_si]
            .tasks
            .iter()
            .copied()
            .find(|&ki| new.tasks[ki].id == open.id)
        else {
            tx.close_task(at, CloseReason::Migrated);
            continue;
        };
        let def = &new.tasks[ki];
        let due = def.due.as_ref().and_then(|d| count(d, tx, case.entered_on));
        let same = due.as_ref().map(|d| d.due) == open.due.as_ref().map(|d| d.due)
            && def.role == open.role
            && def.title == open.title;
        if same {
            changes.push(Change::TaskKept {
                task: open.id.clone(),
                due: open.due.as_ref().map(|d| d.due),
            });
        } else {
            tx.close_task(at, CloseReason::Migrated);
            tx.open_task(ki, case.entered_on);
        }
    }
    let old_state = &old.states[old_si];
    for &ki in &new.states[new_si].tasks {
        let id = &new.tasks[ki].id;
        let held = case.tasks.iter().any(|t| t.id == *id);
        let declared_before = old_state.tasks.iter().any(|&k| old.tasks[k].id == *id);
        if !held && !declared_before {
            tx.open_task(ki, case.entered_on);
        }
    }
}

/// A delay counted as the machine counts it: from its `from` variable, else `default_from`.
fn count(d: &DelayDef, tx: &Tx<'_>, default_from: NaiveDate) -> Option<crate::calendar::Deadline> {
    let from = match &d.from {
        None => default_from,
        Some(var) => tx.case.variables.get(var)?.as_date()?,
    };
    d.count(tx.cal, from).ok()
}

/// The timers armed and cancelled and the tasks opened and closed, read from the effects, each
/// with the due date the case had before for the same timer or task.
fn effect_changes(before: &Case, effects: &[Effect]) -> Vec<Change> {
    let previous_timer = |id: &str, kind: &TimerKind| {
        before
            .timers
            .iter()
            .find(|t| *t.key.timer == *id && t.kind.name() == kind.name())
            .map(|t| t.due.due)
    };
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ArmTimer {
                key,
                timer_id,
                kind,
                deadline,
                fire_at,
                ..
            } => Some(Change::TimerArmed {
                key: key.to_string(),
                timer: timer_id.clone(),
                kind: kind.name(),
                due: deadline.due,
                fire_at: *fire_at,
                previous_due: previous_timer(timer_id, kind),
            }),
            Effect::CancelTimer { key } => {
                let t = before.timers.iter().find(|t| t.key == *key)?;
                Some(Change::TimerCancelled {
                    key: key.to_string(),
                    timer: key.timer.clone(),
                    kind: t.kind.name(),
                    due: t.due.due,
                })
            }
            Effect::OpenTask { task_id, due, .. } => Some(Change::TaskOpened {
                task: task_id.clone(),
                due: due.as_ref().map(|d| d.due),
                previous_due: before
                    .task(task_id)
                    .and_then(|t| t.due.as_ref())
                    .map(|d| d.due),
            }),
            Effect::CloseTask { task_id, .. } => Some(Change::TaskClosed {
                task: task_id.clone(),
            }),
            _ => None,
        })
        .collect()
}
