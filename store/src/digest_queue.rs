//! The daily digest: once per working day, each actor who opted in receives one notice listing
//! the open tasks of the roles they hold. The digest is an outbox row like any notice (no case,
//! no workflow version), so it is delivered, retried and kept as evidence the same way; its
//! dedupe key (`digest:<actor>:<date>`) makes queueing it again the same day harmless.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TryInsertResult,
};
use serde_json::json;

use super::entities::{actor, case, outbox, task};
use super::{Error, Store};
use crate::clock::millis;

/// The template name recorded on digest rows.
pub const TEMPLATE: &str = "digest";

impl Store {
    /// Queues the digest of `day` for every opted-in actor with at least one open task.
    /// Returns how many were queued now (0 when they already were).
    pub async fn queue_digests(&self, day: NaiveDate, now: DateTime<Utc>) -> Result<usize, Error> {
        let actors = actor::Entity::find()
            .filter(actor::Column::Digest.eq(true))
            .filter(actor::Column::RevokedAt.is_null())
            .order_by_asc(actor::Column::Id)
            .all(&self.db)
            .await?;
        if actors.is_empty() {
            return Ok(0);
        }
        let open = task::Entity::find()
            .filter(task::Column::Status.eq(task::Status::Open))
            .order_by_asc(task::Column::DueDate)
            .order_by_asc(task::Column::Id)
            .all(&self.db)
            .await?;
        let mut queued = 0;
        for a in &actors {
            let mine: Vec<&task::Model> = open
                .iter()
                .filter(|t| a.roles.contains(&format!(",{},", t.role)))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut tasks = Vec::with_capacity(mine.len());
            for t in mine {
                let Some(c) = case::Entity::find_by_id(&t.case_id).one(&self.db).await? else {
                    continue;
                };
                let title = self
                    .registry
                    .version((&self.db).into(), c.version_id)
                    .await
                    .map(|d| d.def.title.clone())
                    .unwrap_or_else(|_| c.workflow_id.clone());
                let due = t
                    .due_date
                    .as_deref()
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
                tasks.push(json!({
                    "title": t.title,
                    "role": t.role,
                    "workflow": title,
                    "case_key": c.business_key,
                    "case_id": c.id,
                    "due_date": due.map(|d| d.to_string()),
                    "due_long": due.map(engine::calendar::french::long_date),
                    "overdue": due.is_some_and(|d| d < day),
                    "legal_basis": t.legal_basis,
                }));
            }
            let facts = json!({
                "date": day.to_string(),
                "date_long": engine::calendar::french::long_date(day),
                "count": tasks.len(),
                "tasks": tasks,
            });
            let row = outbox::ActiveModel {
                case_id: Set(None),
                dedupe_key: Set(format!("digest:{}:{day}", a.id)),
                version_id: Set(None),
                template: Set(TEMPLATE.into()),
                recipient_actor: Set(Some(a.id.clone())),
                recipient_name: Set(Some(a.name.clone())),
                recipient_email: Set(Some(a.email.clone())),
                context: Set(facts.to_string()),
                status: Set(outbox::Status::Pending),
                attempts: Set(0),
                next_attempt_at: Set(millis(now)),
                created_at: Set(millis(now)),
                ..Default::default()
            };
            let res = outbox::Entity::insert(row)
                // The unique index of notices of no case is partial: the target says so.
                .on_conflict(
                    OnConflict::column(outbox::Column::DedupeKey)
                        .target_and_where(outbox::Column::CaseId.is_null())
                        .do_nothing()
                        .to_owned(),
                )
                .try_insert()
                .exec(&self.db)
                .await?;
            if matches!(res, TryInsertResult::Inserted(_)) {
                queued += 1;
            }
        }
        if queued > 0 {
            self.wakes.notice_due();
        }
        Ok(queued)
    }
}
