//! Committed changes of cases, told to whoever waits for one (the server's change hub). The
//! Writer notes every case row it writes; the store sends the notes only once the transaction
//! that holds them has committed, so a listener never sees a version it could not read.
//!
//! On PostgreSQL other processes commit too. The transaction of each batch of transitions
//! (`pg_batch.rs`) also sends a notification on [`CHANNEL`] with the `(case id, row_version)`
//! pairs its kept transitions wrote: PostgreSQL delivers it only if that COMMIT succeeds, and
//! drops it with a transition rolled back to its savepoint. Every store listens on one pooled
//! connection and tells what it hears from other stores on the same broadcast as its own
//! commits (its own notifications it skips: they are told already). A notification is lost
//! while the listening connection is down: once it is back, the store asks its listeners to
//! read again what they wait on ([`Store::subscribe_rereads`]), and the hub's periodic re-read
//! ([`Store::case_versions`]) stays as the safety net for a connection that died silently.
//!
//! Each process that listens must keep reading: PostgreSQL keeps notifications until every
//! listener of the database has read them, and once its queue (8 GB by default) is full, a
//! transaction that notifies fails at COMMIT. A listener here reads on a task of its own and
//! never waits for its subscribers (a slow one lags, then reads again).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPool};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use tokio::sync::{broadcast, watch};

use super::entities::case;
use super::{Error, Store};

/// A committed change of a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub case_id: Arc<str>,
    pub what: Changed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changed {
    /// Its row, at this new version.
    Row(i64),
    /// The delivery of one of its notices (sent, failed, dead, retried): its row is untouched.
    Notices,
}

impl Change {
    pub fn row(case_id: &str, version: i64) -> Change {
        Change {
            case_id: case_id.into(),
            what: Changed::Row(version),
        }
    }

    pub fn notices(case_id: &str) -> Change {
        Change {
            case_id: case_id.into(),
            what: Changed::Notices,
        }
    }
}

/// How a notices change is written in a payload, in place of a version.
const NOTICES: &str = "n";

/// Changes a slow listener may fall behind by before it hears that it lagged (and then
/// re-reads what it waits on).
const BACKLOG: usize = 4096;

/// The PostgreSQL channel of committed changes.
pub const CHANNEL: &str = "jalon_changes";

/// PostgreSQL refuses a payload of 8000 bytes or more; a batch's pairs are split below that.
const MAX_PAYLOAD: usize = 7900;

/// The payload's body that asks every listener to read again what it waits on.
const REREAD_ALL: &str = "*";

/// How long the listener waits before connecting again after a failure, at first and at most.
const RECONNECT_FIRST: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// How a store tells committed changes: its broadcast, the re-read requests, the tag of its
/// own notifications, and (PostgreSQL) its listening task.
#[derive(Clone)]
pub(crate) struct Told {
    changes: broadcast::Sender<Change>,
    rereads: watch::Sender<u64>,
    /// Opens every notification this store sends, so that it skips its own.
    pub(crate) origin: Arc<str>,
    _listening: Option<Arc<Listening>>,
}

/// The listening task, stopped once the last clone of its store is dropped.
struct Listening(tokio::task::AbortHandle);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Told {
    /// On PostgreSQL, returns once this store is listening: a change committed by another
    /// store after `Store::open` returned is heard.
    pub(crate) async fn start(db: &DatabaseConnection) -> Result<Told, DbErr> {
        let mut told = Told {
            changes: broadcast::channel(BACKLOG).0,
            rereads: watch::channel(0).0,
            origin: uuid::Uuid::new_v4().simple().to_string().into(),
            _listening: None,
        };
        if db.get_database_backend() == DbBackend::Postgres {
            let pool = db.get_postgres_connection_pool().clone();
            let listener = subscribe(&pool)
                .await
                .map_err(|e| DbErr::Custom(format!("cannot listen on {CHANNEL}: {e}")))?;
            // The task's clone has no abort handle: it must not keep itself alive.
            let task = tokio::spawn(listen(pool, listener, told.clone()));
            told._listening = Some(Arc::new(Listening(task.abort_handle())));
        }
        Ok(told)
    }

    fn send(&self, c: Change) {
        // No listener is not an error.
        let _ = self.changes.send(c);
    }

