//! The one handle transitions read and write through, whatever carries the statements: a
//! sea-orm connection or transaction (PostgreSQL, and SQLite outside the writer), or the SQLite
//! writer's own connection ([`Direct`]), where statements run in place on the writer thread.
//! Statements are always built by sea-orm's query builders, so there is one text of each
//! statement for both carriers.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value as Lite, ValueRef};
use sea_orm::sea_query::{Alias, InsertStatement, Value};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, QueryTrait, RuntimeErr,
    Statement,
};

use super::entities::actor;
use serde::de::DeserializeOwned;

use super::Error;

/// What a checkpoint found and did, in WAL frames (pages).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Checkpointed {
    /// Frames the WAL holds.
    pub frames: u64,
    /// Frames of it now copied into the database file.
    pub copied: u64,
}

/// The SQLite writer's connection. Only the writer thread uses it (the mutex is never
/// contended; it makes the handle shareable with the futures that run there).
pub(crate) struct Direct {
    conn: Mutex<rusqlite::Connection>,
    /// Role → its holders, for the batch under way. Sound because actors are written only
    /// through the pool, which waits for the write lock this batch holds: they cannot change
    /// before its COMMIT. Cleared when a batch begins.
    holders: Mutex<HashMap<String, Vec<Holder>>>,
}

/// An actor who receives a notice sent to one of its roles.
#[derive(Clone, FromQueryResult, serde::Deserialize)]
pub(crate) struct Holder {
    pub id: String,
    pub name: String,
    pub email: String,
}

