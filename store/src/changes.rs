//! Committed changes of cases, told to whoever waits for one (the server's change hub). The
//! Writer notes every case row it writes; the store sends the notes only once the transaction
//! that holds them has committed, so a listener never sees a version it could not read.
//! Another process's commits are not told here: the listener re-reads the versions it waits
//! on ([`Store::case_versions`]).

use std::sync::Arc;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::broadcast;

use super::entities::case;
use super::{Error, Store};

/// A case row committed at a new version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub case_id: Arc<str>,
    pub row_version: i64,
}

/// Changes a slow listener may fall behind by before it hears that it lagged (and then
/// re-reads what it waits on).
const BACKLOG: usize = 4096;

pub(crate) fn channel() -> broadcast::Sender<Change> {
    broadcast::channel(BACKLOG).0
}

impl Store {
    /// The changes this process commits from now on.
    pub fn subscribe_changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Tells the listeners: call only after the COMMIT that wrote `changed` returned.
    pub(crate) fn committed(&self, changed: Vec<Change>) {
        for c in changed {
            // No listener is not an error.
            let _ = self.changes.send(c);
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
