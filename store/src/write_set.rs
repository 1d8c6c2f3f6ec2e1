//! The rows one transition writes (its case row, history row, timers, tasks and notices),
//! sent once the Writer has built them all.
//!
//! On PostgreSQL they go as one statement: a data-modifying `WITH` whose first part writes the
//! case row (its version check) and whose every other part writes only if that one did. A
//! transition costs one round trip instead of one per row, and a stale read writes nothing.
//! The parts of such a statement all see the database as it was before it, so a transition
//! whose rows depend on one another in order (a row updated after this transition wrote it)
//! is sent a statement at a time instead. On SQLite, which has no data-modifying `WITH` and
//! no round trip to save (the writer's connection is in-process), the rows are always written
//! a statement at a time, in order.

use std::collections::HashSet;

use sea_orm::sea_query::{
    Alias, CommonTableExpression, DynIden, Expr, InsertStatement, IntoIden, OnConflict, Query,
    SelectStatement, TableRef, UpdateStatement, WithClause,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, DbBackend, EntityName, EntityTrait,
    FromQueryResult, Iterable,
};

use super::Error;
use super::conn::Conn;
use super::entities::{case, history, outbox};

/// The case row of a transition: a new case, or an update that holds only while the row is
/// still at the version that was read.
pub(crate) enum CaseWrite {
    Insert {
        row: case::ActiveModel,
        /// The refusal when the business key is taken.
        on_duplicate: Error,
    },
    Update(UpdateStatement),
}

/// Which row of which table a write touches: the key a transition names it by (a timer's
/// key with its arming, a task's id, a notice's dedupe key).
#[derive(Clone, PartialEq, Eq, Hash)]
struct Touch {
    table: &'static str,
    key: String,
}

enum Part {
    Insert(Touch, NewRow),
    Update(Touch, Box<UpdateStatement>),
    /// A notice, filed under the transition's history row.
    Outbox(Touch, NewRow),
}

/// Everything one transition writes, in the order the engine asked for it.
pub(crate) struct WriteSet {
    case: CaseWrite,
    history: Option<NewRow>,
    parts: Vec<Part>,
}

impl WriteSet {
    pub fn new(case: CaseWrite, history: Option<history::ActiveModel>) -> Self {
        WriteSet {
            case,
            history: history.map(NewRow::of),
            parts: Vec::new(),
        }
    }

    /// A new row of `table` (a timer or a task) named `key` in its case.
    pub fn insert<A: ActiveModelTrait>(&mut self, key: String, row: A) {
        let touch = Touch {
            table: A::Entity::default().table_name(),
            key,
        };
        self.parts.push(Part::Insert(touch, NewRow::of(row)));
    }

    /// An update of the row of `E` named `key` in its case.
    pub fn update<E: EntityTrait>(&mut self, key: String, update: UpdateStatement) {
        let touch = Touch {
            table: E::default().table_name(),
            key,
        };
        self.parts.push(Part::Update(touch, Box::new(update)));
    }

    /// A notice (its `history_id` is set when sent); a repeat of its dedupe key in the same
    /// transition is not queued twice.
    pub fn notice(&mut self, row: outbox::ActiveModel) {
        let key = match &row.dedupe_key {
            ActiveValue::Set(k) | ActiveValue::Unchanged(k) => k.clone(),
            ActiveValue::NotSet => String::new(),
        };
        let touch = Touch {
            table: outbox::Entity.table_name(),
            key,
        };
        self.parts.push(Part::Outbox(touch, NewRow::of(row)));
    }

    /// Writes every row, on PostgreSQL in one statement when its parts do not depend on one
    /// another's order. False when the case row was not written (an update whose version
    /// check failed), and then nothing was.
    pub async fn send(self, txn: Conn<'_>) -> Result<bool, Error> {
        if txn.backend() == DbBackend::Postgres && self.parts_independent() {
            self.send_as_one(txn).await
        } else {
            self.send_in_order(txn).await
        }
    }

    /// Whether each part would write the same as it does in order while seeing none of the
    /// others: no row is updated after a part of this transition wrote it (the update would
    /// not see that write, and PostgreSQL leaves two updates of one row in one statement
    /// unordered), and no row is inserted twice (the second insert's `ON CONFLICT` need not
    /// see the first). An update before an insert of the same key sees, in order as at once,
    /// only the rows from before the transition.
    fn parts_independent(&self) -> bool {
        let mut written = HashSet::new();
        let mut inserted = HashSet::new();
        for part in &self.parts {
            match part {
                Part::Update(t, _) => {
                    if written.contains(t) {
                        return false;
                    }
                    written.insert(t);
                }
                Part::Insert(t, _) | Part::Outbox(t, _) => {
                    if !inserted.insert(t) {
                        return false;
                    }
                    written.insert(t);
                }
            }
        }
        true
    }

