//! Group commit on PostgreSQL. One transaction per transition costs a WAL flush each, and
//! the machine's flush rate bounds the transitions per second; transitions that arrive
//! together therefore share one transaction, as on SQLite (`batch.rs`, whose jobs and answers
//! this reuses).
//!
//! A few lanes (tasks) take the queued jobs; each lane runs its batch on one pooled
//! connection, one job after another. Nobody is answered before the batch's COMMIT returned;
//! a failed COMMIT fails every job of the batch. A job later in a batch sees what the earlier
//! ones wrote (one transaction), so two events for one case apply in turn, and an event sent
//! with a version the batch already moved past is refused as stale.
//!
//! A job that fails must leave nothing behind while the others of its batch are kept. Most
//! failures are refusals found before anything is written, which need no undoing; the
//! statements a job runs tell them apart (`conn::touching`). Only a job that fails after
//! writing, or whose statement failed (which leaves a PostgreSQL transaction unusable), makes
//! the lane roll the batch back and run it again, each job in a savepoint of its own this
//! time: a failing job then rolls back to its savepoint alone and the others commit. A
//! savepoint around every job from the start would cost a round trip a job, for failures that
//! seldom happen (as on SQLite, `batch.rs`; figures: docs/performance.md).
//!
//! Batches of different lanes or processes can wait on each other's row locks and, when they
//! wait in a circle, PostgreSQL cancels one statement (deadlock, `40P01`); a serialization
//! failure or a lock timeout is as transient, and so is a case found changed since the job
//! read it (another batch committed it meanwhile: a batch holds its rows longer than one
//! transition did). Such a job is undone (as above, or alone if it had written nothing: a
//! stale case changes no row) and runs again in a later batch of its lane, once this one has
//! committed and let its locks go (a bounded number of runs, then its caller gets the error).
//! Its answer goes out once, from the run that is kept.
//!
//! The batch's transaction also tells the other processes on the database which cases its
//! kept jobs wrote: one `NOTIFY` before the COMMIT (`changes.rs`), which PostgreSQL delivers
//! only if the COMMIT succeeds. A job undone or rolled back to its savepoint is left out of it.
//!
//! A batch holds at most [`MAX_BATCH`] jobs: run with savepoints, every job that writes takes
//! a subtransaction id, and beyond 64 of them in one open transaction PostgreSQL's snapshots
//! of every other session have to look subtransactions up on disk
//! (`PGPROC_MAX_CACHED_SUBXIDS`).

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::{Mutex, mpsc};

use super::batch::{Deliver, Done, Job};
use super::changes::{self, Change};
use super::conn::{self, Conn};

/// Jobs at most in one batch (one subtransaction each; see the module).
const MAX_BATCH: usize = 64;
/// Jobs waiting for a lane before callers wait to queue (backpressure).
const QUEUE: usize = 4096;
/// Runs at most of a job that keeps meeting a deadlock or a serialization failure.
const RUNS: u32 = 5;

/// A job and how many times it ran into a transient failure.
struct Pending {
    job: Job,
    runs: u32,
}

impl Pending {
    /// Whether this run, if it meets a transient failure, is the job's last.
    fn last_run(&self) -> bool {
        self.runs + 1 >= RUNS
    }

    /// The job for its next run, this one counted.
    fn counted(self) -> Pending {
        Pending {
            job: self.job,
            runs: self.runs + 1,
        }
    }
}

/// Starts the lanes; they end when every sender is dropped. `origin` opens the batches'
/// notifications (the store that sends them skips them).
pub(super) fn spawn(db: DatabaseConnection, origin: Arc<str>, lanes: usize) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..lanes {
        tokio::spawn(lane(db.clone(), rx.clone(), origin.clone()));
    }
    tx
}

