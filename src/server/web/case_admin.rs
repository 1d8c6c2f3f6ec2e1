//! Decisions on a case, on its page, for the roles its workflow's `administration` allows:
//! correcting recorded values, extending, suspending or resuming a deadline, closing the case.
//! One form each, posted to `POST /cases/{id}/decisions` with the session's CSRF token; the
//! store call and the engine's checks are the API's (`api::case_changes`), so a refusal is the
//! same and changes nothing; it answers the case page (`case::refused_page`) with its status,
//! the French reason beside the field and what was typed kept in the form.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use chrono::NaiveDate;
use engine::calendar::{Length, Unit};
use engine::machine::{DeadlineChange, Definition, Refusal, STARTED_ON};
use maud::{Markup, html};
use serde::Deserialize;
use store::case_changes::{CaseChange, ChangeRequest};
use store::queries::CaseView;

use super::case::{Flash, STALE, refused_page};
use super::error::PageError;
use super::form::{self, FieldError, Values};
use super::session::{CsrfForm, Viewer, query_escape};
use crate::server::AppState;
use crate::server::api::cases::readable;
use crate::server::api::codes::ErrorCode;

pub fn routes() -> Router<AppState> {
    Router::new().route("/cases/{id}/decisions", post(decide))
}

fn may(viewer: &Viewer, allowed: &[Arc<str>]) -> bool {
    viewer
        .actor
        .roles
        .iter()
        .any(|r| allowed.iter().any(|a| **a == **r))
}

/// The variables a correction may replace: every declared one but the day the case opened.
fn correctable(def: &Definition) -> Vec<Arc<str>> {
    def.variables
        .keys()
        .filter(|k| k.as_str() != STARTED_ON)
        .filter_map(|k| def.var(k).map(|(name, _)| name.clone()))
        .collect()
}

/// What a history row of a decision says, in French.
pub(super) fn history_what(def: &Definition, trigger: &str) -> Option<String> {
    if trigger == "correction" {
        return Some("Correction d'informations du dossier".into());
    }
    if let Some(outcome) = trigger.strip_prefix("closing: ") {
        return Some(format!("Dossier clôturé ({})", form::readable(outcome)));
    }
    let rest = trigger.strip_prefix("deadline ")?;
    let (timer, change) = rest.rsplit_once(' ')?;
    let label = def
        .timer(timer)
        .and_then(|t| t.label.as_ref().map(|l| l.to_string()))
        .unwrap_or_else(|| form::readable(timer));
    let what = match change {
        "extension" => "Délai prolongé",
        "suspension" => "Délai suspendu",
        "resumption" => "Délai repris",
        _ => return None,
    };
    Some(format!("{what} : {label}"))
}

/// The form's own fields, named apart from the workflow's variables (which a correction's
/// refusal names), so that a reason is placed beside one field only.
const REASON: &str = ".reason";
const COUNT: &str = ".count";
const DATE: &str = ".date";
const OUTCOME: &str = ".outcome";

/// A refused decision: which form, what was typed in it, and the field the reason is about.
#[derive(Debug, Default, Clone)]
pub struct Draft {
    change: String,
    timer: Option<String>,
    /// A correction's variables as posted.
    values: Values,
    reason: String,
    count: String,
    unit: String,
    date: String,
    outcome: String,
    field: Option<FieldError>,
}

impl Draft {
    fn of(draft: Option<&Draft>, change: &str, timer: Option<&str>) -> Option<Draft> {
        draft
            .filter(|d| d.change == change && d.timer.as_deref() == timer)
            .cloned()
    }

    fn error(&self, own: &str) -> Option<&FieldError> {
        self.field.as_ref().filter(|e| e.input == own)
    }
}

/// What the page says after a decision went through.
pub(super) fn done(change: &str) -> Option<&'static str> {
    Some(match change {
        "correction" => "Correction enregistrée",
        "extension" => "Délai prolongé",
        "suspension" => "Délai suspendu",
        "resumption" => "Délai repris",
        "closing" => "Dossier clôturé",
        _ => return None,
    })
}

/// The attributes of a field that a refusal may be about.
fn aria(error: Option<&FieldError>, id: &str) -> (Option<String>, Option<&'static str>) {
    (error.map(|_| format!("{id}-erreur")), error.map(|_| "true"))
}

fn reason_field(scope: &str, required: bool, draft: &Draft) -> Markup {
    let id = format!("{scope}-motif");
    let error = draft.error(REASON);
    let (described, invalid) = aria(error, &id);
    html! {
        div.field {
            label for=(id) {
                "Motif "
                @if required { span.required { "(obligatoire)" } } @else { span.muted { "(facultatif)" } }
            }
            textarea id=(id) name="reason" rows="2" required[required]
                aria-describedby=[described] aria-invalid=[invalid] { (draft.reason) }
            (form::error_beside(error, &id))
            p.hint { "Gardé dans l'historique du dossier." }
        }
    }
}

