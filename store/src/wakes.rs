//! Waking this process's background loops when a commit gave them work, and only then: the
//! scheduler when a timer was armed before the instant it planned to look again, the
//! dispatcher when a notice became due. A transition that arms nothing due and queues no
//! notice (most events) wakes neither, where every request used to cost both loops a pass
//! (a claim through the writer and the reads of their next instant).
//!
//! Another process's commits wake nothing here: the loops' own next instant and their safety
//! poll find that work, as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::Store;
use crate::clock::millis;

/// What one transaction gave the loops, noted by the Writer as it writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Due {
    /// The earliest `fire_at` of the timers it armed.
    first_timer: Option<i64>,
    /// It queued a notice to deliver.
    notices: bool,
}

impl Due {
    pub(crate) fn timer(&mut self, fire_at: i64) {
        self.first_timer = Some(self.first_timer.map_or(fire_at, |t| t.min(fire_at)));
    }

    pub(crate) fn notice(&mut self) {
        self.notices = true;
    }
}

/// The wake-ups of one store's loops.
pub struct Wakes {
    timers: Arc<Notify>,
    notices: Arc<Notify>,
    /// When the scheduler will look again on its own (epoch ms); `i64::MAX` while it is
    /// looking (a pass runs, or it has not planned yet) or has nothing planned: then every
    /// arming wakes it, since a pass may have read the timers before that arming committed.
    planned: AtomicI64,
}

impl Default for Wakes {
    fn default() -> Self {
        Wakes {
            timers: Arc::default(),
            notices: Arc::default(),
            planned: AtomicI64::new(i64::MAX),
        }
    }
}

impl Wakes {
    /// What the scheduler sleeps on.
    pub fn timers(&self) -> Arc<Notify> {
        self.timers.clone()
    }

    /// What the outbox dispatcher sleeps on.
    pub fn notices(&self) -> Arc<Notify> {
        self.notices.clone()
    }

    /// The scheduler starts a pass: until it plans again, any arming wakes it.
    pub fn scheduler_looking(&self) {
        self.planned.store(i64::MAX, Ordering::SeqCst);
    }

    /// The scheduler read its next instant (`None`: no timer armed) and sleeps until then: an
    /// arming later than that needs no wake-up. Call after the read, so that an arming
    /// committed before it was seen by it, and one committed after it sees this plan.
    pub fn scheduler_plans(&self, next: Option<DateTime<Utc>>) {
        let at = next.map_or(i64::MAX, millis);
        self.planned.store(at, Ordering::SeqCst);
    }

    /// A notice became due outside a transition (a retry asked, a sign-in link, digests).
    pub fn notice_due(&self) {
        self.notices.notify_one();
    }

    /// After the COMMIT of a transaction that noted `due`.
    pub(crate) fn committed(&self, due: Due) {
        if let Some(t) = due.first_timer
            && t < self.planned.load(Ordering::SeqCst)
        {
            self.timers.notify_one();
        }
        if due.notices {
            self.notices.notify_one();
        }
    }
}

impl Store {
    /// The wake-ups of this store's background loops.
    pub fn wakes(&self) -> &Wakes {
        &self.wakes
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    fn woken(n: &Notify) -> bool {
        n.notified().now_or_never().is_some()
    }

    #[test]
    fn an_arming_before_the_plan_wakes_the_scheduler_and_a_later_one_does_not() {
        let w = Wakes::default();
        let at = |ms| chrono::DateTime::from_timestamp_millis(ms).unwrap();
        let mut due = Due::default();
        due.timer(7_000);
        due.timer(5_000);
        // Not planned yet (a pass runs): every arming wakes.
        w.committed(due);
        assert!(woken(&w.timers));
        w.scheduler_plans(Some(at(4_000)));
        w.committed(due);
        assert!(!woken(&w.timers), "armed after the planned instant");
        w.scheduler_plans(Some(at(6_000)));
        w.committed(due);
        assert!(woken(&w.timers), "armed before the planned instant");
        w.scheduler_plans(None);
        w.committed(due);
        assert!(woken(&w.timers), "nothing was armed: any arming wakes");
        w.scheduler_plans(Some(at(1_000)));
        w.scheduler_looking();
        w.committed(due);
        assert!(woken(&w.timers), "a pass runs: any arming wakes");
        assert!(!woken(&w.notices));
    }

    #[test]
    fn only_a_queued_notice_wakes_the_dispatcher() {
        let w = Wakes::default();
        w.committed(Due::default());
        assert!(!woken(&w.notices));
        assert!(!woken(&w.timers));
        let mut due = Due::default();
        due.notice();
        w.committed(due);
        assert!(woken(&w.notices));
        assert!(!woken(&w.timers));
    }
}
