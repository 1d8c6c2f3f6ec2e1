//! Who is looking at a page: the session cookie resolved to an active actor
//! (`store::sessions`), and the CSRF check of every form that changes something.
//!
//! The cookie is `HttpOnly` and `SameSite=Lax` (`Secure` when the public URL is https): a
//! script cannot read it and another site's form does not send it on a POST. The CSRF token is
//! a second, per-session secret each form echoes; a POST whose token is missing or wrong is
//! refused (403 `csrf_failed`) before anything else is read.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::de::DeserializeOwned;

use super::error::PageError;
use crate::server::AppState;
use crate::server::api::codes::ErrorCode;
use store::actors::ActorInfo;
use store::sessions::WebSession;

/// The cookie that carries the session's secret.
pub const COOKIE: &str = "jalon_session";

/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";

/// How sessions behave, from the configuration.
#[derive(Debug)]
pub struct WebSettings {
    /// A session not used for this long is over.
    pub session_idle: chrono::Duration,
    /// `Secure` cookies: the public URL is https.
    pub secure_cookie: bool,
}

impl WebSettings {
    pub fn from_config(cfg: &crate::server::Config) -> WebSettings {
        WebSettings {
            session_idle: chrono::Duration::hours(8),
            secure_cookie: cfg
                .notices
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
        }
    }
}

/// A signed-in actor. Extracting it from a request without a valid session redirects a GET to
/// the sign-in page (and back here afterwards); other methods are refused with 401.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub actor: ActorInfo,
    pub csrf_token: String,
}

impl Viewer {
    /// The hidden field every changing form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name=(CSRF_FIELD) value=(self.csrf_token); }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The session of this request, if it carries a valid one.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Viewer>, PageError> {
    let Some(secret) = cookie(headers, COOKIE).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let session = state
        .store
        .web_session(secret, state.web.session_idle, state.clock.now())
        .await?;
    Ok(session.map(|WebSession { actor, csrf_token }| Viewer { actor, csrf_token }))
}

/// What an unauthenticated page request gets.
pub enum SignInFirst {
    Redirect(String),
    Page(PageError),
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        match self {
            SignInFirst::Redirect(to) => Redirect::to(&to).into_response(),
            SignInFirst::Page(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = SignInFirst;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, SignInFirst> {
        match current(state, &parts.headers).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) if parts.method == axum::http::Method::GET => {
                let here = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                Err(SignInFirst::Redirect(format!(
                    "/connexion?suite={}",
                    query_escape(here)
                )))
            }
            Ok(None) => Err(SignInFirst::Page(PageError::of(ErrorCode::Unauthenticated))),
            Err(e) => Err(SignInFirst::Page(e)),
        }
    }
}

/// A form posted by a signed-in actor with the right CSRF token, with its fields as `T`
/// (`application/x-www-form-urlencoded`; the token field is read, then left to `T`, which
/// should ignore unknown fields or declare `_csrf`).
pub struct CsrfForm<T> {
    pub viewer: Viewer,
    pub form: T,
    /// Every field as posted, in order (for forms generated from a workflow).
    pub fields: Vec<(String, String)>,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let bytes = axum::body::to_bytes(body, crate::server::BODY_LIMIT)
            .await
            .map_err(|_| PageError::of(ErrorCode::BodyTooLarge).into_response())?;
        let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
        let token = fields
            .iter()
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.as_str());
        if !token.is_some_and(|t| constant_time_eq(t.as_bytes(), viewer.csrf_token.as_bytes())) {
            return Err(PageError::of(ErrorCode::CsrfFailed).into_response());
        }
        let form: T = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            PageError::new(
                ErrorCode::InvalidBody,
                format!("Le formulaire envoyé est incomplet ou mal formé : {e}"),
            )
            .into_response()
        })?;
        Ok(CsrfForm {
            viewer,
            form,
            fields,
        })
    }
}

/// Compares two secrets in a time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Escapes a query value (`application/x-www-form-urlencoded`).
pub fn query_escape(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; jalon_session=s3cr3t".parse().unwrap());
        h.append(header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE), Some("s3cr3t"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "jalon"), None);
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
