//! The delivery side of the outbox: what the dispatcher records after each attempt, what the
//! operator retries, and what the API shows (each notice, and the exact bytes sent).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};
use serde::Serialize;

use super::changes::Change;
use super::entities::{history, outbox};
use super::{Error, Store};
use crate::clock::{from_millis, millis};

/// Attempts before a notice is dead: with the backoff, about 12 hours of trying in all.
pub const MAX_ATTEMPTS: i32 = 12;

#[derive(Debug, Serialize)]
pub struct NoticeView {
    pub id: i64,
    /// None for a daily digest.
    pub case_id: Option<String>,
    pub template: String,
    pub recipient_name: Option<String>,
    pub recipient_email: Option<String>,
    /// `pending` (to send or to retry), `sent`, `dead`.
    pub status: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
    /// The SMTP server's reply, or the file written.
    pub response: Option<String>,
    pub last_error: Option<String>,
    /// SHA-256 of the bytes sent.
    pub eml_sha256: Option<String>,
    /// The operator's last retry: actor id, when, and the reason given.
    pub retried_by: Option<String>,
    pub retried_at: Option<DateTime<Utc>>,
    pub retry_reason: Option<String>,
}

/// The columns of a notice that its view shows: not the message's bytes nor its context, which
/// a list would read and drop (the bytes have their own endpoint).
#[derive(Debug, sea_orm::FromQueryResult, serde::Deserialize)]
struct NoticeRow {
    id: i64,
    case_id: Option<String>,
    template: String,
    recipient_name: Option<String>,
    recipient_email: Option<String>,
    status: outbox::Status,
    attempts: i32,
    next_attempt_at: i64,
    created_at: i64,
    sent_at: Option<i64>,
    message_id: Option<String>,
    response: Option<String>,
    last_error: Option<String>,
    eml_hash: Option<String>,
    retried_by: Option<String>,
    retried_at: Option<i64>,
    retry_reason: Option<String>,
}

/// Notices, as the rows their views read.
fn notice_rows() -> sea_orm::Select<outbox::Entity> {
    use outbox::Column as C;
    outbox::Entity::find().select_only().columns([
        C::Id,
        C::CaseId,
        C::Template,
        C::RecipientName,
        C::RecipientEmail,
        C::Status,
        C::Attempts,
        C::NextAttemptAt,
        C::CreatedAt,
        C::SentAt,
        C::MessageId,
        C::Response,
        C::LastError,
        C::EmlHash,
        C::RetriedBy,
        C::RetriedAt,
        C::RetryReason,
    ])
}

fn view(n: NoticeRow) -> NoticeView {
    NoticeView {
        next_attempt_at: (n.status == outbox::Status::Pending)
            .then(|| from_millis(n.next_attempt_at)),
        id: n.id,
        case_id: n.case_id,
        template: n.template,
        recipient_name: n.recipient_name,
        recipient_email: n.recipient_email,
        status: n.status.as_str().to_owned(),
        attempts: n.attempts,
        created_at: from_millis(n.created_at),
        sent_at: n.sent_at.map(from_millis),
        message_id: n.message_id,
        response: n.response,
        last_error: n.last_error,
        eml_sha256: n.eml_hash,
        retried_by: n.retried_by,
        retried_at: n.retried_at.map(from_millis),
        retry_reason: n.retry_reason,
    }
}

/// Seconds to wait before attempt `n + 1` (after `n` failures): 30 s doubling, at most 4 h.
fn backoff_secs(failures: i32) -> i64 {
    std::cmp::min(30i64 << failures.clamp(0, 10), 4 * 3600)
}

