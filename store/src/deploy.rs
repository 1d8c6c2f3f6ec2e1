//! Deployment: a workflow (YAML and templates) becomes a stored version once it passes
//! `validation::check` (the checks of `jalon validate`, templates included) in the context of
//! the others. A changed text is a new version; running cases keep theirs; an invalid text is
//! refused with the diagnostics and the previous version stays.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use chrono::{DateTime, Utc};
use engine::definition::load::{Catalog, LoadError, WorkflowFile};
use engine::machine::Definition;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Statement,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::entities::workflow_version;
use super::{Deployed, Error, Store};
use crate::clock::millis;
use crate::validation::{self, Report as Checks, Templates};

#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub workflow_id: String,
    pub version: i32,
    pub version_id: i64,
    /// `false` when the text was already the latest version.
    pub changed: bool,
}

#[derive(Debug, Serialize, Default)]
pub struct Report {
    pub deployed: Vec<Deployment>,
    /// Path (or workflow id) → the validator's rendered messages.
    pub refused: Vec<(String, String)>,
}

/// The templates next to a workflow file: `templates/<name>.<part>.hbs` → `<name>.<part>`.
pub fn read_templates(workflow_dir: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let dir = workflow_dir.join("templates");
    if !dir.is_dir() {
        return Ok(out);
    }
    for entry in fs::read_dir(&dir)? {
        let path = entry?.path();
        if let Some(name) = path.file_name().and_then(|n| n.to_str())
            && let Some(stem) = name.strip_suffix(".hbs")
        {
            out.insert(stem.to_owned(), fs::read_to_string(&path)?);
        }
    }
    Ok(out)
}

