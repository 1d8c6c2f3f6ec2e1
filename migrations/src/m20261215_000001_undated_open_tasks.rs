//! `tasks_open_undated` `(status, id) WHERE due_date IS NULL`: the second range of "Mes
//! tâches" and of `GET /tasks` (the undated tasks, after the dated ones, by `id`; see
//! `Store::open_tasks`). SQLite reads that range in order from `tasks_open_by_due`, whose
//! `due_date IS NULL` it takes as an equality; PostgreSQL does not, and sorted every undated
//! open task of the reader's roles to show a page (11 ms at 20,000 in `jalon bench scale`).
//! Only undated tasks are in it: a task opened without a due date writes one more entry, and
//! one more when it closes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX tasks_open_undated ON tasks (status, id) WHERE due_date IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(crate::drop_index("tasks_open_undated", "tasks"))
            .await
    }
}
