//! "Migrer les dossiers en cours" (`/workflows/{id}/migration`, administrators): the page side
//! of `jalon cases migrate` and `POST /api/v1/workflows/{id}/migrations`, through the same store
//! call (`store/src/migrate_cases.rs`) and the same role rule (`admin`, as
//! `api::migrations::migrate`). "Simuler" answers the page with each case's plan and writes
//! nothing; "Migrer" moves the cases and redirects to the page, which then says how many moved.
//! A mapping with errors is shown beside its field with each problem's line:column, and no case
//! is touched.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::Multipart;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use store::actors::ADMIN;
use store::entities::workflow_version;
use store::migrate_cases::{CasePlan, MigrationRequest};

use super::error::PageError;
use super::layout::{Nav, page};
use super::session::{CSRF_FIELD, CsrfForm, Viewer, query_escape, same_secret};
use crate::server::AppState;
use crate::server::api::codes::ErrorCode;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/workflows/{id}/migration", get(show).post(submit))
        .route("/workflows/{id}/migration/fichier", post(upload))
}

/// The name the mapping's diagnostics give it, as the API does.
const MAPPING_NAME: &str = "<mapping>";

fn admin_only(viewer: &Viewer) -> Result<(), PageError> {
    if viewer.actor.has(ADMIN) {
        Ok(())
    } else {
        Err(PageError::forbidden())
    }
}

/// What the form posts. `action` is the button pressed: `simuler` or `migrer`.
#[derive(Deserialize, Default)]
struct MigrationForm {
    #[serde(default)]
    to_version: String,
    #[serde(default)]
    mapping: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    action: String,
}

/// The workflow's versions (newest first) and how many open cases each has.
struct Versions {
    title: String,
    rows: Vec<(i32, u64)>,
}

impl Versions {
    /// The versions some open case could move to: newer than the version of an open case.
    fn targets(&self) -> Vec<i32> {
        let oldest_open = self
            .rows
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(v, _)| *v)
            .min();
        match oldest_open {
            Some(oldest) => self
                .rows
                .iter()
                .map(|(v, _)| *v)
                .filter(|v| *v > oldest)
                .collect(),
            None => Vec::new(),
        }
    }
}

async fn versions(state: &AppState, id: &str) -> Result<Versions, PageError> {
    let rows: Vec<workflow_version::Model> = state.store.workflow_versions(Some(id)).await?;
    let Some(latest) = rows.first() else {
        return Err(PageError::of(ErrorCode::WorkflowNotFound));
    };
    let title = engine::definition::parse(&latest.source)
        .map(|wf| wf.title)
        .unwrap_or_else(|_| id.to_owned());
    let counts = state.store.open_cases_per_version(id).await?;
    Ok(Versions {
        title,
        rows: rows
            .iter()
            .map(|r| (r.version, counts.get(&r.id).copied().unwrap_or(0)))
            .collect(),
    })
}

/// What the page shows under the form.
enum Outcome {
    /// After a migration's redirect: how many cases moved, how many were left.
    Done { moved: u64, left: u64, to: i32 },
    /// A dry run's plans.
    Planned(Vec<CasePlan>),
    /// The mapping's diagnostics (line, column, code, message, hint).
    BadMapping(Vec<serde_json::Value>),
    /// Refused for another reason (shown beside the target version): the French sentence and
    /// the store's detail.
    Refused { message: String, detail: String },
    /// A field left empty or not a number (`to_version`, `mapping` or `fichier`).
    Missing {
        field: &'static str,
        message: String,
    },
}

/// `GET /workflows/{id}/migration`: the form (administrators), and after a migration what it
/// did (`?migres=N&restes=M&version=V`, set by the redirect).
async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Markup, PageError> {
    admin_only(&viewer)?;
    let versions = versions(&state, &id).await?;
    let outcome = done_from(query.as_deref());
    Ok(view(
        &viewer,
        &id,
        &versions,
        &MigrationForm::default(),
        outcome,
    ))
}

