//! The caller: who the token belongs to, and the opt-in to the daily digest of open tasks.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Authed;
use super::body::Body;
use super::error::{ApiError, ErrorBody};
use crate::server::AppState;
use store::actors::ActorInfo;

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    /// Receives, each working day from 07:00 (Brussels), the list of the open tasks of its roles.
    pub digest: bool,
}

impl From<ActorInfo> for Me {
    fn from(a: ActorInfo) -> Self {
        Me {
            id: a.id,
            name: a.name,
            email: a.email,
            roles: a.roles,
            digest: a.digest,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestChoice {
    pub enabled: bool,
}

/// The actor the token belongs to.
#[utoipa::path(get, path = "/me", tag = "me", responses((status = 200, body = Me)))]
pub async fn get(who: Authed) -> Json<Me> {
    Json(who.0.into())
}

/// Turns the caller's daily digest of open tasks on or off.
#[utoipa::path(put, path = "/me/digest", request_body = DigestChoice, tag = "me",
    responses((status = 200, body = Me), (status = 422, body = ErrorBody)))]
pub async fn digest(
    State(state): State<AppState>,
    who: Authed,
    Body(choice): Body<DigestChoice>,
) -> Result<Json<Me>, ApiError> {
    state.store.set_digest(&who.0.id, choice.enabled).await?;
    let mut me: Me = who.0.into();
    me.digest = choice.enabled;
    Ok(Json(me))
}
