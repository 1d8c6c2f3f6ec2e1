//! The database schema of jalon, as versioned migrations: the one source of truth for tables on
//! SQLite and PostgreSQL. A migration, once released, is never edited; a change is a new one.
//!
//! Conventions shared by every table: instants are `BIGINT` milliseconds since the Unix epoch
//! (UTC), identical on both backends and bound from the server's clock, never from SQL `now()`;
//! legal due dates are civil dates as `YYYY-MM-DD` text; structured values are JSON text.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_init;
mod m20261201_000001_case_indexes;
mod m20261205_000001_outbox_by_case;
mod m20261206_000001_outbox_by_transition;
mod m20261207_000001_schedule_run_failures;
mod m20261208_000001_web_sessions;
mod m20261209_000001_cases_by_parent;
mod m20261210_000001_open_tasks_by_due;
mod m20261211_000001_case_watch;
pub use m20261211_000001_case_watch::{NOTICE_FAILING, backfill_idle_since};
mod m20261212_000001_documents;
mod m20261213_000001_case_list;
mod m20261214_000001_case_watch_bytewise;
mod m20261215_000001_undated_open_tasks;
mod m20261216_000001_partial_indexes;

/// An index on `columns` of `table`, in that order (the one way every migration declares one;
/// the SQL it builds is what each released migration has always run).
pub(crate) fn index(
    name: &'static str,
    table: &'static str,
    columns: &[&'static str],
) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table);
    for c in columns {
        i.col(*c);
    }
    i.to_owned()
}

/// The drop of index `name` on `table` (the one way every migration declares one).
pub(crate) fn drop_index(name: &'static str, table: &'static str) -> IndexDropStatement {
    Index::drop().name(name).table(table).to_owned()
}

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_init::Migration),
            Box::new(m20261201_000001_case_indexes::Migration),
            Box::new(m20261205_000001_outbox_by_case::Migration),
            Box::new(m20261206_000001_outbox_by_transition::Migration),
            Box::new(m20261207_000001_schedule_run_failures::Migration),
            Box::new(m20261208_000001_web_sessions::Migration),
            Box::new(m20261209_000001_cases_by_parent::Migration),
            Box::new(m20261210_000001_open_tasks_by_due::Migration),
            Box::new(m20261211_000001_case_watch::Migration),
            Box::new(m20261212_000001_documents::Migration),
            Box::new(m20261213_000001_case_list::Migration),
            Box::new(m20261214_000001_case_watch_bytewise::Migration),
            Box::new(m20261215_000001_undated_open_tasks::Migration),
            Box::new(m20261216_000001_partial_indexes::Migration),
        ]
    }
}
