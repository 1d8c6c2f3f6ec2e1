//! The claim-and-run loop of the background workers (the scheduler's timers, the outbox's
//! notices): claim a batch under a lease, run its units side by side, and between passes sleep
//! until the next due instant, a poke, the safety poll or shutdown.

use std::future::Future;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use store::Error;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinError, JoinSet};

use crate::clock::Clock;

/// The longest sleep between two passes, whatever the next due instant: a safety net for a
/// poke lost or a row written by another process.
const POLL: StdDuration = StdDuration::from_secs(30);
/// Upper bound of batches per pass, so that a pass always ends.
const MAX_BATCHES: usize = 10_000;

/// One background worker. Claims are leases: a unit that is not finished (a crash, or abandoned
/// at shutdown) is claimed again by any process once its lease expires.
pub(crate) trait Worker: Clone + Send + Sync + 'static {
    /// What one task runs: the due timers of one case, or one notice.
    type Unit: Send + 'static;
    /// The counts of a pass.
    type Tally: Send + 'static;
    /// For logs.
    const NAME: &'static str;

    fn clock(&self) -> &dyn Clock;
    fn wake(&self) -> &Notify;
    /// How many units of a batch run at the same time.
    fn side_by_side(&self) -> usize;
    /// Once shutdown is asked, how long the units in flight may still take before they are
    /// abandoned to their lease; `None`: the pass in progress finishes.
    fn shutdown_bound(&self) -> Option<StdDuration>;

    /// Claims the next batch due at `now`; empty when nothing is due.
    fn claim(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Self::Unit>, Error>> + Send;
    fn run_one(
        self,
        unit: Self::Unit,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Self::Tally, Error>> + Send;
    /// A finished task's counts, or the error that ends the pass.
    fn settle(r: Result<Result<Self::Tally, Error>, JoinError>) -> Result<Self::Tally, Error>;
    fn add(tally: &mut Self::Tally, other: Self::Tally);

    /// One whole pass (the claimed batches and whatever else the worker does each time).
    fn pass(&self, stop: &mut Stop) -> impl Future<Output = Result<(), Error>> + Send;
    /// When the next pass has to run; `None`: nothing planned (the safety poll still runs).
    fn next_wake(&self) -> impl Future<Output = Result<Option<DateTime<Utc>>, Error>> + Send;
}

/// Claims and runs batches until none is left (or `stop` is asked), adding each unit's counts
/// to `tally` as it ends (they stay counted when a later unit fails the pass). Returns the
/// number of claimed units left unfinished by shutdown (they keep their lease).
pub(crate) async fn claim_and_run<W: Worker>(
    worker: &W,
    stop: &mut Stop,
    tally: &mut W::Tally,
) -> Result<usize, Error> {
    let mut left = 0;
    for _ in 0..MAX_BATCHES {
        if stop.asked() {
            break;
        }
        let now = worker.clock().now();
        let batch = worker.claim(now).await?;
        if batch.is_empty() {
            break;
        }
        let side_by_side = worker.side_by_side().max(1);
        let mut running = JoinSet::new();
        for unit in batch {
            if stop.asked() {
                left += 1;
                continue;
            }
            running.spawn(worker.clone().run_one(unit, now));
            while running.len() >= side_by_side {
                if let Some(r) = stop.join(&mut running).await {
                    W::add(tally, W::settle(r)?);
                }
            }
        }
        while let Some(r) = stop.join(&mut running).await {
            W::add(tally, W::settle(r)?);
        }
    }
    left += std::mem::take(&mut stop.abandoned);
    Ok(left)
}

/// Runs passes until `shutdown` turns true. What a pass in progress does then is the worker's
/// [`Worker::shutdown_bound`].
pub(crate) async fn run<W: Worker>(worker: W, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mut stop = match worker.shutdown_bound() {
            Some(grace) => Stop::on(shutdown.clone(), grace),
            None => Stop::never(),
        };
        if let Err(e) = worker.pass(&mut stop).await {
            tracing::error!(error = %e, worker = W::NAME, "pass failed");
        }
        let next = match worker.next_wake().await {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(error = %e, worker = W::NAME, "next wake unknown; polling");
                None
            }
        };
        pause(next, worker.clock(), POLL, worker.wake(), &mut shutdown).await;
    }
}

/// Between two passes: sleeps until the next due instant, at most `poll`; a poke or shutdown
/// ends the wait early.
async fn pause(
    next: Option<DateTime<Utc>>,
    clock: &dyn Clock,
    poll: StdDuration,
    wake: &Notify,
    shutdown: &mut watch::Receiver<bool>,
) {
    let sleep = next
        .map(|next| {
            (next - clock.now())
                .to_std()
                .unwrap_or(StdDuration::ZERO)
                .min(poll)
        })
        .unwrap_or(poll)
        .max(StdDuration::from_millis(10));
    tokio::select! {
        _ = tokio::time::sleep(sleep) => {}
        _ = wake.notified() => {}
        _ = shutdown.changed() => {}
    }
}

/// Shutdown as a pass sees it. Once asked, the units in flight have until `by`; the ones
/// still running then are aborted (they keep their lease: at least once, as after a crash).
pub(crate) struct Stop {
    signal: Option<watch::Receiver<bool>>,
    grace: StdDuration,
    by: Option<tokio::time::Instant>,
    abandoned: usize,
}

impl Stop {
    /// A pass that runs to its end (the `run_due` of tests and of a single pass).
    pub(crate) fn never() -> Stop {
        Stop {
            signal: None,
            grace: StdDuration::ZERO,
            by: None,
            abandoned: 0,
        }
    }

    fn on(signal: watch::Receiver<bool>, grace: StdDuration) -> Stop {
        Stop {
            signal: Some(signal),
            grace,
            ..Stop::never()
        }
    }

    fn asked(&mut self) -> bool {
        if self.by.is_none() && self.signal.as_ref().is_some_and(|s| *s.borrow()) {
            self.begin();
        }
        self.by.is_some()
    }

    fn begin(&mut self) {
        self.by = Some(tokio::time::Instant::now() + self.grace);
    }

    /// The next unit to end, or None when none is left or the grace has passed.
    async fn join<T: 'static>(&mut self, running: &mut JoinSet<T>) -> Option<Result<T, JoinError>> {
        loop {
            self.asked();
            if let Some(by) = self.by {
                return match tokio::time::timeout_at(by, running.join_next()).await {
                    Ok(r) => r,
                    Err(_) => {
                        self.abandoned += running.len();
                        running.abort_all();
                        while running.join_next().await.is_some() {}
                        None
                    }
                };
            }
            let Some(signal) = self.signal.as_mut() else {
                return running.join_next().await;
            };
            tokio::select! {
                r = running.join_next() => return r,
                changed = signal.changed() => {
                    // Either shutdown, or the server that could ask for it is gone.
                    if changed.is_err() || *signal.borrow() {
                        self.begin();
                    }
                }
            }
        }
    }
}
