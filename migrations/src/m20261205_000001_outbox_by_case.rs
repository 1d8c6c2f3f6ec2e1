//! The outbox is found by case through its dedupe key: `outbox_case` `(case_id)` and the unique
//! `outbox_dedupe` `(dedupe_key)` become one unique index `outbox_case_dedupe`
//! `(case_id, dedupe_key)`, which serves both the lookups by case and the refusal of a notice
//! queued twice. Each notice a transition queues then writes one index page keyed by its case
//! instead of two (`jalon bench server`, events in random order on SQLite, alternating runs of
//! the binaries before and after: 67-72 -> 59-62 KiB written per event, 5,450-6,600 ->
//! 6,100-7,480 events/s).
//!
//! A notice of no case (the daily digest, `case_id` null) keeps a unique dedupe key through the
//! partial index `outbox_digest_dedupe`, written only by those rows. The SQL is the same on
//! both backends (partial indexes exist in SQLite since 3.8.0).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DIGEST_DEDUPE: &str =
    "CREATE UNIQUE INDEX outbox_digest_dedupe ON outbox (dedupe_key) WHERE case_id IS NULL";

fn drop(name: &'static str) -> IndexDropStatement {
    crate::drop_index(name, "outbox")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            crate::index("outbox_case_dedupe", "outbox", &["case_id", "dedupe_key"])
                .unique()
                .to_owned(),
        )
        .await?;
        m.get_connection().execute_unprepared(DIGEST_DEDUPE).await?;
        m.drop_index(drop("outbox_case")).await?;
        m.drop_index(drop("outbox_dedupe")).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            crate::index("outbox_dedupe", "outbox", &["dedupe_key"])
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(crate::index("outbox_case", "outbox", &["case_id"]))
            .await?;
        m.drop_index(drop("outbox_digest_dedupe")).await?;
        m.drop_index(drop("outbox_case_dedupe")).await
    }
}
