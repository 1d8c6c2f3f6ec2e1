use super::*;
use crate::calendar::Calendar;
use crate::machine::tests::def;

const SCENARIO: &str = r#"
title: Réclamation puis avis défavorable
start:
  on: 2026-10-05
  by: secretaire
  inputs: { mention: defavorable, notifiee_le: 2026-10-05 }
  expect: { state: mention_notifiee, due: { delai_reclamation: 2026-10-22 }, notices: [ouverture] }
steps:
  - on: 2026-10-12
    event: introduire_reclamation
    by: requerant
    inputs: { motifs: "Désaccord sur la mention" }
    reason: "Réclamation reçue par recommandé"
    expect:
      state: reclamation_recue
      due: { avis_chambre: 2026-11-09, delai_avis: 2026-11-09 }
      tasks: [avis_chambre]
      notices: [reclamation-recue]
      fired: []
      variables: { mention: defavorable, motifs: "Désaccord sur la mention" }
  - on: 2026-10-13
    event: introduire_reclamation
    by: requerant
    inputs: { motifs: "encore" }
    expect: { refused: event_not_allowed }
  - on: 2026-10-19
    event: suspendre
    by: secretaire
  - on: 2026-11-02
    event: reprendre
    by: secretaire
    expect: { due: { delai_avis: 2026-11-24 } }
  - until: 2026-11-24
    expect: { state: reclamation_recue, fired: [] }
  - until: 2026-11-25
    expect: { state: mention_definitive, entered_on: 2026-11-25, outcome: mention_definitive, fired: [delai_avis], tasks: [] }
"#;

#[test]
fn a_correct_scenario_passes_and_its_timeline_reads_in_french() {
    let s = parse(SCENARIO).expect("parses");
    let report = run(&def(), &Calendar::fwb(), &s);
    assert!(report.passed(), "{:?}", report.failures);
    let text = render_fr(&report);
    assert!(text.contains("2026-10-12 — état : mention_notifiee → reclamation_recue — introduire_reclamation par requerant"), "{text}");
    assert!(
        text.contains(
            "  délai « Délai de réclamation » : échéance le jeudi 22 octobre 2026 (2026-10-22)"
        ),
        "{text}"
    );
    assert!(text.contains("    base légale : Art. 40"), "{text}");
    assert!(
        text.contains(
            "  avis à : secretaire, modèle : reclamation-recue, délai annoncé : 2026-11-09"
        ),
        "{text}"
    );
    assert!(
        text.contains("  délai « Délai d'avis » suspendu, 15 jours ouvrables restants"),
        "{text}"
    );
    assert!(text.contains("2026-11-25 — état : reclamation_recue → mention_definitive — délai expiré : « Délai d'avis »"), "{text}");
    assert!(text.contains("refusé : event_not_allowed"), "{text}");
}

#[test]
fn failed_expectations_say_expected_and_actual() {
    let wrong = SCENARIO
        .replace(
            "state: reclamation_recue\n      due",
            "state: decision\n      due",
        )
        .replace("delai_avis: 2026-11-24 }", "delai_avis: 2026-11-23 }")
        .replace("refused: event_not_allowed", "refused: role_not_allowed");
    let report = run(&def(), &Calendar::fwb(), &parse(&wrong).expect("parses"));
    let got: Vec<String> = report
        .failures
        .iter()
        .map(|f| format!("{}: {}", f.step, f.message))
        .collect();
    assert_eq!(
        got,
        vec![
            "step 1: expected state decision, got reclamation_recue",
            "step 2: expected refusal role_not_allowed, got refusal event_not_allowed",
            "step 4: expected delai_avis due 2026-11-23, got 2026-11-24",
        ]
    );
}

#[test]
fn unexpected_refusal_fails_the_step() {
    let text = SCENARIO.replace(
        "  - on: 2026-10-19\n    event: suspendre\n    by: secretaire",
        "  - on: 2026-10-19\n    event: suspendre\n    by: requerant",
    );
    let report = run(&def(), &Calendar::fwb(), &parse(&text).expect("parses"));
    // The refusal, then its consequences: the timer was never suspended and expired.
    assert_eq!(report.failures[0].step, "step 3");
    assert_eq!(
        report.failures[0].message,
        "the step was refused (role_not_allowed) and no refusal was expected"
    );
    assert!(report.failures.iter().any(|f| f.step == "step 5"
        && f.message == "expected state reclamation_recue, got mention_definitive"));
}

#[test]
fn scenario_errors_have_positions() {
    let err = parse("title: x\nstart:\n  on: 2026-10-05\n  by: a\n  inptus: {}\n").unwrap_err();
    assert_eq!(err.pos.line, 5, "{err}");
    assert!(err.message.contains("inptus"), "{err}");
    let err = parse("title: x\nstart: { on: 2026-10-05, by: a }\nsteps:\n  - on: 2026-10-06\n")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "4:5: a step needs one of `event`, `child_ended` or `until`"
    );
    let err = parse("title: x\nstart: { on: 2026-13-05, by: a }\n").unwrap_err();
    assert_eq!(err.pos.line, 2, "{err}");
}

#[test]
fn quick_run_fast_forwards_to_the_end() {
    let mut inputs = std::collections::BTreeMap::new();
    inputs.insert("mention".to_string(), serde_json::json!("favorable"));
    inputs.insert("notifiee_le".to_string(), serde_json::json!("2026-10-05"));
    let s = quick(
        crate::machine::tests::d("2026-10-05"),
        "secretaire".into(),
        inputs,
        crate::machine::tests::d("2028-10-05"),
    );
    let report = run(&def(), &Calendar::fwb(), &s);
    assert!(report.passed());
    let case = report.case.expect("ran");
    assert_eq!(case.outcome(), Some("mention_definitive"));
    assert_eq!(case.entered_on, crate::machine::tests::d("2026-10-23"));
}
