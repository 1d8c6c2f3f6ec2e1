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
