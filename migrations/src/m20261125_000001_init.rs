//! The first schema: workflow versions, cases, history, timers, tasks, actors, the notice
//! outbox, idempotency keys and schedule runs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn table(name: &'static str) -> TableCreateStatement {
    Table::create().table(name).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One row per deployed version of a workflow; the YAML and its templates are kept so
        // that a running case is always executed, and its notices rendered, by the exact text it
        // started with.
        m.create_table(
            table("workflow_versions")
                .col(big_pk_auto("id"))
                .col(string("workflow_id"))
                .col(integer("version"))
                .col(string("hash"))
                .col(string("title"))
                .col(text("source"))
                .col(text("templates"))
                .col(big_integer("deployed_at"))
                .col(string_null("deployed_by"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "workflow_versions_version",
                "workflow_versions",
                &["workflow_id", "version"],
            )
            .unique()
            .to_owned(),
        )
        .await?;

        m.create_table(
            table("cases")
                .col(string("id").primary_key())
                .col(string("workflow_id"))
                .col(big_integer("version_id"))
                .col(string("business_key"))
                .col(string("state"))
                .col(string("status"))
                .col(string_null("outcome"))
                // The engine's `Case` as JSON: variables, armed timers, open tasks.
                .col(text("data"))
                .col(big_integer("row_version"))
                .col(string_null("parent_id"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .col(big_integer("entered_at"))
                // The hash of the case's last history row, the start of the next one's chain.
                .col(string("last_hash"))
                .foreign_key(
                    ForeignKey::create()
                        .from("cases", "version_id")
                        .to("workflow_versions", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "cases_business_key",
                "cases",
                &["workflow_id", "business_key"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(index("cases_state", "cases", &["workflow_id", "state"]))
            .await?;
        m.create_index(index("cases_status", "cases", &["status", "entered_at"]))
            .await?;

        // Append-only; each row's hash covers the previous row's hash, so an edit or a deletion
        // breaks the chain.
        m.create_table(
            table("history")
                .col(big_pk_auto("id"))
                .col(string("case_id"))
                .col(big_integer("seq"))
                .col(big_integer("at"))
                .col(string_null("actor_id"))
                .col(string("trigger"))
                .col(string_null("from_state"))
                .col(string("to_state"))
                .col(text("inputs"))
                .col(text_null("reason"))
                .col(text("detail"))
                .col(big_integer_null("late_ms"))
                .col(string("prev_hash"))
                .col(string("hash"))
                .foreign_key(
                    ForeignKey::create()
                        .from("history", "case_id")
                        .to("cases", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            index("history_case_seq", "history", &["case_id", "seq"])
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(index("history_actor", "history", &["actor_id"]))
            .await?;

        // One row per arming: the key `<timer>#<seq>` never repeats within a case, so a timer
        // row fires at most once.
        m.create_table(
            table("timers")
                .col(big_pk_auto("id"))
                .col(string("case_id"))
                .col(string("timer_key"))
                .col(string("timer_id"))
                .col(string("kind"))
                .col(string_null("label"))
                .col(string("due_date"))
                .col(big_integer("fire_at"))
                .col(text("explanation"))
                .col(string_null("legal_basis"))
                .col(string("status"))
                .col(integer("attempts"))
                .col(string_null("lease_owner"))
                .col(big_integer_null("lease_until"))
                .col(big_integer_null("fired_at"))
                .col(text_null("last_error"))
                .col(big_integer("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("timers", "case_id")
                        .to("cases", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            index("timers_case_key", "timers", &["case_id", "timer_key"])
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(index("timers_due", "timers", &["status", "fire_at"]))
            .await?;

        m.create_table(
            table("tasks")
                .col(big_pk_auto("id"))
                .col(string("case_id"))
                .col(string("task_id"))
                .col(string("role"))
                .col(string("title"))
                .col(text_null("instructions"))
                .col(string_null("due_date"))
                .col(text_null("explanation"))
                .col(string_null("legal_basis"))
                .col(string("status"))
                .col(big_integer("opened_at"))
                .col(big_integer_null("closed_at"))
                .col(string_null("close_reason"))
                .foreign_key(
                    ForeignKey::create()
                        .from("tasks", "case_id")
                        .to("cases", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index("tasks_open", "tasks", &["status", "role"]))
            .await?;
        m.create_index(index("tasks_case", "tasks", &["case_id", "task_id"]))
            .await?;

        // Bearer tokens are stored as their SHA-256 only.
        m.create_table(
            table("actors")
                .col(string("id").primary_key())
                .col(string("name"))
                .col(string("email"))
                .col(text("roles"))
                .col(string("token_hash"))
                // Opted in to the daily digest of open tasks.
                .col(boolean("digest").default(false))
                .col(big_integer("created_at"))
                .col(big_integer_null("revoked_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index("actors_token", "actors", &["token_hash"])
                .unique()
                .to_owned(),
        )
        .await?;

        // Written in the transition's transaction, one row per recipient; the dedupe key makes
        // a replayed transition unable to queue the same message twice.
        m.create_table(
            table("outbox")
                .col(big_pk_auto("id"))
                // Null for a notice of no case (the daily digest of an actor's tasks).
                .col(string_null("case_id"))
                .col(string("dedupe_key"))
                .col(big_integer_null("version_id"))
                .col(string("template"))
                .col(string_null("recipient_actor"))
                .col(string_null("recipient_name"))
                .col(string_null("recipient_email"))
                .col(text("context"))
                .col(string("status"))
                .col(integer("attempts"))
                .col(big_integer("next_attempt_at"))
                .col(string_null("lease_owner"))
                .col(big_integer_null("lease_until"))
                .col(big_integer("created_at"))
                .col(big_integer_null("sent_at"))
                .col(string_null("message_id"))
                .col(text_null("response"))
                .col(text_null("last_error"))
                // The exact bytes sent (RFC 5322), kept as evidence with their SHA-256.
                .col(blob_null("eml"))
                .col(string_null("eml_hash"))
                // The operator's last retry: who, when, why.
                .col(string_null("retried_by"))
                .col(big_integer_null("retried_at"))
                .col(text_null("retry_reason"))
                .foreign_key(
                    ForeignKey::create()
                        .from("outbox", "case_id")
                        .to("cases", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            index("outbox_dedupe", "outbox", &["dedupe_key"])
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "outbox_due",
            "outbox",
            &["status", "next_attempt_at"],
        ))
        .await?;
        m.create_index(index("outbox_case", "outbox", &["case_id"]))
            .await?;

        m.create_table(
            table("idempotency")
                .col(string("actor_id"))
                .col(string("key"))
                .col(string("request_hash"))
                .col(integer("status"))
                .col(text("body"))
                .col(big_integer("created_at"))
                .primary_key(Index::create().col("actor_id").col("key"))
                .to_owned(),
        )
        .await?;

        // One row per cron occurrence that started cases: the primary key stops two processes
        // (or a restart) from running the same occurrence twice.
        m.create_table(
            table("schedule_runs")
                .col(string("workflow_id"))
                .col(integer("schedule"))
                .col(big_integer("at"))
                .col(string_null("case_id"))
                .col(big_integer("ran_at"))
                .primary_key(Index::create().col("workflow_id").col("schedule").col("at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