#[derive(Clone, Copy)]
pub(crate) enum Conn<'a> {
    /// The pool, each statement in autocommit (reads; one-statement writes on PostgreSQL).
    Pool(&'a DatabaseConnection),
    /// A sea-orm transaction on the pool (a transition on PostgreSQL, a deployment).
    Transaction(&'a DatabaseTransaction),
    /// The SQLite writer thread's own connection, inside the batch's transaction.
    Direct(&'a Direct),
}

/// What a job did to the transaction it was given, as far as undoing it goes.
#[derive(Clone, Copy, Default)]
pub(crate) struct Touched {
    /// It ran a statement that may have written.
    pub wrote: bool,
    /// A statement of it failed, which on PostgreSQL leaves the whole transaction unusable.
    pub failed: bool,
}

tokio::task_local! {
    /// What the job that runs on this task did to its sea-orm transaction (a PostgreSQL
    /// batch's job, which runs without a savepoint of its own; `pg_batch.rs`).
    static TOUCHED: Cell<Touched>;
}

tokio::task_local! {
    /// Role → its holders, for the PostgreSQL batch that runs on this task (`pg_batch.rs`):
    /// its notices see the actors as its first lookup found them, as a transaction in
    /// REPEATABLE READ would (a revocation committed meanwhile counts from the next batch,
    /// a few milliseconds later).
    static BATCH_HOLDERS: std::cell::RefCell<HashMap<String, Vec<Holder>>>;
}

/// Runs `batch` with a cache of the holders of each role its jobs send notices to.
pub(crate) async fn holders_cached<F: Future>(batch: F) -> F::Output {
    BATCH_HOLDERS.scope(Default::default(), batch).await
}

/// Runs `job`, returning what it output and what its statements did to its transaction.
pub(crate) async fn touching<F: Future>(job: F) -> (F::Output, Touched) {
    TOUCHED
        .scope(Cell::new(Touched::default()), async {
            let out = job.await;
            (out, TOUCHED.with(Cell::get))
        })
        .await
}

/// Notes a statement run in a transaction for [`touching`] (nothing outside it): `wrote`
/// tells whether it may have written.
fn touched<T>(result: Result<T, DbErr>, wrote: impl FnOnce(&T) -> bool) -> Result<T, DbErr> {
    match &result {
        Ok(r) => note(wrote(r), false),
        Err(_) => note(false, true),
    }
    result
}

fn note(wrote: bool, failed: bool) {
    let _ = TOUCHED.try_with(|t| {
        let mut now = t.get();
        now.wrote |= wrote;
        now.failed |= failed;
        t.set(now);
    });
}

/// A statement that changed rows wrote; one that changed none (an update whose condition no
/// longer holds) did not.
fn changed_rows(r: &sea_orm::ExecResult) -> bool {
    r.rows_affected() > 0
}

impl<'a> From<&'a DatabaseConnection> for Conn<'a> {
    fn from(db: &'a DatabaseConnection) -> Self {
        Conn::Pool(db)
    }
}

/// A row type a transition reads: sea-orm maps it on a sea-orm carrier, serde from the
/// column names on the writer's own connection.
pub(crate) trait Readable: FromQueryResult + DeserializeOwned {}
impl<T: FromQueryResult + DeserializeOwned> Readable for T {}

impl Conn<'_> {
    pub fn backend(&self) -> DbBackend {
        match self {
            Conn::Pool(c) => c.get_database_backend(),
            Conn::Transaction(c) => c.get_database_backend(),
            Conn::Direct(_) => DbBackend::Sqlite,
        }
    }

    /// Runs a write; returns the number of rows it changed.
    pub async fn exec(&self, q: &impl QueryTrait) -> Result<u64, Error> {
        self.run(q.build(self.backend())).await
    }

    /// Runs a write built for this carrier's backend; returns the number of rows it changed.
    pub async fn run(&self, stmt: Statement) -> Result<u64, Error> {
        Ok(match self {
            Conn::Pool(c) => c.execute_raw(stmt).await?.rows_affected(),
            Conn::Transaction(c) => {
                touched(c.execute_raw(stmt).await, changed_rows)?.rows_affected()
            }
            Conn::Direct(d) => d.exec(&stmt)?,
        })
    }

    /// Runs an insert into a table whose `id` the database assigns, and returns that id.
    pub async fn insert_id(&self, mut q: InsertStatement) -> Result<i64, Error> {
        #[derive(FromQueryResult, serde::Deserialize)]
        struct Id {
            id: i64,
        }
        if let Conn::Direct(d) = self {
            d.exec(&self.backend().build(&q))?;
            return Ok(d.last_insert_rowid());
        }
        q.returning_col(Alias::new("id"));
        let rows: Vec<Id> = self.query(self.backend().build(&q)).await?;
        rows.first()
            .map(|r| r.id)
            .ok_or_else(|| Error::Corrupt("an insert returned no id".into()))
    }

    /// Runs an insert that a unique index may refuse; a refusal becomes `on_duplicate`.
    pub async fn insert_unique(&self, stmt: Statement, on_duplicate: Error) -> Result<(), Error> {
        let duplicate = match self {
            Conn::Pool(c) => sea_unique(c.execute_raw(stmt).await)?,
            Conn::Transaction(c) => sea_unique(touched(c.execute_raw(stmt).await, changed_rows))?,
            Conn::Direct(d) => match d.exec(&stmt) {
                Ok(_) => false,
                Err(DirectErr::Unique) => true,
                Err(e) => return Err(e.into()),
            },
        };
        if duplicate { Err(on_duplicate) } else { Ok(()) }
    }

    /// The rows a read (`SELECT`) finds.
    pub async fn all<M: Readable>(&self, q: &impl QueryTrait) -> Result<Vec<M>, Error> {
        self.rows(q.build(self.backend()), false).await
    }

    /// The rows of a statement written for this carrier's backend (`UPDATE … RETURNING`),
    /// taken to be a write.
    pub async fn query<M: Readable>(&self, stmt: Statement) -> Result<Vec<M>, Error> {
        self.rows(stmt, true).await
    }

    async fn rows<M: Readable>(&self, stmt: Statement, write: bool) -> Result<Vec<M>, Error> {
        let rows = match self {
            Conn::Pool(c) => c.query_all_raw(stmt).await?,
            Conn::Transaction(c) => touched(c.query_all_raw(stmt).await, |_| write)?,
            Conn::Direct(d) => return Ok(d.rows(&stmt)?),
        };
        rows.iter()
            .map(|r| M::from_query_result(r, "").map_err(Error::Db))
            .collect()
    }

    /// The rows of a write built for this carrier's backend (`WITH … INSERT … RETURNING`),
    /// which `wrote` tells from them whether it wrote; a unique index's refusal becomes
    /// `on_duplicate`, if given.
    pub async fn write_returning<M: Readable>(
        &self,
        stmt: Statement,
        wrote: impl FnOnce(&[M]) -> bool,
        on_duplicate: Option<Error>,
    ) -> Result<Vec<M>, Error> {
        let found = match self {
            Conn::Pool(c) => c.query_all_raw(stmt).await,
            Conn::Transaction(c) => c.query_all_raw(stmt).await,
            Conn::Direct(d) => {
                return match (d.rows(&stmt), on_duplicate) {
                    (Err(DirectErr::Unique), Some(refusal)) => Err(refusal),
                    (rows, _) => Ok(rows?),
                };
            }
        };
        let in_transaction = matches!(self, Conn::Transaction(_));
        let rows = match found {
            Ok(rows) => rows,
            Err(e) => {
                if in_transaction {
                    note(false, true);
                }
                let unique = matches!(
                    e.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                );
                return Err(match on_duplicate {
                    Some(refusal) if unique => refusal,
                    _ => Error::Db(e),
                });
            }
        };
        let rows = rows
            .iter()
            .map(|r| M::from_query_result(r, "").map_err(Error::Db))
            .collect::<Result<Vec<M>, Error>>()?;
        if in_transaction {
            note(wrote(&rows), false);
        }
        Ok(rows)
    }

    /// The active actors holding `role`, by id.
    pub async fn holders(&self, role: &str) -> Result<Vec<Holder>, Error> {
        if let Some(h) = self.cached_holders(role) {
            return Ok(h);
        }
        let found: Vec<Holder> = self
            .all(
                &actor::Entity::find()
                    .select_only()
                    .columns([actor::Column::Id, actor::Column::Name, actor::Column::Email])
                    .filter(actor::Column::RevokedAt.is_null())
                    .filter(actor::Column::Roles.contains(format!(",{role},")))
                    .order_by_asc(actor::Column::Id),
            )
            .await?;
        match self {
            Conn::Direct(d) => {
                d.lock_holders().insert(role.to_owned(), found.clone());
            }
            Conn::Transaction(_) => {
                let _ = BATCH_HOLDERS.try_with(|c| {
                    c.borrow_mut().insert(role.to_owned(), found.clone());
                });
            }
            Conn::Pool(_) => {}
        }
        Ok(found)
    }

    /// The holders of `role` as the batch under way found them, if it looked them up.
    fn cached_holders(&self, role: &str) -> Option<Vec<Holder>> {
        match self {
            Conn::Direct(d) => d.lock_holders().get(role).cloned(),
            Conn::Transaction(_) => BATCH_HOLDERS
                .try_with(|c| c.borrow().get(role).cloned())
                .ok()
                .flatten(),
            Conn::Pool(_) => None,
        }
    }

    /// The first row, if any (the query says how many it asks for).
    pub async fn one<M: Readable>(&self, q: &impl QueryTrait) -> Result<Option<M>, Error> {
        Ok(self.all(q).await?.into_iter().next())
    }
}