    async fn send_in_order(self, txn: Conn<'_>) -> Result<bool, Error> {
        let backend = txn.backend();
        match self.case {
            CaseWrite::Insert { row, on_duplicate } => {
                let insert = NewRow::of(row).values();
                txn.insert_unique(backend.build(&insert), on_duplicate)
                    .await?;
            }
            CaseWrite::Update(update) => {
                if txn.run(backend.build(&update)).await? != 1 {
                    return Ok(false);
                }
            }
        }
        let history_id = match self.history {
            Some(h) => Some(txn.insert_id(h.values()).await?),
            None => None,
        };
        for part in self.parts {
            let stmt = match part {
                Part::Insert(_, row) => backend.build(&row.values()),
                Part::Update(_, update) => backend.build(&*update),
                Part::Outbox(_, row) => backend.build(
                    row.with(outbox::Column::HistoryId, Expr::val(history_id))
                        .values()
                        .on_conflict(notice_once()),
                ),
            };
            txn.run(stmt).await?;
        }
        Ok(true)
    }

    /// `WITH c AS (case row RETURNING id), h AS (INSERT history … FROM c RETURNING id),
    /// w0 AS (INSERT … FROM c), w1 AS (UPDATE … WHERE EXISTS (SELECT 1 FROM c)), w2 AS
    /// (INSERT notice … FROM h), … SELECT count(*) FROM c`.
    async fn send_as_one(self, txn: Conn<'_>) -> Result<bool, Error> {
        #[derive(FromQueryResult, serde::Deserialize)]
        struct Written {
            cases: i64,
        }
        let (case, on_duplicate) = match self.case {
            CaseWrite::Insert { row, on_duplicate } => {
                let mut insert = NewRow::of(row).values();
                insert.returning_col(case::Column::Id);
                (cte("c", insert), Some(on_duplicate))
            }
            CaseWrite::Update(mut update) => {
                update.returning_col(case::Column::Id);
                (cte("c", update), None)
            }
        };
        let mut with = WithClause::new();
        with.cte(case);
        let has_history = self.history.is_some();
        if let Some(h) = self.history {
            let mut insert = h.select_from("c");
            insert.returning_col(history::Column::Id);
            with.cte(cte("h", insert));
        }
        for (i, part) in self.parts.into_iter().enumerate() {
            let name = format!("w{i}");
            with.cte(match part {
                Part::Insert(_, row) => cte(&name, row.select_from("c")),
                Part::Update(_, mut update) => {
                    update.and_where(Expr::exists(one_from("c")));
                    cte(&name, *update)
                }
                Part::Outbox(_, row) => {
                    let mut insert = if has_history {
                        row.with(
                            outbox::Column::HistoryId,
                            Expr::col((Alias::new("h"), history::Column::Id)),
                        )
                        .select_from("h")
                    } else {
                        row.select_from("c")
                    };
                    cte(&name, insert.on_conflict(notice_once()).to_owned())
                }
            });
        }
        let select = Query::select()
            .expr_as(Expr::cust("count(*)"), Alias::new("cases"))
            .from(Alias::new("c"))
            .to_owned()
            .with(with);
        let stmt = txn.backend().build(&select);
        let written: Vec<Written> = txn
            .write_returning(
                stmt,
                |w: &[Written]| w.iter().any(|w| w.cases > 0),
                on_duplicate,
            )
            .await?;
        Ok(written.first().is_some_and(|w| w.cases == 1))
    }
}

/// The outbox's unique index is `(history_id, dedupe_key)`: a notice is queued once per
/// transition and address.
fn notice_once() -> OnConflict {
    OnConflict::columns([outbox::Column::HistoryId, outbox::Column::DedupeKey])
        .do_nothing()
        .to_owned()
}

/// `name AS (query)`, a part of a `WITH`.
pub(crate) fn cte(
    name: &str,
    query: impl Into<sea_orm::sea_query::SubQueryStatement>,
) -> CommonTableExpression {
    CommonTableExpression::new()
        .query(query)
        .table_name(Alias::new(name))
        .to_owned()
}

