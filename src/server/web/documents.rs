//! The documents of a case on its page: the list (name, type, size, date, who, download) and
//! the upload form (`POST /cases/{id}/documents`, `multipart/form-data` with the session's
//! CSRF token before the file), and the download (`GET /cases/{id}/documents/{doc}`). The
//! rules are the API's (`api::documents`): reading as the case, uploading with a role of its
//! workflow or `admin`, the same size limit and the same checks of the bytes.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

use super::error::PageError;
use super::form::FieldError;
use super::layout::{Nav, page, responsive_table};
use super::session::{Viewer, query_escape};
use crate::server::AppState;
use crate::server::api::cases::readable;
use crate::server::api::codes::ErrorCode;
use crate::server::api::documents::{file_response, may_upload, receive};
use crate::server::api::error::ApiError;
use store::entities::case;
use store::queries::HistoryView;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/cases/{id}/documents",
            // The upload counts the file's bytes against the configured limit itself.
            post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/cases/{id}/documents/{doc}", get(download))
}

fn documents_link(case_id: &str) -> String {
    format!("/cases/{}/documents", query_escape(case_id))
}

/// "12,5 Ko", "3,2 Mo": sizes as a French reader writes them.
fn size_fr(bytes: i64) -> String {
    let b = bytes as f64;
    let (value, unit) = if b < 1024.0 {
        return format!("{bytes} octets");
    } else if b < 1024.0 * 1024.0 {
        (b / 1024.0, "Ko")
    } else {
        (b / (1024.0 * 1024.0), "Mo")
    };
    format!("{value:.1} {unit}").replace('.', ",")
}

/// The kind of a document in words.
fn kind_fr(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => "PDF",
        "application/vnd.oasis.opendocument.text" => "Texte ODT",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "Texte DOCX",
        "image/png" => "Image PNG",
        "image/jpeg" => "Image JPEG",
        _ => "Document",
    }
}

/// The "Documents" section of the case page.
pub(super) async fn section(
    state: &AppState,
    viewer: &Viewer,
    row: &case::Model,
) -> Result<Markup, PageError> {
    let documents = state.store.documents(&row.id).await?;
    let ids: Vec<String> = documents.iter().map(|d| d.uploaded_by.clone()).collect();
    let names = state.store.actor_names(&ids).await?;
    let may_add =
        row.status == case::Status::Open && may_upload(state, &viewer.actor, row).await.is_ok();
    let limit = size_fr(state.max_document_bytes as i64);
    let rows = documents.iter().map(|d| {
        let at = chrono::DateTime::from_timestamp_millis(d.uploaded_at).unwrap_or_default();
        vec![
            html! {
                a href=(format!("{}/{}", documents_link(&row.id), query_escape(&d.id))) download {
                    (d.file_name)
                }
                // What a `document` input of an action is given.
                br;
                span.muted { "identifiant " code { (d.id) } }
            },
            html! { (kind_fr(&d.content_type)) ", " (size_fr(d.size)) },
            html! { (super::case::when(at)) },
            html! { (names.get(&d.uploaded_by).map_or(d.uploaded_by.as_str(), String::as_str)) },
        ]
    });
    Ok(html! {
        section aria-labelledby="documents" {
            h2 id="documents" { "Documents joints" }
            @if documents.is_empty() {
                p { "Aucun document joint à ce dossier." }
            } @else {
                (responsive_table(&["Document", "Type et taille", "Joint", "Par"], rows))
            }
            // What the `document` fields of the actions' forms offer (`form.rs`).
            datalist id="documents-du-dossier" {
                @for d in &documents { option value=(d.id) { (d.file_name) } }
            }
            @if may_add {
                form.action method="post" action=(documents_link(&row.id))
                    enctype="multipart/form-data" aria-labelledby="documents-joindre" {
                    h3 id="documents-joindre" { "Joindre un document" }
                    // Before the file: the token is checked before the file is read.
                    (viewer.csrf_field())
                    div.field {
                        label for="documents-fichier" { "Fichier" }
                        input type="file" id="documents-fichier" name="file" required
                            aria-describedby="documents-aide"
                            accept=".pdf,.odt,.docx,.png,.jpg,.jpeg";
                        p.hint id="documents-aide" {
                            "PDF, ODT, DOCX, PNG ou JPEG, " (limit) " au plus. "
                            "Le document est gardé dans le dossier et noté dans son historique."
                        }
                    }
                    button type="submit" { "Joindre le document" }
                }
            }
        }
    })
}

