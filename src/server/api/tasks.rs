//! The caller's open tasks.

use axum::Json;
use axum::extract::State;

use super::auth::Authed;
use super::error::ApiError;
use super::views::TaskView;
use crate::server::AppState;

/// Open tasks for the caller's roles, earliest due first.
#[utoipa::path(get, path = "/tasks", tag = "tasks", responses((status = 200, body = Vec<TaskView>)))]
pub async fn mine(
    State(state): State<AppState>,
    who: Authed,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    Ok(Json(super::views::all(
        state
            .store
            .tasks_for_roles(&who.0.roles, state.clock.now())
            .await?,
    )))
}
