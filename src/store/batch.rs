//! Group commit on SQLite. SQLite has one writer and each commit waits for the disk, so
//! transitions that arrive together are written by one writer thread in one transaction, each
//! inside its own savepoint: a refused or failing transition rolls back to its savepoint and
//! leaves the others alone. Nobody hears "done" before the batch's COMMIT has returned, so
//! every guarantee of one transaction per trigger holds (all of a transition or none of it, and
//! a caller that was told "done" is on disk); a failed COMMIT fails every transition of the
//! batch. A lone transition commits at once: the batch is what is queued when it starts.
//!
//! The writer thread owns its own connection to the database file ([`Direct`]) and runs each
//! transition's statements in place: through sqlx, every statement is handed to a worker
//! thread and back, which made that hop, not SQLite, the cost of a transition.
//!
//! On PostgreSQL (and on a SQLite database that is not a file), [`Store::write`] is a plain
//! transaction: concurrent writers commit in parallel there.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sea_orm::{DbErr, QueryTrait};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::conn::{Conn, Direct};
use super::{Error, Store};

/// Transitions at most in one batch (bounds the time a batch holds the write lock).
const MAX_BATCH: usize = 256;
/// Transitions waiting for the writer before callers wait to queue (backpressure).
const QUEUE: usize = 4096;
/// WAL frames (pages) past which the writer finishes a checkpoint itself (64 MiB of pages;
/// 16 MiB was 10 % fewer events per second, from the writer's more frequent copies).
///
/// Under a steady stream of commits the checkpointer's passive checkpoints never catch up
/// with the last frame, and SQLite only starts the WAL over once one has: the WAL then grows
/// without end (1.7 GB in a 10 s benchmark), and every commit appends to pages the kernel
/// must first allocate and zero. Between two batches no frame is being added, so the
/// writer's own passive checkpoint copies what remains and the next batch writes the WAL
/// from its beginning again.
const RESTART_FRAMES: u64 = 16384;

/// Checkpoint passes at most, back to back, before the writer finishes the copy.
const CONVERGE_PASSES: usize = 8;
/// Frames left by a pass below which the writer finishes the copy (4 MiB of pages).
const CONVERGED_FRAMES: u64 = 1024;

/// The writer thread's name; `Store::write` reads it to refuse a write started on that thread.
const WRITER_THREAD: &str = "jalon-sqlite-writer";

/// Hands a job's result over once the batch's COMMIT succeeded or failed.
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
/// What a job did: whether its writes are kept, and how to answer its caller.
pub(super) struct Done {
    keep: bool,
    deliver: Deliver,
}
/// One transition, run by the writer inside the batch transaction.
pub(super) type Job = Box<dyn for<'t> FnOnce(Conn<'t>) -> BoxFuture<'t, Done> + Send>;

/// Starts the writer thread of a SQLite file; it ends when every sender is dropped.
pub(super) fn spawn(path: &Path, turn: Arc<Mutex<()>>) -> Result<mpsc::Sender<Job>, DbErr> {
    let open = |role: &str| {
        Direct::open(path).map_err(|e| {
            DbErr::Custom(format!(
                "cannot open {} for the {role}: {e}",
                path.display()
            ))
        })
    };
    let (direct, checkpoints) = (open("writer")?, open("checkpointer")?);
    let (poke, poked) = std::sync::mpsc::sync_channel(1);
    let (tx, rx) = mpsc::channel(QUEUE);
    let long_wal = Arc::new(AtomicBool::new(false));
    let wal = Wal {
        poke,
        long: long_wal.clone(),
    };
    let thread = |name: &str| std::thread::Builder::new().name(name.into());
    thread("jalon-sqlite-checkpoint")
        .spawn(move || checkpointer(checkpoints, poked, &long_wal))
        .and_then(|_| thread(WRITER_THREAD).spawn(move || writer(direct, turn, rx, wal)))
        .map_err(|e| DbErr::Custom(format!("cannot start the SQLite writer: {e}")))?;
    Ok(tx)
}

/// The writer's side of the checkpointer.
struct Wal {
    /// Tells the checkpointer that frames were committed.
    poke: std::sync::mpsc::SyncSender<()>,
    /// Raised by the checkpointer when the WAL is longer than [`RESTART_FRAMES`].
    long: Arc<AtomicBool>,
}

