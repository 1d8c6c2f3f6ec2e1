//! The point reads every request and every loop pass makes (an actor by its token, a case
//! row, a case's open tasks, the loops' next instants), run on a SQLite file in place, on a
//! connection of the calling thread, instead of through sqlx's pool, where each statement
//! crosses to the connection's worker thread and back: two thread hand-offs that cost more
//! than an indexed read itself (figures: docs/performance.md, "Whole cases over HTTP").
//!
//! In place means on a tokio worker, which is sound only for reads that are short and never
//! wait: each is an index lookup of a few rows, and in WAL mode a reader never waits for the
//! writer or the checkpointer (which is PASSIVE). Long reads (lists, pages, the stuck list)
//! stay on the pool. Elsewhere (PostgreSQL, an in-memory SQLite database) these reads go to
//! the pool too. Every statement is built by sea-orm's query builders and decoded as the
//! SQLite writer decodes its own reads ([`Readable`]), so there is one text of each.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use sea_orm::{QueryTrait, Statement};

use super::conn::{Conn, Direct, Readable};
use super::{Error, Store};

/// Databases a thread keeps a reading connection to: the server opens one; tests open many
/// in turn, and the oldest is closed beyond this.
const PER_THREAD: usize = 4;

thread_local! {
    static READERS: RefCell<Vec<(PathBuf, Rc<Direct>)>> = const { RefCell::new(Vec::new()) };
}

/// This thread's reading connection to `path`, opened on first use.
fn reader(path: &Path) -> Result<Rc<Direct>, Error> {
    READERS.with(|r| {
        let mut readers = r.borrow_mut();
        if let Some((_, d)) = readers.iter().find(|(p, _)| p == path) {
            return Ok(d.clone());
        }
        let d = Rc::new(Direct::open_reader(path).map_err(super::conn::DirectErr::from)?);
        if readers.len() >= PER_THREAD {
            readers.remove(0);
        }
        readers.push((path.to_owned(), d.clone()));
        Ok(d)
    })
}

impl Store {
    /// The rows of a short indexed read (see the module).
    pub(crate) async fn read_all<M: Readable>(&self, q: &impl QueryTrait) -> Result<Vec<M>, Error> {
        self.read_rows(q.build(self.backend())).await
    }

    /// The rows of a short indexed read written for this store's backend.
    pub(crate) async fn read_rows<M: Readable>(&self, stmt: Statement) -> Result<Vec<M>, Error> {
        match &self.read_in_place {
            Some(path) => Ok(reader(path)?.rows(&stmt)?),
            None => Conn::Pool(&self.db).query(stmt).await,
        }
    }

    /// The first row of a short indexed read (the query says how many it asks for).
    pub(crate) async fn read_one<M: Readable>(
        &self,
        q: &impl QueryTrait,
    ) -> Result<Option<M>, Error> {
        Ok(self.read_all(q).await?.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{EntityTrait, QueryFilter, QuerySelect};

    use super::*;
    use crate::entities::actor;

    /// A read in place sees every write committed before it, on the same thread and on
    /// another, and the same rows as the pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_in_place_sees_what_committed_before_it() {
        let (_dir, store) = crate::sqlite_file_store().await;
        assert!(store.read_in_place.is_some());
        for i in 0..20 {
            let roles = ["agent".to_owned()];
            let (a, token) = store
                .add_actor(
                    &format!("A{i}"),
                    &format!("a{i}@x.be"),
                    &roles,
                    chrono::Utc::now(),
                )
                .await
                .unwrap();
            store.set_digest(&a.id, i % 2 == 0).await.unwrap();
            let found = store
                .authenticate(&token)
                .await
                .unwrap()
                .expect("found at once");
            assert_eq!(found.id, a.id);
            let q = actor::Entity::find()
                .filter(sea_orm::ColumnTrait::eq(&actor::Column::Id, &a.id))
                .limit(1);
            let in_place: Option<actor::Model> = store.read_one(&q).await.unwrap();
            let pooled = q.one(&store.db).await.unwrap();
            assert_eq!(in_place, pooled);
            assert_eq!(in_place.unwrap().digest, i % 2 == 0);
            // From another thread of the runtime, too.
            let s = store.clone();
            let again = tokio::spawn(async move { s.authenticate(&token).await.unwrap() })
                .await
                .unwrap();
            assert_eq!(again.map(|a| a.id), Some(a.id));
        }
        // Every request authenticates: its statement stays prepared on this thread.
        let sql = crate::actors::by_token("x")
            .build(sea_orm::DbBackend::Sqlite)
            .sql;
        let path = store.read_in_place.as_deref().unwrap();
        assert_eq!(reader(path).unwrap().reprepared(&sql), 0, "{sql}");
    }
}
