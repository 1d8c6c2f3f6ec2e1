//! The one timer loop: claims due timers in due order and fires each through the engine
//! (`Store::fire_timer`), then starts the cases of cron schedules that came due. It sleeps
//! until the next due timer, a poke (a new timer may be earlier), a safety poll, or shutdown.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::clock::Clock;
use crate::store::cases::Fired;
use crate::store::entities::timer;
use crate::store::{Error, Store};

/// How long a claim holds a timer: far longer than a transition takes, short enough that a
/// crashed process's timers are picked up again soon.
const LEASE: i64 = 60;
const BATCH: u64 = 64;
/// Upper bound of batches per pass, so that a pass always ends.
const MAX_BATCHES: usize = 10_000;
/// Cases whose timers fire at the same time (each a transaction of its own): a whole claimed
/// batch, so that on SQLite its firings share the writer's commits (`store/batch.rs`).
const PARALLEL: usize = BATCH as usize;
const POLL: StdDuration = StdDuration::from_secs(30);

#[derive(Clone)]
pub struct Scheduler {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Identifies this process in leases.
    pub owner: String,
    pub wake: Arc<Notify>,
    /// Poked after a pass that moved cases: they may have queued notices.
    pub notices_wake: Arc<Notify>,
    /// The last day whose digests were queued by this process.
    digest_day: Arc<std::sync::Mutex<Option<chrono::NaiveDate>>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub fired: usize,
    pub stale: usize,
    pub failed: usize,
    pub started: usize,
    /// Daily digests queued.
    pub digests: usize,
}

impl Pass {
    fn add(&mut self, o: Pass) {
        self.fired += o.fired;
        self.stale += o.stale;
        self.failed += o.failed;
        self.started += o.started;
        self.digests += o.digests;
    }
}

impl Scheduler {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Scheduler {
            store,
            clock,
            owner: format!("jalon-{}", uuid::Uuid::new_v4()),
            wake: Arc::new(Notify::new()),
            notices_wake: Arc::new(Notify::new()),
            digest_day: Arc::default(),
        }
    }

    /// Fires every timer due now, earliest first, and runs the schedules that came due.
    pub async fn run_due(&self) -> Result<Pass, Error> {
        let mut pass = Pass::default();
        for _ in 0..MAX_BATCHES {
            let now = self.clock.now();
            let batch = self
                .store
                .claim_timers(&self.owner, now, Duration::seconds(LEASE), BATCH)
                .await?;
            if batch.is_empty() {
                break;
            }
            // Timers of different cases fire side by side; those of one case, in due order.
            let mut groups: Vec<Vec<timer::Model>> = Vec::new();
            for t in batch {
                match groups.iter_mut().find(|g| g[0].case_id == t.case_id) {
                    Some(g) => g.push(t),
                    None => groups.push(vec![t]),
                }
            }
            let mut running = JoinSet::new();
            for group in groups {
                let me = self.clone();
                running.spawn(async move { me.fire_group(group, now).await });
                while running.len() >= PARALLEL {
                    if let Some(r) = running.join_next().await {
                        pass.add(r.map_err(|e| Error::Corrupt(e.to_string()))??);
                    }
                }
            }
            while let Some(r) = running.join_next().await {
                pass.add(r.map_err(|e| Error::Corrupt(e.to_string()))??);
            }
        }
        pass.started = self.store.run_schedules(self.clock.now()).await?;
        pass.digests = self.queue_digests().await?;
        if pass.fired + pass.started + pass.digests > 0 {
            self.notices_wake.notify_one();
        }
        Ok(pass)
    }

    /// Once per working day from 07:00 Brussels (`server::digest`), the opted-in actors'
    /// digests; other processes queueing the same day add nothing (dedupe key).
    async fn queue_digests(&self) -> Result<usize, Error> {
        let now = self.clock.now();
        let Some(day) = crate::server::digest::due_day(&self.store.calendar, now) else {
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
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = self.run_due().await {
                tracing::error!(error = %e, "scheduler pass failed");
            }
            let next = self.store.next_timer_at().await.ok().flatten();
            super::pause(next, &*self.clock, POLL, &self.wake, &mut shutdown).await;
        }
    }
}
