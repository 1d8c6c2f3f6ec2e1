//! "Un dossier" (`GET /cases/{id}`, and `/cases/{id}/tasks/{task}` focused on a task): the
//! case's state and legal basis, its deadlines explained, its variables, open tasks, history,
//! notices (with the exact `.eml`), linked cases, and the forms of the actions the viewer may
//! take now (`POST /cases/{id}/actions`). Reading is authorized exactly as the API's
//! `GET /cases/{id}` (`api::cases::readable`); an action goes through `Store::send_event` with
//! the page's case version, so a form opened before someone else acted is refused, not
//! applied over their change.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Brussels;
use maud::{Markup, html};
use serde::Deserialize;

use super::error::PageError;
use super::form::{self, FieldError, Values};
use super::layout::{Nav, page};
use super::session::{CsrfForm, Viewer, query_escape};
use super::tasks::{days_left, query_value};
use crate::server::AppState;
use crate::server::api::cases::readable;
use crate::server::api::codes::ErrorCode;
use engine::calendar::brussels::civil_date;
use engine::calendar::french::long_date;
use engine::machine::{Definition, EventDef};
use store::drive::EventRequest;
use store::entities::case;
use store::registry::Deployed;

/// What a stale form is told: the page shows the case as it is now.
pub const STALE: &str = "Ce dossier a changé depuis l'ouverture de la page. Voici son état actuel ; vérifiez avant de recommencer.";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cases/{id}", get(show))
        .route("/cases/{id}/tasks/{task}", get(show_task))
        .route("/cases/{id}/actions", post(act))
        .route("/cases/{id}/notices/{file}", get(eml))
}

/// What the page was sent back with: `fait=<event>` after an action, `decision=<change>`
/// after a decision (`case_admin`), `ouvert=1` after "Nouveau dossier" started the case.
fn done_flash(query: Option<&str>) -> Flash {
    if let Some(event) = query_value(query, "fait") {
        return Flash::Done(event);
    }
    if let Some(done) = query_value(query, "decision").and_then(|c| super::case_admin::done(&c)) {
        return Flash::Decided(done);
    }
    match query_value(query, "ouvert") {
        Some(_) => Flash::Started,
        None => Flash::None,
    }
}

/// What the page says above the case: nothing, an action or a decision done, or one refused
/// (with the values as posted, to fill its form again).
pub(super) enum Flash {
    None,
    Started,
    Done(String),
    /// The French words of a decision that went through.
    Decided(&'static str),
    DecisionRefused {
        draft: super::case_admin::Draft,
        message: String,
    },
    Refused {
        event: String,
        values: Values,
        reason: String,
        field: Option<FieldError>,
        message: String,
    },
}

/// The case, if it exists and the viewer may read it (the API's rule), with its definition.
async fn load(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
) -> Result<(case::Model, Arc<Deployed>), PageError> {
    let row = state.store.case_row(id).await?;
    readable(state, &viewer.actor, &row).await?;
    let deployed = state.store.version(row.version_id).await?;
    Ok((row, deployed))
}

async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Markup, PageError> {
    let (row, deployed) = load(&state, &viewer, &id).await?;
    let flash = done_flash(q.as_deref());
    render(&state, &viewer, &row, &deployed, None, flash).await
}

async fn show_task(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, task)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Markup, PageError> {
    let (row, deployed) = load(&state, &viewer, &id).await?;
    if deployed.def.task(&task).is_none() {
        return Err(PageError::not_found());
    }
    let flash = done_flash(q.as_deref());
    render(&state, &viewer, &row, &deployed, Some(&task), flash).await
}

/// The event's declaration: in the current state first, else wherever the workflow declares
/// it (a form posted after the case moved still reads its inputs; the engine then refuses).
fn event_def<'d>(def: &'d Definition, state: &str, name: &str) -> Option<&'d EventDef> {
    def.state(state)
        .into_iter()
        .chain(def.states.iter())
        .flat_map(|s| s.events.iter())
        .find(|e| *e.name == *name)
}

