//! Signing in without a password: `/connexion` asks for an address and queues a single-use
//! link through the outbox (`store::sessions`); the link's page asks for one click, whose POST
//! opens the session and sets the cookie; `/deconnexion` ends it.
//!
//! Opening the link does not sign in by itself: mail scanners and link previews fetch every
//! link of a message, and would use it up (or sign in on someone's behalf). Only the POST of
//! its page does. The forms posted without a session cannot carry a CSRF token; their `Origin`
//! (or `Referer`) must be this site, so that another site cannot sign a visitor in under an
//! account of its own choosing.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::PageError;
use super::layout::{Nav, page};
use super::session::{self, COOKIE, CsrfForm, query_escape};
use crate::server::AppState;
use crate::server::api::codes::ErrorCode;
use store::sessions::{LINK_VALIDITY, LinkRequest, safe_next_path};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/connexion", get(form).post(request))
        .route("/connexion/lien", post(redeem))
        .route("/connexion/lien/{jeton}", get(link_page))
        .route("/deconnexion", post(sign_out))
}

/// What the person reads after asking for a link, whether the address is known or not.
pub const SENT: &str = "Si cette adresse est connue, un lien de connexion vient d'y être envoyé. \
    Il est valable 15 minutes.";

/// Longer than any address (RFC 5321 allows 254): not looked up.
const MAX_EMAIL: usize = 320;

/// The first value of `name` in a query string or a form body.
fn param(encoded: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(encoded)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The sign-in page; someone already signed in goes on to where they were going.
async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let query = query.unwrap_or_default();
    let suite = param(query.as_bytes(), "suite");
    let next = suite.as_deref().and_then(safe_next_path);
    if session::current(&state, &headers).await?.is_some() {
        return Ok(Redirect::to(next.unwrap_or("/")).into_response());
    }
    // Set after a request for a link, and after signing out.
    let message = if param(query.as_bytes(), "envoye").is_some() {
        Some(SENT)
    } else if param(query.as_bytes(), "fin").is_some() {
        Some("Vous êtes déconnecté(e). À bientôt.")
    } else {
        None
    };
    Ok(sign_in_page(next, message, None, "").into_response())
}

fn sign_in_page(
    next: Option<&str>,
    message: Option<&str>,
    error: Option<&str>,
    email: &str,
) -> Markup {
    let minutes = LINK_VALIDITY.num_minutes();
    let body = html! {
        h1 { "Connexion" }
        @if let Some(m) = message {
            p.notice.success role="status" { (m) }
        }
        p {
            "jalon ne demande pas de mot de passe. Indiquez l'adresse électronique sous laquelle "
            "vous êtes inscrit(e) : vous y recevrez un lien qui vous connecte. Il est valable "
            (minutes) " minutes et ne sert qu'une fois."
        }
        form method="post" action="/connexion" novalidate {
            div.field {
                label for="email" { "Adresse électronique " span.required { "(obligatoire)" } }
                @if let Some(e) = error {
                    input type="email" id="email" name="email" value=(email) autocomplete="email"
                        required aria-required="true" aria-invalid="true"
                        aria-describedby="email-aide email-erreur";
                    p.error id="email-erreur" { (e) }
                } @else {
                    input type="email" id="email" name="email" value=(email) autocomplete="email"
                        required aria-required="true" aria-describedby="email-aide";
                }
                p.hint id="email-aide" { "Par exemple : prenom.nom@ecoles.example.be" }
            }
            @if let Some(n) = next {
                input type="hidden" name="suite" value=(n);
            }
            button type="submit" { "Recevoir un lien de connexion" }
        }
        p.muted {
            "Un lien déjà utilisé ou expiré ne fonctionne plus : demandez-en simplement un "
            "nouveau ici."
        }
    };
    page("Connexion", None, Nav::None, body)
}

