//! The browser side: single-use sign-in links sent by mail, and the sessions they open. Only
//! SHA-256 hashes of the link and session secrets are stored, as for API tokens; a session is
//! revocable (its row), expires after a period without use, and ends with its actor.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::{drop_index, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("sign_in_links")
                .col(string("token_hash").primary_key())
                .col(string("actor_id"))
                // Where to go once signed in: a path of this server, checked when stored.
                .col(text_null("next_path"))
                .col(big_integer("created_at"))
                .col(big_integer("expires_at"))
                .col(big_integer_null("used_at"))
                .to_owned(),
        )
        .await?;
        // The per-address rate limit counts an actor's recent links.
        m.create_index(index(
            "sign_in_links_actor",
            "sign_in_links",
            &["actor_id", "created_at"],
        ))
        .await?;
        m.create_table(
            Table::create()
                .table("web_sessions")
                .col(string("id_hash").primary_key())
                .col(string("actor_id"))
                // Echoed by every form that changes something (double submit, checked server side).
                .col(string("csrf_token"))
                .col(big_integer("created_at"))
                .col(big_integer("last_seen_at"))
                .col(big_integer_null("ended_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("web_sessions_actor", "web_sessions", &["actor_id"]))
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(drop_index("web_sessions_actor", "web_sessions"))
            .await?;
        m.drop_table(Table::drop().table("web_sessions").to_owned())
            .await?;
        m.drop_index(drop_index("sign_in_links_actor", "sign_in_links"))
            .await?;
        m.drop_table(Table::drop().table("sign_in_links").to_owned())
            .await
    }
}
