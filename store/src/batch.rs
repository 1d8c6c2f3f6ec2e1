//! Group commit on SQLite. SQLite has one writer and each commit waits for the disk, so
//! transitions that arrive together are written by one writer thread in one transaction.
//! Nobody hears "done" before the batch's COMMIT has returned, so every guarantee of one
//! transaction per trigger holds (all of a transition or none of it, and a caller that was
//! told "done" is on disk); a failed COMMIT fails every transition of the batch. A lone
//! transition commits at once: the batch is what is queued when it starts.
//!
//! A transition that fails must leave nothing behind while the others of its batch are kept.
//! Most failures are refusals, found before anything is written: those need no undoing, and
//! SQLite's count of changed rows tells them apart. Only a transition that fails *after*
//! writing (or panics) makes the writer roll the batch back and run it again from the start,
//! each job in its own savepoint this time; a job is therefore a closure that can run again.
//! A savepoint around every job from the start would journal every page a job touches, for
//! failures that almost never happen (figures: docs/performance.md).
//!
//! The writer thread owns its own connection to the database file ([`Direct`]) and runs each
//! transition's statements in place: sqlx would hand every statement to a worker thread and
//! back, a hop that costs more than SQLite's own work on a transition.
//!
//! On PostgreSQL the same jobs share transactions too, in lanes that run side by side
//! (`pg_batch.rs`); on a SQLite database that is not a file, [`Store::write`] is a plain
//! transaction.

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
/// WAL frames (pages) past which the writer finishes a checkpoint itself (64 MiB of pages: a
/// smaller bound makes the writer copy more often; docs/performance.md).
///
/// Under a steady stream of commits the checkpointer's passive checkpoints never catch up
/// with the last frame, and SQLite only starts the WAL over once one has: the WAL would grow
/// without end, every commit appending to pages the kernel must first allocate and zero. Between two batches no frame is being added, so the
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
pub(super) type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
/// What a job did: whether its writes are kept, and how to answer its caller.
pub(super) struct Done {
    pub(super) keep: bool,
    /// It failed on a deadlock, a serialization failure or a case changed since it read it,
    /// which running it again may not meet (PostgreSQL; `pg_batch.rs`).
    pub(super) transient: bool,
    pub(super) deliver: Deliver,
}
/// One transition, run by the writer inside the batch transaction: once, or again if the
/// batch has to start over (see the module). The same jobs run in PostgreSQL's batches
/// (`pg_batch.rs`).
pub(super) type Job = Box<dyn for<'t> Fn(Conn<'t>) -> BoxFuture<'t, Done> + Send>;

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
            // Without a transaction no job can run. Dropping a job drops its reply channel:
            // its caller hears that the writer could not run it.
            tracing::error!(error = %e, "cannot begin a write transaction");
            drop(first);
            while let Ok(job) = rx.try_recv() {
                drop(job);
            }
            continue;
        }
        let (committed, delivers) = match Batch::default().run(&db, first, &mut rx) {
            Ok(delivers) => (Ok(()), delivers),
            Err((error, delivers)) => (Err(error), delivers),
        };
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

/// The jobs of the batch under way, kept until its COMMIT in case it has to start over.
#[derive(Default)]
struct Batch {
    jobs: Vec<Job>,
    delivers: Vec<Deliver>,
    /// Each job in its own savepoint: the batch started over once already.
    careful: bool,
}

/// How a job ran.
enum Ran {
    /// Its writes, if any, are part of the batch; the answer waits for the COMMIT.
    Settled(Deliver),
    /// It failed or panicked after writing, outside a savepoint: its writes cannot be undone
    /// alone.
    Dirty,
    /// SQLite rolled the whole transaction back (it does on a full disk or an I/O error).
    Lost(String),
}

