//! Claiming due work (timers, outbox rows) with a lease, in one statement per backend.
//! PostgreSQL skips rows another process holds (`FOR UPDATE SKIP LOCKED`); SQLite has no row
//! locks (sea-query silently drops the clause), but its single writer makes the one-statement
//! `UPDATE … WHERE id IN (SELECT …) RETURNING` atomic.
//!
//! Timers on a SQLite file are not leased: they are read in place, and a firing's own
//! conditional `UPDATE` (`Store::fire_timer`), in the one writer's transaction, is the claim.
//! A lease there would be a commit of its own that every firing waits for. A notice needs its
//! lease, since it is delivered outside any transaction.

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

/// On SQLite the limit is written into the text: a `LIMIT` bound as a parameter makes SQLite
/// prepare the statement again at every run (it plans with the bound value).
fn claim_sql(backend: DbBackend, q: &Queue, limit: u64) -> String {
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
            "UPDATE {table} SET lease_owner = ?2, lease_until = ?3 WHERE id IN ({}) RETURNING *",
            due_sql(q, "id", limit)
        ),
    }
}

/// SQLite: the `columns` of the rows of `q` due at `?1` that no lease holds, earliest first.
fn due_sql(q: &Queue, columns: &str, limit: u64) -> String {
    let Queue { table, due, status } = q;
    format!(
        "SELECT {columns} FROM {table} WHERE status = '{status}' AND {due} <= ?1 \
         AND (lease_until IS NULL OR lease_until < ?1) ORDER BY {due}, id LIMIT {limit}"
    )
}

