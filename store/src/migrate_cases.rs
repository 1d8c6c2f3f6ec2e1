//! Moving the open cases of a workflow from older versions to a newer one (`jalon cases
//! migrate`, `POST /api/v1/workflows/{id}/migrations`). The mapping is checked against every
//! older version that has open cases before anything moves; then each case is read, migrated by
//! the engine (`machine::migrate`) and written in its own transaction through the Writer, with
//! its history row, its timers and tasks, and the new `version_id`. A dry run computes the same
//! plans and writes nothing. Cases move only when asked: by default they stay on their version.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use engine::definition::Diagnostic;
use engine::machine::Detail;
use engine::machine::migrate::{self, Decision, Mapping, Versions, mapping};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use super::changes::Change;
use super::conn::Conn;
use super::drive::{apply, decode, read_case};
use super::entities::{case, workflow_version};
use super::registry::Deployed;
use super::transition::Row;
use super::wakes::Due;
use super::{Error, Store};

/// What an administrator asks.
pub struct MigrationRequest<'a> {
    pub workflow_id: &'a str,
    pub to_version: i32,
    /// The mapping file's text.
    pub mapping: &'a str,
    /// The name its diagnostics give it (a file path, or `<mapping>` for the API).
    pub mapping_name: &'a str,
    /// Only the cases with these business keys (default: every open case of the older
    /// versions the mapping selects).
    pub only: Option<Vec<String>>,
    pub dry_run: bool,
    pub actor: Option<String>,
    pub reason: Option<String>,
}

/// The plan of one case: what changed (or, in a dry run, would change).
#[derive(Clone, Debug, Serialize)]
pub struct CasePlan {
    pub case_id: String,
    pub key: String,
    pub from_version: i32,
    pub to_version: i32,
    pub from_state: String,
    pub to_state: String,
    /// The changes, as the history row's `detail` holds them (each with its French `text`).
    pub changes: Vec<serde_json::Value>,
    /// The same changes in English, one line each, for the command's output.
    #[serde(skip)]
    pub lines: Vec<String>,
    /// Why this case did not move (it changed meanwhile, or the engine could not place it);
    /// nothing of it was written.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MigrationReport {
    pub workflow: String,
    pub to_version: i32,
    pub dry_run: bool,
    pub cases: Vec<CasePlan>,
}

/// A detail as the history row stores it: its structured form with the French sentence.
pub fn detail_json(d: &Detail) -> serde_json::Value {
    let mut v = serde_json::to_value(d).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("text".into(), d.fr().into());
    }
    v
}

/// A detail of the plan as the command prints it: a migration change in English, anything
/// else the engine noted (a deadline it could not count) in its French sentence.
fn english(d: &Detail) -> String {
    match d {
        Detail::Migrated { change } => change.en(),
        other => other.fr(),
    }
}

/// The mapping's diagnostics as a 422 `invalid_mapping` refusal (each with file, line,
/// column, code, message and hint in `details.diagnostics`).
fn refused(name: &str, diagnostics: &[Diagnostic]) -> Error {
    let list: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| {
            serde_json::json!({
                "file": name,
                "line": d.pos.line,
                "column": d.pos.column,
                "severity": "error",
                "code": d.code,
                "message": d.message,
                "hint": d.hint,
            })
        })
        .collect();
    let message = diagnostics
        .iter()
        .map(|d| d.render(name))
        .collect::<Vec<_>>()
        .join("\n");
    Error::Rejected {
        code: "invalid_mapping",
        message,
        details: serde_json::json!({ "diagnostics": list }),
    }
}

fn bad_version(message: String) -> Error {
    Error::Invalid {
        code: "invalid_migration",
        message,
    }
}

