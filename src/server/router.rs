//! Every route of the server and the layers every request passes through.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

use super::api::error::{ApiError, ErrorCode};
use super::{AppState, api, metrics, probes, web};

/// Request bodies above this are refused with 413 (a workflow with its templates fits).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let limits = Limits {
        documents: state.max_document_bytes,
    };
    let (api, openapi) = api::routes();
    let openapi = Arc::new(openapi);
    let routes = Router::new()
        .nest("/api/v1", api)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { axum::Json((*doc).clone()) }
            }),
        )
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(metrics::metrics_page))
        .merge(web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { ApiError::of(ErrorCode::MethodNotAllowed) })
        .with_state(state);
    guarded(routes, limits)
}

/// An unknown path: a French page for a browser outside the API, else the API's JSON error.
async fn not_found(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if browser && !uri.path().starts_with("/api/") {
        web::PageError::not_found().into_response()
    } else {
        ApiError::of(ErrorCode::RouteNotFound).into_response()
    }
}

/// Room for a document upload's form around the document: part headers, boundaries and the
/// pages' CSRF field.
pub const UPLOAD_FORM_OVERHEAD: usize = 64 * 1024;

/// The body limits that depend on the configuration.
#[derive(Clone, Copy)]
struct Limits {
    /// The largest document a case accepts (`api/documents.rs` counts its bytes exactly).
    documents: usize,
}

/// A document upload, by the API or a page: its body may be as large as a document and its
/// form; every other body [`BODY_LIMIT`].
fn is_upload(request: &axum::extract::Request) -> bool {
    request.method() == axum::http::Method::POST && request.uri().path().ends_with("/documents")
}

/// What every request passes through, whatever its route: the body limit (413, in the API's
/// error shape) and the panic guard (a JSON 500 with a request id instead of a dropped
/// connection). The limit layer cuts any body past the largest limit; the extractors of
/// other routes read at most [`BODY_LIMIT`] (axum's default limit, `CsrfForm`).
fn guarded(routes: Router, limits: Limits) -> Router {
    routes
        .layer(RequestBodyLimitLayer::new(
            BODY_LIMIT.max(limits.documents.saturating_add(UPLOAD_FORM_OVERHEAD)),
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            refuse_announced_too_large,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// A body whose `Content-Length` is over its route's limit is refused before it is read. The
/// limit layer would do it too, in plain text; a body without a length is cut by that layer
/// as it is read, and the JSON extractors answer it in the error shape (`api/body.rs`).
async fn refuse_announced_too_large(
    axum::extract::State(limits): axum::extract::State<Limits>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if is_upload(&request) {
        let limit = limits.documents.saturating_add(UPLOAD_FORM_OVERHEAD);
        if announced.is_some_and(|n| n > limit as u64) {
            return api::documents::too_large(limits.documents).into_response();
        }
    } else if announced.is_some_and(|n| n > BODY_LIMIT as u64) {
        return ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the request body is larger than the server accepts ({BODY_LIMIT} bytes)"),
        )
        .into_response();
    }
    next.run(request).await
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    tracing::error!(%request_id, "a request handler panicked");
    ApiError::new(
        ErrorCode::InternalError,
        format!("the server failed on this request (request id {request_id}); nothing was changed"),
    )
    .with_details(serde_json::json!({ "request_id": request_id }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn an_unknown_path_answers_a_french_page_to_a_browser_and_json_elsewhere() {
        let mut browser = axum::http::HeaderMap::new();
        browser.insert(
            header::ACCEPT,
            "text/html,application/xhtml+xml".parse().unwrap(),
        );
        let page = not_found("/nulle-part".parse().unwrap(), browser.clone()).await;
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        let body = to_bytes(page.into_body(), 1 << 16).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("Cette page n'existe pas."), "{body}");
        assert!(body.contains("route_not_found"), "{body}");
        for (path, headers) in [
            ("/api/v1/nulle-part", browser),
            ("/nulle-part", axum::http::HeaderMap::new()),
        ] {
            let r = not_found(path.parse().unwrap(), headers).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND);
            let body = to_bytes(r.into_body(), 1 << 16).await.unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["code"], "route_not_found", "{path}");
        }
    }

    /// No route panics on purpose; this one stands for the bug that would.
    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_a_request_id() {
        let routes = Router::new().route(
            "/boom",
            get(|| async {
                if true {
                    panic!("a bug in a handler");
                }
                "unreachable"
            }),
        );
        let response = guarded(routes, Limits { documents: 0 })
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "internal_error");
        let id = body["details"]["request_id"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{body}");
        assert!(body["message"].as_str().unwrap().contains(id), "{body}");
    }
}
