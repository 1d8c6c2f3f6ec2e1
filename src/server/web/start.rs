//! "Nouveau dossier" (`/nouveau`): the workflows the viewer may start — a role of theirs is in
//! the workflow's `start.by`, the engine's rule for the API's `POST /cases` — and, for one
//! (`/nouveau/{workflow}`), the form of its start inputs. Posting it starts the case through
//! `Store::start_case`, as the API does, then shows the new case.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

use super::error::PageError;
use super::form::{self, FieldError, Values};
use super::layout::{Nav, page};
use super::session::{CsrfForm, Viewer, query_escape};
use crate::server::AppState;
use crate::server::api::codes::ErrorCode;
use store::registry::Deployed;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/nouveau", get(list))
        .route("/nouveau/{workflow}", get(new_case).post(start))
}

/// Whether one of the viewer's roles may start a case of this workflow.
fn may_start(viewer: &Viewer, d: &Deployed) -> bool {
    d.def.start.by.iter().any(|r| viewer.actor.has(r))
}

async fn list(State(state): State<AppState>, viewer: Viewer) -> Markup {
    let mut workflows: Vec<Arc<Deployed>> = state
        .store
        .latest_versions()
        .into_iter()
        .filter(|d| may_start(&viewer, d))
        .collect();
    workflows.sort_by(|a, b| a.def.title.cmp(&b.def.title));
    let main = html! {
        h1 { "Nouveau dossier" }
        @if workflows.is_empty() {
            p.notice { "Aucune procédure ne peut être ouverte par vos rôles." }
        } @else {
            p { "Choisissez la procédure du dossier à ouvrir." }
            ul.cards {
                @for d in &workflows {
                    li.card {
                        h2 { a href=(format!("/nouveau/{}", query_escape(&d.workflow_id))) { (d.def.title) } }
                        p.muted { (d.def.legal_basis) }
                    }
                }
            }
        }
    };
    page("Nouveau dossier", Some(&viewer), Nav::Start, main)
}

/// The workflow, if deployed and startable by the viewer (404, else 403 as the engine would).
fn startable(
    state: &AppState,
    viewer: &Viewer,
    workflow: &str,
) -> Result<Arc<Deployed>, PageError> {
    let d = state
        .store
        .latest_versions()
        .into_iter()
        .find(|d| d.workflow_id == workflow)
        .ok_or_else(|| {
            PageError::of(
                ErrorCode::parse("workflow_not_found").unwrap_or(ErrorCode::RouteNotFound),
            )
        })?;
    if !may_start(viewer, &d) {
        return Err(PageError::of(ErrorCode::RoleNotAllowed));
    }
    Ok(d)
}

struct Posted {
    key: String,
    values: Values,
    field: Option<FieldError>,
    message: String,
}

fn render(viewer: &Viewer, d: &Deployed, posted: Option<&Posted>) -> Markup {
    let def = &d.def;
    let title = format!("Nouveau dossier : {}", def.title);
    let key_error = posted
        .and_then(|p| p.field.as_ref())
        .filter(|f| f.input == KEY);
    let values = posted.map(|p| p.values.clone()).unwrap_or_default();
    let main = html! {
        h1 { (title) }
        p.muted { (def.legal_basis) }
        @if let Some(p) = posted {
            div.refusal role="alert" {
                p { (p.message) }
                p { "Aucun dossier n'a été ouvert." }
            }
        }
        form.action method="post" action=(format!("/nouveau/{}", query_escape(&d.workflow_id))) {
            (viewer.csrf_field())
            div.field {
                label for="n-key" { "Référence du dossier " span.required { "(obligatoire)" } }
                input type="text" id="n-key" name="key" required maxlength="200"
                    value=(posted.map(|p| p.key.as_str()).unwrap_or(""))
                    aria-describedby=(if key_error.is_some() { "n-key-aide n-key-erreur" } else { "n-key-aide" })
                    aria-invalid=[key_error.map(|_| "true")];
                p.hint id="n-key-aide" { "Unique dans cette procédure : numéro de matricule, nom de l'école…" }
                @if let Some(e) = key_error { p.error id="n-key-erreur" { (e.message) } }
            }
            (form::fields(def, &def.start.inputs, &def.start.optional_inputs, &values,
                posted.and_then(|p| p.field.as_ref()), "n"))
            button type="submit" { "Ouvrir le dossier" }
        }
    };
    page(&title, Some(viewer), Nav::Start, main)
}

/// The business key's field name (not a variable: posted as `key`, inputs as `v.<name>`).
const KEY: &str = "key";

async fn new_case(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(workflow): Path<String>,
) -> Result<Markup, PageError> {
    let d = startable(&state, &viewer, &workflow)?;
    Ok(render(&viewer, &d, None))
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    key: String,
}

async fn start(
    State(state): State<AppState>,
    Path(workflow): Path<String>,
    posted: CsrfForm<StartForm>,
) -> Result<Response, PageError> {
    let CsrfForm {
        viewer,
        form: f,
        fields,
    } = posted;
    let d = startable(&state, &viewer, &workflow)?;
    let def = &d.def;
    let (inputs, values) =
        form::collect(def, &def.start.inputs, &def.start.optional_inputs, &fields);
    let now = state.clock.now();
    let started = state
        .store
        .start_case(&workflow, &f.key, &viewer.actor.engine(), inputs, now, None)
        .await;
    match started {
        Ok(row) => {
            Ok(Redirect::to(&format!("/cases/{}?ouvert=1", query_escape(&row.id))).into_response())
        }
        Err(e) => {
            let (field, message) = match &e {
                store::Error::Refused(r) => form::refusal_fr(def, r),
                e if matches!(e.code(), "duplicate_business_key" | "invalid_business_key") => {
                    let msg = ErrorCode::parse(e.code())
                        .map(|c| c.message_fr().to_owned())
                        .unwrap_or_default();
                    (
                        Some(FieldError {
                            input: KEY.into(),
                            message: msg.clone(),
                        }),
                        msg,
                    )
                }
                _ => return Err(e.into()),
            };
            let status = PageError::from(e).status;
            let posted = Posted {
                key: f.key,
                values,
                field,
                message,
            };
            Ok((status, render(&viewer, &d, Some(&posted))).into_response())
        }
    }
}
