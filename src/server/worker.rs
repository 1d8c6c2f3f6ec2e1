//! The claim-and-run loop of the background workers (the scheduler's timers, the outbox's
//! notices): claim a batch under a lease, run its units side by side, and between passes sleep
//! until the next due instant, a poke, the safety poll or shutdown.

use std::collections::VecDeque;
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
/// How long a worker whose claims lease waits for the units of its last claim to end before
/// claiming what came due beside them. Short deliveries end well within it, so that under load
/// claims still take many units at once (each claim is a write).
const HOLD: StdDuration = StdDuration::from_millis(50);

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
    /// A claim leases what it takes (no other claim can take it again until the lease ends),
    /// so a new claim may run while earlier units still run.
    fn claims_lease(&self) -> bool {
        false
    }
    /// Once shutdown is asked, how long the units in flight may still take before they are
    /// abandoned to their lease; `None`: the pass in progress finishes.
    fn shutdown_bound(&self) -> Option<StdDuration>;

    /// Claims the next batch due at `now`; empty when nothing is due.
    fn claim(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claimed<Self::Unit>, Error>> + Send;
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

/// A claimed batch.
pub(crate) struct Claimed<U> {
    pub(crate) units: Vec<U>,
    /// It took as many rows as one claim may: more may be due.
    pub(crate) full: bool,
}

/// Claims and runs batches until none is left (or `stop` is asked), adding each unit's counts
/// to `tally` as it ends (they stay counted when a later unit fails the pass). Returns the
/// number of claimed units left unfinished by shutdown (they keep their lease).
///
/// A pass claims again once every unit of its last claim has ended, if that claim was full or
/// (for a worker whose claims lease) a poke came meanwhile. A worker whose claims lease
/// ([`Worker::claims_lease`]) does not wait longer than [`HOLD`] for that: a slow unit (a relay
/// that takes its time) does not hold back what came due behind it. One whose claims lease
/// nothing always waits, or its next claim would find the same units again.
pub(crate) async fn claim_and_run<W: Worker>(
    worker: &W,
    stop: &mut Stop,
    tally: &mut W::Tally,
) -> Result<usize, Error> {
    let side_by_side = worker.side_by_side().max(1);
    let overlap = worker.claims_lease();
    let mut running = JoinSet::new();
    // Claimed, not started yet, each with the instant of its claim.
    let mut queued: VecDeque<(W::Unit, DateTime<Utc>)> = VecDeque::new();
    let mut claims = 0;
    let mut more = true;
    let mut last_claim = tokio::time::Instant::now();
    while !stop.asked() {
        while running.len() < side_by_side {
            let Some((unit, now)) = queued.pop_front() else {
                break;
            };
            running.spawn(worker.clone().run_one(unit, now));
        }
        let may_claim = queued.is_empty() && more && claims < MAX_BATCHES;
        let held_long = overlap && last_claim.elapsed() >= HOLD;
        if may_claim && (running.is_empty() || held_long) {
            let now = worker.clock().now();
            let Claimed { units, full } = worker.claim(now).await?;
            claims += 1;
            last_claim = tokio::time::Instant::now();
            // Nothing else was due at `now` unless the claim was full: a claim that would find
            // nothing is a write through the SQLite writer all the same. What comes due since
            // pokes the worker (or its next instant does).
            more = full;
            queued.extend(units.into_iter().map(|u| (u, now)));
            continue;
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            r = running.join_next() => {
                if let Some(r) = r {
                    W::add(tally, W::settle(r)?);
                }
            }
            () = worker.wake().notified(), if overlap && !more => more = true,
            () = tokio::time::sleep_until(last_claim + HOLD), if overlap && may_claim => {}
            () = stop.asked_later() => {}
        }
    }
    // Shutdown: what was claimed and not started keeps its lease; what runs has the bound.
    let mut left = queued.len();
    while let Some(r) = stop.join(&mut running).await {
        W::add(tally, W::settle(r)?);
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

    /// Ends once shutdown is asked (or the server that could ask for it is gone); never for a
    /// pass that runs to its end. Cancel-safe: a pass waits on it beside its units.
    async fn asked_later(&mut self) {
        let Some(signal) = self.signal.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            if signal.changed().await.is_err() || *signal.borrow() {
                self.begin();
                return;
            }
        }
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::clock::ManualClock;

    /// Units are numbers in a queue, claimed three at a time; a unit above 100 never ends (a
    /// relay that never answers), unit 13 fails with a database error.
    #[derive(Clone)]
    struct Queue {
        units: Arc<Mutex<Vec<u32>>>,
        claims: Arc<std::sync::atomic::AtomicUsize>,
        clock: Arc<ManualClock>,
        wake: Arc<Notify>,
        bound: Option<StdDuration>,
        side_by_side: usize,
        /// Its claims lease: see [`Worker::claims_lease`].
        leases: bool,
    }

    impl Queue {
        fn of(units: impl IntoIterator<Item = u32>, bound: Option<StdDuration>) -> Queue {
            Queue {
                units: Arc::new(Mutex::new(units.into_iter().collect())),
                claims: Arc::default(),
                clock: Arc::new(ManualClock::new(DateTime::UNIX_EPOCH)),
                wake: Arc::new(Notify::new()),
                bound,
                side_by_side: 2,
                leases: false,
            }
        }

        fn leasing(self, side_by_side: usize) -> Queue {
            Queue {
                side_by_side,
                leases: true,
                ..self
            }
        }
    }

    impl Worker for Queue {
        type Unit = u32;
        type Tally = Vec<u32>;
        const NAME: &'static str = "test";

        fn clock(&self) -> &dyn Clock {
            &*self.clock
        }
        fn wake(&self) -> &Notify {
            &self.wake
        }
        fn side_by_side(&self) -> usize {
            self.side_by_side
        }
        fn shutdown_bound(&self) -> Option<StdDuration> {
            self.bound
        }
        fn claims_lease(&self) -> bool {
            self.leases
        }
        async fn claim(&self, _: DateTime<Utc>) -> Result<Claimed<u32>, Error> {
            self.claims
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut units = self.units.lock().unwrap();
            let n = units.len().min(3);
            Ok(Claimed {
                units: units.drain(..n).collect(),
                full: n == 3,
            })
        }
        async fn run_one(self, unit: u32, _: DateTime<Utc>) -> Result<Vec<u32>, Error> {
            match unit {
                13 => Err(Error::Corrupt("unit 13".into())),
                u if u > 100 => std::future::pending().await,
                u => Ok(vec![u]),
            }
        }
        fn settle(r: Result<Result<Vec<u32>, Error>, JoinError>) -> Result<Vec<u32>, Error> {
            r.map_err(|e| Error::Corrupt(e.to_string()))?
        }
        fn add(tally: &mut Vec<u32>, other: Vec<u32>) {
            tally.extend(other);
        }
        async fn pass(&self, stop: &mut Stop) -> Result<(), Error> {
            claim_and_run(self, stop, &mut Vec::new()).await.map(drop)
        }
        async fn next_wake(&self) -> Result<Option<DateTime<Utc>>, Error> {
            Ok(None)
        }
    }

    #[tokio::test]
    async fn a_pass_claims_batch_after_batch_until_none_is_due() {
        let queue = Queue::of(1..=8, None);
        let mut done = Vec::new();
        let left = claim_and_run(&queue, &mut Stop::never(), &mut done)
            .await
            .unwrap();
        done.sort();
        assert_eq!((done, left), ((1..=8).collect(), 0));
        // 3, 3, then 2: the last batch was not full, so nothing was left to claim.
        assert_eq!(queue.claims.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failed_unit_ends_the_pass_and_what_ended_before_stays_counted() {
        // In the second batch, 13 is the only unit that can end.
        let queue = Queue::of([1, 2, 3, 13, 101, 102, 7], None);
        let mut done = Vec::new();
        let e = claim_and_run(&queue, &mut Stop::never(), &mut done)
            .await
            .unwrap_err();
        done.sort();
        assert_eq!(
            (done, e.to_string().contains("unit 13")),
            (vec![1, 2, 3], true)
        );
        // No batch is claimed after the failure.
        assert_eq!(*queue.units.lock().unwrap(), vec![7]);
    }

    /// Shutdown while two units hang: they are abandoned once the bound passes, the third unit
    /// of the batch never starts, and both counts come back as left to their lease.
    #[tokio::test(start_paused = true)]
    async fn shutdown_abandons_hanging_units_after_the_bound() {
        let queue = Queue::of([101, 102, 103, 4], Some(StdDuration::from_secs(5)));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut stop = Stop::on(stop_rx, StdDuration::from_secs(5));
        let pass = {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut done = Vec::new();
                let left = claim_and_run(&queue, &mut stop, &mut done).await;
                (done, left.unwrap())
            })
        };
        tokio::task::yield_now().await;
        stop_tx.send(true).unwrap();
        let (done, left) = pass.await.unwrap();
        assert_eq!((done, left), (vec![], 3));
        // Unit 4 was never claimed: it is still due.
        assert_eq!(*queue.units.lock().unwrap(), vec![4]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_ends_on_shutdown() {
        let queue = Queue::of([101, 1], Some(StdDuration::from_secs(5)));
        let (stop_tx, stop_rx) = watch::channel(false);
        let running = tokio::spawn(run(queue, stop_rx));
        tokio::task::yield_now().await;
        stop_tx.send(true).unwrap();
        running.await.unwrap();
    }

    /// Runs a pass in the background until `stop_tx` asks it to stop; returns what ended and
    /// what was left.
    fn pass_in_background(
        queue: &Queue,
    ) -> (
        watch::Sender<bool>,
        Arc<Mutex<Vec<u32>>>,
        tokio::task::JoinHandle<usize>,
    ) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut stop = Stop::on(stop_rx, StdDuration::from_secs(5));
        let done = Arc::new(Mutex::new(Vec::new()));
        let pass = {
            let (queue, done) = (queue.clone(), done.clone());
            tokio::spawn(async move {
                let mut tally = Vec::new();
                let left = claim_and_run(&queue, &mut stop, &mut tally).await.unwrap();
                done.lock().unwrap().extend(tally);
                left
            })
        };
        (stop_tx, done, pass)
    }

    /// Units 101 and 102 hang. A worker whose claims lease keeps claiming beside them; one
    /// whose claims do not waits for its whole batch, so 2, 3 and 4 are never claimed.
    #[tokio::test(start_paused = true)]
    async fn a_leasing_worker_claims_again_beside_a_slow_unit() {
        for (queue, claimed_after) in [
            (Queue::of([101, 102, 1, 2, 3, 4], None).leasing(4), 0),
            (Queue::of([101, 102, 1, 2, 3, 4], None), 3),
        ] {
            let leases = queue.leases;
            let (stop_tx, _, pass) = pass_in_background(&queue);
            tokio::time::sleep(StdDuration::from_secs(1)).await;
            assert_eq!(
                queue.units.lock().unwrap().len(),
                claimed_after,
                "leases: {leases}"
            );
            stop_tx.send(true).unwrap();
            // The hanging units are abandoned to their lease once the bound passes.
            assert_eq!(
                pass.await.unwrap(),
                2 + claimed_after.min(1),
                "leases: {leases}"
            );
        }
    }

    /// A poke while a unit hangs: a leasing worker claims what came due in the same pass, once
    /// its last claim is [`HOLD`] old.
    #[tokio::test(start_paused = true)]
    async fn a_poke_during_a_pass_is_claimed_beside_the_running_units() {
        let queue = Queue::of([101], None).leasing(4);
        let claims = || queue.claims.load(std::sync::atomic::Ordering::SeqCst);
        let (stop_tx, done, pass) = pass_in_background(&queue);
        tokio::time::sleep(HOLD / 2).await;
        assert_eq!(claims(), 1);
        queue.units.lock().unwrap().extend([5, 6]);
        queue.wake.notify_one();
        tokio::time::sleep(HOLD / 4).await;
        assert_eq!((claims(), queue.units.lock().unwrap().len()), (1, 2));
        tokio::time::sleep(HOLD / 2).await;
        assert_eq!((claims(), queue.units.lock().unwrap().len()), (2, 0));
        // Long after: claimed at once.
        tokio::time::sleep(HOLD * 4).await;
        queue.units.lock().unwrap().push(7);
        queue.wake.notify_one();
        tokio::time::sleep(StdDuration::from_millis(1)).await;
        assert_eq!((claims(), queue.units.lock().unwrap().len()), (3, 0));
        stop_tx.send(true).unwrap();
        assert_eq!(pass.await.unwrap(), 1);
        let mut done = done.lock().unwrap().clone();
        done.sort();
        assert_eq!(done, vec![5, 6, 7]);
    }
}
