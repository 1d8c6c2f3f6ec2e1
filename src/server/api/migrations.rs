//! Migrating the open cases of a workflow to a newer version (administrators): the API side of
//! `jalon cases migrate`, through the same store call (`store/src/migrate_cases.rs`).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Authed;
use super::body::{Body, Path};
use super::error::{ApiError, ErrorBody};
use crate::server::AppState;
use store::actors::ADMIN;
use store::migrate_cases::{CasePlan, MigrationReport, MigrationRequest};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Migration {
    /// The version of the workflow the cases move to.
    pub to_version: i32,
    /// The mapping file's YAML text (`docs/migrations.md`).
    pub mapping: String,
    /// Only compute and return the plans: nothing is written.
    #[serde(default)]
    pub dry_run: bool,
    /// Only the open cases with these business keys (default: every open case of the older
    /// versions the mapping selects).
    #[serde(default)]
    pub cases: Option<Vec<String>>,
    /// Why the cases move, kept in each case's history row.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What changed, or would change, for one case.
#[derive(Debug, Serialize, ToSchema)]
pub struct CasePlanView {
    pub case_id: String,
    pub key: String,
    pub from_version: i32,
    pub to_version: i32,
    pub from_state: String,
    pub to_state: String,
    /// The changes exactly as the case's history row keeps them in `detail` (state, variables
    /// renamed or dropped, timers kept, cancelled or armed with their keys and due dates,
    /// tasks kept, closed or opened), each with its French `text`.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<serde_json::Value>,
    /// Why this case was left as it is, if it was.
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MigrationView {
    pub workflow: String,
    pub to_version: i32,
    pub dry_run: bool,
    pub cases: Vec<CasePlanView>,
}

fn view(r: MigrationReport) -> MigrationView {
    MigrationView {
        workflow: r.workflow,
        to_version: r.to_version,
        dry_run: r.dry_run,
        cases: r
            .cases
            .into_iter()
            .map(|c: CasePlan| CasePlanView {
                case_id: c.case_id,
                key: c.key,
                from_version: c.from_version,
                to_version: c.to_version,
                from_state: c.from_state,
                to_state: c.to_state,
                changes: c.changes,
                error: c.error,
            })
            .collect(),
    }
}

/// Migrate the open cases of a workflow from older versions to `to_version` (role `admin`).
/// The mapping is checked against both versions first: 422 `invalid_mapping` with every
/// diagnostic (file `<mapping>`, line, column, code, hint) in `details.diagnostics`, and no
/// case touched. Then each case moves in its own transaction with a history row; with
/// `dry_run` the same plans are returned and nothing is written. Cases not migrated keep
/// their version.
#[utoipa::path(post, path = "/workflows/{id}/migrations", request_body = Migration,
    tag = "workflows",
    responses((status = 200, body = MigrationView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn migrate(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    Body(req): Body<Migration>,
) -> Result<Json<MigrationView>, ApiError> {
    who.require(ADMIN)?;
    let report = state
        .store
        .migrate_cases(
            MigrationRequest {
                workflow_id: &id,
                to_version: req.to_version,
                mapping: &req.mapping,
                mapping_name: "<mapping>",
                only: req.cases,
                dry_run: req.dry_run,
                actor: Some(who.0.id.clone()),
                reason: req.reason,
            },
            state.clock.now(),
        )
        .await?;
    Ok(Json(view(report)))
}
