//! The state of one case: a plain value the store keeps as JSON.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::value::Variables;
use crate::calendar::{Deadline, Length};

/// Identifies one arming of a timer: a firing for an older arming is stale.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimerKey {
    /// The timer id (for a reminder: the id of the timer or task it reminds of).
    pub timer: Arc<str>,
    pub seq: u64,
}

impl fmt::Display for TimerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.timer, self.seq)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimerKind {
    /// Fires once the deadline has passed.
    Deadline,
    /// Fires at 08:00 on a date before the due date of a timer or task; sends notices only.
    Reminder { index: u32 },
    /// Occurrence `n` (from 1) of an `every` timer counted from `base`.
    Recurring { n: u32, base: NaiveDate },
    /// A period met by posting a letter has ended; its consequence waits until `fire_at`
    /// for letters posted in time (the timer's `grace`). `due` stays the period's last day.
    Grace,
}

impl TimerKind {
    /// The stable name stored and shown by the API.
    pub fn name(&self) -> &'static str {
        match self {
            TimerKind::Deadline => "deadline",
            TimerKind::Reminder { .. } => "reminder",
            TimerKind::Recurring { .. } => "recurring",
            TimerKind::Grace => "grace",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TimerStatus {
    Armed,
    /// Suspended on `since`, with the budget left then; `extensions` added while suspended
    /// apply at resumption.
    Suspended {
        since: NaiveDate,
        remaining: Option<Length>,
        #[serde(default)]
        extensions: Vec<Length>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArmedTimer {
    pub key: TimerKey,
    pub kind: TimerKind,
    /// The legal deadline (for a reminder: the deadline it reminds of).
    pub due: Arc<Deadline>,
    /// When the scheduler must fire it; meaningless while suspended.
    pub fire_at: DateTime<Utc>,
    pub status: TimerStatus,
    /// Belongs to the current state (cancelled when it leaves) rather than to the case.
    pub of_state: bool,
}

impl ArmedTimer {
    pub fn is_armed(&self) -> bool {
        self.status == TimerStatus::Armed
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTask {
    pub id: Arc<str>,
    pub role: Arc<str>,
    pub title: Arc<str>,
    pub due: Option<Arc<Deadline>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Open,
    Closed { outcome: Arc<str> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub workflow: Arc<str>,
    pub state: Arc<str>,
    /// Shared between successive versions of the case until a transition changes them.
    pub variables: Arc<Variables>,
    pub status: Status,
    pub started_on: NaiveDate,
    /// Civil date (Europe/Brussels) and instant the current state was entered.
    pub entered_on: NaiveDate,
    pub entered_at: DateTime<Utc>,
    /// Armed and suspended timers and reminders, in arming order.
    pub timers: Vec<ArmedTimer>,
    pub tasks: Vec<OpenTask>,
    /// Last arming sequence number handed out.
    pub arming_seq: u64,
    /// Number of transitions applied (the start is 1); part of notice dedupe keys.
    pub transitions: u64,
}

impl Case {
    pub fn is_closed(&self) -> bool {
        matches!(self.status, Status::Closed { .. })
    }

    pub fn outcome(&self) -> Option<&str> {
        match &self.status {
            Status::Closed { outcome } => Some(outcome),
            Status::Open => None,
        }
    }

    /// The armed (not suspended) deadline or recurring timer with this id.
    pub fn timer(&self, id: &str) -> Option<&ArmedTimer> {
        self.timers
            .iter()
            .find(|t| &*t.key.timer == id && !matches!(t.kind, TimerKind::Reminder { .. }))
    }

    pub fn task(&self, id: &str) -> Option<&OpenTask> {
        self.tasks.iter().find(|t| &*t.id == id)
    }

    /// The next armed timer to fire, earliest first (ties by arming order).
    pub fn next_timer(&self) -> Option<&ArmedTimer> {
        self.timers
            .iter()
            .filter(|t| t.is_armed())
            .min_by_key(|t| (t.fire_at, t.key.seq))
    }
}
