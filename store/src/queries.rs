//! Read models for the API and the operator: a case with its deadlines and tasks, lists with
//! filters, history, an actor's tasks, and the stuck cases with the reason for each.

use chrono::{DateTime, NaiveDate, Utc};
use engine::machine::{Case, TimerStatus, civil::civil_date};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use super::drive::decode;
use super::entities::{case, history, outbox, task, timer, workflow_version};
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

#[derive(Debug, Serialize)]
pub struct StuckCase {
    /// Absent for `schedule_failing` (no case was started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    pub workflow: String,
    /// The case's business key; for `schedule_failing`, the key its case will have.
    pub key: String,
    /// Absent for `schedule_failing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Stable code: `task_overdue`, `timer_not_fired`, `notice_failing`, `nothing_pending`,
    /// `idle_too_long`, `schedule_failing` (a schedule occurrence whose case could not start;
    /// retried with backoff).
    pub reason: String,
    /// A French sentence for the operator.
    pub detail: String,
    pub since: DateTime<Utc>,
    /// For `notice_failing`: the notice to retry (`POST /operator/notices/{id}/retry`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice_id: Option<i64>,
    /// For `schedule_failing`: the schedule's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
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
        case::Entity::find_by_id(id)
            .one(&self.db)
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
        let tasks = task::Entity::find()
            .filter(task::Column::CaseId.eq(&row.id))
            .filter(task::Column::Status.eq(task::Status::Open))
            .order_by_asc(task::Column::Id)
            .all(&self.db)
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

