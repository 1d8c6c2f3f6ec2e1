//! The change hub: requests that wait for a case to change (`GET /cases/{id}?after_version=`,
//! the `/cases/{id}/changes` stream) hear of its new versions here instead of polling.
//!
//! The store keeps it current (`store::changes`): this process's transitions are told after
//! their COMMIT, and on PostgreSQL another process's batches of transitions are told by the
//! notification their transaction sent, so a waiter is answered as soon as what it waits for
//! can be read, whichever process moved the case. When the store may have missed a
//! notification (its listening connection was lost) it asks for a re-read: the versions of
//! every case someone waits on are read again, in one query.
//!
//! The same re-read also runs every [`WaitLimits::reread`] (a second by default), kept as the
//! safety net now that notifications answer: a listening connection that died without a word
//! (no FIN, no keepalive) tells nothing until sqlx notices, and a second bounds how late a
//! waiter then hears. It costs nothing while no one waits, and one indexed statement a second
//! per process when thousands do, so it was not lengthened.
//!
//! Waits are bounded in number, per actor and in total ([`WaitLimits`]); each holds a slot
//! until it is answered or its client goes away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use store::Store;
use store::changes::{Change, Changed};
use tokio::sync::{broadcast, watch};

/// How many waits may be open at once, and for how long one may wait.
#[derive(Clone, Copy, Debug)]
pub struct WaitLimits {
    /// Open waits (and change streams) of the whole server.
    pub total: usize,
    /// Open waits (and change streams) of one actor.
    pub per_actor: usize,
    /// The longest `wait` a request may ask for.
    pub longest: Duration,
    /// How often the versions of the cases waited on are read again, whatever was heard
    /// (see the module).
    pub reread: Duration,
}

impl Default for WaitLimits {
    fn default() -> Self {
        WaitLimits {
            total: 10_000,
            per_actor: 100,
            longest: Duration::from_secs(60),
            reread: REREAD,
        }
    }
}

/// How often, by default, the versions of the cases waited on are read again (the safety net
/// behind notifications; see the module).
pub const REREAD: Duration = Duration::from_secs(1);

/// The shared hub; cloning shares it.
#[derive(Clone)]
pub struct Hub(Arc<Inner>);

struct Inner {
    store: Store,
    limits: WaitLimits,
    waits: Mutex<Waits>,
}

#[derive(Default)]
struct Waits {
    cases: HashMap<Arc<str>, Watched>,
    actors: HashMap<String, usize>,
    total: usize,
}

/// A case someone waits on: the highest version known, a count of the changes of its
/// notices' delivery heard, and how many wait.
struct Watched {
    version: watch::Sender<i64>,
    notices: watch::Sender<u64>,
    waits: usize,
}

/// Which bound a refused wait met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    Actor,
    Total,
}

impl Hub {
    /// A hub fed by `store`'s committed changes; its listening task ends once the hub is
    /// dropped (within [`WaitLimits::reread`]).
    pub fn start(store: Store, limits: WaitLimits) -> Hub {
        let changes = store.subscribe_changes();
        let rereads = store.subscribe_rereads();
        let inner = Arc::new(Inner {
            store,
            limits,
            waits: Mutex::default(),
        });
        tokio::spawn(listen(
            Arc::downgrade(&inner),
            changes,
            rereads,
            limits.reread,
        ));
        Hub(inner)
    }

    pub fn limits(&self) -> WaitLimits {
        self.0.limits
    }

    /// Waits open now (requests and change streams).
    pub fn open_waits(&self) -> usize {
        self.0.lock().total
    }

