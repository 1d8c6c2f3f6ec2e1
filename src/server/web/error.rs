//! A refused or failed page request as a French page: the same status and stable code as the
//! API would answer (`api::codes`), the actor's sentence, and nothing changed.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::layout::{Nav, page};
use crate::server::api::codes::ErrorCode;
use crate::server::api::error::ApiError;

#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub code: String,
    /// The French sentence shown.
    pub message: String,
}

impl PageError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        PageError {
            status: code.status(),
            code: code.as_str().to_owned(),
            message: message.into(),
        }
    }

    pub fn of(code: ErrorCode) -> Self {
        PageError::new(code, code.message_fr())
    }

    pub fn forbidden() -> Self {
        PageError::of(ErrorCode::Forbidden)
    }

    pub fn not_found() -> Self {
        PageError::of(ErrorCode::RouteNotFound)
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError {
            status: e.status,
            code: e.body.code,
            message: e.body.message_fr,
        }
    }
}

impl From<store::Error> for PageError {
    fn from(e: store::Error) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::FORBIDDEN => "Accès refusé",
            StatusCode::NOT_FOUND => "Page introuvable",
            StatusCode::CONFLICT => "Action impossible maintenant",
            StatusCode::UNPROCESSABLE_ENTITY => "Données refusées",
            StatusCode::TOO_MANY_REQUESTS => "Trop de demandes",
            StatusCode::SERVICE_UNAVAILABLE => "Service momentanément indisponible",
            _ => "Erreur",
        };
        let body = html! {
            h1 { (title) }
            p.refusal role="alert" { (self.message) }
            p.code { "Code : " code { (self.code) } }
            p { a href="/" { "Retour à mes tâches" } }
        };
        (self.status, page(title, None, Nav::None, body)).into_response()
    }
}
