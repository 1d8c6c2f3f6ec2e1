//! Decisions on a case, on its page, for the roles its workflow's `administration` allows:
//! correcting recorded values, extending, suspending or resuming a deadline, closing the case.
//! One form each, posted to `POST /cases/{id}/decisions` with the session's CSRF token; the
//! store call and the engine's checks are the API's (`api::case_changes`), so a refusal is the
//! same, shown as a French page with its code, and changes nothing.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use chrono::NaiveDate;
use engine::calendar::{Length, Unit};
use engine::machine::{DeadlineChange, Definition, STARTED_ON};
use maud::{Markup, html};
use serde::Deserialize;
use store::case_changes::{CaseChange, ChangeRequest};
use store::queries::CaseView;

use super::error::PageError;
use super::form::{self, Values};
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

fn reason_field(scope: &str, required: bool) -> Markup {
    let id = format!("{scope}-motif");
    html! {
        div.field {
            label for=(id) {
                "Motif "
                @if required { span.required { "(obligatoire)" } } @else { span.muted { "(facultatif)" } }
            }
            textarea id=(id) name="reason" rows="2" required[required] {}
            p.hint { "Gardé dans l'historique du dossier." }
        }
    }
}

/// The decisions section of a case page, or nothing for a viewer who may take none.
pub fn section(viewer: &Viewer, def: &Definition, view: &CaseView) -> Markup {
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
    html! {
        section aria-labelledby="decisions" {
            h2 id="decisions" { "Décisions sur le dossier" }
            p.hint { "Chaque décision est motivée et reste dans l'historique du dossier ; les délais qui en dépendent sont recalculés." }
            @if correct {
                details {
                    summary id="d-correction-titre" { strong { "Corriger une information enregistrée" } }
                    form.action method="post" action=(action) aria-labelledby="d-correction-titre" {
                        (hidden("correction"))
                        p.hint { "Remplissez seulement ce qui doit être corrigé." }
                        (form::fields(def, &[], &correctable(def), &Values::default(), None, "d-correction"))
                        (reason_field("d-correction", true))
                        button type="submit" { "Enregistrer la correction" }
                    }
                }
            }
            @if deadlines {
                @for d in &running {
                    @let name = d.label.clone().unwrap_or_else(|| form::readable(&d.timer));
                    @let scope = format!("d-{}", d.timer);
                    @if d.status == "armed" {
                        details {
                            summary id=(format!("{scope}-prolonger")) { strong { "Prolonger « " (name) " » (échéance le " (d.due_long) ")" } }
                            form.action method="post" action=(action) aria-labelledby=(format!("{scope}-prolonger")) {
                                (hidden("extension"))
                                input type="hidden" name="timer" value=(d.timer);
                                div.field {
                                    label for=(format!("{scope}-duree")) { "Durée " span.required { "(obligatoire)" } }
                                    input type="number" id=(format!("{scope}-duree")) name="count" min="1" max="5000" required;
                                }
                                div.field {
                                    label for=(format!("{scope}-unite")) { "Unité" }
                                    select id=(format!("{scope}-unite")) name="unit" {
                                        option value="working_days" { "jours ouvrables" }
                                        option value="calendar_days" { "jours de calendrier" }
                                        option value="months" { "mois" }
                                        option value="years" { "ans" }
                                    }
                                }
                                (reason_field(&format!("{scope}-p"), true))
                                button type="submit" { "Prolonger le délai" }
                            }
                        }
                        details {
                            summary id=(format!("{scope}-suspendre")) { strong { "Suspendre « " (name) " »" } }
                            form.action method="post" action=(action) aria-labelledby=(format!("{scope}-suspendre")) {
                                (hidden("suspension"))
                                input type="hidden" name="timer" value=(d.timer);
                                div.field {
                                    label for=(format!("{scope}-depuis")) { "Suspendu à partir du " span.required { "(obligatoire)" } }
                                    input type="date" id=(format!("{scope}-depuis")) name="date" required;
                                }
                                (reason_field(&format!("{scope}-s"), true))
                                button type="submit" { "Suspendre le délai" }
                            }
                        }
                    } @else {
                        details {
                            summary id=(format!("{scope}-reprendre")) { strong { "Reprendre « " (name) " » (suspendu)" } }
                            form.action method="post" action=(action) aria-labelledby=(format!("{scope}-reprendre")) {
                                (hidden("resumption"))
                                input type="hidden" name="timer" value=(d.timer);
                                div.field {
                                    label for=(format!("{scope}-reprise")) { "Repris le " span.required { "(obligatoire)" } }
                                    input type="date" id=(format!("{scope}-reprise")) name="date" required;
                                }
                                (reason_field(&format!("{scope}-r"), false))
                                button type="submit" { "Reprendre le délai" }
                            }
                        }
                    }
                }
            }
            @if close {
                details {
                    summary id="d-cloture-titre" { strong { "Clôturer le dossier" } }
                    form.action method="post" action=(action) aria-labelledby="d-cloture-titre" {
                        (hidden("closing"))
                        div.field {
                            label for="d-cloture-issue" { "Issue " span.required { "(obligatoire)" } }
                            input type="text" id="d-cloture-issue" name="outcome" maxlength="100" required;
                            p.hint { "Par exemple : sans suite, désistement." }
                        }
                        (reason_field("d-cloture", true))
                        button type="submit" { "Clôturer le dossier" }
                    }
                }
            }
        }
    }
}

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

fn date(raw: Option<&str>) -> Result<NaiveDate, PageError> {
    raw.and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
        .ok_or_else(|| {
            PageError::new(
                ErrorCode::InvalidInput,
                "Indiquez une date valide (jour, mois, année) ; rien n'a été modifié.",
            )
        })
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
    let timer = || f.timer.clone().ok_or_else(|| incomplete("délai absent"));
    let change = match f.change.as_str() {
        "correction" => CaseChange::Correction {
            inputs: form::collect(def, &[], &correctable(def), &fields).0,
        },
        "extension" => {
            let count = f
                .count
                .as_deref()
                .and_then(|c| c.trim().parse::<u32>().ok())
                .ok_or_else(|| {
                    PageError::new(
                        ErrorCode::InvalidInput,
                        "Indiquez la durée de la prolongation en nombre entier ; rien n'a été modifié.",
                    )
                })?;
            let unit = match f.unit.as_deref() {
                Some("calendar_days") => Unit::CalendarDays,
                Some("months") => Unit::Months,
                Some("years") => Unit::Years,
                _ => Unit::WorkingDays,
            };
            CaseChange::Deadline {
                timer: timer()?,
                change: DeadlineChange::Extend(Length::new(count, unit)),
            }
        }
        "suspension" => CaseChange::Deadline {
            timer: timer()?,
            change: DeadlineChange::Suspend {
                from: date(f.date.as_deref())?,
            },
        },
        "resumption" => CaseChange::Deadline {
            timer: timer()?,
            change: DeadlineChange::Resume {
                on: date(f.date.as_deref())?,
            },
        },
        "closing" => CaseChange::Close {
            outcome: f.outcome.clone().unwrap_or_default(),
        },
        _ => return Err(incomplete("décision inconnue")),
    };
    let reason = f
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let now = state.clock.now();
    let by = viewer.actor.engine();
    state
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
        .await?;
    state.poke();
    Ok(Redirect::to(&format!(
        "/cases/{}?fait={}",
        query_escape(&id),
        query_escape(&f.change)
    ))
    .into_response())
}