    /// Opens a wait on `case_id` for `actor`, or says which bound is reached. Open it before
    /// reading the case, then tell it the version read ([`Wait::seen`]): a change committed
    /// in between is not missed.
    pub fn open(&self, case_id: &str, actor: &str) -> Result<Wait, Full> {
        let limits = self.0.limits;
        let mut w = self.0.lock();
        if w.total >= limits.total {
            return Err(Full::Total);
        }
        let mine = w.actors.get(actor).copied().unwrap_or(0);
        if mine >= limits.per_actor {
            return Err(Full::Actor);
        }
        w.total += 1;
        *w.actors.entry(actor.to_owned()).or_default() += 1;
        let case_id: Arc<str> = case_id.into();
        let watched = w.cases.entry(case_id.clone()).or_insert_with(|| Watched {
            version: watch::channel(0).0,
            notices: watch::channel(0).0,
            waits: 0,
        });
        watched.waits += 1;
        let version = watched.version.subscribe();
        let notices = watched.notices.subscribe();
        Ok(Wait {
            hub: self.0.clone(),
            case_id,
            actor: actor.to_owned(),
            version,
            notices,
        })
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waits> {
        self.waits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The case is at least at `version`; its waiters wake if that is news.
    fn seen(&self, case_id: &str, version: i64) {
        if let Some(w) = self.lock().cases.get(case_id) {
            raise(&w.version, version);
        }
    }

    /// The delivery of one of the case's notices was recorded; its waiters read them again.
    fn notices_changed(&self, case_id: &str) {
        if let Some(w) = self.lock().cases.get(case_id) {
            w.notices.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Reads again the version of every case waited on (changes by another process that may
    /// have gone unheard, or told while this hub lagged behind the store's channel); those
    /// waiting on notices read them again.
    async fn reread(&self) {
        let ids: Vec<Arc<str>> = self.lock().cases.keys().cloned().collect();
        if ids.is_empty() {
            return;
        }
        for id in &ids {
            self.notices_changed(id);
        }
        match self.store.case_versions(&ids).await {
            Ok(rows) => {
                for (id, version) in rows {
                    self.seen(&id, version);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the versions of waited cases"),
        }
    }
}

fn raise(known: &watch::Sender<i64>, version: i64) {
    known.send_if_modified(|v| {
        let newer = version > *v;
        if newer {
            *v = version;
        }
        newer
    });
}

async fn listen(
    hub: Weak<Inner>,
    mut changes: broadcast::Receiver<Change>,
    mut rereads: watch::Receiver<u64>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            got = changes.recv() => {
                let Some(hub) = hub.upgrade() else { return };
                match got {
                    Ok(Change { case_id, what: Changed::Row(version) }) => {
                        hub.seen(&case_id, version)
                    }
                    Ok(Change { case_id, what: Changed::Notices }) => {
                        hub.notices_changed(&case_id)
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "change hub lagged; reading the waited versions");
                        hub.reread().await;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
            Ok(()) = rereads.changed() => {
                let Some(hub) = hub.upgrade() else { return };
                tracing::debug!("changes of other processes may have been missed; re-reading");
                hub.reread().await;
            }
            _ = tick.tick() => {
                let Some(hub) = hub.upgrade() else { return };
                hub.reread().await;
            }
        }
    }
}

/// One open wait: a slot of the bounds, held until dropped.
pub struct Wait {
    hub: Arc<Inner>,
    case_id: Arc<str>,
    actor: String,
    version: watch::Receiver<i64>,
    notices: watch::Receiver<u64>,
}

impl Wait {
    /// The case was read at `version` (so it is at least there).
    pub fn seen(&self, version: i64) {
        self.hub.seen(&self.case_id, version);
    }

    /// Returns once a change of the case's notices' delivery is heard after the last return
    /// (or the opening): then read them again. Also returns at each re-read of the hub, since
    /// another process's delivery may have gone unheard.
    pub async fn notices_changed(&mut self) {
        if self.notices.changed().await.is_err() {
            // The sender lives while this wait does; never reached.
            std::future::pending::<()>().await;
        }
    }

    /// Returns once the case is known past `after`, with the version known then.
    pub async fn past(&mut self, after: i64) -> i64 {
        let known = self.version.wait_for(|v| *v > after).await.map(|v| *v);
        match known {
            Ok(v) => v,
            // The sender lives while this wait does; never reached.
            Err(_) => std::future::pending().await,
        }
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        let mut w = self.hub.lock();
        w.total -= 1;
        if let Some(n) = w.actors.get_mut(&self.actor) {
            *n -= 1;
            if *n == 0 {
                w.actors.remove(&self.actor);
            }
        }
        if let Some(c) = w.cases.get_mut(&self.case_id) {
            c.waits -= 1;
            if c.waits == 0 {
                w.cases.remove(&self.case_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn hub(limits: WaitLimits) -> Hub {
        let store = Store::open("sqlite::memory:", engine::calendar::Calendar::fwb())
            .await
            .unwrap();
        Hub::start(store, limits)
    }

    /// The bounds count open waits, per actor and in total, and a dropped wait frees its slot.
    #[tokio::test]
    async fn waits_are_bounded_per_actor_and_in_total() {
        let hub = hub(WaitLimits {
            total: 3,
            per_actor: 2,
            longest: Duration::from_secs(1),
            ..WaitLimits::default()
        })
        .await;
        let a1 = hub.open("c1", "alice").unwrap();
        let _a2 = hub.open("c2", "alice").unwrap();
        assert_eq!(hub.open("c3", "alice").err(), Some(Full::Actor));
        let _b1 = hub.open("c1", "bob").unwrap();
        assert_eq!(hub.open("c1", "carol").err(), Some(Full::Total));
        drop(a1);
        let _a3 = hub.open("c3", "alice").unwrap();
        assert_eq!(hub.0.lock().cases.len(), 3);
    }

    /// A version told after the wait opened answers it; an older one does not.
    #[tokio::test]
    async fn a_wait_is_answered_by_a_newer_version_only() {
        let hub = hub(WaitLimits::default()).await;
        let mut w = hub.open("c1", "alice").unwrap();
        w.seen(3);
        let pending = tokio::time::timeout(Duration::from_millis(50), w.past(3)).await;
        assert!(pending.is_err(), "answered before the case passed 3");
        hub.0.seen("c1", 2);
        hub.0.seen("c1", 5);
        assert_eq!(w.past(3).await, 5);
        drop(w);
        assert!(
            hub.0.lock().cases.is_empty(),
            "a case no one waits on is forgotten"
        );
    }
}
