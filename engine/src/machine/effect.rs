//! What a transition asks the world to do. The store applies effects in one transaction.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::case::{TimerKey, TimerKind};
use super::value::Variables;
use crate::calendar::Deadline;

/// The deadline a notice announces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NoticeDeadline {
    /// The timer or task id.
    pub of: Arc<str>,
    pub deadline: Arc<Deadline>,
    pub legal_basis: Option<Arc<str>>,
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
    SendNotice {
        template: Arc<str>,
        to_roles: Vec<Arc<str>>,
        to_emails: Vec<String>,
        deadline: Option<NoticeDeadline>,
        /// `<transition number>.<index>`: the same transition never sends a notice twice.
        dedupe_key: String,
    },
    StartChild {
        workflow: Arc<str>,
        variables: Variables,
    },
    History(History),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct History {
    pub at: DateTime<Utc>,
    /// The actor's id; `None` for timers and child cases.
    pub actor: Option<String>,
    /// "start", "event introduire_reclamation", "timer delai#3", "child recours ended: ok".
    pub trigger: String,
    pub from_state: Option<Arc<str>>,
    pub to_state: Arc<str>,
    pub inputs: Variables,
    pub reason: Option<String>,
    /// French lines on what else happened (timers suspended, resumed, extended, not armed).
    pub detail: Vec<String>,
}
