//! Every API request carries a bearer token; the extractor resolves it to an active actor.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::server::AppState;
use crate::store::actors::ActorInfo;

/// The authenticated actor of a request.
pub struct Authed(pub ActorInfo);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        let actor = state
            .store
            .authenticate(token)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Authed(actor))
    }
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
