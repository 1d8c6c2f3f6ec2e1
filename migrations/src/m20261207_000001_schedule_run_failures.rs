//! A schedule occurrence whose case could not be started is kept, with why and when to try
//! again, instead of failing the scheduler's pass on every loop: `schedule_runs` gains
//! `attempts`, `last_error` and `next_attempt_at`. A row with no `case_id` and a `last_error`
//! is failing (retried with backoff, listed as `schedule_failing` on the operator's stuck list).
//! `schedule_id` names the schedule: a retry runs under a later version, where the schedule's
//! index (the `schedule` column) may be another's.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// SQLite alters one column per statement.
fn add(column: &mut ColumnDef) -> TableAlterStatement {
    Table::alter()
        .table("schedule_runs")
        .add_column(column)
        .to_owned()
}

fn drop(column: &'static str) -> TableAlterStatement {
    Table::alter()
        .table("schedule_runs")
        .drop_column(column)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(add(ColumnDef::new("attempts")
            .integer()
            .not_null()
            .default(0)))
            .await?;
        m.alter_table(add(ColumnDef::new("last_error").text().null()))
            .await?;
        m.alter_table(add(ColumnDef::new("next_attempt_at").big_integer().null()))
            .await?;
        m.alter_table(add(ColumnDef::new("schedule_id").string().null()))
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in ["schedule_id", "next_attempt_at", "last_error", "attempts"] {
            m.alter_table(drop(column)).await?;
        }
        Ok(())
    }
}