fn date_field(id: &str, label: &str, draft: &Draft) -> Markup {
    let error = draft.error(DATE);
    let (described, invalid) = aria(error, id);
    html! {
        div.field {
            label for=(id) { (label) " " span.required { "(obligatoire)" } }
            input type="date" id=(id) name="date" value=(draft.date) required
                aria-describedby=[described] aria-invalid=[invalid];
            (form::error_beside(error, id))
        }
    }
}

/// The decisions section of a case page, or nothing for a viewer who may take none; a refused
/// decision's form is open again with what was typed and the reason beside its field.
pub fn section(
    viewer: &Viewer,
    def: &Definition,
    view: &CaseView,
    refused: Option<&Draft>,
) -> Markup {
    let open = view.status == "open";
    let admin = &def.admin;
    let (correct, deadlines, close) = (
        open && may(viewer, &admin.corrections_by),
        open && may(viewer, &admin.deadlines_by),
        open && may(viewer, &admin.closing_by),
    );
    if !(correct || deadlines || close) {
        return html! {};
    }
    let action = format!("/cases/{}/decisions", query_escape(&view.id));
    let running: Vec<_> = view
        .deadlines
        .iter()
        .filter(|d| d.kind == "deadline")
        .collect();
    let hidden = |change: &str| {
        html! {
            (viewer.csrf_field())
            input type="hidden" name="change" value=(change);
            input type="hidden" name="expected_version" value=(view.row_version);
        }
    };
    let correction = Draft::of(refused, "correction", None);
    let closing = Draft::of(refused, "closing", None);
    html! {
        section aria-labelledby="decisions" {
            h2 id="decisions" { "Décisions sur le dossier" }
            p.hint { "Chaque décision est motivée et reste dans l'historique du dossier ; les délais qui en dépendent sont recalculés." }
            @if correct {
                @let draft = correction.clone().unwrap_or_default();
                details open[correction.is_some()] {
                    summary id="d-correction-titre" { strong { "Corriger une information enregistrée" } }
                    form.action method="post" action=(action) aria-labelledby="d-correction-titre" {
                        (hidden("correction"))
                        p.hint { "Remplissez seulement ce qui doit être corrigé." }
                        (form::fields(def, &[], &correctable(def), &draft.values, draft.field.as_ref(), "d-correction"))
                        (reason_field("d-correction", true, &draft))
                        button type="submit" { "Enregistrer la correction" }
                    }
                }
            }
            @if deadlines {
                @for d in &running {
                    @let name = d.label.clone().unwrap_or_else(|| form::readable(&d.timer));
                    @let scope = format!("d-{}", d.timer);
                    @if d.status == "armed" {
                        @let extension = Draft::of(refused, "extension", Some(&d.timer));
                        @let draft = extension.clone().unwrap_or_default();
                        @let count_id = format!("{scope}-duree");
                        @let count_error = draft.error(COUNT);
                        @let (described, invalid) = aria(count_error, &count_id);
                        details open[extension.is_some()] {
                            summary id=(format!("{scope}-prolonger")) { strong { "Prolonger « " (name) " » (échéance le " (d.due_long) ")" } }
                            form.action method="post" action=(action) aria-labelledby=(format!("{scope}-prolonger")) {
                                (hidden("extension"))
                                input type="hidden" name="timer" value=(d.timer);
                                div.field {
                                    label for=(count_id) { "Durée " span.required { "(obligatoire)" } }
                                    input type="number" id=(count_id) name="count" min="1" max="5000" required
                                        value=(draft.count) aria-describedby=[described] aria-invalid=[invalid];
                                    (form::error_beside(count_error, &count_id))
                                }
                                div.field {
                                    label for=(format!("{scope}-unite")) { "Unité" }
                                    select id=(format!("{scope}-unite")) name="unit" {
                                        @for (value, text) in UNITS {
                                            option value=(value) selected[draft.unit == *value] { (text) }
                                        }
                                    }
                                }
                                (reason_field(&format!("{scope}-p"), true, &draft))
                                button type="submit" { "Prolonger le délai" }
                            }
                        }
                        @let suspension = Draft::of(refused, "suspension", Some(&d.timer));
                        @let draft = suspension.clone().unwrap_or_default();
                        details open[suspension.is_some()] {
                            summary id=(format!("{scope}-suspendre")) { strong { "Suspendre « " (name) " »" } }
                            form.action method="post" action=(action) aria-labelledby=(format!("{scope}-suspendre")) {
                                (hidden("suspension"))
                                input type="hidden" name="timer" value=(d.timer);
                                (date_field(&format!("{scope}-depuis"), "Suspendu à partir du", &draft))
                                (reason_field(&format!("{scope}-s"), true, &draft))
                                button type="submit" { "Suspendre le délai" }
                            }
                        }
                    } @else {
                        @let resumption = Draft::of(refused, "resumption", Some(&d.timer));
                        @let draft = resumption.clone().unwrap_or_default();
                        details open[resumption.is_some()] {
                            summary id=(format!("{scope}-reprendre")) { strong { "Reprendre « " (name) " » (suspendu)" } }
                            form.action method="post" action=(action) aria-labelledby=(format!("{scope}-reprendre")) {
                                (hidden("resumption"))
                                input type="hidden" name="timer" value=(d.timer);
                                (date_field(&format!("{scope}-reprise"), "Repris le", &draft))
                                (reason_field(&format!("{scope}-r"), false, &draft))
                                button type="submit" { "Reprendre le délai" }
                            }
                        }
                    }
                }
            }
            @if close {
                @let draft = closing.clone().unwrap_or_default();
                @let outcome_error = draft.error(OUTCOME);
                @let (described, invalid) = aria(outcome_error, "d-cloture-issue");
                details open[closing.is_some()] {
                    summary id="d-cloture-titre" { strong { "Clôturer le dossier" } }
                    form.action method="post" action=(action) aria-labelledby="d-cloture-titre" {
                        (hidden("closing"))
                        div.field {
                            label for="d-cloture-issue" { "Issue " span.required { "(obligatoire)" } }
                            input type="text" id="d-cloture-issue" name="outcome" maxlength="100" required
                                value=(draft.outcome) aria-describedby=[described] aria-invalid=[invalid];
                            (form::error_beside(outcome_error, "d-cloture-issue"))
                            p.hint { "Par exemple : sans suite, désistement." }
                        }
                        (reason_field("d-cloture", true, &draft))
                        button type="submit" { "Clôturer le dossier" }
                    }
                }
            }
        }
    }
}