impl Store {
    /// Records a delivery: only if this process still holds the notice's lease.
    #[allow(clippy::too_many_arguments)]
    pub async fn notice_sent(
        &self,
        n: &outbox::Model,
        owner: &str,
        now: DateTime<Utc>,
        message_id: &str,
        response: &str,
        eml: Vec<u8>,
        eml_hash: &str,
    ) -> Result<bool, Error> {
        let q = outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value(outbox::Status::Sent))
            .col_expr(outbox::Column::SentAt, Expr::value(millis(now)))
            .col_expr(
                outbox::Column::MessageId,
                Expr::value(message_id.to_owned()),
            )
            .col_expr(outbox::Column::Response, Expr::value(response.to_owned()))
            .col_expr(outbox::Column::Eml, Expr::value(eml))
            .col_expr(outbox::Column::EmlHash, Expr::value(eml_hash.to_owned()))
            .col_expr(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).add(1),
            )
            .col_expr(
                outbox::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(outbox::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(outbox::Column::Id.eq(n.id))
            .filter(outbox::Column::Status.eq(outbox::Status::Pending))
            .filter(outbox::Column::LeaseOwner.eq(owner));
        Ok(self.record_delivery(q, n).await? == 1)
    }

    /// Runs the update `q` of notice `n`'s delivery; once it committed, whoever waits for the
    /// notices of its case hears of it (on PostgreSQL, other processes too).
    async fn record_delivery<Q>(&self, q: Q, n: &outbox::Model) -> Result<u64, Error>
    where
        Q: QueryTrait + Send + Sync + 'static,
    {
        let change = n.case_id.as_deref().map(Change::notices);
        let q = Arc::new(q);
        let told = change.clone();
        // A write (on PostgreSQL, in a batch whose notification tells other processes), not a
        // lone statement.
        let rows = self
            .write(move |c| {
                let (q, told) = (q.clone(), told.clone());
                Box::pin(async move {
                    let rows = c.exec(&*q).await?;
                    // For the notification of the PostgreSQL batch this commits in.
                    if let (1, Some(change)) = (rows, &told) {
                        super::changes::note(change);
                    }
                    Ok(rows)
                })
            })
            .await?;
        if let (1, Some(change)) = (rows, change) {
            self.committed(vec![change]);
        }
        Ok(rows)
    }

    /// Records a failed attempt: retried later with backoff, or dead when retrying cannot help
    /// or the attempts are spent. Returns the new status.
    pub async fn notice_failed(
        &self,
        n: &outbox::Model,
        owner: &str,
        now: DateTime<Utc>,
        error: &str,
        permanent: bool,
    ) -> Result<outbox::Status, Error> {
        let attempts = n.attempts + 1;
        let status = if permanent || attempts >= MAX_ATTEMPTS {
            outbox::Status::Dead
        } else {
            outbox::Status::Pending
        };
        let q = outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value(status))
            .col_expr(outbox::Column::Attempts, Expr::value(attempts))
            .col_expr(outbox::Column::LastError, Expr::value(error.to_owned()))
            .col_expr(
                outbox::Column::NextAttemptAt,
                Expr::value(millis(now) + backoff_secs(n.attempts) * 1000),
            )
            .col_expr(
                outbox::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(outbox::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(outbox::Column::Id.eq(n.id))
            .filter(outbox::Column::LeaseOwner.eq(owner));
        self.record_delivery(q, n).await?;
        Ok(status)
    }

    /// The operator's retry of a dead (or waiting) notice: due now, attempts counted afresh,
    /// who asked and why kept on the notice.
    pub async fn retry_notice(
        &self,
        id: i64,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let q = outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value(outbox::Status::Pending))
            .col_expr(outbox::Column::Attempts, Expr::value(0))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(millis(now)))
            .col_expr(outbox::Column::RetriedBy, Expr::value(by.to_owned()))
            .col_expr(outbox::Column::RetriedAt, Expr::value(millis(now)))
            .col_expr(outbox::Column::RetryReason, Expr::value(reason.to_owned()))
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::Status.is_in([outbox::Status::Dead, outbox::Status::Pending]))
            .filter(outbox::Column::RecipientEmail.is_not_null());
        if self.exec_statement(q).await? == 0 {
            return Err(Error::Conflict {
                code: "notice_not_retryable",
                message: format!("notice {id} is sent, unknown, or has no recipient address"),
            });
        }
        self.wakes.notice_due();
        Ok(())
    }

    /// The notices of a case: those of its transitions (the outbox is indexed by transition,
    /// `history_id`; the case's history rows are indexed by case).
    pub async fn case_notices(&self, case_id: &str) -> Result<Vec<NoticeView>, Error> {
        let transitions = history::Entity::find()
            .select_only()
            .column(history::Column::Id)
            .filter(history::Column::CaseId.eq(case_id))
            .into_query();
        let q = notice_rows()
            .filter(outbox::Column::HistoryId.in_subquery(transitions))
            .filter(outbox::Column::CaseId.eq(case_id))
            .order_by_asc(outbox::Column::Id);
        // An indexed read of one case's notices: in place on a SQLite file.
        Ok(self
            .read_all::<NoticeRow>(&q)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// The exact bytes sent for a notice of this case.
    pub async fn notice_eml(&self, case_id: &str, id: i64) -> Result<Vec<u8>, Error> {
        outbox::Entity::find_by_id(id)
            .filter(outbox::Column::CaseId.eq(case_id))
            .one(&self.db)
            .await?
            .and_then(|n| n.eml)
            .ok_or_else(|| {
                Error::not_found(
                    "notice_not_sent",
                    format!("sent notice {id} of case {case_id}"),
                )
            })
    }

    /// Notices in a status (`pending`, `sent`, `dead`), or all, newest first, at most `limit`.
    pub async fn notices(
        &self,
        status: Option<outbox::Status>,
        limit: u64,
    ) -> Result<Vec<NoticeView>, Error> {
        let mut q = notice_rows().order_by_desc(outbox::Column::Id);
        if let Some(s) = status {
            q = q.filter(outbox::Column::Status.eq(s));
        }
        Ok(q.limit(limit)
            .into_model::<NoticeRow>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    pub async fn notice(&self, id: i64) -> Result<NoticeView, Error> {
        notice_rows()
            .filter(outbox::Column::Id.eq(id))
            .into_model::<NoticeRow>()
            .one(&self.db)
            .await?
            .map(view)
            .ok_or_else(|| Error::not_found("notice_not_found", format!("notice {id}")))
    }

    /// When the next notice can be claimed for an attempt, a lease held by another process
    /// included (the dispatcher sleeps until then).
    pub async fn next_notice_at(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, Error> {
        self.next_claimable(&super::claim::OUTBOX, now).await
    }
}
