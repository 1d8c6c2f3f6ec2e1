//! Every workflow shipped in `workflows/` passes the validator with no error and no warning.

use std::path::Path;

use super::load::{Catalog, WorkflowFile, discover};
use super::validate::validate;

#[test]
fn shipped_workflows_are_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows");
    let files: Vec<WorkflowFile> = discover(&dir)
        .expect("workflows/ exists")
        .iter()
        .map(|p| WorkflowFile::load(p).unwrap_or_else(|e| panic!("{e:?}")))
        .collect();
    assert!(files.len() >= 3, "found {} workflows", files.len());
    let catalog = Catalog::new(files);
    let mut problems = Vec::new();
    for file in catalog.files() {
        let name = file.path.display().to_string();
        problems.extend(validate(file, &catalog).iter().map(|d| d.render(&name)));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
