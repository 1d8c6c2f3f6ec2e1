//! "Procédures": the deployed workflows a viewer takes part in (`/workflows`), one workflow's
//! versions with its diagram and what `docs/procedures.md` says of it — states, moves,
//! deadlines, articles — (`/workflows/{id}`, `?version=N` for an older one), and, for
//! administrators, a page that checks a pasted YAML text exactly as `jalon validate` and
//! deployment do, without deploying it (`/workflows/verifier`).
//!
//! Who sees a workflow follows the API's rule for cases (`api::cases::readable`): operators and
//! administrators see every workflow, anyone else only the workflows in which one of their roles
//! appears. The check page is for administrators, as deployment is (`api::workflows::deploy`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path as FilePath, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use axum::Router;
use axum::extract::Multipart;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use engine::definition::graph::{Via, sources, transitions};
use engine::definition::load::{Catalog, LoadError, WorkflowFile};
use engine::definition::{Diagnostic, Severity, Workflow};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::diagram;
use super::error::PageError;
use super::layout::{Nav, page, responsive_table};
use super::session::{CSRF_FIELD, CsrfForm, Viewer};
use crate::procedure_facts::{self, DeadlineRow, Effect, Kind, STATE_ENTRY, Start};
use crate::server::AppState;
use crate::server::api::codes::ErrorCode;
use crate::validation::{self, Templates};
use store::actors::{ADMIN, ActorInfo};
use store::entities::workflow_version;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/workflows", get(list))
        // A static segment wins over `{id}`: no workflow can be called `verifier` here.
        .route("/workflows/verifier", get(check_page).post(check))
        .route("/workflows/verifier/fichier", post(check_file))
        .route("/workflows/{id}", get(details))
}

/// A stored version, parsed, with its diagram drawn.
struct Parsed {
    wf: Workflow,
    svg: String,
}

/// Parsed versions by their hash (of the text and templates), so that the same text is parsed
/// and drawn once per process, whatever database or row it comes from. Bounded: when full, it
/// starts again empty (a version page is cheap to rebuild; the common case is a few workflows).
static PARSED: LazyLock<Mutex<HashMap<String, Arc<Parsed>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
const PARSED_MAX: usize = 128;

/// The version's workflow and diagram. Stored versions passed validation when deployed, so a
/// text that no longer parses was altered in the database (a 500 `corrupt_data` page).
async fn parsed(row: &workflow_version::Model) -> Result<Arc<Parsed>, PageError> {
    let cached = PARSED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&row.hash)
        .cloned();
    if let Some(p) = cached {
        return Ok(p);
    }
    let (source, id) = (row.source.clone(), row.id);
    // Parsing and laying out a large workflow is CPU work: off the threads that answer.
    let built = tokio::task::spawn_blocking(move || {
        engine::definition::parse(&source).map(|wf| {
            let svg = diagram::svg(&wf);
            Parsed { wf, svg }
        })
    })
    .await
    .map_err(|e| store::Error::Corrupt(format!("workflow version {id}: {e}")))?
    .map_err(|d| store::Error::Corrupt(format!("workflow version {id}: {}", d.message)))?;
    let built = Arc::new(built);
    let mut cache = PARSED.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= PARSED_MAX {
        cache.clear();
    }
    cache.insert(row.hash.clone(), built.clone());
    Ok(built)
}

