//! Snapshots of the diagnostics for the broken fixtures (one mistake per file), and unit tests
//! of reachability and dataflow.

use std::path::{Path, PathBuf};

use super::{definitely_set, reachable, validate};
use crate::definition::load::{Catalog, LoadError, WorkflowFile, discover};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// The catalog every fixture is validated against: all valid and broken workflows that parse,
/// so that `start_case` fixtures can name the valid child.
fn catalog() -> (Catalog, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut unparsable = Vec::new();
    for dir in ["valid", "broken"] {
        for path in discover(&fixtures().join(dir)).expect("fixtures are readable") {
            match WorkflowFile::load(&path) {
                Ok(f) => files.push(f),
                Err(LoadError::Parse { path, diagnostic }) => {
                    unparsable.push((path, diagnostic.render("")))
                }
                Err(LoadError::Io { path, error }) => panic!("{}: {error}", path.display()),
            }
        }
    }
    (Catalog::new(files), unparsable)
}

/// The file's path relative to `tests/fixtures`, as the snapshots show it.
fn shown(path: &Path) -> String {
    path.strip_prefix(fixtures())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn rendered(file: &WorkflowFile, catalog: &Catalog) -> String {
    validate(file, catalog)
        .iter()
        .map(|d| d.render(&shown(&file.path)) + "\n")
        .collect()
}

#[test]
fn valid_fixtures_have_no_diagnostics() {
    let (catalog, unparsable) = catalog();
    assert!(
        unparsable
            .iter()
            .all(|(p, _)| !p.starts_with(fixtures().join("valid"))),
        "{unparsable:?}"
    );
    let valid: Vec<&WorkflowFile> = catalog
        .files()
        .iter()
        .filter(|f| f.path.starts_with(fixtures().join("valid")))
        .collect();
    assert_eq!(valid.len(), 2);
    for file in valid {
        assert_eq!(rendered(file, &catalog), "", "{}", file.path.display());
    }
}

/// One snapshot per broken fixture: the rendered diagnostics, as `jalon validate` prints them.
#[test]
fn broken_fixtures_snapshots() {
    let (catalog, unparsable) = catalog();
    let broken = fixtures().join("broken");
    let mut seen = 0;
    for file in catalog
        .files()
        .iter()
        .filter(|f| f.path.starts_with(&broken))
    {
        let name = file.path.file_stem().unwrap().to_string_lossy().to_string();
        let out = rendered(file, &catalog);
        assert!(!out.is_empty(), "{name} yields no diagnostic");
        insta::assert_snapshot!(name, out);
        seen += 1;
    }
    for (path, diagnostic) in &unparsable {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        insta::assert_snapshot!(name, format!("{}{diagnostic}\n", shown(path)));
        seen += 1;
    }
    assert!(seen >= 15, "only {seen} broken fixtures");
}
