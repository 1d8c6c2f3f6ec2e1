//! Compiled workflow versions, kept in memory once read: a case runs with the version it
//! started with, found here by id; new cases start on the latest version of their workflow.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, RwLock};

use engine::machine::Definition;
use notifiers::TemplateSet;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Error;
use super::conn::Conn;
use super::entities::workflow_version;

/// One deployed version of a workflow, ready to run.
pub struct Deployed {
    pub version_id: i64,
    pub workflow_id: String,
    pub version: i32,
    pub hash: String,
    pub def: Definition,
    /// Template name with its part (`decision.subject`) → handlebars text.
    pub templates: BTreeMap<String, String>,
    /// `templates` compiled, on the first notice of this version (the dispatcher's).
    compiled: OnceLock<Result<Arc<TemplateSet>, String>>,
}

impl Deployed {
    pub fn new(
        version_id: i64,
        workflow_id: String,
        version: i32,
        hash: String,
        def: Definition,
        templates: BTreeMap<String, String>,
    ) -> Self {
        Deployed {
            version_id,
            workflow_id,
            version,
            hash,
            def,
            templates,
            compiled: OnceLock::new(),
        }
    }

    /// The version's templates, compiled once. They passed `jalon validate` when deployed, so
    /// an error here means the stored text was altered; it is kept and reported per notice.
    pub fn template_set(&self) -> Result<Arc<TemplateSet>, String> {
        self.compiled
            .get_or_init(|| {
                let files = self
                    .templates
                    .iter()
                    .map(|(name, text)| (format!("{name}.hbs"), text.clone()))
                    .collect();
                TemplateSet::from_sources(files)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<i64, Arc<Deployed>>,
    latest: HashMap<String, i64>,
}

#[derive(Clone, Default)]
pub struct Registry(Arc<RwLock<Inner>>);

impl Registry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn latest(&self, workflow_id: &str) -> Option<Arc<Deployed>> {
        let inner = self.read();
        inner
            .latest
            .get(workflow_id)
            .and_then(|id| inner.by_id.get(id))
            .cloned()
    }

    /// The latest version of every workflow, by id.
    pub fn all_latest(&self) -> Vec<Arc<Deployed>> {
        let inner = self.read();
        let mut v: Vec<_> = inner
            .latest
            .values()
            .filter_map(|id| inner.by_id.get(id).cloned())
            .collect();
        v.sort_by(|a, b| a.workflow_id.cmp(&b.workflow_id));
        v
    }

    pub fn insert(&self, d: Deployed, latest: bool) -> Arc<Deployed> {
        let d = Arc::new(d);
        let mut inner = self.write();
        if latest
            || inner
                .latest
                .get(&d.workflow_id)
                .and_then(|id| inner.by_id.get(id))
                .is_none_or(|cur| cur.version < d.version)
        {
            inner.latest.insert(d.workflow_id.clone(), d.version_id);
        }
        inner.by_id.insert(d.version_id, d.clone());
        d
    }

    /// A version by id, compiled from the database on first use.
    pub(crate) async fn version(
        &self,
        db: Conn<'_>,
        version_id: i64,
    ) -> Result<Arc<Deployed>, Error> {
        if let Some(d) = self.read().by_id.get(&version_id) {
            return Ok(d.clone());
        }
        let row = db
            .one::<workflow_version::Model>(&workflow_version::Entity::find_by_id(version_id))
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    "workflow_version_not_found",
                    format!("workflow version {version_id}"),
                )
            })?;
        Ok(self.insert(compile_row(row)?, false))
    }

    /// Loads the latest version of every deployed workflow (at start, and when another process
    /// may have deployed).
    pub(crate) async fn refresh(&self, db: Conn<'_>) -> Result<(), Error> {
        let rows: Vec<workflow_version::Model> = db
            .all(
                &workflow_version::Entity::find()
                    .order_by_asc(workflow_version::Column::WorkflowId)
                    .order_by_desc(workflow_version::Column::Version),
            )
            .await?;
        let mut seen = std::collections::HashSet::new();
        for row in rows {
            if !seen.insert(row.workflow_id.clone()) {
                continue;
            }
            let known = self.read().by_id.contains_key(&row.id);
            if known {
                let mut inner = self.write();
                inner.latest.insert(row.workflow_id.clone(), row.id);
            } else {
                // A version stored before a check it fails (a cron now refused, say) must not
                // keep the server from starting: its workflow is left out until redeployed.
                match compile_row(row) {
                    Ok(d) => {
                        self.insert(d, true);
                    }
                    Err(e) => tracing::error!(error = %e, "deployed workflow left out"),
                }
            }
        }
        Ok(())
    }

    /// The latest version of a workflow, reading the database when this process has not seen
    /// it (deployed by another process).
    pub(crate) async fn latest_or_load(
        &self,
        db: Conn<'_>,
        workflow_id: &str,
    ) -> Result<Arc<Deployed>, Error> {
        if let Some(d) = self.latest(workflow_id) {
            return Ok(d);
        }
        let row = db
            .one::<workflow_version::Model>(
                &workflow_version::Entity::find()
                    .filter(workflow_version::Column::WorkflowId.eq(workflow_id))
                    .order_by_desc(workflow_version::Column::Version)
                    .limit(1),
            )
            .await?
            .ok_or_else(|| {
                Error::not_found("workflow_not_found", format!("workflow '{workflow_id}'"))
            })?;
        Ok(self.insert(compile_row(row)?, true))
    }
}

/// Versions in the database passed validation when deployed; failing to compile one now means
/// the stored text was altered.
pub(super) fn compile_row(row: workflow_version::Model) -> Result<Deployed, Error> {
    let wf = engine::definition::parse(&row.source)
        .map_err(|d| Error::Corrupt(format!("workflow version {}: {}", row.id, d.message)))?;
    let def = Definition::compile(wf)
        .map_err(|e| Error::Corrupt(format!("workflow version {}: {e}", row.id)))?;
    let templates = serde_json::from_str(&row.templates)
        .map_err(|e| Error::Corrupt(format!("templates of version {}: {e}", row.id)))?;
    Ok(Deployed::new(
        row.id,
        row.workflow_id,
        row.version,
        row.hash,
        def,
        templates,
    ))
}
