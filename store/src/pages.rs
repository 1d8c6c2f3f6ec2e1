//! Reads the web pages need and the API does not: a page of an actor's open tasks with their
//! case's key and workflow, the names of actors seen in a history, and a case's children.
//! Each keeps the API's rules; the API's `GET /tasks` reads the same order of tasks
//! ([`Store::open_tasks`]).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use engine::machine::civil::civil_date;
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::{actor, case, task};
use super::queries::{TaskView, task_view};
use super::{Error, Store};

/// Which open tasks a page of "Mes tâches" shows.
#[derive(Debug, Default)]
pub struct TaskFilter {
    /// Only tasks of cases of this workflow.
    pub workflow: Option<String>,
    /// Only tasks due before this day (the overdue ones: today).
    pub due_before: Option<NaiveDate>,
    /// Only tasks due on or before this day.
    pub due_by: Option<NaiveDate>,
    pub limit: u64,
    pub offset: u64,
}

/// An open task with what a list shows of its case.
#[derive(Debug)]
pub struct TaskRow {
    pub task: TaskView,
    pub case_key: String,
    pub workflow: String,
}

impl Store {
    /// Open tasks for any of these roles ("Mes tâches" and the API's `GET /tasks`), earliest
    /// due first and undated last (ties by id), one page of them, and how many match in all.
    pub async fn task_page(
        &self,
        roles: &[String],
        f: &TaskFilter,
        now: DateTime<Utc>,
    ) -> Result<(Vec<TaskRow>, u64), Error> {
        let today = civil_date(now);
        let total = open_tasks_query(roles, f).count(&self.db).await?;
        let rows = self.ordered_tasks(roles, f).await?;
        let ids: Vec<String> = rows.iter().map(|t| t.case_id.clone()).collect();
        let cases: HashMap<String, (String, String)> = case::Entity::find()
            .filter(case::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|c| (c.id, (c.business_key, c.workflow_id)))
            .collect();
        let page = rows
            .into_iter()
            .map(|t| {
                let (case_key, workflow) = cases.get(&t.case_id).cloned().unwrap_or_default();
                TaskRow {
                    task: task_view(t, today),
                    case_key,
                    workflow,
                }
            })
            .collect();
        Ok((page, total))
    }

    /// The tasks of [`Store::task_page`] alone, without their count or their cases' keys (the
    /// API's `GET /tasks`).
    pub async fn open_tasks(
        &self,
        roles: &[String],
        f: &TaskFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<TaskView>, Error> {
        let today = civil_date(now);
        Ok(self
            .ordered_tasks(roles, f)
            .await?
            .into_iter()
            .map(|t| task_view(t, today))
            .collect())
    }

    /// One page of the order, read as two ordered ranges of the `tasks_open_by_due` index
    /// instead of one `ORDER BY due_date NULLS LAST`, which no index serves and which sorted
    /// every open task to show a page: first the dated tasks by `(due_date, id)`, then, once
    /// a page reaches past them, the undated ones by `id`.
    async fn ordered_tasks(
        &self,
        roles: &[String],
        f: &TaskFilter,
    ) -> Result<Vec<task::Model>, Error> {
        let q = open_tasks_query(roles, f);
        let limit = f.limit.min(i64::MAX as u64);
        let offset = f.offset.min(i64::MAX as u64);
        let dated = q.clone().filter(task::Column::DueDate.is_not_null());
        let mut rows = dated
            .clone()
            .order_by_asc(task::Column::DueDate)
            .order_by_asc(task::Column::Id)
            .limit(limit)
            .offset(offset)
            .all(&self.db)
            .await?;
        let short = limit - rows.len() as u64;
        // A date filter leaves no undated task; otherwise the page goes on with them.
        let undated_possible = f.due_before.is_none() && f.due_by.is_none();
        if short > 0 && undated_possible {
            // Rows found mean the page starts among the dated tasks, so their count is known;
            // a page past all of them counts them (over the index, no sort).
            let dated_count = if rows.is_empty() {
                dated.count(&self.db).await?
            } else {
                offset + rows.len() as u64
            };
            rows.extend(
                q.filter(task::Column::DueDate.is_null())
                    .order_by_asc(task::Column::Id)
                    .limit(short)
                    .offset(offset.saturating_sub(dated_count))
                    .all(&self.db)
                    .await?,
            );
        }
        Ok(rows)
    }

    /// The open cases of a workflow per version id (the migration page's table).
    pub async fn open_cases_per_version(&self, workflow: &str) -> Result<HashMap<i64, u64>, Error> {
        let counts: Vec<(i64, i64)> = case::Entity::find()
            .select_only()
            .column(case::Column::VersionId)
            .column_as(case::Column::Id.count(), "n")
            .filter(case::Column::WorkflowId.eq(workflow))
            .filter(case::Column::Status.eq(case::Status::Open))
            .group_by(case::Column::VersionId)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(counts
            .into_iter()
            .map(|(v, n)| (v, u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// The names of these actors (ids not found are absent).
    pub async fn actor_names(&self, ids: &[String]) -> Result<HashMap<String, String>, Error> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(actor::Entity::find()
            .filter(actor::Column::Id.is_in(ids.iter().cloned()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect())
    }

    /// The cases a case started, oldest first. `workflows` are the workflows it can start
    /// (from its definition): only their cases are read.
    pub async fn child_cases(
        &self,
        parent_id: &str,
        workflows: &[String],
    ) -> Result<Vec<case::Model>, Error> {
        if workflows.is_empty() {
            return Ok(Vec::new());
        }
        Ok(case::Entity::find()
            .filter(case::Column::WorkflowId.is_in(workflows.iter().cloned()))
            .filter(case::Column::ParentId.eq(parent_id))
            .order_by_asc(case::Column::CreatedAt)
            .order_by_asc(case::Column::Id)
            .all(&self.db)
            .await?)
    }
}

/// The open tasks of these roles that a filter keeps, in no order.
fn open_tasks_query(roles: &[String], f: &TaskFilter) -> sea_orm::Select<task::Entity> {
    let mut q = task::Entity::find()
        .filter(task::Column::Status.eq(task::Status::Open))
        .filter(task::Column::Role.is_in(roles.iter().cloned()));
    if let Some(w) = &f.workflow {
        q = q.filter(
            task::Column::CaseId.in_subquery(
                Query::select()
                    .column(case::Column::Id)
                    .from(case::Entity)
                    .and_where(case::Column::WorkflowId.eq(w))
                    .to_owned(),
            ),
        );
    }
    // Dates are stored as `YYYY-MM-DD`: text order is date order.
    if let Some(d) = f.due_before {
        q = q.filter(task::Column::DueDate.lt(d.to_string()));
    }
    if let Some(d) = f.due_by {
        q = q.filter(task::Column::DueDate.lte(d.to_string()));
    }
    q
}