fn sea_unique(r: Result<sea_orm::ExecResult, DbErr>) -> Result<bool, Error> {
    match r {
        Ok(_) => Ok(false),
        Err(e) => match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Ok(true),
            _ => Err(Error::Db(e)),
        },
    }
}

pub(crate) enum DirectErr {
    Unique,
    Sqlite(rusqlite::Error),
    Unsupported(String),
    Decode(String),
}

impl From<rusqlite::Error> for DirectErr {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error() {
            Some(f)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                DirectErr::Unique
            }
            _ => DirectErr::Sqlite(e),
        }
    }
}

impl From<DirectErr> for Error {
    fn from(e: DirectErr) -> Self {
        match e {
            DirectErr::Unique => Error::Db(DbErr::Exec(RuntimeErr::Internal(
                "UNIQUE constraint failed".into(),
            ))),
            DirectErr::Sqlite(e) => Error::Db(DbErr::Exec(RuntimeErr::Internal(e.to_string()))),
            DirectErr::Unsupported(what) => Error::Db(DbErr::Custom(format!(
                "a statement binds a {what}, which the SQLite writer does not bind"
            ))),
            DirectErr::Decode(e) => Error::Corrupt(e),
        }
    }
}

/// sea-query's value as SQLite stores it (sqlx's SQLite encoding: booleans as 0/1, JSON as
/// text).
fn bind(v: &Value) -> Result<ToSqlOutput<'_>, DirectErr> {
    use ToSqlOutput::{Borrowed, Owned};
    fn int<T: Into<i64> + Copy>(v: &Option<T>) -> ToSqlOutput<'static> {
        Owned(v.map_or(Lite::Null, |v| Lite::Integer(v.into())))
    }
    Ok(match v {
        Value::Bool(b) => int(&b.map(i64::from)),
        Value::TinyInt(v) => int(v),
        Value::SmallInt(v) => int(v),
        Value::Int(v) => int(v),
        Value::BigInt(v) => int(v),
        Value::TinyUnsigned(v) => int(v),
        Value::SmallUnsigned(v) => int(v),
        Value::Unsigned(v) => int(v),
        Value::BigUnsigned(v) => match v.map(i64::try_from) {
            None => Owned(Lite::Null),
            Some(Ok(n)) => Owned(Lite::Integer(n)),
            Some(Err(_)) => return Err(DirectErr::Unsupported("u64 above i64::MAX".into())),
        },
        Value::Float(v) => Owned(v.map_or(Lite::Null, |f| Lite::Real(f.into()))),
        Value::Double(v) => Owned(v.map_or(Lite::Null, Lite::Real)),
        Value::String(Some(s)) => Borrowed(ValueRef::Text(s.as_bytes())),
        Value::Bytes(Some(b)) => Borrowed(ValueRef::Blob(b)),
        Value::Json(Some(j)) => Owned(Lite::Text(j.to_string())),
        Value::String(None) | Value::Bytes(None) | Value::Json(None) => Owned(Lite::Null),
        other => return Err(DirectErr::Unsupported(format!("{other:?}"))),
    })
}

