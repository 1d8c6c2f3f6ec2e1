//! `tasks_open_by_due` `(status, due_date, id)`: "Mes tâches" lists open tasks earliest due
//! first and undated last; without it every page sorted all open tasks to show 25. The page
//! reads it as two ordered ranges (dated tasks by `(due_date, id)`, then undated ones by `id`,
//! see `Store::task_page`), the role and workflow filters checked on the rows it walks. A task
//! is inserted when it opens and its `status` changes once when it closes, so the index costs
//! a transition one entry per task it opens or closes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(crate::index(
            "tasks_open_by_due",
            "tasks",
            &["status", "due_date", "id"],
        ))
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(crate::drop_index("tasks_open_by_due", "tasks"))
            .await
    }
}
