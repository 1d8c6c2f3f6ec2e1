//! What a transition asks the world to do. The store applies effects in one transaction.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::case::{TimerKey, TimerKind};
use super::value::Variables;
use crate::calendar::{Deadline, Length, french};

/// The deadline a notice announces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NoticeDeadline {
    /// The timer or task id.
    pub of: Arc<str>,
    pub deadline: Arc<Deadline>,
    pub legal_basis: Option<Arc<str>>,
}

/// `<transition number>.<index>`: the same transition never sends a notice twice, and replaying
/// it gives the same keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DedupeKey {
    pub transition: u64,
    pub index: u32,
}

impl fmt::Display for DedupeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.transition, self.index)
    }
}

impl Serialize for DedupeKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What caused a transition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    Start,
    Event {
        name: Arc<str>,
    },
    Timer {
        key: TimerKey,
    },
    ChildEnded {
        workflow: String,
        outcome: String,
    },
    /// The case moved to a newer version of its workflow (`jalon cases migrate`).
    Migration {
        from_version: u32,
        to_version: u32,
    },
    /// A document was attached to the case (the store records it; the machine never runs).
    Document {
        id: Arc<str>,
    },
    /// Recorded values of the case corrected (`administration.corrections`).
    Correction,
    /// A deadline extended, suspended or resumed by decision (`administration.deadlines`);
    /// `change` is `extension`, `suspension` or `resumption`.
    Deadline {
        timer: Arc<str>,
        change: &'static str,
    },
    /// The case closed by decision before a final state (`administration.closing`).
    Closing {
        outcome: Arc<str>,
    },
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Start => f.write_str("start"),
            Cause::Event { name } => write!(f, "event {name}"),
            Cause::Timer { key } => write!(f, "timer {key}"),
            Cause::ChildEnded { workflow, outcome } => {
                write!(f, "child {workflow} ended: {outcome}")
            }
            Cause::Migration {
                from_version,
                to_version,
            } => write!(f, "migration v{from_version} -> v{to_version}"),
            Cause::Correction => f.write_str("correction"),
            Cause::Deadline { timer, change } => write!(f, "deadline {timer} {change}"),
            Cause::Closing { outcome } => write!(f, "closing: {outcome}"),
            Cause::Document { id } => write!(f, "document {id}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// An event listed in `closes_on` happened.
    Completed,
    /// The case left the task's state.
    StateLeft,
    /// The case reached a final state.
    CaseClosed,
    /// The case moved to a version of its workflow whose state has no such task, or a
    /// different due date for it (then opened again).
    Migrated,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    ArmTimer {
        key: TimerKey,
        timer_id: Arc<str>,
        kind: TimerKind,
        deadline: Arc<Deadline>,
        fire_at: DateTime<Utc>,
        legal_basis: Option<Arc<str>>,
        label: Option<Arc<str>>,
    },
    CancelTimer {
        key: TimerKey,
    },
    OpenTask {
        task_id: Arc<str>,
        role: Arc<str>,
        title: Arc<str>,
        instructions: Option<Arc<str>>,
        due: Option<Arc<Deadline>>,
        legal_basis: Option<Arc<str>>,
    },
    CloseTask {
        task_id: Arc<str>,
        reason: CloseReason,
    },
    /// An open task's due date moved with the deadline it shares, or was counted again
    /// after a correction; `None` while that deadline is suspended.
    MoveTask {
        task_id: Arc<str>,
        due: Option<Arc<Deadline>>,
    },
    SendNotice {
        template: Arc<str>,
        to_roles: Vec<Arc<str>>,
        to_emails: Vec<Arc<str>>,
        deadline: Option<NoticeDeadline>,
        dedupe_key: DedupeKey,
    },
    StartChild {
        workflow: Arc<str>,
        variables: Variables,
    },
    /// Send `event` with these inputs to the open linked cases of `workflow` (parent,
    /// children, same business key).
    Tell {
        workflow: Arc<str>,
        event: Arc<str>,
        inputs: Variables,
    },
    /// Boxed: the largest variant, one per transition, would otherwise size every effect.
    History(Box<History>),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct History {
    pub at: DateTime<Utc>,
    /// The actor's id; `None` for timers and child cases.
    pub actor: Option<String>,
    /// Displayed as "start", "event introduire_reclamation", "timer delai#3",
    /// "child recours ended: ok".
    pub trigger: Cause,
    pub from_state: Option<Arc<str>>,
    pub to_state: Arc<str>,
    pub inputs: Variables,
    pub reason: Option<String>,
    /// What else happened (timers suspended, resumed, extended, not armed); `fr()` says it.
    pub detail: Vec<Detail>,
}

/// A noteworthy change in a transition, kept structured; the French sentence is derived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Detail {
    /// `name` is the timer's label (or id), or the task's title.
    NotCounted {
        name: Arc<str>,
        task: bool,
        why: String,
    },
    Suspended {
        timer: Arc<str>,
        remaining: Option<Length>,
    },
    Resumed {
        timer: Arc<str>,
        due: NaiveDate,
    },
    /// `due` is `None` when the timer is suspended: the extension applies at resumption.
    Extended {
        timer: Arc<str>,
        by: Length,
        due: Option<NaiveDate>,
    },
    Failed {
        timer: Arc<str>,
        resume: bool,
        why: String,
    },
    /// A recorded value replaced by a correction (`old` is `None` when it had none).
    Corrected {
        variable: Arc<str>,
        old: Option<serde_json::Value>,
        new: serde_json::Value,
    },
    /// A deadline (of a timer, or of a task when `task`) counted again after a correction.
    Recounted {
        name: Arc<str>,
        task: bool,
        from: Option<NaiveDate>,
        to: NaiveDate,
    },
    /// The case closed by decision on `on`, with `outcome`.
    Closed {
        outcome: Arc<str>,
        on: NaiveDate,
    },
    /// A period met by posting has ended on `due`; its consequence waits until the end of
    /// `until` for letters posted in time.
    Grace {
        timer: Arc<str>,
        due: NaiveDate,
        until: NaiveDate,
    },
    /// One change of a migration to a newer version of the workflow.
    Migrated {
        change: super::migrate::Change,
    },
}

