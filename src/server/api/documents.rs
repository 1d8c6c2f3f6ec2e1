//! The documents of a case: upload (`multipart/form-data`, field `file`), list, download.
//! Reading follows the rule of reading the case; uploading needs a role of the case's
//! workflow (someone who takes part in the procedure) or `admin`. What is kept, and how it is
//! recognised, is the store's (`store::documents`).

use axum::Json;
use axum::extract::DefaultBodyLimit;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Authed;
use super::body::Path;
use super::cases::readable;
use super::error::{ApiError, ErrorBody, ErrorCode};
use crate::server::AppState;
use store::actors::{ADMIN, ActorInfo};
use store::documents::{DocumentMeta, Upload};
use store::entities::case;

/// The routes of this module.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload, list))
        .routes(routes!(download))
        // An upload counts its bytes against the configured limit itself (`receive`), in
        // place of axum's default 2 MB (the router's layers bound the whole body).
        .layer(DefaultBodyLimit::disable())
}

/// A document of a case, without its bytes.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    /// Give it as the value of a `document` input of an event.
    pub id: String,
    pub case_id: String,
    pub file_name: String,
    /// Found from the bytes: PDF, ODT, DOCX, PNG or JPEG.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the bytes, hex; also in the case's history row that records the upload.
    pub sha256: String,
    /// The actor's id.
    pub uploaded_by: String,
    pub uploaded_at: chrono::DateTime<chrono::Utc>,
}

impl From<DocumentMeta> for DocumentView {
    fn from(d: DocumentMeta) -> Self {
        DocumentView {
            id: d.id,
            case_id: d.case_id,
            file_name: d.file_name,
            content_type: d.content_type,
            size: d.size,
            sha256: d.sha256,
            uploaded_by: d.uploaded_by,
            uploaded_at: chrono::DateTime::from_timestamp_millis(d.uploaded_at).unwrap_or_default(),
        }
    }
}

/// The upload form.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The document; its file name is kept (without folders), its type found from its bytes.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// May attach documents to this case: a role of its workflow, or `admin`. Checked after the
/// read rule, so that someone who may not read the case learns nothing more.
pub(crate) async fn may_upload(
    state: &AppState,
    who: &ActorInfo,
    row: &case::Model,
) -> Result<(), ApiError> {
    readable(state, who, row).await?;
    let d = state.store.version(row.version_id).await?;
    if who.has(ADMIN) || d.def.roles.keys().any(|r| who.has(r)) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "adding a document needs a role of the case's workflow or 'admin'",
        ))
    }
}

/// A file received from a form, within the size limit.
pub(crate) struct Received {
    pub file_name: String,
    pub declared_type: Option<String>,
    pub bytes: Vec<u8>,
}

impl Received {
    /// Attaches the file to the case as `by` (the store checks and keeps it).
    pub async fn attach(
        self,
        state: &AppState,
        case_id: &str,
        by: &str,
    ) -> Result<DocumentMeta, ApiError> {
        let upload = Upload {
            file_name: &self.file_name,
            declared_type: self.declared_type.as_deref(),
            bytes: self.bytes,
        };
        let (meta, _) = state
            .store
            .add_document(case_id, by, upload, state.clock.now())
            .await?;
        Ok(meta)
    }
}

fn unreadable(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::of(ErrorCode::BodyTooLarge);
    }
    ApiError::new(
        ErrorCode::InvalidUpload,
        format!("the multipart body cannot be read: {}", e.body_text()),
    )
}

pub(crate) fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::DocumentTooLarge,
        format!("the document is larger than {limit} bytes"),
    )
    .with_details(serde_json::json!({ "limit_bytes": limit }))
}

