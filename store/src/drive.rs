//! Driving cases: every place the pure engine runs for a trigger — a start, an event, a timer
//! firing, a schedule occurrence, a child started and a parent told that its child ended. Each
//! trigger is one transaction: read the case, run `machine::start`/`step`, hand the outcome to
//! the Writer (`transition.rs`, which only writes rows), then drive what it set off
//! ([`apply`]) in the same transaction.

use chrono::{DateTime, Utc};
use engine::machine::{
    self, Actor, Case, Effect, Inputs, Refusal, StartRequest, TimerKey, Trigger,
};
use sea_orm::sea_query::{Alias, Expr, Query, WithClause};
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, FromQueryResult, Iterable, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
};

use super::changes::Change;
use super::conn::Conn;
use super::entities::{case, timer};
use super::registry::Deployed;
use super::transition::{Followup, Row, Writer};
use super::wakes::Due;
use super::write_set::cte;
use super::{Error, Store};
use crate::clock::millis;

/// How many times an event without an expected version is retried after losing a race.
const STALE_RETRIES: usize = 5;

pub struct EventRequest<'a> {
    pub case_id: &'a str,
    pub event: &'a str,
    pub by: &'a Actor,
    pub inputs: Inputs,
    pub reason: Option<String>,
    /// When given, the event is refused (409 `stale_version`) unless the case is still at it.
    pub expected_version: Option<i64>,
}

/// What became of a claimed timer.
#[derive(Debug, PartialEq, Eq)]
pub enum Fired {
    /// It moved its case (or sent its notices); lateness in milliseconds.
    Fired { late_ms: i64 },
    /// Already fired, cancelled, or claimed by another process since: nothing done.
    Skipped,
    /// The engine refused it (the arming it belonged to is gone); marked so.
    Stale,
}

impl Store {
    pub async fn start_case(
        &self,
        workflow_id: &str,
        key: &str,
        by: &Actor,
        inputs: Inputs,
        now: DateTime<Utc>,
        idempotency: Option<(&str, &str, &str)>,
    ) -> Result<case::Model, Error> {
        if key.trim().is_empty() || key.chars().count() > 200 {
            return Err(Error::Invalid {
                code: "invalid_business_key",
                message: "the business key must be 1 to 200 characters".into(),
            });
        }
        let deployed = self
            .registry
            .latest_or_load((&self.db).into(), workflow_id)
            .await?;
        let (case, effects) = machine::start(
            &deployed.def,
            &self.calendar,
            StartRequest {
                by: by.clone(),
                inputs,
                now,
            },
        )?;
        let store = self.clone();
        let key = key.to_owned();
        let idempotency = idempotency.map(|(a, k, h)| (a.to_owned(), k.to_owned(), h.to_owned()));
        let written = self
            .write(move |txn| {
                let (store, deployed, case) = (store.clone(), deployed.clone(), case.clone());
                let (key, idempotency, effects) =
                    (key.clone(), idempotency.clone(), effects.clone());
                Box::pin(async move {
                    let id = new_case_id();
                    if let Some((actor, key, hash)) = &idempotency {
                        store
                            .idempotent_claim(txn, (actor, key, hash), &id, millis(now))
                            .await?;
                    }
                    let row = Row::New {
                        id,
                        key,
                        parent_id: None,
                    };
                    apply(&store, txn, now, &deployed, row, &case, effects, None).await
                })
            })
            .await?;
        self.applied(written.changed, written.due);
        metrics::counter!("jalon_transitions_total", "trigger" => "start").increment(1);
        Ok(written.row)
    }

