//! `jalon validate PATH...`: every mistake of the workflows and of their notice templates, as
//! `file:line:column` diagnostics, then one summary line. Exit 0 without errors (warnings
//! allowed), 1 with errors (a file that is not UTF-8 included), 2 when the arguments designate
//! no workflow. The checks are `validation::check`, the same that deployment runs.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Args;
use engine::definition::load::{Catalog, LoadError, WorkflowFile, discover, siblings};
use engine::definition::{Diagnostic, Severity};

use super::Failure;

#[derive(Args)]
pub struct ValidateArgs {
    /// Workflow files, or folders searched for `*/workflow.yaml` (e.g. `workflows/`).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

pub fn run(a: ValidateArgs) -> Result<(), Failure> {
    let mut named = Vec::new();
    for path in &a.paths {
        let found = discover(path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
        if found.is_empty() {
            return Err(Failure::Usage(format!(
                "no workflow file found in {} (expected <id>/workflow.yaml)",
                path.display()
            )));
        }
        named.extend(found);
    }
    let mut seen = BTreeSet::new();
    named.retain(|p| seen.insert(p.clone()));

    // Workflows next to the named ones are loaded too, silently, so that `start_case` and
    // `on_child` can be checked when a single file is validated.
    let mut context: Vec<PathBuf> = named.iter().flat_map(|p| siblings(p)).collect();
    context.retain(|p| !named.iter().any(|n| same_file(n, p)) && seen.insert(p.clone()));

    let mut files = Vec::new();
    let mut reports: Vec<(PathBuf, Vec<Diagnostic>)> = Vec::new();
    for path in &named {
        match WorkflowFile::load(path) {
            Ok(f) => files.push(f),
            Err(LoadError::Parse { path, diagnostic }) => reports.push((path, vec![diagnostic])),
            Err(LoadError::Io { path, error }) => {
                return Err(Failure::Usage(format!(
                    "cannot read {}: {error}",
                    path.display()
                )));
            }
        }
    }
    let checked = files.len();
    files.extend(context.iter().filter_map(|p| WorkflowFile::load(p).ok()));
    let catalog = Catalog::new(files);
    // Several workflow files in one folder share its `templates/`: report a template once.
    let mut templates_seen = BTreeSet::new();
    for file in &catalog.files()[..checked] {
        for (path, diagnostics) in crate::validation::check_on_disk(file, &catalog).files {
            if path == file.path || templates_seen.insert(path.clone()) {
                reports.push((path, diagnostics));
            }
        }
    }
    reports.sort_by(|a, b| a.0.cmp(&b.0));

    let (mut errors, mut warnings) = (0, 0);
    for (path, diagnostics) in &reports {
        for d in diagnostics {
            match d.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
            println!("{}", d.render(&path.display().to_string()));
        }
    }
    println!(
        "checked {}: {}, {}",
        plural(named.len(), "workflow"),
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    if errors > 0 {
        return Err(Failure::Run(anyhow::anyhow!(
            "the workflows have {}",
            plural(errors, "error")
        )));
    }
    Ok(())
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
