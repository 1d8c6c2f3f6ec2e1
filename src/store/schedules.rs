//! Cron schedules of deployed workflows: each occurrence starts its case once, whatever the
//! number of processes or restarts. The `schedule_runs` row of an occurrence is inserted in the
//! transaction that starts its case; a second process inserting the same key does nothing.
//! Occurrences missed while the server was down are run when it comes back (a yearly campaign
//! must not be lost), from the workflow's first deployment at the earliest.

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Brussels;
use engine::machine::{self, Actor, StartRequest, next_runs};
use sea_orm::sea_query::Expr;
use std::sync::Arc;

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

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
        d: &Arc<Deployed>,
        index: usize,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let s = &d.def.schedules[index];
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
            Ok(started) => Some(started),
            Err(refusal) => {
                // Validation makes this unreachable for shipped text; recorded, not retried.
                tracing::error!(workflow = %d.workflow_id, schedule = %s.id, %refusal, "scheduled start refused");
                None
            }
        };
        let (store, deployed) = (self.clone(), d.clone());
        let ran = self
            .write(move |txn| {
                let (store, deployed) = (store.clone(), deployed.clone());
                let (key, started) = (key.clone(), started.clone());
                Box::pin(async move {
                    let d = &deployed;
                    let claimed = txn
                        .exec(
                            &schedule_run::Entity::insert(schedule_run::ActiveModel {
                                workflow_id: Set(d.workflow_id.clone()),
                                schedule: Set(index as i32),
                                at: Set(millis(at)),
                                case_id: Set(None),
                                ran_at: Set(millis(now)),
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
                        .await?;
                    // Another process ran this occurrence, or its start was refused (the row
                    // is kept so it is not retried).
                    let Some((case, effects)) = started.filter(|_| claimed == 1) else {
                        return Ok(false);
                    };
                    let id = new_case_id();
                    let row = Row::New {
                        id: id.clone(),
                        key,
                        parent_id: None,
                    };
                    Writer::new(&store, txn, now)
                        .write(d, row, &case, effects, None)
                        .await?;
                    txn.exec(
                        &schedule_run::Entity::update_many()
                            .col_expr(schedule_run::Column::CaseId, Expr::value(id))
                            .filter(schedule_run::Column::WorkflowId.eq(&d.workflow_id))
                            .filter(schedule_run::Column::Schedule.eq(index as i32))
                            .filter(schedule_run::Column::At.eq(millis(at))),
                    )
                    .await?;
                    Ok(true)
                })
            })
            .await?;
        if ran {
            tracing::info!(workflow = %d.workflow_id, schedule = %s.id, %at, "scheduled case started");
            metrics::counter!("jalon_transitions_total", "trigger" => "schedule").increment(1);
        }
        Ok(ran)
    }
}
