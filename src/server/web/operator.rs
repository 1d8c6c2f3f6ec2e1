//! `/operateur`: the operators' page. The stuck cases of `GET /api/v1/operator/stuck`, each
//! reason in French, counted per reason, filtered by reason, procedure and case key, a page at
//! a time (the store reads one page and counts in SQL: `store::stuck`); a failing notice can
//! be sent again with a reason, as `POST /api/v1/operator/notices/{id}/retry` does. Same roles,
//! same store functions as the API.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::PageError;
use super::layout::{Nav, page};
use super::session::{CsrfForm, Viewer, query_escape};
use crate::server::AppState;
use crate::server::api::codes::ErrorCode;
use crate::server::api::operator::TIMER_GRACE_MINUTES;
use store::actors::ActorInfo;
use store::queries::StuckCase;
use store::stuck::{Reason, StuckCounts, StuckFilter};

/// Rows per page of the list.
const PER_PAGE: u64 = 50;

/// Longest key search kept (a longer one cannot match a stored key anyway).
const MAX_SEARCH: usize = 200;

/// Every reason code the store gives, in the order of the summary, with its French label.
const REASONS: [(&str, &str); 6] = [
    ("task_overdue", "Tâche en retard"),
    ("timer_not_fired", "Délai non déclenché"),
    ("notice_failing", "Avis non remis"),
    ("nothing_pending", "Rien n'est attendu"),
    ("idle_too_long", "Inactif depuis trop longtemps"),
    ("schedule_failing", "Démarrage planifié en échec"),
];

/// The French label of a reason code (the code itself for one this page does not know yet).
fn reason_label(code: &str) -> &str {
    REASONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, label)| label)
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/operateur", get(list))
        .route("/operateur/notices/{id}/relancer", post(retry))
}

/// The same rule as the API's operator routes (`api::operator`, `api::notices`).
fn operator_only(actor: &ActorInfo) -> Result<(), PageError> {
    if actor.oversees() {
        Ok(())
    } else {
        Err(PageError::forbidden())
    }
}

/// The list's filters, read from the query string (unknown keys ignored, the last of a repeated
/// key kept, an unreadable page number taken as the first page).
#[derive(Default, Debug)]
struct Filters {
    reason: Option<String>,
    workflow: Option<String>,
    key: Option<String>,
    page: u64,
    retried: Option<i64>,
}

impl Filters {
    fn parse(query: Option<&str>) -> Filters {
        let mut f = Filters {
            page: 1,
            ..Default::default()
        };
        let non_empty = |v: String| {
            let v = v.trim().to_owned();
            (!v.is_empty()).then_some(v)
        };
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned() {
            match k.as_str() {
                "motif" => f.reason = non_empty(v),
                "procedure" => f.workflow = non_empty(v),
                "cle" => f.key = non_empty(v.chars().take(MAX_SEARCH).collect()),
                "page" => f.page = v.trim().parse().ok().filter(|p| *p >= 1).unwrap_or(1),
                "relance" => f.retried = v.trim().parse().ok(),
                _ => {}
            }
        }
        f
    }

    /// The store's filter for page `page` (from 1).
    fn store_filter(&self, page: u64) -> StuckFilter {
        StuckFilter {
            reason: self.reason.as_deref().and_then(Reason::from_code),
            workflow: self.workflow.clone(),
            key: self.key.clone(),
            limit: PER_PAGE,
            offset: (page - 1) * PER_PAGE,
        }
    }

    /// A reason code the store does not know (an old or mistyped link): it lists nothing.
    fn unknown_reason(&self) -> bool {
        self.reason
            .as_deref()
            .is_some_and(|r| Reason::from_code(r).is_none())
    }

    /// This list's address with the reason and page replaced.
    fn href(&self, reason: Option<&str>, page: u64) -> String {
        let mut pairs = Vec::new();
        if let Some(r) = reason {
            pairs.push(("motif", r));
        }
        if let Some(w) = &self.workflow {
            pairs.push(("procedure", w));
        }
        if let Some(k) = &self.key {
            pairs.push(("cle", k));
        }
        let page = page.to_string();
        if page != "1" {
            pairs.push(("page", &page));
        }
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", query_escape(v)))
            .collect();
        if query.is_empty() {
            "/operateur".into()
        } else {
            format!("/operateur?{}", query.join("&"))
        }
    }
}

async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Markup, PageError> {
    operator_only(&viewer.actor)?;
    let filters = Filters::parse(query.as_deref());
    let (now, grace) = (
        state.clock.now(),
        chrono::Duration::minutes(TIMER_GRACE_MINUTES),
    );
    // The counts and the page asked for, side by side (longest stuck first, the key breaking
    // ties: see `store::stuck`).
    let asked = filters.store_filter(filters.page);
    let (counts, mut rows) = futures_util::future::try_join(
        state.store.stuck_counts(&asked, now, grace),
        state.store.stuck_rows(&asked, now, grace),
    )
    .await?;
    let total = if filters.unknown_reason() {
        rows.clear();
        0
    } else {
        counts.total
    };
    // A page past the end shows the last.
    let pages = total.div_ceil(PER_PAGE).max(1);
    let current = filters.page.min(pages);
    if current != filters.page && total > 0 {
        rows = state
            .store
            .stuck_rows(&filters.store_filter(current), now, grace)
            .await?;
    }
    let titles = workflow_titles(&state);
    let list = List {
        counts: &counts,
        total,
        current,
        pages,
        rows: &rows,
    };
    Ok(page(
        "Opérateurs",
        Some(&viewer),
        Nav::Operator,
        list_body(&viewer, &list, &filters, &titles),
    ))
}