async fn lane(db: DatabaseConnection, rx: Arc<Mutex<mpsc::Receiver<Job>>>, origin: Arc<str>) {
    let mut again = VecDeque::new();
    let mut isolate = false;
    loop {
        if again.is_empty() {
            let Some(first) = rx.lock().await.recv().await else {
                return;
            };
            again.push_back(Pending {
                job: first,
                runs: 0,
            });
        }
        (again, isolate) = conn::holders_cached(run_batch(&db, again, &rx, &origin, isolate)).await;
    }
}

/// How a job ran.
enum Ran {
    /// Kept or rolled back to its savepoint; the answer waits for the COMMIT.
    Settled(Deliver),
    /// Rolled back to its savepoint after a deadlock or a serialization failure: to run again.
    Transient(Deliver),
    /// The transaction can no longer be used (the connection broke, a savepoint failed).
    Lost(String, Deliver),
    /// Failed after writing, or a statement of it failed, with no savepoint to roll back to:
    /// the batch must be rolled back and run again, each job in a savepoint. `transient` as
    /// for [`Ran::Transient`].
    Undo { transient: bool, deliver: Deliver },
}

/// Runs `pending` and whatever is queued meanwhile, up to [`MAX_BATCH`], each job in a
/// savepoint of its own if `isolate`, and commits; answers every job that is done. Returns the
/// jobs to run again in the next batch, and whether that batch must isolate them.
async fn run_batch(
    db: &DatabaseConnection,
    mut pending: VecDeque<Pending>,
    rx: &Mutex<mpsc::Receiver<Job>>,
    origin: &str,
    isolate: bool,
) -> (VecDeque<Pending>, bool) {
    let txn = match db.begin().await {
        Ok(txn) => txn,
        Err(e) => {
            // Without a transaction no job can run: dropping a job drops its reply channel,
            // and its caller hears that it could not run (as when the SQLite writer cannot
            // begin).
            tracing::error!(error = %e, "cannot begin a write transaction");
            return (VecDeque::new(), false);
        }
    };
    let mut kept: Vec<Pending> = Vec::new();
    let mut delivers: Vec<Deliver> = Vec::new();
    let mut again = VecDeque::new();
    let mut mark = isolate.then_some(Savepoint::Unopened);
    let mut written: Vec<Change> = Vec::new();
    while let Some(p) = next(&mut pending, rx, kept.len() + again.len()) {
        // The job's future is made before the savepoint: a future does nothing until polled.
        let job = (p.job)(Conn::Transaction(&txn));
        match run(&txn, &mut mark, job, &mut written).await {
            Ran::Settled(deliver) => {
                delivers.push(deliver);
                kept.push(p);
            }
            Ran::Transient(deliver) if p.last_run() => {
                delivers.push(deliver);
                kept.push(p);
            }
            Ran::Transient(_unsent) => {
                metrics::counter!("jalon_pg_batch_reruns_total").increment(1);
                again.push_back(p.counted());
            }
            Ran::Lost(error, deliver) => {
                delivers.push(deliver);
                txn.rollback().await.ok();
                fail(delivers, error);
                // Jobs not yet run wait for the next batch; re-runs stay re-runs.
                again.extend(pending);
                return (again, false);
            }
            Ran::Undo { transient, deliver } => {
                txn.rollback().await.ok();
                metrics::counter!("jalon_pg_batch_undone_total").increment(1);
                // Every job of the batch runs again, their answers of this run dropped unsent;
                // the one that failed too, its run counted, unless it was its last.
                let mut redo: VecDeque<Pending> = kept.into_iter().collect();
                if transient && p.last_run() {
                    // It wrote nothing that stays: its error can be answered now.
                    deliver(Ok(()));
                } else {
                    redo.push_back(p.counted());
                }
                redo.extend(again);
                redo.extend(pending);
                return (redo, true);
            }
        }
    }
    metrics::histogram!("jalon_pg_batch_size").record(delivers.len() as f64);
    let notify = changes::notify_statement(&changes::payloads(origin, &written));
    if !notify.is_empty()
        && let Err(e) = txn.execute_unprepared(&notify).await
    {
        // The transaction is aborted: its COMMIT would roll back without an error.
        txn.rollback().await.ok();
        fail(delivers, format!("cannot notify the batch's changes: {e}"));
        return (again, false);
    }
    match txn.commit().await {
        Ok(()) => {
            for d in delivers {
                d(Ok(()));
            }
        }
        Err(e) if is_transient(&e) => {
            // Nothing of the batch is kept: every job runs again (their answers of this run
            // are dropped unsent).
            metrics::counter!("jalon_pg_batch_reruns_total").increment(kept.len() as u64);
            let (retry, give_up): (Vec<_>, Vec<_>) = kept
                .into_iter()
                .zip(delivers)
                .partition(|(p, _)| !p.last_run());
            fail(give_up.into_iter().map(|(_, d)| d).collect(), e.to_string());
            again.extend(retry.into_iter().map(|(p, _)| p.counted()));
        }
        Err(e) => fail(delivers, e.to_string()),
    }
    (again, false)
}