    pub async fn list_cases(
        &self,
        f: &CaseFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<CaseSummary>, Error> {
        let mut q = case::Entity::find();
        if let Some(w) = &f.workflow {
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
        let rows = q
            .order_by_desc(case::Column::UpdatedAt)
            .order_by_asc(case::Column::Id)
            // Bound as SQL integers: above `i64::MAX` the binding panics (the API refuses such
            // pages before, with 422 `invalid_query`: `api::body::page`).
            .limit(f.limit.min(i64::MAX as u64))
            .offset(f.offset.min(i64::MAX as u64))
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

    /// Open tasks for any of these roles, earliest due first.
    pub async fn tasks_for_roles(
        &self,
        roles: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<TaskView>, Error> {
        let today = civil_date(now);
        let rows = task::Entity::find()
            .filter(task::Column::Status.eq(task::Status::Open))
            .filter(task::Column::Role.is_in(roles.iter().cloned()))
            .order_by_asc(task::Column::DueDate)
            .order_by_asc(task::Column::Id)
            .limit(1000)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|t| task_view(t, today)).collect())
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

    /// Every case an operator should look at, with the reason; a case may appear once per
    /// reason. `grace` is how late a timer may be before it counts as not fired.
    ///
    /// The database finds the candidates (overdue tasks, late timers, failing notices, open
    /// cases with nothing armed or open, open cases in a state with a `stuck_after` limit);
    /// only those cases are read and decoded, never every open case.
    pub async fn stuck(
        &self,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Result<Vec<StuckCase>, Error> {
        let today = civil_date(now);
        let mut out = Vec::new();
        let mut push = |c: &case::Model,
                        reason: &str,
                        detail: String,
                        since: DateTime<Utc>,
                        notice_id: Option<i64>| {
            out.push(StuckCase {
                notice_id,
                schedule: None,
                case_id: Some(c.id.clone()),
                workflow: c.workflow_id.clone(),
                key: c.business_key.clone(),
                state: Some(c.state.clone()),
                reason: reason.into(),
                detail,
                since,
            })
        };
        let overdue = task::Entity::find()
            .filter(task::Column::Status.eq(task::Status::Open))
            .filter(task::Column::DueDate.lt(today.to_string()))
            .all(&self.db)
            .await?;
        let late = timer::Entity::find()
            .filter(timer::Column::Status.eq(timer::Status::Armed))
            .filter(timer::Column::FireAt.lt(millis(now - grace)))
            .all(&self.db)
            .await?;
        let failing = outbox::Entity::find()
            .filter(
                Condition::any()
                    .add(outbox::Column::Status.eq(outbox::Status::Dead))
                    .add(
                        Condition::all()
                            .add(outbox::Column::Status.eq(outbox::Status::Pending))
                            .add(outbox::Column::Attempts.gt(0)),
                    ),
            )
            .all(&self.db)
            .await?;
        let named = overdue
            .iter()
            .map(|t| &t.case_id)
            .chain(late.iter().map(|t| &t.case_id))
            .chain(failing.iter().filter_map(|n| n.case_id.as_ref()));
        let cases = self.cases_by_id(named).await?;
        let open = |id: &str| cases.get(id).filter(|c| c.status == case::Status::Open);
        for t in &overdue {
            if let Some(c) = open(&t.case_id) {
                push(
                    c,
                    "task_overdue",
                    format!(
                        "la tâche « {} » ({}) devait être faite au plus tard le {}",
                        t.title,
                        t.role,
                        t.due_date.as_deref().unwrap_or("?")
                    ),
                    from_millis(t.opened_at),
                    None,
                );
            }
        }
        for t in &late {
            if let Some(c) = open(&t.case_id) {
                push(
                    c,
                    "timer_not_fired",
                    format!(
                        "le délai {} (échéance le {}) n'a pas été traité{}",
                        t.timer_key,
                        t.due_date,
                        t.last_error
                            .as_deref()
                            .map(|e| format!(" : {e}"))
                            .unwrap_or_default()
                    ),
                    from_millis(t.fire_at),
                    None,
                );
            }
        }
        // A notice of a closed case counts too: the final decision may be the one that did
        // not leave. Digests (no case) are listed by `GET /operator/notices`.
        let notices = failing
            .iter()
            .filter_map(|n| Some((cases.get(n.case_id.as_deref()?)?, n)));
        for (c, n) in notices {
            push(
                c,
                "notice_failing",
                format!(
                    "l'avis « {} » à {} n'est pas parti ({}, {} tentative(s)) : {}",
                    n.template,
                    n.recipient_email.as_deref().unwrap_or("personne"),
                    n.status.as_str(),
                    n.attempts,
                    n.last_error.as_deref().unwrap_or("?")
                ),
                from_millis(n.created_at),
                Some(n.id),
            );
        }
        for (c, check) in self.open_cases_to_check().await?.values() {
            if check.nothing_pending {
                push(
                    c,
                    "nothing_pending",
                    "le dossier n'est pas clôturé mais n'attend aucun délai ni aucune tâche".into(),
                    from_millis(c.entered_at),
                    None,
                );
            }
            if check.limited
                && let Ok(d) = self.registry.version((&self.db).into(), c.version_id).await
                && let Ok(case) = decode(c)
                && let Some(limit) = engine::machine::stuck_limit(&d.def, &self.calendar, &case)
                && now >= limit.expires_at()
            {
                push(
                    c,
                    "idle_too_long",
                    format!(
                        "le dossier est dans l'état « {} » depuis le {} ; limite dépassée le {}",
                        c.state,
                        engine::calendar::french::long_date(case.entered_on),
                        engine::calendar::french::long_date(limit.due)
                    ),
                    from_millis(c.entered_at),
                    None,
                );
            }
        }
        out.extend(
            self.failing_schedule_runs()
                .await?
                .into_iter()
                .map(stuck_run),
        );
        Ok(out)
    }

    /// Cases by id (read in chunks: a statement takes a bounded number of parameters).
    async fn cases_by_id<'a>(
        &self,
        ids: impl Iterator<Item = &'a String>,
    ) -> Result<HashMap<String, case::Model>, Error> {
        let ids: Vec<&str> = ids
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let rows = case::Entity::find()
                .filter(case::Column::Id.is_in(chunk.iter().copied()))
                .all(&self.db)
                .await?;
            out.extend(rows.into_iter().map(|c| (c.id.clone(), c)));
        }
        Ok(out)
    }

    /// The open cases the per-case reasons look at, in id order: those with no armed timer
    /// and no open task, and those in a state whose workflow version declares `stuck_after`.
    async fn open_cases_to_check(&self) -> Result<BTreeMap<String, (case::Model, ToCheck)>, Error> {
        // `NOT IN` rather than a correlated `NOT EXISTS`: SQLite would run the latter once per
        // case through the timers' status index (every armed timer, for every case).
        let armed = Query::select()
            .column(timer::Column::CaseId)
            .from(timer::Entity)
            .and_where(timer::Column::Status.eq(timer::Status::Armed))
            .to_owned();
        let open_task = Query::select()
            .column(task::Column::CaseId)
            .from(task::Entity)
            .and_where(task::Column::Status.eq(task::Status::Open))
            .to_owned();
        let mut out = BTreeMap::new();
        let idle = case::Entity::find()
            .filter(case::Column::Status.eq(case::Status::Open))
            .filter(case::Column::Id.not_in_subquery(armed))
            .filter(case::Column::Id.not_in_subquery(open_task))
            .all(&self.db)
            .await?;
        for c in idle {
            let check = ToCheck {
                nothing_pending: true,
                limited: false,
            };
            out.insert(c.id.clone(), (c, check));
        }
        // The states with a limit, in every deployed version (a version that no longer
        // compiles has none that can be checked).
        let versions: Vec<i64> = workflow_version::Entity::find()
            .select_only()
            .column(workflow_version::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut limited_states = Condition::any();
        let mut any = false;
        for v in versions {
            let Ok(d) = self.registry.version((&self.db).into(), v).await else {
                continue;
            };
            for s in d.def.states.iter().filter(|s| s.stuck_after.is_some()) {
                limited_states = limited_states.add(
                    Condition::all()
                        .add(case::Column::VersionId.eq(v))
                        .add(case::Column::State.eq(&*s.id)),
                );
                any = true;
            }
        }
        if any {
            let limited = case::Entity::find()
                .filter(case::Column::Status.eq(case::Status::Open))
                .filter(limited_states)
                .all(&self.db)
                .await?;
            for c in limited {
                out.entry(c.id.clone())
                    .or_insert((
                        c,
                        ToCheck {
                            nothing_pending: false,
                            limited: false,
                        },
                    ))
                    .1
                    .limited = true;
            }
        }
        Ok(out)
    }
}

/// A schedule occurrence whose case could not start, on the operator's list.
fn stuck_run(r: super::schedules::FailingRun) -> StuckCase {
    let next = r
        .next_attempt_at
        .map(|t| {
            format!(
                " ; prochain essai le {}",
                t.with_timezone(&chrono_tz::Europe::Brussels)
                    .format("%d/%m/%Y à %H:%M:%S")
            )
        })
        .unwrap_or_default();
    StuckCase {
        case_id: None,
        workflow: r.workflow_id,
        key: r.key,
        state: None,
        reason: "schedule_failing".into(),
        detail: format!(
            "la planification « {} » n'a pas pu ouvrir le dossier prévu ({} tentative(s)) : {}{next}",
            r.schedule, r.attempts, r.last_error
        ),
        since: r.at,
        notice_id: None,
        schedule: Some(r.schedule),
    }
}

/// Which per-case reasons an open case is checked for.
struct ToCheck {
    nothing_pending: bool,
    limited: bool,
}