/// `SELECT 1 FROM "from"`.
fn one_from(from: &str) -> SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from(Alias::new(from))
        .to_owned()
}

/// A row to insert, as columns and the values sea-orm would bind for them.
struct NewRow {
    table: TableRef,
    columns: Vec<DynIden>,
    values: Vec<Expr>,
}

impl NewRow {
    /// The columns an active model sets, as sea-orm's own insert takes them.
    fn of<A: ActiveModelTrait>(mut model: A) -> Self {
        let mut row = NewRow {
            table: A::Entity::default().table_ref(),
            columns: Vec::new(),
            values: Vec::new(),
        };
        for col in <A::Entity as EntityTrait>::Column::iter() {
            if let ActiveValue::Set(v) | ActiveValue::Unchanged(v) = model.take(col) {
                row.columns.push(col.into_iden());
                row.values.push(col.save_as(Expr::val(v)));
            }
        }
        row
    }

    fn with(mut self, col: impl IntoIden, value: Expr) -> Self {
        self.columns.push(col.into_iden());
        self.values.push(value);
        self
    }

    /// `INSERT INTO t (…) VALUES (…)`.
    fn values(self) -> InsertStatement {
        Query::insert()
            .into_table(self.table)
            .columns(self.columns)
            .values_panic(self.values)
            .to_owned()
    }