impl Direct {
    /// Opens the database file the pool uses, with the same settings (WAL, synchronous FULL,
    /// busy timeout, foreign keys).
    pub fn open(path: &Path) -> rusqlite::Result<Direct> {
        let c = rusqlite::Connection::open(path)?;
        c.busy_timeout(Duration::from_secs(10))?;
        c.pragma_update(None, "journal_mode", "WAL")?;
        c.pragma_update(None, "synchronous", "FULL")?;
        c.pragma_update(None, "foreign_keys", "ON")?;
        // A savepoint (a batch that started over) journals the pages it changes; on disk (the
        // default) that journal is a temporary file created and deleted for every batch.
        c.pragma_update(None, "temp_store", "MEMORY")?;
        // The pages a batch touches stay in memory: up to 16 MiB, filled only as used. Not
        // more: after a B-tree split SQLite's COMMIT walks the whole cache to drop pages past
        // the end of the file (`pcache1TruncateUnsafe`; figures: docs/performance.md).
        c.pragma_update(None, "cache_size", -16384)?;
        // Copying the WAL back into the database file is the checkpointer thread's work
        // (`batch::checkpointer`), beside the writer rather than inside its commits.
        c.pragma_update(None, "wal_autocheckpoint", 0)?;
        // Once restarted, a WAL that grew during a long burst shrinks back to this size
        // (above what `batch::RESTART_FRAMES` lets it reach, which it keeps for reuse).
        c.pragma_update(None, "journal_size_limit", 128 * 1024 * 1024)?;
        // Every statement of a transition stays prepared.
        c.set_prepared_statement_cache_capacity(128);
        Ok(Direct {
            conn: Mutex::new(c),
            holders: Mutex::default(),
        })
    }

    /// A connection of one thread for the reads made in place (`read.rs`): it may not write,
    /// and keeps a small cache (the pages of an index lookup are hot in the OS's cache).
    pub fn open_reader(path: &Path) -> rusqlite::Result<Direct> {
        use rusqlite::OpenFlags;
        let c = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never reached in WAL mode with PASSIVE checkpoints; a bound all the same.
        c.busy_timeout(Duration::from_secs(1))?;
        c.pragma_update(None, "query_only", "ON")?;
        c.pragma_update(None, "cache_size", -2048)?;
        c.set_prepared_statement_cache_capacity(32);
        Ok(Direct {
            conn: Mutex::new(c),
            holders: Mutex::default(),
        })
    }

