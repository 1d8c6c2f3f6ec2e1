//! The one error shape of the API: `{code, message, details}` with a stable `code`, and the
//! status that goes with it. A refused request has changed nothing.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use store::Error;
use engine::machine::Refusal;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable (`event_not_allowed`, `role_not_allowed`, `stale_version`…).
    pub code: String,
    /// A sentence for a person.
    pub message: String,
    /// What the code refers to (a refusal's fields, a request id), or `null`.
    #[schema(value_type = Option<Object>)]
    pub details: serde_json::Value,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Seconds after which the same request may succeed (`Retry-After`).
    pub retry_after: Option<u32>,
}

/// `Retry-After` of a request refused while the database is away.
const RETRY_UNREACHABLE_SECS: u32 = 5;
/// `Retry-After` while the disk is full: freeing space takes a person.
const RETRY_FULL_SECS: u32 = 60;

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                details: serde_json::Value::Null,
            },
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.body.details = details;
        self
    }

    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send `Authorization: Bearer <token>` with a token from `jalon actors add`",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

fn refusal_status(r: &Refusal) -> StatusCode {
    match r {
        Refusal::RoleNotAllowed { .. } => StatusCode::FORBIDDEN,
        Refusal::MissingInput { .. }
        | Refusal::InvalidInput { .. }
        | Refusal::UnknownInput { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Refusal::CaseClosed { .. }
        | Refusal::EventNotAllowed { .. }
        | Refusal::GuardFailed { .. }
        | Refusal::NoBranch { .. }
        | Refusal::UnknownTimer { .. } => StatusCode::CONFLICT,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = e.code();
        match &e {
            Error::Refused(r) => {
                let details = serde_json::to_value(r).unwrap_or_default();
                ApiError::new(refusal_status(r), code, r.to_string()).with_details(details)
            }
            Error::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, code, e.to_string()),
            Error::Conflict { .. } => ApiError::new(StatusCode::CONFLICT, code, e.to_string()),
            Error::Invalid { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
            }
            Error::Rejected { details, .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
                    .with_details(details.clone())
            }
            Error::Db(_) if e.is_unavailable() => {
                tracing::warn!(error = %e, "request refused: the database is unavailable");
                let (message, retry) = if code == "storage_full" {
                    (
                        "the server's storage is full: writes fail until space is freed",
                        RETRY_FULL_SECS,
                    )
                } else {
                    (
                        "the database cannot be reached; retry later",
                        RETRY_UNREACHABLE_SECS,
                    )
                };
                let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
                err.retry_after = Some(retry);
                err
            }
            Error::Db(_) | Error::Corrupt(_) => {
                tracing::error!(error = %e, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    code,
                    "the server could not complete the request; nothing was changed",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}