/// Reads the field's bytes, refusing them as soon as they pass `limit`.
async fn bytes_within(field: &mut Field<'_>, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        if bytes.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Reads the form's `file_field`, at most `limit` bytes. With `csrf`, the form must give the
/// field `_csrf` with this token before the file: nothing of the file is read otherwise.
/// Other fields are skipped.
pub(crate) async fn receive(
    mut form: Multipart,
    file_field: &str,
    limit: usize,
    csrf: Option<&str>,
) -> Result<Received, ApiError> {
    let mut token_ok = csrf.is_none();
    while let Some(mut field) = form.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or("").to_owned();
        if let Some(expected) = csrf
            && name == crate::server::web::session::CSRF_FIELD
        {
            let given = field.text().await.map_err(unreadable)?;
            token_ok = crate::server::web::session::same_secret(&given, expected);
            continue;
        }
        if name != file_field {
            continue;
        }
        if !token_ok {
            return Err(ApiError::of(ErrorCode::CsrfFailed));
        }
        let file_name = field.file_name().unwrap_or("").to_owned();
        let declared_type = field.content_type().map(str::to_owned);
        let bytes = bytes_within(&mut field, limit).await?;
        return Ok(Received {
            file_name,
            declared_type,
            bytes,
        });
    }
    if !token_ok {
        return Err(ApiError::of(ErrorCode::CsrfFailed));
    }
    Err(ApiError::new(
        ErrorCode::InvalidUpload,
        format!("the form has no field '{file_field}' with a file"),
    ))
}

/// Attach a document to a case (`multipart/form-data`, field `file`).
///
/// The type is found from the bytes (PDF, ODT, DOCX, PNG, JPEG); a part `Content-Type` that
/// names another type is refused. Over the server's limit (default 20 MB) is 413
/// `document_too_large`. The case's history gets a row `document <id>` with the file name,
/// type, size and SHA-256, and its version goes up.
#[utoipa::path(post, path = "/cases/{id}/documents", tag = "documents",
    params(("id" = String, Path, description = "the case")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = DocumentView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<DocumentView>), ApiError> {
    let row = state.store.case_row(&id).await?;
    may_upload(&state, &who.0, &row).await?;
    let form = form.map_err(|e| ApiError::new(ErrorCode::InvalidUpload, e.body_text()))?;
    let received = receive(form, "file", state.max_document_bytes, None).await?;
    let meta = received.attach(&state, &id, &who.0.id).await?;
    tracing::info!(case = %id, document = %meta.id, size = meta.size, by = %who.0.id, "document attached");
    Ok((StatusCode::CREATED, Json(meta.into())))
}

/// The documents of a case, oldest first.
#[utoipa::path(get, path = "/cases/{id}/documents", tag = "documents",
    params(("id" = String, Path, description = "the case")),
    responses((status = 200, body = Vec<DocumentView>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<Vec<DocumentView>>, ApiError> {
    let row = state.store.case_row(&id).await?;
    readable(&state, &who.0, &row).await?;
    Ok(Json(super::views::all(state.store.documents(&id).await?)))
}

/// The document's bytes, as uploaded, with its type, its file name (`Content-Disposition:
/// attachment`) and its SHA-256 (`X-Content-SHA256`).
#[utoipa::path(get, path = "/cases/{id}/documents/{document}", tag = "documents",
    params(("id" = String, Path, description = "the case"),
        ("document" = String, Path, description = "the document's `id`")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    who: Authed,
    Path((id, document)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let row = state.store.case_row(&id).await?;
    readable(&state, &who.0, &row).await?;
    Ok(file_response(state.store.document(&id, &document).await?))
}

/// A stored document as a download (shared with the pages).
pub(crate) fn file_response(d: store::entities::document::Model) -> Response {
    (
        [
            (header::CONTENT_TYPE, d.content_type),
            (header::CONTENT_DISPOSITION, disposition(&d.file_name)),
            (
                header::HeaderName::from_static("x-content-sha256"),
                d.sha256,
            ),
            (
                header::HeaderName::from_static("x-content-type-options"),
                "nosniff".to_owned(),
            ),
        ],
        d.bytes,
    )
        .into_response()
}

/// `attachment` with the name twice (RFC 6266): an ASCII fallback, and the exact name in
/// UTF-8 (RFC 8187). No quote, backslash or control character reaches the header.
fn disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut exact = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            exact.push(b as char);
        } else {
            exact.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}")
}

#[cfg(test)]
mod tests {
    use super::disposition;

    #[test]
    fn the_file_name_reaches_the_header_safely() {
        assert_eq!(
            disposition("rapport final.pdf"),
            "attachment; filename=\"rapport final.pdf\"; filename*=UTF-8''rapport%20final.pdf"
        );
        assert_eq!(
            disposition("avis « n°3 » \"v2\".odt"),
            "attachment; filename=\"avis _ n_3 _ _v2_.odt\"; \
             filename*=UTF-8''avis%20%C2%AB%20n%C2%B03%20%C2%BB%20%22v2%22.odt"
        );
    }
}
