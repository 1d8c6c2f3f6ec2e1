//! Cron schedules of deployed workflows: each occurrence starts its case once, whatever the
//! number of processes or restarts. The `schedule_runs` row of an occurrence is inserted in the
//! transaction that starts its case; a second process inserting the same key does nothing.
//! Occurrences missed while the server was down are run when it comes back (a yearly campaign
//! must not be lost), from the workflow's first deployment at the earliest.
//!
//! An occurrence whose case cannot start (its start refused, its key already taken, the
//! database refusing the write) stops nothing else: its row is kept without a case, with the
//! error and when to try again (30 s doubling to 4 h), later occurrences and other schedules
//! run, and the operator sees it on the stuck list (`schedule_failing`) until a retry starts it.

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Europe::Brussels;
use engine::machine::{self, next_run, next_runs};
use sea_orm::sea_query::Expr;
use std::sync::Arc;

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use super::drive::{self, new_case_id};
use super::entities::{schedule_run, workflow_version};
use super::registry::Deployed;
use super::transition::Row;
use super::{Error, Store};
use crate::clock::{from_millis, millis};

/// Failing occurrences retried in one pass, at most (the others wait for the next pass).
const RETRIES_PER_PASS: u64 = 100;

/// What a pass over the schedules did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleRuns {
    /// Cases started.
    pub started: usize,
    /// Occurrences that failed to start their case (kept, retried later).
    pub failed: usize,
}

/// An occurrence that failed to start its case, for the operator.
#[derive(Debug, Clone)]
pub struct FailingRun {
    pub workflow_id: String,
    /// The schedule's id.
    pub schedule: String,
    /// The key its case would have.
    pub key: String,
    pub at: DateTime<Utc>,
    pub attempts: i32,
    pub last_error: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// How an occurrence's attempt went.
enum Outcome {
    Started,
    /// Run by another process, or already started.
    Skipped,
    Failed,
}

/// Which attempt: the first inserts the occurrence's row; a retry takes the failing row, keyed
/// by the schedule's index in the version it first ran under (`row`).
#[derive(Clone, Copy)]
enum Attempt {
    First,
    Retry { attempts: i32, row: i32 },
}

/// Seconds to wait before attempt `n + 1` (after `n` failures): 30 s doubling, at most 4 h.
fn backoff_secs(failures: i32) -> i64 {
    std::cmp::min(30i64 << failures.clamp(0, 10), 4 * 3600)
}

/// The business key of an occurrence's case: the schedule and its Brussels wall time, to the
/// minute (`ouverture_annuelle-2027-04-01T08:00`), with the seconds when the cron gives some,
/// so that two occurrences never share a key.
pub fn run_key(schedule: &str, at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&Brussels);
    let minute = local.format("%Y-%m-%dT%H:%M");
    match local.second() {
        0 => format!("{schedule}-{minute}"),
        s => format!("{schedule}-{minute}:{s:02}"),
    }
}

/// Where a failing occurrence's schedule is in the latest version: found by id (the index of
/// the version it first ran under may now be another schedule's).
fn schedule_index(d: &Deployed, row: &schedule_run::Model) -> Option<usize> {
    match &row.schedule_id {
        Some(id) => d.def.schedules.iter().position(|s| &*s.id == id),
        None => usize::try_from(row.schedule)
            .ok()
            .filter(|&i| i < d.def.schedules.len()),
    }
}

fn failing() -> Select<schedule_run::Entity> {
    schedule_run::Entity::find()
        .filter(schedule_run::Column::CaseId.is_null())
        .filter(schedule_run::Column::LastError.is_not_null())
}

impl Store {
    /// Starts the cases of every schedule occurrence up to `now`, then retries the failing
    /// occurrences that are due. A workflow whose schedules cannot be read is logged and left
    /// for the next pass; the others still run.
    pub async fn run_schedules(&self, now: DateTime<Utc>) -> ScheduleRuns {
        let mut pass = ScheduleRuns::default();
        for d in self.registry.all_latest() {
            if d.def.schedules.is_empty() {
                continue;
            }
            if let Err(e) = self.run_workflow_schedules(&d, now, &mut pass).await {
                tracing::error!(workflow = %d.workflow_id, error = %e, "schedules not run; next pass tries again");
            }
        }
        if let Err(e) = self.retry_failing_runs(now, &mut pass).await {
            tracing::error!(error = %e, "failing schedule runs not retried; next pass tries again");
        }
        pass
    }

