//! The history chain: how a row's hash is computed (the writer and the checker share
//! `row_hash`), and the check behind `jalon verify` and `GET /cases/{id}/verify`.
//!
//! A row's hash covers the previous row's hash and every field a reader of the history sees,
//! so changing, removing or reordering a row breaks the chain at that row or the next one; the
//! case row keeps the last hash, so dropping the newest rows is seen too.

use sea_orm::{
    AccessMode, ColumnTrait, DbBackend, EntityTrait, IsolationLevel, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::entities::{case, history};
use super::{Error, Store};

/// The fields of a history row that its hash covers, in the order they are hashed.
pub(super) struct Hashed<'a> {
    pub prev: &'a str,
    pub case_id: &'a str,
    pub seq: i64,
    pub at: i64,
    pub actor: &'a str,
    pub trigger: &'a str,
    pub from_state: &'a str,
    pub to_state: &'a str,
    pub inputs: &'a str,
    pub reason: &'a str,
    pub detail: &'a str,
}

/// SHA-256 (hex) of the fields, each followed by the unit separator so that moving text from
/// one field to the next changes the hash.
pub(super) fn row_hash(h: &Hashed<'_>) -> String {
    let mut d = Sha256::new();
    for part in [
        h.prev,
        h.case_id,
        &h.seq.to_string(),
        &h.at.to_string(),
        h.actor,
        h.trigger,
        h.from_state,
        h.to_state,
        h.inputs,
        h.reason,
        h.detail,
    ] {
        d.update(part.as_bytes());
        d.update([0x1f]);
    }
    hex::encode(d.finalize())
}

fn stored_hash(r: &history::Model) -> String {
    row_hash(&Hashed {
        prev: &r.prev_hash,
        case_id: &r.case_id,
        seq: r.seq,
        at: r.at,
        actor: r.actor_id.as_deref().unwrap_or(""),
        trigger: &r.trigger,
        from_state: r.from_state.as_deref().unwrap_or(""),
        to_state: &r.to_state,
        inputs: &r.inputs,
        reason: r.reason.as_deref().unwrap_or(""),
        detail: &r.detail,
    })
}

/// The first place a case's chain does not hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrokenRow {
    pub case_id: String,
    /// The history row's `seq` (for `case_last_hash`, the last row's; null without rows).
    pub seq: Option<i64>,
    /// `hash`: the row's content does not give its stored hash; `prev_hash`: the row does not
    /// follow the row before it (one removed, reordered or inserted); `case_last_hash`: the
    /// case row does not end on the last history row (newest rows removed).
    pub problem: &'static str,
    /// What the chain requires.
    pub expected: String,
    /// What is stored.
    pub stored: String,
}

/// One case's chain, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaseCheck {
    pub case_id: String,
    /// History rows read.
    pub rows: u64,
    pub first_broken: Option<BrokenRow>,
}

impl CaseCheck {
    pub fn intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// What `verify_all` saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub cases: u64,
    pub rows: u64,
    pub broken: u64,
}

/// Checks one case's rows, in `seq` order, against its case row's last hash.
fn check(case_id: &str, last_hash: &str, rows: &[history::Model]) -> CaseCheck {
    let broken = |seq, problem, expected: &str, stored: &str| BrokenRow {
        case_id: case_id.to_owned(),
        seq,
        problem,
        expected: expected.to_owned(),
        stored: stored.to_owned(),
    };
    let mut prev = "";
    let mut first_broken = None;
    for r in rows {
        if r.prev_hash != prev {
            first_broken = Some(broken(Some(r.seq), "prev_hash", prev, &r.prev_hash));
            break;
        }
        let expected = stored_hash(r);
        if expected != r.hash {
            first_broken = Some(broken(Some(r.seq), "hash", &expected, &r.hash));
            break;
        }
        prev = &r.hash;
    }
    if first_broken.is_none() && last_hash != prev {
        let seq = rows.last().map(|r| r.seq);
        first_broken = Some(broken(seq, "case_last_hash", prev, last_hash));
    }
    CaseCheck {
        case_id: case_id.to_owned(),
        rows: rows.len() as u64,
        first_broken,
    }
}

/// Cases read per page by `verify_all`: memory stays bounded by a page of cases and their rows.
const PAGE: u64 = 200;