/// The next job of the batch: one left from before, or one queued since, while the batch has
/// room and no other lane is taking jobs.
fn next(
    pending: &mut VecDeque<Pending>,
    rx: &Mutex<mpsc::Receiver<Job>>,
    in_batch: usize,
) -> Option<Pending> {
    if in_batch >= MAX_BATCH {
        return None;
    }
    pending.pop_front().or_else(|| {
        let job = rx.try_lock().ok()?.try_recv().ok()?;
        Some(Pending { job, runs: 0 })
    })
}

fn fail(delivers: Vec<Deliver>, error: String) {
    for d in delivers {
        d(Err(error.clone()));
    }
}

/// The savepoint `job` of the batch's transaction, as the next job finds it.
#[derive(Clone, Copy, PartialEq)]
enum Savepoint {
    /// Not opened yet.
    Unopened,
    /// Rolled back to: open, and holding nothing.
    Empty,
    /// Holding the writes of a job that is kept.
    Holding,
}

/// Runs one job's future, in a savepoint of its own if `mark` is given, and keeps its writes,
/// rolls back to its savepoint, or asks for the batch to be undone. A kept job's savepoint is
/// released as the next one opens, in the same round trip, and the last one by the COMMIT.
/// The case rows a kept job wrote are added to `written`.
async fn run(
    txn: &DatabaseTransaction,
    mark: &mut Option<Savepoint>,
    job: BoxFuture<'_, Done>,
    written: &mut Vec<Change>,
) -> Ran {
    let unsent = || Box::new(|_| {}) as Deliver;
    if let Some(mark) = mark {
        let open = match *mark {
            Savepoint::Unopened => Some("SAVEPOINT job"),
            Savepoint::Empty => None,
            Savepoint::Holding => Some("RELEASE SAVEPOINT job; SAVEPOINT job"),
        };
        if let Some(open) = open
            && let Err(e) = txn.execute_unprepared(open).await
        {
            return Ran::Lost(format!("cannot open a savepoint: {e}"), unsent());
        }
        *mark = Savepoint::Empty;
    }
    let ((done, noted), touched) =
        conn::touching(changes::noting(AssertUnwindSafe(job).catch_unwind())).await;
    let Done {
        keep,
        transient,
        deliver,
    } = done.unwrap_or_else(|_| {
        tracing::error!("a transition panicked; it was rolled back");
        // Its caller hears from the dropped reply channel once the batch ends.
        Done {
            keep: false,
            transient: false,
            deliver: unsent(),
        }
    });
    match mark {
        // A statement that failed and was not answered by a failure of the job still left the
        // transaction unusable: its COMMIT would roll back without an error.
        None if touched.failed || (!keep && touched.wrote) => {
            return Ran::Undo { transient, deliver };
        }
        None => {}
        Some(mark) if keep => *mark = Savepoint::Holding,
        Some(_) => {
            if let Err(e) = txn.execute_unprepared("ROLLBACK TO SAVEPOINT job").await {
                return Ran::Lost(format!("cannot roll back to a savepoint: {e}"), deliver);
            }
        }
    }
    if keep {
        written.extend(noted);
    }
    if transient {
        Ran::Transient(deliver)
    } else {
        Ran::Settled(deliver)
    }
}

