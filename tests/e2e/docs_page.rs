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
