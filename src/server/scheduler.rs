//! The one timer loop: claims due timers in due order and fires each through the engine
//! (`Store::fire_timer`), then starts the cases of cron schedules that came due, then queues
//! the daily digests; a failure in one of the three does not keep the others from running. It
//! sleeps until the next thing it has to do ([`Scheduler::next_wake`]: a timer, a schedule
//! occurrence or retry, the digests), a poke (a new timer may be earlier), a safety poll, or
//! shutdown.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Days, Duration, Utc};
use engine::calendar::brussels;
use tokio::sync::{Notify, watch};
use tokio::task::JoinError;
use tracing::Instrument;

use super::worker::{self, Claimed, Stop, Worker};
use crate::clock::Clock;
use store::drive::Fired;
use store::entities::timer;
use store::{Error, Store};

/// How long a claim holds a timer: far longer than a transition takes, short enough that a
/// crashed process's timers are picked up again soon.
const LEASE: i64 = 60;
const BATCH: u64 = 64;
/// Cases whose timers fire at the same time (each a transaction of its own): a whole claimed
/// batch, so that on SQLite its firings share the writer's commits (`store/batch.rs`).
const PARALLEL: usize = BATCH as usize;

#[derive(Clone)]
pub struct Scheduler {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Identifies this process in leases.
    pub owner: String,
    /// Woken by the store when a commit armed a timer before the planned wake-up
    /// (`store::wakes`).
    pub wake: Arc<Notify>,
    /// The last day whose digests were queued by this process.
    digest_day: Arc<std::sync::Mutex<Option<chrono::NaiveDate>>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub fired: usize,
    pub stale: usize,
    pub failed: usize,
    pub started: usize,
    /// Schedule occurrences whose case could not start (kept and retried with backoff).
    pub schedules_failed: usize,
    /// Daily digests queued.
    pub digests: usize,
}

impl Pass {
    fn add(&mut self, o: Pass) {
        self.fired += o.fired;
        self.stale += o.stale;
        self.failed += o.failed;
        self.started += o.started;
        self.schedules_failed += o.schedules_failed;
        self.digests += o.digests;
    }
}

