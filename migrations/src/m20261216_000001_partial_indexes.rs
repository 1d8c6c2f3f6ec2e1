//! Indexes whose lookups never ask for NULL hold no NULL entries: `cases_parent`,
//! `cases_idle_since`, `cases_stuck_at` and `history_actor` become partial (`WHERE column IS
//! NOT NULL`). Every case row has an entry in each index of `cases`, and on PostgreSQL every
//! transition writes a new entry in each (it changes `updated_at`, which other indexes hold,
//! so the update is never HOT); most cases have no parent, are not idle and have no stuck
//! limit, and a timer's firing has no actor. A partial index costs a transition nothing when
//! its column is NULL (SQLite, too, skips it).
//!
//! Every query that reads them implies the condition: `parent_id = ?`, `idle_since IS NOT
//! NULL`, `stuck_at <= ?`, `actor_id = ?` (a comparison is never true of NULL, which both
//! planners know). The columns, and on PostgreSQL their collation
//! (`m20261214_000001_case_watch_bytewise`), are unchanged.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Name, table, columns (`{c}`: the byte-by-byte collation on PostgreSQL), and the column whose
/// NULLs are left out.
const INDEXES: [(&str, &str, &str, &str); 4] = [
    ("cases_parent", "cases", "parent_id", "parent_id"),
    (
        "cases_idle_since",
        "cases",
        "idle_since, business_key{c}, workflow_id{c}",
        "idle_since",
    ),
    (
        "cases_stuck_at",
        "cases",
        "stuck_at, business_key{c}, workflow_id{c}",
        "stuck_at",
    ),
    ("history_actor", "history", "actor_id", "actor_id"),
];

async fn recreate(m: &SchemaManager<'_>, partial: bool) -> Result<(), DbErr> {
    let collate = match m.get_database_backend() {
        DbBackend::Postgres => r#" COLLATE "C""#,
        _ => "",
    };
    let db = m.get_connection();
    for (name, table, columns, nullable) in INDEXES {
        let columns = columns.replace("{c}", collate);
        let only = if partial {
            format!(" WHERE {nullable} IS NOT NULL")
        } else {
            String::new()
        };
        // One call, so one connection: on SQLite the migrator runs on the pool, and a
        // statement run on another connection may not see the DROP yet.
        db.execute_unprepared(&format!(
            "DROP INDEX {name}; CREATE INDEX {name} ON {table} ({columns}){only}"
        ))
        .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        recreate(m, true).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        recreate(m, false).await
    }
}
