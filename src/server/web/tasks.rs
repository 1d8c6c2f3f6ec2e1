//! "Mes tâches" (`GET /`): the open tasks of the viewer's roles across workflows — the rule of
//! the API's `GET /api/v1/tasks` (an open task of one of the caller's roles) — overdue first,
//! each due date in long French with the days left, filtered by workflow and period, 25 a page.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use chrono::{Datelike, Days, NaiveDate};
use maud::{Markup, html};

use super::error::PageError;
use super::layout::{Nav, page};
use super::session::{Viewer, query_escape};
use crate::server::AppState;
use engine::calendar::brussels::civil_date;
use engine::calendar::french::long_date;
use store::pages::TaskFilter;

const PER_PAGE: u64 = 25;

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(tasks))
}

/// The filters, as the GET form sends them; a value that cannot be read is ignored.
#[derive(Debug, Default)]
pub struct TasksQuery {
    procedure: Option<String>,
    periode: Option<String>,
    page: Option<String>,
}

/// The value of `name` in a query string (the last one when repeated): a page reads its
/// query leniently, an unknown or odd key is no reason to refuse it.
pub fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .last()
        .filter(|v| !v.is_empty())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Period {
    All,
    Late,
    Week,
    Month,
}

impl Period {
    const ALL: [(Period, &'static str, &'static str); 4] = [
        (Period::All, "toutes", "Toutes"),
        (Period::Late, "en-retard", "En retard"),
        (
            Period::Week,
            "semaine",
            "À faire d'ici la fin de la semaine",
        ),
        (Period::Month, "mois", "À faire d'ici la fin du mois"),
    ];

    fn parse(s: Option<&str>) -> Period {
        Period::ALL
            .iter()
            .find(|(_, k, _)| Some(*k) == s)
            .map_or(Period::All, |(p, _, _)| *p)
    }

    fn key(self) -> &'static str {
        Period::ALL
            .iter()
            .find(|(p, _, _)| *p == self)
            .map_or("toutes", |(_, k, _)| k)
    }
}

/// The last day of the week (Sunday) and of the month of `today`.
fn week_end(today: NaiveDate) -> NaiveDate {
    today + Days::new(u64::from(6 - today.weekday().num_days_from_monday()))
}

