//! When operators see a case as stuck: it stayed in its state past the state's `stuck_after`.

use chrono::{DateTime, Utc};

use super::case::Case;
use super::compiled::Definition;
use crate::calendar::{Calendar, Deadline};

/// The idle limit of the case's current state, counted like a deadline (Art. 22) from the day
/// the case entered the state, or from the date variable the delay names. The case is stuck
/// from `limit.expires_at()` on (midnight after the due date, Brussels). `None` when the case
/// is closed, its state has no `stuck_after`, or the limit cannot be counted (its date
/// variable is unset).
pub fn stuck_limit(def: &Definition, cal: &Calendar, case: &Case) -> Option<Deadline> {
    if case.is_closed() {
        return None;
    }
    let delay = def.state(&case.state)?.stuck_after.as_ref()?;
    let from = match &delay.from {
        None => case.entered_on,
        Some(var) => case.variables.get(var)?.as_date()?,
    };
    delay.count(cal, from).ok()
}

/// Whether the case is stuck at `now` (see [`stuck_limit`]).
pub fn stuck_at(def: &Definition, cal: &Calendar, case: &Case, now: DateTime<Utc>) -> bool {
    stuck_limit(def, cal, case).is_some_and(|limit| now >= limit.expires_at())
}
