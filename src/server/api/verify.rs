//! One case's history chain, recomputed (the API side of `jalon verify`).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Authed;
use super::body::Path;
use super::cases::readable;
use super::error::{ApiError, ErrorBody};
use super::views::BrokenRow;
use crate::server::AppState;

#[derive(Serialize, ToSchema)]
pub struct ChainCheck {
    /// Every row's hash matches its content and the row before it, and the case row ends on
    /// the last one.
    pub intact: bool,
    /// History rows checked.
    pub rows: u64,
    /// The first row where the chain does not hold.
    pub first_broken: Option<BrokenRow>,
}

/// Recompute a case's history hash chain and report the first broken row.
#[utoipa::path(get, path = "/cases/{id}/verify", operation_id = "verify_case",
    params(("id" = String, Path, description = "the case")), tag = "cases",
    responses((status = 200, body = ChainCheck),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn case(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<ChainCheck>, ApiError> {
    let row = state.store.case_row(&id).await?;
    readable(&state, &who.0, &row).await?;
    let c = state.store.verify_case(&id).await?;
    Ok(Json(ChainCheck {
        intact: c.intact(),
        rows: c.rows,
        first_broken: c.first_broken.map(Into::into),
    }))
}
