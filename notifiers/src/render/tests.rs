use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use engine::calendar::{Calendar, Length, Unit};
use serde_json::{Map, Value, json};

use super::*;
use crate::context::NoticeContext;

fn set(files: &[(&str, &str)]) -> TemplateSet {
    TemplateSet::from_sources(
        files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
    .unwrap()
}

fn vars(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// A notice context with a 10-working-day deadline from Monday 21 December 2026.
fn context() -> Value {
    let deadline = Calendar::fwb()
        .deadline(
            NaiveDate::from_ymd_opt(2026, 12, 21).unwrap(),
            None,
            Some(Length::new(10, Unit::WorkingDays)),
        )
        .unwrap();
    NoticeContext::new("Recours", "17", "REC-2026-017", "Réclamation reçue")
        .workflow_id("recours")
        .workflow_legal_basis("Décret du 13 septembre 2018, art. 40")
        .variables(
            &vars(&[
                ("recue_le", json!("2027-02-01")),
                ("ecole", json!("École <Les Tilleuls> & Cie")),
                ("votes", json!(3)),
            ]),
            ["recue_le"],
        )
        .declared(["recue_le", "ecole", "votes", "motifs"])
        .deadline(&deadline, None)
        .recipient("Marie Dupont", "marie.dupont@example.be")
        .base_url("https://jalon.example.be/")
        .task("avis")
        .build()
}

#[test]
fn dates_read_as_long_french_dates() {
    let t = set(&[
        (
            "n.subject.hbs",
            "Réponse attendue au plus tard le {{deadline.long}}\n",
        ),
        (
            "n.text.hbs",
            "Reçue le {{vars.recue_le}} ; échéance {{deadline.date}} = {{long_date deadline.date}}.",
        ),
    ]);
    let r = t.render("n", &context()).unwrap();
    // 10 working days from Monday 21 December 2026: Christmas and New Year's Day are skipped.
    assert_eq!(
        r.subject,
        "Réponse attendue au plus tard le mercredi 6 janvier 2027"
    );
    assert_eq!(
        r.text,
        "Reçue le lundi 1er février 2027 ; échéance 2027-01-06 = mercredi 6 janvier 2027."
    );
    assert_eq!(r.html, None);
}

#[test]
fn the_context_has_the_documented_shape() {
    let c = context();
    assert_eq!(c["workflow"]["id"], "recours");
    assert_eq!(c["workflow"]["title"], "Recours");
    assert_eq!(c["case"]["key"], "REC-2026-017");
    assert_eq!(c["case"]["url"], "https://jalon.example.be/cases/17");
    assert_eq!(
        c["task"]["url"],
        "https://jalon.example.be/cases/17/tasks/avis"
    );
    assert_eq!(c["state"]["label"], "Réclamation reçue");
    assert_eq!(c["vars"]["votes"], 3);
    assert_eq!(c["vars"]["motifs"], Value::Null);
    assert_eq!(c["recipient"]["email"], "marie.dupont@example.be");
    // No article of its own: the workflow's.
    assert_eq!(
        c["deadline"]["legal_basis"],
        "Décret du 13 septembre 2018, art. 40"
    );
    let explanation = c["deadline"]["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("Noël (jour férié légal)"),
        "{explanation}"
    );
    assert_eq!(
        explanation.lines().last().unwrap(),
        "Échéance : 2027-01-06 (mercredi 6 janvier 2027), jusqu'à la fin de ce jour (heure de Bruxelles)."
    );
    let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    let known: Vec<&str> = crate::context::KNOWN_KEYS.iter().map(|(k, _)| *k).collect();
    for k in keys {
        assert!(known.contains(&k), "{k} is not in KNOWN_KEYS");
    }
}

#[test]
fn a_missing_value_is_an_error_with_its_position() {
    let t = set(&[
        ("n.subject.hbs", "Objet"),
        (
            "n.text.hbs",
            "Bonjour,\n\nL'école {{vars.ecole}} a reçu {{vars.recu_le}}.\n",
        ),
    ]);
    let e = t.render("n", &context()).unwrap_err();
    assert_eq!(e.file, "n.text.hbs");
    assert_eq!((e.line, e.column), (Some(3), Some(31)));
    assert!(e.message.contains("vars.recu_le"), "{}", e.message);
    assert!(
        e.to_string().starts_with("n.text.hbs:3:31: "),
        "{}",
        e.to_string()
    );
}

#[test]
fn a_declared_unset_variable_renders_empty_and_is_false() {
    let t = set(&[
        ("n.subject.hbs", "Objet"),
        (
            "n.text.hbs",
            "[{{vars.motifs}}]{{#if vars.motifs}} motifs{{else}} sans motifs{{/if}}",
        ),
    ]);
    assert_eq!(t.render("n", &context()).unwrap().text, "[] sans motifs");
}

#[test]
fn a_notice_without_deadline_can_test_for_it() {
    let t = set(&[
        ("n.subject.hbs", "Objet"),
        (
            "n.text.hbs",
            "Expirée{{#if deadline.long}} le {{deadline.long}}{{/if}}.",
        ),
    ]);
    let mut c = context();
    assert_eq!(
        t.render("n", &c).unwrap().text,
        "Expirée le mercredi 6 janvier 2027."
    );
    c.as_object_mut().unwrap().remove("deadline");
    assert_eq!(t.render("n", &c).unwrap().text, "Expirée.");
}

#[test]
fn html_is_escaped_and_text_is_not() {
    let t = set(&[
        ("n.subject.hbs", "Dossier {{vars.ecole}}"),
        ("n.text.hbs", "École : {{vars.ecole}}"),
        ("n.html.hbs", "<p>École : {{vars.ecole}}</p>"),
    ]);
    let r = t.render("n", &context()).unwrap();
    assert_eq!(r.subject, "Dossier École <Les Tilleuls> & Cie");
    assert_eq!(r.text, "École : École <Les Tilleuls> & Cie");
    assert_eq!(
        r.html.as_deref(),
        Some("<p>École : École &lt;Les Tilleuls&gt; &amp; Cie</p>")
    );
}

#[test]
fn the_subject_is_one_line() {
    let t = set(&[
        ("n.subject.hbs", "Réclamation\n  reçue  {{case.key}}\n"),
        ("n.text.hbs", "x"),
    ]);
    assert_eq!(
        t.render("n", &context()).unwrap().subject,
        "Réclamation reçue REC-2026-017"
    );
}

#[test]
fn long_date_refuses_what_is_not_a_date() {
    let t = set(&[
        ("n.subject.hbs", "{{long_date vars.ecole}}"),
        ("n.text.hbs", "x"),
    ]);
    let e = t.render("n", &context()).unwrap_err();
    assert_eq!(e.file, "n.subject.hbs");
    assert!(e.message.contains("YYYY-MM-DD"), "{}", e.message);
    let t = set(&[
        ("n.subject.hbs", "{{long_date vars.nothing}}"),
        ("n.text.hbs", "x"),
    ]);
    let e = t.render("n", &context()).unwrap_err();
    assert!(e.message.contains("vars.nothing"), "{}", e.message);
}

#[test]
fn syntax_errors_name_the_file_and_position() {
    let sources: BTreeMap<String, String> = [
        ("n.subject.hbs", "Objet"),
        ("n.text.hbs", "Bonjour\n{{#if vars.x}}oui\n"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    match TemplateSet::from_sources(sources).unwrap_err() {
        LoadError::Syntax { file, line, .. } => {
            assert_eq!(file, "n.text.hbs");
            assert!(line >= 2, "line {line}");
        }
        other => panic!("{other:?}"),
    }
    let bad_name: BTreeMap<String, String> =
        [("Notice.text.hbs".to_string(), "x".to_string())].into();
    assert_eq!(
        TemplateSet::from_sources(bad_name).unwrap_err(),
        LoadError::FileName {
            file: "Notice.text.hbs".into()
        }
    );
}

#[test]
fn a_missing_part_fails_at_rendering() {
    let t = set(&[("n.text.hbs", "x")]);
    let e = t.render("n", &context()).unwrap_err();
    assert_eq!(e.file, "n.subject.hbs");
    assert!(t.render("absent", &context()).is_err());
}

/// Every shipped template renders against a full context of its workflow's variables.
#[test]
fn every_shipped_template_renders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows");
    let mut rendered = 0;
    for path in engine::definition::load::discover(&root).unwrap() {
        let file = engine::definition::WorkflowFile::load(&path).unwrap();
        let def = engine::machine::Definition::compile(file.workflow).unwrap();
        let templates = TemplateSet::load_dir(&path.parent().unwrap().join("templates")).unwrap();
        let values: engine::machine::Variables = def
            .variables
            .iter()
            .filter_map(|(name, v)| {
                let (key, _) = def.var(name)?;
                let value = match v.ty {
                    engine::definition::VarType::Date => {
                        engine::machine::Value::Date(NaiveDate::from_ymd_opt(2027, 3, 1).unwrap())
                    }
                    engine::definition::VarType::Integer => engine::machine::Value::Integer(4),
                    engine::definition::VarType::Boolean => engine::machine::Value::Boolean(true),
                    _ => engine::machine::Value::Text(format!("<{name}>").into()),
                };
                Some((key.clone(), value))
            })
            .collect();
        let deadline = Calendar::fwb()
            .deadline(
                NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
                None,
                Some(Length::new(20, Unit::WorkingDays)),
            )
            .unwrap();
        let context = NoticeContext::new(&def.title, "1", "K-1", "État")
            .case_variables(&def, &values)
            .deadline(&deadline, Some("art. 1"))
            .recipient("Marie Dupont", "m@example.be")
            .base_url("https://jalon.example.be")
            .build();
        for (name, v) in &def.variables {
            if v.ty == engine::definition::VarType::Date {
                assert_eq!(context["vars"][name], "lundi 1er mars 2027", "{name}");
            }
        }
        for name in templates.names() {
            let r = templates
                .render(name, &context)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!r.subject.is_empty() && !r.text.is_empty(), "{name}");
            rendered += 1;
        }
    }
    assert!(rendered > 50, "{rendered} templates");
}

fn sources(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn nested(depth: usize) -> String {
    "{{#if case}}".repeat(depth) + "x" + &"{{/if}}".repeat(depth)
}

/// A thousand nested blocks used to overflow the stack of the thread that rendered them (the
/// process aborted); now the text is refused before the parser, at the block too deep.
#[test]
fn templates_nested_too_deep_are_refused_at_the_block_that_goes_too_deep() {
    let deep = nested(1000);
    let e = TemplateSet::from_sources(sources(&[("n.subject.hbs", "x"), ("n.text.hbs", &deep)]))
        .unwrap_err();
    let column = "{{#if case}}".len() * MAX_DEPTH + 1;
    assert_eq!(
        e,
        LoadError::TooDeep {
            file: "n.text.hbs".into(),
            line: 1,
            column
        }
    );
    assert!(e.to_string().contains("more than 16 deep"), "{e}");
    // At the limit, it renders.
    let t = set(&[("n.subject.hbs", "x"), ("n.text.hbs", &nested(MAX_DEPTH))]);
    assert_eq!(t.render("n", &context()).unwrap().text, "x");
    // `else if` links and sub-expressions nest too; a comment or a string cannot hide a
    // closing tag from the scan.
    let chain = "{{#if case}}".to_string() + &"{{else if case}}".repeat(1000) + "{{/if}}";
    let subexpressions =
        "{{#if ".to_string() + &"(not ".repeat(1000) + "case" + &")".repeat(1000) + "}}x{{/if}}";
    let hidden = "{{#if case}}{{! {{/if}} }}{{#if case \"}}{{/if}}\"}}".repeat(600);
    for text in [chain, subexpressions, hidden] {
        match TemplateSet::from_sources(sources(&[("n.subject.hbs", "x"), ("n.text.hbs", &text)])) {
            Err(LoadError::TooDeep { .. }) => {}
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}

/// The scan reads tags as the grammar does: blocks in comments, raw blocks and escaped tags
/// do not count, and the depth falls back after each closing tag.
#[test]
fn the_depth_scan_reads_only_tags() {
    let ok = [
        nested(MAX_DEPTH).repeat(50),
        "{{!-- {{#if a}}".repeat(100) + "--}}",
        "\\{{#if a}}".repeat(100),
        "{{{{raw}}}}".to_string() + &"{{#if a}}".repeat(100) + "{{{{/raw}}}}",
        "{{#if a}}{{else}}{{^}}{{/if}}".repeat(100),
    ];
    for text in ok {
        assert_eq!(shape::too_deep_in_text(&text), None, "{text}");
    }
    let deep = "\n".to_string() + &"{{#if a}}\n".repeat(MAX_DEPTH) + "  {{#each b}}";
    assert_eq!(shape::too_deep_in_text(&deep), Some((MAX_DEPTH + 2, 3)));
    // Closing tags in a comment or a string literal close nothing.
    let hidden = "{{#if a}}{{! {{/if}} }}{{#if a \"}}{{/if}}\"}}".repeat(MAX_DEPTH);
    assert_eq!(
        shape::too_deep_in_text(&hidden),
        Some((
            1,
            "{{#if a}}{{! {{/if}} }}{{#if a \"}}{{/if}}\"}}".len() * 8 + 1
        ))
    );
}

/// A helper that panics (none of ours does) fails the notice, not the thread that renders it.
#[test]
fn a_panic_while_rendering_is_an_error() {
    let mut t = set(&[("n.subject.hbs", "{{boom}}"), ("n.text.hbs", "x")]);
    t.plain.register_helper(
        "boom",
        Box::new(
            |_: &handlebars::Helper<'_>,
             _: &Handlebars<'_>,
             _: &Context,
             _: &mut RenderContext<'_, '_>,
             _: &mut dyn handlebars::Output|
             -> handlebars::HelperResult { panic!("boom") },
        ),
    );
    let e = t.render("n", &context()).unwrap_err();
    assert_eq!(e.file, "n.subject.hbs");
    assert_eq!(e.message, "rendering failed: boom");
}

/// A partial could include itself (an inline partial calling itself overflowed the stack);
/// notice templates have no partials, rendering refuses them as validation does.
#[test]
fn partials_and_decorators_are_refused() {
    for (text, column) in [
        ("{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}", 1),
        ("Bonjour {{> n.subject.hbs}}", 9),
        ("{{#if case}}{{#> layout}}x{{/layout}}{{/if}}", 13),
    ] {
        let e = TemplateSet::from_sources(sources(&[("n.subject.hbs", "x"), ("n.text.hbs", text)]))
            .unwrap_err();
        assert_eq!(
            e,
            LoadError::Partial {
                file: "n.text.hbs".into(),
                line: 1,
                column
            },
            "{text}"
        );
    }
}

/// `{{{x}}}` and `{{&x}}` would put a case input's HTML in the HTML part as it is; the HTML
/// body escapes them like `{{x}}` (validation refuses them: `template-raw-html`).
#[test]
fn html_escapes_even_triple_stash() {
    let mut c = context();
    c["vars"]["ecole"] = json!("<script>alert(1)</script>");
    let t = set(&[
        ("n.subject.hbs", "{{{vars.ecole}}}"),
        ("n.text.hbs", "{{{vars.ecole}}}"),
        (
            "n.html.hbs",
            "<p>{{{vars.ecole}}} {{&vars.ecole}}{{#if case}}{{{vars.ecole}}}{{else}}{{/if}}</p>",
        ),
    ]);
    let r = t.render("n", &c).unwrap();
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
    assert_eq!(
        r.html.as_deref(),
        Some(format!("<p>{escaped} {escaped}{escaped}</p>").as_str())
    );
    assert_eq!(r.text, "<script>alert(1)</script>");
}

/// Control characters from a case variable never reach the `Subject:` line.
#[test]
fn the_subject_has_no_control_characters() {
    let mut c = context();
    c["vars"]["ecole"] = json!("École\r\nBcc: x@example.org\u{7}\u{0}\u{1b}[31m\u{85}fin");
    let t = set(&[
        ("n.subject.hbs", "Dossier {{vars.ecole}}"),
        ("n.text.hbs", "x"),
    ]);
    assert_eq!(
        t.render("n", &c).unwrap().subject,
        "Dossier École Bcc: x@example.org [31m fin"
    );
}

/// The limit keeps rendering far from the stack's end: a template at the limit, blocks and
/// sub-expressions, renders on a thread with an eighth of a tokio worker's stack (2 MiB).
#[test]
fn a_template_at_the_limit_renders_on_a_small_stack() {
    let text = "{{#if case}}".repeat(MAX_DEPTH - 3)
        + "{{#if (not (not case))}}x{{/if}}"
        + &"{{/if}}".repeat(MAX_DEPTH - 3)
        + " {{long_date (lookup deadline \"date\")}}";
    assert_eq!(shape::too_deep_in_text(&text), None);
    let rendered = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let t = set(&[("n.subject.hbs", "x"), ("n.text.hbs", &text)]);
            t.render("n", &context()).map(|r| r.text)
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(rendered, Ok("x mercredi 6 janvier 2027".to_string()));
}

/// An enum's value reaches notices as its French label under `labels`, and the template
/// check knows which variables have one.
#[test]
fn enum_values_read_as_their_french_labels() {
    let text = r#"
id: avis
title: Avis
legal_basis: "Art. 95"
roles: { chambre: Chambre }
variables:
  avis: { type: enum, values: [favorable, defavorable], labels: { favorable: "Avis favorable", defavorable: "Avis défavorable" } }
  note: { type: text }
start: { by: [chambre], inputs: [avis] }
initial: ouvert
states:
  ouvert: { label: Ouvert, final: true }
"#;
    let def =
        engine::machine::Definition::compile(engine::definition::parse(text).unwrap()).unwrap();
    let (key, _) = def.var("avis").unwrap();
    let values: engine::machine::Variables = [(
        key.clone(),
        engine::machine::Value::Text("defavorable".into()),
    )]
    .into_iter()
    .collect();
    let context = NoticeContext::new(&def.title, "1", "K-1", "Ouvert")
        .case_variables(&def, &values)
        .build();
    assert_eq!(context["labels"]["avis"], "Avis défavorable");
    assert_eq!(
        context["vars"]["avis"], "defavorable",
        "the value stays for comparisons"
    );
    let set = TemplateSet::from_sources(sources(&[
        ("n.subject.hbs", "{{labels.avis}}"),
        (
            "n.text.hbs",
            "{{#if (eq vars.avis \"defavorable\")}}{{labels.avis}}{{/if}}",
        ),
    ]))
    .unwrap();
    let r = set.render("n", &context).unwrap();
    assert_eq!(
        (r.subject.as_str(), r.text.trim()),
        ("Avis défavorable", "Avis défavorable")
    );
    let wf = engine::definition::parse(text).unwrap();
    let found = crate::check::check_sources(
        &wf,
        &sources(&[("n.subject.hbs", "{{labels.note}} {{labels.avis}}")]),
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .1
            .message
            .contains("`note` is not an `enum` variable"),
        "{found:?}"
    );
}

#[test]
fn a_notice_ends_with_the_link_to_act_on_it() {
    let r = Rendered {
        subject: "Objet".into(),
        text: "Bonjour".into(),
        html: Some("<html><body><p>Bonjour</p></body></html>".into()),
    }
    .with_link(
        "Faire la tâche dans jalon",
        "https://j.example.be/cases/c1/tasks/t&1",
    );
    assert_eq!(
        r.text,
        "Bonjour\n\nFaire la tâche dans jalon : https://j.example.be/cases/c1/tasks/t&1\n"
    );
    assert_eq!(
        r.html.as_deref(),
        Some(
            "<html><body><p>Bonjour</p><p><a href=\"https://j.example.be/cases/c1/tasks/t&amp;1\">Faire la tâche dans jalon</a></p></body></html>"
        )
    );
}
