//! The durable side of jalon: sea-orm over SQLite (embedded default) or PostgreSQL, the same
//! code for both. Every change of a case — its row, history, timers, tasks and outbox rows —
//! is written by `transition.rs` in one transaction.

pub mod actors;
mod batch;
pub mod case_changes;
pub mod changes;
mod claim;
pub mod clock;
pub(crate) mod conn;
pub mod deploy;
mod digest_queue;
pub mod documents;
pub mod drive;
pub mod entities;
mod error;
mod idempotency;
pub mod migrate_cases;
pub mod notice_facts;
pub mod outbox;
pub mod pages;
mod pg_batch;
pub mod queries;
mod read;
pub mod registry;
mod schedules;
pub mod sessions;
pub mod stuck;
mod transition;
pub mod validation;
pub mod verify;
pub mod wakes;
mod watch;
mod write_set;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use engine::calendar::Calendar;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

pub use error::Error;
pub use idempotency::StoredReply;
pub use registry::{Deployed, Registry};

#[derive(Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    pub(crate) registry: Registry,
    pub calendar: Arc<Calendar>,
    /// SQLite has one writer: writers of this process queue here rather than in SQLite's busy
    /// handler, which sleeps and retries. `None` on PostgreSQL (row locks do the work).
    writer: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The queue of the tasks that batch transitions: the writer thread of a SQLite file
    /// (`batch.rs`), PostgreSQL's lanes (`pg_batch.rs`).
    jobs: Option<tokio::sync::mpsc::Sender<batch::Job>>,
    /// What the last write told about the storage (see [`Store::ready`]).
    health: Arc<Health>,
    /// Case rows committed by this store, and on PostgreSQL by others (`changes.rs`).
    changes: changes::Told,
    /// This process's loops, woken when a commit gives them work (`wakes.rs`).
    wakes: Arc<wakes::Wakes>,
    /// The SQLite file whose short reads run in place (`read.rs`); `None` elsewhere.
    read_in_place: Option<Arc<Path>>,
    /// PostgreSQL: the lanes its batches run on (none on SQLite).
    postgres_lanes: Option<usize>,
}

/// The pool waits this long for a connection before the request fails (503
/// `database_unavailable`): while PostgreSQL is away, requests fail fast and a load balancer's
/// health check gets its answer, instead of every caller waiting half a minute.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// A pooled PostgreSQL connection idle this long is pinged before it is used. One in steady
/// use is not: a ping on every acquire was a round trip more for each read and each batch (a
/// third of a read's, since the pool also pings on release), and a connection that broke
/// meanwhile fails its statement, which answers 503 and drops it from the pool.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Readiness answers within this, whatever the database does.
pub const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// SQLite with a full disk still reads, so a ping says nothing: the last write's fate does.
#[derive(Default)]
struct Health {
    /// A write failed with "disk full", and readiness has not seen space back since.
    full: AtomicBool,
    /// The folder of the SQLite file, whose file system's free space tells when it was freed.
    folder: Option<std::path::PathBuf>,
}

/// After the disk was found full, the server is ready again once at least this much is free
/// (and a write commits): a small write may fit in what SQLite's files already hold while a
/// transition does not.
const FREE_WHEN_READY: u64 = 1024 * 1024;

impl Health {
    /// Notes a write that failed for want of space. Only readiness clears the mark, once it
    /// saw space back: a write that succeeds may have written nothing (a claim of no rows).
    fn saw<T>(&self, result: &Result<T, Error>) {
        if let Err(e) = result
            && e.code() == "storage_full"
        {
            self.full.store(true, Ordering::Relaxed);
        }
    }
}

/// A write transaction; on SQLite it also holds this process's writer turn until it ends.
pub struct WriteTransaction {
    txn: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTransaction {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl WriteTransaction {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

/// For tests: a store on a SQLite file of its own (with its writer thread and its reads in
/// place), and the folder holding it.
#[cfg(test)]
pub(crate) async fn sqlite_file_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    ensure_dir(dir.path()).unwrap();
    let store = Store::open(&sqlite_url(dir.path()), engine::calendar::Calendar::fwb())
        .await
        .unwrap();
    (dir, store)
}

/// The SQLite URL of the embedded database under a data folder.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("jalon.db").display())
}

/// How a store carries its writes, beyond what its URL says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// PostgreSQL: batches of transitions this process commits at once, each on a connection
    /// of its pool (`pg_batch.rs`). What PostgreSQL does best with is a number of batches in
    /// flight over all the processes that share it, so processes added share them out.
    pub postgres_lanes: usize,
}

impl Options {
    /// Lanes a process may have: its pool (16 connections) keeps room for reads.
    pub const POSTGRES_LANES: std::ops::RangeInclusive<usize> = 1..=8;
}

impl Default for Options {
    fn default() -> Self {
        Options { postgres_lanes: 4 }
    }
}

