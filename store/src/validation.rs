//! The one check a workflow passes before anything runs or deploys it: the engine's validator,
//! in the context of the other workflows (limits first, then every static check), and the
//! static check of its notice templates (`notifiers::check`). `jalon validate`, the commands
//! that run workflows (`cli/workflows.rs`) and every deployment (`store::deploy`: the API and
//! the folder deployed at start) call `check`, so nothing is deployed that `jalon validate`
//! refuses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use engine::definition::limits::Exceeded;
use engine::definition::load::{Catalog, LoadError, WorkflowFile, discover};
use engine::definition::validate::validate_with_templates;
use engine::definition::{Diagnostic, Pos, Severity};

/// Template file name (`<name>.<part>.hbs`) → text.
pub type Templates = BTreeMap<String, String>;

/// The diagnostics of one workflow and of its templates, by the file they are about.
#[derive(Debug, Default)]
pub struct Report {
    /// The workflow file first, then each template file with findings, by name.
    pub files: Vec<(PathBuf, Vec<Diagnostic>)>,
}

impl Report {
    /// Every error, with the file it is about.
    pub fn errors(&self) -> impl Iterator<Item = (&Path, &Diagnostic)> {
        self.files.iter().flat_map(|(path, ds)| {
            ds.iter()
                .filter(|d| d.severity == Severity::Error)
                .map(move |d| (path.as_path(), d))
        })
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The errors as `jalon validate` prints them, one per line (hints on their own line).
    pub fn render_errors(&self) -> String {
        self.errors()
            .map(|(path, d)| d.render(&path.display().to_string()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first limit the workflow goes over, if any.
    pub fn exceeded(&self) -> Option<Exceeded> {
        self.errors()
            .find_map(|(_, d)| d.exceeded.as_deref().copied())
    }
}

/// Validates `file` (one of `catalog`'s files) with the templates given as file name → text,
/// said to live in `template_dir` (their diagnostics are reported under that folder).
pub fn check(
    file: &WorkflowFile,
    catalog: &Catalog,
    template_dir: &Path,
    templates: &Templates,
) -> Report {
    let names: BTreeSet<String> = templates.keys().cloned().collect();
    let found = validate_with_templates(file, catalog, &names);
    let over_limit = found.iter().any(|d| d.exceeded.is_some());
    let mut report = Report {
        files: vec![(file.path.clone(), found)],
    };
    // A workflow over a limit is not checked further: its templates would be read against a
    // model that may hold thousands of variables.
    if over_limit {
        return report;
    }
    let mut by_file: BTreeMap<String, Vec<Diagnostic>> = BTreeMap::new();
    for (name, d) in notifiers::check::check_sources(&file.workflow, templates) {
        by_file.entry(name).or_default().push(d);
    }
    report.files.extend(
        by_file
            .into_iter()
            .map(|(name, ds)| (template_dir.join(name), ds)),
    );
    report
}

/// The `templates/` folder next to a workflow file and its `*.hbs` files (none when there is
/// no such folder); a folder that cannot be read is a diagnostic about it.
pub fn read_templates(file: &WorkflowFile) -> (PathBuf, Result<Templates, Diagnostic>) {
    let dir = file.dir().join("templates");
    if !dir.is_dir() {
        return (dir, Ok(Templates::new()));
    }
    let read = notifiers::render::read_sources(&dir).map_err(|e| {
        Diagnostic::error("template-syntax", Pos { line: 1, column: 1 }, e.to_string())
    });
    (dir, read)
}

/// `check` with the templates read from the folder next to the workflow file.
pub fn check_on_disk(file: &WorkflowFile, catalog: &Catalog) -> Report {
    let (dir, templates) = read_templates(file);
    match templates {
        Ok(templates) => check(file, catalog, &dir, &templates),
        Err(d) => {
            let mut report = check(file, catalog, &dir, &Templates::new());
            report.files.push((dir, vec![d]));
            report
        }
    }
}

/// A folder of workflows (`<id>/workflow.yaml`), read and checked together.
#[derive(Debug, Default)]
pub struct Folder {
    /// Each file that parsed, with its report (`check_on_disk`, every other file that parsed
    /// as its siblings), in the order of `discover`.
    pub checked: Vec<(WorkflowFile, Report)>,
    /// The files that could not be read or parsed, in the same order.
    pub unloadable: Vec<LoadError>,
}

/// The one loader of workflow folders: the commands that run a folder (`cli/workflows.rs`)
/// and the deployment of the folder at start (`store::deploy`) read it here and differ only in
/// what they do with a refused file. `Err`: the folder itself cannot be listed.
pub fn load_folder(dir: &Path) -> std::io::Result<Folder> {
    let mut unloadable = Vec::new();
    let mut files = Vec::new();
    for path in discover(dir)? {
        match WorkflowFile::load(&path) {
            Ok(f) => files.push(f),
            Err(e) => unloadable.push(e),
        }
    }
    let catalog = Catalog::new(files);
    let reports: Vec<Report> = catalog
        .files()
        .iter()
        .map(|file| check_on_disk(file, &catalog))
        .collect();
    Ok(Folder {
        checked: catalog.into_files().into_iter().zip(reports).collect(),
        unloadable,
    })
}
