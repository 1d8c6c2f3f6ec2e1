//! The durable side of jalon: sea-orm over SQLite (embedded default) or PostgreSQL, the same
//! code for both. Every change of a case — its row, history, timers, tasks and outbox rows —
//! is written by `transition.rs` in one transaction.

pub mod actors;
mod batch;
pub mod cases;
mod claim;
pub(crate) mod conn;
pub mod deploy;
mod digest;
pub mod entities;
mod error;
mod idempotency;
pub mod outbox;
pub mod queries;
pub mod registry;
mod schedules;
mod transition;

use std::path::Path;
use std::sync::Arc;

use engine::calendar::Calendar;
use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

pub use error::Error;
pub use registry::{Deployed, Registry};

#[derive(Clone)]
pub struct Store {
    pub db: DatabaseConnection,
    pub registry: Registry,
    pub calendar: Arc<Calendar>,
    /// SQLite has one writer: writers of this process queue here rather than in SQLite's busy
    /// handler, which sleeps and retries. `None` on PostgreSQL (row locks do the work).
    writer: Option<Arc<tokio::sync::Mutex<()>>>,
    /// SQLite: the queue of the writer task that batches transitions (`batch.rs`).
    jobs: Option<tokio::sync::mpsc::Sender<batch::Job>>,
}

/// A write transaction; on SQLite it also holds this process's writer turn until it ends.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

/// The SQLite URL of the embedded database under a data folder.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("jalon.db").display())
}

impl Store {
    /// Opens the database and brings its schema up to date.
    pub async fn open(url: &str, calendar: Arc<Calendar>) -> Result<Store, DbErr> {
        let mut opt = ConnectOptions::new(url.to_owned());
        opt.sqlx_logging(false)
            .acquire_timeout(Duration::from_secs(30));
        if url.starts_with("sqlite:") {
            // WAL lets readers proceed while one writer commits; FULL keeps a committed
            // transition across a power loss; the busy timeout absorbs short write contention
            // (writes take the lock up front, see `begin`).
            opt.max_connections(8)
                .min_connections(1)
                .map_sqlx_sqlite_opts(|o| {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Full)
                        .busy_timeout(Duration::from_secs(10))
                        .foreign_keys(true)
                        .create_if_missing(true)
                });
        } else {
            opt.max_connections(16).min_connections(1);
        }
        let db = Database::connect(opt).await?;
        Migrator::up(&db, None).await?;
        let writer = (db.get_database_backend() == DbBackend::Sqlite)
            .then(|| Arc::new(tokio::sync::Mutex::new(())));
        let jobs = match (&writer, sqlite_file(url)) {
            (Some(turn), Some(path)) => Some(batch::spawn(&path, turn.clone())?),
            _ => None,
        };
        Ok(Store {
            db,
            registry: Registry::default(),
            calendar,
            writer,
            jobs,
        })
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// A transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred read-then-write transaction fails with "database is
    /// locked" under contention, whatever the busy timeout.
    pub async fn begin(&self) -> Result<WriteTxn, DbErr> {
        let turn = match &self.writer {
            Some(w) => Some(w.clone().lock_owned().await),
            None => None,
        };
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        Ok(WriteTxn { txn, _turn: turn })
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }

    pub async fn close(self) -> Result<(), DbErr> {
        self.db.close().await
    }
}

/// The file of a SQLite URL; `None` for an in-memory database (which only the pool sees).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    use std::str::FromStr;
    // sqlx names an in-memory database `file:sqlx-in-memory-N`, which is also a valid file
    // name: tell it from the URL itself, read as sqlx reads it.
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    if database == ":memory:" || params.split('&').any(|p| p == "mode=memory") {
        return None;
    }
    let opts = sea_orm::sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = opts.get_filename();
    (!path.as_os_str().is_empty()).then(|| path.to_owned())
}

/// Sets up the data folder for the embedded database.
pub fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}
