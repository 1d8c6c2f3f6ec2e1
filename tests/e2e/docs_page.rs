//! `docs/procedures.md` is generated from the shipped workflows and must not drift from them.

use crate::support::jalon;

#[test]
fn procedures_page_is_current() {
    let run = jalon(&["docs", "workflows"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let page = std::fs::read_to_string("docs/procedures.md").unwrap_or_default();
    assert!(
        page == run.stdout,
        "docs/procedures.md is stale: run `cargo run -- docs workflows > docs/procedures.md`"
    );
    // Every shipped workflow has its section, roles, deadlines and diagram.
    for entry in std::fs::read_dir("workflows").unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("workflow.yaml").is_file() {
            let id = dir.file_name().unwrap().to_str().unwrap().to_string();
            assert!(
                page.contains(&format!("Identifiant : `{id}`")),
                "{id} missing"
            );
        }
    }
    assert!(page.contains("```mermaid\nstateDiagram-v2"));
    assert!(page.contains("| Délai | État | Durée | À compter de | Fondement | À l'échéance |"));
}

/// The paths `ARCHITECTURE.md` names in backticks (files ending in `.rs`, folders ending in
/// `/`), unresolved, each with the folder of the `###` section it appears in: a section such
/// as "### `store/` (crate …)" names paths relative to that folder or to its `src/`.
fn map_paths(map: &str) -> Vec<(Option<String>, String)> {
    let mut section = None;
    let mut paths = Vec::new();
    for line in map.lines() {
        let spans: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
        if line.starts_with("### ") {
            section = spans
                .iter()
                .find(|s| s.ends_with('/'))
                .map(|s| s.to_string());
        }
        for span in spans {
            let is_path = span.ends_with(".rs") || span.ends_with('/');
            // `workflows/<id>/templates/`, `/api/v1/…` and globs are patterns, not paths.
            let pattern = span.starts_with('/') || span.contains(['<', '*', '{', ' ', '…']);
            if is_path && !pattern {
                paths.push((section.clone(), span.to_string()));
            }
        }
    }
    paths
}

/// Whether `path` exists from the repository root, from the section's folder or from its `src/`.
fn resolves(section: Option<&str>, path: &str) -> bool {
    let mut candidates = vec![std::path::PathBuf::from(path)];
    if let Some(dir) = section {
        candidates.push(std::path::Path::new(dir).join(path));
        candidates.push(std::path::Path::new(dir).join("src").join(path));
    }
    candidates.iter().any(|p| p.exists())
}

#[test]
fn every_path_the_architecture_map_names_exists() {
    let map = std::fs::read_to_string("ARCHITECTURE.md").expect("ARCHITECTURE.md at the root");
    let paths = map_paths(&map);
    assert!(paths.len() > 50, "the map names its modules: {paths:?}");
    let missing: Vec<String> = paths
        .iter()
        .filter(|(section, path)| !resolves(section.as_deref(), path))
        .map(|(section, path)| format!("`{path}` (section {section:?})"))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist; make the map match the code:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_map_check_reads_sections_and_skips_patterns() {
    let map = "### `store/` (crate)\n`batch.rs`, `workflows/<id>/templates/`, `/api/v1/`\n\
               ### `src/`\n`cli/nowhere.rs` and `engine/src/calendar/`\n";
    let paths = map_paths(map);
    assert_eq!(
        paths,
        vec![
            (Some("store/".to_string()), "store/".to_string()),
            (Some("store/".to_string()), "batch.rs".to_string()),
            (Some("src/".to_string()), "src/".to_string()),
            (Some("src/".to_string()), "cli/nowhere.rs".to_string()),
            (Some("src/".to_string()), "engine/src/calendar/".to_string()),
        ]
    );
    assert!(resolves(Some("store/"), "batch.rs"));
    assert!(!resolves(Some("src/"), "cli/nowhere.rs"));
    assert!(resolves(Some("src/"), "engine/src/calendar/"));
}

/// A coverage entry naming a timer the workflow does not have fails `jalon docs` (exit code 1),
/// naming the row and the timer, and prints no page; the shipped coverage passes.
#[test]
fn docs_fail_on_a_coverage_entry_naming_a_missing_timer() {
    let shipped = std::fs::read_to_string("docs/coverage.yaml").expect("docs/coverage.yaml");
    assert!(shipped.contains("timer: \"delai_reclamation\""));
    // The first reference of the incompatibility appeal, renamed to a timer that does not exist.
    let broken = shipped.replacen(
        "timer: \"delai_reclamation\"",
        "timer: \"delai_reclamation_inexistant\"",
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coverage.yaml");
    std::fs::write(&path, broken).unwrap();
    let run = jalon(&["docs", "workflows", "--coverage", path.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "no half page: {}", run.stdout);
    assert!(
        run.stderr
            .contains("timer `delai_reclamation_inexistant` does not exist"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("« Effect of the incompatibility letter »"),
        "{}",
        run.stderr
    );
    let ok = jalon(&["docs", "workflows"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("## Couverture des délais des textes"));
    assert!(ok.stdout.contains("**Total** : 88 lignes"));
}
