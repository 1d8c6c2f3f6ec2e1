//! The two columns of a case row that keep the operator's stuck list as cases move
//! (`cases.idle_since`, `cases.stuck_at`), computed by the Writer from the engine `Case` it
//! writes, so that the list reads index ranges instead of searching every open case.
//!
//! *Nothing pending* means: the case is open, no timer is armed (a suspended one does not
//! count: nothing will fire) and no task is open. Nobody has been asked to act and nothing
//! will move the case by itself; a state that waits for an actor's event without a task or a
//! deadline is exactly what operators must see.

use chrono::{DateTime, Utc};
use engine::calendar::Calendar;
use engine::machine::{Case, Definition, stuck_limit};

use crate::clock::millis;

/// The watch columns of a case row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Watch {
    /// Since when nothing is pending (epoch ms); `None` while something is, or once closed.
    pub idle_since: Option<i64>,
    /// When the state's `stuck_after` limit passes (epoch ms, `Deadline::expires_at`); `None`
    /// when no limit applies (no `stuck_after`, its date variable unset, or closed).
    pub stuck_at: Option<i64>,
}

/// Whether nothing is pending for `case` (see the module).
pub(crate) fn nothing_pending(case: &Case) -> bool {
    !case.is_closed() && case.tasks.is_empty() && !case.timers.iter().any(|t| t.is_armed())
}

/// The watch columns of `case` as written at `now`; `before` is the row's (all `None` for a
/// new case). A case that stays idle keeps the instant it became so; one that becomes idle is
/// idle from this transition's instant. Without the calendar `stuck_at` stays as it was.
pub(crate) fn watch(
    def: &Definition,
    cal: Option<&Calendar>,
    case: &Case,
    before: Watch,
    now: DateTime<Utc>,
) -> Watch {
    let stuck_at = match cal {
        Some(cal) => stuck_limit(def, cal, case).map(|limit| millis(limit.expires_at())),
        None => before.stuck_at.filter(|_| !case.is_closed()),
    };
    Watch {
        idle_since: nothing_pending(case).then(|| before.idle_since.unwrap_or(millis(now))),
        stuck_at,
    }
}

/// Cases whose `stuck_at` the backfill sets in one write.
const BACKFILL_BATCH: u64 = 500;

impl crate::Store {
    /// Sets `stuck_at` of the open cases in a state with `stuck_after` whose column is NULL:
    /// the rows written before the column existed (the migration cannot count a limit: that
    /// needs the engine and the calendar). Run at every open; a case whose limit cannot be
    /// counted (its date variable unset) stays NULL and is looked at again next time. A case
    /// changed meanwhile (another process on the same database) keeps what its Writer set.
    pub(crate) async fn backfill_stuck_at(&self) -> Result<u64, crate::Error> {
        use sea_orm::sea_query::{Expr, ExprTrait};
        use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

        use crate::entities::{case, workflow_version};

        let versions: Vec<i64> = workflow_version::Entity::find()
            .select_only()
            .column(workflow_version::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut limited = Condition::any();
        let mut any = false;
        for v in versions {
            // A version that no longer compiles has no limit that can be counted.
            let Ok(d) = self.registry.version((&self.db).into(), v).await else {
                continue;
            };
            for s in d.def.states.iter().filter(|s| s.stuck_after.is_some()) {
                limited = limited.add(
                    Condition::all()
                        .add(case::Column::WorkflowId.eq(&d.workflow_id))
                        .add(case::Column::State.eq(&*s.id))
                        .add(case::Column::VersionId.eq(v)),
                );
                any = true;
            }
        }
        if !any {
            return Ok(0);
        }
        let (mut after, mut set) = (String::new(), 0);
        loop {
            let rows = case::Entity::find()
                .filter(case::Column::Status.eq(case::Status::Open))
                .filter(case::Column::StuckAt.is_null())
                .filter(limited.clone())
                .filter(case::Column::Id.gt(after.clone()))
                .order_by_asc(case::Column::Id)
                .limit(BACKFILL_BATCH)
                .all(&self.db)
                .await?;
            let Some(last) = rows.last() else {
                return Ok(set);
            };
            after = last.id.clone();
            let mut updates = Vec::new();
            for row in &rows {
                let d = self
                    .registry
                    .version((&self.db).into(), row.version_id)
                    .await?;
                let case = crate::drive::decode(row)?;
                if let Some(limit) = stuck_limit(&d.def, &self.calendar, &case) {
                    updates.push(
                        case::Entity::update_many()
                            .col_expr(
                                case::Column::StuckAt,
                                Expr::value(millis(limit.expires_at())),
                            )
                            .filter(case::Column::Id.eq(&row.id))
                            .filter(case::Column::RowVersion.eq(row.row_version))
                            .filter(Expr::col(case::Column::StuckAt).is_null()),
                    );
                }
            }
            let updates = std::sync::Arc::new(updates);
            set += self
                .write_statement(move |c| {
                    let updates = updates.clone();
                    Box::pin(async move {
                        let mut n = 0;
                        for u in updates.iter() {
                            n += c.exec(u).await?;
                        }
                        Ok(n)
                    })
                })
                .await?;
        }
    }
}
