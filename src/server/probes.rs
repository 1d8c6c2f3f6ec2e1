//! Liveness and readiness probes.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::api::error::ApiError;

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers within a second and writes commit: 503
/// `database_unavailable` or `storage_full` otherwise, in the API's error shape.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ready().await {
        Ok(()) => "ready".into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