/// Checkpoints after commits, a few at a time; ends with the writer (its poke sender).
///
/// Once the WAL is longer than [`RESTART_FRAMES`], it checkpoints again at once until a pass
/// finds few frames left to copy, and only then asks the writer to finish the copy between two
/// batches: the writer stands still for what the last pass left, not for a whole interval of
/// commits.
fn checkpointer(db: Direct, poked: std::sync::mpsc::Receiver<()>, long_wal: &AtomicBool) {
    let checkpoint = || {
        db.checkpoint("checkpointer")
            .inspect_err(|e| {
                tracing::warn!(error = %e, "WAL checkpoint failed; retried after the next commit")
            })
            .ok()
    };
    while poked.recv().is_ok() {
        // Let the commits of a busy period gather into one checkpoint.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let Some(mut last) = checkpoint() else {
            continue;
        };
        if last.frames <= RESTART_FRAMES {
            continue;
        }
        for _ in 0..CONVERGE_PASSES {
            let Some(now) = checkpoint() else { break };
            let left = now.frames.saturating_sub(last.copied);
            last = now;
            if left < CONVERGED_FRAMES {
                break;
            }
        }
        long_wal.store(true, Ordering::Relaxed);
    }
}

fn writer(db: Direct, turn: Arc<Mutex<()>>, mut rx: mpsc::Receiver<Job>, wal: Wal) {
    while let Some(first) = rx.blocking_recv() {
        // The same turn as `Store::begin`: deployments wait for the batch.
        let _turn = turn.blocking_lock();
        if let Err(e) = db.begin() {
            // Without a transaction no job can run. Dropping a job drops its reply
            // channel: its caller gets "the writer could not begin a transaction".
            tracing::error!(error = %e, "cannot begin a write transaction");
            drop(first);
            while let Ok(job) = rx.try_recv() {
                drop(job);
            }
            continue;
        }
        let mut delivers = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            delivers.push(run(&db, job));
            if delivers.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        let committed = db.script("COMMIT").map_err(|e| {
            // A failed COMMIT may leave the transaction open; nothing of it is kept.
            let _ = db.script("ROLLBACK");
            e.to_string()
        });
        // Full means a checkpoint is already due.
        let _ = wal.poke.try_send(());
        metrics::histogram!("jalon_sqlite_batch_size").record(delivers.len() as f64);
        for d in delivers {
            d(committed.clone());
        }
        if wal.long.swap(false, Ordering::Relaxed)
            && let Err(e) = db.checkpoint("writer")
        {
            tracing::warn!(error = %e, "WAL checkpoint failed; retried after the next commit");
        }
    }
}

/// Runs one job in its savepoint. Its futures only wait on the writer's own connection,
/// which answers in place, so blocking on them here never waits for another task.
fn run(db: &Direct, job: Job) -> Deliver {
    if let Err(e) = db.script("SAVEPOINT job") {
        let error = e.to_string();
        drop(job);
        return Box::new(move |_| tracing::error!(%error, "cannot open a savepoint"));
    }
    let done = futures_executor::block_on(AssertUnwindSafe(job(Conn::Direct(db))).catch_unwind());
    let (keep, deliver) = match done {
        Ok(Done { keep, deliver }) => (keep, deliver),
        Err(_) => {
            tracing::error!("a transition panicked; it was rolled back");
            (false, Box::new(|_| {}) as Deliver)
        }
    };
    let end = if keep {
        db.script("RELEASE job")
    } else {
        db.script("ROLLBACK TO job; RELEASE job")
    };
    match end {
        Ok(()) => deliver,
        Err(e) => {
            let error = e.to_string();
            Box::new(move |_| deliver(Err(error)))
        }
    }
}

fn commit_error(e: String) -> Error {
    Error::Db(DbErr::Custom(format!(
        "the transaction was not committed: {e}"
    )))
}