impl Store {
    /// A read-only snapshot, so that a case row and its history are read as of one instant
    /// while the server keeps writing (SQLite's read transactions are snapshots already).
    async fn snapshot(&self) -> Result<sea_orm::DatabaseTransaction, Error> {
        let (iso, mode) = match self.db.get_database_backend() {
            DbBackend::Postgres => (
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            ),
            _ => (None, None),
        };
        Ok(self.db.begin_with_config(iso, mode).await?)
    }

    /// Recomputes one case's chain.
    pub async fn verify_case(&self, case_id: &str) -> Result<CaseCheck, Error> {
        let txn = self.snapshot().await?;
        let row = case::Entity::find_by_id(case_id)
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("case_not_found", format!("case {case_id}")))?;
        let rows = history::Entity::find()
            .filter(history::Column::CaseId.eq(case_id))
            .order_by_asc(history::Column::Seq)
            .order_by_asc(history::Column::Id)
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(check(&row.id, &row.last_hash, &rows))
    }

    /// Recomputes every case's chain, a page of cases at a time (by id), and hands each
    /// checked case to `seen`.
    pub async fn verify_all(&self, mut seen: impl FnMut(&CaseCheck)) -> Result<Summary, Error> {
        let mut sum = Summary::default();
        let mut after = String::new();
        loop {
            let txn = self.snapshot().await?;
            let cases: Vec<(String, String)> = case::Entity::find()
                .select_only()
                .column(case::Column::Id)
                .column(case::Column::LastHash)
                .filter(case::Column::Id.gt(after.as_str()))
                .order_by_asc(case::Column::Id)
                .limit(PAGE)
                .into_tuple()
                .all(&txn)
                .await?;
            let Some((last, _)) = cases.last() else {
                txn.commit().await?;
                return Ok(sum);
            };
            after = last.clone();
            let rows = history::Entity::find()
                .filter(history::Column::CaseId.is_in(cases.iter().map(|(id, _)| id.as_str())))
                .order_by_asc(history::Column::CaseId)
                .order_by_asc(history::Column::Seq)
                .order_by_asc(history::Column::Id)
                .all(&txn)
                .await?;
            txn.commit().await?;
            let mut rest = rows.as_slice();
            for (id, last_hash) in &cases {
                let n = rest.iter().take_while(|r| &r.case_id == id).count();
                let (mine, tail) = rest.split_at(n);
                rest = tail;
                let c = check(id, last_hash, mine);
                sum.cases += 1;
                sum.rows += c.rows;
                sum.broken += u64::from(!c.intact());
                seen(&c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, prev: &str) -> history::Model {
        let mut r = history::Model {
            id: seq,
            case_id: "c".into(),
            seq,
            at: 1000 + seq,
            actor_id: Some("a".into()),
            trigger: "event:x".into(),
            from_state: None,
            to_state: "s".into(),
            inputs: "{}".into(),
            reason: None,
            detail: "[]".into(),
            late_ms: None,
            prev_hash: prev.into(),
            hash: String::new(),
        };
        r.hash = stored_hash(&r);
        r
    }

    fn chain(n: i64) -> Vec<history::Model> {
        let mut rows: Vec<history::Model> = Vec::new();
        for seq in 1..=n {
            let prev = rows.last().map(|r| r.hash.clone()).unwrap_or_default();
            rows.push(row(seq, &prev));
        }
        rows
    }

    #[test]
    fn an_intact_chain_holds() {
        let rows = chain(3);
        let c = check("c", &rows[2].hash, &rows);
        assert_eq!((c.rows, c.first_broken), (3, None));
    }

    #[test]
    fn each_break_is_named_at_its_row() {
        let rows = chain(3);
        let last = rows[2].hash.clone();

        let mut edited = rows.clone();
        edited[1].inputs = r#"{"x":1}"#.into();
        let b = check("c", &last, &edited).first_broken.unwrap();
        assert_eq!((b.seq, b.problem), (Some(2), "hash"));
        assert_eq!(b.stored, rows[1].hash);
        assert_ne!(b.expected, b.stored);

        let mut removed = rows.clone();
        removed.remove(1);
        let b = check("c", &last, &removed).first_broken.unwrap();
        assert_eq!((b.seq, b.problem), (Some(3), "prev_hash"));

        let b = check("c", &last, &rows[..2]).first_broken.unwrap();
        assert_eq!((b.seq, b.problem), (Some(2), "case_last_hash"));
        assert_eq!(
            (b.expected.as_str(), b.stored.as_str()),
            (rows[1].hash.as_str(), last.as_str())
        );
    }
}