/// See [`Store::next_claimable`]; `now` is the one parameter.
fn next_claimable_sql(backend: DbBackend, q: &Queue) -> String {
    let Queue { table, due, status } = q;
    let now = match backend {
        DbBackend::Postgres => "$1",
        _ => "?1",
    };
    format!(
        "SELECT MIN(n) AS next FROM (\
         SELECT MIN(CASE WHEN lease_until > {due} THEN lease_until ELSE {due} END) AS n \
         FROM {table} WHERE status = '{status}' AND {due} <= {now} \
         UNION ALL SELECT n FROM (SELECT {due} AS n FROM {table} \
         WHERE status = '{status}' AND {due} > {now} ORDER BY {due} LIMIT 1) later\
         ) candidates"
    )
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
        let mut values: Vec<Value> = vec![
            millis(now).into(),
            owner.to_owned().into(),
            millis(now + lease).into(),
        ];
        if backend == DbBackend::Postgres {
            values.insert(1, (limit as i64).into());
        }
        let stmt = Statement::from_sql_and_values(backend, claim_sql(backend, q, limit), values);
        self.write_statement(move |c| {
            let stmt = stmt.clone();
            Box::pin(async move { c.query(stmt).await })
        })
        .await
    }

    /// Due timers, earliest first, for `owner` to fire: leased to it for `lease`, or, on a
    /// SQLite file, read as they are (see the module).
    pub async fn claim_timers(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<timer::Model>, Error> {
        let mut rows: Vec<timer::Model> = if self.read_in_place.is_some() {
            let sql = due_sql(&TIMERS, "*", limit);
            let stmt = Statement::from_sql_and_values(DbBackend::Sqlite, sql, [millis(now).into()]);
            self.read_rows(stmt).await?
        } else {
            self.claim(&TIMERS, owner, now, lease, limit).await?
        };
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
    pub async fn next_timer_at(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, Error> {
        self.next_claimable(&TIMERS, now).await
    }

    /// The earliest instant at which a row of `q` can be claimed: when it is due, or when the
    /// lease that holds it ends. A row leased by another process (one killed mid-pass, say) is
    /// not claimable before then: waking at its past due instant would poll until then.
    ///
    /// Read as two index ranges of `(status, due)`, never the whole queue (a million armed
    /// timers made this a scan after every pass, and the scheduler fell behind): only a row
    /// due by `now` can be leased (a claim takes due rows only), so the leases are looked at
    /// in that range alone, and after `now` the first due instant is the answer. Should a row
    /// after `now` be leased all the same (a process whose clock runs ahead), the answer is
    /// early, never late: a pass that finds nothing to claim asks again.
    pub(super) async fn next_claimable(
        &self,
        q: &Queue,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        #[derive(FromQueryResult, serde::Deserialize)]
        struct Next {
            next: Option<i64>,
        }
        let backend = self.backend();
        let stmt = Statement::from_sql_and_values(
            backend,
            next_claimable_sql(backend, q),
            [millis(now).into()],
        );
        let next: Option<Next> = self.read_rows(stmt).await?.into_iter().next();
        Ok(next.and_then(|n| n.next).map(crate::clock::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    use super::*;

    /// The next claimable instant reads two ranges of the queue's `(status, due)` index on
    /// SQLite, never every armed row (at a million armed timers that was a scan after every
    /// pass of the scheduler).
    #[tokio::test]
    async fn the_next_claimable_instant_reads_index_ranges() {
        let (_dir, store) = crate::sqlite_file_store().await;
        for (q, index, due) in [
            (&TIMERS, "timers_due", "fire_at"),
            (&OUTBOX, "outbox_due", "next_attempt_at"),
        ] {
            let sql = format!(
                "EXPLAIN QUERY PLAN {}",
                next_claimable_sql(DbBackend::Sqlite, q)
            );
            let rows = store
                .db
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    sql,
                    [0i64.into()],
                ))
                .await
                .unwrap();
            let plan: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String>("", "detail").unwrap())
                .collect();
            let reads: Vec<&String> = plan.iter().filter(|d| d.contains(q.table)).collect();
            assert_eq!(reads.len(), 2, "{plan:#?}");
            for read in reads {
                assert!(
                    read.contains(index)
                        && (read.contains(&format!("{due}<?"))
                            || read.contains(&format!("{due}>?"))),
                    "a read that is not a range of {index} on {due}: {plan:#?}"
                );
            }
        }
    }

    /// A timer whose firing failed waits for its backoff: no claim takes it before then,
    /// though nothing leased it (on a SQLite file timers are read, not leased).
    #[tokio::test]
    async fn a_timer_waits_for_its_backoff_after_a_failure() {
        let (_dir, store) = crate::sqlite_file_store().await;
        for sql in [
            "INSERT INTO workflow_versions (id, workflow_id, version, hash, title, source, \
             templates, deployed_at) VALUES (1, 'w', 1, 'h', 'W', '', '{}', 0)",
            "INSERT INTO cases (id, workflow_id, version_id, business_key, state, status, data, \
             row_version, created_at, updated_at, entered_at, last_hash) \
             VALUES ('c', 'w', 1, 'K', 's', 'open', '{}', 1, 0, 0, 0, '')",
            "INSERT INTO timers (id, case_id, timer_key, timer_id, kind, due_date, fire_at, \
             explanation, status, attempts, created_at) VALUES \
             (1, 'c', 't#1', 't', 'deadline', '2026-01-01', 1000, '', 'armed', 0, 0), \
             (2, 'c', 'u#1', 'u', 'deadline', '2026-01-01', 2000, '', 'armed', 0, 0)",
        ] {
            store.db.execute_unprepared(sql).await.unwrap();
        }
        let at = |ms: i64| crate::clock::from_millis(ms);
        let claim = |ms: i64| {
            let store = &store;
            async move {
                let rows = store
                    .claim_timers("p", at(ms), Duration::seconds(60), 64)
                    .await
                    .unwrap();
                rows.into_iter().map(|t| t.id).collect::<Vec<_>>()
            }
        };
        assert_eq!(claim(2_000).await, [1, 2]);
        // The first failure backs off 1 s from 2 s.
        store.timer_failed(1, "boom", at(2_000), 0).await.unwrap();
        store.timer_failed(2, "boom", at(2_000), 0).await.unwrap();
        assert_eq!(claim(2_500).await, Vec::<i64>::new());
        assert_eq!(claim(3_001).await, [1, 2]);
    }

    /// A claim runs in every pass of both loops: SQLite must keep it prepared. A `LIMIT`
    /// bound as a parameter would have it prepared again at every run (shown first, so that
    /// the test can tell).
    #[tokio::test]
    async fn a_claim_stays_prepared_on_sqlite() {
        let (_dir, store) = crate::sqlite_file_store().await;
        let direct = crate::conn::Direct::open(store.read_in_place.as_deref().unwrap()).unwrap();
        let run = |sql: &str, values: Vec<Value>| {
            let stmt = Statement::from_sql_and_values(DbBackend::Sqlite, sql, values);
            let _: Vec<serde_json::Value> = direct.rows(&stmt).ok().expect("runs");
        };
        let bound = "SELECT id FROM timers WHERE status = 'armed' ORDER BY fire_at LIMIT ?1";
        for n in 1..=3i64 {
            run(bound, vec![n.into()]);
        }
        assert!(
            direct.reprepared(bound) > 0,
            "a bound LIMIT is planned again"
        );
        let due = due_sql(&TIMERS, "*", 64);
        for _ in 0..3 {
            run(&due, vec![0i64.into()]);
        }
        assert_eq!(direct.reprepared(&due), 0, "{due}");
        for q in [&TIMERS, &OUTBOX] {
            let sql = claim_sql(DbBackend::Sqlite, q, 32);
            for _ in 0..3 {
                run(&sql, vec![0i64.into(), "p".into(), 1i64.into()]);
            }
            assert_eq!(direct.reprepared(&sql), 0, "{sql}");
        }
    }
}