impl Store {
    /// Runs a write that is atomic by itself (one statement: a claim, a delivery record): on a
    /// SQLite file in the writer's next batch, like a transition, so that it shares a COMMIT
    /// and never waits in SQLite's busy handler for the writer's lock (which sleeps up to
    /// 100 ms a turn); elsewhere on the pool, in autocommit, without a transaction of its own.
    pub(super) async fn write_alone<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(Conn<'t>) -> BoxFuture<'t, Result<T, Error>> + Send + 'static,
    {
        match &self.jobs {
            Some(_) => self.write(f).await,
            None => f(Conn::Pool(&self.db)).await,
        }
    }

    /// One statement through [`Store::write_alone`]; returns the number of rows it changed.
    pub(super) async fn exec_alone<Q>(&self, q: Q) -> Result<u64, Error>
    where
        Q: QueryTrait + Send + Sync + 'static,
    {
        self.write_alone(move |c| Box::pin(async move { c.exec(&q).await }))
            .await
    }

    /// Runs `f` in a write transaction and commits it: on SQLite batched with the transitions
    /// queued at the same time (see the module), on PostgreSQL alone. `f`'s writes are kept
    /// only if it returns `Ok`.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(Conn<'t>) -> BoxFuture<'t, Result<T, Error>> + Send + 'static,
    {
        if std::thread::current().name() == Some(WRITER_THREAD) {
            // A job that queued a write of its own would wait for the thread that runs it:
            // the writer would hang for good. Its statements belong on the `Conn` it was given.
            return Err(Error::Db(DbErr::Custom(
                "a write was started from inside a write on the SQLite writer thread".into(),
            )));
        }
        let Some(jobs) = &self.jobs else {
            let txn = self.begin().await?;
            return match f(Conn::Txn(&txn)).await {
                Ok(v) => {
                    txn.commit().await?;
                    Ok(v)
                }
                Err(e) => {
                    txn.rollback().await.ok();
                    Err(e)
                }
            };
        };
        let (tx, rx) = oneshot::channel::<Result<T, Error>>();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = f(conn).await;
                let keep = result.is_ok();
                let deliver: Deliver = Box::new(move |committed| {
                    let _ = tx.send(match (committed, result) {
                        (_, Err(e)) => Err(e),
                        (Ok(()), Ok(v)) => Ok(v),
                        (Err(e), Ok(_)) => Err(commit_error(e)),
                    });
                });
                Done { keep, deliver }
            })
        });
        jobs.send(job)
            .await
            .map_err(|_| commit_error("the writer has stopped".into()))?;
        rx.await.map_err(|_| {
            commit_error("the writer could not run the transition (see the server log)".into())
        })?
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{EntityTrait, Set};

    use super::RESTART_FRAMES;
    use crate::store::Store;
    use crate::store::conn::Conn;
    use crate::store::entities::idempotency;

    /// A store on a SQLite file of its own (with its writer thread), and the folder holding it.
    async fn sqlite_file() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::store::sqlite_url(dir.path());
        let store = Store::open(&url, engine::calendar::Calendar::fwb())
            .await
            .unwrap();
        (dir, store)
    }

    /// On a SQLite file a claim or a delivery record joins the writer's batch; on a database
    /// the writer does not own it runs on the pool.
    #[tokio::test]
    async fn a_single_write_goes_to_the_writer_of_a_sqlite_file() {
        let (_dir, file) = sqlite_file().await;
        let memory = Store::open("sqlite::memory:", engine::calendar::Calendar::fwb())
            .await
            .unwrap();
        for (store, direct) in [(file, true), (memory, false)] {
            let on_writer = store
                .write_alone(|c| Box::pin(async move { Ok(matches!(c, Conn::Direct(_))) }))
                .await
                .unwrap();
            assert_eq!(on_writer, direct);
        }
    }

    /// A write queued from inside a write is refused instead of waiting for the thread that
    /// runs it, and the writer goes on serving.
    #[tokio::test]
    async fn a_write_inside_a_write_is_refused_not_a_hang() {
        let (_dir, store) = sqlite_file().await;
        let inner = store.clone();
        let nested = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            store.write(move |_| {
                Box::pin(async move { inner.write(|_| Box::pin(async { Ok(()) })).await })
            }),
        )
        .await
        .expect("the writer hung");
        let e = nested.unwrap_err().to_string();
        assert!(e.contains("inside a write"), "{e}");
        store
            .write(|_| Box::pin(async { Ok(()) }))
            .await
            .expect("the writer still serves");
    }

    /// Clients that always have a transition waiting leave the checkpointer no moment at
    /// which it has copied the whole WAL; unless the writer finishes the copy itself, SQLite
    /// never starts the WAL over and the file grows with every commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_a_steady_stream_of_commits() {
        const CLIENTS: usize = 32;
        const EACH: usize = 600;
        let (dir, store) = sqlite_file().await;
        let body = "x".repeat(8 * 1024);
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let (store, body) = (store.clone(), body.clone());
            clients.push(tokio::spawn(async move {
                for i in 0..EACH {
                    let row = idempotency::ActiveModel {
                        actor_id: Set(format!("client-{c}")),
                        key: Set(i.to_string()),
                        request_hash: Set(String::new()),
                        status: Set(200),
                        body: Set(body.clone()),
                        created_at: Set(0),
                    };
                    store
                        .write(move |conn| {
                            Box::pin(
                                async move { conn.exec(&idempotency::Entity::insert(row)).await },
                            )
                        })
                        .await
                        .unwrap();
                }
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        let written = (CLIENTS * EACH * body.len()) as u64;
        let wal = std::fs::metadata(dir.path().join("jalon.db-wal"))
            .unwrap()
            .len();
        // Started over, the WAL holds about RESTART_FRAMES pages and what one pass of the
        // checkpointer lets through; never started over, at least everything written.
        let bound = RESTART_FRAMES * 4096 * 3 / 2;
        assert!(bound < written, "the test writes too little to tell");
        assert!(wal < bound, "WAL {wal} bytes after {written} bytes written");
    }
}