fn done_from(query: Option<&str>) -> Option<Outcome> {
    let pairs: BTreeMap<String, String> = form_urlencoded::parse(query?.as_bytes())
        .into_owned()
        .collect();
    Some(Outcome::Done {
        moved: pairs.get("migres")?.parse().ok()?,
        left: pairs.get("restes")?.parse().ok()?,
        to: pairs.get("version")?.parse().ok()?,
    })
}

/// `POST /workflows/{id}/migration`: "Simuler" (a dry run, answered with the plans) or
/// "Migrer" (then a redirect to the page saying how many cases moved).
async fn submit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CsrfForm<MigrationForm>,
) -> Result<Response, PageError> {
    let viewer = form.viewer;
    admin_only(&viewer)?;
    run(&state, &viewer, &id, form.form).await
}

/// `POST /workflows/{id}/migration/fichier`: a mapping file sent (`multipart/form-data`,
/// fields `_csrf`, `to_version` and `fichier`), simulated as "Simuler" does; its text is then
/// in the form's field, so that "Migrer" moves the cases by the text that was simulated. The
/// session, then the CSRF token, then the role are checked before the file is read.
async fn upload(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    mut form: Multipart,
) -> Result<Response, PageError> {
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        PageError::new(
            ErrorCode::InvalidBody,
            format!("Le formulaire envoyé est incomplet ou mal formé : {e}"),
        )
    };
    let (mut token, mut to_version, mut file) = (None, String::new(), None);
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some(CSRF_FIELD) => token = Some(field.text().await.map_err(unreadable)?),
            Some("to_version") => to_version = field.text().await.map_err(unreadable)?,
            Some("fichier") => file = Some(field.bytes().await.map_err(unreadable)?),
            _ => {}
        }
    }
    if !token.is_some_and(|t| same_secret(&t, &viewer.csrf_token)) {
        return Err(PageError::of(ErrorCode::CsrfFailed));
    }
    admin_only(&viewer)?;
    let f = MigrationForm {
        to_version,
        action: "simuler".to_owned(),
        ..MigrationForm::default()
    };
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        let versions = versions(&state, &id).await?;
        let outcome = Outcome::Missing {
            field: "fichier",
            message: "Choisissez un fichier de correspondance non vide.".to_owned(),
        };
        let status = ErrorCode::InvalidInput.status();
        return Ok((status, view(&viewer, &id, &versions, &f, Some(outcome))).into_response());
    };
    match engine::definition::decode(bytes.to_vec()) {
        Ok(mapping) => run(&state, &viewer, &id, MigrationForm { mapping, ..f }).await,
        Err(d) => {
            let versions = versions(&state, &id).await?;
            let outcome = Outcome::BadMapping(vec![serde_json::json!({
                "line": d.pos.line, "column": d.pos.column, "code": d.code,
                "message": d.message, "hint": d.hint,
            })]);
            let status = ErrorCode::InvalidMapping.status();
            Ok((status, view(&viewer, &id, &versions, &f, Some(outcome))).into_response())
        }
    }
}

