//! The case list (`GET /api/v1/cases`, `Store::list_cases`) read as a range of an index in its
//! order, instead of every matching case read and sorted for each page (at 1,000,000 cases a
//! page of 50 took 0.3–1.3 s on SQLite and PostgreSQL):
//!
//! - `cases_updated` `(updated_at, id, workflow_id, state, status)`: the whole list, and the
//!   list filtered by `state`, `status` or the workflows an actor may read;
//! - `cases_workflow_updated` `(workflow_id, updated_at, id, state, status)`: one workflow's
//!   list (`workflow=`, or an actor who may read one), with or without `state` or `status`.
//!
//! `state` and `status` (and `workflow_id` in the first) follow the order's columns so that a
//! filter is checked on the index entry, the row read only for a case on the page: a rare
//! state is then a walk of entries, not of rows (SQLite, state matched by 1 case in 2,000:
//! 150 ms a page with rows, 8 ms with entries). They cost no index write: a transition that
//! changes them changes `updated_at` too, which moves the entry anyway.
//!
//! The list is ordered `updated_at DESC, id DESC`, both one way, so that it is these
//! ascending indexes read backwards on both backends (with the helper every migration uses).
//! It was `id ASC` within an instant, which an index read backwards does not give, so it still
//! sorted. One direction is also what a keyset page (`(updated_at, id) < (?, ?)`, one row
//! comparison) would need. Ids are UUIDv7, so among cases changed in the same millisecond the
//! one created last comes first.
//!
//! What each costs: every transition writes `updated_at`, so it moves the case's entry in both
//! (deleted where it was, inserted at the end of the index and of its workflow's part, where
//! the last changed cases are side by side). On PostgreSQL an update of an indexed column is
//! never HOT, so it also writes an entry in each other index of `cases`; a transition that
//! changes the state already did (`cases_state_entered`). No index for the `actor` and
//! `overdue` filters: their subqueries choose the cases, read by id and sorted.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(crate::index(
            "cases_updated",
            "cases",
            &["updated_at", "id", "workflow_id", "state", "status"],
        ))
        .await?;
        m.create_index(crate::index(
            "cases_workflow_updated",
            "cases",
            &["workflow_id", "updated_at", "id", "state", "status"],
        ))
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(crate::drop_index("cases_workflow_updated", "cases"))
            .await?;
        m.drop_index(crate::drop_index("cases_updated", "cases"))
            .await
    }
}
