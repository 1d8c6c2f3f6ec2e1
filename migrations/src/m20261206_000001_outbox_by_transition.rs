//! A notice is found through the transition that queued it rather than through its case: the
//! outbox gains `history_id` (the history row of that transition), and the unique index
//! `outbox_case_dedupe` `(case_id, dedupe_key)` becomes `outbox_transition_dedupe`
//! `(history_id, dedupe_key)`. A case's notices are the notices of its history rows (through
//! `history_case_seq`), and a notice queued twice by one transition is still refused.
//!
//! Why: history ids grow with every transition, so the notices of a batch of transitions land
//! side by side at the end of the new index, where `(case_id, …)` put each notice on the index
//! page of its case, one page of its own per event in the WAL when events come in any order.
//!
//! Rows already queued get the id of the history row of their case whose `seq` is the
//! transition number that starts their dedupe key (`<transition>.<notice>`, the engine's
//! `DedupeKey`). Digests (no case) keep `history_id` null and their partial unique index.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn drop(name: &'static str) -> IndexDropStatement {
    crate::drop_index(name, "outbox")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("outbox")
                .add_column(ColumnDef::new("history_id").big_integer().null())
                .to_owned(),
        )
        .await?;
        let transition = match m.get_database_backend() {
            DbBackend::Postgres => "CAST(split_part(outbox.dedupe_key, '.', 1) AS BIGINT)",
            _ => "CAST(substr(outbox.dedupe_key, 1, instr(outbox.dedupe_key, '.') - 1) AS INTEGER)",
        };
        m.get_connection()
            .execute_unprepared(&format!(
                "UPDATE outbox SET history_id = (SELECT h.id FROM history h \
                 WHERE h.case_id = outbox.case_id AND h.seq = {transition}) \
                 WHERE outbox.case_id IS NOT NULL"
            ))
            .await?;
        m.create_index(
            crate::index(
                "outbox_transition_dedupe",
                "outbox",
                &["history_id", "dedupe_key"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.drop_index(drop("outbox_case_dedupe")).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            crate::index("outbox_case_dedupe", "outbox", &["case_id", "dedupe_key"])
                .unique()
                .to_owned(),
        )
        .await?;
        m.drop_index(drop("outbox_transition_dedupe")).await?;
        m.alter_table(
            Table::alter()
                .table("outbox")
                .drop_column("history_id")
                .to_owned(),
        )
        .await
    }
}
