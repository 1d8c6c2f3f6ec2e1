//! The two indexes a case's state change rewrites, reshaped so that the change writes fewer
//! pages of them (`jalon bench server`, events in random order: each was one or two pages of
//! the ~12 an event wrote to the WAL).
//!
//! - `cases_status` `(status, entered_at)` becomes `cases_open` `(status)`: every state change
//!   moved the case's entry, and no query reads `entered_at` through it; `(status)` changes
//!   only when a case closes.
//! - `cases_state` `(workflow_id, state)` becomes `cases_state_entered` `(workflow_id, state,
//!   entered_at)`: within a state, entries were ordered by row id, so a case entering a state
//!   was inserted at a random place; ordered by `entered_at`, the cases entering a state
//!   together are inserted side by side.
//!
//! New names rather than the old ones again: on SQLite another pooled connection may still
//! hold the schema in which the old index exists.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn drop(name: &'static str) -> IndexDropStatement {
    crate::drop_index(name, "cases")
}

fn create(name: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    crate::index(name, "cases", columns)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(create("cases_open", &["status"])).await?;
        m.create_index(create(
            "cases_state_entered",
            &["workflow_id", "state", "entered_at"],
        ))
        .await?;
        m.drop_index(drop("cases_status")).await?;
        m.drop_index(drop("cases_state")).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(create("cases_status", &["status", "entered_at"]))
            .await?;
        m.create_index(create("cases_state", &["workflow_id", "state"]))
            .await?;
        m.drop_index(drop("cases_open")).await?;
        m.drop_index(drop("cases_state_entered")).await
    }
}