    pub async fn send_event(
        &self,
        req: EventRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<case::Model, Error> {
        let mut attempt = 0;
        loop {
            match self.try_event(&req, now).await {
                Err(e)
                    if e.is_stale()
                        && req.expected_version.is_none()
                        && attempt < STALE_RETRIES =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn try_event(
        &self,
        req: &EventRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<case::Model, Error> {
        let store = self.clone();
        let case_id = req.case_id.to_owned();
        let expected_version = req.expected_version;
        let trigger = Trigger::Event {
            name: req.event.to_owned(),
            by: req.by.clone(),
            inputs: req.inputs.clone(),
            reason: req.reason.clone(),
        };
        let written = self
            .write(move |txn| {
                let (store, case_id, trigger) = (store.clone(), case_id.clone(), trigger.clone());
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
        metrics::counter!("jalon_transitions_total", "trigger" => "event").increment(1);
        Ok(written.row)
    }

    /// Fires a timer this process claimed (`claim_timers`): marks it fired, if it is still
    /// armed and no other owner's lease holds it, and applies the transition in one
    /// transaction, so a timer fires exactly once per arming even if the process dies midway
    /// (the lease then expires and another claim finds it still armed).
    pub async fn fire_timer(
        &self,
        claimed: &timer::Model,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<Fired, Error> {
        let store = self.clone();
        let claimed = claimed.clone();
        let owner = owner.to_owned();
        let late_ms = (millis(now) - claimed.fire_at).max(0);
        let fired = self
            .write(move |txn| {
                let (store, claimed, owner) = (store.clone(), claimed.clone(), owner.clone());
                Box::pin(async move {
                    let Some(row) = mark_fired(txn, &claimed, &owner, now).await? else {
                        return Ok((Fired::Skipped, Vec::new(), Due::default()));
                    };
                    let deployed = store.registry.version(txn, row.version_id).await?;
                    let current = decode(&row)?;
                    let key = parse_key(&claimed.timer_key)?;
                    let trigger = Trigger::Timer { key };
                    match machine::step(&deployed.def, &store.calendar, &current, trigger, now) {
                        Ok((case, effects)) => {
                            let row = Row::Existing(&row);
                            let late = Some(late_ms);
                            let applied =
                                apply(&store, txn, now, &deployed, row, &case, effects, late)
                                    .await?;
                            Ok((Fired::Fired { late_ms }, applied.changed, applied.due))
                        }
                        Err(refusal) => {
                            txn.exec(
                                &timer::Entity::update_many()
                                    .col_expr(
                                        timer::Column::Status,
                                        Expr::value(timer::Status::Stale),
                                    )
                                    .col_expr(
                                        timer::Column::LastError,
                                        Expr::value(refusal.to_string()),
                                    )
                                    .filter(timer::Column::Id.eq(claimed.id)),
                            )
                            .await?;
                            Ok((Fired::Stale, Vec::new(), Due::default()))
                        }
                    }
                })
            })
            .await?;
        let (fired, changed, due) = fired;
        self.applied(changed, due);
        if let Fired::Fired { late_ms } = fired {
            metrics::counter!("jalon_transitions_total", "trigger" => "timer").increment(1);
            metrics::histogram!("jalon_timer_lateness_seconds").record(late_ms as f64 / 1000.0);
        }
        Ok(fired)
    }

    /// Records a failed attempt to fire. The lease is extended with an exponential backoff
    /// (capped at an hour) so that a failing timer does not spin; it stays armed and visible to
    /// the operator with its error.
    pub async fn timer_failed(
        &self,
        id: i64,
        error: &str,
        now: DateTime<Utc>,
        attempts: i32,
    ) -> Result<(), Error> {
        let backoff = 2i64.saturating_pow(attempts.clamp(0, 12) as u32).min(3600);
        let q = timer::Entity::update_many()
            .col_expr(timer::Column::Attempts, Expr::value(attempts + 1))
            .col_expr(timer::Column::LastError, Expr::value(error.to_owned()))
            .col_expr(
                timer::Column::LeaseUntil,
                Expr::value(millis(now) + backoff * 1000),
            )
            .filter(timer::Column::Id.eq(id));
        self.exec_statement(q).await?;
        Ok(())
    }
}

/// Marks a claimed timer fired if it is still armed and leased here or by nobody (see
/// `claim.rs`), and returns its case's row; `None` if it was not. On PostgreSQL both in one
/// statement (`WITH m AS (UPDATE … RETURNING case_id) SELECT … FROM cases`), a round trip
/// fewer a firing.
async fn mark_fired(
    txn: Conn<'_>,
    claimed: &timer::Model,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<Option<case::Model>, Error> {
    let mark = timer::Entity::update_many()
        .col_expr(timer::Column::Status, Expr::value(timer::Status::Fired))
        .col_expr(timer::Column::FiredAt, Expr::value(millis(now)))
        .filter(timer::Column::Id.eq(claimed.id))
        .filter(timer::Column::Status.eq(timer::Status::Armed))
        .filter(
            Condition::any()
                .add(timer::Column::LeaseOwner.eq(owner))
                .add(timer::Column::LeaseUntil.is_null())
                .add(timer::Column::LeaseUntil.lt(millis(now))),
        );
    if txn.backend() != DbBackend::Postgres {
        if txn.exec(&mark).await? != 1 {
            return Ok(None);
        }
        return read_case(txn, &claimed.case_id).await.map(Some);
    }
    let mut mark = mark.into_query();
    mark.returning_col(timer::Column::CaseId);
    let marked = cte("m", mark);
    let select = Query::select()
        .columns(case::Column::iter())
        .from(case::Entity)
        .and_where(
            case::Column::Id.in_subquery(
                Query::select()
                    .column(timer::Column::CaseId)
                    .from(Alias::new("m"))
                    .to_owned(),
            ),
        )
        .to_owned()
        .with(WithClause::new().cte(marked).to_owned());
    let rows: Vec<case::Model> = txn
        .write_returning(txn.backend().build(&select), |r| !r.is_empty(), None)
        .await?;
    Ok(rows.into_iter().next())
}

/// A case row inside a write transaction.
pub(super) async fn read_case(txn: Conn<'_>, id: &str) -> Result<case::Model, Error> {
    txn.one(&case::Entity::find_by_id(id))
        .await?
        .ok_or_else(|| Error::not_found("case_not_found", format!("case {id}")))
}

fn parse_key(s: &str) -> Result<TimerKey, Error> {
    let (timer, seq) = s
        .rsplit_once('#')
        .and_then(|(t, n)| n.parse().ok().map(|n| (t, n)))
        .ok_or_else(|| Error::Corrupt(format!("timer key '{s}'")))?;
    Ok(TimerKey {
        timer: timer.into(),
        seq,
    })
}

/// Writes one engine outcome, then starts the children and tells the parents it set off
/// (and what those set off in turn), all through the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(super) async fn apply(
    store: &Store,
    txn: Conn<'_>,
    now: DateTime<Utc>,
    deployed: &Deployed,
    row: Row<'_>,
    case: &Case,
    effects: Vec<Effect>,
    late_ms: Option<i64>,
) -> Result<Applied, Error> {
    let mut w = Writer::new(txn, now).with_calendar(&store.calendar);
    let row = w.write(deployed, row, case, effects, late_ms).await?;
    while let Some(f) = w.next_followup() {
        followup(store, &mut w, f).await?;
    }
    Ok(Applied {
        row,
        changed: w.changed,
        due: w.due,
    })
}

/// A trigger's outcome as written: the row of its case, and every case row it wrote (its
/// own, children, parents, linked cases), to tell once the transaction committed.
pub(super) struct Applied {
    pub row: case::Model,
    pub changed: Vec<Change>,
    /// What it gave the loops (`wakes.rs`).
    pub due: Due,
}

impl Store {
    /// After the COMMIT of `applied`'s transaction: tells whoever waits for its cases, wakes the
    /// loops it gave work.
    pub(super) fn applied(&self, changed: Vec<Change>, due: Due) {
        self.committed(changed);
        self.wakes.committed(due);
    }
}

async fn followup(store: &Store, w: &mut Writer<'_>, f: Followup) -> Result<(), Error> {
    let (txn, now) = (w.txn, w.now);
    match f {
        Followup::StartChild {
            parent_id,
            parent_key,
            workflow,
            variables,
        } => {
            let deployed = store.registry.latest_or_load(txn, &workflow).await?;
            // The child is started by the system on the parent's behalf: it holds the
            // roles allowed to start the child workflow.
            let by = Actor {
                id: format!("case:{parent_id}"),
                roles: deployed
                    .def
                    .start
                    .by
                    .iter()
                    .map(|r| r.to_string())
                    .collect(),
            };
            let inputs = variables
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_json()))
                .collect();
            let (case, effects) = machine::start(
                &deployed.def,
                &store.calendar,
                StartRequest { by, inputs, now },
            )?;
            let siblings = txn
                .one::<Count>(
                    &case::Entity::find()
                        .select_only()
                        .column_as(case::Column::Id.count(), "n")
                        .filter(case::Column::ParentId.eq(&parent_id)),
                )
                .await?
                .map_or(0, |c| c.n);
            let row = Row::New {
                id: new_case_id(),
                key: format!("{parent_key}/{workflow}-{}", siblings + 1),
                parent_id: Some(parent_id),
            };
            w.write(&deployed, row, &case, effects, None).await?;
        }
        Followup::ChildEnded {
            parent_id,
            workflow,
            outcome,
        } => {
            let parent = read_case(txn, &parent_id).await?;
            let deployed = store.registry.version(txn, parent.version_id).await?;
            let current = decode(&parent)?;
            // A parent that does not wait for this outcome (closed, or in a state with no
            // `on_child` for it) is not an error of the child's transition.
            match machine::step(
                &deployed.def,
                &store.calendar,
                &current,
                Trigger::ChildEnded { workflow, outcome },
                now,
            ) {
                Ok((case, effects)) => {
                    w.write(&deployed, Row::Existing(&parent), &case, effects, None)
                        .await?;
                }
                Err(refusal) => {
                    tracing::info!(parent = %parent_id, %refusal, "child ended; parent not waiting")
                }
            }
        }
        Followup::Tell {
            from_id,
            from_key,
            from_parent,
            workflow,
            event,
            inputs,
        } => {
            let mut linked = Condition::any()
                .add(case::Column::ParentId.eq(&from_id))
                .add(case::Column::BusinessKey.eq(&from_key));
            if let Some(parent) = &from_parent {
                linked = linked.add(case::Column::Id.eq(parent));
            }
            let told: Vec<case::Model> = txn
                .all(
                    &case::Entity::find()
                        .filter(case::Column::WorkflowId.eq(&*workflow))
                        .filter(case::Column::Status.eq(case::Status::Open))
                        .filter(case::Column::Id.ne(&from_id))
                        .filter(linked)
                        .order_by_asc(case::Column::Id),
                )
                .await?;
            let inputs: engine::machine::Inputs = inputs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_json()))
                .collect();
            for row in told {
                let deployed = store.registry.version(txn, row.version_id).await?;
                let current = decode(&row)?;
                // The linked case acts on the other case's behalf, whatever role its own
                // event requires: the workflow that tells it is the authority.
                let by = Actor {
                    id: format!("case:{from_id}"),
                    roles: deployed.def.roles.keys().cloned().collect(),
                };
                let trigger = Trigger::Event {
                    name: event.to_string(),
                    by,
                    inputs: inputs.clone(),
                    reason: Some(format!("transmis par le dossier lié {from_key}")),
                };
                match machine::step(&deployed.def, &store.calendar, &current, trigger, now) {
                    Ok((case, effects)) => {
                        w.write(&deployed, Row::Existing(&row), &case, effects, None)
                            .await?;
                    }
                    Err(refusal) => tracing::info!(
                        case = %row.id, from = %from_id, %event, %refusal,
                        "linked case told; it does not take the event now"
                    ),
                }
            }
        }
    }
    Ok(())
}

/// The engine's start of a schedule occurrence's case: started by the schedule, holding the
/// roles allowed to start the workflow, with the schedule's inputs.
pub(super) fn start_scheduled(
    store: &Store,
    d: &Deployed,
    index: usize,
    now: DateTime<Utc>,
) -> Result<(Case, Vec<Effect>), Refusal> {
    let s = &d.def.schedules[index];
    let by = Actor {
        id: format!("schedule:{}", s.id),
        roles: d.def.start.by.iter().map(|r| r.to_string()).collect(),
    };
    let request = StartRequest {
        by,
        inputs: s.inputs.clone(),
        now,
    };
    machine::start(&d.def, &store.calendar, request)
}

pub(super) fn decode(row: &case::Model) -> Result<Case, Error> {
    serde_json::from_str(&row.data).map_err(|e| Error::Corrupt(format!("case {}: {e}", row.id)))
}

pub(super) fn new_case_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[derive(FromQueryResult, serde::Deserialize)]
struct Count {
    n: i64,
}