impl Batch {
    /// Runs `first` and whatever is queued behind it, up to [`MAX_BATCH`], and commits. On
    /// success, the answers to give; on failure, the error and the answers to fail.
    fn run(
        mut self,
        db: &Direct,
        first: Job,
        rx: &mut mpsc::Receiver<Job>,
    ) -> Result<Vec<Deliver>, (String, Vec<Deliver>)> {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            self.jobs.push(job);
            let ran = run(db, &self.jobs[self.jobs.len() - 1], self.careful);
            let ran = match ran {
                Ran::Dirty => self.start_over(db),
                ran => ran,
            };
            match ran {
                Ran::Settled(deliver) => self.delivers.push(deliver),
                Ran::Lost(error) => return Err(self.fail(db, error)),
                Ran::Dirty => unreachable!("a job in a savepoint is never dirty"),
            }
            if self.jobs.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        match db.script("COMMIT") {
            Ok(()) => Ok(self.delivers),
            Err(e) => Err(self.fail(db, e.to_string())),
        }
    }

    /// Rolls the batch back and runs its jobs again, each in its own savepoint; the answers of
    /// their first run are dropped unsent. Returns how the last job ran.
    fn start_over(&mut self, db: &Direct) -> Ran {
        tracing::debug!(
            jobs = self.jobs.len(),
            "a transition failed after writing; the batch starts over"
        );
        metrics::counter!("jalon_sqlite_batch_restarts_total").increment(1);
        self.careful = true;
        self.delivers.clear();
        if let Err(e) = db.script("ROLLBACK").and_then(|()| db.begin()) {
            return Ran::Lost(e.to_string());
        }
        let (last, earlier) = self.jobs.split_last().expect("the batch has the dirty job");
        for job in earlier {
            match run(db, job, true) {
                Ran::Settled(deliver) => self.delivers.push(deliver),
                other => return other,
            }
        }
        run(db, last, true)
    }

    /// Leaves nothing of the batch: the error, and the answers to fail with it.
    fn fail(self, db: &Direct, error: String) -> (String, Vec<Deliver>) {
        if !db.is_autocommit() {
            // A failed COMMIT may leave the transaction open.
            let _ = db.script("ROLLBACK");
        }
        (error, self.delivers)
    }
}

/// Runs one job; `careful`, in a savepoint of its own. Its futures only wait on the writer's
/// own connection, which answers in place, so blocking on them here never waits for another
/// task.
fn run(db: &Direct, job: &Job, careful: bool) -> Ran {
    if careful && let Err(e) = db.script("SAVEPOINT job") {
        return Ran::Lost(format!("cannot open a savepoint: {e}"));
    }
    let before = db.total_changes();
    let done = futures_executor::block_on(AssertUnwindSafe(job(Conn::Direct(db))).catch_unwind());
    if db.is_autocommit() {
        return Ran::Lost("SQLite rolled the transaction back".into());
    }
    let (keep, deliver) = match done {
        Ok(Done { keep, deliver, .. }) => (keep, deliver),
        Err(_) => {
            tracing::error!("a transition panicked; it was rolled back");
            // Its caller hears from the dropped reply channel once the batch ends.
            (false, Box::new(|_| {}) as Deliver)
        }
    };
    if !careful {
        return if keep || db.total_changes() == before {
            Ran::Settled(deliver)
        } else {
            Ran::Dirty
        };
    }
    let end = if keep {
        db.script("RELEASE job")
    } else {
        db.script("ROLLBACK TO job; RELEASE job")
    };
    match end {
        Ok(()) => Ran::Settled(deliver),
        Err(e) => Ran::Lost(format!("cannot end a savepoint: {e}")),
    }
}

