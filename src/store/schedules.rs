//! Cron schedules of deployed workflows: each occurrence starts its case once, whatever the
//! number of processes or restarts. The `schedule_runs` row of an occurrence is inserted in the
//! transaction that starts its case; a second process inserting the same key does nothing.
//! Occurrences missed while the server was down are run when it comes back (a yearly campaign
//! must not be lost), from the workflow's first deployment at the earliest.

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Brussels;
use engine::machine::{self, Actor, StartRequest, next_runs};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TryInsertResult,
};

use super::entities::{schedule_run, workflow_version};
use super::registry::Deployed;
use super::transition::{Row, Writer, new_case_id};
use super::{Error, Store};
use crate::clock::{from_millis, millis};

impl Store {
    /// Starts the cases of every schedule occurrence up to `now`; returns how many started.
    pub async fn run_schedules(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let mut started = 0;
        for d in self.registry.all_latest() {
            if d.def.schedules.is_empty() {
                continue;
            }
            // Bounded: each round handles at most `MAX_RUNS` occurrences and moves `since`.
            let mut since = self.schedule_cursor(&d.workflow_id).await?;
            for _ in 0..100 {
                let runs = next_runs(&d.def, since, now);
                let Some(&(_, last)) = runs.last() else { break };
                for (index, at) in runs {
                    if self.run_one(&d, index, at, now).await? {
                        started += 1;
                    }
                }
                since = last;
            }
        }
        Ok(started)
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

    async fn run_one(
        &self,
        d: &Deployed,
        index: usize,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let s = &d.def.schedules[index];
        let txn = self.begin().await?;
        let claimed = schedule_run::Entity::insert(schedule_run::ActiveModel {
            workflow_id: Set(d.workflow_id.clone()),
            schedule: Set(index as i32),
            at: Set(millis(at)),
            case_id: Set(None),
            ran_at: Set(millis(now)),
        })
        .on_conflict_do_nothing()
        .exec(&*txn)
        .await?;
        if matches!(claimed, TryInsertResult::Conflicted) {
            return Ok(false);
        }
        let by = Actor {
            id: format!("schedule:{}", s.id),
            roles: d.def.start.by.iter().map(|r| r.to_string()).collect(),
        };
        let local = at.with_timezone(&Brussels).format("%Y-%m-%dT%H:%M");
        let key = format!("{}-{local}", s.id);
        let started = match machine::start(
            &d.def,
            &self.calendar,
            StartRequest {
                by,
                inputs: s.inputs.clone(),
                now,
            },
        ) {
            Ok(started) => started,
            Err(refusal) => {
                // Validation makes this unreachable for shipped text; recorded, not retried.
                tracing::error!(workflow = %d.workflow_id, schedule = %s.id, %refusal, "scheduled start refused");
                txn.commit().await?;
                return Ok(false);
            }
        };
        let id = new_case_id();
        let row = Row::New {
            id: id.clone(),
            key,
            parent_id: None,
        };
        Writer::new(self, &txn, now)
            .write(d, row, &started.0, started.1, None)
            .await?;
        schedule_run::Entity::update_many()
            .col_expr(schedule_run::Column::CaseId, Expr::value(id))
            .filter(schedule_run::Column::WorkflowId.eq(&d.workflow_id))
            .filter(schedule_run::Column::Schedule.eq(index as i32))
            .filter(schedule_run::Column::At.eq(millis(at)))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        tracing::info!(workflow = %d.workflow_id, schedule = %s.id, %at, "scheduled case started");
        metrics::counter!("jalon_transitions_total", "trigger" => "schedule").increment(1);
        Ok(true)
    }
}
