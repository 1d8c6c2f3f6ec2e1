//! What operators watch: the stuck cases, each with its reason, a page at a time, and their
//! counts per reason (`store::stuck`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Authed;
use super::body::{Params, page};
use super::error::{ApiError, ErrorBody};
use super::views::StuckCase;
use crate::server::AppState;
use store::stuck::{Reason, StuckFilter};

/// A timer this late after its due instant counts as not fired.
pub(crate) const TIMER_GRACE_MINUTES: i64 = 5;

/// Why a case is on the list (the `reason` of its rows).
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StuckReason {
    TaskOverdue,
    TimerNotFired,
    NoticeFailing,
    NothingPending,
    IdleTooLong,
    ScheduleFailing,
}

impl From<StuckReason> for Reason {
    fn from(r: StuckReason) -> Self {
        match r {
            StuckReason::TaskOverdue => Reason::TaskOverdue,
            StuckReason::TimerNotFired => Reason::TimerNotFired,
            StuckReason::NoticeFailing => Reason::NoticeFailing,
            StuckReason::NothingPending => Reason::NothingPending,
            StuckReason::IdleTooLong => Reason::IdleTooLong,
            StuckReason::ScheduleFailing => Reason::ScheduleFailing,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StuckQuery {
    /// Only this reason (an unknown one is 422 `invalid_query`).
    #[param(inline)]
    pub reason: Option<StuckReason>,
    /// Only this workflow (id).
    pub workflow: Option<String>,
    /// Only business keys containing this, whatever the case of (ASCII) letters.
    pub key: Option<String>,
    /// At most this many (default 100), longest stuck first.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Skip this many first (default 0).
    #[param(minimum = 0, maximum = 100_000_000)]
    pub offset: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// `total` counts only this reason (an unknown one is 422 `invalid_query`).
    #[param(inline)]
    pub reason: Option<StuckReason>,
    /// Only this workflow (id).
    pub workflow: Option<String>,
    /// Only business keys containing this, whatever the case of (ASCII) letters.
    pub key: Option<String>,
}

/// The size of the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct StuckSummary {
    /// Every reason (zero included) counted within `workflow` and `key`.
    pub counts: BTreeMap<String, u64>,
    /// The rows `GET /operator/stuck` pages over with the same filters.
    pub total: u64,
}

fn operator_only(who: &Authed) -> Result<(), ApiError> {
    if who.0.oversees() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "this list needs the role 'operator' or 'admin'",
        ))
    }
}

fn grace() -> chrono::Duration {
    chrono::Duration::minutes(TIMER_GRACE_MINUTES)
}

/// Stuck cases (role `operator` or `admin`): overdue tasks, timers past due and not fired,
/// notices failing, open cases with nothing pending (no armed timer, no open task), cases idle
/// past their state's limit, schedule occurrences that could not start. Ordered by `since`
/// (since when each is stuck), then key; a case may appear once per reason.
#[utoipa::path(get, path = "/operator/stuck", tag = "operator", params(StuckQuery),
    responses((status = 200, body = Vec<StuckCase>), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn stuck(
    State(state): State<AppState>,
    who: Authed,
    Params(q): Params<StuckQuery>,
) -> Result<Json<Vec<StuckCase>>, ApiError> {
    operator_only(&who)?;
    let (limit, offset) = page(q.limit, q.offset, 100)?;
    let filter = StuckFilter {
        reason: q.reason.map(Into::into),
        workflow: q.workflow,
        key: q.key,
        limit,
        offset,
    };
    let rows = state
        .store
        .stuck_rows(&filter, state.clock.now(), grace())
        .await?;
    Ok(Json(super::views::all(rows)))
}

/// How many stuck cases there are per reason (role `operator` or `admin`), with the same
/// filters as `GET /operator/stuck`.
#[utoipa::path(get, path = "/operator/stuck/summary", tag = "operator", params(SummaryQuery),
    responses((status = 200, body = StuckSummary), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn stuck_summary(
    State(state): State<AppState>,
    who: Authed,
    Params(q): Params<SummaryQuery>,
) -> Result<Json<StuckSummary>, ApiError> {
    operator_only(&who)?;
    let filter = StuckFilter {
        reason: q.reason.map(Into::into),
        workflow: q.workflow,
        key: q.key,
        ..Default::default()
    };
    let counts = state
        .store
        .stuck_counts(&filter, state.clock.now(), grace())
        .await?;
    Ok(Json(StuckSummary {
        counts: counts
            .counts
            .iter()
            .map(|(r, n)| (r.code().to_owned(), *n))
            .collect(),
        total: counts.total,
    }))
}
