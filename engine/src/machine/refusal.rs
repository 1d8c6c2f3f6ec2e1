//! Why a trigger was refused. A refusal changes nothing; its code is stable (API, scenarios).

use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Refusal {
    CaseClosed {
        outcome: String,
    },
    EventNotAllowed {
        event: String,
        state: String,
    },
    RoleNotAllowed {
        action: String,
        allowed: Vec<String>,
    },
    MissingInput {
        input: String,
    },
    InvalidInput {
        input: String,
        why: String,
    },
    UnknownInput {
        input: String,
    },
    GuardFailed {
        variable: String,
        why: String,
    },
    NoBranch {
        event: String,
    },
    UnknownTimer {
        key: String,
    },
    /// A date input is before its earliest or after its latest allowed day.
    DateOutOfRange {
        input: String,
        value: NaiveDate,
        /// `not_before` or `not_after`.
        bound: &'static str,
        limit: NaiveDate,
        /// The workflow's reason, in French, for the actor.
        message_fr: String,
    },
    /// A change of a running case (correction, deadline, closing) given with no reason.
    MissingReason {
        action: String,
    },
    /// The deadline is not running: it is not armed in the case, or it is suspended.
    TimerNotArmed {
        timer: String,
    },
    /// A resumption for a deadline that is not suspended.
    TimerNotSuspended {
        timer: String,
    },
    /// A correction would move the end of a deadline that already expired (and had its
    /// effect) to a day still to come: the way out is a migration or a closing.
    TimerAlreadyFired {
        timer: String,
        variable: String,
        /// The due date the corrected value gives.
        corrected_due: NaiveDate,
    },
    /// A letter that had to be posted within a period was posted after its last day.
    PostedTooLate {
        input: String,
        posted: NaiveDate,
        due: NaiveDate,
        /// The reason in French, for the actor.
        message_fr: String,
    },
}

impl Refusal {
    /// The stable code, also the API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::CaseClosed { .. } => "case_closed",
            Refusal::EventNotAllowed { .. } => "event_not_allowed",
            Refusal::RoleNotAllowed { .. } => "role_not_allowed",
            Refusal::MissingInput { .. } => "missing_input",
            Refusal::InvalidInput { .. } => "invalid_input",
            Refusal::UnknownInput { .. } => "unknown_input",
            Refusal::GuardFailed { .. } => "guard_failed",
            Refusal::NoBranch { .. } => "no_branch",
            Refusal::UnknownTimer { .. } => "unknown_timer",
            Refusal::PostedTooLate { .. } => "posted_too_late",
            Refusal::MissingReason { .. } => "missing_reason",
            Refusal::TimerNotArmed { .. } => "timer_not_armed",
            Refusal::TimerNotSuspended { .. } => "timer_not_suspended",
            Refusal::TimerAlreadyFired { .. } => "timer_already_fired",
            Refusal::DateOutOfRange { .. } => "date_out_of_range",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::CaseClosed { outcome } => {
                write!(f, "the case is closed (outcome: {outcome})")
            }
            Refusal::EventNotAllowed { event, state } => {
                write!(f, "event '{event}' is not accepted in state '{state}'")
            }
            Refusal::RoleNotAllowed { action, allowed } => write!(
                f,
                "none of the actor's roles may {action}; allowed roles: {}",
                allowed.join(", ")
            ),
            Refusal::MissingInput { input } => write!(f, "input '{input}' is required"),
            Refusal::InvalidInput { input, why } => write!(f, "input '{input}': {why}"),
            Refusal::UnknownInput { input } => {
                write!(f, "input '{input}' is not accepted here")
            }
            Refusal::GuardFailed { variable, why } => {
                write!(f, "condition not met: variable '{variable}' {why}")
            }
            Refusal::NoBranch { event } => {
                write!(
                    f,
                    "no branch of event '{event}' holds for the case's variables"
                )
            }
            Refusal::UnknownTimer { key } => write!(f, "timer {key} is not armed"),
            Refusal::MissingReason { action } => {
                write!(f, "a reason is required to {action}")
            }
            Refusal::TimerNotArmed { timer } => {
                write!(f, "the deadline '{timer}' is not running in this case")
            }
            Refusal::TimerNotSuspended { timer } => {
                write!(f, "the deadline '{timer}' is not suspended")
            }
            Refusal::TimerAlreadyFired {
                timer,
                variable,
                corrected_due,
            } => write!(
                f,
                "the deadline '{timer}' already expired and had its effect; with the corrected \
                 '{variable}' it would end on {corrected_due}, still to come: migrate or close \
                 the case instead"
            ),
            Refusal::DateOutOfRange {
                input,
                value,
                bound,
                limit,
                ..
            } => {
                let side = if *bound == "not_before" {
                    "before"
                } else {
                    "after"
                };
                write!(f, "input '{input}': {value} is {side} the limit {limit}")
            }
            Refusal::PostedTooLate {
                input, posted, due, ..
            } => write!(
                f,
                "input '{input}': the letter was posted on {posted}, after the last day of its period ({due})"
            ),
        }
    }
}

impl std::error::Error for Refusal {}