/// `GET /workflows`: the latest version of each deployed workflow the viewer may see.
async fn list(State(state): State<AppState>, viewer: Viewer) -> Markup {
    let mut shown: Vec<_> = state
        .store
        .latest_versions()
        .into_iter()
        .filter(|d| viewer.actor.may_read(d.def.roles.keys()))
        .collect();
    shown.sort_by(|a, b| {
        (a.def.title.to_lowercase(), &a.workflow_id)
            .cmp(&(b.def.title.to_lowercase(), &b.workflow_id))
    });
    let main = html! {
        h1 { "Procédures" }
        @if shown.is_empty() {
            p { "Aucune procédure déployée ne fait intervenir l'un de vos rôles." }
        } @else {
            p {
                "Les procédures déployées " (if viewer.actor.oversees() {
                    ""
                } else {
                    "auxquelles l'un de vos rôles prend part "
                })
                "(" (shown.len()) "), dans leur dernière version. Chacune montre son diagramme, "
                "ses états, ses transitions, ses délais et les articles qui les fondent."
            }
            div.table-wrap {
                table.responsive {
                    thead {
                        tr {
                            th scope="col" { "Procédure" }
                            th scope="col" { "Identifiant" }
                            th scope="col" { "Version" }
                            th scope="col" { "Fondement légal" }
                            th scope="col" { "États" }
                        }
                    }
                    tbody {
                        @for d in &shown {
                            tr {
                                td data-label="Procédure" {
                                    a href=(format!("/workflows/{}", path_escape(&d.workflow_id))) {
                                        (d.def.title)
                                    }
                                }
                                td data-label="Identifiant" { code { (d.workflow_id) } }
                                td data-label="Version" { (d.version) }
                                td data-label="Fondement légal" { (one_line(&d.def.legal_basis)) }
                                td data-label="États" { (d.def.states.len()) }
                            }
                        }
                    }
                }
            }
        }
        @if viewer.actor.has(ADMIN) {
            p { a href="/workflows/verifier" { "Vérifier un fichier de procédure (YAML)" } }
        }
    };
    page("Procédures", Some(&viewer), Nav::Procedures, main)
}

/// `?version=N`: `None` for the latest; `Err` when the value is not a version number.
fn version_asked(query: Option<&str>) -> Result<Option<i32>, ()> {
    let Some(q) = query else { return Ok(None) };
    let mut asked = None;
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        if k == "version" {
            asked = if v.is_empty() {
                None
            } else {
                Some(v.parse::<i32>().map_err(|_| ())?)
            };
        }
    }
    Ok(asked)
}

