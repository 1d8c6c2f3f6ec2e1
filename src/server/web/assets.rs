//! The files pages load, served by jalon itself (nothing from another origin): the stylesheet,
//! embedded at compile time, with a long cache lifetime under a name that changes with it.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::server::AppState;

const CSS: &str = include_str!("static/jalon.css");

/// The stylesheet's path; its query changes with its content, so it can be cached for a year.
pub fn css_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let hash = hex::encode(Sha256::digest(CSS.as_bytes()));
        format!("/static/jalon.css?v={}", &hash[..12])
    })
}

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/static/jalon.css",
        get(|| async {
            (
                [
                    (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                    (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                ],
                CSS,
            )
                .into_response()
        }),
    )
}