fn month_end(today: NaiveDate) -> NaiveDate {
    let (y, m) = if today.month() == 12 {
        (today.year() + 1, 1)
    } else {
        (today.year(), today.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .unwrap_or(today)
}

/// "aujourd'hui", "dans 3 jours", "en retard de 2 jours": calendar days from `today`.
pub fn days_left(due: NaiveDate, today: NaiveDate) -> String {
    let n = (due - today).num_days();
    let days = |n: i64| {
        if n == 1 {
            "1 jour".to_owned()
        } else {
            format!("{n} jours")
        }
    };
    match n {
        0 => "aujourd'hui".into(),
        n if n > 0 => format!("dans {}", days(n)),
        n => format!("en retard de {}", days(-n)),
    }
}

async fn tasks(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Markup, PageError> {
    let q = TasksQuery {
        procedure: query_value(raw.as_deref(), "procedure"),
        periode: query_value(raw.as_deref(), "periode"),
        page: query_value(raw.as_deref(), "page"),
    };
    let now = state.clock.now();
    let today = civil_date(now);
    // The workflows in which one of the viewer's roles appears: those their tasks can be in.
    let mut workflows: Vec<(String, String)> = state
        .store
        .latest_versions()
        .iter()
        .filter(|d| d.def.roles.keys().any(|r| viewer.actor.has(r)))
        .map(|d| (d.workflow_id.clone(), d.def.title.clone()))
        .collect();
    workflows.sort_by(|a, b| a.1.cmp(&b.1));
    let titles: HashMap<&str, &str> = workflows
        .iter()
        .map(|(id, t)| (id.as_str(), t.as_str()))
        .collect();
    let workflow = q.procedure.filter(|w| titles.contains_key(w.as_str()));
    let period = Period::parse(q.periode.as_deref());
    let page_no = q
        .page
        .and_then(|p| p.parse::<u64>().ok())
        .filter(|p| (1..=1_000_000).contains(p))
        .unwrap_or(1);
    let filter = TaskFilter {
        workflow: workflow.clone(),
        due_before: (period == Period::Late).then_some(today),
        due_by: match period {
            Period::Week => Some(week_end(today)),
            Period::Month => Some(month_end(today)),
            _ => None,
        },
        limit: PER_PAGE,
        offset: (page_no - 1) * PER_PAGE,
    };
    let (rows, total) = state
        .store
        .task_page(&viewer.actor.roles, &filter, now)
        .await?;
    let pages = total.div_ceil(PER_PAGE).max(1);
    let link = |p: u64| {
        let mut s = format!("/?periode={}&page={p}", period.key());
        if let Some(w) = &workflow {
            s.push_str(&format!("&procedure={}", query_escape(w)));
        }
        s
    };
    let filtered = workflow.is_some() || period != Period::All;
    let main = html! {
        h1 { "Mes tâches" }
        form.filters method="get" action="/" {
            div.field {
                label for="f-procedure" { "Procédure" }
                select id="f-procedure" name="procedure" {
                    option value="" { "Toutes les procédures" }
                    @for (id, title) in &workflows {
                        option value=(id) selected[workflow.as_deref() == Some(id.as_str())] { (title) }
                    }
                }
            }
            div.field {
                label for="f-periode" { "Échéance" }
                select id="f-periode" name="periode" {
                    @for (p, key, text) in Period::ALL {
                        option value=(key) selected[p == period] { (text) }
                    }
                }
            }
            button type="submit" { "Filtrer" }
        }
        @if rows.is_empty() {
            p.notice {
                @if filtered {
                    "Aucune tâche ouverte ne correspond à ces critères."
                } @else {
                    "Vous n'avez aucune tâche ouverte. Les tâches de vos rôles apparaîtront ici."
                }
            }
        } @else {
            p.muted {
                (total) @if total == 1 { " tâche ouverte" } @else { " tâches ouvertes" }
                @if pages > 1 { " — page " (page_no) " sur " (pages) }
            }
            div.table-wrap {
                table.responsive {
                    caption { "Tâches ouvertes, les plus urgentes d'abord" }
                    thead {
                        tr {
                            th scope="col" { "Tâche" }
                            th scope="col" { "Dossier" }
                            th scope="col" { "Procédure" }
                            th scope="col" { "Échéance" }
                            th scope="col" { "Base légale" }
                        }
                    }
                    tbody {
                        @for r in &rows {
                            @let due = r.task.due_date.as_deref().and_then(|d| d.parse::<NaiveDate>().ok());
                            tr class=[r.task.overdue.then_some("late-row")] {
                                td data-label="Tâche" {
                                    a href=(format!("/cases/{}/tasks/{}", query_escape(&r.task.case_id), query_escape(&r.task.task_id))) {
                                        (r.task.title)
                                    }
                                }
                                td data-label="Dossier" {
                                    a href=(format!("/cases/{}", query_escape(&r.task.case_id))) { (r.case_key) }
                                }
                                td data-label="Procédure" {
                                    (titles.get(r.workflow.as_str()).copied().unwrap_or(r.workflow.as_str()))
                                }
                                td data-label="Échéance" {
                                    @if let Some(d) = due {
                                        @if r.task.overdue { span.badge.late { "En retard" } " " }
                                        "au plus tard le " (long_date(d))
                                        br;
                                        span.muted[!r.task.overdue].late[r.task.overdue] { "(" (days_left(d, today)) ")" }
                                    } @else {
                                        span.muted { "sans échéance" }
                                    }
                                }
                                td data-label="Base légale" {
                                    (r.task.legal_basis.as_deref().unwrap_or("—"))
                                }
                            }
                        }
                    }
                }
            }
            @if pages > 1 {
                nav.pager aria-label="Pages" {
                    @if page_no > 1 {
                        a href=(link(page_no - 1)) rel="prev" { "Page précédente" }
                    }
                    " "
                    @if page_no < pages {
                        a href=(link(page_no + 1)) rel="next" { "Page suivante" }
                    }
                }
            }
        }
    };
    Ok(page("Mes tâches", Some(&viewer), Nav::Tasks, main))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn queries_are_read_leniently() {
        let q = Some("page=2&procedure=a%20b&page=3&x&procedure=");
        assert_eq!(query_value(q, "page").as_deref(), Some("3"));
        assert_eq!(query_value(q, "procedure"), None);
        assert_eq!(query_value(q, "periode"), None);
        assert_eq!(query_value(None, "page"), None);
    }

    #[test]
    fn days_left_read_in_french() {
        let today = d(2027, 1, 5);
        assert_eq!(days_left(d(2027, 1, 5), today), "aujourd'hui");
        assert_eq!(days_left(d(2027, 1, 6), today), "dans 1 jour");
        assert_eq!(days_left(d(2027, 1, 8), today), "dans 3 jours");
        assert_eq!(days_left(d(2027, 1, 3), today), "en retard de 2 jours");
        assert_eq!(days_left(d(2027, 1, 4), today), "en retard de 1 jour");
    }

    #[test]
    fn periods_end_on_sunday_and_the_months_last_day() {
        // Tuesday 5 January 2027.
        assert_eq!(week_end(d(2027, 1, 5)), d(2027, 1, 10));
        assert_eq!(week_end(d(2027, 1, 10)), d(2027, 1, 10));
        assert_eq!(month_end(d(2027, 1, 5)), d(2027, 1, 31));
        assert_eq!(month_end(d(2026, 12, 31)), d(2026, 12, 31));
        assert_eq!(month_end(d(2028, 2, 3)), d(2028, 2, 29));
    }
}