/// `GET /workflows/{id}`: the versions, the diagram and the reference of one workflow.
async fn details(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Markup, PageError> {
    let rows = state.store.workflow_versions(Some(&id)).await?;
    let Some(latest) = rows.first() else {
        return Err(PageError::of(ErrorCode::WorkflowNotFound));
    };
    // Who takes part is read from the latest version, as the list does.
    let newest = parsed(latest).await?;
    if !viewer.actor.may_read(newest.wf.roles.keys()) {
        return Err(PageError::forbidden());
    }
    let asked = version_asked(query.as_deref())
        .map_err(|()| PageError::of(ErrorCode::WorkflowVersionNotFound))?;
    let row = match asked {
        None => latest,
        Some(n) => rows
            .iter()
            .find(|r| r.version == n)
            .ok_or_else(|| PageError::of(ErrorCode::WorkflowVersionNotFound))?,
    };
    let shown = if row.id == latest.id {
        newest
    } else {
        parsed(row).await?
    };
    let names = deployer_names(&state, &rows).await?;
    let wf = &shown.wf;
    let is_latest = row.id == latest.id;
    let title = format!("{} (version {})", wf.title, row.version);
    let main = html! {
        h1 { (wf.title) }
        dl.facts {
            dt { "Identifiant" } dd { code { (row.workflow_id) } }
            dt { "Version affichée" }
            dd {
                (row.version)
                @if is_latest { " (la plus récente)" } @else {
                    " (ancienne version ; "
                    a href=(format!("/workflows/{}", path_escape(&row.workflow_id))) {
                        "voir la plus récente, version " (latest.version)
                    }
                    ")"
                }
            }
            dt { "Fondement légal" } dd { (one_line(&wf.legal_basis)) }
        }
        @if let Some(d) = &wf.description {
            p { (d.trim()) }
        }
        p { a href="/workflows" { "Toutes les procédures" } }
        @if viewer.actor.has(ADMIN) {
            p {
                a href=(format!("/workflows/{}/migration", path_escape(&row.workflow_id))) {
                    "Migrer les dossiers en cours vers une version plus récente"
                }
            }
        }
        (versions_table(&rows, row.version, &names))
        h2 { "Diagramme" }
        // Focusable: a wide diagram scrolls, and keyboard users must be able to scroll it.
        figure.diagram tabindex="0" {
            (PreEscaped(&shown.svg))
            figcaption {
                "Diagramme des états de la procédure « " (wf.title) " », version " (row.version)
                ". Les transitions en trait plein sont des actions, en tirets des délais, en "
                "pointillés la fin d'un dossier enfant. Les tableaux qui suivent décrivent les "
                "mêmes états et transitions."
            }
        }
        (roles_table(wf))
        (states_table(wf))
        (moves_table(wf))
        (deadlines_table(wf))
        (articles(wf))
    };
    Ok(page(&title, Some(&viewer), Nav::Procedures, main))
}

/// Who deployed each version, by name (the stored value is the actor's id).
async fn deployer_names(
    state: &AppState,
    rows: &[workflow_version::Model],
) -> Result<HashMap<String, String>, PageError> {
    if rows.iter().all(|r| r.deployed_by.is_none()) {
        return Ok(HashMap::new());
    }
    Ok(state
        .store
        .list_actors()
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect())
}

fn versions_table(
    rows: &[workflow_version::Model],
    shown: i32,
    names: &HashMap<String, String>,
) -> Markup {
    html! {
        h2 { "Versions" }
        div.table-wrap {
            table.responsive {
                thead {
                    tr {
                        th scope="col" { "Version" }
                        th scope="col" { "Empreinte" }
                        th scope="col" { "Déployée le" }
                        th scope="col" { "Par" }
                    }
                }
                tbody {
                    @for r in rows {
                        tr {
                            td data-label="Version" {
                                @if r.version == shown {
                                    (r.version) " (affichée)"
                                } @else {
                                    a href=(format!("/workflows/{}?version={}",
                                        path_escape(&r.workflow_id), r.version)) {
                                        "Version " (r.version)
                                    }
                                }
                            }
                            td data-label="Empreinte" {
                                code title=(r.hash) { (r.hash.get(..12).unwrap_or(&r.hash)) }
                            }
                            td data-label="Déployée le" { (french_instant(r.deployed_at)) }
                            td data-label="Par" {
                                @match &r.deployed_by {
                                    Some(by) => (names.get(by).unwrap_or(by)),
                                    None => "au démarrage du serveur",
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// "lundi 2 novembre 2026 à 12 h 00" (Brussels time).
fn french_instant(millis: i64) -> String {
    let at = crate::clock::from_millis(millis).with_timezone(&chrono_tz::Europe::Brussels);
    format!(
        "{} à {}",
        engine::calendar::french::long_date(at.date_naive()),
        at.format("%H h %M")
    )
}

fn roles_table(wf: &Workflow) -> Markup {
    let rows = wf
        .roles
        .iter()
        .map(|(id, label)| vec![html! { (label) }, html! { code { (id) } }]);
    html! {
        h2 { "Rôles" }
        (responsive_table(&["Rôle", "Identifiant"], rows))
    }
}

fn states_table(wf: &Workflow) -> Markup {
    let rows = wf.states.iter().map(|(id, st)| {
        vec![
            html! { (st.label) @if *id == wf.initial.value { " (état initial)" } },
            html! { code { (id) } },
            html! { (st.legal_basis.as_deref().map_or("—".into(), one_line)) },
            html! {
                @if st.is_final {
                    "Oui"
                    @if let Some(o) = &st.outcome { " — issue : " code { (o) } }
                } @else { "Non" }
            },
        ]
    });
    html! {
        h2 { "États" }
        (responsive_table(
            &["État", "Identifiant", "Fondement légal", "Fin de la procédure"],
            rows,
        ))
    }
}

/// One row of the moves table.
struct Move {
    from: String,
    trigger: Markup,
    to: String,
    who: String,
    basis: Option<String>,
}

/// Every move of `graph::transitions` (the list the validator and the diagram read), with
/// what triggers it, who may act and its article.
fn moves(wf: &Workflow) -> Vec<Move> {
    let label = |id: &str| {
        wf.states
            .get(id)
            .map_or_else(|| id.to_string(), |s| s.value.label.clone())
    };
    let role = |id: &str| wf.roles.get(id).cloned().unwrap_or_else(|| id.to_string());
    let mut out = Vec::new();
    for t in transitions(wf) {
        let state = t.from.and_then(|f| wf.states.get(f)).map(|s| &s.value);
        let state_basis = state.and_then(|s| s.legal_basis.clone());
        let event = |id: &str| state.and_then(|s| s.on.get(id)).map(|e| &e.value);
        let (trigger, who, basis) = match &t.via {
            Via::Event(id) | Via::Branch(id, _) => {
                let e = event(id);
                let name = e
                    .and_then(|e| e.label.clone())
                    .unwrap_or_else(|| id.to_string());
                let branch = match t.via {
                    Via::Branch(_, i) => format!(" (cas {})", i + 1),
                    _ => String::new(),
                };
                let who = e.map_or_else(String::new, |e| {
                    e.by.iter()
                        .map(|r| role(&r.value))
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                let basis = e.and_then(|e| e.legal_basis.clone()).or(state_basis);
                (
                    html! { "Action : " (name) (branch) " " code { (id) } },
                    who,
                    basis,
                )
            }
            Via::Timer(id, delay) => {
                let timer = state
                    .map_or(&wf.timers, |s| &s.timers)
                    .iter()
                    .find(|tm| tm.id.value == *id)
                    .map(|tm| &tm.value);
                let name = timer
                    .and_then(|tm| tm.label.clone())
                    .unwrap_or_else(|| id.to_string());
                let length = delay.map(procedure_facts::duration);
                let basis = timer.and_then(|tm| tm.legal_basis.clone()).or(state_basis);
                (
                    html! {
                        "Délai : " (name)
                        @if let Some(l) = length { " (" (l) ")" }
                    },
                    "personne : à l'échéance".to_string(),
                    basis,
                )
            }
            Via::Child(outcome) => (
                html! { "Fin d'un dossier enfant, issue " code { (outcome) } },
                "personne : à la fin du dossier enfant".to_string(),
                state_basis,
            ),
        };
        for from in sources(wf, &t) {
            out.push(Move {
                from: label(from),
                trigger: trigger.clone(),
                to: label(t.to),
                who: who.clone(),
                basis: basis.clone(),
            });
        }
    }
    out
}

fn moves_table(wf: &Workflow) -> Markup {
    let all = moves(wf);
    let rows = all.iter().map(|m| {
        vec![
            html! { (m.from) },
            html! { (m.trigger) },
            html! { (m.to) },
            html! { (m.who) },
            html! { (m.basis.as_deref().map_or("—".into(), one_line)) },
        ]
    });
    html! {
        h2 { "Transitions" }
        @if all.is_empty() {
            p { "Aucune transition." }
        } @else {
            (responsive_table(
                &["Depuis", "Déclencheur", "Vers", "Qui peut agir", "Fondement légal"],
                rows,
            ))
        }
    }
}

/// The deadlines as `docs/procedures.md` lists them (`procedure_facts::deadlines`).
fn deadlines_table(wf: &Workflow) -> Markup {
    let rows = procedure_facts::deadlines(wf);
    let role = |id: &str| wf.roles.get(id).cloned().unwrap_or_else(|| id.to_string());
    let effect = |e: &Effect| match e {
        Effect::Goto(label) => html! { "passage à l'état « " (label) " »" },
        Effect::Notice(t) => html! { "avis " code { (t) } },
        Effect::Reminders(n) => html! { (n) " rappel(s) avant l'échéance" },
        Effect::TaskLate(r) => html! { "tâche de « " (role(r)) " » en retard" },
    };
    let from = |r: &DeadlineRow| match &r.from {
        None => html! { "—" },
        Some(o) => html! {
            @match &o.start {
                Start::StateEntry => (STATE_ENTRY),
                Start::Variable { label: Some(l), .. } => (l),
                Start::Variable { id, label: None } => code { (id) },
            }
            @if let Some(letter) = o.letter { " (" (letter) ")" }
        },
    };
    html! {
        h2 { "Délais" }
        @if rows.is_empty() {
            p { "Aucun délai." }
        } @else {
            div.table-wrap {
                table.responsive {
                    thead {
                        tr {
                            th scope="col" { "Délai" }
                            th scope="col" { "État" }
                            th scope="col" { "Durée" }
                            th scope="col" { "À compter de" }
                            th scope="col" { "Fondement légal" }
                            th scope="col" { "À l'échéance" }
                        }
                    }
                    tbody {
                        @for r in &rows {
                            tr {
                                td data-label="Délai" {
                                    @match &r.kind {
                                        Kind::Timer(l) => (l),
                                        Kind::Task(t) => { "Tâche : " (t) }
                                    }
                                }
                                td data-label="État" { (r.state) }
                                td data-label="Durée" { (r.length) }
                                td data-label="À compter de" { (from(r)) }
                                td data-label="Fondement légal" {
                                    (r.legal_basis.as_deref().map_or("—".into(), one_line))
                                }
                                td data-label="À l'échéance" {
                                    @for (i, e) in r.effects.iter().enumerate() {
                                        @if i > 0 { ", " }
                                        (effect(e))
                                    }
                                    @if r.effects.is_empty() { "—" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Every legal basis the workflow cites, once each, in the order of the file.
fn articles(wf: &Workflow) -> Markup {
    let mut cited: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut cite = |basis: Option<&String>| {
        if let Some(b) = basis.map(|b| one_line(b)).filter(|b| !b.is_empty())
            && seen.insert(b.clone())
        {
            cited.push(b);
        }
    };
    cite(Some(&wf.legal_basis));
    for t in &wf.timers {
        cite(t.legal_basis.as_ref());
    }
    for s in wf.states.values() {
        cite(s.legal_basis.as_ref());
        for e in s.on.values() {
            cite(e.legal_basis.as_ref());
        }
        for t in &s.timers {
            cite(t.legal_basis.as_ref());
        }
        for t in &s.tasks {
            cite(t.legal_basis.as_ref());
        }
    }
    html! {
        h2 { "Articles cités" }
        ul {
            @for a in &cited { li { (a) } }
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A workflow id as one path segment.
fn path_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// --- The check page -----------------------------------------------------------------------

/// The name the pasted text is checked under: diagnostics of the workflow are about
/// `workflow.yaml`, those of its templates about `templates/<file>`.
const PASTED: &str = "workflow.yaml";

fn admin_only(actor: &ActorInfo) -> Result<(), PageError> {
    if actor.has(ADMIN) {
        Ok(())
    } else {
        Err(PageError::forbidden())
    }
}

#[derive(Deserialize, Default)]
struct CheckForm {
    #[serde(default)]
    source: String,
}

/// `GET /workflows/verifier`: the empty form (administrators).
async fn check_page(viewer: Viewer) -> Result<Markup, PageError> {
    admin_only(&viewer.actor)?;
    Ok(check_view(&viewer, "", None))
}

/// What the check found, or why nothing was checked.
enum Outcome {
    /// The text area was posted empty.
    Empty,
    /// The file form was posted without a file, or with an empty one.
    NoFile,
    Checked(Vec<(PathBuf, Diagnostic)>),
}

/// `POST /workflows/verifier`: the same check as `jalon validate` and deployment
/// (`validation::check`, with the deployed workflows as siblings), and nothing stored.
async fn check(
    State(state): State<AppState>,
    form: CsrfForm<CheckForm>,
) -> Result<Markup, PageError> {
    let viewer = form.viewer;
    admin_only(&viewer.actor)?;
    let source = form.form.source;
    if source.trim().is_empty() {
        return Ok(check_view(&viewer, &source, Some(Outcome::Empty)));
    }
    let found = checked(&state, source.clone()).await?;
    Ok(check_view(&viewer, &source, Some(Outcome::Checked(found))))
}

/// The diagnostics of `source`, checked with the deployed workflows as its siblings.
async fn checked(
    state: &AppState,
    source: String,
) -> Result<Vec<(PathBuf, Diagnostic)>, PageError> {
    // The latest text of every deployed workflow, as deployment reads them, so that
    // `start_case` and `on_child` are checked against what runs here.
    let mut siblings: Vec<(String, String, String)> = Vec::new();
    for row in state.store.workflow_versions(None).await? {
        if siblings
            .last()
            .is_none_or(|(id, _, _)| *id != row.workflow_id)
        {
            siblings.push((row.workflow_id, row.source, row.templates));
        }
    }
    Ok(
        tokio::task::spawn_blocking(move || run_check(source, siblings))
            .await
            .map_err(|e| store::Error::Corrupt(format!("workflow check failed: {e}")))?,
    )
}

/// `POST /workflows/verifier/fichier`: the same check of an uploaded file
/// (`multipart/form-data`, fields `_csrf` and `fichier`). The session, then the CSRF token
/// (as `CsrfForm` checks them), then the role are checked before the file is read as a
/// workflow; a file that is not UTF-8 is a diagnostic, as `jalon validate` reports it.
async fn check_file(
    State(state): State<AppState>,
    viewer: Viewer,
    mut form: Multipart,
) -> Result<Markup, PageError> {
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        PageError::new(
            ErrorCode::InvalidBody,
            format!("Le formulaire envoyé est incomplet ou mal formé : {e}"),
        )
    };
    let (mut token, mut file) = (None, None);
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some(CSRF_FIELD) => token = Some(field.text().await.map_err(unreadable)?),
            Some("fichier") => file = Some(field.bytes().await.map_err(unreadable)?),
            _ => {}
        }
    }
    if !token.is_some_and(|t| super::session::same_secret(&t, &viewer.csrf_token)) {
        return Err(PageError::of(ErrorCode::CsrfFailed));
    }
    admin_only(&viewer.actor)?;
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        return Ok(check_view(&viewer, "", Some(Outcome::NoFile)));
    };
    match engine::definition::decode(bytes.to_vec()) {
        Ok(source) => {
            let found = checked(&state, source.clone()).await?;
            Ok(check_view(&viewer, &source, Some(Outcome::Checked(found))))
        }
        Err(d) => {
            let found = vec![(PathBuf::from(PASTED), d)];
            Ok(check_view(&viewer, "", Some(Outcome::Checked(found))))
        }
    }
}

/// Parses and checks `source`. Its notice templates are those of the deployed version of the
/// same workflow, when there is one (a new workflow has none here: each notice then reports
/// its missing template, as a deployment without templates would).
fn run_check(
    source: String,
    siblings: Vec<(String, String, String)>,
) -> Vec<(PathBuf, Diagnostic)> {
    let file = match WorkflowFile::from_text(PASTED, source) {
        Ok(file) => file,
        Err(LoadError::Parse { path, diagnostic }) => return vec![(path, diagnostic)],
        Err(LoadError::Io { path, error }) => {
            let pos = engine::definition::Pos { line: 1, column: 1 };
            return vec![(
                path,
                Diagnostic::error("yaml-syntax", pos, error.to_string()),
            )];
        }
    };
    let own = file.workflow.id.value.clone();
    let mut templates = Templates::new();
    let mut files = vec![file];
    for (id, text, stored_templates) in siblings {
        if id == own {
            let parts: BTreeMap<String, String> =
                serde_json::from_str(&stored_templates).unwrap_or_default();
            templates = parts
                .into_iter()
                .map(|(name, text)| (format!("{name}.hbs"), text))
                .collect();
        } else if let Ok(f) = WorkflowFile::from_text(format!("deployed/{id}"), text) {
            files.push(f);
        }
    }
    let catalog = Catalog::new(files);
    let dir = FilePath::new(PASTED).with_file_name("templates");
    let report = validation::check(&catalog.files()[0], &catalog, &dir, &templates);
    report
        .files
        .into_iter()
        .flat_map(|(path, ds)| ds.into_iter().map(move |d| (path.clone(), d)))
        .collect()
}

fn check_view(viewer: &Viewer, source: &str, outcome: Option<Outcome>) -> Markup {
    let empty = matches!(outcome, Some(Outcome::Empty));
    let no_file = matches!(outcome, Some(Outcome::NoFile));
    let main = html! {
        h1 { "Vérifier une procédure" }
        p {
            "Collez le texte d'un fichier " code { "workflow.yaml" } " ou envoyez le fichier : "
            "jalon le vérifie comme "
            code { "jalon validate" } " et comme un déploiement le ferait, et n'enregistre rien. "
            "Les modèles d'avis vérifiés sont ceux de la version déployée de la même procédure ; "
            "une procédure qui n'est pas encore déployée est vérifiée sans modèles."
        }
        @if let Some(Outcome::Checked(found)) = &outcome {
            (results(found))
        }
        // The newline after the opening tag is dropped by HTML parsers; without it, a text
        // that starts with a blank line would lose it, and every line number with it.
        h2 { "Coller le texte" }
        form method="post" action="/workflows/verifier" {
            (viewer.csrf_field())
            div.field {
                label for="source" { "Texte YAML de la procédure" span.required { " (obligatoire)" } }
                p.hint id="source-aide" {
                    "Le contenu entier du fichier, tel qu'il serait déployé."
                }
                @if empty {
                    p.error id="source-erreur" { "Collez le texte du fichier avant de le vérifier." }
                    textarea.yaml id="source" name="source" rows="24" spellcheck="false"
                        required aria-invalid="true"
                        aria-describedby="source-aide source-erreur" { "\n" (source) }
                } @else {
                    textarea.yaml id="source" name="source" rows="24" spellcheck="false"
                        required aria-describedby="source-aide" { "\n" (source) }
                }
            }
            button type="submit" { "Vérifier le texte" }
        }
        h2 { "Envoyer un fichier" }
        form method="post" action="/workflows/verifier/fichier" enctype="multipart/form-data" {
            (viewer.csrf_field())
            div.field {
                label for="fichier" { "Fichier YAML" span.required { " (obligatoire)" } }
                p.hint id="fichier-aide" {
                    "Un fichier " code { "workflow.yaml" } " ; son texte s'affiche ensuite "
                    "ci-dessus, pour le corriger et le vérifier à nouveau."
                }
                @if no_file {
                    p.error id="fichier-erreur" { "Choisissez un fichier non vide." }
                    input type="file" id="fichier" name="fichier" accept=".yaml,.yml"
                        required aria-invalid="true"
                        aria-describedby="fichier-aide fichier-erreur";
                } @else {
                    input type="file" id="fichier" name="fichier" accept=".yaml,.yml"
                        required aria-describedby="fichier-aide";
                }
            }
            button type="submit" { "Vérifier le fichier" }
        }
        p { a href="/workflows" { "Retour aux procédures" } }
    };
    page(
        "Vérifier une procédure",
        Some(viewer),
        Nav::Procedures,
        main,
    )
}

fn results(found: &[(PathBuf, Diagnostic)]) -> Markup {
    let errors = found
        .iter()
        .filter(|(_, d)| d.severity == Severity::Error)
        .count();
    let warnings = found.len() - errors;
    // French counts 0 and 1 in the singular.
    let count = |n: usize, one: &str, many: &str| {
        if n <= 1 {
            format!("{n} {one}")
        } else {
            format!("{n} {many}")
        }
    };
    html! {
        section aria-labelledby="resultat" {
            h2 id="resultat" { "Résultat" }
            @if found.is_empty() {
                p.notice.success role="status" { "Aucun problème : ce fichier est valide." }
            } @else {
                @let counts = format!(
                    "{}, {}.",
                    count(errors, "erreur", "erreurs"),
                    count(warnings, "avertissement", "avertissements")
                );
                @if errors > 0 {
                    p.refusal role="alert" { "Ce fichier serait refusé : " (counts) }
                } @else {
                    p.notice role="status" {
                        "Ce fichier peut être déployé, avec des remarques : " (counts)
                    }
                }
                div.table-wrap {
                    table.responsive.diagnostics {
                        thead {
                            tr {
                                th scope="col" { "Ligne:colonne" }
                                th scope="col" { "Gravité" }
                                th scope="col" { "Code" }
                                th scope="col" { "Problème" }
                                th scope="col" { "Piste" }
                            }
                        }
                        tbody {
                            @for (path, d) in found {
                                tr {
                                    td data-label="Ligne:colonne" {
                                        @if path != FilePath::new(PASTED) {
                                            code { (path.display()) } " "
                                        }
                                        code.position { (d.pos.line) ":" (d.pos.column) }
                                    }
                                    td data-label="Gravité" {
                                        @match d.severity {
                                            Severity::Error => "erreur",
                                            Severity::Warning => "avertissement",
                                        }
                                    }
                                    td data-label="Code" { code { (d.code) } }
                                    td data-label="Problème" { (d.message) }
                                    td data-label="Piste" { (d.hint.as_deref().unwrap_or("—")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WF: &str = r#"
id: exemple
title: Exemple
legal_basis: Art. 1er
roles: { agent: Agent traitant, chef: Chef }
start: { by: [agent] }
initial: ouvert
timers:
  - id: peremption
    label: Péremption
    after: { years: 1 }
    goto: fin
states:
  ouvert:
    label: Ouvert
    legal_basis: Art. 2
    on:
      trier:
        label: Trier la demande
        by: [agent, chef]
        legal_basis: Art. 3
        choose:
          - when: { x: 1 }
            goto: attente
          - goto: fin
  attente:
    label: En attente
    timers:
      - id: delai
        after: { working_days: 10 }
        goto: fin
  fin:
    label: Clôturé
    final: true
"#;

    fn text(m: &Markup) -> String {
        m.0.clone()
    }

    #[test]
    fn moves_name_their_trigger_actors_and_article() {
        let wf = engine::definition::parse(WF).unwrap();
        let all = moves(&wf);
        let rows: Vec<(String, String, String, String, Option<String>)> = all
            .iter()
            .map(|m| {
                let t = text(&m.trigger);
                (
                    m.from.clone(),
                    t,
                    m.to.clone(),
                    m.who.clone(),
                    m.basis.clone(),
                )
            })
            .collect();
        let action = |n| format!("Action : Trier la demande (cas {n}) <code>trier</code>");
        assert_eq!(
            rows,
            [
                (
                    "Ouvert".into(),
                    action(1),
                    "En attente".into(),
                    "Agent traitant, Chef".into(),
                    Some("Art. 3".into())
                ),
                (
                    "Ouvert".into(),
                    action(2),
                    "Clôturé".into(),
                    "Agent traitant, Chef".into(),
                    Some("Art. 3".into())
                ),
                (
                    "En attente".into(),
                    "Délai : delai (10 jours ouvrables)".into(),
                    "Clôturé".into(),
                    "personne : à l'échéance".into(),
                    None
                ),
                // A case timer leaves every state that is not final.
                (
                    "Ouvert".into(),
                    "Délai : Péremption (1 an)".into(),
                    "Clôturé".into(),
                    "personne : à l'échéance".into(),
                    None
                ),
                (
                    "En attente".into(),
                    "Délai : Péremption (1 an)".into(),
                    "Clôturé".into(),
                    "personne : à l'échéance".into(),
                    None
                ),
            ]
        );
    }

    #[test]
    fn articles_are_listed_once_in_file_order() {
        let wf = engine::definition::parse(WF).unwrap();
        assert_eq!(
            text(&articles(&wf)),
            "<h2>Articles cités</h2><ul><li>Art. 1er</li><li>Art. 2</li><li>Art. 3</li></ul>"
        );
    }

    #[test]
    fn a_version_is_asked_by_number_only() {
        assert_eq!(version_asked(None), Ok(None));
        assert_eq!(version_asked(Some("version=3")), Ok(Some(3)));
        assert_eq!(version_asked(Some("a=1&version=")), Ok(None));
        assert_eq!(version_asked(Some("version=deux")), Err(()));
    }

    #[test]
    fn ids_are_one_path_segment() {
        assert_eq!(path_escape("chambre-recours"), "chambre-recours");
        assert_eq!(path_escape("a/b c?"), "a%2Fb%20c%3F");
    }
}
