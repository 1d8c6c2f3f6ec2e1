//! `cases_parent` `(parent_id)`: a case's page lists its children, and `tell` reaches the
//! children of the case that tells; without it both scanned the cases of a workflow. A case's
//! `parent_id` is written once, when it starts, so the index costs a transition nothing after
//! that insert.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(crate::index("cases_parent", "cases", &["parent_id"]))
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(crate::drop_index("cases_parent", "cases"))
            .await
    }
}
