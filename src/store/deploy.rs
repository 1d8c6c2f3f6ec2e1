//! Deployment: a workflow (YAML and templates) becomes a stored version once it validates in
//! the context of the others. A changed text is a new version; running cases keep theirs; an
//! invalid text is refused with the validator's messages and the previous version stays.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use engine::definition::load::{Catalog, LoadError, WorkflowFile, discover};
use engine::definition::{Severity, validate};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::entities::workflow_version;
use super::registry::compile_row;
use super::{Error, Store};
use crate::clock::millis;

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

fn render_errors(file: &WorkflowFile, catalog: &Catalog) -> Option<String> {
    let name = file.path.display().to_string();
    let mut errors: Vec<String> = validate(file, catalog)
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.render(&name))
        .collect();
    // The templates too, as `jalon validate` checks them (a template the check refuses could
    // not render, or would put raw HTML in a notice).
    for (path, found) in notifiers::check::check_workflow_templates(file) {
        let path = path.display().to_string();
        let found = found.iter().filter(|d| d.severity == Severity::Error);
        errors.extend(found.map(|d| d.render(&path)));
    }
    (!errors.is_empty()).then(|| errors.join("\n"))
}

fn load_error(e: LoadError) -> (String, String) {
    match e {
        LoadError::Parse { path, diagnostic } => {
            let name = path.display().to_string();
            (name.clone(), diagnostic.render(&name))
        }
        LoadError::Io { path, error } => (
            path.display().to_string(),
            format!("cannot read {}: {error}", path.display()),
        ),
    }
}

impl Store {
    /// Deploys every workflow under `dir`, each validated with all the others; the invalid
    /// ones are refused (and reported), the valid ones deployed.
    pub async fn deploy_dir(
        &self,
        dir: &Path,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Report, Error> {
        let mut report = Report::default();
        let paths = discover(dir).map_err(|e| Error::Invalid {
            code: "workflows_unreadable",
            message: format!("cannot read {}: {e}", dir.display()),
        })?;
        let mut files = Vec::new();
        for p in paths {
            match WorkflowFile::load(&p) {
                Ok(f) => files.push(f),
                Err(e) => report.refused.push(load_error(e)),
            }
        }
        let catalog = Catalog::new(files);
        for file in catalog.files() {
            if let Some(errors) = render_errors(file, &catalog) {
                report
                    .refused
                    .push((file.path.display().to_string(), errors));
                continue;
            }
            let templates = read_templates(file.dir()).map_err(|e| Error::Invalid {
                code: "workflows_unreadable",
                message: format!("cannot read templates of {}: {e}", file.path.display()),
            })?;
            report
                .deployed
                .push(self.store_version(file, templates, by, now).await?);
        }
        Ok(report)
    }

    /// Deploys one workflow sent as text (the API): validated with the deployed workflows as
    /// its siblings, templates checked as files in a scratch folder like `jalon validate` does.
    pub async fn deploy_text(
        &self,
        source: String,
        templates: BTreeMap<String, String>,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Deployment, Error> {
        let scratch = tempfile::tempdir().map_err(|e| Error::Invalid {
            code: "deploy_failed",
            message: format!("no scratch folder: {e}"),
        })?;
        for name in templates.keys() {
            if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                return Err(Error::Invalid {
                    code: "invalid_template_name",
                    message: format!("template name '{name}' is not a plain file name"),
                });
            }
        }
        let write = |path: PathBuf, text: &str| {
            fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))
                .and_then(|()| fs::write(&path, text))
                .map_err(|e| Error::Invalid {
                    code: "deploy_failed",
                    message: format!("cannot write {}: {e}", path.display()),
                })
        };
        let path = scratch.path().join("workflow.yaml");
        write(path.clone(), &source)?;
        for (name, text) in &templates {
            write(
                scratch.path().join("templates").join(format!("{name}.hbs")),
                text,
            )?;
        }
        let file = WorkflowFile::from_text(&path, source).map_err(|e| Error::Invalid {
            code: "invalid_workflow",
            message: load_error(e).1,
        })?;
        let mut files = vec![file];
        for d in self.registry.all_latest() {
            if *d.def.id == *files[0].workflow.id.value {
                continue;
            }
            let row = workflow_version::Entity::find_by_id(d.version_id)
                .one(&self.db)
                .await?;
            if let Some(row) = row
                && let Ok(f) =
                    WorkflowFile::from_text(format!("deployed/{}", row.workflow_id), row.source)
            {
                files.push(f);
            }
        }
        let catalog = Catalog::new(files);
        if let Some(errors) = render_errors(&catalog.files()[0], &catalog) {
            return Err(Error::Invalid {
                code: "invalid_workflow",
                message: errors.replace(&scratch.path().display().to_string(), "<deployed>"),
            });
        }
        self.store_version(&catalog.files()[0], templates, by, now)
            .await
    }

    async fn store_version(
        &self,
        file: &WorkflowFile,
        templates: BTreeMap<String, String>,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Deployment, Error> {
        let workflow_id = file.workflow.id.value.clone();
        let digest = hash(&file.text, &templates);
        let txn = self.begin().await?;
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
            self.registry.version((&self.db).into(), id).await?;
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
            hash: Set(digest),
            title: Set(file.workflow.title.clone()),
            source: Set(file.text.clone()),
            templates: Set(serde_json::to_string(&templates).unwrap_or_default()),
            deployed_at: Set(millis(now)),
            deployed_by: Set(by.map(str::to_owned)),
            ..Default::default()
        };
        let row = workflow_version::Entity::insert(row)
            .exec_with_returning(&*txn)
            .await?;
        let deployed = compile_row(row.clone())?;
        txn.commit().await?;
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