    async fn run_workflow_schedules(
        &self,
        d: &Arc<Deployed>,
        now: DateTime<Utc>,
        pass: &mut ScheduleRuns,
    ) -> Result<(), Error> {
        // Bounded: each round handles at most `MAX_RUNS` occurrences and moves `since`.
        let mut since = self.schedule_cursor(&d.workflow_id).await?;
        for _ in 0..100 {
            let runs = next_runs(&d.def, since, now);
            let Some(&(_, last)) = runs.last() else { break };
            for (index, at) in runs {
                // An error here means the failure could not be recorded either: stop, so that
                // the cursor stays before this occurrence and the next pass runs it.
                pass.add(self.run_one(d, index, at, now, Attempt::First).await?);
            }
            since = last;
        }
        Ok(())
    }

    /// Retries the failing occurrences whose backoff has passed, with the workflow's latest
    /// version (a new deployment may be what fixes them).
    async fn retry_failing_runs(
        &self,
        now: DateTime<Utc>,
        pass: &mut ScheduleRuns,
    ) -> Result<(), Error> {
        let due = failing()
            .filter(schedule_run::Column::NextAttemptAt.lte(millis(now)))
            .order_by_asc(schedule_run::Column::NextAttemptAt)
            .limit(RETRIES_PER_PASS)
            .all(&self.db)
            .await?;
        for row in due {
            let attempt = Attempt::Retry {
                attempts: row.attempts,
                row: row.schedule,
            };
            let at = from_millis(row.at);
            let latest = self.registry.latest(&row.workflow_id);
            let found = latest.as_ref().and_then(|d| schedule_index(d, &row));
            let ran = match (latest, found) {
                (Some(d), Some(index)) => self.run_one(&d, index, at, now, attempt).await,
                // Its schedule is gone (or its workflow left out): still failing, and its next
                // attempt moves on, so that the loop does not wake for it again at once.
                _ => {
                    let error =
                        "schedule_removed: the workflow's latest version has no such schedule";
                    let schedule = (row.schedule, row.schedule_id.as_deref().unwrap_or(""));
                    self.run_failed(&row.workflow_id, schedule, at, now, attempt, error.into())
                        .await
                        .map(|()| Outcome::Failed)
                }
            };
            match ran {
                Ok(o) => pass.add(o),
                Err(e) => {
                    tracing::error!(workflow = %row.workflow_id, error = %e, "schedule retry not recorded")
                }
            }
        }
        Ok(())
    }

    /// The last occurrence handled for a workflow, or its first deployment.
    async fn schedule_cursor(&self, workflow_id: &str) -> Result<DateTime<Utc>, Error> {
        let last: Option<Option<i64>> = schedule_run::Entity::find()
            .select_only()
            .column_as(schedule_run::Column::At.max(), "m")
            .filter(schedule_run::Column::WorkflowId.eq(workflow_id))
            .into_tuple()
            .one(&self.db)
            .await?;
        if let Some(Some(ms)) = last {
            return Ok(from_millis(ms));
        }
        let first: Option<Option<i64>> = workflow_version::Entity::find()
            .select_only()
            .column_as(workflow_version::Column::DeployedAt.min(), "m")
            .filter(workflow_version::Column::WorkflowId.eq(workflow_id))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(from_millis(first.flatten().unwrap_or(0)))
    }

    /// The earliest instant after `now` at which a schedule has work: its next occurrence in
    /// the latest deployed versions, or a failing occurrence's next attempt.
    pub async fn next_schedule_at(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        let occurrence = self
            .registry
            .all_latest()
            .iter()
            .filter_map(|d| next_run(&d.def, now).map(|(_, t)| t))
            .min();
        let retry: Option<Option<i64>> = failing()
            .select_only()
            .column_as(schedule_run::Column::NextAttemptAt.min(), "m")
            .into_tuple()
            .one(&self.db)
            .await?;
        let retry = retry.flatten().map(from_millis);
        Ok(occurrence.into_iter().chain(retry).min())
    }

