//! The HTTP API under `/api/v1`: JSON in and out, bearer tokens, one error shape. Routes are
//! registered through utoipa-axum so the OpenAPI document is built from the same list.

mod auth;
mod body;
mod cases;
pub mod error;
mod me;
mod notices;
mod operator;
mod tasks;
mod workflows;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "jalon", description = "Workflow server for the legal procedures of school steering (FWB)"),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The `/api/v1` routes and the OpenAPI document that describes exactly them.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(cases::start, cases::list))
        .routes(routes!(cases::get))
        .routes(routes!(cases::event))
        .routes(routes!(cases::history))
        .routes(routes!(tasks::mine))
        .routes(routes!(me::get))
        .routes(routes!(me::digest))
        .routes(routes!(workflows::list, workflows::deploy))
        .routes(routes!(workflows::versions))
        .routes(routes!(operator::stuck))
        .routes(routes!(notices::of_case))
        .routes(routes!(notices::eml))
        .routes(routes!(notices::list))
        .routes(routes!(notices::retry))
        .split_for_parts()
}
