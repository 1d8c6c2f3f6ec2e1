//! Loading workflows for the commands that run them (`simulate`, `test`, `docs`): parsed,
//! validated against their siblings, and refused with the validator's messages when they have
//! errors, so that nothing runs a workflow `jalon validate` would reject.

use std::path::Path;

use engine::definition::load::{Catalog, LoadError, WorkflowFile, siblings};
use engine::machine::Definition;

use super::Failure;

fn render_load_error(e: LoadError) -> String {
    match e {
        LoadError::Parse { path, diagnostic } => diagnostic.render(&path.display().to_string()),
        LoadError::Io { path, error } => format!("cannot read {}: {error}", path.display()),
    }
}

fn read(path: &Path) -> Result<WorkflowFile, String> {
    WorkflowFile::load(path).map_err(render_load_error)
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
    let folder = crate::validation::load_folder(dir)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", dir.display())))?;
    if folder.checked.is_empty() && folder.unloadable.is_empty() {
        return Err(Failure::Usage(format!(
            "no workflow file found in {} (expected <id>/workflow.yaml)",
            dir.display()
        )));
    }
    if let Some(e) = folder.unloadable.into_iter().next() {
        return Err(Failure::Run(anyhow::anyhow!(render_load_error(e))));
    }
    let errors: Vec<String> = folder
        .checked
        .iter()
        .filter(|(_, report)| report.has_errors())
        .map(|(_, report)| report.render_errors())
        .collect();
    if !errors.is_empty() {
        return Err(Failure::Run(anyhow::anyhow!(errors.join("\n"))));
    }
    Ok(folder.checked.into_iter().map(|(file, _)| file).collect())
}