fn event_label(def: &Definition, state: Option<&str>, name: &str) -> String {
    event_def(def, state.unwrap_or(""), name)
        .and_then(|e| e.label.as_ref().map(|l| l.to_string()))
        .unwrap_or_else(|| form::readable(name))
}

fn state_label(def: &Definition, id: &str) -> String {
    def.state(id)
        .map(|s| s.label.to_string())
        .unwrap_or_else(|| form::readable(id))
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    event: String,
    #[serde(default)]
    expected_version: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    /// The task page the form was on, to show it again after a refusal.
    #[serde(default)]
    tache: Option<String>,
}

async fn act(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: CsrfForm<ActionForm>,
) -> Result<Response, PageError> {
    let CsrfForm {
        viewer,
        form: f,
        fields,
    } = posted;
    // The API's order: who may read the case is checked before the event is looked at.
    let (row, deployed) = load(&state, &viewer, &id).await?;
    let expected = f
        .expected_version
        .as_deref()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .ok_or_else(|| {
            PageError::new(
                ErrorCode::InvalidBody,
                "Le formulaire envoyé est incomplet (version du dossier absente). Rechargez la page et recommencez ; rien n'a été modifié.",
            )
        })?;
    let def = &deployed.def;
    let (required, optional) = event_def(def, &row.state, &f.event)
        .map(|e| (e.inputs.as_slice(), e.optional_inputs.as_slice()))
        .unwrap_or((&[], &[]));
    let (inputs, values) = form::collect(def, required, optional, &fields);
    let reason = f
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let now = state.clock.now();
    let by = viewer.actor.engine();
    let sent = state
        .store
        .send_event(
            EventRequest {
                case_id: &id,
                event: &f.event,
                by: &by,
                inputs,
                reason: reason.clone(),
                expected_version: Some(expected),
            },
            now,
        )
        .await;
    match sent {
        Ok(_) => Ok(Redirect::to(&format!(
            "/cases/{}?fait={}",
            query_escape(&id),
            query_escape(&f.event)
        ))
        .into_response()),
        Err(e) => {
            let (field, message) = match &e {
                store::Error::Refused(r) => form::refusal_fr(def, r),
                e if e.is_stale() => (None, STALE.to_owned()),
                store::Error::Rejected {
                    code: "unknown_document",
                    details,
                    ..
                } => super::documents::unknown_document(details),
                _ => return Err(e.into()),
            };
            let status = PageError::from(e).status;
            let flash = Flash::Refused {
                event: f.event,
                values,
                reason: reason.unwrap_or_default(),
                field,
                message,
            };
            refused_page(&state, &viewer, &id, f.tache, status, flash).await
        }
    }
}

/// A refused form's answer: the case page as the case is now (a stale form: as someone else
/// left it), with the refusal's status, its reason on top and beside its field, and what was
/// typed back in the form.
pub(super) async fn refused_page(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    task: Option<String>,
    status: StatusCode,
    flash: Flash,
) -> Result<Response, PageError> {
    let row = state.store.case_row(id).await?;
    let deployed = state.store.version(row.version_id).await?;
    let task = task.filter(|t| deployed.def.task(t).is_some());
    let body = render(state, viewer, &row, &deployed, task.as_deref(), flash).await?;
    Ok((status, body).into_response())
}

/// The exact bytes of a sent notice of the case, with the API's rule (`notices::eml`).
async fn eml(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let notice = file
        .strip_suffix(".eml")
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(PageError::not_found)?;
    let row = state.store.case_row(&id).await?;
    readable(&state, &viewer.actor, &row).await?;
    let bytes = state.store.notice_eml(&id, notice).await?;
    let sha = notifiers::message::sha256_hex(&bytes);
    Ok((
        [
            (header::CONTENT_TYPE, "message/rfc822".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"notice-{notice}.eml\""),
            ),
            (header::HeaderName::from_static("x-content-sha256"), sha),
        ],
        bytes,
    )
        .into_response())
}