    fn ask_reread(&self) {
        self.rereads.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Tells what another store's notification says; skips this store's own.
    fn heard(&self, payload: &str) {
        let (origin, body) = payload.split_once(' ').unwrap_or((payload, REREAD_ALL));
        if origin == &*self.origin {
            return;
        }
        match parse(body) {
            Some(changes) => changes.into_iter().for_each(|c| self.send(c)),
            None => self.ask_reread(),
        }
    }
}

async fn subscribe(pool: &PgPool) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Hears notifications until the pool closes. sqlx's listener connects again by itself when
/// its connection ends cleanly (and then says so with `None`); on any other error it is
/// dropped and a new one made, after a pause that grows while the database stays away. After
/// either, its listeners read again what they wait on: notifications sent meanwhile are lost.
async fn listen(pool: PgPool, first: PgListener, told: Told) {
    let mut listener = Some(first);
    let mut pause = RECONNECT_FIRST;
    loop {
        let mut l = match listener.take() {
            Some(l) => l,
            None => match subscribe(&pool).await {
                Ok(l) => {
                    pause = RECONNECT_FIRST;
                    told.ask_reread();
                    l
                }
                Err(sea_orm::sqlx::Error::PoolClosed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other processes' changes");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RECONNECT_MAX);
                    continue;
                }
            },
        };
        loop {
            match l.try_recv().await {
                Ok(Some(n)) => told.heard(n.payload()),
                Ok(None) => told.ask_reread(),
                Err(sea_orm::sqlx::Error::PoolClosed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the connection listening for changes");
                    tokio::time::sleep(pause).await;
                    break;
                }
            }
        }
    }
}

/// The pairs of a payload's body (`id:version`, or `id:n` for its notices), or `None` when it
/// asks for a re-read (or cannot be read).
fn parse(body: &str) -> Option<Vec<Change>> {
    if body == REREAD_ALL {
        return None;
    }
    body.split(' ')
        .map(|pair| {
            let (id, what) = pair.rsplit_once(':')?;
            Some(match what {
                NOTICES => Change::notices(id),
                v => Change::row(id, v.parse().ok()?),
            })
        })
        .collect()
}

/// The payloads that tell `changed` from the store tagged `origin`: each under
/// [`MAX_PAYLOAD`] bytes, or a request to re-read if a pair alone would not fit.
pub(crate) fn payloads(origin: &str, changed: &[Change]) -> Vec<String> {
    let mut out = Vec::new();
    let mut p = String::new();
    for c in changed {
        let pair = match c.what {
            Changed::Row(v) => format!("{}:{v}", c.case_id),
            Changed::Notices => format!("{}:{NOTICES}", c.case_id),
        };
        if origin.len() + 1 + pair.len() >= MAX_PAYLOAD || pair.contains(' ') {
            return vec![format!("{origin} {REREAD_ALL}")];
        }
        if !p.is_empty() && p.len() + 1 + pair.len() >= MAX_PAYLOAD {
            out.push(std::mem::take(&mut p));
        }
        if p.is_empty() {
            p.push_str(origin);
        }
        p.push(' ');
        p.push_str(&pair);
    }
    if !p.is_empty() {
        out.push(p);
    }
    out
}

/// The statement that sends `payloads` on [`CHANNEL`] (one round trip).
pub(crate) fn notify_statement(payloads: &[String]) -> String {
    payloads
        .iter()
        .map(|p| format!("NOTIFY {CHANNEL}, '{}'", p.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join("; ")
}

tokio::task_local! {
    /// The case rows written by the job that runs on this task (a PostgreSQL batch's job).
    static NOTED: RefCell<Vec<Change>>;
}

/// Notes a case row the Writer wrote, for the notification of the batch that runs this job
/// (nothing outside [`noting`]).
pub(crate) fn note(c: &Change) {
    let _ = NOTED.try_with(|n| n.borrow_mut().push(c.clone()));
}

/// Runs `job`, returning what it output and the case rows it noted.
pub(crate) async fn noting<F: Future>(job: F) -> (F::Output, Vec<Change>) {
    NOTED
        .scope(RefCell::new(Vec::new()), async {
            let out = job.await;
            (out, NOTED.with(|n| n.take()))
        })
        .await
}

impl Store {
    /// The changes committed from now on: by this store, and on PostgreSQL by other stores of
    /// the database (from their notifications): new versions of case rows, and deliveries of
    /// their notices.
    pub fn subscribe_changes(&self) -> broadcast::Receiver<Change> {
        self.changes.changes.subscribe()
    }

    /// Changes of other stores may have been missed (the listening connection was lost, or a
    /// notification could not say which cases): read again what you wait on when this changes.
    pub fn subscribe_rereads(&self) -> watch::Receiver<u64> {
        self.changes.rereads.subscribe()
    }

    /// Tells the listeners: call only after the COMMIT that wrote `changed` returned.
    pub(crate) fn committed(&self, changed: Vec<Change>) {
        for c in changed {
            self.changes.send(c);
        }
    }

    /// The current `row_version` of each of these cases that exists, in one query.
    pub async fn case_versions(&self, ids: &[Arc<str>]) -> Result<Vec<(String, i64)>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, i64)> = case::Entity::find()
            .select_only()
            .column(case::Column::Id)
            .column(case::Column::RowVersion)
            .filter(case::Column::Id.is_in(ids.iter().map(|i| i.to_string())))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str, v: i64) -> Change {
        match v % 7 {
            0 => Change::notices(id),
            _ => Change::row(id, v),
        }
    }

    /// A batch's pairs fit PostgreSQL's payload bound, split over as many notifications as
    /// needed, and read back as they were.
    #[test]
    fn payloads_are_split_under_the_bound_and_read_back() {
        let changed: Vec<Change> = (0..500)
            .map(|i| change(&uuid::Uuid::now_v7().to_string(), i))
            .collect();
        let sent = payloads("origine", &changed);
        assert!(sent.len() > 1, "{} payloads", sent.len());
        let mut read = Vec::new();
        for p in &sent {
            assert!(p.len() < 8000, "{} bytes", p.len());
            let (origin, body) = p.split_once(' ').unwrap();
            assert_eq!(origin, "origine");
            read.extend(parse(body).unwrap());
        }
        assert_eq!(read, changed);
        assert!(payloads("origine", &[]).is_empty());
    }

    /// An id too long for a payload asks for a re-read instead of being cut.
    #[test]
    fn a_pair_that_cannot_fit_asks_for_a_re_read() {
        let long = "x".repeat(MAX_PAYLOAD);
        let sent = payloads("o", &[change("a", 1), change(&long, 2)]);
        assert_eq!(sent, ["o *"]);
        assert_eq!(parse("*"), None);
        assert_eq!(parse("a:1 b"), None, "unreadable: re-read");
    }
}
