//! The one error shape of the API: `{code, message, details}` with a stable `code`, and the
//! status that goes with it (both from the one table, `codes.rs`). A refused request has
//! changed nothing.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use engine::machine::Refusal;
use store::Error;

pub use super::codes::ErrorCode;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable (`event_not_allowed`, `role_not_allowed`, `stale_version`…).
    pub code: String,
    /// A sentence for the developer or the operator, in English.
    pub message: String,
    /// The same refusal in French, for the actor who made the request (the precise reason
    /// when the refusal has one: a letter posted too late, a date out of its legal range).
    pub message_fr: String,
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
    /// `code`, with its status, and a message more precise than the table's.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::raw(code.status(), code.as_str(), message.into())
    }

    /// `code` with the table's English message.
    pub fn of(code: ErrorCode) -> Self {
        ApiError::new(code, code.message())
    }

    fn raw(status: StatusCode, code: &str, message: String) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                code: code.to_owned(),
                message,
                message_fr: ErrorCode::parse(code)
                    .map(|c| c.message_fr())
                    .unwrap_or("La demande n'a pas pu aboutir ; rien n'a été modifié.")
                    .to_owned(),
                details: serde_json::Value::Null,
            },
            retry_after: None,
        }
    }

    /// Adds what the code refers to; a `message_fr` among them is the French sentence.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        if let Some(fr) = details.get("message_fr").and_then(|m| m.as_str()) {
            self.body.message_fr = fr.to_owned();
        }
        self.body.details = details;
        self
    }

    pub fn unauthorized() -> Self {
        ApiError::of(ErrorCode::Unauthenticated)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Forbidden, message)
    }
}

/// The entry of a refusal: exhaustive, so a new refusal of the engine needs one.
fn refusal_code(r: &Refusal) -> ErrorCode {
    match r {
        Refusal::CaseClosed { .. } => ErrorCode::CaseClosed,
        Refusal::EventNotAllowed { .. } => ErrorCode::EventNotAllowed,
        Refusal::RoleNotAllowed { .. } => ErrorCode::RoleNotAllowed,
        Refusal::MissingInput { .. } => ErrorCode::MissingInput,
        Refusal::InvalidInput { .. } => ErrorCode::InvalidInput,
        Refusal::UnknownInput { .. } => ErrorCode::UnknownInput,
        Refusal::GuardFailed { .. } => ErrorCode::GuardFailed,
        Refusal::NoBranch { .. } => ErrorCode::NoBranch,
        Refusal::UnknownTimer { .. } => ErrorCode::UnknownTimer,
        Refusal::PostedTooLate { .. } => ErrorCode::PostedTooLate,
        Refusal::DateOutOfRange { .. } => ErrorCode::DateOutOfRange,
        Refusal::MissingReason { .. } => ErrorCode::MissingReason,
        Refusal::TimerNotArmed { .. } => ErrorCode::TimerNotArmed,
        Refusal::TimerNotSuspended { .. } => ErrorCode::TimerNotSuspended,
        Refusal::TimerAlreadyFired { .. } => ErrorCode::TimerAlreadyFired,
    }
}

