//! Deployed workflows: list them, deploy a new version (administrators).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Authed;
use super::body::Body;
use super::body::Path;
use super::error::{ApiError, ErrorBody, ErrorCode};
use crate::server::AppState;
use store::actors::ADMIN;
use store::entities::workflow_version;

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub workflow: String,
    pub version: i32,
    pub title: String,
    pub hash: String,
    pub deployed_at: chrono::DateTime<chrono::Utc>,
    pub deployed_by: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// The workflow YAML.
    #[schema(min_length = 1)]
    pub source: String,
    /// `<name>.subject`, `<name>.text`, `<name>.html` → handlebars text.
    #[serde(default)]
    pub templates: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deployed {
    pub workflow: String,
    pub version: i32,
    /// `false` when the text was already the latest version.
    pub changed: bool,
}

fn view(m: workflow_version::Model) -> VersionView {
    VersionView {
        workflow: m.workflow_id,
        version: m.version,
        title: m.title,
        hash: m.hash,
        deployed_at: crate::clock::from_millis(m.deployed_at),
        deployed_by: m.deployed_by,
    }
}

/// Every version of every deployed workflow, newest first per workflow.
#[utoipa::path(get, path = "/workflows", tag = "workflows",
    responses((status = 200, body = Vec<VersionView>)))]
pub async fn list(
    State(state): State<AppState>,
    _who: Authed,
) -> Result<Json<Vec<VersionView>>, ApiError> {
    let rows = state.store.workflow_versions(None).await?;
    Ok(Json(rows.into_iter().map(view).collect()))
}

/// The versions of one workflow, newest first.
#[utoipa::path(get, path = "/workflows/{id}/versions", tag = "workflows",
    responses((status = 200, body = Vec<VersionView>), (status = 404, body = ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    _who: Authed,
    Path(id): Path<String>,
) -> Result<Json<Vec<VersionView>>, ApiError> {
    let rows = state.store.workflow_versions(Some(&id)).await?;
    if rows.is_empty() {
        return Err(ApiError::new(
            ErrorCode::WorkflowNotFound,
            format!("workflow '{id}' not found"),
        ));
    }
    Ok(Json(rows.into_iter().map(view).collect()))
}

/// Deploy a workflow version (role `admin`). Checked exactly as `jalon validate` checks a
/// folder, templates included: refused with 422 `invalid_workflow` (every error in
/// `details.diagnostics`: file, line, column, code) or `limit_exceeded` (`details.limit`, `max`,
/// `value`); the same text again is the same version (200); running cases keep their version.
#[utoipa::path(post, path = "/workflows", request_body = Deploy, tag = "workflows",
    responses((status = 201, body = Deployed), (status = 200, body = Deployed),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn deploy(
    State(state): State<AppState>,
    who: Authed,
    Body(req): Body<Deploy>,
) -> Result<(StatusCode, Json<Deployed>), ApiError> {
    who.require(ADMIN)?;
    let d = state
        .store
        .deploy_text(
            req.source,
            req.templates,
            Some(&who.0.id),
            state.clock.now(),
        )
        .await?;
    let status = if d.changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(Deployed {
            workflow: d.workflow_id,
            version: d.version,
            changed: d.changed,
        }),
    ))
}
