//! Who is looking at a page: the session cookie resolved to an active actor
//! (`store::sessions`), and the CSRF check of every form that changes something.
//!
//! The cookie is `HttpOnly` and `SameSite=Lax` (`Secure` when the public URL is https): a
//! script cannot read it and another site's form does not send it on a POST. The CSRF token is
//! a second, per-session secret each form echoes; a POST whose token is missing or wrong is
//! refused (403 `csrf_failed`) before anything else is read.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
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
    /// The public URL, if configured: a form posted from there is same-origin even when a
    /// proxy in front rewrote the `Host` header.
    pub public_origin: Option<String>,
    /// Sign-in requests per client address.
    pub sign_in_limit: ClientLimit,
}

impl WebSettings {
    pub fn from_config(cfg: &crate::server::Config) -> WebSettings {
        let public_url = cfg.notices.public_url.as_deref();
        WebSettings {
            session_idle: cfg.notices.session_idle(),
            secure_cookie: public_url.is_some_and(|u| u.starts_with("https://")),
            public_origin: public_url.and_then(origin_of).map(str::to_owned),
            sign_in_limit: ClientLimit::new(SIGN_IN_REQUESTS_PER_CLIENT, SIGN_IN_WINDOW),
        }
    }

    /// The `Set-Cookie` value that gives the browser this session.
    pub fn session_cookie(&self, secret: &str) -> String {
        format!(
            "{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax{}",
            if self.secure_cookie { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that makes the browser forget its session.
    pub fn cleared_cookie(&self) -> String {
        format!(
            "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
            if self.secure_cookie { "; Secure" } else { "" }
        )
    }
}

/// Sign-in requests one client address may make in [`SIGN_IN_WINDOW`].
pub const SIGN_IN_REQUESTS_PER_CLIENT: usize = 20;
pub const SIGN_IN_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// Clients tracked at most; beyond, the addresses with no request in the window are forgotten,
/// then (under a flood from many addresses) all of them: memory stays bounded.
const MAX_CLIENTS: usize = 10_000;

/// A sliding-window count of requests per client address, in memory (one process; a restart
/// forgets it, which the per-address limit in the store does not).
#[derive(Debug)]
pub struct ClientLimit {
    per_window: usize,
    window: chrono::Duration,
    seen: std::sync::Mutex<HashMap<Option<IpAddr>, VecDeque<DateTime<Utc>>>>,
}

impl ClientLimit {
    pub fn new(per_window: usize, window: chrono::Duration) -> ClientLimit {
        ClientLimit {
            per_window,
            window,
            seen: Default::default(),
        }
    }

    /// Counts a request from `client` at `now`; false when it is over the limit (and then not
    /// counted). Requests whose address is unknown share one count.
    pub fn allow(&self, client: Option<IpAddr>, now: DateTime<Utc>) -> bool {
        let since = now - self.window;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_CLIENTS && !seen.contains_key(&client) {
            seen.retain(|_, times| times.back().is_some_and(|t| *t > since));
            if seen.len() >= MAX_CLIENTS {
                seen.clear();
            }
        }
        let times = seen.entry(client).or_default();
        while times.front().is_some_and(|t| *t <= since) {
            times.pop_front();
        }
        if times.len() >= self.per_window {
            return false;
        }
        times.push_back(now);
        true
    }
}

/// `scheme://host[:port]` of a URL, without path.
pub fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty() || rest.is_empty() {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..scheme.len() + 3 + end])
}

/// Whether a form posted without a session comes from this site: its `Origin` (or, lacking
/// one, its `Referer`) names this server's host or its public URL. A request with neither is
/// allowed (old browsers and privacy settings drop them; the forms that use this change
/// nothing a third party could profit from without the mail).
pub fn same_origin(headers: &HeaderMap, settings: &WebSettings) -> bool {
    let sender = match headers.get(header::ORIGIN) {
        Some(o) => o.to_str().ok().map(str::to_owned),
        None => match headers.get(header::REFERER) {
            Some(r) => r
                .to_str()
                .ok()
                .map(|r| origin_of(r).unwrap_or("").to_owned()),
            None => return true,
        },
    };
    let Some(sender) = sender else { return false };
    if settings
        .public_origin
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case(&sender))
    {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (sender.split_once("://"), host) {
        (Some((_, authority)), Some(host)) => {
            !host.is_empty() && authority.eq_ignore_ascii_case(host)
        }
        _ => false,
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
        if !token.is_some_and(|t| same_secret(t, &viewer.csrf_token)) {
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
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
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
    fn the_client_limit_slides() {
        let t0 = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 1, 9, 0, 0).unwrap();
        let limit = ClientLimit::new(2, chrono::Duration::minutes(15));
        let a = Some("192.0.2.1".parse().unwrap());
        let b = Some("192.0.2.2".parse().unwrap());
        assert!(limit.allow(a, t0));
        assert!(limit.allow(a, t0 + chrono::Duration::minutes(5)));
        assert!(!limit.allow(a, t0 + chrono::Duration::minutes(10)));
        assert!(limit.allow(b, t0 + chrono::Duration::minutes(10)));
        // The first request leaves the window; the refused one was not counted.
        assert!(limit.allow(a, t0 + chrono::Duration::minutes(15)));
        assert!(!limit.allow(a, t0 + chrono::Duration::minutes(16)));
    }

    #[test]
    fn origins_are_compared_with_the_host() {
        let settings = |public: Option<&str>| WebSettings {
            session_idle: chrono::Duration::hours(8),
            secure_cookie: false,
            public_origin: public.map(str::to_owned),
            sign_in_limit: ClientLimit::new(1, chrono::Duration::minutes(1)),
        };
        let headers = |pairs: &[(header::HeaderName, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(k.clone(), v.parse().unwrap());
            }
            h
        };
        let none = settings(None);
        let host = (header::HOST, "127.0.0.1:8080");
        assert!(same_origin(&headers(std::slice::from_ref(&host)), &none));
        assert!(same_origin(
            &headers(&[host.clone(), (header::ORIGIN, "http://127.0.0.1:8080")]),
            &none
        ));
        assert!(!same_origin(
            &headers(&[host.clone(), (header::ORIGIN, "https://evil.example")]),
            &none
        ));
        assert!(!same_origin(
            &headers(&[host.clone(), (header::ORIGIN, "null")]),
            &none
        ));
        assert!(same_origin(
            &headers(&[
                host.clone(),
                (header::REFERER, "http://127.0.0.1:8080/connexion?x")
            ]),
            &none
        ));
        assert!(!same_origin(
            &headers(&[
                host.clone(),
                (header::REFERER, "http://127.0.0.1:8080.evil.example/")
            ]),
            &none
        ));
        let public = settings(Some("https://jalon.example.be"));
        assert!(same_origin(
            &headers(&[host, (header::ORIGIN, "https://jalon.example.be")]),
            &public
        ));
        assert_eq!(
            origin_of("https://j.example.be/a?b"),
            Some("https://j.example.be")
        );
        assert_eq!(
            origin_of("https://j.example.be"),
            Some("https://j.example.be")
        );
        assert_eq!(origin_of("/relative"), None);
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
    }
}
