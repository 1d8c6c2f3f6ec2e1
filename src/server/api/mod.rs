//! The HTTP API under `/api/v1`: JSON in and out, bearer tokens, one error shape. Routes are
//! registered through utoipa-axum so the OpenAPI document is built from the same list.

mod auth;
mod body;
mod case_changes;
pub(crate) mod cases;
pub mod codes;
pub(crate) mod documents;
pub mod error;
mod me;
mod migrations;
mod notices;
pub(crate) mod operator;
mod tasks;
mod verify;
pub mod views;
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
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(cases::start, cases::list))
        .routes(routes!(cases::get))
        .routes(routes!(cases::event))
        .routes(routes!(cases::history))
        .routes(routes!(case_changes::correct))
        .routes(routes!(case_changes::extend))
        .routes(routes!(case_changes::suspend))
        .routes(routes!(case_changes::resume))
        .routes(routes!(case_changes::close))
        .routes(routes!(cases::changes))
        .routes(routes!(verify::case))
        .merge(documents::routes())
        .routes(routes!(tasks::mine))
        .routes(routes!(me::get))
        .routes(routes!(me::digest))
        .routes(routes!(workflows::list, workflows::deploy))
        .routes(routes!(workflows::versions))
        .routes(routes!(migrations::migrate))
        .routes(routes!(operator::stuck))
        .routes(routes!(operator::stuck_summary))
        .routes(routes!(notices::of_case))
        .routes(routes!(notices::eml))
        .routes(routes!(notices::list))
        .routes(routes!(notices::retry))
        .split_for_parts();
    let mut doc = doc;
    common_responses(&mut doc);
    (router, without_nul(doc))
}

/// Every string of the API refuses the NUL character (PostgreSQL cannot store it; the
/// extractors of `body.rs` refuse it on both backends): the document says so with a pattern
/// on each string that has none (those that have one exclude it themselves).
fn without_nul(doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                let string = match map.get("type") {
                    Some(serde_json::Value::String(t)) => t == "string",
                    Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "string"),
                    _ => false,
                };
                if string && !map.contains_key("pattern") && !map.contains_key("enum") {
                    map.insert("pattern".into(), NO_NUL.into());
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&doc) else {
        return doc;
    };
    walk(&mut value);
    serde_json::from_value(value).unwrap_or(doc)
}

/// A string without the NUL character.
const NO_NUL: &str = "^[^\\x00]*$";

/// What any operation may answer besides its own responses, all in the one error shape: 401
/// without a valid token, 400 for an unreadable path, query or JSON body, 422 for a query or
/// body of the wrong shape, 413 for a body over the limit, 503 (with `Retry-After`) while the
/// database is unavailable or its disk full. And every `{name}` of a path is declared as a
/// path parameter (a string unless the operation says otherwise).
fn common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
    use utoipa::openapi::{
        ContentBuilder, HeaderBuilder, Ref, RefOr, Required, ResponseBuilder, Type,
        schema::ObjectBuilder,
    };
    let error = |description: &str| {
        ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let names: Vec<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            let params = op.parameters.get_or_insert_with(Vec::new);
            for name in &names {
                let declared = params.iter().any(|p| {
                    matches!(p, RefOr::T(Parameter { name: n, parameter_in: ParameterIn::Path, .. }) if n == name)
                });
                if !declared {
                    params.push(RefOr::T(
                        ParameterBuilder::new()
                            .name(*name)
                            .parameter_in(ParameterIn::Path)
                            .required(Required::True)
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                            .build(),
                    ));
                }
            }
            let has_query = params.iter().any(|p| {
                matches!(
                    p,
                    RefOr::T(Parameter {
                        parameter_in: ParameterIn::Query,
                        ..
                    })
                )
            });
            let has_body = op.request_body.is_some();
            let responses = &mut op.responses.responses;
            let mut add = |status: &str, response: ResponseBuilder| {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::T(response.build()));
            };
            add("400", error("unreadable request: path, query or JSON body"));
            add("401", error("no valid `Authorization: Bearer <token>`"));
            if has_body || has_query {
                add("422", error("a query or body of the wrong shape"));
            }
            if has_body {
                add("413", error("the body is larger than the server accepts"));
            }
            add(
                "503",
                error("the database is unavailable (`database_unavailable`) or its disk full (`storage_full`)")
                    .header(
                        "Retry-After",
                        HeaderBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                            .description(Some("seconds after which to try again"))
                            .build(),
                    ),
            );
        }
    }
}