/// An action refused because a `document` field names no document of the case: the French
/// sentence, beside that field.
pub(super) fn unknown_document(details: &serde_json::Value) -> (Option<FieldError>, String) {
    let message = ErrorCode::UnknownDocument.message_fr().to_owned();
    let field = details["input"].as_str().map(|input| FieldError {
        input: input.to_owned(),
        message: message.clone(),
    });
    (field, message)
}

/// A history row that records an upload: the file's name, type, size and fingerprint.
pub(super) fn history_entry(h: &HistoryView) -> Markup {
    let text = |k: &str| h.inputs.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let size = h.inputs.get("size").and_then(|v| v.as_i64()).unwrap_or(0);
    html! {
        dl.facts {
            dt { "Fichier" } dd { (text("file_name")) }
            dt { "Type et taille" } dd { (kind_fr(text("content_type"))) ", " (size_fr(size)) }
            dt { "Empreinte SHA-256" } dd { code { (text("sha256")) } }
        }
    }
}

/// `POST /cases/{id}/documents`: the session, then reading the case, then the right to add,
/// then the CSRF token (before the file), then the file; back to the case's documents.
async fn upload(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, Response> {
    let refused = |e: ApiError| refusal(&viewer, &id, e);
    let row = state
        .store
        .case_row(&id)
        .await
        .map_err(|e| refused(e.into()))?;
    may_upload(&state, &viewer.actor, &row)
        .await
        .map_err(refused)?;
    let form = form.map_err(|e| refused(ApiError::new(ErrorCode::InvalidUpload, e.body_text())))?;
    let received = receive(
        form,
        "file",
        state.max_document_bytes,
        Some(&viewer.csrf_token),
    )
    .await
    .map_err(refused)?;
    received
        .attach(&state, &id, &viewer.actor.id)
        .await
        .map_err(refused)?;
    Ok(Redirect::to(&format!("/cases/{}#documents", query_escape(&id))).into_response())
}

/// A refused upload: the reason in French, the code, the way back to the case.
fn refusal(viewer: &Viewer, case_id: &str, e: ApiError) -> Response {
    let status = e.status;
    if status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN {
        // Nothing of the case is shown to who may not read it.
        return PageError::from(e).into_response();
    }
    let body = html! {
        h1 { "Document refusé" }
        div.refusal role="alert" {
            p { (e.body.message_fr) }
            p { "Rien n'a été joint au dossier." }
        }
        p.code { "Code : " code { (e.body.code) } }
        p { a href=(format!("/cases/{}#documents", query_escape(case_id))) { "Retour au dossier" } }
    };
    (
        status,
        page("Document refusé", Some(viewer), Nav::None, body),
    )
        .into_response()
}

/// `GET /cases/{id}/documents/{doc}`: the bytes, with the API's rule and headers.
async fn download(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, doc)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let row = state.store.case_row(&id).await?;
    readable(&state, &viewer.actor, &row).await?;
    Ok(file_response(state.store.document(&id, &doc).await?))
}

#[cfg(test)]
mod tests {
    use super::size_fr;

    #[test]
    fn sizes_read_in_french() {
        assert_eq!(size_fr(999), "999 octets");
        assert_eq!(size_fr(12_800), "12,5 Ko");
        assert_eq!(size_fr(20 * 1024 * 1024), "20,0 Mo");
    }
}
