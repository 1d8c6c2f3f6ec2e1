//! The documents attached to a case (issue 21): one row per upload, with its bytes. The bytes
//! live in the database, beside their SHA-256, as a sent notice's do: they commit in the
//! transaction of the case's history row that records the upload (no file without its row, no
//! row without its file) and are backed up with everything else.

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
                .table("documents")
                // A UUID (v7), given by the server.
                .col(string("id").primary_key())
                .col(string("case_id"))
                // As the uploader named it, without any folder.
                .col(string("file_name"))
                // Found from the bytes (magic numbers), never taken from the client.
                .col(string("content_type"))
                .col(big_integer("size"))
                .col(string("sha256"))
                .col(string("uploaded_by"))
                .col(big_integer("uploaded_at"))
                .col(blob("bytes"))
                .foreign_key(
                    ForeignKey::create()
                        .from("documents", "case_id")
                        .to("cases", "id"),
                )
                .to_owned(),
        )
        .await?;
        // A case's list; uploads are rare, so this index costs no transition anything.
        m.create_index(index(
            "documents_case",
            "documents",
            &["case_id", "uploaded_at"],
        ))
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(drop_index("documents_case", "documents"))
            .await?;
        m.drop_table(Table::drop().table("documents").to_owned())
            .await
    }
}