impl Store {
    /// Opens the database and brings its schema up to date.
    pub async fn open(url: &str, calendar: Arc<Calendar>) -> Result<Store, DbErr> {
        Store::open_with(url, calendar, Options::default()).await
    }

    /// [`Store::open`] with `options`.
    pub async fn open_with(
        url: &str,
        calendar: Arc<Calendar>,
        options: Options,
    ) -> Result<Store, DbErr> {
        if !Options::POSTGRES_LANES.contains(&options.postgres_lanes) {
            return Err(DbErr::Custom(format!(
                "{} PostgreSQL lanes: between {} and {} are allowed",
                options.postgres_lanes,
                Options::POSTGRES_LANES.start(),
                Options::POSTGRES_LANES.end()
            )));
        }
        let file = sqlite_file(url);
        if let Some(path) = &file {
            create_private(path);
        }
        let mut opt = ConnectOptions::new(url.to_owned());
        opt.sqlx_logging(false).acquire_timeout(ACQUIRE_TIMEOUT);
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
            opt.max_connections(16)
                .min_connections(1)
                .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
        }
        // The first connection to a new SQLite file turns it to WAL, under an exclusive lock
        // that SQLite's busy handler does not wait for: processes opening the same new file
        // together would fail with "database is locked". So each connects and migrates in turn,
        // under a lock on the database's folder (not on the file: closing any descriptor of it
        // would drop SQLite's own locks), held until the store is open.
        let folder = file.as_deref().map(|path| match path.parent() {
            Some(f) if !f.as_os_str().is_empty() => f,
            _ => Path::new("."),
        });
        let _in_turn = match folder {
            Some(dir) => Some(lock_dir(dir).await?),
            None => None,
        };
        let db = Database::connect(opt).await?;
        migrate(url, &db).await?;
        let backend = db.get_database_backend();
        let writer = (backend == DbBackend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        // On PostgreSQL, listening before any transition commits.
        let told = changes::Told::start(&db).await?;
        let jobs = match (&writer, &file) {
            (Some(turn), Some(path)) => Some(batch::spawn(path, turn.clone())?),
            (Some(_), None) => None,
            (None, _) => Some(pg_batch::spawn(
                db.clone(),
                told.origin.clone(),
                options.postgres_lanes,
            )),
        };
        let read_in_place = writer.as_ref().and(file.as_deref()).map(Arc::<Path>::from);
        let store = Store {
            db,
            registry: Registry::default(),
            calendar,
            writer,
            jobs,
            health: Arc::new(Health {
                full: AtomicBool::new(false),
                folder: folder.map(Path::to_owned),
            }),
            changes: told,
            wakes: Arc::default(),
            read_in_place,
            postgres_lanes: (backend == DbBackend::Postgres).then_some(options.postgres_lanes),
        };
        // Rows written before `cases.stuck_at` existed (see `watch.rs`).
        store.backfill_stuck_at().await.map_err(|e| match e {
            Error::Db(e) => e,
            e => DbErr::Custom(e.to_string()),
        })?;
        Ok(store)
    }

    /// PostgreSQL: the batches of transitions this store commits at once; none on SQLite.
    pub fn postgres_lanes(&self) -> Option<usize> {
        self.postgres_lanes
    }

    /// A workflow version by id, compiled on first use (a case always runs its own version).
    pub async fn version(&self, version_id: i64) -> Result<Arc<Deployed>, Error> {
        self.registry.version((&self.db).into(), version_id).await
    }

    /// Loads the latest version of every deployed workflow (at start, and when another process
    /// may have deployed).
    pub async fn load_latest_versions(&self) -> Result<(), Error> {
        self.registry.refresh((&self.db).into()).await
    }

    /// The pool, for tests and benchmarks that inspect or prepare rows in SQL; everything
    /// else reads and writes through the store's functions.
    #[doc(hidden)]
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// A transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred read-then-write transaction fails with "database is
    /// locked" under contention, whatever the busy timeout.
    pub async fn begin(&self) -> Result<WriteTransaction, DbErr> {
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
        Ok(WriteTransaction { txn, _turn: turn })
    }

    /// Readiness: the database answers within [`READY_TIMEOUT`] and, after a write failed
    /// for want of space, space was freed ([`FREE_WHEN_READY`]) and a write commits again (one
    /// row inserted and deleted: the pages it dirties must reach the disk). Errors carry
    /// `database_unavailable` or `storage_full`.
    pub async fn ready(&self) -> Result<(), Error> {
        let unreachable = || Error::Db(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout));
        let probe = async {
            self.db.ping().await?;
            if self.health.full.load(Ordering::Relaxed) {
                if let Some(folder) = &self.health.folder {
                    let free = rustix::fs::statvfs(folder)
                        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
                        .map_err(|e| DbErr::Custom(format!("{}: {e}", folder.display())))?;
                    if free < FREE_WHEN_READY {
                        return Err(Error::Db(DbErr::Custom(format!(
                            "{}: {free} bytes free in {}",
                            error::FULL_MESSAGE,
                            folder.display()
                        ))));
                    }
                }
                self.probe_write().await?;
                self.health.full.store(false, Ordering::Relaxed);
            }
            Ok(())
        };
        match tokio::time::timeout(READY_TIMEOUT, probe).await {
            Ok(r) => r,
            Err(_) => Err(unreachable()),
        }
    }

    pub async fn close(self) -> Result<(), DbErr> {
        self.db.close().await
    }
}

