//! Loading workflows for the commands that run them (`simulate`, `test`, `docs`): parsed,
//! validated against their siblings, and refused with the validator's messages when they have
//! errors, so that nothing runs a workflow `jalon validate` would reject.

use std::path::Path;

use engine::definition::load::{Catalog, LoadError, WorkflowFile, discover, siblings};
use engine::machine::Definition;

use super::Failure;

fn read(path: &Path) -> Result<WorkflowFile, String> {
    WorkflowFile::load(path).map_err(|e| match e {
        LoadError::Parse { path, diagnostic } => diagnostic.render(&path.display().to_string()),
        LoadError::Io { path, error } => format!("cannot read {}: {error}", path.display()),
    })
}

/// Every error of `file` and of its templates in the context of `catalog`, rendered (the
/// checks of `jalon validate` and of deployment); `Ok` when there is none.
fn check(file: &WorkflowFile, catalog: &Catalog) -> Result<(), String> {
    let report = crate::validation::check_on_disk(file, catalog);
    if report.has_errors() {
        Err(report.render_errors())
    } else {
        Ok(())
    }
}

/// Reads, validates (with the workflows next to it) and compiles one workflow file.
pub fn load_checked(path: &Path) -> Result<Definition, String> {
    let file = read(path)?;
    let mut files = vec![file];
    files.extend(siblings(path).iter().filter_map(|p| read(p).ok()));
    let catalog = Catalog::new(files);
    check(&catalog.files()[0], &catalog)?;
    let file = catalog.into_files().swap_remove(0);
    Definition::compile(file.workflow).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every workflow under `dir`, validated together; refused as a whole if one has errors.
pub fn load_all(dir: &Path) -> Result<Vec<WorkflowFile>, Failure> {
    let paths =
        discover(dir).map_err(|e| Failure::Usage(format!("cannot read {}: {e}", dir.display())))?;
    if paths.is_empty() {
        return Err(Failure::Usage(format!(
            "no workflow file found in {} (expected <id>/workflow.yaml)",
            dir.display()
        )));
    }
    let files = paths
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::Run(anyhow::anyhow!(e)))?;
    let catalog = Catalog::new(files);
    let errors: Vec<String> = catalog
        .files()
        .iter()
        .filter_map(|f| check(f, &catalog).err())
        .collect();
    if !errors.is_empty() {
        return Err(Failure::Run(anyhow::anyhow!(errors.join("\n"))));
    }
    Ok(catalog.into_files())
}
