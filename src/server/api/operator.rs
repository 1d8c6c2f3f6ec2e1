//! What operators watch: the stuck cases, each with its reason.

use axum::Json;
use axum::extract::State;

use super::auth::Authed;
use super::error::{ApiError, ErrorBody};
use super::views::StuckCase;
use crate::server::AppState;

/// A timer this late after its due instant counts as not fired.
pub(crate) const TIMER_GRACE_MINUTES: i64 = 5;

/// Stuck cases (role `operator` or `admin`): overdue tasks, timers past due and not fired,
/// notices failing, open cases with nothing pending, cases idle past their state's limit.
#[utoipa::path(get, path = "/operator/stuck", tag = "operator",
    responses((status = 200, body = Vec<StuckCase>), (status = 403, body = ErrorBody)))]
pub async fn stuck(
    State(state): State<AppState>,
    who: Authed,
) -> Result<Json<Vec<StuckCase>>, ApiError> {
    if !who.0.oversees() {
        return Err(ApiError::forbidden(
            "this list needs the role 'operator' or 'admin'",
        ));
    }
    Ok(Json(super::views::all(
        state
            .store
            .stuck(
                state.clock.now(),
                chrono::Duration::minutes(TIMER_GRACE_MINUTES),
            )
            .await?,
    )))
}