/// "Simuler" or "Migrer" with the form's values, answered as `submit` says.
async fn run(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    f: MigrationForm,
) -> Result<Response, PageError> {
    let id = id.to_owned();
    let versions = versions(state, &id).await?;
    let answer = |status: StatusCode, outcome: Outcome| {
        Ok((status, view(viewer, &id, &versions, &f, Some(outcome))).into_response())
    };
    let Ok(to_version) = f.to_version.trim().parse::<i32>() else {
        let message = "Choisissez la version vers laquelle migrer les dossiers.".to_owned();
        let outcome = Outcome::Missing {
            field: "to_version",
            message,
        };
        return answer(ErrorCode::InvalidInput.status(), outcome);
    };
    if f.mapping.trim().is_empty() {
        let message = "Collez le fichier de correspondance avant de simuler ou de migrer.";
        let outcome = Outcome::Missing {
            field: "mapping",
            message: message.to_owned(),
        };
        return answer(ErrorCode::InvalidInput.status(), outcome);
    }
    let dry_run = f.action != "migrer";
    let reason = Some(f.reason.trim().to_owned()).filter(|r| !r.is_empty());
    let report = state
        .store
        .migrate_cases(
            MigrationRequest {
                workflow_id: &id,
                to_version,
                mapping: &f.mapping,
                mapping_name: MAPPING_NAME,
                only: None,
                dry_run,
                actor: Some(viewer.actor.id.clone()),
                reason,
            },
            state.clock.now(),
        )
        .await;
    match report {
        Ok(report) if dry_run => answer(StatusCode::OK, Outcome::Planned(report.cases)),
        Ok(report) => {
            let moved = report.cases.iter().filter(|c| c.error.is_none()).count();
            let left = report.cases.len() - moved;
            Ok(Redirect::to(&format!(
                "/workflows/{}/migration?migres={moved}&restes={left}&version={to_version}",
                query_escape(&id)
            ))
            .into_response())
        }
        Err(store::Error::Rejected { details, .. }) => {
            let list = details["diagnostics"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            answer(
                ErrorCode::InvalidMapping.status(),
                Outcome::BadMapping(list),
            )
        }
        Err(e @ (store::Error::Invalid { .. } | store::Error::NotFound { .. })) => {
            let detail = e.to_string();
            let page = PageError::from(e);
            let outcome = Outcome::Refused {
                message: page.message,
                detail,
            };
            answer(page.status, outcome)
        }
        Err(e) => Err(e.into()),
    }
}

fn view(
    viewer: &Viewer,
    id: &str,
    versions: &Versions,
    f: &MigrationForm,
    outcome: Option<Outcome>,
) -> Markup {
    let targets = versions.targets();
    let chosen = f.to_version.trim().parse::<i32>().ok();
    let version_error = match &outcome {
        Some(Outcome::Missing {
            field: "to_version",
            message,
        }) => Some(message.clone()),
        Some(Outcome::Refused { message, detail }) => Some(format!("{message} ({detail})")),
        _ => None,
    };
    let mapping_error = match &outcome {
        Some(Outcome::Missing {
            field: "mapping",
            message,
        }) => Some(message.clone()),
        Some(Outcome::BadMapping(list)) => Some(format!(
            "Ce fichier de correspondance contient {} : aucun dossier n'a été modifié.",
            plural(list.len(), "erreur", "erreurs")
        )),
        _ => None,
    };
    let file_error = match &outcome {
        Some(Outcome::Missing {
            field: "fichier",
            message,
        }) => Some(message.clone()),
        _ => None,
    };
    let escaped = query_escape(id);
    let main = html! {
        h1 { "Migrer les dossiers en cours" }
        p {
            "Procédure « " (versions.title) " » ("
            a href=(format!("/workflows/{escaped}")) { code { (id) } }
            "). Un dossier reste sur la version de la procédure avec laquelle il a commencé ; "
            "ici, un administrateur peut déplacer les dossiers en cours des versions "
            "antérieures vers une version plus récente, selon un fichier de correspondance "
            "(états, données renommées, délais conservés, annulés ou recalculés). "
            "« Simuler » montre ce qui changerait pour chaque dossier sans rien enregistrer ; "
            "« Migrer » déplace les dossiers, chacun avec une ligne dans son historique."
        }
        @if let Some(Outcome::Done { moved, left, to }) = &outcome {
            section aria-labelledby="resultat" {
                h2 id="resultat" { "Résultat" }
                p.notice.success role="status" {
                    (plural_verb(*moved, "dossier a été migré", "dossiers ont été migrés"))
                    " vers la version " (to) "."
                }
                @if *left > 0 {
                    p.refusal role="alert" {
                        (plural_verb(*left, "dossier n'a pas pu être migré", "dossiers n'ont pas pu être migrés"))
                        " ; ils restent sur leur version. Simulez à nouveau pour voir pourquoi."
                    }
                }
            }
        }
        (versions_table(versions))
        @if targets.is_empty() {
            p.notice role="status" {
                "Aucun dossier en cours n'est sur une version antérieure à la plus récente : "
                "il n'y a rien à migrer."
            }
        }
        h2 { "Migration" }
        form method="post" action=(format!("/workflows/{escaped}/migration")) {
            (viewer.csrf_field())
            div.field {
                label for="to_version" { "Version cible" span.required { " (obligatoire)" } }
                p.hint id="to_version-aide" {
                    "Les versions plus récentes que celle d'au moins un dossier en cours."
                }
                @if let Some(message) = &version_error {
                    p.error id="to_version-erreur" { (message) }
                }
                select id="to_version" name="to_version" required
                    aria-invalid=[version_error.as_ref().map(|_| "true")]
                    aria-describedby=(described("to_version", version_error.is_some())) {
                    @for v in &targets {
                        option value=(v) selected[chosen == Some(*v)] { "Version " (v) }
                    }
                }
            }
            div.field {
                label for="mapping" {
                    "Fichier de correspondance (YAML)" span.required { " (obligatoire)" }
                }
                p.hint id="mapping-aide" {
                    "Les clés " code { "from_version" } ", " code { "states" } ", "
                    code { "variables" } ", " code { "drop" } " et " code { "timers" }
                    " (voir " code { "docs/migrations.md" } ")."
                }
                @if let Some(message) = &mapping_error {
                    div.error id="mapping-erreur" {
                        p { (message) }
                        @if let Some(Outcome::BadMapping(list)) = &outcome {
                            (diagnostics(list))
                        }
                    }
                }
                // The newline after the opening tag is dropped by HTML parsers; without it a
                // text starting with a blank line would lose it, and its line numbers with it.
                textarea.yaml id="mapping" name="mapping" rows="12" spellcheck="false" required
                    aria-invalid=[mapping_error.as_ref().map(|_| "true")]
                    aria-describedby=(described("mapping", mapping_error.is_some())) {
                    "\n" (f.mapping)
                }
            }
            div.field {
                label for="reason" { "Motif" }
                p.hint id="reason-aide" {
                    "Conservé dans l'historique de chaque dossier migré."
                }
                input type="text" id="reason" name="reason" value=(f.reason)
                    aria-describedby="reason-aide";
            }
            button type="submit" name="action" value="simuler" { "Simuler" }
            " "
            button type="submit" name="action" value="migrer" { "Migrer" }
        }
        h2 { "Ou envoyer un fichier de correspondance" }
        form method="post" action=(format!("/workflows/{escaped}/migration/fichier"))
            enctype="multipart/form-data" {
            (viewer.csrf_field())
            div.field {
                label for="to_version_fichier" { "Version cible" span.required { " (obligatoire)" } }
                select id="to_version_fichier" name="to_version" required {
                    @for v in &targets {
                        option value=(v) selected[chosen == Some(*v)] { "Version " (v) }
                    }
                }
            }
            div.field {
                label for="fichier" { "Fichier YAML" span.required { " (obligatoire)" } }
                p.hint id="fichier-aide" {
                    "Le fichier est simulé, rien n'est enregistré ; son texte s'affiche ensuite "
                    "dans le champ ci-dessus, pour le corriger ou migrer les dossiers."
                }
                @if let Some(message) = &file_error {
                    p.error id="fichier-erreur" { (message) }
                }
                input type="file" id="fichier" name="fichier" accept=".yaml,.yml" required
                    aria-invalid=[file_error.as_ref().map(|_| "true")]
                    aria-describedby=(described("fichier", file_error.is_some()));
            }
            button type="submit" { "Simuler ce fichier" }
        }
        @if let Some(Outcome::Planned(plans)) = &outcome {
            (planned(plans))
        }
        p { a href=(format!("/workflows/{escaped}")) { "Retour à la procédure" } }
    };
    page(
        "Migrer les dossiers en cours",
        Some(viewer),
        Nav::Procedures,
        main,
    )
}

fn described(field: &str, error: bool) -> String {
    if error {
        format!("{field}-aide {field}-erreur")
    } else {
        format!("{field}-aide")
    }
}

/// French counts 0 and 1 in the singular.
fn plural(n: usize, one: &str, many: &str) -> String {
    if n <= 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

fn plural_verb(n: u64, one: &str, many: &str) -> String {
    if n <= 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

fn versions_table(versions: &Versions) -> Markup {
    html! {
        h2 { "Dossiers en cours par version" }
        div.table-wrap {
            table.responsive {
                thead {
                    tr {
                        th scope="col" { "Version" }
                        th scope="col" { "Dossiers en cours" }
                    }
                }
                tbody {
                    @for (v, n) in &versions.rows {
                        tr {
                            td data-label="Version" { (v) }
                            td data-label="Dossiers en cours" { (n) }
                        }
                    }
                }
            }
        }
    }
}

fn diagnostics(list: &[serde_json::Value]) -> Markup {
    let text = |d: &serde_json::Value, k: &str| d[k].as_str().unwrap_or("—").to_owned();
    html! {
        div.table-wrap {
            table.responsive.diagnostics {
                thead {
                    tr {
                        th scope="col" { "Ligne:colonne" }
                        th scope="col" { "Code" }
                        th scope="col" { "Problème" }
                        th scope="col" { "Piste" }
                    }
                }
                tbody {
                    @for d in list {
                        tr {
                            td data-label="Ligne:colonne" {
                                code.position { (d["line"]) ":" (d["column"]) }
                            }
                            td data-label="Code" { code { (text(d, "code")) } }
                            td data-label="Problème" { (text(d, "message")) }
                            td data-label="Piste" { (text(d, "hint")) }
                        }
                    }
                }
            }
        }
    }
}

fn planned(plans: &[CasePlan]) -> Markup {
    html! {
        section aria-labelledby="simulation" {
            h2 id="simulation" { "Simulation" }
            p.notice role="status" {
                "Rien n'a été enregistré. "
                @if plans.is_empty() {
                    "Aucun dossier en cours ne serait migré."
                } @else {
                    (plural(plans.len(), "dossier serait migré", "dossiers seraient migrés"))
                    " :"
                }
            }
            @for p in plans {
                article.plan aria-labelledby=(format!("dossier-{}", p.case_id)) {
                    h3 id=(format!("dossier-{}", p.case_id)) {
                        "Dossier "
                        a href=(format!("/cases/{}", query_escape(&p.case_id))) { (p.key) }
                    }
                    p {
                        "Version " (p.from_version) ", état « " (p.from_state) " » → version "
                        (p.to_version) ", état « " (p.to_state) " »."
                    }
                    @if let Some(e) = &p.error {
                        p.refusal { "Ce dossier ne pourrait pas être migré : " (e) }
                    }
                    @if p.changes.is_empty() {
                        p { "Aucun autre changement." }
                    } @else {
                        ul {
                            @for c in &p.changes {
                                li { (c["text"].as_str().unwrap_or("")) }
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

    #[test]
    fn targets_are_newer_than_some_open_case() {
        let v = |rows: Vec<(i32, u64)>| Versions {
            title: String::new(),
            rows,
        };
        assert_eq!(v(vec![(3, 0), (2, 4), (1, 0)]).targets(), vec![3]);
        assert_eq!(v(vec![(3, 1), (2, 0), (1, 2)]).targets(), vec![3, 2]);
        assert!(v(vec![(2, 5), (1, 0)]).targets().is_empty());
        assert!(v(vec![(1, 0)]).targets().is_empty());
    }

    #[test]
    fn the_result_is_read_from_the_redirect_only_when_whole() {
        assert!(matches!(
            done_from(Some("migres=3&restes=1&version=2")),
            Some(Outcome::Done {
                moved: 3,
                left: 1,
                to: 2
            })
        ));
        assert!(done_from(Some("migres=3&version=2")).is_none());
        assert!(done_from(Some("migres=x&restes=0&version=2")).is_none());
        assert!(done_from(None).is_none());
    }
}
