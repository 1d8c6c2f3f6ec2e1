//! Read models for the API and the operator: a case with its deadlines and tasks, lists with
//! filters, history, an actor's tasks. The stuck list is `stuck.rs`.

use chrono::{DateTime, NaiveDate, Utc};
use engine::machine::{Case, TimerStatus, civil::civil_date};

use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, Statement,
};
use serde::Serialize;

use super::drive::decode;
use super::entities::{case, history, outbox, task, timer, workflow_version};
pub use super::stuck::StuckCase;
use super::{Error, Store};
use crate::clock::{from_millis, millis};

#[derive(Debug, Serialize)]
pub struct DeadlineView {
    /// The timer (or, for a reminder, the timer or task it reminds of).
    pub timer: String,
    pub label: Option<String>,
    /// `deadline`, `recurring`, `reminder`, or `grace` (a period met by posting has ended and
    /// letters posted in time are still awaited until `fire_at`).
    pub kind: String,
    /// `armed` or `suspended`.
    pub status: String,
    /// The last day allowed (Europe/Brussels), `YYYY-MM-DD`.
    pub due_date: NaiveDate,
    /// "lundi 5 janvier 2027".
    pub due_long: String,
    /// When the timer fires (UTC); absent while suspended.
    pub fire_at: Option<DateTime<Utc>>,
    /// How the date was counted, in French, one line per step.
    pub explanation: Vec<String>,
    pub legal_basis: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TaskView {
    pub case_id: String,
    pub task_id: String,
    pub role: String,
    pub title: String,
    pub instructions: Option<String>,
    pub due_date: Option<String>,
    pub explanation: Option<String>,
    pub legal_basis: Option<String>,
    pub status: String,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub overdue: bool,
}

#[derive(Debug, Serialize)]
pub struct EventView {
    pub name: String,
    pub label: Option<String>,
    pub by: Vec<String>,
    pub inputs: Vec<String>,
    pub optional_inputs: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct CaseView {
    pub id: String,
    pub workflow: String,
    pub version: i32,
    pub key: String,
    pub state: String,
    pub state_label: Option<String>,
    /// `open` or `closed`.
    pub status: String,
    pub outcome: Option<String>,
    /// Send it back as `expected_version` to refuse an event if the case changed meanwhile.
    pub row_version: i64,
    pub parent_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub entered_at: DateTime<Utc>,
    pub variables: serde_json::Value,
    pub deadlines: Vec<DeadlineView>,
    pub tasks: Vec<TaskView>,
    /// The events the current state accepts.
    pub events: Vec<EventView>,
}

#[derive(Debug, Serialize)]
pub struct CaseSummary {
    pub id: String,
    pub workflow: String,
    pub key: String,
    pub state: String,
    pub status: String,
    pub outcome: Option<String>,
    pub row_version: i64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct HistoryView {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: Option<String>,
    pub trigger: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub inputs: serde_json::Value,
    pub reason: Option<String>,
    pub detail: serde_json::Value,
    /// For a timer: how long after its due instant it fired.
    pub late_ms: Option<i64>,
    pub hash: String,
}

#[derive(Debug, Default)]
pub struct CaseFilter {
    pub workflow: Option<String>,
    pub state: Option<String>,
    pub status: Option<case::Status>,
    pub overdue: bool,
    pub actor: Option<String>,
    /// Only cases of these workflows (those the caller may read), filtered before the page
    /// is cut: a page is never short because of cases the caller cannot see.
    pub readable: Option<Vec<String>>,
    pub limit: u64,
    pub offset: u64,
}

fn summary(m: &case::Model) -> CaseSummary {
    CaseSummary {
        id: m.id.clone(),
        workflow: m.workflow_id.clone(),
        key: m.business_key.clone(),
        state: m.state.clone(),
        status: m.status.as_str().to_owned(),
        outcome: m.outcome.clone(),
        row_version: m.row_version,
        updated_at: from_millis(m.updated_at),
    }
}

pub(crate) fn task_view(t: task::Model, today: NaiveDate) -> TaskView {
    let overdue = t.status == task::Status::Open
        && t.due_date
            .as_deref()
            .and_then(|d| d.parse::<NaiveDate>().ok())
            .is_some_and(|d| d < today);
    TaskView {
        case_id: t.case_id,
        task_id: t.task_id,
        role: t.role,
        title: t.title,
        instructions: t.instructions,
        due_date: t.due_date,
        explanation: t.explanation,
        legal_basis: t.legal_basis,
        status: t.status.as_str().to_owned(),
        opened_at: from_millis(t.opened_at),
        closed_at: t.closed_at.map(from_millis),
        overdue,
    }
}

fn deadlines(case: &Case, def: &engine::machine::Definition) -> Vec<DeadlineView> {
    case.timers
        .iter()
        .map(|t| {
            let d = def.timer(&t.key.timer);
            DeadlineView {
                timer: t.key.timer.to_string(),
                // A reminder of a task is named by the task's title.
                label: d
                    .and_then(|d| d.label.as_ref().map(|l| l.to_string()))
                    .or_else(|| def.task(&t.key.timer).map(|t| t.title.to_string())),
                kind: t.kind.name().into(),
                status: match t.status {
                    TimerStatus::Armed => "armed",
                    TimerStatus::Suspended { .. } => "suspended",
                }
                .into(),
                due_date: t.due.due,
                due_long: engine::calendar::french::long_date(t.due.due),
                fire_at: t.is_armed().then_some(t.fire_at),
                explanation: t.due.explain_fr(),
                legal_basis: d.and_then(|d| d.legal_basis.as_ref().map(|l| l.to_string())),
            }
        })
        .collect()
}

impl Store {
    /// Stored versions, newest first per workflow: every workflow's, or one's (empty when it
    /// was never deployed).
    pub async fn workflow_versions(
        &self,
        workflow: Option<&str>,
    ) -> Result<Vec<workflow_version::Model>, Error> {
        let mut q = workflow_version::Entity::find();
        if let Some(id) = workflow {
            q = q.filter(workflow_version::Column::WorkflowId.eq(id));
        }
        Ok(q.order_by_asc(workflow_version::Column::WorkflowId)
            .order_by_desc(workflow_version::Column::Version)
            .all(&self.db)
            .await?)
    }

