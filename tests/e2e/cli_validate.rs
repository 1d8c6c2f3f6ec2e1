//! `jalon validate`, `jalon schema` and `jalon graph`: exit codes, diagnostic format, summary.

use std::path::PathBuf;

use crate::support::jalon;

fn fixture(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

#[test]
fn valid_workflows_exit_zero_with_a_summary() {
    let run = jalon(&["validate", &fixture("valid")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "checked 2 workflows: 0 errors, 0 warnings\n");
}

#[test]
fn one_file_is_checked_against_its_sibling_workflows() {
    // recours-exemple starts avis-exemple, found next to it.
    let run = jalon(&["validate", &fixture("valid/recours-exemple/workflow.yaml")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.stdout, "checked 1 workflow: 0 errors, 0 warnings\n");
}

#[test]
fn errors_exit_one_with_file_line_column_and_hint() {
    let path = fixture("broken/initial-state.yaml");
    let run = jalon(&["validate", &path]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "{path}:9:10: error[unknown-state]: `initial` names `ouvret`, which is not a state of this workflow"
        )
    );
    assert_eq!(lines[1], "  = hint: did you mean `ouvert`?");
    assert_eq!(
        lines.last(),
        Some(&"checked 1 workflow: 1 error, 0 warnings")
    );
}

#[test]
fn warnings_alone_exit_zero() {
    let run = jalon(&["validate", &fixture("broken/legal-basis.yaml")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains(": warning[missing-legal-basis]: "));
    assert!(
        run.stdout
            .ends_with("checked 1 workflow: 0 errors, 2 warnings\n")
    );
}

#[test]
fn a_folder_checks_every_workflow_and_counts_all_diagnostics() {
    let run = jalon(&["validate", &fixture("broken")]);
    assert_eq!(run.code, 1);
    let summary = run.stdout.lines().last().unwrap();
    assert!(summary.starts_with("checked 22 workflows: "), "{summary}");
    let errors = run.stdout.matches(": error[").count();
    let warnings = run.stdout.matches(": warning[").count();
    assert!(errors > 50 && warnings > 3);
    assert_eq!(
        summary,
        format!("checked 22 workflows: {errors} errors, {warnings} warnings")
    );
    // A file that does not parse is reported like the others.
    assert!(
        run.stdout
            .contains("yaml-error.yaml:3:1: error[yaml]: unknown field `titel`")
    );
}

#[test]
fn template_mistakes_point_at_the_template_file() {
    let dir = fixture("bad-templates/avis-modele/templates");
    let run = jalon(&["validate", &fixture("bad-templates")]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "{dir}/avis.html.hbs:3:1: error[template-syntax]: a block opened with `{{{{#...}}}}` is not closed: `{{{{/...}}}}` is missing"
            )
            .as_str(),
            "  = hint: check that every `{{` is closed and every block `{{#x}}` has its `{{/x}}`",
            format!(
                "{dir}/avis.text.hbs:3:38: error[template-unknown-variable]: `{{{{vars.motif}}}}`: `motif` is not a variable of the workflow"
            )
            .as_str(),
            "  = hint: did you mean `motifs`?",
            format!(
                "{dir}/avis.text.hbs:4:12: error[template-unknown-variable]: `{{{{deadline.lng}}}}`: `deadline` has no `lng`"
            )
            .as_str(),
            "  = hint: did you mean `long`?",
            "checked 1 workflow: 3 errors, 0 warnings",
        ]
    );
}

#[test]
fn shipped_workflows_and_their_templates_are_clean() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let run = jalon(&["validate", &root.display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.ends_with(": 0 errors, 0 warnings\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn unusable_arguments_exit_two() {
    let run = jalon(&["validate", &fixture("does-not-exist.yaml")]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with("error: cannot read "),
        "{}",
        run.stderr
    );

    let empty = tempfile::tempdir().unwrap();
    let run = jalon(&["validate", &empty.path().display().to_string()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no workflow file found"),
        "{}",
        run.stderr
    );

    let run = jalon(&["validate"]);
    assert_eq!(run.code, 2);
}

#[test]
fn checked_in_schema_is_current() {
    let run = jalon(&["schema"]);
    assert_eq!(run.code, 0);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("workflows/workflow.schema.json");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == run.stdout,
        "workflows/workflow.schema.json is stale: run `cargo run -- schema > workflows/workflow.schema.json`"
    );
}

#[test]
fn schema_is_a_described_draft_2020_12_schema() {
    let run = jalon(&["schema"]);
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    for key in [
        "id",
        "states",
        "initial",
        "start",
        "roles",
        "variables",
        "timers",
    ] {
        let prop = &schema["properties"][key];
        assert!(prop.is_object(), "no property {key}");
        assert!(prop["description"].is_string(), "{key} has no description");
    }
    let state = &schema["$defs"]["State"];
    assert!(state["properties"]["on"].is_object());
    assert_eq!(state["additionalProperties"], false);
    assert!(schema["$defs"]["Delay"]["properties"]["working_days"].is_object());
}

#[test]
fn graph_draws_mermaid_and_dot() {
    let path = fixture("valid/recours-exemple/workflow.yaml");
    let run = jalon(&["graph", &path, "--format", "mermaid"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("stateDiagram-v2\n"));
    assert!(run.stdout.contains("    [*] --> mention_notifiee\n"));
    assert!(
        run.stdout
            .contains("    mention_notifiee --> mention_definitive: ⏱ 10 jours de calendrier\n")
    );
    assert!(
        run.stdout
            .contains("    state \"Mention revue (fin)\" as mention_revue\n")
    );

    let run = jalon(&["graph", &path, "--format", "dot"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("digraph \"recours-exemple\" {\n"));
    assert!(
        run.stdout.contains(
            "\"reclamation_recue\" -> \"decision\" [label=\"↳ avis_rendu\", style=dotted];"
        )
    );
    assert!(run.stdout.ends_with("}\n"));

    let run = jalon(&["graph", &fixture("nope.yaml")]);
    assert_eq!(run.code, 2);
    let run = jalon(&["graph", &path, "--format", "svg"]);
    assert_eq!(run.code, 2);
}

#[test]
fn a_file_that_is_not_utf8_is_a_diagnostic_at_its_first_invalid_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.yaml");
    // "titre: Délai" in Latin-1: the é is byte 0xe9, line 2, column 9.
    std::fs::write(&path, b"id: latin1\ntitle: D\xe9lai\n").unwrap();
    let path = path.display().to_string();
    let run = jalon(&["validate", &path]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "{path}:2:9: error[invalid-encoding]: the file is not UTF-8 text: byte 0xe9 cannot start or continue a character"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines.last(),
        Some(&"checked 1 workflow: 1 error, 0 warnings")
    );
}

#[test]
fn a_duplicate_key_is_said_in_jalons_words() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twice.yaml");
    std::fs::write(&path, "id: twice\ntitle: A\ntitle: B\n").unwrap();
    let path = path.display().to_string();
    let run = jalon(&["validate", &path]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with(&format!(
            "{path}:3:1: error[yaml]: the key `title` is written twice in the same mapping\n  = hint: keep one of them"
        )),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("DuplicateKeyPolicy"), "{}", run.stdout);
}

#[test]
fn a_workflow_over_a_limit_names_the_limit_and_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("chaine");
    std::fs::create_dir(&folder).unwrap();
    let path = folder.join("workflow.yaml");
    let states = engine::definition::limits::MAX_STATES + 1;
    std::fs::write(&path, engine::definition::sample::chain(states)).unwrap();
    let run = jalon(&["validate", &path.display().to_string()]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(
            ": error[limit-exceeded]: the workflow goes over the limit `states`: {states} where at most 5000 are allowed"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("checked 1 workflow: 1 error, 0 warnings\n")
    );
}
