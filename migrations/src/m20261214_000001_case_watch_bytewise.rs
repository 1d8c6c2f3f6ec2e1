//! `cases_idle_since` and `cases_stuck_at` in the stuck list's order on PostgreSQL:
//! `(idle_since, business_key COLLATE "C", workflow_id COLLATE "C")`, and the same for
//! `stuck_at`.
//!
//! The list orders keys byte by byte (`COLLATE "C"`, see `store/src/stuck.rs`), but these
//! indexes were built in the database's collation, so PostgreSQL could take only their first
//! column's order: the cases of one `stuck_at` (a midnight, shared by every case that entered
//! the state on the same day) were all read from the table and sorted for each page. At
//! 1,000,000 cases with 9,800 past one `stuck_at`, the first page's `idle_too_long` query read
//! and sorted 9,800 case rows (22 ms with every page cached; `store.stuck_page` took 66 ms p50
//! in `jalon bench scale`); in the list's order it reads the 50 it shows (0.1 ms).
//!
//! The entries are the same values in another order, so a transition writes what it wrote
//! before. SQLite compares text byte by byte already (`BINARY`): nothing changes there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 2] = [
    ("cases_idle_since", "idle_since"),
    ("cases_stuck_at", "stuck_at"),
];

/// Index `name` on `(column, business_key, workflow_id)`, the keys in `collate` if given.
async fn recreate(
    m: &SchemaManager<'_>,
    name: &str,
    column: &str,
    collate: &str,
) -> Result<(), DbErr> {
    let db = m.get_connection();
    db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
    db.execute_unprepared(&format!(
        "CREATE INDEX {name} ON cases ({column}, business_key{collate}, workflow_id{collate})"
    ))
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for (name, column) in INDEXES {
            recreate(m, name, column, r#" COLLATE "C""#).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for (name, column) in INDEXES {
            recreate(m, name, column, "").await?;
        }
        Ok(())
    }
}
