//! Changes of a running case by decision: corrections of recorded values, a deadline's
//! extension, suspension and resumption, closing. Each needs a role the workflow's
//! `administration` allows (by default `admin`; closing `operator` or `admin`), a reason
//! (optional for a resumption), and is one transition in the case's history; each answers the
//! case as `POST /cases/{id}/events` does.

use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;
use engine::calendar::{Length, Unit};
use engine::machine::DeadlineChange;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::Authed;
use super::body::{Body, Path, unique_inputs, whole_number};
use super::cases::readable;
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::views::CaseView;
use crate::server::AppState;
use store::case_changes::{CaseChange, ChangeRequest};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    /// The corrected values: variable → value, typed as the workflow declares them; a key
    /// given twice is refused (422 `invalid_body`).
    #[serde(deserialize_with = "unique_inputs")]
    #[schema(value_type = Object)]
    pub inputs: engine::machine::Inputs,
    /// Why (kept in the history with the old and new values); required.
    pub reason: Option<String>,
    /// Refuse with 409 `stale_version` unless the case is still at this `row_version`.
    #[serde(default, deserialize_with = "whole_number")]
    pub expected_version: Option<i64>,
}

/// A length in one unit, as the legal text states it: exactly one key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LengthBody {
    #[schema(minimum = 1, maximum = 5000)]
    pub working_days: Option<u32>,
    #[schema(minimum = 1, maximum = 10000)]
    pub calendar_days: Option<u32>,
    #[schema(minimum = 1, maximum = 600)]
    pub months: Option<u32>,
    #[schema(minimum = 1, maximum = 50)]
    pub years: Option<u32>,
}

impl LengthBody {
    fn length(&self) -> Result<Length, ApiError> {
        let given: Vec<Length> = [
            (self.working_days, Unit::WorkingDays),
            (self.calendar_days, Unit::CalendarDays),
            (self.months, Unit::Months),
            (self.years, Unit::Years),
        ]
        .into_iter()
        .filter_map(|(n, unit)| n.map(|n| Length::new(n, unit)))
        .collect();
        match given.as_slice() {
            [one] => Ok(*one),
            _ => Err(ApiError::new(
                ErrorCode::InvalidBody,
                "give the length in exactly one unit: working_days, calendar_days, months or years",
            )),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// Added to the deadline from the end of its period, through the calendar (Art. 22).
    pub length: LengthBody,
    /// Why (kept in the history and in the deadline's explanation); required.
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "whole_number")]
    pub expected_version: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Suspension {
    /// The first day the deadline stops running (today at the latest).
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// Why; required.
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "whole_number")]
    pub expected_version: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resumption {
    /// The day the remaining length runs again from (today at the latest).
    #[schema(value_type = String, format = Date)]
    pub on: NaiveDate,
    /// Why (optional: the suspension gave one).
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "whole_number")]
    pub expected_version: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Closing {
    /// Why; required.
    pub reason: Option<String>,
    /// The outcome the case closes with (1 to 100 characters).
    pub outcome: String,
    #[serde(default, deserialize_with = "whole_number")]
    pub expected_version: Option<i64>,
}

/// Runs one change after the read check (an actor who may not read the case learns nothing
/// of it), then answers the case as it now is.
async fn change(
    state: AppState,
    who: Authed,
    id: String,
    change: CaseChange,
    reason: Option<String>,
    expected_version: Option<i64>,
) -> Result<Json<CaseView>, ApiError> {
    let row = state.store.case_row(&id).await?;
    readable(&state, &who.0, &row).await?;
    let now = state.clock.now();
    let by = who.0.engine();
    let row = state
        .store
        .change_case(
            ChangeRequest {
                case_id: &id,
                by: &by,
                change,
                reason,
                expected_version,
            },
            now,
        )
        .await?;
    Ok(Json(state.store.case_view(&row, now).await?.into()))
}