/// The client's address, when the server was given it (`jalon serve` always is).
fn client_ip(ext: &Extensions) -> Option<std::net::IpAddr> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// Asks for a link. The answer is the same whether the address is known, unknown or has had
/// too many links: the page cannot tell who has an account.
async fn request(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: Extensions,
    body: Bytes,
) -> Result<Response, PageError> {
    if !session::same_origin(&headers, &state.web) {
        return Err(PageError::of(ErrorCode::CsrfFailed));
    }
    let now = state.clock.now();
    if !state.web.sign_in_limit.allow(client_ip(&ext), now) {
        tracing::warn!(client = ?client_ip(&ext), "sign-in requests over the limit of the client");
        return Ok(too_many());
    }
    let email = param(&body, "email").unwrap_or_default();
    let email = email.trim();
    let suite = param(&body, "suite");
    let next = suite.as_deref().and_then(safe_next_path);
    if email.is_empty() {
        let page = sign_in_page(
            next,
            None,
            Some("Indiquez votre adresse électronique."),
            email,
        );
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    if email.len() <= MAX_EMAIL && !email.contains('\0') {
        match state.store.request_sign_in(email, next, now).await? {
            LinkRequest::Queued { actor_id } => {
                tracing::info!(actor = %actor_id, "sign-in link queued");
            }
            LinkRequest::TooMany => {
                tracing::info!("sign-in link not sent: too many for this address")
            }
            LinkRequest::UnknownAddress => {}
        }
    }
    let mut to = "/connexion?envoye=1".to_owned();
    if let Some(n) = next {
        to.push_str("&suite=");
        to.push_str(&query_escape(n));
    }
    Ok(Redirect::to(&to).into_response())
}

fn too_many() -> Response {
    let minutes = session::SIGN_IN_WINDOW.num_minutes();
    let body = html! {
        h1 { "Trop de demandes" }
        p.refusal role="alert" {
            "Trop de demandes de connexion viennent de votre réseau. Réessayez dans "
            (minutes) " minutes ; rien n'a été envoyé."
        }
        p { a href="/connexion" { "Revenir à la page de connexion" } }
    };
    let retry_after = (minutes * 60).to_string();
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, retry_after)],
        page("Trop de demandes", None, Nav::None, body),
    )
        .into_response()
}

/// The page a link opens: one button, whose POST signs in. The token never leaves this site
/// (`Referrer-Policy: same-origin`: not `no-referrer`, under which browsers send the button's
/// POST with `Origin: null`, which the same-origin check must refuse).
async fn link_page(Path(token): Path<String>) -> Response {
    let Some(token) = Some(token).filter(|t| is_token(t)) else {
        return no_longer_valid(StatusCode::BAD_REQUEST);
    };
    let body = html! {
        h1 { "Connexion à jalon" }
        p { "Pour terminer votre connexion, confirmez ci-dessous. Ce lien ne sert qu'une fois." }
        form method="post" action="/connexion/lien" {
            input type="hidden" name="jeton" value=(token);
            button type="submit" { "Me connecter" }
        }
    };
    (
        [(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        )],
        page("Connexion à jalon", None, Nav::None, body),
    )
        .into_response()
}

/// A link's secret: 32 hex digits (anything else cannot be one; not looked up).
fn is_token(t: &str) -> bool {
    t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

fn no_longer_valid(status: StatusCode) -> Response {
    let body = html! {
        h1 { "Lien de connexion expiré" }
        p.refusal role="alert" {
            "Ce lien n'est plus valable : il a déjà servi, a dépassé ses "
            (LINK_VALIDITY.num_minutes()) " minutes, ou est incomplet."
        }
        p { a href="/connexion" { "Demander un nouveau lien de connexion" } }
    };
    (
        status,
        [(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        )],
        page("Lien de connexion expiré", None, Nav::None, body),
    )
        .into_response()
}

/// Uses the link: opens the session, sets its cookie and goes where the link leads. A
/// session this browser had is ended first.
async fn redeem(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    if !session::same_origin(&headers, &state.web) {
        return Err(PageError::of(ErrorCode::CsrfFailed));
    }
    let token = param(&body, "jeton").filter(|t| is_token(t));
    let Some(token) = token else {
        return Ok(no_longer_valid(StatusCode::BAD_REQUEST));
    };
    let now = state.clock.now();
    let Some((secret, session, next)) = state.store.redeem_sign_in(&token, now).await? else {
        return Ok(no_longer_valid(StatusCode::GONE));
    };
    if let Some(old) = session::cookie(&headers, COOKIE).filter(|s| !s.is_empty()) {
        state.store.end_web_session(old, now).await?;
    }
    tracing::info!(actor = %session.actor.id, "signed in");
    let to = next.as_deref().and_then(safe_next_path).unwrap_or("/");
    Ok((
        [(header::SET_COOKIE, state.web.session_cookie(&secret))],
        Redirect::to(to),
    )
        .into_response())
}

/// No field but the CSRF token.
#[derive(Debug, Deserialize)]
struct Nothing {}

/// Signs out: the session ends on the server (the cookie alone could be replayed otherwise)
/// and the browser forgets it.
async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: CsrfForm<Nothing>,
) -> Result<Response, PageError> {
    if let Some(secret) = session::cookie(&headers, COOKIE) {
        state
            .store
            .end_web_session(secret, state.clock.now())
            .await?;
    }
    tracing::info!(actor = %form.viewer.actor.id, "signed out");
    Ok((
        [(header::SET_COOKIE, state.web.cleared_cookie())],
        Redirect::to("/connexion?fin=1"),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_link_secrets_are_tokens() {
        assert!(is_token(&"ab".repeat(16)));
        assert!(!is_token(&"ab".repeat(15)));
        assert!(!is_token(&"ab".repeat(32)));
        assert!(!is_token(&"zz".repeat(16)));
        assert!(!is_token(""));
    }
}