impl Scheduler {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        let wake = store.wakes().timers();
        Scheduler {
            store,
            clock,
            owner: format!("jalon-{}", uuid::Uuid::new_v4()),
            wake,
            digest_day: Arc::default(),
        }
    }

    /// Fires every timer due now, earliest first, runs the schedules that came due and queues
    /// the day's digests. Each part runs even when one before it failed; the first error is
    /// returned once all have run.
    pub async fn run_due(&self) -> Result<Pass, Error> {
        let mut pass = Pass::default();
        let timers = self.fire_due_timers(&mut pass).await;
        let schedules = self.store.run_schedules(self.clock.now()).await;
        pass.started = schedules.started;
        pass.schedules_failed = schedules.failed;
        let digests = self.queue_digests().await;
        pass.digests = digests.as_ref().copied().unwrap_or(0);
        timers?;
        digests?;
        Ok(pass)
    }

    async fn fire_due_timers(&self, pass: &mut Pass) -> Result<(), Error> {
        worker::claim_and_run(self, &mut Stop::never(), pass).await?;
        Ok(())
    }

    /// When the loop has to run next, after a pass at the clock's time: the earliest of the
    /// next timer (or the end of the lease that holds it), the next schedule occurrence or
    /// retry, and the next digests. `None`: nothing planned (the safety poll still runs).
    pub async fn next_wake(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let now = self.clock.now();
        let timer = self.store.next_timer_at(now).await?;
        let schedule = self.store.next_schedule_at(now).await?;
        let digest = self.next_digest_at(now);
        Ok([timer, schedule, digest].into_iter().flatten().min())
    }

    /// The first digest time (07:00 Brussels on a working day) whose digests this process has
    /// not queued yet and that is after `now`; today's, if its time has passed, was queued by
    /// the pass (or failed and waits for the safety poll).
    fn next_digest_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let queued = *self.digest_day.lock().unwrap_or_else(|p| p.into_inner());
        let today = brussels::civil_date(now);
        // A year holds working days whatever the closures; the bound keeps the search finite.
        (0..366)
            .filter_map(|n| today.checked_add_days(Days::new(n)))
            .filter(|&day| self.store.calendar.is_working_day(day) && Some(day) != queued)
            .filter_map(|day| brussels::earliest(day.and_time(super::digest_mail::AT)))
            .find(|&at| at > now)
    }

    /// Once per working day from 07:00 Brussels (`server::digest_mail`), the opted-in actors'
    /// digests; other processes queueing the same day add nothing (dedupe key).
    async fn queue_digests(&self) -> Result<usize, Error> {
        let now = self.clock.now();
        let Some(day) = super::digest_mail::due_day(&self.store.calendar, now) else {
            return Ok(0);
        };
        if *self.digest_day.lock().unwrap_or_else(|p| p.into_inner()) == Some(day) {
            return Ok(0);
        }
        let queued = self.store.queue_digests(day, now).await?;
        *self.digest_day.lock().unwrap_or_else(|p| p.into_inner()) = Some(day);
        Ok(queued)
    }

    async fn fire_group(
        &self,
        group: Vec<timer::Model>,
        now: DateTime<Utc>,
    ) -> Result<Pass, Error> {
        let mut pass = Pass::default();
        for t in group {
            let span = tracing::info_span!("timer", case = %t.case_id, timer = %t.timer_key);
            pass.add(self.fire_one(t, now).instrument(span).await?);
        }
        Ok(pass)
    }

    async fn fire_one(&self, t: timer::Model, now: DateTime<Utc>) -> Result<Pass, Error> {
        let mut pass = Pass::default();
        match self.store.fire_timer(&t, &self.owner, now).await {
            Ok(Fired::Fired { late_ms }) => {
                pass.fired += 1;
                tracing::info!(late_ms, due = %t.due_date, "timer fired");
            }
            Ok(Fired::Stale) => pass.stale += 1,
            Ok(Fired::Skipped) => {}
            Err(e) => {
                pass.failed += 1;
                tracing::error!(error = %e, "timer failed; will retry");
                self.store
                    .timer_failed(t.id, &e.to_string(), now, t.attempts)
                    .await?;
            }
        }
        Ok(pass)
    }

    /// Runs until `shutdown` turns true; a pass in progress finishes first.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        worker::run(self, shutdown).await
    }
}

impl Worker for Scheduler {
    /// The due timers of one case, in due order.
    type Unit = Vec<timer::Model>;
    type Tally = Pass;
    const NAME: &'static str = "scheduler";

    fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    fn wake(&self) -> &Notify {
        &self.wake
    }

    fn side_by_side(&self) -> usize {
        PARALLEL
    }

    fn shutdown_bound(&self) -> Option<StdDuration> {
        None
    }

    /// Timers of different cases fire side by side; those of one case, in due order.
    async fn claim(&self, now: DateTime<Utc>) -> Result<Claimed<Vec<timer::Model>>, Error> {
        let batch = self
            .store
            .claim_timers(&self.owner, now, Duration::seconds(LEASE), BATCH)
            .await?;
        let full = batch.len() as u64 >= BATCH;
        let mut groups: Vec<Vec<timer::Model>> = Vec::new();
        for t in batch {
            match groups.iter_mut().find(|g| g[0].case_id == t.case_id) {
                Some(g) => g.push(t),
                None => groups.push(vec![t]),
            }
        }
        Ok(Claimed {
            units: groups,
            full,
        })
    }

    async fn run_one(self, group: Vec<timer::Model>, now: DateTime<Utc>) -> Result<Pass, Error> {
        self.fire_group(group, now).await
    }

    fn settle(r: Result<Result<Pass, Error>, JoinError>) -> Result<Pass, Error> {
        r.map_err(|e| Error::Corrupt(e.to_string()))?
    }

    fn add(tally: &mut Pass, other: Pass) {
        tally.add(other);
    }

    async fn pass(&self, _: &mut Stop) -> Result<(), Error> {
        self.store.wakes().scheduler_looking();
        self.run_due().await.map(drop)
    }

    async fn next_wake(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let next = Scheduler::next_wake(self).await?;
        // Only now: an arming committed before the read above is in `next`.
        self.store.wakes().scheduler_plans(next);
        Ok(next)
    }
}