/// One page of the list as the store gave it.
struct List<'a> {
    counts: &'a StuckCounts,
    /// Rows of the filter (its reason's count, or every count).
    total: u64,
    current: u64,
    pages: u64,
    rows: &'a [StuckCase],
}

/// Each deployed workflow's id and the title of its latest version, by id (from the compiled
/// versions in memory: the stored rows carry every version's whole source).
fn workflow_titles(state: &AppState) -> Vec<(String, String)> {
    state
        .store
        .latest_versions()
        .iter()
        .map(|d| (d.workflow_id.clone(), d.def.title.to_string()))
        .collect()
}

fn list_body(viewer: &Viewer, list: &List<'_>, f: &Filters, titles: &[(String, String)]) -> Markup {
    let (current, pages, rows) = (list.current, list.pages, list.rows);
    let count = |code: &str| Reason::from_code(code).map_or(0, |r| list.counts.of(r));
    let title_of = |id: &str| {
        titles
            .iter()
            .find(|(w, _)| w == id)
            .map_or(id.to_owned(), |(_, t)| t.clone())
    };
    // Workflows to filter on: every deployed one, and any the page names or the filter keeps
    // that is not (a schedule of a removed workflow).
    let mut workflows: Vec<String> = titles.iter().map(|(id, _)| id.clone()).collect();
    for w in rows.iter().map(|s| &s.workflow).chain(f.workflow.as_ref()) {
        if !workflows.contains(w) {
            workflows.push(w.clone());
        }
    }
    html! {
        h1 { "Dossiers bloqués" }
        @if let Some(id) = f.retried {
            p.notice.success role="status" { "L'avis n° " (id) " sera renvoyé." }
        }
        p {
            "Les dossiers qui attendent une intervention : tâche en retard, délai non déclenché, "
            "avis non remis, dossier qui n'attend plus rien ou inactif depuis trop longtemps, "
            "démarrage planifié en échec."
        }
        h2 id="par-motif" { "Par motif" }
        ul aria-labelledby="par-motif" {
            li {
                @if f.reason.is_none() {
                    a href=(f.href(None, 1)) aria-current="true" { "Tous les motifs" }
                } @else {
                    a href=(f.href(None, 1)) { "Tous les motifs" }
                }
                " : " (list.counts.in_scope())
            }
            @for (code, label) in REASONS {
                li {
                    @if f.reason.as_deref() == Some(code) {
                        a href=(f.href(Some(code), 1)) aria-current="true" { (label) }
                    } @else {
                        a href=(f.href(Some(code), 1)) { (label) }
                    }
                    " : " (count(code))
                }
            }
        }
        h2 { "Rechercher" }
        form.filters method="get" action="/operateur" role="search" {
            div.field {
                label for="filtre-motif" { "Motif" }
                select id="filtre-motif" name="motif" {
                    option value="" selected[f.reason.is_none()] { "Tous les motifs" }
                    @for (code, label) in REASONS {
                        option value=(code) selected[f.reason.as_deref() == Some(code)] { (label) }
                    }
                }
            }
            div.field {
                label for="filtre-procedure" { "Procédure" }
                select id="filtre-procedure" name="procedure" {
                    option value="" selected[f.workflow.is_none()] { "Toutes les procédures" }
                    @for w in &workflows {
                        option value=(w) selected[f.workflow.as_ref() == Some(w)] { (title_of(w)) }
                    }
                }
            }
            div.field {
                label for="filtre-cle" { "Référence du dossier" }
                input type="search" id="filtre-cle" name="cle" value=[f.key.as_deref()]
                    maxlength=(MAX_SEARCH);
            }
            button type="submit" { "Filtrer" }
        }
        h2 id="liste" { "Liste" }
        @if rows.is_empty() {
            p { "Aucun dossier bloqué ne correspond à ces critères." }
        } @else {
            p.muted {
                (list.total) " dossier(s) ou avis ; page " (current) " sur " (pages) "."
            }
            div.table-wrap {
                table.responsive aria-labelledby="liste" {
                    thead {
                        tr {
                            th scope="col" { "Dossier" }
                            th scope="col" { "Procédure" }
                            th scope="col" { "État" }
                            th scope="col" { "Motif" }
                            th scope="col" { "Depuis" }
                            th scope="col" { "Action" }
                        }
                    }
                    tbody {
                        @for s in rows {
                            (row(viewer, s, &title_of(&s.workflow)))
                        }
                    }
                }
            }
            @if pages > 1 {
                nav.pager aria-label="Pages de la liste" {
                    @if current > 1 {
                        a href=(f.href(f.reason.as_deref(), current - 1)) rel="prev" { "Page précédente" }
                    }
                    span { "Page " (current) " sur " (pages) }
                    @if current < pages {
                        a href=(f.href(f.reason.as_deref(), current + 1)) rel="next" { "Page suivante" }
                    }
                }
            }
        }
    }
}