impl Store {
    /// Checks the mapping, then migrates (or, in a dry run, plans) every selected open case
    /// of `workflow_id` on a version older than `to_version`, each case in its own transaction.
    pub async fn migrate_cases(
        &self,
        req: MigrationRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<MigrationReport, Error> {
        let versions = self.workflow_versions(Some(req.workflow_id)).await?;
        if versions.is_empty() {
            return Err(Error::not_found(
                "workflow_not_found",
                format!("workflow '{}'", req.workflow_id),
            ));
        }
        let target = versions
            .iter()
            .find(|v| v.version == req.to_version)
            .ok_or_else(|| {
                Error::not_found(
                    "workflow_version_not_found",
                    format!(
                        "version {} of workflow '{}'",
                        req.to_version, req.workflow_id
                    ),
                )
            })?;
        let mapping =
            migrate::mapping::parse(req.mapping).map_err(|d| refused(req.mapping_name, &[d]))?;
        let sources: Vec<&workflow_version::Model> = match &mapping.from_version {
            Some(v) => {
                let wanted = i64::from(v.value);
                if wanted >= i64::from(req.to_version) {
                    return Err(bad_version(format!(
                        "from_version {wanted} is not older than version {}",
                        req.to_version
                    )));
                }
                let source = versions
                    .iter()
                    .find(|m| i64::from(m.version) == wanted)
                    .ok_or_else(|| {
                        bad_version(format!(
                            "workflow '{}' has no version {wanted}",
                            req.workflow_id
                        ))
                    })?;
                vec![source]
            }
            None => versions
                .iter()
                .filter(|m| m.version < req.to_version)
                .collect(),
        };
        let new = self.version(target.id).await?;
        let mut q = case::Entity::find()
            .filter(case::Column::WorkflowId.eq(req.workflow_id))
            .filter(case::Column::Status.eq(case::Status::Open))
            .filter(case::Column::VersionId.is_in(sources.iter().map(|m| m.id)));
        if let Some(keys) = &req.only {
            q = q.filter(case::Column::BusinessKey.is_in(keys.iter().cloned()));
        }
        let rows: Vec<case::Model> = Conn::from(&self.db)
            .all(&q.order_by_asc(case::Column::Id))
            .await?;
        if let Some(keys) = &req.only
            && let Some(missing) = keys
                .iter()
                .find(|k| !rows.iter().any(|r| r.business_key == **k))
        {
            return Err(bad_version(format!(
                "no open case with key '{missing}' on a version of '{}' older than {}",
                req.workflow_id, req.to_version
            )));
        }
        // The mapping must hold for every version whose cases move, before any of them does.
        let mut olds: Vec<Arc<Deployed>> = Vec::new();
        for source in &sources {
            if rows.iter().any(|r| r.version_id == source.id) {
                olds.push(self.version(source.id).await?);
            }
        }
        // With no case to move, the mapping is still checked: a mistake shows before it matters.
        if olds.is_empty() {
            for source in &sources {
                olds.push(self.version(source.id).await?);
            }
        }
        let numbered: Vec<(u32, &engine::machine::Definition)> = olds
            .iter()
            .map(|o| (u32::try_from(o.version).unwrap_or_default(), &o.def))
            .collect();
        let diagnostics = mapping::check_versions(&mapping, &numbered, &new.def);
        if !diagnostics.is_empty() {
            return Err(refused(req.mapping_name, &diagnostics));
        }
        let mapping = Arc::new(mapping);
        let decision = Decision {
            actor: req.actor.clone(),
            reason: req.reason.clone(),
        };
        let mut cases = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(old) = olds
                .iter()
                .find(|o| o.version_id == row.version_id)
                .cloned()
            else {
                continue;
            };
            let plan = if req.dry_run {
                plan_case(
                    self,
                    &row,
                    &old,
                    &new,
                    &mapping,
                    decision.clone(),
                    now,
                    None,
                )
                .await
                .map(|(plan, _, _)| plan)
            } else {
                self.migrate_case(
                    &row,
                    old,
                    new.clone(),
                    mapping.clone(),
                    decision.clone(),
                    now,
                )
                .await
            };
            cases.push(plan?);
        }
        Ok(MigrationReport {
            workflow: req.workflow_id.to_owned(),
            to_version: req.to_version,
            dry_run: req.dry_run,
            cases,
        })
    }

    /// One case in its own transaction: read again, migrated, written with the new version.
    async fn migrate_case(
        &self,
        listed: &case::Model,
        old: Arc<Deployed>,
        new: Arc<Deployed>,
        mapping: Arc<Mapping>,
        decision: Decision,
        now: DateTime<Utc>,
    ) -> Result<CasePlan, Error> {
        let store = self.clone();
        let id = listed.id.clone();
        let (plan, changed, due) = self
            .write(move |txn| {
                let (store, id, old, new) = (store.clone(), id.clone(), old.clone(), new.clone());
                let (mapping, decision) = (mapping.clone(), decision.clone());
                Box::pin(async move {
                    let row = read_case(txn, &id).await?;
                    plan_case(&store, &row, &old, &new, &mapping, decision, now, Some(txn)).await
                })
            })
            .await?;
        // Waiters on the case hear of it once the transaction committed.
        self.applied(changed, due);
        Ok(plan)
    }
}

/// Computes one case's migration; with `txn`, writes it there (the case row at the new
/// version, its history row, timers and tasks). A case that changed since it was listed (moved
/// to another version, closed) or that the engine cannot place is reported, not written.
#[allow(clippy::too_many_arguments)]
async fn plan_case(
    store: &Store,
    row: &case::Model,
    old: &Deployed,
    new: &Deployed,
    mapping: &Mapping,
    decision: Decision,
    now: DateTime<Utc>,
    txn: Option<Conn<'_>>,
) -> Result<(CasePlan, Vec<Change>, Due), Error> {
    let current = decode(row)?;
    let mut plan = CasePlan {
        case_id: row.id.clone(),
        key: row.business_key.clone(),
        from_version: old.version,
        to_version: new.version,
        from_state: current.state.to_string(),
        to_state: current.state.to_string(),
        changes: Vec::new(),
        lines: Vec::new(),
        error: None,
    };
    if row.version_id != old.version_id || row.status != case::Status::Open {
        plan.error = Some("the case changed since it was listed; it was left as it is".into());
        return Ok((plan, Vec::new(), Due::default()));
    }
    let versions = Versions {
        from: u32::try_from(old.version).unwrap_or_default(),
        to: u32::try_from(new.version).unwrap_or_default(),
    };
    let migrated = match migrate::migrate(
        &old.def,
        &new.def,
        mapping,
        versions,
        &store.calendar,
        &current,
        now,
        decision,
    ) {
        Ok(m) => m,
        Err(why) => {
            plan.error = Some(why);
            return Ok((plan, Vec::new(), Due::default()));
        }
    };
    plan.to_state = migrated.case.state.to_string();
    plan.changes = migrated.plan.iter().map(detail_json).collect();
    plan.lines = migrated.plan.iter().map(english).collect();
    let Some(txn) = txn else {
        return Ok((plan, Vec::new(), Due::default()));
    };
    let applied = apply(
        store,
        txn,
        now,
        new,
        Row::Existing(row),
        &migrated.case,
        migrated.effects,
        None,
    )
    .await?;
    let written = &applied.row;
    let moved = txn
        .exec(
            &case::Entity::update_many()
                .col_expr(case::Column::VersionId, Expr::value(new.version_id))
                .filter(case::Column::Id.eq(&written.id))
                .filter(case::Column::RowVersion.eq(written.row_version)),
        )
        .await?;
    if moved != 1 {
        return Err(Error::Conflict {
            code: "stale_version",
            message: format!("case {} changed while it was migrated", written.id),
        });
    }
    Ok((plan, applied.changed, applied.due))
}
