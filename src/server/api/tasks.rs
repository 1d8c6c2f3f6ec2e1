//! The caller's open tasks.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Authed;
use super::body::{Params, page};
use super::error::ApiError;
use super::views::TaskView;
use crate::server::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TasksQuery {
    /// At most this many (default 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Skip this many first (default 0).
    #[param(minimum = 0, maximum = 100_000_000)]
    pub offset: Option<u64>,
}

/// Open tasks for the caller's roles, earliest due first, undated last (ties by id): the
/// order and the reader of the page "Mes tâches", on both backends.
#[utoipa::path(get, path = "/tasks", tag = "tasks", params(TasksQuery),
    responses((status = 200, body = Vec<TaskView>)))]
pub async fn mine(
    State(state): State<AppState>,
    who: Authed,
    Params(q): Params<TasksQuery>,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    let (limit, offset) = page(q.limit, q.offset, super::body::MAX_LIMIT)?;
    let f = store::pages::TaskFilter {
        limit,
        offset,
        ..Default::default()
    };
    let tasks = state
        .store
        .open_tasks(&who.0.roles, &f, state.clock.now())
        .await?;
    Ok(Json(super::views::all(tasks)))
}
