//! Every API request carries a bearer token; the extractor resolves it to an active actor.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::server::AppState;
use store::actors::ActorInfo;

/// The authenticated actor of a request.
pub struct Authed(pub ActorInfo);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .ok_or_else(ApiError::unauthorized)?;
        let actor = state
            .store
            .authenticate(token)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Authed(actor))
    }
}

/// The token of `Bearer <token>`; the scheme's name is case-insensitive (RFC 7235 §2.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl Authed {
    /// Refuses (403) unless the actor holds `role`.
    pub fn require(&self, role: &str) -> Result<(), ApiError> {
        if self.0.has(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this action needs the role '{role}'"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn the_scheme_is_case_insensitive() {
        for v in ["Bearer t0k", "bearer t0k", "BEARER t0k", "bEaReR   t0k "] {
            assert_eq!(bearer(v), Some("t0k"), "{v}");
        }
        for v in ["Basic t0k", "Bearer", "Bearer ", "Bearert0k", "t0k"] {
            assert_eq!(bearer(v), None, "{v}");
        }
    }
}
