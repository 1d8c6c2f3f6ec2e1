use std::collections::BTreeMap;
use std::path::Path;

use engine::definition::{Catalog, WorkflowFile, parse, validate};

use super::*;

/// The workflow the templates are checked against (a text and a date variable); shared
/// with the fuzzer.
pub(super) const WORKFLOW: &str = r#"
id: recours
title: Recours
legal_basis: "Art. 40"
roles: { secretariat: Secrétariat }
variables:
  ecole: { type: text }
  recue_le: { type: date }
start: { by: [secretariat], inputs: [ecole, recue_le] }
initial: ouvert
states:
  ouvert:
    label: Ouvert
    on:
      clore: { by: [secretariat], goto: clos }
  clos: { label: Clos, final: true }
"#;

fn check(files: &[(&str, &str)]) -> Vec<(String, Diagnostic)> {
    let wf = parse(WORKFLOW).unwrap();
    let sources: BTreeMap<String, String> = files
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    check_sources(&wf, &sources)
}

/// `file:line:column code` of each diagnostic.
fn brief(found: &[(String, Diagnostic)]) -> Vec<String> {
    found
        .iter()
        .map(|(f, d)| format!("{f}:{} {}", d.pos, d.code))
        .collect()
}

#[test]
fn a_correct_template_has_no_finding() {
    let found = check(&[
        ("n.subject.hbs", "Recours {{case.key}} : {{deadline.long}}"),
        (
            "n.text.hbs",
            "{{recipient.name}}, {{vars.ecole}} {{vars.recue_le}} {{vars.started_on}}\n\
             {{#if deadline}}{{deadline.explanation}} ({{deadline.legal_basis}}){{/if}}\n\
             {{long_date deadline.date}} {{@root.workflow.title}} {{this.state.label}}\n\
             {{#each vars}}{{@key}}: {{this}} {{anything}}{{/each}} {{! a comment }}",
        ),
        ("n.html.hbs", "<a href=\"{{task.url}}\">{{case.url}}</a>"),
    ]);
    assert_eq!(brief(&found), Vec::<String>::new(), "{found:?}");
}

/// Nesting that could exhaust the renderer's stack, partials (which can include each other or
/// themselves) and unescaped values in HTML are refused, each at its position.
#[test]
fn deep_nesting_partials_and_raw_html_are_refused() {
    let deep =
        "Bonjour\n".to_string() + &"{{#if vars.ecole}}".repeat(1000) + &"{{/if}}".repeat(1000);
    let found = check(&[
        ("n.subject.hbs", "Objet {{{vars.ecole}}}"),
        ("n.text.hbs", &deep),
        (
            "n.html.hbs",
            "<p>{{{vars.ecole}}}</p>\n{{#if vars.ecole}}{{&vars.ecole}}{{/if}}",
        ),
        (
            "m.subject.hbs",
            "{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}",
        ),
    ]);
    let column = "{{#if vars.ecole}}".len() * MAX_DEPTH + 1;
    assert_eq!(
        brief(&found),
        [
            "m.subject.hbs:1:1 template-syntax".to_string(),
            "m.subject.hbs:1:35 template-syntax".to_string(),
            "n.html.hbs:1:4 template-raw-html".to_string(),
            "n.html.hbs:2:19 template-raw-html".to_string(),
            format!("n.text.hbs:2:{column} template-too-deep"),
        ],
        "{found:?}"
    );
    let deep = &found[4].1;
    assert!(
        deep.message.contains("more than 16 deep"),
        "{}",
        deep.message
    );
}