    /// The latest compiled version of every workflow this process knows.
    pub fn latest_versions(&self) -> Vec<std::sync::Arc<crate::Deployed>> {
        self.registry.all_latest()
    }

    pub async fn case_row(&self, id: &str) -> Result<case::Model, Error> {
        self.read_one(&case::Entity::find_by_id(id))
            .await?
            .ok_or_else(|| Error::not_found("case_not_found", format!("case {id}")))
    }

    pub async fn case_view(
        &self,
        row: &case::Model,
        now: DateTime<Utc>,
    ) -> Result<CaseView, Error> {
        let deployed = self
            .registry
            .version((&self.db).into(), row.version_id)
            .await?;
        let case = decode(row)?;
        let def = &deployed.def;
        let today = civil_date(now);
        let open = task::Entity::find()
            .filter(task::Column::CaseId.eq(&row.id))
            .filter(task::Column::Status.eq(task::Status::Open))
            .order_by_asc(task::Column::Id);
        let tasks = self
            .read_all::<task::Model>(&open)
            .await?
            .into_iter()
            .map(|t| task_view(t, today))
            .collect();
        let state = def.state(&case.state);
        let events = if case.is_closed() {
            Vec::new()
        } else {
            state
                .map(|s| {
                    s.events
                        .iter()
                        .map(|e| EventView {
                            name: e.name.to_string(),
                            label: e.label.as_ref().map(|l| l.to_string()),
                            by: e.by.iter().map(|r| r.to_string()).collect(),
                            inputs: e.inputs.iter().map(|r| r.to_string()).collect(),
                            optional_inputs: e
                                .optional_inputs
                                .iter()
                                .map(|r| r.to_string())
                                .collect(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(CaseView {
            id: row.id.clone(),
            workflow: row.workflow_id.clone(),
            version: deployed.version,
            key: row.business_key.clone(),
            state: row.state.clone(),
            state_label: state.map(|s| s.label.to_string()),
            status: row.status.as_str().to_owned(),
            outcome: row.outcome.clone(),
            row_version: row.row_version,
            parent_id: row.parent_id.clone(),
            created_at: from_millis(row.created_at),
            updated_at: from_millis(row.updated_at),
            entered_at: from_millis(row.entered_at),
            variables: serde_json::Value::Object(
                case.variables
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
            deadlines: deadlines(&case, def),
            tasks,
            events,
        })
    }

    /// A page of cases, the last changed first (`updated_at DESC, id DESC`), filtered before
    /// the page is cut.
    pub async fn list_cases(
        &self,
        f: &CaseFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<CaseSummary>, Error> {
        let stmt = list_statement(f, now, self.db.get_database_backend());
        let rows = case::Entity::find()
            .from_raw_sql(stmt)
            .all(&self.db)
            .await?;
        Ok(rows.iter().map(summary).collect())
    }

    pub async fn history(&self, case_id: &str) -> Result<Vec<HistoryView>, Error> {
        let rows = history::Entity::find()
            .filter(history::Column::CaseId.eq(case_id))
            .order_by_asc(history::Column::Seq)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|h| HistoryView {
                seq: h.seq,
                at: from_millis(h.at),
                actor: h.actor_id,
                trigger: h.trigger,
                from_state: h.from_state,
                to_state: h.to_state,
                inputs: serde_json::from_str(&h.inputs).unwrap_or_default(),
                reason: h.reason,
                detail: serde_json::from_str(&h.detail).unwrap_or_default(),
                late_ms: h.late_ms,
                hash: h.hash,
            })
            .collect())
    }

    /// Counts for `/metrics`: open cases, armed timers, pending and dead notices.
    pub async fn depths(&self) -> Result<[(&'static str, u64); 4], Error> {
        Ok([
            (
                "open_cases",
                case::Entity::find()
                    .filter(case::Column::Status.eq(case::Status::Open))
                    .count(&self.db)
                    .await?,
            ),
            (
                "armed_timers",
                timer::Entity::find()
                    .filter(timer::Column::Status.eq(timer::Status::Armed))
                    .count(&self.db)
                    .await?,
            ),
            (
                "pending_notices",
                outbox::Entity::find()
                    .filter(outbox::Column::Status.eq(outbox::Status::Pending))
                    .count(&self.db)
                    .await?,
            ),
            (
                "dead_notices",
                outbox::Entity::find()
                    .filter(outbox::Column::Status.eq(outbox::Status::Dead))
                    .count(&self.db)
                    .await?,
            ),
        ])
    }
}

/// The one workflow a list is limited to, if any: the one asked for, or the only one the
/// caller may read.
fn one_workflow(f: &CaseFilter) -> Option<&String> {
    f.workflow.as_ref().or(match f.readable.as_deref() {
        Some([only]) => Some(only),
        _ => None,
    })
}

/// The statement `Store::list_cases` sends (a test reads its plan). A page is a range of
/// `cases_workflow_updated` when the list is one workflow's, else of `cases_updated`, read
/// backwards, its other filters checked on the index's entries (`m20261213_000001_case_list`).
/// SQLite is told so: without statistics (`ANALYZE`) it takes `status = ?` or `workflow_id IN
/// (...)` for a few rows and reads them all through `cases_open` or `cases_state_entered`,
/// then sorts them (at 1,000,000 cases 0.5–2 s a page). Not with `actor` or `overdue`: their
/// subqueries give the cases to read, a few, sorted after.
fn list_statement(f: &CaseFilter, now: DateTime<Utc>, backend: DbBackend) -> Statement {
    let mut stmt = list_query(f, now).build(backend);
    if backend == DbBackend::Sqlite && f.actor.is_none() && !f.overdue {
        let index = if one_workflow(f).is_some() {
            "cases_workflow_updated"
        } else {
            "cases_updated"
        };
        stmt.sql = stmt.sql.replacen(
            r#"FROM "cases""#,
            &format!(r#"FROM "cases" INDEXED BY "{index}""#),
            1,
        );
    }
    stmt
}

fn list_query(f: &CaseFilter, now: DateTime<Utc>) -> Select<case::Entity> {
    let mut q = case::Entity::find();
    if let Some(w) = one_workflow(f) {
        q = q.filter(case::Column::WorkflowId.eq(w));
    }
    if let Some(s) = &f.state {
        q = q.filter(case::Column::State.eq(s));
    }
    if let Some(ws) = &f.readable {
        q = q.filter(case::Column::WorkflowId.is_in(ws.iter().cloned()));
    }
    if let Some(s) = f.status {
        q = q.filter(case::Column::Status.eq(s));
    }
    if let Some(a) = &f.actor {
        q = q.filter(
            case::Column::Id.in_subquery(
                Query::select()
                    .column(history::Column::CaseId)
                    .from(history::Entity)
                    .and_where(history::Column::ActorId.eq(a))
                    .to_owned(),
            ),
        );
    }
    if f.overdue {
        let today = civil_date(now).to_string();
        q = q.filter(
            Condition::any()
                .add(
                    case::Column::Id.in_subquery(
                        Query::select()
                            .column(task::Column::CaseId)
                            .from(task::Entity)
                            .and_where(task::Column::Status.eq(task::Status::Open))
                            .and_where(task::Column::DueDate.lt(today))
                            .to_owned(),
                    ),
                )
                .add(
                    case::Column::Id.in_subquery(
                        Query::select()
                            .column(timer::Column::CaseId)
                            .from(timer::Entity)
                            .and_where(timer::Column::Status.eq(timer::Status::Armed))
                            .and_where(timer::Column::FireAt.lt(millis(now)))
                            .to_owned(),
                    ),
                ),
        );
    }
    // Both columns one way, so that the indexes read backwards give this order.
    q.order_by_desc(case::Column::UpdatedAt)
        .order_by_desc(case::Column::Id)
        // Bound as SQL integers: above `i64::MAX` the binding panics (the API refuses such
        // pages before, with 422 `invalid_query`: `api::body::page`).
        .limit(f.limit.min(i64::MAX as u64))
        .offset(f.offset.min(i64::MAX as u64))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use sea_orm::ConnectionTrait;

    use super::*;

    async fn store(dir: &std::path::Path) -> Store {
        crate::ensure_dir(dir).unwrap();
        Store::open(&crate::sqlite_url(dir), engine::calendar::Calendar::fwb())
            .await
            .unwrap()
    }

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 11, 0, 0).unwrap()
    }

    /// Every filter of the case list but `actor` and `overdue` reads its page on SQLite as a
    /// range of an index in the list's order, backwards: no temporary B-tree sorting the
    /// matching cases, no scan of the table. At 1,000,000 cases such a sort took 0.3–2 s a
    /// page (`docs/performance.md`, "A million open cases").
    #[tokio::test]
    async fn a_page_of_the_case_list_is_a_range_of_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        let list = |f: CaseFilter| CaseFilter {
            limit: 50,
            offset: 100,
            ..f
        };
        let some = |s: &str| Some(s.to_owned());
        let readable = |ws: &[&str]| Some(ws.iter().map(|w| w.to_string()).collect());
        let filters = [
            ("every case", list(CaseFilter::default()), "cases_updated"),
            (
                "a workflow's",
                list(CaseFilter {
                    workflow: some("w"),
                    ..Default::default()
                }),
                "cases_workflow_updated",
            ),
            (
                "a workflow's open cases",
                list(CaseFilter {
                    workflow: some("w"),
                    status: Some(case::Status::Open),
                    ..Default::default()
                }),
                "cases_workflow_updated",
            ),
            (
                "a workflow's cases in a state",
                list(CaseFilter {
                    workflow: some("w"),
                    state: some("s"),
                    ..Default::default()
                }),
                "cases_workflow_updated",
            ),
            (
                "a state",
                list(CaseFilter {
                    state: some("s"),
                    ..Default::default()
                }),
                "cases_updated",
            ),
            (
                "the open cases",
                list(CaseFilter {
                    status: Some(case::Status::Open),
                    ..Default::default()
                }),
                "cases_updated",
            ),
            (
                "the open cases an actor may read",
                list(CaseFilter {
                    status: Some(case::Status::Open),
                    readable: readable(&["w", "v"]),
                    ..Default::default()
                }),
                "cases_updated",
            ),
            (
                "what an actor of one workflow may read",
                list(CaseFilter {
                    readable: readable(&["w"]),
                    ..Default::default()
                }),
                "cases_workflow_updated",
            ),
            (
                "a workflow's cases an actor may read",
                list(CaseFilter {
                    workflow: some("w"),
                    readable: readable(&["w", "v"]),
                    ..Default::default()
                }),
                "cases_workflow_updated",
            ),
        ];
        for (name, f, index) in filters {
            let mut stmt = list_statement(&f, noon(), DbBackend::Sqlite);
            stmt.sql = format!("EXPLAIN QUERY PLAN {}", stmt.sql);
            let rows = store
                .db
                .query_all_raw(stmt)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let plan: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String>("", "detail").unwrap())
                .collect();
            assert!(
                plan.iter()
                    .any(|d| d.contains(&format!("USING INDEX {index}")))
                    && !plan
                        .iter()
                        .any(|d| d.contains("TEMP B-TREE") || d == "SCAN cases"),
                "{name}: not a range of {index} in the list's order: {plan:#?}"
            );
        }
    }

    /// The last changed case first; among cases changed in the same millisecond, the greater
    /// id (the one created last: ids are UUIDv7) first. A page is cut after the filters.
    #[tokio::test]
    async fn the_case_list_is_last_changed_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        store
            .db
            .execute_unprepared(
                "INSERT INTO workflow_versions (id, workflow_id, version, hash, title, source, \
                 templates, deployed_at) VALUES (1, 'w', 1, 'h', 'W', '', '{}', 0), \
                 (2, 'v', 1, 'h', 'V', '', '{}', 0)",
            )
            .await
            .unwrap();
        for (id, workflow, status, updated_at) in [
            ("01", "w", "open", 1_000),
            ("02", "v", "open", 3_000),
            ("03", "w", "closed", 2_000),
            ("04", "w", "open", 2_000),
            ("05", "w", "open", 2_000),
            ("06", "v", "open", 500),
        ] {
            let version = if workflow == "w" { 1 } else { 2 };
            store
                .db
                .execute_unprepared(&format!(
                    "INSERT INTO cases (id, workflow_id, version_id, business_key, state, \
                     status, data, row_version, created_at, updated_at, entered_at, last_hash) \
                     VALUES ('{id}', '{workflow}', {version}, 'K-{id}', 's', '{status}', '{{}}', \
                     1, 0, {updated_at}, 0, '')"
                ))
                .await
                .unwrap();
        }
        let ids = |f: CaseFilter| {
            let store = &store;
            async move {
                let rows = store.list_cases(&f, noon()).await.unwrap();
                rows.into_iter().map(|c| c.id).collect::<Vec<_>>()
            }
        };
        let all = CaseFilter {
            limit: 10,
            ..Default::default()
        };
        assert_eq!(ids(all).await, ["02", "05", "04", "03", "01", "06"]);
        let w_open = CaseFilter {
            workflow: Some("w".into()),
            status: Some(case::Status::Open),
            limit: 2,
            offset: 1,
            ..Default::default()
        };
        assert_eq!(ids(w_open).await, ["04", "01"]);
        let readable_open = CaseFilter {
            readable: Some(vec!["v".into(), "w".into()]),
            status: Some(case::Status::Open),
            limit: 3,
            ..Default::default()
        };
        assert_eq!(ids(readable_open).await, ["02", "05", "04"]);
        let only_v = CaseFilter {
            readable: Some(vec!["v".into()]),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(ids(only_v).await, ["02", "06"]);
    }
}
