//! Cases: start, read (at once, or once it changed), list, send an event, history, the stream
//! of its changes.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::auth::Authed;
use super::body::{Body, Params, Path, page, unique_inputs, whole_number};
use super::codes::ErrorCode;
use super::error::{ApiError, ErrorBody};
use super::views::{CaseSummary, CaseView, HistoryView};
use crate::server::AppState;
use crate::server::changes::Full;
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
    let view = serde_json::to_value(state.store.case_view(&row, now).await?).unwrap_or_default();
    if let Some((key, _)) = &idem {
        state
            .store
            .idempotent_record(&who.0.id, key, 201, &view)
            .await?;
    }
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GetQuery {
    /// Answer once the case's `row_version` is past this one (at once if it already is).
    #[param(minimum = 0, maximum = 9_000_000_000_000_000_i64)]
    pub after_version: Option<u64>,
    /// How long to wait for the case to pass `after_version` (without it: to change from the
    /// version it is at), in seconds (`30s`, `30`) or milliseconds (`500ms`); a wait longer
    /// than the server's bound (60 s) is shortened to it. When the wait ends first, the answer is 200 with the case as it
    /// is (its `row_version` tells the client). Open waits are bounded per actor and in total
    /// (429 `too_many_waits`).
    #[param(pattern = "^[0-9]{1,9}(s|ms)?$")]
    pub wait: Option<String>,
}

/// Read a case: state, variables, deadlines (with their explanation and article), open tasks,
/// the events it accepts.
///
/// With `after_version` and `wait`, the answer waits until the case passes that version (a
/// transition of this server answers at once after its commit; one made by another process
/// sharing the database within about a second), or until the wait ends.
#[utoipa::path(get, path = "/cases/{id}",
    params(("id" = String, Path, description = "the case"), GetQuery), tag = "cases",
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    Params(q): Params<GetQuery>,
) -> Result<Json<CaseView>, ApiError> {
    let after = q.after_version.map(version);
    let wait = wait_for(&state, q.wait.as_deref())?;
    // The slot opens before the read, so that a commit after the read is not missed; at the
    // bound, a case already past is still answered.
    let slot = wait.map(|_| state.changes.open(&id, &who.0.id));
    let mut row = state.store.case_row(&id).await?;
    readable(&state, &who.0, &row).await?;
    if let (Some(wait), Some(slot)) = (wait, slot) {
        // Without `after_version`: the next change from the version read now.
        let after = after.unwrap_or(row.row_version);
        if row.row_version <= after {
            let mut slot = slot.map_err(too_many_waits)?;
            slot.seen(row.row_version);
            if tokio::time::timeout(wait, slot.past(after)).await.is_ok() {
                row = state.store.case_row(&id).await?;
            }
        }
    }
    Ok(Json(
        state.store.case_view(&row, state.clock.now()).await?.into(),
    ))
}

/// A version from a query (any larger than a stored version can be is as good as the largest).
fn version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The wait a read asks for: `None` to answer at once.
pub(super) fn wait_for(
    state: &AppState,
    wait: Option<&str>,
) -> Result<Option<std::time::Duration>, ApiError> {
    let Some(text) = wait else { return Ok(None) };
    let invalid =
        |why: &str| ApiError::new(ErrorCode::InvalidWait, format!("wait={text:?}: {why}"));
    let wait = parse_wait(text).ok_or_else(|| invalid("not `30s`, `30` or `500ms`"))?;
    // A longer wait is shortened to the server's bound: the client reads the case again.
    Ok(Some(wait.min(state.changes.limits().longest)))
}

/// `30s` or `30`: seconds; `500ms`: milliseconds.
fn parse_wait(text: &str) -> Option<std::time::Duration> {
    let (digits, millis) = match text.strip_suffix("ms") {
        Some(d) => (d, true),
        None => (text.strip_suffix('s').unwrap_or(text), false),
    };
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(if millis {
        std::time::Duration::from_millis(n)
    } else {
        std::time::Duration::from_secs(n)
    })
}

pub(super) fn too_many_waits(full: Full) -> ApiError {
    let (bound, message) = match full {
        Full::Actor => (
            "actor",
            "you have too many requests waiting for a change already",
        ),
        Full::Total => (
            "server",
            "the server has too many requests waiting for a change",
        ),
    };
    let mut e = ApiError::new(ErrorCode::TooManyWaits, message)
        .with_details(serde_json::json!({ "bound": bound }));
    e.retry_after = Some(1);
    e
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// The first change sent is the first version past this one (default: the case as it is
    /// now). A reconnecting client's `Last-Event-ID` header counts as this.
    #[param(minimum = 0, maximum = 9_000_000_000_000_000_i64)]
    pub after_version: Option<u64>,
}

/// One event of a change stream (`data`, JSON; the event's `id` is `row_version`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeView {
    pub row_version: i64,
    pub state: String,
    #[schema(inline)]
    pub status: CaseStatusView,
    pub outcome: Option<String>,
}

/// Whether a case still runs (as sent).
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatusView {
    Open,
    Closed,
}

/// The changes of a case as server-sent events (`text/event-stream`), oldest first: one
/// `change` event per version read (`id`: its `row_version`; `data`: a `ChangeView`), the
/// stream ending after the case closes. Versions that follow each other closely may come as
/// their last one only (the history has each). A comment is sent every 15 s while nothing
/// changes. The stream holds one of the actor's bounded waits (429 `too_many_waits`).
#[utoipa::path(get, path = "/cases/{id}/changes",
    params(("id" = String, Path, description = "the case"), ChangesQuery), tag = "cases",
    responses((status = 200, content_type = "text/event-stream", body = ChangeView),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn changes(
    State(state): State<AppState>,
    who: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Params(q): Params<ChangesQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let last_event = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = q.after_version.map(version).or(last_event).unwrap_or(0);
    let row = state.store.case_row(&id).await?;
    readable(&state, &who.0, &row).await?;
    let slot = state.changes.open(&id, &who.0.id).map_err(too_many_waits)?;
    slot.seen(row.row_version);
    let ended = row.status == case::Status::Closed && row.row_version <= after;
    let stream = futures_util::stream::unfold(
        (state, slot, id, after, ended),
        |(state, mut slot, id, after, ended)| async move {
            if ended {
                return None;
            }
            slot.past(after).await;
            let row = match state.store.case_row(&id).await {
                Ok(row) => row,
                Err(e) => {
                    tracing::warn!(case = %id, error = %e, "change stream ends: the case cannot be read");
                    return None;
                }
            };
            let closed = row.status == case::Status::Closed;
            let view = ChangeView {
                row_version: row.row_version,
                state: row.state,
                status: if closed {
                    CaseStatusView::Closed
                } else {
                    CaseStatusView::Open
                },
                outcome: row.outcome,
            };
            let event = Event::default()
                .event("change")
                .id(view.row_version.to_string())
                .json_data(&view)
                .unwrap_or_else(|_| Event::default().comment("unencodable change"));
            Some((Ok(event), (state, slot, id, view.row_version, closed)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15))))
}

/// List cases, the last changed first (`updated_at` descending, then `id` descending: a
/// page is a range of an index, however many cases there are).
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
