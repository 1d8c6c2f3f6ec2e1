//! Claiming due work (timers, outbox rows) with a lease, in one statement per backend.
//! PostgreSQL skips rows another process holds (`FOR UPDATE SKIP LOCKED`); SQLite has no row
//! locks (sea-query silently drops the clause), but its single writer makes the one-statement
//! `UPDATE … WHERE id IN (SELECT …) RETURNING` atomic.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{DbBackend, FromQueryResult, Statement, Value};

use super::conn::Readable;
use super::entities::{outbox, timer};
use super::{Error, Store};
use crate::clock::millis;

/// A table whose rows are claimed: which column says "due", which status is claimable.
pub(super) struct Queue {
    table: &'static str,
    due: &'static str,
    status: &'static str,
}

const TIMERS: Queue = Queue {
    table: "timers",
    due: "fire_at",
    status: timer::Status::Armed.as_str(),
};

pub(super) const OUTBOX: Queue = Queue {
    table: "outbox",
    due: "next_attempt_at",
    status: outbox::Status::Pending.as_str(),
};

fn claim_sql(backend: DbBackend, q: &Queue) -> String {
    let Queue { table, due, status } = q;
    match backend {
        DbBackend::Postgres => format!(
            "WITH c AS (SELECT id FROM {table} WHERE status = '{status}' AND {due} <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY {due}, id LIMIT $2 \
             FOR UPDATE SKIP LOCKED) \
             UPDATE {table} t SET lease_owner = $3, lease_until = $4 FROM c WHERE t.id = c.id \
             RETURNING t.*"
        ),
        // `?N` binds by number: SQLite would number `$N` names by first appearance.
        _ => format!(
            "UPDATE {table} SET lease_owner = ?3, lease_until = ?4 WHERE id IN \
             (SELECT id FROM {table} WHERE status = '{status}' AND {due} <= ?1 \
             AND (lease_until IS NULL OR lease_until < ?1) ORDER BY {due}, id LIMIT ?2) \
             RETURNING *"
        ),
    }
}

impl Store {
    async fn claim<M: Readable + Send + 'static>(
        &self,
        q: &Queue,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<M>, Error> {
        let backend = self.backend();
        let values: Vec<Value> = vec![
            millis(now).into(),
            (limit as i64).into(),
            owner.to_owned().into(),
            millis(now + lease).into(),
        ];
        let stmt = Statement::from_sql_and_values(backend, claim_sql(backend, q), values);
        self.write_statement(move |c| {
            let stmt = stmt.clone();
            Box::pin(async move { c.query(stmt).await })
        })
        .await
    }

    /// Due timers, earliest first, leased to `owner` for `lease`.
    pub async fn claim_timers(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<timer::Model>, Error> {
        let mut rows: Vec<timer::Model> = self.claim(&TIMERS, owner, now, lease, limit).await?;
        rows.sort_by_key(|t| (t.fire_at, t.id));
        Ok(rows)
    }

    /// Notices due for (re)delivery, oldest first, leased to `owner`.
    pub async fn claim_notices(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<outbox::Model>, Error> {
        let mut rows: Vec<outbox::Model> = self.claim(&OUTBOX, owner, now, lease, limit).await?;
        rows.sort_by_key(|n| (n.next_attempt_at, n.id));
        Ok(rows)
    }

    /// The earliest instant at which a timer can be claimed (the scheduler sleeps until then):
    /// its due instant, or the end of the lease that holds it.
    pub async fn next_timer_at(&self) -> Result<Option<DateTime<Utc>>, Error> {
        self.next_claimable(&TIMERS).await
    }

    /// The earliest instant at which a row of `q` can be claimed: when it is due, or when the
    /// lease that holds it ends. A row leased by another process (one killed mid-pass, say) is
    /// not claimable before then: waking at its past due instant would poll until then.
    pub(super) async fn next_claimable(&self, q: &Queue) -> Result<Option<DateTime<Utc>>, Error> {
        #[derive(FromQueryResult)]
        struct Next {
            next: Option<i64>,
        }
        let Queue { table, due, status } = q;
        let stmt = Statement::from_string(
            self.backend(),
            format!(
                "SELECT MIN(CASE WHEN lease_until > {due} THEN lease_until ELSE {due} END) \
                 AS next FROM {table} WHERE status = '{status}'"
            ),
        );
        let next = Next::find_by_statement(stmt).one(&self.db).await?;
        Ok(next.and_then(|n| n.next).map(crate::clock::from_millis))
    }
}
