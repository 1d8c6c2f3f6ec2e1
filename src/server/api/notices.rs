//! Notices as evidence: what was sent for a case, to whom, when, with which Message-ID, and
//! the exact bytes; and the operator's view of failing notices, with a retry.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Authed;
use super::body::{Body, Params, Path, page};
use super::cases::readable;
use super::error::{ApiError, ErrorBody};
use super::views::NoticeView;
use crate::server::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CaseNoticesQuery {
    /// How long to wait for every notice of the case to be delivered or given up (none
    /// `pending`), in seconds (`30s`, `30`) or milliseconds (`500ms`); at most the server's
    /// bound (60 s). When the wait ends first, the answer is 200 with the notices as they are.
    /// Open waits are bounded per actor and in total (429 `too_many_waits`).
    #[param(pattern = "^[0-9]{1,9}(s|ms)?$")]
    pub wait: Option<String>,
}

/// The notices of a case, oldest first: one per recipient, with its delivery record.
///
/// With `wait`, the answer waits until none of them is `pending` (each `sent` or `dead`), or
/// until the wait ends: a client that made a transition learns that its notices went out
/// without polling. A delivery by this server answers at once after its record commits; on
/// PostgreSQL, one by another process sharing the database as soon as its notification
/// arrives (within about a second should it be lost).
#[utoipa::path(get, path = "/cases/{id}/notices", tag = "notices",
    params(("id" = String, Path, description = "the case"), CaseNoticesQuery),
    responses((status = 200, body = Vec<NoticeView>), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn of_case(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    Params(q): Params<CaseNoticesQuery>,
) -> Result<Json<Vec<NoticeView>>, ApiError> {
    let wait = super::cases::wait_for(&state, q.wait.as_deref())?;
    // The slot opens before the first read, so that a delivery after it is not missed.
    let slot = wait.map(|_| state.changes.open(&id, &who.0.id));
    let row = state.store.case_row(&id).await?;
    readable(&state, &who.0, &row).await?;
    let mut notices = state.store.case_notices(&id).await?;
    let pending = |n: &[store::outbox::NoticeView]| n.iter().any(|n| n.status == "pending");
    if let (Some(wait), Some(slot)) = (wait, slot)
        && pending(&notices)
    {
        let mut slot = slot.map_err(super::cases::too_many_waits)?;
        let until = tokio::time::Instant::now() + wait;
        while pending(&notices)
            && tokio::time::timeout_at(until, slot.notices_changed())
                .await
                .is_ok()
        {
            notices = state.store.case_notices(&id).await?;
        }
    }
    Ok(Json(super::views::all(notices)))
}

/// The exact bytes sent (RFC 5322, `message/rfc822`); their SHA-256 is `eml_sha256` of the
/// notice and the `X-Content-SHA256` header here. 404 `notice_not_sent` until it is sent.
#[utoipa::path(get, path = "/cases/{id}/notices/{notice}/eml", tag = "notices",
    params(("id" = String, Path, description = "the case"),
        ("notice" = i64, Path, description = "the notice's `id`")),
    responses((status = 200, content_type = "message/rfc822", body = Vec<u8>),
        (status = 404, body = ErrorBody)))]
pub async fn eml(
    State(state): State<AppState>,
    who: Authed,
    Path((id, notice)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    let row = state.store.case_row(&id).await?;
    readable(&state, &who.0, &row).await?;
    let bytes = state.store.notice_eml(&id, notice).await?;
    let sha = notifiers::message::sha256_hex(&bytes);
    Ok((
        [
            (header::CONTENT_TYPE, "message/rfc822".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"notice-{notice}.eml\""),
            ),
            (header::HeaderName::from_static("x-content-sha256"), sha),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoticeQuery {
    /// All when absent.
    #[param(inline)]
    pub status: Option<NoticeStatus>,
    /// At most this many, newest first (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

/// Where a notice is in its delivery.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoticeStatus {
    Pending,
    Sent,
    Dead,
}

impl From<NoticeStatus> for store::entities::outbox::Status {
    fn from(s: NoticeStatus) -> Self {
        match s {
            NoticeStatus::Pending => Self::Pending,
            NoticeStatus::Sent => Self::Sent,
            NoticeStatus::Dead => Self::Dead,
        }
    }
}

fn operator_only(who: &Authed) -> Result<(), ApiError> {
    if who.0.oversees() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "notices across cases need the role 'operator' or 'admin'",
        ))
    }
}

/// Every notice (digests included) in a status: what operators watch for `dead` ones.
#[utoipa::path(get, path = "/operator/notices", tag = "operator", params(NoticeQuery),
    responses((status = 200, body = Vec<NoticeView>), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Authed,
    Params(q): Params<NoticeQuery>,
) -> Result<Json<Vec<NoticeView>>, ApiError> {
    operator_only(&who)?;
    let (limit, _) = page(q.limit, None, 100)?;
    let status = q.status.map(Into::into);
    Ok(Json(super::views::all(
        state.store.notices(status, limit).await?,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryNotice {
    /// Why it is sent again (kept on the notice with who and when): e.g. "adresse corrigée".
    #[schema(pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$")]
    pub reason: String,
}

/// Sends a dead (or waiting) notice again now, its attempts counted afresh; the reason is
/// required and recorded. 409 `notice_not_retryable` for a sent notice or one without an
/// address.
#[utoipa::path(post, path = "/operator/notices/{id}/retry", tag = "operator",
    params(("id" = i64, Path, description = "the notice's `id`")),
    request_body = RetryNotice,
    responses((status = 200, body = NoticeView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<i64>,
    Body(req): Body<RetryNotice>,
) -> Result<Json<NoticeView>, ApiError> {
    operator_only(&who)?;
    if req.reason.trim().is_empty() {
        return Err(ApiError::of(super::error::ErrorCode::MissingReason));
    }
    state.store.notice(id).await?;
    state
        .store
        .retry_notice(id, &who.0.id, req.reason.trim(), state.clock.now())
        .await?;
    tracing::info!(notice = id, by = %who.0.id, "notice retry requested");
    Ok(Json(state.store.notice(id).await?.into()))
}
