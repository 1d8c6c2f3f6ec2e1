//! Changes of a running case by decision (corrections, deadline extension, suspension and
//! resumption, closing): each is a trigger of the engine (`machine::Trigger::Correction`,
//! `Deadline`, `Close`) driven like an event, in one transaction with its optimistic version
//! check, written by the same Writer (case row, history in the hash chain, timers re-armed,
//! task due dates, reminders, outbox).

use chrono::{DateTime, Utc};
use engine::machine::{self, Actor, DeadlineChange, Inputs, Trigger};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::conn::Conn;
use super::drive::{apply, decode, read_case};
use super::entities::{case, timer};
use super::transition::Row;
use super::{Error, Store};

/// A change of a running case, by `by`, with its reason.
pub enum CaseChange {
    Correction {
        inputs: Inputs,
    },
    Deadline {
        timer: String,
        change: DeadlineChange,
    },
    Close {
        outcome: String,
    },
}

impl CaseChange {
    fn metric(&self) -> &'static str {
        match self {
            CaseChange::Correction { .. } => "correction",
            CaseChange::Deadline { .. } => "deadline",
            CaseChange::Close { .. } => "closing",
        }
    }
}

pub struct ChangeRequest<'a> {
    pub case_id: &'a str,
    pub by: &'a Actor,
    pub change: CaseChange,
    pub reason: Option<String>,
    /// When given, the change is refused (409 `stale_version`) unless the case is still at it.
    pub expected_version: Option<i64>,
}

impl Store {
    /// Applies a change by decision; a refusal writes nothing.
    pub async fn change_case(
        &self,
        req: ChangeRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<case::Model, Error> {
        let metric = req.change.metric();
        let store = self.clone();
        let case_id = req.case_id.to_owned();
        let expected_version = req.expected_version;
        let trigger = match req.change {
            CaseChange::Correction { inputs } => Trigger::Correction {
                by: req.by.clone(),
                inputs,
                reason: req.reason,
                fired: Vec::new(),
            },
            CaseChange::Deadline { timer, change } => Trigger::Deadline {
                timer,
                change,
                by: req.by.clone(),
                reason: req.reason,
            },
            CaseChange::Close { outcome } => Trigger::Close {
                by: req.by.clone(),
                reason: req.reason,
                outcome,
            },
        };
        let written = self
            .write(move |txn| {
                let (store, case_id, mut trigger) =
                    (store.clone(), case_id.clone(), trigger.clone());
                Box::pin(async move {
                    let row = read_case(txn, &case_id).await?;
                    if let Some(v) = expected_version
                        && v != row.row_version
                    {
                        return Err(Error::Conflict {
                            code: "stale_version",
                            message: format!(
                                "the case is at version {}, not {v}; read it again",
                                row.row_version
                            ),
                        });
                    }
                    if let Trigger::Correction { fired, .. } = &mut trigger {
                        *fired = fired_timers(txn, &case_id).await?;
                    }
                    let deployed = store.registry.version(txn, row.version_id).await?;
                    let current = decode(&row)?;
                    let documents = super::documents::document_inputs(&deployed.def, &trigger);
                    let (case, effects) =
                        machine::step(&deployed.def, &store.calendar, &current, trigger, now)?;
                    super::documents::check_attached(txn, &row.id, &documents).await?;
                    let row = Row::Existing(&row);
                    apply(&store, txn, now, &deployed, row, &case, effects, None).await
                })
            })
            .await?;
        self.applied(written.changed, written.due);
        metrics::counter!("jalon_transitions_total", "trigger" => metric).increment(1);
        Ok(written.row)
    }
}

/// The ids of the deadlines of this case that already fired (a grace period ends a deadline
/// too), each once.
async fn fired_timers(txn: Conn<'_>, case_id: &str) -> Result<Vec<String>, Error> {
    #[derive(sea_orm::FromQueryResult, serde::Deserialize)]
    struct Fired {
        timer_id: String,
    }
    let rows: Vec<Fired> = txn
        .all(
            &timer::Entity::find()
                .select_only()
                .column(timer::Column::TimerId)
                .distinct()
                .filter(timer::Column::CaseId.eq(case_id))
                .filter(timer::Column::Status.eq(timer::Status::Fired))
                .filter(timer::Column::Kind.is_in(["deadline", "grace"])),
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.timer_id).collect())
}