/// "le lundi 2 novembre 2026 à 12 h 05", in Brussels.
pub(super) fn when(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&Brussels);
    format!(
        "le {} à {}",
        long_date(local.date_naive()),
        local.format("%H h %M")
    )
}

fn notice_status(s: &str) -> &'static str {
    match s {
        "pending" => "en attente d'envoi",
        "sent" => "envoyé",
        "dead" => "échec de l'envoi (à relancer par un opérateur)",
        _ => "inconnu",
    }
}

fn case_link(id: &str) -> String {
    format!("/cases/{}", query_escape(id))
}

/// The workflows a case of `def` can start (its children's).
fn child_workflows(def: &Definition) -> Vec<String> {
    let mut out: Vec<String> = def
        .states
        .iter()
        .flat_map(|s| {
            s.start_case
                .iter()
                .chain(s.events.iter().filter_map(|e| e.start_case.as_ref()))
        })
        .map(|s| s.workflow.to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    row: &case::Model,
    deployed: &Deployed,
    focus: Option<&str>,
    flash: Flash,
) -> Result<Markup, PageError> {
    let now = state.clock.now();
    let today = civil_date(now);
    let def = &deployed.def;
    let view = state.store.case_view(row, now).await?;
    let history = state.store.history(&row.id).await?;
    let notices = state.store.case_notices(&row.id).await?;
    let documents = super::documents::section(state, viewer, row).await?;
    // Linked cases: shown with their key only to a viewer who may read them.
    let parent = match &row.parent_id {
        Some(p) => match state.store.case_row(p).await {
            Ok(prow) => {
                let ok = readable(state, &viewer.actor, &prow).await.is_ok();
                Some((prow.id.clone(), ok.then(|| prow.business_key.clone())))
            }
            Err(_) => None,
        },
        None => None,
    };
    let mut children = Vec::new();
    for c in state
        .store
        .child_cases(&row.id, &child_workflows(def))
        .await?
    {
        let ok = readable(state, &viewer.actor, &c).await.is_ok();
        children.push((
            c.id.clone(),
            c.workflow_id.clone(),
            ok.then(|| c.business_key.clone()),
        ));
    }
    let actor_ids: Vec<String> = history.iter().filter_map(|h| h.actor.clone()).collect();
    let names = state.store.actor_names(&actor_ids).await?;
    let who = |id: Option<&str>| -> String {
        match id {
            None => "jalon (délai ou dossier lié)".into(),
            Some(id) if id.starts_with("case:") => "jalon, pour le dossier parent".into(),
            Some(id) => names.get(id).cloned().unwrap_or_else(|| id.to_owned()),
        }
    };

    let current = def.state(&view.state);
    let open = view.status == "open";
    let task_def = focus.and_then(|t| def.task(t));
    let task_open = focus.and_then(|t| view.tasks.iter().find(|v| v.task_id == t));
    // The actions the viewer may take now: the current state's events open to one of their
    // roles; on a task page, the events that complete the task first.
    let mut actions: Vec<&EventDef> = if open {
        current
            .map(|s| {
                s.events
                    .iter()
                    .filter(|e| e.by.iter().any(|r| viewer.actor.has(r)))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    if let Some(t) = task_def {
        actions.sort_by_key(|e| !t.closes_on.contains(&e.name));
    }

    let title = match task_def {
        Some(t) => t.title.to_string(),
        None => format!("Dossier {}", view.key),
    };
    let variables: Vec<(String, String)> = def
        .variables
        .keys()
        .filter_map(|name| {
            let v = view.variables.get(name)?;
            Some((form::label(def, name), form::display(def, name, v)))
        })
        .collect();
    let (refused_event, refused_values, refused_reason, refused_field) = match &flash {
        Flash::Refused {
            event,
            values,
            reason,
            field,
            ..
        } => (
            Some(event.as_str()),
            values.clone(),
            reason.clone(),
            field.clone(),
        ),
        _ => (None, Values::default(), String::new(), None),
    };

    let main = html! {
        h1 { (title) }
        @if task_def.is_some() {
            p { "Dossier " a href=(case_link(&view.id)) { (view.key) } " — " (def.title) }
        }
        @match &flash {
            Flash::Done(_) | Flash::Decided(_) => {
                div.notice.success role="status" {
                    @match &flash {
                        Flash::Done(event) => { p { "Action enregistrée : « " (event_label(def, None, event)) " »." } }
                        Flash::Decided(done) => { p { "Décision enregistrée : " (done) "." } }
                        _ => {}
                    }
                    p { "Le dossier est maintenant à l'état : " strong { (view.state_label.as_deref().unwrap_or(&view.state)) } "." }
                    @if !view.deadlines.is_empty() {
                        p { "Délais en cours :" }
                        ul {
                            @for d in &view.deadlines {
                                li {
                                    (d.label.as_deref().unwrap_or(&d.timer)) " : au plus tard le " (d.due_long)
                                    " (" (days_left(d.due_date, today)) ")"
                                }
                            }
                        }
                        p { a href="#delais" { "Voir le détail du calcul des délais" } }
                    }
                }
            }
            Flash::Refused { message, .. } | Flash::DecisionRefused { message, .. } => {
                div.refusal role="alert" {
                    p { (message) }
                    p { "Rien n'a été modifié." }
                }
            }
            Flash::Started => {
                div.notice.success role="status" {
                    p { "Dossier ouvert. Il est à l'état : " strong { (view.state_label.as_deref().unwrap_or(&view.state)) } "." }
                    @if !view.deadlines.is_empty() {
                        p { a href="#delais" { "Voir ses délais" } }
                    }
                }
            }
            Flash::None => {}
        }
        @if let Some(t) = task_def {
            section.notice aria-labelledby="tache" {
                h2 id="tache" { "La tâche" }
                @if let Some(open_task) = task_open {
                    @if let Some(i) = &t.instructions { p { (i) } }
                    @if let Some(d) = open_task.due_date.as_deref().and_then(|d| d.parse::<chrono::NaiveDate>().ok()) {
                        p {
                            @if open_task.overdue { span.badge.late { "En retard" } " " }
                            "Au plus tard le " (long_date(d)) " (" (days_left(d, today)) ")."
                        }
                    }
                    @if let Some(e) = &open_task.explanation { p.muted { (e) } }
                    @if let Some(l) = &open_task.legal_basis { p { "Base légale : " (l) } }
                } @else {
                    p { "Cette tâche n'est pas ouverte : elle est terminée, ou le dossier n'en est pas à cette étape." }
                }
            }
        }
        dl.facts {
            dt { "Procédure" }
            dd { (def.title) " " span.muted { "(" (view.workflow) ", version " (view.version) ")" } }
            dt { "Référence" }
            dd { (view.key) }
            dt { "État" }
            dd { (view.state_label.as_deref().unwrap_or(&view.state)) }
            @if let Some(l) = current.and_then(|s| s.legal_basis.as_ref()) {
                dt { "Base légale" }
                dd { (l) }
            }
            dt { "Statut" }
            dd {
                @if open { "En cours" } @else {
                    "Clos" @if let Some(o) = &view.outcome { " — issue : " (form::readable(o)) }
                }
            }
            dt { "Ouvert" }
            dd { (when(view.created_at)) }
            @if let Some((pid, key)) = &parent {
                dt { "Dossier parent" }
                dd {
                    @match key {
                        Some(k) => { a href=(case_link(pid)) { (k) } }
                        None => { "un dossier d'une procédure à laquelle vous ne participez pas" }
                    }
                }
            }
        }

        section aria-labelledby="actions" {
            h2 id="actions" { "Ce que vous pouvez faire maintenant" }
            @if !open {
                p { "Ce dossier est clos : aucune action n'est plus possible." }
            } @else if actions.is_empty() {
                p { "Aucune action de cette étape n'est ouverte à vos rôles." }
            }
            @for e in &actions {
                @let scope = format!("e-{}", e.name);
                @let mine = refused_event == Some(&*e.name);
                @let values = if mine { refused_values.clone() } else { Values::default() };
                @let field = if mine { refused_field.as_ref() } else { None };
                @let reason = if mine { refused_reason.as_str() } else { "" };
                h3 id=(format!("{scope}-titre")) { (e.label.as_deref().unwrap_or(&form::readable(&e.name))) }
                form.action method="post" action=(format!("/cases/{}/actions", query_escape(&view.id))) aria-labelledby=(format!("{scope}-titre")) {
                    (viewer.csrf_field())
                    input type="hidden" name="event" value=(e.name);
                    input type="hidden" name="expected_version" value=(view.row_version);
                    @if let Some(t) = focus { input type="hidden" name="tache" value=(t); }
                    (form::fields(def, &e.inputs, &e.optional_inputs, &values, field, &scope))
                    div.field {
                        label for=(format!("{scope}-motif")) { "Motif " span.muted { "(facultatif)" } }
                        textarea id=(format!("{scope}-motif")) name="reason" rows="2" { (reason) }
                        p.hint { "Gardé dans l'historique du dossier." }
                    }
                    button type="submit" { "Enregistrer : " (e.label.as_deref().unwrap_or(&form::readable(&e.name))) }
                }
            }
        }

        @let refused_decision = match &flash { Flash::DecisionRefused { draft, .. } => Some(draft), _ => None };
        (super::case_admin::section(viewer, def, &view, refused_decision))

        section aria-labelledby="delais" {
            h2 id="delais" { "Délais" }
            @if view.deadlines.is_empty() {
                p { "Aucun délai en cours." }
            }
            @for d in &view.deadlines {
                h3 { (d.label.as_deref().unwrap_or(&d.timer)) }
                p {
                    @if d.due_date < today && d.status == "armed" { span.badge.late { "En retard" } " " }
                    "Au plus tard le " strong { (d.due_long) } " (" (days_left(d.due_date, today)) ")"
                    @if d.status == "suspended" { " — " span.badge { "suspendu" } }
                    @if d.kind == "reminder" { " — rappel" }
                    @if d.kind == "recurring" { " — périodique" }
                }
                @if let Some(l) = &d.legal_basis { p { "Base légale : " (l) } }
                @if !d.explanation.is_empty() {
                    ul.explanation {
                        @for line in &d.explanation { li { (line) } }
                    }
                }
            }
        }

        section aria-labelledby="taches" {
            h2 id="taches" { "Tâches ouvertes" }
            @if view.tasks.is_empty() {
                p { "Aucune tâche ouverte." }
            } @else {
                ul {
                    @for t in &view.tasks {
                        li {
                            a href=(format!("/cases/{}/tasks/{}", query_escape(&view.id), query_escape(&t.task_id))) { (t.title) }
                            " — " (def.roles.get(&t.role).cloned().unwrap_or_else(|| form::readable(&t.role)))
                            @if let Some(d) = t.due_date.as_deref().and_then(|d| d.parse::<chrono::NaiveDate>().ok()) {
                                " — au plus tard le " (long_date(d)) " (" (days_left(d, today)) ")"
                                @if t.overdue { " " span.badge.late { "En retard" } }
                            }
                        }
                    }
                }
            }
        }

        section aria-labelledby="informations" {
            h2 id="informations" { "Informations du dossier" }
            @if variables.is_empty() {
                p { "Aucune information enregistrée." }
            } @else {
                dl.facts {
                    @for (l, v) in &variables { dt { (l) } dd { (v) } }
                }
            }
        }

        (documents)

        @if !children.is_empty() {
            section aria-labelledby="lies" {
                h2 id="lies" { "Dossiers ouverts par ce dossier" }
                ul {
                    @for (cid, wf, key) in &children {
                        li {
                            @match key {
                                Some(k) => { a href=(case_link(cid)) { (k) } " (" (wf) ")" }
                                None => { "un dossier « " (wf) " » d'une procédure à laquelle vous ne participez pas" }
                            }
                        }
                    }
                }
            }
        }

        section aria-labelledby="historique" {
            h2 id="historique" { "Historique" }
            ol.timeline {
                @for h in &history {
                    li {
                        p {
                            strong { (history_what(def, h.trigger.as_str(), h.from_state.as_deref())) }
                            br;
                            span.muted { (when(h.at)) ", par " (who(h.actor.as_deref())) }
                        }
                        @if h.from_state.as_deref() != Some(h.to_state.as_str()) {
                            p { "État : " (state_label(def, &h.to_state)) }
                        }
                        @if h.trigger.starts_with("document ") {
                            (super::documents::history_entry(h))
                        } @else if let Some(obj) = h.inputs.as_object().filter(|o| !o.is_empty()) {
                            dl.facts {
                                @for (k, v) in obj { dt { (form::label(def, k)) } dd { (form::display(def, k, v)) } }
                            }
                        }
                        @if let Some(r) = &h.reason { p { "Motif : " (r) } }
                    }
                }
            }
        }

        section aria-labelledby="avis" {
            h2 id="avis" { "Avis envoyés" }
            @if notices.is_empty() {
                p { "Aucun avis pour ce dossier." }
            } @else {
                div.table-wrap {
                    table.responsive {
                        caption { "Avis du dossier, du plus ancien au plus récent" }
                        thead {
                            tr {
                                th scope="col" { "Avis" }
                                th scope="col" { "Destinataire" }
                                th scope="col" { "Statut" }
                                th scope="col" { "Message" }
                            }
                        }
                        tbody {
                            @for n in &notices {
                                tr {
                                    td data-label="Avis" { (n.template.replace(['-', '_'], " ")) br; span.muted { (when(n.created_at)) } }
                                    td data-label="Destinataire" {
                                        (n.recipient_name.as_deref().unwrap_or("—"))
                                        @if let Some(e) = &n.recipient_email { br; span.muted { (e) } }
                                    }
                                    td data-label="Statut" {
                                        (notice_status(&n.status))
                                        @if let Some(s) = n.sent_at { br; span.muted { (when(s)) } }
                                    }
                                    td data-label="Message" {
                                        @if n.eml_sha256.is_some() {
                                            a href=(format!("/cases/{}/notices/{}.eml", query_escape(&view.id), n.id)) download {
                                                "Télécharger l'avis n° " (n.id) " (.eml)"
                                            }
                                        } @else {
                                            span.muted { "pas encore envoyé" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&title, Some(viewer), Nav::None, main))
}

/// What a history row records, in French: the start, an event's label, an expired deadline,
/// a linked case that ended.
fn history_what(def: &Definition, trigger: &str, from: Option<&str>) -> String {
    if trigger == "start" {
        return "Dossier ouvert".into();
    }
    if let Some(event) = trigger.strip_prefix("event ") {
        return event_label(def, from, event);
    }
    if let Some(decision) = super::case_admin::history_what(def, trigger) {
        return decision;
    }
    if let Some(key) = trigger.strip_prefix("timer ") {
        let id = key.split('#').next().unwrap_or(key);
        let label = def
            .timer(id)
            .and_then(|t| t.label.as_ref().map(|l| l.to_string()))
            .or_else(|| def.task(id).map(|t| format!("rappel : {}", t.title)))
            .unwrap_or_else(|| form::readable(id));
        return format!("Délai expiré : {label}");
    }
    if let Some(rest) = trigger.strip_prefix("child ") {
        return format!("Dossier lié terminé ({})", form::readable(rest));
    }
    if trigger.starts_with("document ") {
        return "Document joint".into();
    }
    form::readable(trigger)
}