    /// The occurrences that failed to start their case, oldest first.
    pub async fn failing_schedule_runs(&self) -> Result<Vec<FailingRun>, Error> {
        let rows = failing()
            .order_by_asc(schedule_run::Column::At)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let at = from_millis(r.at);
                let schedule = r
                    .schedule_id
                    .clone()
                    .unwrap_or_else(|| format!("#{}", r.schedule));
                FailingRun {
                    key: run_key(&schedule, at),
                    workflow_id: r.workflow_id,
                    schedule,
                    at,
                    attempts: r.attempts,
                    last_error: r.last_error.unwrap_or_default(),
                    next_attempt_at: r.next_attempt_at.map(from_millis),
                }
            })
            .collect())
    }

    /// One attempt at an occurrence. `Err` only when even its failure could not be recorded.
    async fn run_one(
        &self,
        d: &Arc<Deployed>,
        index: usize,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
        attempt: Attempt,
    ) -> Result<Outcome, Error> {
        let s = &d.def.schedules[index];
        let key = run_key(&s.id, at);
        let ran = match drive::start_scheduled(self, d, index, now) {
            Ok(started) => {
                self.start_run(d, index, at, now, attempt, key, started)
                    .await
            }
            Err(refusal) => Err(Error::Refused(refusal)),
        };
        match ran {
            Ok(true) => {
                tracing::info!(workflow = %d.workflow_id, schedule = %s.id, %at, "scheduled case started");
                metrics::counter!("jalon_transitions_total", "trigger" => "schedule").increment(1);
                Ok(Outcome::Started)
            }
            Ok(false) => Ok(Outcome::Skipped),
            Err(e) => {
                let error = format!("{}: {e}", e.code());
                tracing::error!(workflow = %d.workflow_id, schedule = %s.id, %at, %error, "scheduled case not started; retried later");
                let schedule = (index as i32, &*s.id);
                self.run_failed(&d.workflow_id, schedule, at, now, attempt, error)
                    .await?;
                Ok(Outcome::Failed)
            }
        }
    }

    /// Starts an occurrence's case in the transaction that marks the occurrence run (inserts
    /// its row, or takes its failing row). `false`: another process ran it.
    #[allow(clippy::too_many_arguments)]
    async fn start_run(
        &self,
        d: &Arc<Deployed>,
        index: usize,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
        attempt: Attempt,
        key: String,
        started: (machine::Case, Vec<machine::Effect>),
    ) -> Result<bool, Error> {
        let (store, deployed) = (self.clone(), d.clone());
        let id = new_case_id();
        let schedule_id = d.def.schedules[index].id.clone();
        self.write(move |txn| {
            let (store, deployed) = (store.clone(), deployed.clone());
            let (key, id, (case, effects)) = (key.clone(), id.clone(), started.clone());
            let schedule_id = schedule_id.clone();
            Box::pin(async move {
                let d = &deployed;
                let claimed = match attempt {
                    Attempt::First => {
                        txn.exec(
                            &schedule_run::Entity::insert(schedule_run::ActiveModel {
                                workflow_id: Set(d.workflow_id.clone()),
                                schedule: Set(index as i32),
                                at: Set(millis(at)),
                                case_id: Set(Some(id.clone())),
                                ran_at: Set(millis(now)),
                                attempts: Set(0),
                                last_error: Set(None),
                                next_attempt_at: Set(None),
                                schedule_id: Set(Some(schedule_id.to_string())),
                            })
                            .on_conflict(
                                OnConflict::columns([
                                    schedule_run::Column::WorkflowId,
                                    schedule_run::Column::Schedule,
                                    schedule_run::Column::At,
                                ])
                                .do_nothing()
                                .to_owned(),
                            ),
                        )
                        .await?
                    }
                    // PostgreSQL locks the row: a second process waits, then finds it run.
                    Attempt::Retry { row, .. } => {
                        txn.exec(
                            &schedule_run::Entity::update_many()
                                .col_expr(schedule_run::Column::CaseId, Expr::value(id.clone()))
                                .col_expr(schedule_run::Column::RanAt, Expr::value(millis(now)))
                                .col_expr(
                                    schedule_run::Column::LastError,
                                    Expr::value(Option::<String>::None),
                                )
                                .col_expr(
                                    schedule_run::Column::NextAttemptAt,
                                    Expr::value(Option::<i64>::None),
                                )
                                .filter(schedule_run::Column::WorkflowId.eq(&d.workflow_id))
                                .filter(schedule_run::Column::Schedule.eq(row))
                                .filter(schedule_run::Column::At.eq(millis(at)))
                                .filter(schedule_run::Column::CaseId.is_null()),
                        )
                        .await?
                    }
                };
                if claimed != 1 {
                    return Ok(None);
                }
                let row = Row::New {
                    id,
                    key,
                    parent_id: None,
                };
                let applied = drive::apply(&store, txn, now, d, row, &case, effects, None).await?;
                Ok(Some((applied.changed, applied.due)))
            })
        })
        .await
        .map(|changed| {
            let started = changed.is_some();
            let (changed, due) = changed.unwrap_or_default();
            self.applied(changed, due);
            started
        })
    }

    /// Records a failed attempt on the occurrence's row (inserted with no case on the first
    /// one): the next attempt after the backoff. A row another process has meanwhile run or
    /// recorded is left as it is.
    async fn run_failed(
        &self,
        workflow_id: &str,
        (schedule, schedule_id): (i32, &str),
        at: DateTime<Utc>,
        now: DateTime<Utc>,
        attempt: Attempt,
        error: String,
    ) -> Result<(), Error> {
        let failures = match attempt {
            Attempt::First => 0,
            Attempt::Retry { attempts, .. } => attempts,
        };
        let next = millis(now) + backoff_secs(failures) * 1000;
        let (workflow_id, at) = (workflow_id.to_owned(), millis(at));
        match attempt {
            Attempt::First => {
                let q = schedule_run::Entity::insert(schedule_run::ActiveModel {
                    workflow_id: Set(workflow_id),
                    schedule: Set(schedule),
                    at: Set(at),
                    case_id: Set(None),
                    ran_at: Set(millis(now)),
                    attempts: Set(1),
                    last_error: Set(Some(error)),
                    next_attempt_at: Set(Some(next)),
                    schedule_id: Set(Some(schedule_id.to_owned())),
                })
                .on_conflict(
                    OnConflict::columns([
                        schedule_run::Column::WorkflowId,
                        schedule_run::Column::Schedule,
                        schedule_run::Column::At,
                    ])
                    .do_nothing()
                    .to_owned(),
                );
                self.exec_statement(q).await?;
            }
            Attempt::Retry { attempts, row } => {
                let q = schedule_run::Entity::update_many()
                    .col_expr(schedule_run::Column::Attempts, Expr::value(attempts + 1))
                    .col_expr(schedule_run::Column::LastError, Expr::value(error))
                    .col_expr(schedule_run::Column::NextAttemptAt, Expr::value(next))
                    .col_expr(schedule_run::Column::RanAt, Expr::value(millis(now)))
                    .filter(schedule_run::Column::WorkflowId.eq(workflow_id))
                    .filter(schedule_run::Column::Schedule.eq(row))
                    .filter(schedule_run::Column::At.eq(at))
                    .filter(schedule_run::Column::CaseId.is_null())
                    .filter(schedule_run::Column::Attempts.eq(attempts));
                self.exec_statement(q).await?;
            }
        }
        Ok(())
    }
}

impl ScheduleRuns {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Started => self.started += 1,
            Outcome::Skipped => {}
            Outcome::Failed => self.failed += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn keys_name_the_minute_and_the_seconds_when_there_are_some() {
        // 08:00 Brussels, summer time: the format other code and tests rely on.
        let at = utc("2027-04-01T06:00:00Z");
        assert_eq!(run_key("ouverture", at), "ouverture-2027-04-01T08:00");
        let at = utc("2027-04-01T06:00:30Z");
        assert_eq!(run_key("ouverture", at), "ouverture-2027-04-01T08:00:30");
        // Two occurrences within one minute have two keys.
        assert_ne!(
            run_key("s", utc("2027-04-01T06:00:10Z")),
            run_key("s", utc("2027-04-01T06:00:20Z"))
        );
    }

    #[test]
    fn backoff_doubles_from_thirty_seconds_to_four_hours() {
        assert_eq!(
            [0, 1, 2, 9, 20].map(backoff_secs),
            [30, 60, 120, 4 * 3600, 4 * 3600]
        );
    }
}