impl Detail {
    /// The sentence shown in history and in the simulation timeline.
    pub fn fr(&self) -> String {
        match self {
            Detail::NotCounted {
                name,
                task: false,
                why,
            } => {
                format!("délai « {name} » non armé : {why}")
            }
            Detail::NotCounted {
                name,
                task: true,
                why,
            } => {
                format!("échéance de la tâche « {name} » non calculée : {why}")
            }
            Detail::Suspended { timer, remaining } => match remaining {
                Some(l) => format!(
                    "délai « {timer} » suspendu, {} restants",
                    french::length(*l)
                ),
                None => format!("délai « {timer} » suspendu, aucun jour restant"),
            },
            Detail::Resumed { timer, due } => format!(
                "délai « {timer} » repris, échéance le {}",
                french::long_date(*due)
            ),
            Detail::Extended {
                timer,
                by,
                due: None,
            } => format!(
                "délai « {timer} » (suspendu) prolongé de {}",
                french::length(*by)
            ),
            Detail::Extended {
                timer,
                by,
                due: Some(due),
            } => format!(
                "délai « {timer} » prolongé de {}, échéance le {}",
                french::length(*by),
                french::long_date(*due)
            ),
            Detail::Failed { timer, resume, why } => format!(
                "{} du délai « {timer} » impossible : {why}",
                if *resume { "reprise" } else { "prolongation" }
            ),
            Detail::Corrected { variable, old, new } => format!(
                "« {variable} » corrigé : {} → {}",
                old.as_ref().map_or("(vide)".to_string(), shown),
                shown(new)
            ),
            Detail::Recounted {
                name,
                task,
                from,
                to,
            } => format!(
                "{} « {name} » recompté : échéance le {}{}",
                if *task {
                    "échéance de la tâche"
                } else {
                    "délai"
                },
                french::long_date(*to),
                from.map(|f| format!(" (au lieu du {})", french::long_date(f)))
                    .unwrap_or_default()
            ),
            Detail::Closed { outcome, on } => super::admin::closed_fr(outcome, *on),
            Detail::Grace { timer, due, until } => format!(
                "délai « {timer} » écoulé le {} ; un courrier posté au plus tard ce jour-là est \
                 encore attendu jusqu'au {} avant que l'échéance produise ses effets",
                french::long_date(*due),
                french::long_date(*until)
            ),
            Detail::Migrated { change } => change.fr(),
        }
    }
}

/// A value as history shows it: text without its quotes.
fn shown(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fr())
    }
}