/// Correct recorded values of a case.
///
/// The deadlines, task due dates and reminders counted from a corrected date are counted
/// again; the history row keeps the old and new values, who and why. Refused (nothing
/// changed) without a reason (422 `missing_reason`), for an unknown or wrongly typed
/// variable, a stale version, or when a deadline that already expired would end later than
/// now (409 `timer_already_fired`).
#[utoipa::path(post, path = "/cases/{id}/corrections",
    params(("id" = String, Path, description = "the case")), request_body = Correction,
    tag = "cases",
    responses(
        (status = 200, body = CaseView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn correct(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    Body(req): Body<Correction>,
) -> Result<Json<CaseView>, ApiError> {
    let change_ = CaseChange::Correction { inputs: req.inputs };
    change(state, who, id, change_, req.reason, req.expected_version).await
}

/// Extend a deadline of a case.
///
/// The new due date is the old end plus the length, through the calendar; the deadline's
/// task and reminders move with it, and its explanation says who extended it, when and why.
#[utoipa::path(post, path = "/cases/{id}/deadlines/{timer}/extension",
    params(("id" = String, Path, description = "the case"),
        ("timer" = String, Path, description = "the timer's id in the workflow")),
    request_body = Extension, tag = "cases",
    responses(
        (status = 200, body = CaseView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn extend(
    State(state): State<AppState>,
    who: Authed,
    Path((id, timer)): Path<(String, String)>,
    Body(req): Body<Extension>,
) -> Result<Json<CaseView>, ApiError> {
    let length = req.length.length()?;
    let change_ = CaseChange::Deadline {
        timer,
        change: DeadlineChange::Extend(length),
    };
    change(state, who, id, change_, req.reason, req.expected_version).await
}

/// Suspend a deadline of a case.
///
/// It stops as of `from` and keeps the length it had left, in its own unit; its task has no
/// due date and its reminders wait until it resumes.
#[utoipa::path(post, path = "/cases/{id}/deadlines/{timer}/suspension",
    params(("id" = String, Path, description = "the case"),
        ("timer" = String, Path, description = "the timer's id in the workflow")),
    request_body = Suspension, tag = "cases",
    responses(
        (status = 200, body = CaseView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn suspend(
    State(state): State<AppState>,
    who: Authed,
    Path((id, timer)): Path<(String, String)>,
    Body(req): Body<Suspension>,
) -> Result<Json<CaseView>, ApiError> {
    let change_ = CaseChange::Deadline {
        timer,
        change: DeadlineChange::Suspend { from: req.from },
    };
    change(state, who, id, change_, req.reason, req.expected_version).await
}

/// Resume a suspended deadline of a case.
///
/// The length it had left runs again from `on`, through the calendar; its task and
/// reminders follow.
#[utoipa::path(post, path = "/cases/{id}/deadlines/{timer}/resumption",
    params(("id" = String, Path, description = "the case"),
        ("timer" = String, Path, description = "the timer's id in the workflow")),
    request_body = Resumption, tag = "cases",
    responses(
        (status = 200, body = CaseView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn resume(
    State(state): State<AppState>,
    who: Authed,
    Path((id, timer)): Path<(String, String)>,
    Body(req): Body<Resumption>,
) -> Result<Json<CaseView>, ApiError> {
    let change_ = CaseChange::Deadline {
        timer,
        change: DeadlineChange::Resume { on: req.on },
    };
    change(state, who, id, change_, req.reason, req.expected_version).await
}

/// Close a case before a final state.
///
/// Its timers are cancelled and its tasks closed; its state, values and history stay. A
/// parent case is told as for any ended child.
#[utoipa::path(post, path = "/cases/{id}/closing",
    params(("id" = String, Path, description = "the case")), request_body = Closing,
    tag = "cases",
    responses(
        (status = 200, body = CaseView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn close(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    Body(req): Body<Closing>,
) -> Result<Json<CaseView>, ApiError> {
    let change_ = CaseChange::Close {
        outcome: req.outcome,
    };
    change(state, who, id, change_, req.reason, req.expected_version).await
}