#[test]
fn unknown_variables_are_found_with_their_position() {
    let found = check(&[
        ("n.subject.hbs", "Objet {{vars.ecol}}"),
        (
            "n.text.hbs",
            "Bonjour,\n\n{{#if vars.motifs}}  {{dossier.key}}{{/if}}\n{{deadline.lng}} {{vars.ecole.nom}}\n{{long_date vars.inconnue}}",
        ),
    ]);
    assert_eq!(
        brief(&found),
        [
            "n.subject.hbs:1:7 template-unknown-variable",
            "n.text.hbs:3:1 template-unknown-variable",
            "n.text.hbs:3:22 template-unknown-variable",
            "n.text.hbs:4:1 template-unknown-variable",
            "n.text.hbs:4:18 template-unknown-variable",
            "n.text.hbs:5:1 template-unknown-variable",
        ]
    );
    let messages: Vec<(&str, Option<&str>)> = found
        .iter()
        .map(|(_, d)| (d.message.as_str(), d.hint.as_deref()))
        .collect();
    assert_eq!(
        messages[0],
        (
            "`{{vars.ecol}}`: `ecol` is not a variable of the workflow",
            Some("did you mean `ecole`?")
        )
    );
    assert_eq!(
        messages[1].0,
        "`{{vars.motifs}}`: `motifs` is not a variable of the workflow"
    );
    assert_eq!(
        messages[2].0,
        "`{{dossier.key}}`: the notice context has no `dossier`"
    );
    assert_eq!(
        messages[3],
        (
            "`{{deadline.lng}}`: `deadline` has no `lng`",
            Some("did you mean `long`?")
        )
    );
    assert_eq!(
        messages[4].0,
        "`{{vars.ecole.nom}}`: `vars.ecole` is a single value, it has no `nom`"
    );
    assert_eq!(
        messages[5].0,
        "`{{vars.inconnue}}`: `inconnue` is not a variable of the workflow"
    );
}

#[test]
fn syntax_errors_unknown_helpers_and_bad_names() {
    let found = check(&[
        ("n.subject.hbs", "Objet"),
        ("n.text.hbs", "Bonjour\n{{#if vars.ecole}}oui"),
        ("m.text.hbs", "{{upper vars.ecole}} {{> signature}}"),
        ("Notice.txt.hbs", "x"),
    ]);
    let codes = brief(&found);
    assert_eq!(
        codes,
        [
            "Notice.txt.hbs:1:1 template-file-name",
            "m.text.hbs:1:1 template-unknown-helper",
            "m.text.hbs:1:22 template-syntax",
            "n.text.hbs:2:22 template-syntax",
        ],
        "{found:?}"
    );
}

/// The codes emitted here are documented in docs/diagnostics.md (the engine's test checks
/// the whole table against the validator's and this module's source).
#[test]
fn codes_are_documented() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/diagnostics.md"),
    )
    .unwrap();
    for code in [
        "template-syntax",
        "template-unknown-variable",
        "template-unknown-helper",
        "template-file-name",
        "template-too-deep",
        "template-raw-html",
    ] {
        assert!(doc.contains(&format!("| `{code}` |")), "{code}");
    }
}

/// The shipped workflows' templates are clean; a mistake in a copy of one is found in its
/// file, with the path `jalon validate` prints.
#[test]
fn shipped_templates_are_clean_and_a_broken_copy_is_not() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows");
    let mut checked = 0;
    for path in engine::definition::load::discover(&root).unwrap() {
        let file = WorkflowFile::load(&path).unwrap();
        assert_eq!(
            check_workflow_templates(&file),
            Vec::new(),
            "{}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 10);

    let dir = tempfile::tempdir().unwrap();
    let wf_dir = dir.path().join("recours");
    std::fs::create_dir_all(wf_dir.join("templates")).unwrap();
    std::fs::write(wf_dir.join("workflow.yaml"), WORKFLOW).unwrap();
    std::fs::write(wf_dir.join("templates/n.subject.hbs"), "Objet").unwrap();
    std::fs::write(wf_dir.join("templates/n.text.hbs"), "{{vars.ecol}}").unwrap();
    let file = WorkflowFile::load(&wf_dir.join("workflow.yaml")).unwrap();
    // The validator itself does not read templates' content.
    assert!(validate(&file, &Catalog::default()).is_empty());
    let found = check_workflow_templates(&file);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, wf_dir.join("templates/n.text.hbs"));
    assert_eq!(found[0].1[0].code, "template-unknown-variable");
}