    /// Copies committed WAL frames into the database file without waiting for or blocking
    /// the writer (a PASSIVE checkpoint). SQLite starts the WAL over from its beginning at the
    /// first write after a checkpoint that copied all of it and while no reader still reads
    /// from it. `by` names the thread in the `jalon_sqlite_checkpoint_seconds` histogram: the
    /// writer's own checkpoints are time in which no transition commits.
    pub fn checkpoint(&self, by: &'static str) -> rusqlite::Result<Checkpointed> {
        let started = std::time::Instant::now();
        let done = self
            .conn()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                // -1 for both when another connection was checkpointing.
                let count = |i| r.get::<_, i64>(i).map(|n| n.max(0) as u64);
                Ok(Checkpointed {
                    frames: count(1)?,
                    copied: count(2)?,
                })
            })?;
        let took = started.elapsed();
        metrics::histogram!("jalon_sqlite_checkpoint_seconds", "by" => by)
            .record(took.as_secs_f64());
        tracing::trace!(
            by,
            frames = done.frames,
            copied = done.copied,
            ?took,
            "WAL checkpoint"
        );
        Ok(done)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_holders(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Holder>>> {
        self.holders.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens the batch's transaction.
    pub fn begin(&self) -> rusqlite::Result<()> {
        self.lock_holders().clear();
        self.script("BEGIN IMMEDIATE")
    }

    /// Rows inserted, updated or deleted since the connection opened; a statement that failed
    /// and was undone counts none.
    pub fn total_changes(&self) -> u64 {
        self.conn().total_changes()
    }

    fn last_insert_rowid(&self) -> i64 {
        self.conn().last_insert_rowid()
    }

    /// No transaction is open: none was begun, or SQLite rolled it back after an error.
    pub fn is_autocommit(&self) -> bool {
        self.conn().is_autocommit()
    }

    /// Statements without parameters: BEGIN, SAVEPOINT, COMMIT…
    pub fn script(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn().execute_batch(sql)
    }

    fn exec(&self, stmt: &Statement) -> Result<u64, DirectErr> {
        let c = self.conn();
        let mut s = c.prepare_cached(&stmt.sql)?;
        bind_all(&mut s, stmt)?;
        Ok(s.raw_execute()? as u64)
    }

    /// How many times SQLite prepared `sql` again since this connection first prepared it
    /// (a statement whose plan depends on a bound value is prepared again at every run).
    #[cfg(test)]
    pub(crate) fn reprepared(&self, sql: &str) -> i32 {
        let c = self.conn();
        let s = c.prepare_cached(sql).expect("a statement run before");
        s.get_status(rusqlite::StatementStatus::RePrepare)
    }

    pub(crate) fn rows<M: DeserializeOwned>(&self, stmt: &Statement) -> Result<Vec<M>, DirectErr> {
        let c = self.conn();
        let mut s = c.prepare_cached(&stmt.sql)?;
        bind_all(&mut s, stmt)?;
        let names: Vec<String> = s.column_names().into_iter().map(str::to_owned).collect();
        let mut rows = s.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut obj = serde_json::Map::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                let v = match row.get_ref(i)? {
                    ValueRef::Null => serde_json::Value::Null,
                    ValueRef::Integer(n) => n.into(),
                    ValueRef::Real(f) => f.into(),
                    ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                    ValueRef::Blob(b) => b.to_vec().into(),
                };
                obj.insert(name.clone(), v);
            }
            out.push(
                serde_json::from_value(serde_json::Value::Object(obj))
                    .map_err(|e| DirectErr::Decode(format!("{}: {e}", stmt.sql)))?,
            );
        }
        Ok(out)
    }
}

fn bind_all(s: &mut rusqlite::CachedStatement<'_>, stmt: &Statement) -> Result<(), DirectErr> {
    if let Some(values) = &stmt.values {
        for (i, v) in values.0.iter().enumerate() {
            s.raw_bind_parameter(i + 1, bind(v)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use sea_orm::TransactionTrait;

    use super::{Conn, holders_cached};
    use crate::testing::pg_store;

    /// A PostgreSQL batch looks up the holders of a role once: a revocation committed during
    /// the batch counts from the next one.
    #[tokio::test]
    async fn a_batch_sees_the_holders_its_first_lookup_found() {
        let (store, _) = pg_store().await;
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        let roles = ["dco".to_owned()];
        store
            .add_actor("A", "a@example.org", &roles, now)
            .await
            .unwrap();
        let emails = |holders: Vec<super::Holder>| -> Vec<String> {
            holders.into_iter().map(|h| h.email).collect()
        };
        let txn = store.db.begin().await.unwrap();
        let conn = Conn::Transaction(&txn);
        holders_cached(async {
            assert_eq!(
                emails(conn.holders("dco").await.unwrap()),
                ["a@example.org"]
            );
            store.revoke_actor("a@example.org", now).await.unwrap();
            assert_eq!(
                emails(conn.holders("dco").await.unwrap()),
                ["a@example.org"]
            );
        })
        .await;
        holders_cached(async {
            assert!(conn.holders("dco").await.unwrap().is_empty());
        })
        .await;
        // Outside a batch nothing is kept.
        assert!(conn.holders("dco").await.unwrap().is_empty());
        txn.commit().await.unwrap();
    }
}
