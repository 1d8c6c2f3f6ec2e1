//! `Idempotency-Key` on case starts: the key is recorded in the start's own transaction, so a
//! repeat can never start a second case; the first response is stored once it exists.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryTrait};

use super::conn::Conn;
use super::entities::{case, idempotency};
use super::{Error, Store};

/// The first response to a request with an `Idempotency-Key`, as it was answered: HTTP status
/// and JSON body (the store knows no HTTP; the server turns it back into a response).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredReply {
    pub status: u16,
    pub body: serde_json::Value,
}

/// The marker stored until the response is known: the case id.
fn pending(case_id: &str) -> String {
    serde_json::json!({ "pending_case": case_id }).to_string()
}

impl Store {
    /// The response of an earlier request with this key, if there was one.
    pub async fn idempotent_replay(
        &self,
        actor_id: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<Option<StoredReply>, Error> {
        let Some(row) = idempotency::Entity::find_by_id((actor_id.to_owned(), key.to_owned()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        if row.request_hash != request_hash {
            return Err(Error::Invalid {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was used for a different request".into(),
            });
        }
        let body: serde_json::Value = serde_json::from_str(&row.body).unwrap_or_default();
        if let Some(case_id) = body.get("pending_case").and_then(|v| v.as_str()) {
            // Started, but the process stopped before the response was stored.
            let c = case::Entity::find_by_id(case_id)
                .one(&self.db)
                .await?
                .ok_or_else(|| Error::not_found("case_not_found", format!("case {case_id}")))?;
            let view = self
                .case_view(&c, crate::clock::from_millis(c.updated_at))
                .await?;
            return Ok(Some(StoredReply {
                status: 201,
                body: serde_json::to_value(view).unwrap_or_default(),
            }));
        }
        Ok(Some(StoredReply {
            status: u16::try_from(row.status).unwrap_or(200),
            body,
        }))
    }

    pub(super) async fn idempotent_claim(
        &self,
        txn: Conn<'_>,
        (actor_id, key, request_hash): (&str, &str, &str),
        case_id: &str,
        now: i64,
    ) -> Result<(), Error> {
        let m = idempotency::ActiveModel {
            actor_id: Set(actor_id.to_owned()),
            key: Set(key.to_owned()),
            request_hash: Set(request_hash.to_owned()),
            status: Set(201),
            body: Set(pending(case_id)),
            created_at: Set(now),
        };
        txn.insert_unique(
            idempotency::Entity::insert(m).build(txn.backend()),
            Error::Conflict {
                code: "idempotency_in_progress",
                message: "a request with this Idempotency-Key is being processed; retry".into(),
            },
        )
        .await
    }

    /// A write that must reach the disk, and leaves nothing: one idempotency row (of no
    /// actor) inserted and deleted in one transaction. Tells whether writes commit again
    /// after one failed for want of space.
    pub(super) async fn probe_write(&self) -> Result<(), Error> {
        let done = self
            .write(|c| {
                Box::pin(async move {
                    let m = idempotency::ActiveModel {
                        actor_id: Set(String::new()),
                        key: Set("jalon:write-probe".into()),
                        request_hash: Set(String::new()),
                        status: Set(0),
                        body: Set(String::new()),
                        created_at: Set(0),
                    };
                    c.exec(&idempotency::Entity::insert(m)).await?;
                    c.exec(
                        &idempotency::Entity::delete_many()
                            .filter(idempotency::Column::ActorId.eq(""))
                            .filter(idempotency::Column::Key.eq("jalon:write-probe")),
                    )
                    .await?;
                    Ok(())
                })
            })
            .await;
        self.health.saw(&done);
        done
    }

    pub async fn idempotent_record(
        &self,
        actor_id: &str,
        key: &str,
        status: u16,
        body: &serde_json::Value,
    ) -> Result<(), Error> {
        let q = idempotency::Entity::update_many()
            .col_expr(idempotency::Column::Status, Expr::value(status as i32))
            .col_expr(idempotency::Column::Body, Expr::value(body.to_string()))
            .filter(idempotency::Column::ActorId.eq(actor_id))
            .filter(idempotency::Column::Key.eq(key));
        self.exec_statement(q).await?;
        Ok(())
    }
}
