//! Cases: start, read, list, send an event, history.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::auth::Authed;
use super::body::{Body, Params, Path, page, unique_inputs, whole_number};
use super::error::{ApiError, ErrorBody};
use super::views::{CaseSummary, CaseView, HistoryView};
use crate::server::AppState;
use store::actors::ActorInfo;
use store::drive::EventRequest;
use store::entities::case;
use store::queries::CaseFilter;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartCase {
    /// The workflow id (its latest deployed version is used).
    pub workflow: String,
    /// The business key, unique per workflow (a school, a staff member's file number…).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
    )]
    pub key: String,
    /// The start's inputs; a key given twice is refused (422 `invalid_body`).
    #[serde(default, deserialize_with = "unique_inputs")]
    #[schema(value_type = Object)]
    pub inputs: engine::machine::Inputs,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendEvent {
    pub event: String,
    /// The event's inputs; a key given twice is refused (422 `invalid_body`).
    #[serde(default, deserialize_with = "unique_inputs")]
    #[schema(value_type = Object)]
    pub inputs: engine::machine::Inputs,
    /// Why (kept in the history).
    pub reason: Option<String>,
    /// Refuse with 409 `stale_version` unless the case is still at this `row_version`.
    #[serde(default, deserialize_with = "whole_number")]
    pub expected_version: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub workflow: Option<String>,
    pub state: Option<String>,
    #[param(inline)]
    pub status: Option<CaseStatus>,
    /// Only cases with an overdue task or a timer past due.
    #[serde(default)]
    pub overdue: bool,
    /// Only cases this actor (id) has acted on.
    pub actor: Option<String>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Skip this many first (default 0).
    #[param(minimum = 0, maximum = 100_000_000)]
    pub offset: Option<u64>,
}

/// Whether a case still runs.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    Open,
    Closed,
}

/// Reading a case needs a role of its workflow, or the operator or administrator role.
pub(crate) async fn readable(
    state: &AppState,
    who: &ActorInfo,
    row: &case::Model,
) -> Result<(), ApiError> {
    if who.oversees() {
        return Ok(());
    }
    let d = state.store.version(row.version_id).await?;
    if who.may_read(d.def.roles.keys()) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "none of your roles takes part in this case's workflow",
        ))
    }
}

fn request_hash(s: &StartCase) -> String {
    let canonical = serde_json::json!({"workflow": s.workflow, "key": s.key, "inputs": s.inputs});
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Start a case.
///
/// With an `Idempotency-Key` header, repeating the request returns the first response and
/// starts nothing.
#[utoipa::path(post, path = "/cases", request_body = StartCase, tag = "cases",
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200,
        pattern = "^[!-~]+$", description = "repeat-safe key: 1 to 200 visible ASCII characters")),
    responses(
        (status = 201, body = CaseView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    who: Authed,
    headers: HeaderMap,
    Body(req): Body<StartCase>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let now = state.clock.now();
    let idem = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .filter(|k| (1..=200).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
                .ok_or_else(|| ApiError::of(super::error::ErrorCode::InvalidIdempotencyKey))?;
            Some((key.to_owned(), request_hash(&req)))
        }
    };
    if let Some((key, hash)) = &idem
        && let Some(prev) = state.store.idempotent_replay(&who.0.id, key, hash).await?
    {
        let status = StatusCode::from_u16(prev.status).unwrap_or(StatusCode::OK);
        return Ok((status, Json(prev.body)));
    }
    let row = state
        .store
        .start_case(
            &req.workflow,
            &req.key,
            &who.0.engine(),
            req.inputs,
            now,
            idem.as_ref()
                .map(|(k, h)| (who.0.id.as_str(), k.as_str(), h.as_str())),
        )
        .await?;
    state.poke();
    let view = serde_json::to_value(state.store.case_view(&row, now).await?).unwrap_or_default();
    if let Some((key, _)) = &idem {
        state
            .store
            .idempotent_record(&who.0.id, key, 201, &view)
            .await?;
    }
    Ok((StatusCode::CREATED, Json(view)))
}

/// Read a case: state, variables, deadlines (with their explanation and article), open tasks,
/// the events it accepts.
#[utoipa::path(get, path = "/cases/{id}",
    params(("id" = String, Path, description = "the case")), tag = "cases",
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<CaseView>, ApiError> {
    let row = state.store.case_row(&id).await?;
    readable(&state, &who.0, &row).await?;
    Ok(Json(
        state.store.case_view(&row, state.clock.now()).await?.into(),
    ))
}

/// List cases.
#[utoipa::path(get, path = "/cases", tag = "cases", params(ListQuery),
    responses((status = 200, body = Vec<CaseSummary>)))]
pub async fn list(
    State(state): State<AppState>,
    who: Authed,
    Params(q): Params<ListQuery>,
) -> Result<Json<Vec<CaseSummary>>, ApiError> {
    let (limit, offset) = page(q.limit, q.offset, 100)?;
    let readable = (!who.0.oversees()).then(|| {
        state
            .store
            .latest_versions()
            .iter()
            .filter(|d| who.0.may_read(d.def.roles.keys()))
            .map(|d| d.workflow_id.clone())
            .collect()
    });
    let f = CaseFilter {
        workflow: q.workflow,
        state: q.state,
        status: q.status.map(|s| match s {
            CaseStatus::Open => case::Status::Open,
            CaseStatus::Closed => case::Status::Closed,
        }),
        overdue: q.overdue,
        actor: q.actor,
        readable,
        limit,
        offset,
    };
    let rows = state.store.list_cases(&f, state.clock.now()).await?;
    Ok(Json(super::views::all(rows)))
}

/// Send an event to a case.
#[utoipa::path(post, path = "/cases/{id}/events",
    params(("id" = String, Path, description = "the case")), request_body = SendEvent, tag = "cases",
    responses(
        (status = 200, body = CaseView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn event(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    Body(req): Body<SendEvent>,
) -> Result<Json<CaseView>, ApiError> {
    // An actor who may not read the case learns nothing of it (state, outcome, version):
    // the same 404 or 403 as a read, before the event is looked at.
    let row = state.store.case_row(&id).await?;
    readable(&state, &who.0, &row).await?;
    let now = state.clock.now();
    let by = who.0.engine();
    let row = state
        .store
        .send_event(
            EventRequest {
                case_id: &id,
                event: &req.event,
                by: &by,
                inputs: req.inputs,
                reason: req.reason,
                expected_version: req.expected_version,
            },
            now,
        )
        .await?;
    state.poke();
    Ok(Json(state.store.case_view(&row, now).await?.into()))
}

/// The history of a case, oldest first; each row's hash covers the previous one.
#[utoipa::path(get, path = "/cases/{id}/history",
    params(("id" = String, Path, description = "the case")), tag = "cases",
    responses((status = 200, body = Vec<HistoryView>), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<Vec<HistoryView>>, ApiError> {
    let row = state.store.case_row(&id).await?;
    readable(&state, &who.0, &row).await?;
    Ok(Json(super::views::all(state.store.history(&id).await?)))
}