/// The units an extension may be counted in, as posted and as read.
const UNITS: &[(&str, &str)] = &[
    ("working_days", "jours ouvrables"),
    ("calendar_days", "jours de calendrier"),
    ("months", "mois"),
    ("years", "ans"),
];

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    change: String,
    #[serde(default)]
    expected_version: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    timer: Option<String>,
    #[serde(default)]
    count: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
}

fn incomplete(what: &str) -> PageError {
    PageError::new(
        ErrorCode::InvalidBody,
        format!(
            "Le formulaire envoyé est incomplet ({what}). Rechargez la page et recommencez ; rien n'a été modifié."
        ),
    )
}

/// A field of the form refused before the store is asked: its reason beside it, in French.
fn beside(own: &str, message: &str) -> (FieldError, String) {
    (
        FieldError {
            input: own.to_owned(),
            message: message.to_owned(),
        },
        message.to_owned(),
    )
}

fn date(raw: &str) -> Result<NaiveDate, (FieldError, String)> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| beside(DATE, "Indiquez une date valide (jour, mois, année)."))
}

fn unit_fr(unit: Unit) -> &'static str {
    match unit {
        Unit::WorkingDays => "jours ouvrables",
        Unit::CalendarDays => "jours de calendrier",
        Unit::Months => "mois",
        Unit::Years => "ans",
    }
}

/// An engine's refusal of a decision in French, beside the form's field it is about. The
/// engine names a decision's own inputs (`length`, `from`, `on`, `outcome`) as the API's body
/// does; a correction's refusals name its variables, told as an event's are.
fn refusal_fr(
    def: &Definition,
    change: &str,
    unit: Unit,
    r: &Refusal,
) -> (Option<FieldError>, String) {
    let extension_range;
    let (own, message) = match (change, r) {
        ("correction", Refusal::MissingInput { input }) if input == "inputs" => {
            return (
                None,
                "Remplissez au moins une information à corriger.".to_owned(),
            );
        }
        (_, Refusal::MissingReason { .. }) => (REASON, "Indiquez la raison de cette décision."),
        ("extension", Refusal::InvalidInput { input, .. }) if input == "length" => {
            extension_range = format!(
                "Indiquez une durée de 1 à {} {}, dont l'échéance reste dans les années que connaît le calendrier.",
                Length::max(unit),
                unit_fr(unit)
            );
            (COUNT, extension_range.as_str())
        }
        ("suspension", Refusal::InvalidInput { input, .. }) if input == "from" => (
            DATE,
            "Une suspension commence au plus tard aujourd'hui, entre le début du délai et son échéance.",
        ),
        ("resumption", Refusal::InvalidInput { input, .. }) if input == "on" => (
            DATE,
            "Une reprise a lieu au plus tard aujourd'hui, et pas avant le début de la suspension.",
        ),
        ("closing", Refusal::MissingInput { input }) if input == "outcome" => {
            (OUTCOME, "Indiquez l'issue du dossier.")
        }
        ("closing", Refusal::InvalidInput { input, .. }) if input == "outcome" => {
            (OUTCOME, "L'issue tient en 100 caractères au plus.")
        }
        _ => return form::refusal_fr(def, r),
    };
    let (f, m) = beside(own, message);
    (Some(f), m)
}