    /// `INSERT INTO t (…) SELECT … FROM "from"`: one row if `from` has one, none otherwise.
    fn select_from(self, from: &str) -> InsertStatement {
        let select = Query::select()
            .exprs(self.values)
            .from(Alias::new(from))
            .to_owned();
        Query::insert()
            .into_table(self.table)
            .columns(self.columns)
            .select_from(select)
            .expect("as many values as columns")
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use sea_orm::sea_query::Expr;
    use sea_orm::{
        ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryTrait, TransactionTrait,
    };

    use super::{CaseWrite, WriteSet};
    use crate::Store;
    use crate::conn::{Conn, touching};
    use crate::entities::{case, history, outbox, task, timer, workflow_version};
    use crate::testing::pg_store;

    /// What a transition asks of a case's rows, on a few keys so that they meet. A timer is
    /// armed under a key of its own (the engine's keys carry their arming); a cancel names the
    /// arming of this transition (1) or of the one before (0).
    #[derive(Clone, Copy, Debug)]
    enum Op {
        Arm,
        Cancel(u8),
        Open(u8),
        Close(u8),
        Move(u8),
        Notice(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        (0u8..6, 0u8..2).prop_map(|(kind, k)| match kind {
            0 => Op::Arm,
            1 => Op::Cancel(k),
            2 => Op::Open(k),
            3 => Op::Close(k),
            4 => Op::Move(k),
            _ => Op::Notice(k),
        })
    }

    /// How a set is sent: as `send` chooses, or forced one way.
    #[derive(Clone, Copy)]
    enum Way {
        Chosen,
        InOrder,
        AsOne,
    }

    async fn new_case(store: &Store, id: &str) {
        if workflow_version::Entity::find_by_id(1)
            .one(&store.db)
            .await
            .unwrap()
            .is_none()
        {
            let version = workflow_version::ActiveModel {
                id: Set(1),
                workflow_id: Set("w".into()),
                version: Set(1),
                hash: Set(String::new()),
                title: Set("w".into()),
                source: Set(String::new()),
                templates: Set(String::new()),
                deployed_at: Set(0),
                deployed_by: Set(None),
            };
            workflow_version::Entity::insert(version)
                .exec(&store.db)
                .await
                .unwrap();
        }
        let row = case::ActiveModel {
            id: Set(id.into()),
            workflow_id: Set("w".into()),
            version_id: Set(1),
            business_key: Set(id.into()),
            state: Set("s".into()),
            status: Set(case::Status::Open),
            outcome: Set(None),
            data: Set("{}".into()),
            row_version: Set(1),
            parent_id: Set(None),
            created_at: Set(0),
            updated_at: Set(0),
            entered_at: Set(0),
            last_hash: Set(String::new()),
            idle_since: Set(None),
            stuck_at: Set(None),
        };
        let set = WriteSet::new(
            CaseWrite::Insert {
                row,
                on_duplicate: crate::Error::Corrupt("duplicate".into()),
            },
            None,
        );
        assert!(set.send(Conn::from(&store.db)).await.unwrap());
    }

    /// Transition `seq` of case `id` (read at version `seq`), writing `ops` in order.
    fn transition(id: &str, seq: i64, ops: &[Op]) -> WriteSet {
        let update = case::Entity::update_many()
            .col_expr(case::Column::RowVersion, Expr::value(seq + 1))
            .filter(case::Column::Id.eq(id))
            .filter(case::Column::RowVersion.eq(seq))
            .into_query();
        let history = history::ActiveModel {
            case_id: Set(id.into()),
            seq: Set(seq),
            at: Set(seq),
            trigger: Set("t".into()),
            to_state: Set("s".into()),
            inputs: Set("{}".into()),
            detail: Set("[]".into()),
            prev_hash: Set(String::new()),
            hash: Set(String::new()),
            ..Default::default()
        };
        let mut set = WriteSet::new(CaseWrite::Update(update), Some(history));
        let mut armed = false;
        for &op in ops {
            match op {
                Op::Arm if armed => {}
                Op::Arm => {
                    armed = true;
                    set.insert(
                        format!("t#{seq}"),
                        timer::ActiveModel {
                            case_id: Set(id.into()),
                            timer_key: Set(format!("t#{seq}")),
                            timer_id: Set("t".into()),
                            kind: Set("state".into()),
                            due_date: Set("2026-12-07".into()),
                            fire_at: Set(seq),
                            explanation: Set(String::new()),
                            status: Set(timer::Status::Armed),
                            attempts: Set(0),
                            created_at: Set(seq),
                            ..Default::default()
                        },
                    )
                }
                Op::Cancel(k) => {
                    let key = format!("t#{}", seq - 1 + i64::from(k));
                    set.update::<timer::Entity>(
                        key.clone(),
                        timer::Entity::update_many()
                            .col_expr(timer::Column::Status, Expr::value(timer::Status::Cancelled))
                            .col_expr(timer::Column::FiredAt, Expr::value(seq))
                            .filter(timer::Column::CaseId.eq(id))
                            .filter(timer::Column::TimerKey.eq(key))
                            .filter(timer::Column::Status.eq(timer::Status::Armed))
                            .into_query(),
                    )
                }
                Op::Open(k) => set.insert(
                    format!("k{k}"),
                    task::ActiveModel {
                        case_id: Set(id.into()),
                        task_id: Set(format!("k{k}")),
                        role: Set("r".into()),
                        title: Set("t".into()),
                        status: Set(task::Status::Open),
                        opened_at: Set(seq),
                        ..Default::default()
                    },
                ),
                Op::Close(k) | Op::Move(k) => {
                    let mut update = task::Entity::update_many();
                    update = if let Op::Close(_) = op {
                        update
                            .col_expr(task::Column::Status, Expr::value(task::Status::Closed))
                            .col_expr(task::Column::ClosedAt, Expr::value(seq))
                    } else {
                        update.col_expr(task::Column::DueDate, Expr::value(seq.to_string()))
                    };
                    set.update::<task::Entity>(
                        format!("k{k}"),
                        update
                            .filter(task::Column::CaseId.eq(id))
                            .filter(task::Column::TaskId.eq(format!("k{k}")))
                            .filter(task::Column::Status.eq(task::Status::Open))
                            .into_query(),
                    )
                }
                Op::Notice(k) => set.notice(outbox::ActiveModel {
                    case_id: Set(Some(id.into())),
                    dedupe_key: Set(format!("n{k}")),
                    template: Set("t".into()),
                    context: Set("{}".into()),
                    status: Set(outbox::Status::Pending),
                    attempts: Set(0),
                    next_attempt_at: Set(seq),
                    created_at: Set(seq),
                    ..Default::default()
                }),
            }
        }
        set
    }

    /// Runs `transitions` on a new case `id`, each in its own transaction sent `way`.
    async fn run(store: &Store, id: &str, transitions: &[Vec<Op>], way: Way) {
        new_case(store, id).await;
        for (seq, ops) in (1..).zip(transitions) {
            let set = transition(id, seq, ops);
            let txn = store.db.begin().await.unwrap();
            let conn = Conn::Transaction(&txn);
            let written = match way {
                Way::Chosen => set.send(conn).await,
                Way::InOrder => set.send_in_order(conn).await,
                Way::AsOne => set.send_as_one(conn).await,
            };
            assert!(written.unwrap(), "transition {seq} of {id} written");
            txn.commit().await.unwrap();
        }
    }

    /// Every row the case's transitions wrote, as comparable text, in a fixed order.
    async fn rows(store: &Store, id: &str) -> Vec<String> {
        let mut rows = Vec::new();
        for t in timer::Entity::find()
            .filter(timer::Column::CaseId.eq(id))
            .all(&store.db)
            .await
            .unwrap()
        {
            rows.push(format!(
                "timer {} {:?} armed {} ended {:?}",
                t.timer_key, t.status, t.fire_at, t.fired_at
            ));
        }
        for t in task::Entity::find()
            .filter(task::Column::CaseId.eq(id))
            .all(&store.db)
            .await
            .unwrap()
        {
            rows.push(format!(
                "task {} {:?} opened {} due {:?} closed {:?}",
                t.task_id, t.status, t.opened_at, t.due_date, t.closed_at
            ));
        }
        let history = history::Entity::find()
            .filter(history::Column::CaseId.eq(id))
            .all(&store.db)
            .await
            .unwrap();
        for h in &history {
            rows.push(format!("history {}", h.seq));
        }
        for n in outbox::Entity::find()
            .filter(outbox::Column::CaseId.eq(id))
            .all(&store.db)
            .await
            .unwrap()
        {
            let of = history.iter().find(|h| Some(h.id) == n.history_id);
            rows.push(format!(
                "notice {} of transition {:?}",
                n.dedupe_key,
                of.map(|h| h.seq)
            ));
        }
        rows.sort();
        rows
    }

    /// Whatever a transition asks, in whatever order, its rows are those it writes a statement
    /// at a time: `send` takes one statement on PostgreSQL only when that changes nothing.
    #[test]
    fn one_statement_writes_what_statements_in_order_write() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (store, _) = rt.block_on(pg_store());
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 48,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let transitions = prop::collection::vec(prop::collection::vec(op(), 0..5), 1..4);
        let n = std::sync::atomic::AtomicUsize::new(0);
        runner
            .run(&transitions, |transitions| {
                let n = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (chosen, in_order) = rt.block_on(async {
                    let (a, b) = (format!("a{n}"), format!("b{n}"));
                    run(&store, &a, &transitions, Way::Chosen).await;
                    run(&store, &b, &transitions, Way::InOrder).await;
                    (rows(&store, &a).await, rows(&store, &b).await)
                });
                prop_assert_eq!(chosen, in_order);
                Ok(())
            })
            .unwrap();
    }

    /// Why `send` checks the parts first: a task opened then closed by one transition stays
    /// open if both go in one statement, whose parts see the rows from before it only.
    #[tokio::test]
    async fn one_statement_would_not_see_its_own_rows() {
        let (store, _) = pg_store().await;
        let ops = vec![vec![Op::Open(0), Op::Close(0)]];
        assert!(!transition("x", 1, &ops[0]).parts_independent());
        run(&store, "a", &ops, Way::AsOne).await;
        run(&store, "b", &ops, Way::InOrder).await;
        assert_eq!(
            rows(&store, "a").await,
            ["history 1", "task k0 Open opened 1 due None closed None"]
        );
        assert_eq!(
            rows(&store, "b").await,
            [
                "history 1",
                "task k0 Closed opened 1 due None closed Some(1)"
            ]
        );
    }

    /// A stale read (the case moved on since it was read) writes nothing, in one statement as
    /// in order, and a batch need not undo it.
    #[tokio::test]
    async fn a_stale_transition_writes_nothing() {
        let (store, _) = pg_store().await;
        for (id, way) in [("a", Way::AsOne), ("b", Way::InOrder)] {
            run(&store, id, &[vec![]], way).await;
            let ops = [Op::Arm, Op::Open(0), Op::Close(1), Op::Notice(0)];
            let stale = transition(id, 1, &ops);
            let txn = store.db.begin().await.unwrap();
            let conn = Conn::Transaction(&txn);
            let (written, touched) = touching(async {
                match way {
                    Way::AsOne => stale.send_as_one(conn).await,
                    _ => stale.send_in_order(conn).await,
                }
            })
            .await;
            assert!(!written.unwrap(), "{id}: the version check failed");
            assert!(!touched.wrote && !touched.failed, "{id}: nothing to undo");
            txn.commit().await.unwrap();
            assert_eq!(rows(&store, id).await, ["history 1"], "{id}");
        }
    }
}