fn row(viewer: &Viewer, s: &StuckCase, workflow_title: &str) -> Markup {
    html! {
        tr {
            td data-label="Dossier" {
                @if let Some(id) = &s.case_id {
                    a href={ "/cases/" (id) } { (s.key) }
                } @else {
                    (s.key) " "
                    span.muted { "(pas encore ouvert)" }
                }
            }
            td data-label="Procédure" { (workflow_title) }
            td data-label="État" {
                @if let Some(state) = &s.state { code { (state) } }
                @else { "—" }
            }
            td data-label="Motif" {
                strong { (reason_label(&s.reason)) }
                " : " (s.detail)
            }
            td data-label="Depuis" { (when(s.since)) }
            td data-label="Action" {
                @if let (Some(nid), "notice_failing") = (s.notice_id, s.reason.as_str()) {
                    (retry_form(viewer, nid, "", None))
                } @else {
                    "—"
                }
            }
        }
    }
}

/// The small form that sends a notice again; `error` is shown beside the reason's field.
fn retry_form(viewer: &Viewer, notice: i64, value: &str, error: Option<&str>) -> Markup {
    let field = format!("motif-avis-{notice}");
    let error_id = format!("{field}-erreur");
    html! {
        form.action method="post" action={ "/operateur/notices/" (notice) "/relancer" } {
            (viewer.csrf_field())
            div.field {
                label for=(field) {
                    "Motif " span.required { "(obligatoire)" }
                }
                @if let Some(e) = error {
                    span.error id=(error_id) { (e) }
                    input type="text" id=(field) name="motif" value=(value) required
                        aria-invalid="true" aria-describedby=(error_id) maxlength="1000";
                } @else {
                    input type="text" id=(field) name="motif" value=(value) required
                        maxlength="1000";
                }
            }
            button type="submit" { "Relancer l'avis n° " (notice) }
        }
    }
}

/// An instant as Brussels people read it: "06/12/2026 à 14:05".
fn when(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Brussels)
        .format("%d/%m/%Y à %H:%M")
        .to_string()
}

#[derive(Deserialize)]
struct RetryForm {
    #[serde(default)]
    motif: String,
}

async fn retry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: CsrfForm<RetryForm>,
) -> Result<Response, PageError> {
    let viewer = form.viewer;
    operator_only(&viewer.actor)?;
    let reason = form.form.motif.trim();
    if reason.is_empty() {
        let message = ErrorCode::MissingReason.message_fr();
        let body = html! {
            h1 { "Relancer l'avis n° " (id) }
            div.refusal role="alert" {
                p { "L'avis n'a pas été relancé : " (message) }
            }
            (retry_form(&viewer, id, &form.form.motif, Some(message)))
            p { a href="/operateur" { "Retour à la liste des dossiers bloqués" } }
        };
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            page("Relancer un avis", Some(&viewer), Nav::Operator, body),
        )
            .into_response());
    }
    state.store.notice(id).await?;
    state
        .store
        .retry_notice(id, &viewer.actor.id, reason, state.clock.now())
        .await?;
    tracing::info!(notice = id, by = %viewer.actor.id, "notice retry requested from the operators' page");
    Ok(Redirect::to(&format!("/operateur?relance={id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_the_query_leniently() {
        let f = Filters::parse(Some(
            "motif=notice_failing&procedure=&cle=+CR-1+&page=zero&relance=12&autre=1",
        ));
        assert_eq!(f.reason.as_deref(), Some("notice_failing"));
        assert_eq!(f.workflow, None);
        assert_eq!(f.key.as_deref(), Some("CR-1"));
        assert_eq!(f.page, 1);
        assert_eq!(f.retried, Some(12));
        assert_eq!(Filters::parse(Some("page=3&page=0")).page, 1);
        assert_eq!(Filters::parse(Some("page=3")).page, 3);
        assert_eq!(Filters::parse(None).page, 1);
    }

    #[test]
    fn links_keep_the_other_filters_and_escape_them() {
        let f = Filters::parse(Some("procedure=chambre-recours&cle=A%26B&page=4"));
        assert_eq!(
            f.href(Some("task_overdue"), 1),
            "/operateur?motif=task_overdue&procedure=chambre-recours&cle=A%26B"
        );
        assert_eq!(
            f.href(None, 2),
            "/operateur?procedure=chambre-recours&cle=A%26B&page=2"
        );
        assert_eq!(Filters::default().href(None, 1), "/operateur");
    }

    #[test]
    fn every_reason_has_a_french_label() {
        assert_eq!(reason_label("task_overdue"), "Tâche en retard");
        assert_eq!(
            reason_label("schedule_failing"),
            "Démarrage planifié en échec"
        );
        assert_eq!(reason_label("inconnu"), "inconnu");
    }
}