/// The file of a SQLite URL; `None` for an in-memory database (which only the pool sees) and
/// for another backend's URL.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    use std::str::FromStr;
    // sqlx names an in-memory database `file:sqlx-in-memory-N`, which is also a valid file
    // name: tell it from the URL itself, read as sqlx reads it.
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    if database == ":memory:" || params.split('&').any(|p| p == "mode=memory") {
        return None;
    }
    let opts = sea_orm::sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = opts.get_filename();
    (!path.as_os_str().is_empty()).then(|| path.to_owned())
}

/// Sets up the data folder for the embedded database: made private to the server's user
/// (0700), since it holds the database and the notices sent.
pub fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates an empty database file readable by the server's user alone (0600) before SQLite
/// opens it: SQLite would create it with the umask's mode (0644 usually), and it gives its
/// `-wal` and `-shm` files the mode of the database file. An existing file is left as it is.
fn create_private(path: &Path) {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    // Any failure (it exists, a missing folder, `mode=ro`…) is left to SQLite, which opens
    // the file or says why in its own words.
    let _ = options.open(path);
}

/// Brings the schema up to date, one process at a time: processes started together on a
/// fresh database would otherwise each create the same tables (and fail on PostgreSQL's
/// catalog keys). PostgreSQL: a session advisory lock held by a connection of its own, which
/// runs the migrations; SQLite: the caller holds the folder's lock (see `Store::open`).
async fn migrate(url: &str, db: &DatabaseConnection) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let mut opt = ConnectOptions::new(url.to_owned());
            opt.sqlx_logging(false)
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT);
            let own = Database::connect(opt).await?;
            own.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .await?;
            let done = Migrator::up(&own, None).await;
            // Closing the session releases the lock in any case.
            own.close().await.ok();
            done
        }
        _ => Migrator::up(db, None).await,
    }
}

/// The advisory lock key of migrations ("jalon" in ASCII); advisory keys are per database.
const MIGRATION_LOCK: i64 = 0x006a_616c_6f6e;

/// An exclusive lock on a folder, held until the returned file is dropped.
async fn lock_dir(dir: &Path) -> Result<std::fs::File, DbErr> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&dir)?;
        f.lock()?;
        Ok::<_, std::io::Error>(f)
    })
    .await
    .map_err(|e| DbErr::Custom(e.to_string()))?
    .map_err(|e| DbErr::Custom(format!("cannot lock the database folder to open it: {e}")))
}

/// What the store's own tests share.
#[cfg(test)]
pub(crate) mod testing {
    use sea_orm::{ConnectionTrait, Database};

    use super::Store;

    /// A store on a fresh PostgreSQL database (`JALON_TEST_PG`, as the e2e tests), and its URL.
    pub(crate) async fn pg_store() -> (Store, String) {
        let admin = std::env::var("JALON_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let db = Database::connect(format!("{admin}/postgres"))
            .await
            .expect("PostgreSQL reachable (scripts/test starts it)");
        let name = format!("jalon_t_{}", uuid::Uuid::new_v4().simple());
        db.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        db.close().await.ok();
        let url = format!("{admin}/{name}");
        let store = Store::open(&url, engine::calendar::Calendar::fwb())
            .await
            .unwrap();
        (store, url)
    }
}

#[cfg(test)]
mod tests {
    use super::{Options, Store, sqlite_file};

    #[tokio::test]
    async fn lanes_out_of_bounds_are_refused() {
        for lanes in [0, 9] {
            let options = Options {
                postgres_lanes: lanes,
            };
            let refused = Store::open_with(
                "sqlite::memory:",
                engine::calendar::Calendar::fwb(),
                options,
            )
            .await
            .err()
            .expect("refused");
            assert!(refused.to_string().contains("between 1 and 8"), "{refused}");
        }
    }

    #[test]
    fn only_a_sqlite_url_names_a_file() {
        assert_eq!(
            sqlite_file("postgres://postgres@127.0.0.1:5432/jalon"),
            None
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://x.db?mode=memory"), None);
        for url in ["sqlite://data/jalon.db?mode=rwc", "sqlite:data/jalon.db"] {
            assert_eq!(sqlite_file(url), Some("data/jalon.db".into()), "{url}");
        }
    }
}
