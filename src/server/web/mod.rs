//! The French pages people use in a browser, served by `jalon serve` on the API's port: HTML
//! rendered on the server (maud, checked and escaped at compile time), plain forms that work
//! without JavaScript (POST, then a redirect to a GET), a session cookie opened by a sign-in
//! link, and a CSRF token on every form that changes something. Pages authorize exactly as the
//! API does: they call the same store functions and the same role checks (`api::cases`).

mod assets;
mod case;
mod case_admin;
pub mod diagram;
mod documents;
mod error;
mod form;
mod layout;
mod migration;
mod operator;
mod procedures;
pub(crate) mod session;
mod signin;
mod start;
mod tasks;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::PageError;
pub use layout::{Nav, page};
pub use session::{CsrfForm, Viewer};

use super::AppState;

/// No inline script or style, nothing from another origin, no framing: an injected tag can
/// neither run nor load anything.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Every page route, with the headers every page carries.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(assets::routes())
        .merge(signin::routes())
        .merge(tasks::routes())
        .merge(case::routes())
        .merge(case_admin::routes())
        .merge(documents::routes())
        .merge(start::routes())
        .merge(operator::routes())
        .merge(procedures::routes())
        .merge(migration::routes())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}
