//! Finding and reading workflow files, and the catalog of loaded workflows that cross-workflow
//! checks (`start_case`, `on_child`) look into.
//!
//! Discovery follows the convention `workflows/<id>/workflow.yaml`: a file argument is taken
//! as is; a folder yields every `workflow.yaml` in its subfolders (recursively, skipping
//! `scenarios/` and `templates/`), plus the `*.yaml` files directly inside it. Results are
//! sorted so that output is stable.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::model::Workflow;
use super::{Diagnostic, decode, parse};

/// Folders that hold files of a workflow that are not workflows.
const NOT_WORKFLOW_DIRS: [&str; 2] = ["scenarios", "templates"];

/// A parsed workflow with the text and path it came from.
#[derive(Debug)]
pub struct WorkflowFile {
    pub path: PathBuf,
    pub text: String,
    pub workflow: Workflow,
}

/// Why a file could not be turned into a `WorkflowFile`.
#[derive(Debug)]
pub enum LoadError {
    Io {
        path: PathBuf,
        error: io::Error,
    },
    /// The text is not a workflow; the diagnostic says where.
    Parse {
        path: PathBuf,
        diagnostic: Diagnostic,
    },
}

impl WorkflowFile {
    pub fn from_text(path: impl Into<PathBuf>, text: String) -> Result<Self, LoadError> {
        let path = path.into();
        match parse(&text) {
            Ok(workflow) => Ok(WorkflowFile {
                path,
                text,
                workflow,
            }),
            Err(diagnostic) => Err(LoadError::Parse { path, diagnostic }),
        }
    }

    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let bytes = fs::read(path).map_err(|error| LoadError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let text = decode(bytes).map_err(|diagnostic| LoadError::Parse {
            path: path.to_path_buf(),
            diagnostic,
        })?;
        Self::from_text(path, text)
    }

    /// The folder holding the workflow file (where `templates/` is looked for).
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

/// The workflow files designated by `path`: the file itself, or the files found in the folder.
pub fn discover(path: &Path) -> io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        // Surfaces "not found" with the path's own error.
        fs::metadata(path)?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    let skip_top = is_not_workflow_dir(path);
    for entry in sorted_entries(path)? {
        if entry.is_dir() {
            if !is_not_workflow_dir(&entry) {
                collect_workflow_yaml(&entry, &mut found)?;
            }
        } else if !skip_top && is_yaml(&entry) {
            found.push(entry);
        }
    }
    found.sort();
    Ok(found)
}

fn collect_workflow_yaml(dir: &Path, found: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in sorted_entries(dir)? {
        if entry.is_dir() {
            if !is_not_workflow_dir(&entry) {
                collect_workflow_yaml(&entry, found)?;
            }
        } else if entry.file_name().is_some_and(|n| n == "workflow.yaml") {
            found.push(entry);
        }
    }
    Ok(())
}

fn sorted_entries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut entries = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

fn is_yaml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

fn is_not_workflow_dir(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| NOT_WORKFLOW_DIRS.contains(&n))
}

/// The other workflows of the folder a conventionally placed file lives in
/// (`workflows/<id>/workflow.yaml` → every `workflows/*/workflow.yaml`), so that validating one
/// file can still check the children it starts.
pub fn siblings(path: &Path) -> Vec<PathBuf> {
    if path.file_name().is_none_or(|n| n != "workflow.yaml") {
        return Vec::new();
    }
    let Some(root) = path.parent().and_then(Path::parent) else {
        return Vec::new();
    };
    let root = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    let Ok(entries) = sorted_entries(root) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .map(|dir| dir.join("workflow.yaml"))
        .filter(|p| p.is_file())
        .collect()
}

/// All loaded workflows, by id. Several files may claim the same id; the validator reports it.
#[derive(Debug, Default)]
pub struct Catalog {
    files: Vec<WorkflowFile>,
    by_id: HashMap<String, Vec<usize>>,
}

impl Catalog {
    pub fn new(files: Vec<WorkflowFile>) -> Self {
        let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, f) in files.iter().enumerate() {
            by_id
                .entry(f.workflow.id.value.clone())
                .or_default()
                .push(i);
        }
        Catalog { files, by_id }
    }

    pub fn files(&self) -> &[WorkflowFile] {
        &self.files
    }

    /// The files, in the order they were given.
    pub fn into_files(self) -> Vec<WorkflowFile> {
        self.files
    }

    /// The first file loaded with this id.
    pub fn get(&self, id: &str) -> Option<&WorkflowFile> {
        self.by_id
            .get(id)
            .and_then(|ix| ix.first())
            .map(|&i| &self.files[i])
    }

    /// Files other than `path` that declare the same workflow id.
    pub fn others_with_id<'a>(&'a self, id: &str, path: &'a Path) -> Vec<&'a Path> {
        self.by_id
            .get(id)
            .into_iter()
            .flatten()
            .map(|&i| self.files[i].path.as_path())
            .filter(|p| *p != path)
            .collect()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.by_id.keys().map(String::as_str)
    }
}