/// The entry of a store error. The store gives its codes as text (it knows no HTTP); a
/// test (`codes.rs`) finds them all in the table. Were one missing, it would still be
/// answered with its kind's status rather than turned into another code.
fn store_code(e: &Error) -> Result<ErrorCode, StatusCode> {
    let kind = match e {
        Error::Refused(r) => return Ok(refusal_code(r)),
        Error::Db(_) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
        Error::Db(_) | Error::Corrupt(_) => StatusCode::INTERNAL_SERVER_ERROR,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Invalid { .. } | Error::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
    };
    match ErrorCode::parse(e.code()) {
        Some(code) => {
            debug_assert_eq!(code.status(), kind, "{} is a {kind} error", e.code());
            Ok(code)
        }
        None => {
            debug_assert!(false, "store code {} missing from codes.rs", e.code());
            Err(kind)
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = match store_code(&e) {
            Ok(code) => code,
            Err(status) => return ApiError::raw(status, e.code(), e.to_string()),
        };
        match &e {
            Error::Refused(r) => {
                let details = serde_json::to_value(r).unwrap_or_default();
                ApiError::new(code, r.to_string()).with_details(details)
            }
            Error::NotFound { .. } | Error::Conflict { .. } | Error::Invalid { .. } => {
                ApiError::new(code, e.to_string())
            }
            Error::Rejected { details, .. } => {
                ApiError::new(code, e.to_string()).with_details(details.clone())
            }
            Error::Db(_) if e.is_unavailable() => {
                tracing::warn!(error = %e, "request refused: the database is unavailable");
                let mut err = ApiError::of(code);
                err.retry_after = Some(if code == ErrorCode::StorageFull {
                    RETRY_FULL_SECS
                } else {
                    RETRY_UNREACHABLE_SECS
                });
                err
            }
            Error::Db(_) | Error::Corrupt(_) => {
                tracing::error!(error = %e, "internal error");
                ApiError::of(code)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each refusal of the engine answers the code it names itself by, with the status of
    /// the table (403, 409 or 422, as before the table).
    #[test]
    fn refusals_answer_their_own_code() {
        let s = String::new;
        let refusals = [
            (Refusal::CaseClosed { outcome: s() }, 409),
            (
                Refusal::EventNotAllowed {
                    event: s(),
                    state: s(),
                },
                409,
            ),
            (
                Refusal::RoleNotAllowed {
                    action: s(),
                    allowed: vec![],
                },
                403,
            ),
            (Refusal::MissingInput { input: s() }, 422),
            (
                Refusal::InvalidInput {
                    input: s(),
                    why: s(),
                },
                422,
            ),
            (Refusal::UnknownInput { input: s() }, 422),
            (
                Refusal::GuardFailed {
                    variable: s(),
                    why: s(),
                },
                409,
            ),
            (Refusal::NoBranch { event: s() }, 409),
            (Refusal::UnknownTimer { key: s() }, 409),
            (
                Refusal::PostedTooLate {
                    input: s(),
                    posted: chrono::NaiveDate::MIN,
                    due: chrono::NaiveDate::MIN,
                    message_fr: "Posté trop tard.".into(),
                },
                422,
            ),
            (
                Refusal::DateOutOfRange {
                    input: s(),
                    value: chrono::NaiveDate::MIN,
                    bound: "not_before",
                    limit: chrono::NaiveDate::MIN,
                    message_fr: "Trop tôt.".into(),
                },
                422,
            ),
            (Refusal::MissingReason { action: s() }, 422),
            (Refusal::TimerNotArmed { timer: s() }, 409),
            (Refusal::TimerNotSuspended { timer: s() }, 409),
            (
                Refusal::TimerAlreadyFired {
                    timer: s(),
                    variable: s(),
                    corrected_due: chrono::NaiveDate::MIN,
                },
                409,
            ),
        ];
        for (r, status) in refusals {
            let code = r.code();
            let e = ApiError::from(Error::Refused(r));
            assert_eq!((e.body.code.as_str(), e.status.as_u16()), (code, status));
            assert_eq!(e.body.details["code"], code);
        }
    }

    /// The actor reads the refusal in French: the precise reason when the refusal gives one,
    /// the code's sentence otherwise.
    #[test]
    fn every_refusal_carries_its_french_sentence() {
        let e = ApiError::from(Error::Refused(Refusal::PostedTooLate {
            input: "expediee_le".into(),
            posted: chrono::NaiveDate::MIN,
            due: chrono::NaiveDate::MIN,
            message_fr: "Le courrier a été posté le mardi 29 décembre 2026, trop tard.".into(),
        }));
        assert_eq!(
            e.body.message_fr,
            "Le courrier a été posté le mardi 29 décembre 2026, trop tard."
        );
        let e = ApiError::from(Error::Refused(Refusal::CaseClosed {
            outcome: "clos".into(),
        }));
        assert_eq!(e.body.message_fr, ErrorCode::CaseClosed.message_fr());
        assert_eq!(
            ApiError::of(ErrorCode::Forbidden).body.message_fr,
            ErrorCode::Forbidden.message_fr()
        );
    }

    #[test]
    fn store_errors_keep_their_code_and_status() {
        let cases = [
            (Error::not_found("case_not_found", "case x"), 404),
            (
                Error::Conflict {
                    code: "stale_version",
                    message: "m".into(),
                },
                409,
            ),
            (
                Error::Invalid {
                    code: "invalid_business_key",
                    message: "m".into(),
                },
                422,
            ),
            (
                Error::Rejected {
                    code: "limit_exceeded",
                    message: "m".into(),
                    details: serde_json::json!({"limit": "states"}),
                },
                422,
            ),
            (Error::Corrupt("x".into()), 500),
        ];
        for (e, status) in cases {
            let code = e.code();
            let message = e.to_string();
            let api = ApiError::from(e);
            assert_eq!(
                (api.body.code.as_str(), api.status.as_u16()),
                (code, status)
            );
            if status != 500 {
                assert_eq!(api.body.message, message);
            }
        }
    }
}