/// `f` as a job, and where its one answer arrives.
pub(super) fn job<T, F>(f: F) -> (Job, oneshot::Receiver<Result<T, Error>>)
where
    T: Send + 'static,
    F: for<'t> Fn(Conn<'t>) -> BoxFuture<'t, Result<T, Error>> + Send + 'static,
{
    let (tx, rx) = oneshot::channel::<Result<T, Error>>();
    // Shared by every run of the job; the run whose answer is delivered takes it.
    let reply = Arc::new(std::sync::Mutex::new(Some(tx)));
    let job: Job = Box::new(move |conn| {
        let (run, reply) = (f(conn), reply.clone());
        Box::pin(async move {
            let result = run.await;
            let keep = result.is_ok();
            let transient = match &result {
                Err(Error::Db(e)) => super::pg_batch::is_transient(e),
                // A batch holds the rows it wrote until its COMMIT: a transition of another
                // batch that read the case before then finds it moved on once it gets the
                // row. Run again, it reads the case as it now is (a refusal of a version the
                // caller gave comes out the same).
                Err(e) => e.is_stale(),
                Ok(_) => false,
            };
            let deliver: Deliver = Box::new(move |committed| {
                let tx = reply.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(tx) = tx {
                    let _ = tx.send(match (committed, result) {
                        (_, Err(e)) => Err(e),
                        (Ok(()), Ok(v)) => Ok(v),
                        (Err(e), Ok(_)) => Err(commit_error(e)),
                    });
                }
            });
            Done {
                keep,
                transient,
                deliver,
            }
        })
    });
    (job, rx)
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
    pub(super) async fn write_statement<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: for<'t> Fn(Conn<'t>) -> BoxFuture<'t, Result<T, Error>> + Send + 'static,
    {
        match (&self.jobs, &self.writer) {
            (Some(_), Some(_)) => self.write(f).await,
            _ => f(Conn::Pool(&self.db)).await,
        }
    }

    /// One statement through [`Store::write_statement`]; returns the number of rows it changed.
    pub(super) async fn exec_statement<Q>(&self, q: Q) -> Result<u64, Error>
    where
        Q: QueryTrait + Send + Sync + 'static,
    {
        let q = Arc::new(q);
        self.write_statement(move |c| {
            let q = q.clone();
            Box::pin(async move { c.exec(&*q).await })
        })
        .await
    }

    /// Runs `f` in a write transaction and commits it, batched with the transitions queued
    /// at the same time (see the module; on PostgreSQL `pg_batch.rs`). `f`'s writes are kept
    /// only if it returns `Ok`. `f` may run more than once (a SQLite batch that starts over, a
    /// PostgreSQL deadlock): only the result of its last run is kept and returned.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: for<'t> Fn(Conn<'t>) -> BoxFuture<'t, Result<T, Error>> + Send + 'static,
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
            return match f(Conn::Transaction(&txn)).await {
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
        let (job, rx) = job(f);
        jobs.send(job)
            .await
            .map_err(|_| commit_error("the writer has stopped".into()))?;
        let done = rx.await.map_err(|_| {
            commit_error("the writer could not run the transition (see the server log)".into())
        })?;
        self.health.saw(&done);
        done
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::future::BoxFuture;
    use sea_orm::{EntityTrait, Set};

    use super::RESTART_FRAMES;
    use crate::conn::Conn;
    use crate::entities::idempotency;
    use crate::{Error, Store};

    use crate::sqlite_file_store as sqlite_file;

    /// A write of the batch tests: counts its runs, may insert an idempotency row, then ends
    /// as told.
    type TestWrite = Box<dyn for<'t> Fn(Conn<'t>) -> BoxFuture<'t, Result<(), Error>> + Send>;

    #[derive(Clone, Copy)]
    enum Then {
        Keep,
        /// Refused before writing anything.
        Refuse,
        /// Failed after its insert.
        Fail,
        /// Panicked after its insert.
        Panic,
    }

    fn test_write(key: &'static str, then: Then, runs: Arc<AtomicUsize>) -> TestWrite {
        Box::new(move |conn| {
            let runs = runs.clone();
            Box::pin(async move {
                runs.fetch_add(1, Ordering::SeqCst);
                if let Then::Refuse = then {
                    return Err(Error::Corrupt("refused on purpose".into()));
                }
                let row = idempotency::ActiveModel {
                    actor_id: Set("batch-test".into()),
                    key: Set(key.into()),
                    request_hash: Set(String::new()),
                    status: Set(200),
                    body: Set(String::new()),
                    created_at: Set(0),
                };
                conn.exec(&idempotency::Entity::insert(row)).await?;
                match then {
                    Then::Fail => Err(Error::Corrupt("failed on purpose".into())),
                    Then::Panic => panic!("panicked on purpose"),
                    Then::Keep | Then::Refuse => Ok(()),
                }
            })
        })
    }

    /// Runs `writes` in one batch, in this order: the writer waits for its turn (held here)
    /// until all of them are queued. Returns each one's result and how many times it ran, and
    /// the idempotency keys the database then holds.
    async fn one_batch(
        store: &Store,
        writes: &[(&'static str, Then)],
    ) -> (Vec<(Result<(), String>, usize)>, Vec<String>) {
        let turn = store.writer.clone().unwrap().lock_owned().await;
        let queue = store.jobs.clone().unwrap();
        let mut calls = Vec::new();
        // On this test's one-thread runtime the spawned writes queue in spawn order.
        for &(key, then) in writes {
            let runs = Arc::new(AtomicUsize::new(0));
            let (store, write) = (store.clone(), test_write(key, then, runs.clone()));
            calls.push((tokio::spawn(async move { store.write(write).await }), runs));
        }
        // The writer took the first and waits for the turn; the others wait behind it.
        for _ in 0..10_000 {
            if queue.max_capacity() - queue.capacity() == writes.len() - 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(queue.max_capacity() - queue.capacity(), writes.len() - 1);
        drop(turn);
        let mut results = Vec::new();
        for (call, runs) in calls {
            let result = call.await.unwrap().map_err(|e| e.to_string());
            results.push((result, runs.load(Ordering::SeqCst)));
        }
        let mut keys: Vec<String> = idempotency::Entity::find()
            .all(&store.db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.key)
            .collect();
        keys.sort();
        (results, keys)
    }

    /// A refusal found before anything was written needs no undoing: the batch goes on, and
    /// no job runs twice.
    #[tokio::test]
    async fn a_refusal_in_a_batch_runs_nothing_again() {
        let (_dir, store) = sqlite_file().await;
        let (results, keys) = one_batch(
            &store,
            &[("a", Then::Keep), ("b", Then::Refuse), ("c", Then::Keep)],
        )
        .await;
        let runs: Vec<usize> = results.iter().map(|r| r.1).collect();
        assert_eq!(runs, [1, 1, 1]);
        assert!(results[0].0.is_ok() && results[2].0.is_ok(), "{results:?}");
        assert!(
            results[1]
                .0
                .as_ref()
                .unwrap_err()
                .contains("refused on purpose")
        );
        assert_eq!(keys, ["a", "c"]);
    }

    /// A job that fails or panics after writing leaves nothing, and the other jobs of its
    /// batch are kept: the batch starts over once, each job in a savepoint from then on (a
    /// second failure rolls back to its savepoint alone).
    #[tokio::test]
    async fn a_failure_after_writing_starts_the_batch_over_without_it() {
        let (_dir, store) = sqlite_file().await;
        let (results, keys) = one_batch(
            &store,
            &[
                ("a", Then::Keep),
                ("b", Then::Fail),
                ("c", Then::Keep),
                ("d", Then::Panic),
                ("e", Then::Refuse),
                ("f", Then::Keep),
            ],
        )
        .await;
        let runs: Vec<usize> = results.iter().map(|r| r.1).collect();
        assert_eq!(runs, [2, 2, 1, 1, 1, 1]);
        let ok: Vec<bool> = results.iter().map(|r| r.0.is_ok()).collect();
        assert_eq!(ok, [true, false, true, false, false, true], "{results:?}");
        assert!(
            results[1]
                .0
                .as_ref()
                .unwrap_err()
                .contains("failed on purpose")
        );
        assert!(results[3].0.as_ref().unwrap_err().contains("could not run"));
        assert_eq!(keys, ["a", "c", "f"]);
        // A panic before the restart is run again like any failure.
        let (results, keys) = one_batch(&store, &[("g", Then::Keep), ("h", Then::Panic)]).await;
        let runs: Vec<usize> = results.iter().map(|r| r.1).collect();
        assert_eq!(runs, [2, 2]);
        assert!(results[0].0.is_ok() && results[1].0.is_err(), "{results:?}");
        assert_eq!(keys, ["a", "c", "f", "g"]);
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
                .write_statement(|c| Box::pin(async move { Ok(matches!(c, Conn::Direct(_))) }))
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
                let inner = inner.clone();
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
                            let row = row.clone();
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