/// A failure that the same statements may not meet again: a deadlock, a serialization
/// failure, a lock not available.
pub(super) fn is_transient(e: &sea_orm::DbErr) -> bool {
    matches!(
        super::error::db_code(e).as_deref(),
        Some("40P01" | "40001" | "55P03")
    )
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::{TimeZone, Utc};
    use futures_util::future::BoxFuture;
    use sea_orm::sqlx::postgres::PgListener;
    use sea_orm::{ConnectionTrait, EntityTrait, Set};
    use serde_json::json;
    use tokio::sync::{Mutex, mpsc, oneshot};

    use super::{Pending, RUNS, run_batch};
    use crate::batch::job;
    use crate::conn::Conn;
    use crate::drive::{EventRequest, Fired};
    use crate::entities::{case, history, idempotency};
    use crate::{Error, Store};

    use crate::testing::pg_store;

    #[derive(Clone, Copy)]
    enum Then {
        Keep,
        /// Refused before writing anything.
        Refuse,
        /// Failed after its insert.
        Fail,
        /// Panicked after its insert.
        Panic,
        /// Its insert met a unique key: PostgreSQL failed the statement, and the transaction
        /// is unusable until its savepoint is rolled back.
        Duplicate,
        /// Met a deadlock after its insert, on its first `n` runs.
        Deadlocked(usize),
    }

    type Reply = oneshot::Receiver<Result<(), Error>>;

    /// A job that counts its runs, inserts an idempotency row keyed `key` (and notes case
    /// `key` at version 1, as the Writer notes a case row), then ends as told.
    fn test_job(key: &'static str, then: Then) -> (Pending, Reply, Arc<AtomicUsize>) {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let (job, reply) = job(move |conn: Conn<'_>| -> BoxFuture<'_, Result<(), Error>> {
            let runs = counted.clone();
            Box::pin(async move {
                let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
                if let Then::Refuse = then {
                    return Err(Error::Corrupt("refused on purpose".into()));
                }
                let key = if let Then::Duplicate = then { "a" } else { key };
                let row = idempotency::ActiveModel {
                    actor_id: Set("batch-test".into()),
                    key: Set(key.into()),
                    request_hash: Set(String::new()),
                    status: Set(200),
                    body: Set(String::new()),
                    created_at: Set(0),
                };
                conn.exec(&idempotency::Entity::insert(row)).await?;
                crate::changes::note(&crate::changes::Change::row(key, 1));
                match then {
                    Then::Fail => Err(Error::Corrupt("failed on purpose".into())),
                    Then::Panic => panic!("panicked on purpose"),
                    Then::Deadlocked(n) if run <= n => {
                        // The error PostgreSQL gives a deadlock's victim, raised for real.
                        let Conn::Transaction(txn) = conn else {
                            unreachable!("a PostgreSQL job runs in a transaction")
                        };
                        txn.execute_unprepared(
                            "DO $$ BEGIN RAISE EXCEPTION 'deadlock on purpose' \
                                 USING ERRCODE = '40P01'; END $$",
                        )
                        .await?;
                        unreachable!("the statement raised")
                    }
                    _ => Ok(()),
                }
            })
        });
        (Pending { job, runs: 0 }, reply, runs)
    }

    async fn keys(store: &Store) -> Vec<String> {
        let mut keys: Vec<String> = idempotency::Entity::find()
            .all(&store.db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.key)
            .collect();
        keys.sort();
        keys
    }

    /// What is left after a batch: the jobs to run again, and whether each in a savepoint.
    type Left = (VecDeque<Pending>, bool);

    /// Runs `jobs` as one batch, with no savepoints (as a lane begins); returns the replies,
    /// the run counters and what is left.
    async fn one_batch(
        store: &Store,
        jobs: &[(&'static str, Then)],
    ) -> (Vec<Reply>, Vec<Arc<AtomicUsize>>, Left) {
        let (mut pending, mut replies, mut runs) = (VecDeque::new(), Vec::new(), Vec::new());
        for &(key, then) in jobs {
            let (p, reply, n) = test_job(key, then);
            pending.push_back(p);
            replies.push(reply);
            runs.push(n);
        }
        let left = next_batch(store, (pending, false)).await;
        (replies, runs, left)
    }

    /// Runs what a batch left, as its lane would next.
    async fn next_batch(store: &Store, (pending, isolate): Left) -> Left {
        let (_tx, rx) = mpsc::channel(1);
        run_batch(&store.db, pending, &Mutex::new(rx), "t", isolate).await
    }

    fn runs_of(runs: &[Arc<AtomicUsize>]) -> Vec<usize> {
        runs.iter().map(|r| r.load(Ordering::SeqCst)).collect()
    }

    fn outcome(reply: &mut Reply) -> Result<(), String> {
        reply
            .try_recv()
            .expect("answered")
            .map_err(|e| e.to_string())
    }

    /// A job refused before it wrote anything needs no undoing: the batch goes on without a
    /// savepoint, the others commit, and no job runs twice.
    #[tokio::test]
    async fn a_job_refused_before_writing_leaves_its_batch_as_it_is() {
        let (store, _) = pg_store().await;
        let (mut replies, runs, (again, isolate)) = one_batch(
            &store,
            &[("a", Then::Keep), ("c", Then::Refuse), ("f", Then::Keep)],
        )
        .await;
        assert!(again.is_empty() && !isolate);
        assert_eq!(runs_of(&runs), [1, 1, 1]);
        assert_eq!(outcome(&mut replies[0]), Ok(()));
        assert!(
            outcome(&mut replies[1])
                .unwrap_err()
                .contains("refused on purpose")
        );
        assert_eq!(outcome(&mut replies[2]), Ok(()));
        assert_eq!(keys(&store).await, ["a", "f"]);
    }

    /// A job that fails after writing — failing or panicking, or failed by PostgreSQL itself —
    /// undoes its batch, which runs again with each job in a savepoint: the failing jobs roll
    /// back to theirs alone, the others commit, and each caller is answered once.
    #[tokio::test]
    async fn a_job_failing_after_writing_leaves_the_others_of_its_batch_committed() {
        let (store, _) = pg_store().await;
        let (mut replies, runs, left) = one_batch(
            &store,
            &[
                ("a", Then::Keep),
                ("b", Then::Fail),
                ("c", Then::Refuse),
                ("d", Then::Duplicate),
                ("e", Then::Panic),
                ("f", Then::Keep),
            ],
        )
        .await;
        // Undone at `b`: nothing committed, nobody answered, everything to run in savepoints.
        assert_eq!((left.0.len(), left.1), (6, true));
        assert!(keys(&store).await.is_empty());
        assert!(matches!(
            replies[0].try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));
        let (again, isolate) = next_batch(&store, left).await;
        assert!(again.is_empty() && !isolate);
        assert_eq!(runs_of(&runs), [2, 2, 1, 1, 1, 1]);
        let mut results: Vec<_> = replies[..4].iter_mut().map(outcome).collect();
        assert!(results[0].is_ok() && results[1].is_err() && results[2].is_err());
        assert!(
            results[1]
                .as_ref()
                .unwrap_err()
                .contains("failed on purpose")
        );
        assert!(results[3].as_ref().unwrap_err().contains("database error"));
        // The panicked job's reply channel is dropped unanswered.
        assert!(matches!(
            replies[4].try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        results.push(outcome(&mut replies[5]));
        assert!(results[4].is_ok(), "{results:?}");
        assert_eq!(keys(&store).await, ["a", "f"]);
    }

    /// A deadlock's victim undoes its batch; run again in a savepoint, a victim once more
    /// rolls back to it alone, the batch commits without it, and it runs in the next batch:
    /// answered once, from the run that was kept.
    #[tokio::test]
    async fn a_deadlocked_job_runs_again_in_the_next_batch_and_is_answered_once() {
        let (store, _) = pg_store().await;
        let (mut replies, runs, left) = one_batch(
            &store,
            &[
                ("a", Then::Keep),
                ("b", Then::Deadlocked(2)),
                ("c", Then::Keep),
            ],
        )
        .await;
        assert_eq!((left.0.len(), left.1), (3, true));
        let left = next_batch(&store, left).await;
        assert_eq!((left.0.len(), left.1), (1, false));
        assert_eq!(outcome(&mut replies[0]), Ok(()));
        assert_eq!(outcome(&mut replies[2]), Ok(()));
        assert!(matches!(
            replies[1].try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));
        assert_eq!(keys(&store).await, ["a", "c"]);
        let (again, _) = next_batch(&store, left).await;
        assert!(again.is_empty());
        assert_eq!(outcome(&mut replies[1]), Ok(()));
        assert_eq!(runs_of(&runs), [2, 3, 1]);
        assert_eq!(keys(&store).await, ["a", "b", "c"]);
    }

    /// The batch's transaction notifies the case rows of its kept jobs, once, with its COMMIT;
    /// a job rolled back to its savepoint (failed, panicked, deadlocked) is not in it, and a
    /// batch that keeps nothing notifies nothing. Notifications arrive in commit order, so the
    /// one after the empty batch's is the next batch's.
    #[tokio::test]
    async fn a_batch_notifies_what_its_kept_jobs_wrote_and_nothing_else() {
        let (store, url) = pg_store().await;
        let mut heard = PgListener::connect(&url).await.unwrap();
        heard.listen(crate::changes::CHANNEL).await.unwrap();
        let next = async |heard: &mut PgListener| {
            let n = tokio::time::timeout(std::time::Duration::from_secs(30), heard.recv());
            n.await
                .expect("a notification")
                .unwrap()
                .payload()
                .to_owned()
        };
        let (_, _, left) = one_batch(
            &store,
            &[
                ("a", Then::Keep),
                ("b", Then::Fail),
                // First run after the batch is undone at `b`, in a savepoint.
                ("c", Then::Deadlocked(1)),
                ("d", Then::Panic),
                ("e", Then::Keep),
            ],
        )
        .await;
        let again = next_batch(&store, left).await;
        assert_eq!(next(&mut heard).await, "t a:1 e:1");
        let (mut replies, _, left) = one_batch(&store, &[("f", Then::Fail)]).await;
        assert!(next_batch(&store, left).await.0.is_empty());
        assert!(outcome(&mut replies[0]).is_err());
        assert!(next_batch(&store, again).await.0.is_empty());
        assert_eq!(next(&mut heard).await, "t c:1");
        assert_eq!(keys(&store).await, ["a", "c", "e"]);
    }

    /// A job that keeps meeting deadlocks is run a bounded number of times, then its caller
    /// hears the error.
    #[tokio::test]
    async fn a_job_deadlocked_every_time_gives_up_with_the_error() {
        let (store, _) = pg_store().await;
        let (mut replies, runs, mut left) =
            one_batch(&store, &[("a", Then::Deadlocked(usize::MAX))]).await;
        while !left.0.is_empty() {
            left = next_batch(&store, left).await;
        }
        assert_eq!(runs[0].load(Ordering::SeqCst), RUNS as usize);
        assert!(
            outcome(&mut replies[0])
                .unwrap_err()
                .contains("deadlock on purpose")
        );
        assert!(keys(&store).await.is_empty());
    }

    const WORKFLOW: &str = r#"id: lot-pg
title: Lots sur PostgreSQL
legal_basis: Aucune (essai)
roles:
  agent: Agent
variables:
  recu_le:
    type: date
    label: Reçu le
start:
  by: [agent]
  inputs: [recu_le]
initial: attente
states:
  attente:
    label: En attente
    legal_basis: Aucune (essai)
    timers:
      - id: echeance
        label: Échéance
        after: { working_days: 1, from: recu_le }
        goto: ouvert
    on:
      noter:
        by: [agent]
  ouvert:
    label: Ouvert
    on:
      noter:
        by: [agent]
      clore:
        by: [agent]
        goto: clos
  clos:
    label: Clos
    final: true
"#;

    /// Two stores on one database, as two `jalon serve` processes: events sent to the same
    /// cases through both at once, while both fire the cases' timers. Every call answered `Ok`
    /// is in the history once, none is lost (the case's version counts every transition), and
    /// each timer fires once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_stores_on_one_database_apply_each_trigger_once() {
        const CASES: usize = 40;
        const EVENTS_PER_STORE: usize = 2;
        let (a, url) = pg_store().await;
        let b = Store::open(&url, engine::calendar::Calendar::fwb())
            .await
            .unwrap();
        let noon = |d| Utc.with_ymd_and_hms(2026, 11, d, 11, 0, 0).unwrap();
        a.deploy_text(WORKFLOW.into(), Default::default(), None, noon(2))
            .await
            .unwrap();
        b.load_latest_versions().await.unwrap();
        let (actor, _) = a
            .add_actor("Agent", "agent@example.org", &["agent".into()], noon(2))
            .await
            .unwrap();
        let by = actor.engine();
        let mut ids = Vec::new();
        for i in 0..CASES {
            let inputs = [("recu_le".to_owned(), json!("2026-11-02"))].into();
            let row = a
                .start_case("lot-pg", &format!("L-{i}"), &by, inputs, noon(2), None)
                .await
                .unwrap();
            ids.push(row.id);
        }
        let mut calls = tokio::task::JoinSet::new();
        for store in [&a, &b] {
            for id in &ids {
                for _ in 0..EVENTS_PER_STORE {
                    let (store, id, by) = (store.clone(), id.clone(), by.clone());
                    calls.spawn(async move {
                        let req = EventRequest {
                            case_id: &id,
                            event: "noter",
                            by: &by,
                            inputs: Default::default(),
                            reason: None,
                            expected_version: None,
                        };
                        store.send_event(req, noon(5)).await.map(|_| ())
                    });
                }
            }
        }
        let fired = Arc::new(AtomicUsize::new(0));
        let mut schedulers = tokio::task::JoinSet::new();
        for (owner, store) in [("A", &a), ("B", &b)] {
            let (store, fired) = (store.clone(), fired.clone());
            schedulers.spawn(async move {
                loop {
                    let lease = chrono::Duration::seconds(60);
                    let claimed = store.claim_timers(owner, noon(5), lease, 4).await?;
                    if claimed.is_empty() {
                        return Ok::<_, Error>(());
                    }
                    for t in &claimed {
                        if let Fired::Fired { .. } = store.fire_timer(t, owner, noon(5)).await? {
                            fired.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
        while let Some(call) = calls.join_next().await {
            call.unwrap().unwrap();
        }
        while let Some(s) = schedulers.join_next().await {
            s.unwrap().unwrap();
        }
        assert_eq!(fired.load(Ordering::SeqCst), CASES);
        let rows = history::Entity::find().all(&a.db).await.unwrap();
        for c in case::Entity::find().all(&a.db).await.unwrap() {
            let mine: Vec<_> = rows.iter().filter(|h| h.case_id == c.id).collect();
            let events = mine.iter().filter(|h| h.trigger.contains("noter")).count();
            // The start, the timer, and every event answered `Ok`.
            assert_eq!(events, 2 * EVENTS_PER_STORE, "case {}", c.id);
            assert_eq!(mine.len(), 2 + 2 * EVENTS_PER_STORE, "case {}", c.id);
            assert_eq!(c.row_version, mine.len() as i64, "case {}", c.id);
            assert_eq!(c.state, "ouvert");
        }
        let chains = a.verify_all(|_| {}).await.unwrap();
        assert_eq!((chains.cases, chains.broken), (CASES as u64, 0));
    }
}