async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: CsrfForm<DecisionForm>,
) -> Result<Response, PageError> {
    let CsrfForm {
        viewer,
        form: f,
        fields,
    } = posted;
    // The API's order: who may read the case is checked before the decision is looked at.
    let row = state.store.case_row(&id).await?;
    readable(&state, &viewer.actor, &row).await?;
    let deployed = state.store.version(row.version_id).await?;
    let def = &deployed.def;
    let expected = f
        .expected_version
        .as_deref()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .ok_or_else(|| incomplete("version du dossier absente"))?;
    let typed = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut draft = Draft {
        change: f.change.clone(),
        timer: f.timer.clone(),
        values: Values::default(),
        reason: typed(&f.reason),
        count: typed(&f.count),
        unit: typed(&f.unit),
        date: typed(&f.date),
        outcome: typed(&f.outcome),
        field: None,
    };
    let timer = || f.timer.clone().ok_or_else(|| incomplete("délai absent"));
    let unit = || match f.unit.as_deref() {
        Some("calendar_days") => Unit::CalendarDays,
        Some("months") => Unit::Months,
        Some("years") => Unit::Years,
        _ => Unit::WorkingDays,
    };
    let change = match f.change.as_str() {
        "correction" => {
            let (inputs, values) = form::collect(def, &[], &correctable(def), &fields);
            draft.values = values;
            Ok(CaseChange::Correction { inputs })
        }
        "extension" => {
            let timer = timer()?;
            let unit = unit();
            draft
                .count
                .trim()
                .parse::<u32>()
                .map(|count| CaseChange::Deadline {
                    timer,
                    change: DeadlineChange::Extend(Length::new(count, unit)),
                })
                .map_err(|_| {
                    beside(
                        COUNT,
                        "Indiquez la durée de la prolongation en nombre entier.",
                    )
                })
        }
        "suspension" => {
            let timer = timer()?;
            date(&draft.date).map(|from| CaseChange::Deadline {
                timer,
                change: DeadlineChange::Suspend { from },
            })
        }
        "resumption" => {
            let timer = timer()?;
            date(&draft.date).map(|on| CaseChange::Deadline {
                timer,
                change: DeadlineChange::Resume { on },
            })
        }
        "closing" => Ok(CaseChange::Close {
            outcome: draft.outcome.clone(),
        }),
        _ => return Err(incomplete("décision inconnue")),
    };
    let change = match change {
        Ok(change) => change,
        Err((field, message)) => {
            draft.field = Some(field);
            let status = ErrorCode::InvalidInput.status();
            let flash = Flash::DecisionRefused { draft, message };
            return refused_page(&state, &viewer, &id, None, status, flash).await;
        }
    };
    let reason = Some(draft.reason.trim())
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let now = state.clock.now();
    let by = viewer.actor.engine();
    let changed = state
        .store
        .change_case(
            ChangeRequest {
                case_id: &id,
                by: &by,
                change,
                reason,
                expected_version: Some(expected),
            },
            now,
        )
        .await;
    match changed {
        Ok(_) => Ok(Redirect::to(&format!(
            "/cases/{}?decision={}",
            query_escape(&id),
            query_escape(&f.change)
        ))
        .into_response()),
        Err(e) => {
            let (field, message) = match &e {
                store::Error::Refused(r) => refusal_fr(def, &f.change, unit(), r),
                e if e.is_stale() => (None, STALE.to_owned()),
                store::Error::Rejected {
                    code: "unknown_document",
                    details,
                    ..
                } => super::documents::unknown_document(details),
                _ => return Err(e.into()),
            };
            draft.field = field;
            let status = PageError::from(e).status;
            let flash = Flash::DecisionRefused { draft, message };
            refused_page(&state, &viewer, &id, None, status, flash).await
        }
    }
}
