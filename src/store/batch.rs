//! Group commit on SQLite. SQLite has one writer and each commit waits for the disk, so
//! transitions that arrive together are written by one writer task in one transaction, each
//! inside its own savepoint: a refused or failing transition rolls back to its savepoint and
//! leaves the others alone. Nobody hears "done" before the batch's COMMIT has returned, so
//! every guarantee of one transaction per trigger holds (all of a transition or none of it, and
//! a caller that was told "done" is on disk); a failed COMMIT fails every transition of the
//! batch. A lone transition commits at once: the batch is what is queued when it starts.
//!
//! On PostgreSQL, [`Store::write`] is a plain transaction: concurrent writers commit in
//! parallel there.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Error, Store};

/// Transitions at most in one batch (bounds the time a batch holds the write lock).
const MAX_BATCH: usize = 128;
/// Transitions waiting for the writer before callers wait to queue (backpressure).
const QUEUE: usize = 4096;

/// Hands a job's result over once the batch's COMMIT succeeded or failed.
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
/// One transition, run by the writer inside the batch transaction.
pub(super) type Job =
    Box<dyn for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, Deliver> + Send>;

/// Starts the writer task of a SQLite store; it ends when every sender is dropped.
pub(super) fn spawn(db: DatabaseConnection, turn: Arc<Mutex<()>>) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(writer(db, turn, rx));
    tx
}

async fn writer(db: DatabaseConnection, turn: Arc<Mutex<()>>, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        // The same turn as `Store::begin`: deployments and schedules wait for the batch.
        let _turn = turn.lock().await;
        let batch = match db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
        {
            Ok(t) => t,
            Err(e) => {
                // Without a transaction no job can run. Dropping a job drops its reply
                // channel: its caller gets "the writer could not begin a transaction".
                tracing::error!(error = %e, "cannot begin a write transaction");
                drop(first);
                while let Ok(job) = rx.try_recv() {
                    drop(job);
                }
                continue;
            }
        };
        let mut delivers = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            delivers.push(job(&batch).await);
            if delivers.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        let committed = batch.commit().await.map_err(|e| e.to_string());
        metrics::histogram!("jalon_sqlite_batch_size").record(delivers.len() as f64);
        for d in delivers {
            d(committed.clone());
        }
    }
}

fn commit_error(e: String) -> Error {
    Error::Db(DbErr::Custom(format!(
        "the transaction was not committed: {e}"
    )))
}

impl Store {
    /// Runs `f` in a write transaction and commits it: on SQLite batched with the transitions
    /// queued at the same time (see the module), on PostgreSQL alone. `f`'s writes are kept
    /// only if it returns `Ok`.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, Error>>
            + Send
            + 'static,
    {
        let Some(jobs) = &self.jobs else {
            let txn = self.begin().await?;
            return match f(&txn).await {
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
        let job: Job = Box::new(move |batch| {
            Box::pin(async move {
                let result = match batch.begin().await {
                    Err(e) => Err(Error::Db(e)),
                    Ok(savepoint) => match AssertUnwindSafe(f(&savepoint)).catch_unwind().await {
                        Ok(Ok(v)) => savepoint.commit().await.map(|()| v).map_err(Error::Db),
                        Ok(Err(e)) => {
                            savepoint.rollback().await.ok();
                            Err(e)
                        }
                        Err(_) => {
                            savepoint.rollback().await.ok();
                            tracing::error!("a transition panicked; it was rolled back");
                            Err(Error::Corrupt(
                                "the transition failed and was rolled back".into(),
                            ))
                        }
                    },
                };
                let deliver: Deliver = Box::new(move |committed| {
                    let _ = tx.send(match (committed, result) {
                        (_, Err(e)) => Err(e),
                        (Ok(()), Ok(v)) => Ok(v),
                        (Err(e), Ok(_)) => Err(commit_error(e)),
                    });
                });
                deliver
            })
        });
        jobs.send(job)
            .await
            .map_err(|_| commit_error("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| commit_error("the writer could not begin a transaction".into()))?
    }
}