fn hash(source: &str, templates: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    for (k, v) in templates {
        h.update([0]);
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The name a deployed text's diagnostics give it (there is no file).
const DEPLOYED: &str = "<deployed>/workflow.yaml";

/// A refusal with the report's errors: `limit_exceeded` (with the limit, its maximum and the
/// value) when the workflow goes over a limit, else `invalid_workflow`; the details list every
/// error with its file, line, column and code.
fn refused(report: &Checks) -> Error {
    let diagnostics: Vec<serde_json::Value> = report
        .errors()
        .map(|(path, d)| {
            serde_json::json!({
                "file": path.display().to_string(),
                "line": d.pos.line,
                "column": d.pos.column,
                "severity": "error",
                "code": d.code,
                "message": d.message,
                "hint": d.hint,
            })
        })
        .collect();
    let (code, mut details) = match report.exceeded() {
        Some(e) => (
            "limit_exceeded",
            serde_json::json!({ "limit": e.limit, "max": e.max, "value": e.value }),
        ),
        None => ("invalid_workflow", serde_json::json!({})),
    };
    details["diagnostics"] = serde_json::Value::Array(diagnostics);
    Error::Rejected {
        code,
        message: report.render_errors(),
        details,
    }
}

/// A file that did not parse, as a report of its one diagnostic.
fn load_report(e: LoadError) -> Result<Checks, Error> {
    match e {
        LoadError::Parse { path, diagnostic } => Ok(Checks {
            files: vec![(path, vec![diagnostic])],
        }),
        LoadError::Io { path, error } => Err(Error::Invalid {
            code: "workflows_unreadable",
            message: format!("cannot read {}: {error}", path.display()),
        }),
    }
}

/// A workflow that passed `validation::check`, compiled, with its templates as stored
/// (`<name>.<part>` → text).
struct Checked {
    workflow_id: String,
    title: String,
    text: String,
    def: Definition,
    templates: BTreeMap<String, String>,
}

fn compile(file: WorkflowFile, templates: BTreeMap<String, String>) -> Result<Checked, Error> {
    let WorkflowFile {
        path,
        text,
        workflow,
    } = file;
    let (workflow_id, title) = (workflow.id.value.clone(), workflow.title.clone());
    let def = Definition::compile(workflow).map_err(|e| Error::Invalid {
        code: "invalid_workflow",
        message: format!("{}: {e}", path.display()),
    })?;
    Ok(Checked {
        workflow_id,
        title,
        text,
        def,
        templates,
    })
}

/// Path → the rendered errors of each refused workflow.
type Refused = Vec<(String, String)>;

/// Every workflow under `dir`, checked with the others: the ones that pass, compiled, and the
/// refused ones with their rendered errors. CPU-bound and reads files: a blocking thread's work.
fn check_dir(dir: &Path) -> Result<(Vec<Checked>, Refused), Error> {
    let folder = validation::load_folder(dir).map_err(|e| Error::Invalid {
        code: "workflows_unreadable",
        message: format!("cannot read {}: {e}", dir.display()),
    })?;
    let mut refused = Vec::new();
    for e in folder.unloadable {
        let path = match &e {
            LoadError::Parse { path, .. } | LoadError::Io { path, .. } => path.clone(),
        };
        let rendered = match load_report(e) {
            Ok(report) => report.render_errors(),
            Err(unreadable) => unreadable.to_string(),
        };
        refused.push((path.display().to_string(), rendered));
    }
    let mut checked = Vec::new();
    for (file, report) in folder.checked {
        if report.has_errors() {
            refused.push((file.path.display().to_string(), report.render_errors()));
            continue;
        }
        let templates = read_templates(file.dir()).map_err(|e| Error::Invalid {
            code: "workflows_unreadable",
            message: format!("cannot read templates of {}: {e}", file.path.display()),
        })?;
        checked.push(compile(file, templates)?);
    }
    Ok((checked, refused))
}

/// Parses, validates (with `siblings`, the other deployed workflows' texts) and compiles a
/// text sent to the API. CPU-bound: run off the threads that answer requests.
fn check_text(
    source: String,
    templates: BTreeMap<String, String>,
    siblings: Vec<(String, String)>,
) -> Result<Checked, Error> {
    let file = match WorkflowFile::from_text(DEPLOYED, source) {
        Ok(file) => file,
        Err(e) => return Err(refused(&load_report(e)?)),
    };
    let own = file.workflow.id.value.clone();
    let mut files = vec![file];
    files.extend(
        siblings
            .into_iter()
            .filter(|(id, _)| *id != own)
            .filter_map(|(id, text)| WorkflowFile::from_text(format!("deployed/{id}"), text).ok()),
    );
    let catalog = Catalog::new(files);
    let sources: Templates = templates
        .iter()
        .map(|(name, text)| (format!("{name}.hbs"), text.clone()))
        .collect();
    let dir = Path::new(DEPLOYED).with_file_name("templates");
    let report = validation::check(&catalog.files()[0], &catalog, &dir, &sources);
    if report.has_errors() {
        return Err(refused(&report));
    }
    let file = catalog.into_files().swap_remove(0);
    compile(file, templates)
}

impl Store {
    /// Deploys every workflow under `dir`, each validated with all the others and with its
    /// templates (`validation::check`, as `jalon validate`); the invalid ones are refused (and
    /// reported), the valid ones deployed.
    pub async fn deploy_dir(
        &self,
        dir: &Path,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Report, Error> {
        let dir = dir.to_path_buf();
        let (checked, refused) = tokio::task::spawn_blocking(move || check_dir(&dir))
            .await
            .map_err(|e| Error::Corrupt(format!("deployment check failed: {e}")))??;
        let mut report = Report {
            refused,
            ..Report::default()
        };
        for c in checked {
            report.deployed.push(self.store_version(c, by, now).await?);
        }
        Ok(report)
    }

    /// Deploys one workflow sent as text (the API): validated with the deployed workflows as
    /// its siblings and with its templates, exactly as `jalon validate` checks a folder. Parsing,
    /// checking and compiling run on a blocking thread: a large text must not hold up the
    /// threads that answer other requests.
    pub async fn deploy_text(
        &self,
        source: String,
        templates: BTreeMap<String, String>,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Deployment, Error> {
        let mut siblings = Vec::new();
        for d in self.registry.all_latest() {
            let row = workflow_version::Entity::find_by_id(d.version_id)
                .one(&self.db)
                .await?;
            if let Some(row) = row {
                siblings.push((row.workflow_id, row.source));
            }
        }
        // One check at a time per process: on a small machine, several large deploys at once
        // would still take every core from the requests.
        let _turn = API_CHECKS
            .acquire()
            .await
            .map_err(|e| Error::Corrupt(format!("deployment checks closed: {e}")))?;
        let checked = tokio::task::spawn_blocking(move || check_text(source, templates, siblings))
            .await
            .map_err(|e| Error::Corrupt(format!("deployment check failed: {e}")))??;
        self.store_version(checked, by, now).await
    }

    /// Stores a checked workflow as its next version, or finds that the latest version is
    /// already this text. Deployments of one workflow are serialised: on PostgreSQL by an
    /// advisory lock held until the transaction ends (several `jalon serve` deploying at start,
    /// or a rolling restart, read the same latest version and inserted the same next one: a
    /// unique violation); on SQLite the write transaction (`BEGIN IMMEDIATE`) already holds
    /// the database's one write lock. So a concurrent deploy of the same text sees the first
    /// one's row and answers "same version".
    async fn store_version(
        &self,
        c: Checked,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Deployment, Error> {
        let workflow_id = c.workflow_id.clone();
        let digest = hash(&c.text, &c.templates);
        let txn = self.begin().await?;
        if self.backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                [DEPLOY_LOCK.into(), workflow_id.clone().into()],
            ))
            .await?;
        }
        let latest = workflow_version::Entity::find()
            .filter(workflow_version::Column::WorkflowId.eq(&workflow_id))
            .order_by_desc(workflow_version::Column::Version)
            .one(&*txn)
            .await?;
        if let Some(l) = &latest
            && l.hash == digest
        {
            txn.commit().await?;
            let (id, version) = (l.id, l.version);
            if self
                .registry
                .latest(&workflow_id)
                .is_none_or(|d| d.version_id != id)
            {
                let d = Deployed::new(id, workflow_id.clone(), version, digest, c.def, c.templates);
                self.registry.insert(d, false);
            }
            return Ok(Deployment {
                workflow_id,
                version,
                version_id: id,
                changed: false,
            });
        }
        let version = latest.map_or(1, |l| l.version + 1);
        let row = workflow_version::ActiveModel {
            workflow_id: Set(workflow_id.clone()),
            version: Set(version),
            hash: Set(digest.clone()),
            title: Set(c.title),
            source: Set(c.text),
            templates: Set(serde_json::to_string(&c.templates).unwrap_or_default()),
            deployed_at: Set(millis(now)),
            deployed_by: Set(by.map(str::to_owned)),
            ..Default::default()
        };
        let row = workflow_version::Entity::insert(row)
            .exec_with_returning(&*txn)
            .await?;
        txn.commit().await?;
        let deployed = Deployed::new(
            row.id,
            workflow_id.clone(),
            version,
            digest,
            c.def,
            c.templates,
        );
        self.registry.insert(deployed, true);
        tracing::info!(workflow = %workflow_id, version, "workflow deployed");
        Ok(Deployment {
            workflow_id,
            version,
            version_id: row.id,
            changed: true,
        })
    }
}

/// The API's deployment checks run one at a time (`deploy_text`).
static API_CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// The class of the advisory locks that serialise deployments, one lock per workflow id
/// (`hashtext(id)`); two-key advisory locks never meet the one-key lock of migrations.
const DEPLOY_LOCK: i32 = 0x6a64_706c;
