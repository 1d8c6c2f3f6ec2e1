//! The operator's stuck list kept as cases move instead of searched: `cases` gains
//! `idle_since` and `stuck_at` (epoch ms, NULL when they do not apply), each with an index, and
//! the Writer sets both on every transition (`store/src/watch.rs`).
//!
//! - `idle_since`: since when the open case has had no armed timer and no open task (nobody
//!   asked to act, nothing that will move it by itself): the stuck list's `nothing_pending`.
//! - `stuck_at`: when the `stuck_after` limit of the case's state passes (`idle_too_long`).
//!
//! Indexes `(idle_since, business_key, workflow_id)` and `(stuck_at, business_key,
//! workflow_id)`: the list reads each reason in its order (since when, then key) and counts it
//! with the procedure and key filters from the index alone. An entry moves only when its
//! column changes (a case becoming idle or busy, entering or leaving a limited state), not on
//! every transition.
//!
//! `outbox_failing` `(created_at) WHERE` failing (dead, or pending after a failed attempt): the
//! list's `notice_failing`, without walking every pending notice (a backlog, or a dispatcher
//! that is not running). Partial, so a notice is in it only while failing: queuing one writes
//! no entry.
//!
//! `idle_since` is backfilled here in SQL (open cases with no armed timer and no open task:
//! the instant they entered their state, the best the rows tell). `stuck_at` needs the engine
//! (the state's limit counted over the calendar): `Store::open` fills it for open cases whose
//! version declares `stuck_after` and whose `stuck_at` is NULL.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const BACKFILL_IDLE_SINCE: &str = "UPDATE cases SET idle_since = entered_at \
     WHERE status = 'open' AND idle_since IS NULL \
     AND id NOT IN (SELECT case_id FROM timers WHERE status = 'armed') \
     AND id NOT IN (SELECT case_id FROM tasks WHERE status = 'open')";

/// The partial index's predicate; a query must say the same, literally (not with bound
/// values), for SQLite and PostgreSQL to know the index holds every row it wants.
pub const NOTICE_FAILING: &str = "(\"outbox\".\"status\" = 'dead' OR (\"outbox\".\"status\" = 'pending' AND \"outbox\".\"attempts\" > 0))";

/// Sets `idle_since` of the open cases with no armed timer and no open task whose column is
/// NULL (what this migration does once; public so that a test can run it on rows it emptied).
pub async fn backfill_idle_since<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    Ok(db
        .execute_unprepared(BACKFILL_IDLE_SINCE)
        .await?
        .rows_affected())
}

/// SQLite alters one column per statement.
fn add(column: &'static str) -> TableAlterStatement {
    Table::alter()
        .table("cases")
        .add_column(ColumnDef::new(column).big_integer().null())
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(add("idle_since")).await?;
        m.alter_table(add("stuck_at")).await?;
        m.create_index(crate::index(
            "cases_idle_since",
            "cases",
            &["idle_since", "business_key", "workflow_id"],
        ))
        .await?;
        m.create_index(crate::index(
            "cases_stuck_at",
            "cases",
            &["stuck_at", "business_key", "workflow_id"],
        ))
        .await?;
        m.get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX outbox_failing ON outbox (created_at) WHERE {NOTICE_FAILING}"
            ))
            .await?;
        backfill_idle_since(m.get_connection()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(crate::drop_index("outbox_failing", "outbox"))
            .await?;
        m.drop_index(crate::drop_index("cases_stuck_at", "cases"))
            .await?;
        m.drop_index(crate::drop_index("cases_idle_since", "cases"))
            .await?;
        for column in ["stuck_at", "idle_since"] {
            m.alter_table(Table::alter().table("cases").drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
