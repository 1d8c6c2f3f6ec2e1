//! Hand-checked transitions: dates verified day by day against the calendar of 2026-2027
//! (All Saints' Day falls on a Sunday in 2026, Armistice on Wednesday 11 November).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::*;
use crate::calendar::Calendar;
use crate::definition;

pub const WORKFLOW: &str = r#"
id: recours-test
title: Recours
legal_basis: "Décret du 13 septembre 2018, art. 40"
roles: { secretaire: Secrétaire, requerant: Requérant, chambre: Chambre }
variables:
  mention: { type: enum, values: [favorable, defavorable] }
  notifiee_le: { type: date }
  motifs: { type: text }
  votes: { type: integer }
  parent_email: { type: email }
  urgent: { type: boolean }
start:
  by: [secretaire]
  inputs: [mention, notifiee_le]
  optional_inputs: [parent_email]
  notify: [{ to: [requerant, parent_email], template: ouverture, deadline: delai_reclamation }]
initial: mention_notifiee
timers:
  - id: vie_du_dossier
    after: { years: 1 }
    goto: classe
states:
  mention_notifiee:
    label: Mention notifiée
    timers:
      - id: delai_reclamation
        label: Délai de réclamation
        legal_basis: "Art. 40"
        after: { working_days: 10, from: notifiee_le, letter: registered }
        goto: mention_definitive
        reminders:
          - before: { working_days: 2 }
            notify: [{ to: [requerant], template: rappel }]
    on:
      introduire_reclamation:
        by: [requerant]
        inputs: [motifs]
        optional_inputs: [urgent]
        goto: reclamation_recue
        notify: [{ to: [secretaire], template: reclamation-recue, deadline: avis_chambre }]
  reclamation_recue:
    label: Réclamation reçue
    tasks:
      - id: avis_chambre
        role: chambre
        title: Rendre l'avis
        due: { working_days: 20 }
        closes_on: [rendre_avis]
    timers:
      - id: delai_avis
        label: Délai d'avis
        after: { working_days: 20 }
        goto: mention_definitive
    on:
      suspendre: { by: [secretaire], suspend: [delai_avis] }
      reprendre: { by: [secretaire], resume: [delai_avis] }
      prolonger: { by: [chambre], extend: [{ timer: delai_avis, by: { working_days: 5 } }] }
      rendre_avis:
        by: [chambre]
        inputs: [votes]
        when: { votes: { at_least: 3 } }
        choose:
          - when: { mention: favorable }
            goto: mention_definitive
          - goto: decision
  decision:
    label: Décision
    timers:
      - id: rappel_mensuel
        every: { months: 1 }
        until: { months: 3 }
        notify: [{ to: [secretaire], template: rappel-mensuel }]
    on:
      decider: { by: [secretaire], goto: mention_definitive }
      recours_externe: { by: [secretaire], goto: attente_recours }
  attente_recours:
    label: Attente de l'avis externe
    start_case: { workflow: chambre-recours, with: { mention: mention } }
    on_child: { avis_rendu: mention_definitive }
  mention_definitive:
    label: Mention définitive
    final: true
  classe: { label: Classé sans suite, final: true, outcome: sans_suite }
"#;

pub fn def() -> Definition {
    Definition::compile(definition::parse(WORKFLOW).expect("parses")).expect("compiles")
}

pub fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

/// Noon in Brussels, when scenario events happen.
pub fn noon(s: &str) -> DateTime<Utc> {
    civil::brussels_at(d(s), 12, 0)
}

fn actor(role: &str) -> Actor {
    Actor {
        id: format!("test:{role}"),
        roles: vec![role.to_string()],
    }
}

fn inputs(v: serde_json::Value) -> Inputs {
    serde_json::from_value(v).expect("object")
}

fn started(def: &Definition, on: &str) -> (Case, Vec<Effect>) {
    start(
        def,
        &Calendar::fwb(),
        StartRequest {
            by: actor("secretaire"),
            inputs: inputs(json!({"mention": "defavorable", "notifiee_le": "2026-10-05"})),
            now: noon(on),
        },
    )
    .expect("starts")
}

/// A case started on 5 October 2026 whose complaint came in a week later: where most tests
/// begin.
fn reclamation_received(def: &Definition) -> Case {
    let (case, _) = started(def, "2026-10-05");
    let (case, _) = run(
        def,
        &case,
        ev(
            "introduire_reclamation",
            "requerant",
            json!({"motifs": "x"}),
        ),
        "2026-10-12",
    )
    .expect("ok");
    case
}

fn ev(name: &str, role: &str, i: serde_json::Value) -> Trigger {
    Trigger::Event {
        name: name.into(),
        by: actor(role),
        inputs: inputs(i),
        reason: None,
    }
}

/// One step at noon (Brussels) of day `on`, over the statutory calendar.
pub(super) fn run(
    def: &Definition,
    case: &Case,
    t: Trigger,
    on: &str,
) -> Result<(Case, Vec<Effect>), Refusal> {
    step(def, &Calendar::fwb(), case, t, noon(on))
}

fn fire(def: &Definition, case: &Case, id: &str) -> (Case, Vec<Effect>) {
    let t = case.timer(id).unwrap_or_else(|| panic!("{id} armed"));
    let at = t.fire_at;
    step(
        def,
        &Calendar::fwb(),
        case,
        Trigger::Timer { key: t.key.clone() },
        at,
    )
    .expect("fires")
}

fn due(case: &Case, id: &str) -> NaiveDate {
    case.timer(id).map(|t| t.due.due).expect("armed")
}

fn templates(effects: &[Effect]) -> Vec<&str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::SendNotice { template, .. } => Some(&**template),
            _ => None,
        })
        .collect()
}

#[test]
fn start_arms_registered_letter_deadline_and_its_reminder() {
    let def = def();
    let (case, effects) = started(&def, "2026-10-05");
    assert_eq!(&*case.state, "mention_notifiee");
    assert_eq!(case.variables[STARTED_ON], Value::Date(d("2026-10-05")));
    // Dispatch Mon 5 Oct, effect Thu 8 Oct, +10 working days = Thu 22 Oct.
    assert_eq!(due(&case, "delai_reclamation"), d("2026-10-22"));
    // Reminder two working days before: Tue 20 Oct at 08:00 CEST = 06:00 UTC.
    let reminder = case
        .timers
        .iter()
        .find(|t| matches!(t.kind, TimerKind::Reminder { .. }))
        .expect("reminder armed");
    assert_eq!(reminder.fire_at.to_rfc3339(), "2026-10-20T06:00:00+00:00");
    // One year from 5 Oct 2026 is Tue 5 Oct 2027.
    assert_eq!(due(&case, "vie_du_dossier"), d("2027-10-05"));
    // The opening notice announces the complaint deadline; no parent email was given.
    let notice = effects
        .iter()
        .find_map(|e| match e {
            Effect::SendNotice {
                template,
                deadline,
                to_emails,
                dedupe_key,
                ..
            } => Some((
                template.clone(),
                deadline.clone(),
                to_emails.clone(),
                *dedupe_key,
            )),
            _ => None,
        })
        .expect("notice");
    assert_eq!(&*notice.0, "ouverture");
    assert_eq!(notice.1.expect("deadline").deadline.due, d("2026-10-22"));
    assert!(notice.2.is_empty());
    assert_eq!(notice.3.to_string(), "1.0");
    assert!(matches!(effects.last(), Some(Effect::History(_))));
}

#[test]
fn deadline_fires_the_day_after_due_and_closes_the_case() {
    let def = def();
    let (case, _) = started(&def, "2026-10-05");
    let key = case.timer("delai_reclamation").expect("armed").key.clone();
    // Expires at midnight after Thu 22 Oct (Brussels, CEST).
    assert_eq!(
        case.timer("delai_reclamation")
            .expect("armed")
            .fire_at
            .to_rfc3339(),
        "2026-10-22T22:00:00+00:00"
    );
    let (after, effects) = fire(&def, &case, "delai_reclamation");
    assert_eq!(&*after.state, "mention_definitive");
    assert_eq!(after.entered_on, d("2026-10-23"));
    assert_eq!(after.outcome(), Some("mention_definitive"));
    assert!(after.timers.is_empty(), "a final state cancels everything");
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::CancelTimer { key } if &*key.timer == "vie_du_dossier"))
    );
    // Firing the same key again is stale.
    let again = step(
        &def,
        &Calendar::fwb(),
        &after,
        Trigger::Timer { key },
        noon("2026-10-24"),
    );
    assert_eq!(again.map(|_| ()).unwrap_err().code(), "unknown_timer");
}

#[test]
fn event_opens_task_and_notice_announces_its_due_date() {
    let def = def();
    let (case, _) = started(&def, "2026-10-05");
    let (case, effects) = run(
        &def,
        &case,
        ev(
            "introduire_reclamation",
            "requerant",
            json!({"motifs": "Désaccord"}),
        ),
        "2026-10-12",
    )
    .expect("accepted");
    assert_eq!(&*case.state, "reclamation_recue");
    // 20 working days from Mon 12 Oct 2026, skipping Wed 11 Nov: Mon 9 Nov.
    assert_eq!(
        case.task("avis_chambre")
            .and_then(|t| t.due.clone())
            .map(|d| d.due),
        Some(d("2026-11-09"))
    );
    assert_eq!(due(&case, "delai_avis"), d("2026-11-09"));
    assert!(case.timer("delai_reclamation").is_none());
    assert!(
        case.timer("vie_du_dossier").is_some(),
        "case timers survive"
    );
    assert_eq!(templates(&effects), vec!["reclamation-recue"]);
    let announced = effects.iter().find_map(|e| match e {
        Effect::SendNotice { deadline, .. } => deadline.clone(),
        _ => None,
    });
    assert_eq!(announced.map(|d| d.deadline.due), Some(d("2026-11-09")));
    assert!(
        effects.iter().any(
            |e| matches!(e, Effect::CancelTimer { key } if &*key.timer == "delai_reclamation")
        )
    );
}

#[test]
fn suspension_keeps_working_days_and_resume_recounts_them() {
    let def = def();
    let case = reclamation_received(&def);
    let (case, effects) = run(
        &def,
        &case,
        ev("suspendre", "secretaire", json!({})),
        "2026-10-19",
    )
    .expect("ok");
    // From Mon 19 Oct to Mon 9 Nov: 15 working days remain.
    let t = case
        .timers
        .iter()
        .find(|t| &*t.key.timer == "delai_avis")
        .expect("kept");
    assert!(matches!(
        &t.status,
        TimerStatus::Suspended { remaining: Some(l), .. } if l.count == 15
    ));
    let Some(Effect::History(h)) = effects.last() else {
        panic!("history")
    };
    let detail: Vec<String> = h.detail.iter().map(Detail::fr).collect();
    assert_eq!(
        detail,
        vec!["délai « Délai d'avis » suspendu, 15 jours ouvrables restants"]
    );
    assert!(case.timer("delai_avis").is_some_and(|t| !t.is_armed()));
    assert!(
        case.next_timer()
            .is_some_and(|t| &*t.key.timer == "vie_du_dossier")
    );
    // Resumed Mon 2 Nov: 15 working days skipping Wed 11 Nov = Tue 24 Nov.
    let (case, _) = run(
        &def,
        &case,
        ev("reprendre", "secretaire", json!({})),
        "2026-11-02",
    )
    .expect("ok");
    assert_eq!(due(&case, "delai_avis"), d("2026-11-24"));
    // Extension by 5 working days from the raw end: Tue 1 Dec.
    let before = case.timer("delai_avis").expect("armed").key.clone();
    let (case, effects) = run(
        &def,
        &case,
        ev("prolonger", "chambre", json!({})),
        "2026-11-10",
    )
    .expect("ok");
    assert_eq!(due(&case, "delai_avis"), d("2026-12-01"));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::CancelTimer { key } if *key == before))
    );
    let stale = step(
        &def,
        &Calendar::fwb(),
        &case,
        Trigger::Timer { key: before },
        noon("2026-12-02"),
    );
    assert_eq!(stale.map(|_| ()).unwrap_err().code(), "unknown_timer");
}

#[test]
fn extension_while_suspended_applies_at_resume() {
    let def = def();
    let case = reclamation_received(&def);
    let (case, _) = run(
        &def,
        &case,
        ev("suspendre", "secretaire", json!({})),
        "2026-10-19",
    )
    .expect("ok");
    let (case, _) = run(
        &def,
        &case,
        ev("prolonger", "chambre", json!({})),
        "2026-10-20",
    )
    .expect("ok");
    let (case, _) = run(
        &def,
        &case,
        ev("reprendre", "secretaire", json!({})),
        "2026-11-02",
    )
    .expect("ok");
    assert_eq!(due(&case, "delai_avis"), d("2026-12-01"));
}

#[test]
fn guard_and_choose() {
    let def = def();
    let case = reclamation_received(&def);
    let refused = run(
        &def,
        &case,
        ev("rendre_avis", "chambre", json!({"votes": 2})),
        "2026-10-20",
    )
    .unwrap_err();
    assert_eq!(refused.code(), "guard_failed");
    assert_eq!(
        refused.to_string(),
        "condition not met: variable 'votes' must be at least 3 (value: '2')"
    );
    let (after, effects) = run(
        &def,
        &case,
        ev("rendre_avis", "chambre", json!({"votes": 4})),
        "2026-10-20",
    )
    .expect("ok");
    // mention is defavorable: the catch-all branch.
    assert_eq!(&*after.state, "decision");
    assert!(after.tasks.is_empty());
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::CloseTask { reason: CloseReason::Completed, task_id } if &**task_id == "avis_chambre"
    )));
}

#[test]
fn recurring_timer_fires_monthly_without_drift_until_its_limit() {
    let def = def();
    let case = reclamation_received(&def);
    let (mut case, _) = run(
        &def,
        &case,
        ev("rendre_avis", "chambre", json!({"votes": 4})),
        "2027-01-15",
    )
    .expect("ok");
    // Entered Fri 15 Jan 2027: 15 Feb (Mon), 15 Mar (Mon), 15 Apr (Thu); 15 May is past the
    // three-month limit.
    let mut dues = Vec::new();
    while let Some(t) = case.timer("rappel_mensuel") {
        dues.push(t.due.due);
        let (next, effects) = fire(&def, &case, "rappel_mensuel");
        assert_eq!(templates(&effects), vec!["rappel-mensuel"]);
        case = next;
    }
    assert_eq!(
        dues,
        vec![d("2027-02-15"), d("2027-03-15"), d("2027-04-15")]
    );
    assert_eq!(&*case.state, "decision");
}

#[test]
fn child_case_and_its_outcome() {
    let def = def();
    let case = reclamation_received(&def);
    let (case, _) = run(
        &def,
        &case,
        ev("rendre_avis", "chambre", json!({"votes": 4})),
        "2026-10-20",
    )
    .expect("ok");
    let (case, effects) = run(
        &def,
        &case,
        ev("recours_externe", "secretaire", json!({})),
        "2026-10-21",
    )
    .expect("ok");
    let child = effects.iter().find_map(|e| match e {
        Effect::StartChild {
            workflow,
            variables,
        } => Some((workflow.clone(), variables.clone())),
        _ => None,
    });
    let mut expected = Variables::new();
    expected.insert("mention".into(), Value::Text("defavorable".into()));
    assert_eq!(
        child,
        Some((std::sync::Arc::from("chambre-recours"), expected))
    );
    let wrong = Trigger::ChildEnded {
        workflow: "chambre-recours".into(),
        outcome: "autre".into(),
    };
    assert_eq!(
        run(&def, &case, wrong, "2026-11-01").unwrap_err().code(),
        "event_not_allowed"
    );
    let ended = Trigger::ChildEnded {
        workflow: "chambre-recours".into(),
        outcome: "avis_rendu".into(),
    };
    let (case, _) = run(&def, &case, ended, "2026-11-02").expect("ok");
    assert_eq!(case.outcome(), Some("mention_definitive"));
    let closed = run(
        &def,
        &case,
        ev("decider", "secretaire", json!({})),
        "2026-11-03",
    )
    .unwrap_err();
    assert_eq!(closed.code(), "case_closed");
}

#[test]
fn workflow_timer_closes_with_custom_outcome() {
    let def = def();
    let case = reclamation_received(&def);
    let (case, _) = run(
        &def,
        &case,
        ev("rendre_avis", "chambre", json!({"votes": 4})),
        "2026-10-20",
    )
    .expect("ok");
    let (case, _) = fire(&def, &case, "vie_du_dossier");
    assert_eq!(case.outcome(), Some("sans_suite"));
    assert_eq!(&*case.state, "classe");
}

#[test]
fn input_refusals_say_which_input_and_why() {
    let def = def();
    let cal = Calendar::fwb();
    let req = |i: serde_json::Value, role: &str| StartRequest {
        by: actor(role),
        inputs: inputs(i),
        now: noon("2026-10-05"),
    };
    let cases: Vec<(serde_json::Value, &str, &str, &str)> = vec![
        (
            json!({"mention": "defavorable", "notifiee_le": "2026-10-05"}),
            "requerant",
            "role_not_allowed",
            "none of the actor's roles may start a case; allowed roles: secretaire",
        ),
        (
            json!({"mention": "defavorable"}),
            "secretaire",
            "missing_input",
            "input 'notifiee_le' is required",
        ),
        (
            json!({"mention": "neutre", "notifiee_le": "2026-10-05"}),
            "secretaire",
            "invalid_input",
            "input 'mention': 'neutre' is not one of favorable, defavorable",
        ),
        (
            json!({"mention": "favorable", "notifiee_le": "2026-02-30"}),
            "secretaire",
            "invalid_input",
            "input 'notifiee_le': expected a date as YYYY-MM-DD, got '2026-02-30'",
        ),
        (
            json!({"mention": "favorable", "notifiee_le": "2526-02-03"}),
            "secretaire",
            "invalid_input",
            "input 'notifiee_le': date 2526-02-03 is outside the supported years 1900-2200",
        ),
        (
            json!({"mention": "favorable", "notifiee_le": "2026-10-05", "parent_email": "a@b"}),
            "secretaire",
            "invalid_input",
            "input 'parent_email': 'a@b' is not an email address",
        ),
        (
            json!({"mention": "favorable", "notifiee_le": "2026-10-05", "votes": 3}),
            "secretaire",
            "unknown_input",
            "input 'votes' is not accepted here",
        ),
        (
            json!({"mention": 3, "notifiee_le": "2026-10-05"}),
            "secretaire",
            "invalid_input",
            "input 'mention': expected one of the listed values, got a number",
        ),
    ];
    for (i, role, code, message) in cases {
        let r = start(&def, &cal, req(i.clone(), role))
            .map(|_| ())
            .unwrap_err();
        assert_eq!((r.code(), r.to_string().as_str()), (code, message), "{i}");
    }
    let (case, effects) = start(
        &def,
        &cal,
        req(json!({"mention": "favorable", "notifiee_le": "2026-10-05", "parent_email": " p@ecole.be "}), "secretaire"),
    )
    .expect("ok");
    assert_eq!(
        case.variables["parent_email"],
        Value::Text("p@ecole.be".into())
    );
    assert!(effects.iter().any(|e| matches!(e, Effect::SendNotice { to_emails, .. } if to_emails == &vec![std::sync::Arc::<str>::from("p@ecole.be")])));
    let mut bad = BTreeMap::new();
    bad.insert("motifs".to_string(), json!(true));
    let r = step(
        &def,
        &cal,
        &case,
        Trigger::Event {
            name: "introduire_reclamation".into(),
            by: actor("requerant"),
            inputs: bad,
            reason: None,
        },
        noon("2026-10-06"),
    );
    assert_eq!(
        r.unwrap_err().to_string(),
        "input 'motifs': expected text, got a boolean"
    );
    let r = run(
        &def,
        &case,
        ev("rendre_avis", "chambre", json!({})),
        "2026-10-06",
    );
    assert_eq!(r.unwrap_err().code(), "event_not_allowed");
}

#[test]
fn case_round_trips_through_json() {
    let def = def();
    let case = reclamation_received(&def);
    let (case, _) = run(
        &def,
        &case,
        ev("suspendre", "secretaire", json!({})),
        "2026-10-19",
    )
    .expect("ok");
    let text = serde_json::to_string(&case).expect("serializes");
    let back: Case = serde_json::from_str(&text).expect("deserializes");
    assert_eq!(back, case);
}

#[test]
fn compile_refuses_broken_references() {
    for (from, to, message) in [
        (
            "goto: reclamation_recue",
            "goto: nulle_part",
            "unknown state 'nulle_part'",
        ),
        (
            "suspend: [delai_avis]",
            "suspend: [delai_x]",
            "unknown timer 'delai_x'",
        ),
        ("role: chambre", "role: jury", "unknown role 'jury'"),
        (
            "inputs: [motifs]",
            "inputs: [motif]",
            "unknown variable 'motif'",
        ),
        (
            "after: { years: 1 }",
            "after: { years: 1, months: 2 }",
            "more than one length",
        ),
        (
            "closes_on: [rendre_avis]",
            "closes_on: [decider]",
            "the state has no event 'decider'",
        ),
        (
            "template: rappel }",
            "template: rappel, deadline: rien }",
            "unknown timer or task 'rien'",
        ),
    ] {
        let text = WORKFLOW.replacen(from, to, 1);
        assert_ne!(text, WORKFLOW, "{from}");
        let err = Definition::compile(definition::parse(&text).expect("parses")).unwrap_err();
        assert!(err.contains(message), "{err} should contain {message}");
    }
}

#[test]
fn dates_are_exactly_yyyy_mm_dd_in_the_supported_years() {
    assert_eq!(value::parse_date("2026-10-05"), Ok(d("2026-10-05")));
    assert_eq!(value::parse_date("2024-02-29"), Ok(d("2024-02-29")));
    for bad in [
        "2026-1-05",
        "2026-10-5",
        "26-10-05",
        "2026/10/05",
        "2025-02-29",
        "2026-10-05 ",
        "２026-10-05",
        "",
    ] {
        assert!(value::parse_date(bad).is_err(), "{bad:?}");
    }
    assert!(value::parse_date("1899-12-31").is_err());
    assert!(value::parse_date("2201-01-01").is_err());
}

/// A quarterly follow-up counted from a date variable, in a state the case can leave and
/// re-enter, and an event whose `set` assigns the variable its own `when` and `choose` test.
const SUIVI: &str = r#"
id: suivi
title: Suivi
legal_basis: "Art. 1"
roles: { agent: Agent }
variables:
  debut: { type: date }
  statut: { type: enum, values: [actif, clos] }
start: { by: [agent], inputs: [debut] }
initial: suivi
states:
  suivi:
    label: Suivi
    timers:
      - id: point
        every: { months: 3, from: debut }
        until: { years: 2, from: debut }
        notify: [{ to: [agent], template: point }]
    on:
      pause: { by: [agent], goto: pause }
      clore:
        by: [agent]
        when: { statut: { not: clos } }
        set: { statut: clos }
        choose:
          - { when: { statut: clos }, goto: fin }
          - { goto: pause }
  pause:
    label: Pause
    stuck_after: { working_days: 10 }
    on:
      reprendre: { by: [agent], goto: suivi }
  fin: { label: Fin, final: true }
"#;

fn suivi() -> Definition {
    Definition::compile(definition::parse(SUIVI).expect("parses")).expect("compiles")
}

fn suivi_started(def: &Definition) -> Case {
    start(
        def,
        &Calendar::fwb(),
        StartRequest {
            by: actor("agent"),
            inputs: inputs(json!({"debut": "2026-01-05"})),
            now: noon("2026-01-05"),
        },
    )
    .expect("starts")
    .0
}

fn occurrence(case: &Case) -> (u32, NaiveDate) {
    let t = case.timer("point").expect("armed");
    match t.kind {
        TimerKind::Recurring { n, base } => {
            assert_eq!(base, d("2026-01-05"), "counted from its base");
            assert_eq!(t.fire_at, t.due.expires_at());
            (n, t.due.due)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn re_entering_a_state_arms_the_next_occurrence_to_come() {
    let def = suivi();
    let case = suivi_started(&def);
    // 5 April 2026 is Easter Sunday: the first occurrence moves to Tuesday 7 April.
    assert_eq!(occurrence(&case), (1, d("2026-04-07")));
    let (case, _) = run(&def, &case, ev("pause", "agent", json!({})), "2026-02-10").unwrap();
    assert!(case.timer("point").is_none());
    // Back on 20 August: 7 April and 6 July (5 July is a Sunday) have passed; the next
    // occurrence is the third, Monday 5 October, not the first.
    let (case, _) = run(
        &def,
        &case,
        ev("reprendre", "agent", json!({})),
        "2026-08-20",
    )
    .unwrap();
    assert_eq!(occurrence(&case), (3, d("2026-10-05")));
    // Fired on time: the fourth, Tuesday 5 January 2027.
    let (case, effects) = fire(&def, &case, "point");
    assert_eq!(templates(&effects), ["point"]);
    assert_eq!(occurrence(&case), (4, d("2027-01-05")));
    // Handled late, on 1 February 2027 (after the fourth had passed too): one notice now,
    // then the fifth, Monday 5 April 2027; no burst of past occurrences.
    let key = case.timer("point").unwrap().key.clone();
    let (case, effects) = step(
        &def,
        &Calendar::fwb(),
        &case,
        Trigger::Timer { key },
        noon("2027-02-01"),
    )
    .expect("fires");
    assert_eq!(templates(&effects), ["point"]);
    assert_eq!(occurrence(&case), (5, d("2027-04-05")));
    // Re-entered in December 2027: the eighth and last occurrence, Wednesday 5 January 2028
    // (the limit is two years from the base).
    let (case, _) = run(&def, &case, ev("pause", "agent", json!({})), "2027-03-01").unwrap();
    let (case, _) = run(
        &def,
        &case,
        ev("reprendre", "agent", json!({})),
        "2027-12-20",
    )
    .unwrap();
    assert_eq!(occurrence(&case), (8, d("2028-01-05")));
    // Re-entered after the limit: nothing left to arm.
    let (case, _) = run(&def, &case, ev("pause", "agent", json!({})), "2027-12-21").unwrap();
    let (case, _) = run(
        &def,
        &case,
        ev("reprendre", "agent", json!({})),
        "2028-01-10",
    )
    .unwrap();
    assert!(case.timer("point").is_none());
}

#[test]
fn conditions_read_the_case_before_the_event_sets_its_values() {
    let def = suivi();
    let case = suivi_started(&def);
    // `statut` is unset: `when: { not: clos }` holds, and `choose` still sees it unset
    // (not the `clos` that `set` assigns), so the case goes to the catch-all branch.
    let (case, _) = run(&def, &case, ev("clore", "agent", json!({})), "2026-02-02").unwrap();
    assert_eq!(&*case.state, "pause");
    assert_eq!(case.variables["statut"], Value::Text("clos".into()));
    // Once set, the same guard refuses the event, with the value it saw.
    let (case, _) = run(
        &def,
        &case,
        ev("reprendre", "agent", json!({})),
        "2026-02-03",
    )
    .unwrap();
    let refused = run(&def, &case, ev("clore", "agent", json!({})), "2026-02-04").unwrap_err();
    assert_eq!(
        refused.to_string(),
        "condition not met: variable 'statut' must not equal 'clos' (value: 'clos')"
    );
}

/// A zero length anywhere is refused by the validator (`zero-length`) and by the compiler
/// alike: what validates, runs.
#[test]
fn zero_lengths_are_refused_by_validator_and_compiler_alike() {
    use crate::definition::{Catalog, WorkflowFile};
    for (from, to) in [
        ("after: { years: 1 }", "after: { years: 0 }"),
        ("due: { working_days: 20 }", "due: { working_days: 0 }"),
        ("every: { months: 1 }", "every: { months: 0 }"),
        ("until: { months: 3 }", "until: { calendar_days: 0 }"),
        ("before: { working_days: 2 }", "before: { working_days: 0 }"),
        ("by: { working_days: 5 }", "by: { working_days: 0 }"),
    ] {
        let text = WORKFLOW.replacen(from, to, 1);
        assert_ne!(text, WORKFLOW, "{from}");
        let file = WorkflowFile::from_text("t.yaml", text.clone()).expect("parses");
        let codes: Vec<&str> = definition::validate(&file, &Catalog::default())
            .iter()
            .map(|d| d.code)
            .collect();
        assert!(codes.contains(&"zero-length"), "{to}: {codes:?}");
        let err = Definition::compile(definition::parse(&text).expect("parses")).unwrap_err();
        assert!(err.contains("must be between 1 and"), "{to}: {err}");
    }
}

#[test]
fn a_case_is_stuck_after_its_state_idle_limit() {
    let def = suivi();
    let cal = Calendar::fwb();
    let case = suivi_started(&def);
    assert!(def.state("suivi").unwrap().stuck_after.is_none());
    assert_eq!(stuck_limit(&def, &cal, &case), None);
    // Paused on Tuesday 10 February 2026: ten working days end on Tuesday 24 February.
    let (case, _) = run(&def, &case, ev("pause", "agent", json!({})), "2026-02-10").unwrap();
    let limit = stuck_limit(&def, &cal, &case).expect("pause has a limit");
    assert_eq!(limit.due, d("2026-02-24"));
    assert!(!stuck_at(&def, &cal, &case, noon("2026-02-24")));
    let midnight = civil::brussels_midnight(d("2026-02-25"));
    assert!(!stuck_at(
        &def,
        &cal,
        &case,
        midnight - chrono::Duration::seconds(1)
    ));
    assert!(stuck_at(&def, &cal, &case, midnight));
    // Re-entering the state restarts the count.
    let (case, _) = run(
        &def,
        &case,
        ev("reprendre", "agent", json!({})),
        "2026-03-02",
    )
    .unwrap();
    let (case, _) = run(&def, &case, ev("pause", "agent", json!({})), "2026-03-03").unwrap();
    assert!(!stuck_at(&def, &cal, &case, noon("2026-03-10")));
    assert_eq!(stuck_limit(&def, &cal, &case).unwrap().due, d("2026-03-17"));
}

#[test]
fn an_event_notice_may_announce_the_deadline_of_the_state_it_leaves() {
    let text = WORKFLOW.replace(
        "        notify: [{ to: [secretaire], template: reclamation-recue, deadline: avis_chambre }]",
        "        notify:\n          - { to: [secretaire], template: reclamation-recue, deadline: avis_chambre }\n          - { to: [requerant], template: accuse-reception, deadline: delai_reclamation }",
    );
    assert_ne!(text, WORKFLOW);
    let def = Definition::compile(definition::parse(&text).expect("parses")).expect("compiles");
    let (case, _) = started(&def, "2026-10-05");
    let before = case.timer("delai_reclamation").expect("armed").due.due;
    let (_, effects) = run(
        &def,
        &case,
        ev(
            "introduire_reclamation",
            "requerant",
            json!({"motifs": "Désaccord"}),
        ),
        "2026-10-12",
    )
    .expect("accepted");
    let announced: Vec<(String, NaiveDate)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::SendNotice { deadline, .. } => deadline
                .as_ref()
                .map(|d| (d.of.to_string(), d.deadline.due)),
            _ => None,
        })
        .collect();
    // The target's task, and the reclamation period the move cancelled, as it stood.
    assert_eq!(
        announced,
        [
            ("avis_chambre".to_string(), d("2026-11-09")),
            ("delai_reclamation".to_string(), before),
        ]
    );
    assert_eq!(before, d("2026-10-22"));
}

/// An appeal "introduit par envoi recommandé dans les dix jours" (Art. 66 § 3): on time when
/// posted by the last day, whenever it arrives.
const POSTED: &str = r#"
id: recours-poste
title: Recours posté
legal_basis: "Décret du 13 septembre 2018, art. 66, § 3"
roles: { membre: Membre, secretaire: Secrétaire }
variables:
  notifiee_le: { type: date }
  expediee_le: { type: date }
start: { by: [secretaire], inputs: [notifiee_le] }
initial: delai
states:
  delai:
    label: Délai de réclamation
    timers:
      - id: delai_reclamation
        label: Délai de réclamation
        legal_basis: "Art. 66, § 3"
        after: { calendar_days: 10, from: notifiee_le }
        grace: { working_days: 5 }
        goto: definitive
    on:
      reclamer:
        by: [membre]
        inputs: [expediee_le]
        posted: { date: expediee_le, within: delai_reclamation }
        goto: recours
  recours: { label: Recours, final: true }
  definitive: { label: Mention définitive, final: true }
"#;

fn posted_case() -> (Definition, Case) {
    let def = Definition::compile(definition::parse(POSTED).expect("parses")).expect("compiles");
    let (case, _) = start(
        &def,
        &Calendar::fwb(),
        StartRequest {
            by: actor("secretaire"),
            inputs: inputs(json!({"notifiee_le": "2026-12-15"})),
            now: noon("2026-12-15"),
        },
    )
    .expect("starts");
    (def, case)
}

#[test]
fn a_letter_posted_on_the_last_day_is_recorded_during_the_grace() {
    let (def, case) = posted_case();
    // 15 Dec + 10 calendar days = Fri 25 Dec (Christmas) → Mon 28 Dec (Art. 22).
    assert_eq!(due(&case, "delai_reclamation"), d("2026-12-28"));
    // The period ends: the case waits, its consequence does not apply yet.
    let (waiting, _) = fire(&def, &case, "delai_reclamation");
    assert_eq!(&*waiting.state, "delai");
    let grace = waiting.timer("delai_reclamation").expect("grace armed");
    assert_eq!(grace.kind, TimerKind::Grace);
    assert_eq!(
        grace.due.due,
        d("2026-12-28"),
        "the period's last day is kept"
    );
    // Five working days after Mon 28 Dec, skipping Fri 1 Jan: Tue 5 Jan 2027; the grace
    // ends at midnight after it (CET).
    assert_eq!(grace.fire_at.to_rfc3339(), "2027-01-05T23:00:00+00:00");
    // Posted on Mon 28 Dec, arrived Mon 4 Jan: on time.
    let (appealed, _) = run(
        &def,
        &waiting,
        ev("reclamer", "membre", json!({"expediee_le": "2026-12-28"})),
        "2027-01-04",
    )
    .expect("posted in time");
    assert_eq!(&*appealed.state, "recours");
    // Posted on Tue 29 Dec: one day late, refused with the reason in French.
    let late = run(
        &def,
        &waiting,
        ev("reclamer", "membre", json!({"expediee_le": "2026-12-29"})),
        "2027-01-04",
    )
    .unwrap_err();
    assert_eq!(late.code(), "posted_too_late");
    let Refusal::PostedTooLate { message_fr, .. } = &late else {
        unreachable!()
    };
    assert!(
        message_fr.contains("lundi 28 décembre 2026"),
        "{message_fr}"
    );
    // Nobody appealed: the consequence applies at the end of the grace.
    let (final_, _) = fire(&def, &waiting, "delai_reclamation");
    assert_eq!(&*final_.state, "definitive");
}

#[test]
fn a_dispatch_date_in_the_future_or_late_is_refused_before_the_end_too() {
    let (def, case) = posted_case();
    let future = run(
        &def,
        &case,
        ev("reclamer", "membre", json!({"expediee_le": "2026-12-20"})),
        "2026-12-18",
    )
    .unwrap_err();
    assert_eq!(future.code(), "invalid_input");
    let ok = run(
        &def,
        &case,
        ev("reclamer", "membre", json!({"expediee_le": "2026-12-18"})),
        "2026-12-18",
    );
    assert_eq!(ok.map(|(c, _)| c.state.to_string()).unwrap(), "recours");
}

/// Art. 138 § 2: the convocation is notified "trois jours ouvrables au moins avant
/// l'audition", by registered letter taking effect three working days after dispatch.
const BOUNDED: &str = r#"
id: audition
title: Audition
legal_basis: "Décret du 13 septembre 2018, art. 138, § 2"
roles: { gouvernement: Gouvernement }
variables:
  convocation_expediee_le: { type: date }
  audition_le: { type: date }
start: { by: [gouvernement] }
initial: a_convoquer
states:
  a_convoquer:
    label: À convoquer
    on:
      convoquer:
        by: [gouvernement]
        inputs: [convocation_expediee_le, audition_le]
        constraints:
          - date: audition_le
            not_before: { working_days: 3, from: convocation_expediee_le, letter: registered }
            message: "L'audition a lieu trois jours ouvrables au moins après la prise d'effet de la convocation (art. 138, § 2)."
        goto: convoque
  convoque: { label: Convoqué, final: true }
"#;

#[test]
fn a_date_before_its_legal_minimum_is_refused_with_the_article() {
    let def = Definition::compile(definition::parse(BOUNDED).expect("parses")).expect("compiles");
    let (case, _) = start(
        &def,
        &Calendar::fwb(),
        StartRequest {
            by: actor("gouvernement"),
            inputs: Inputs::new(),
            now: noon("2026-12-18"),
        },
    )
    .expect("starts");
    // Posted Fri 18 Dec 2026: effect on the third working day, Wed 23 Dec; three working
    // days more, Christmas skipped (Thu 24, Mon 28, Tue 29): Tue 29 Dec is the earliest hearing.
    let convoke = |hearing: &str| {
        run(
            &def,
            &case,
            ev(
                "convoquer",
                "gouvernement",
                json!({"convocation_expediee_le": "2026-12-18", "audition_le": hearing}),
            ),
            "2026-12-18",
        )
    };
    let early = convoke("2026-12-28").unwrap_err();
    assert_eq!(early.code(), "date_out_of_range");
    let Refusal::DateOutOfRange {
        limit, message_fr, ..
    } = &early
    else {
        unreachable!()
    };
    assert_eq!(*limit, d("2026-12-29"));
    assert!(message_fr.contains("art. 138, § 2"), "{message_fr}");
    assert!(
        message_fr.contains("mardi 29 décembre 2026"),
        "{message_fr}"
    );
    assert_eq!(
        &*convoke("2026-12-29").expect("on the limit").0.state,
        "convoque"
    );
}

/// Art. 65 § 3: only services actually rendered count. An absence entered afterwards, from
/// its first day to the return, pushes the end of the stage back by exactly its length.
const STAGE: &str = r#"
id: stage-absences
title: Stage
legal_basis: "Décret du 13 septembre 2018, art. 65, § 3"
roles: { gouvernement: Gouvernement }
variables:
  absence_debut_le: { type: date }
  absence_fin_le: { type: date }
start: { by: [gouvernement] }
initial: stage
states:
  stage:
    label: Stage
    timers:
      - id: fin_stage
        after: { years: 2 }
        goto: fin
    on:
      debut_absence:
        by: [gouvernement]
        inputs: [absence_debut_le]
        effective: absence_debut_le
        suspend: [fin_stage]
      fin_absence:
        by: [gouvernement]
        inputs: [absence_fin_le]
        effective: absence_fin_le
        resume: [fin_stage]
  fin: { label: Fin, final: true }
"#;

#[test]
fn an_absence_entered_afterwards_pushes_the_end_back_by_its_length() {
    let def = Definition::compile(definition::parse(STAGE).expect("parses")).expect("compiles");
    let (case, _) = start(
        &def,
        &Calendar::fwb(),
        StartRequest {
            by: actor("gouvernement"),
            inputs: Inputs::new(),
            now: noon("2026-09-01"),
        },
    )
    .expect("starts");
    // Two years from Tue 1 Sep 2026: Fri 1 Sep 2028.
    assert_eq!(due(&case, "fin_stage"), d("2028-09-01"));
    // Absent from Mon 1 Mar 2027, entered on the 10th; back on Thu 1 Apr 2027, entered on
    // the 6th: 31 days not served.
    let (case, _) = run(
        &def,
        &case,
        ev(
            "debut_absence",
            "gouvernement",
            json!({"absence_debut_le": "2027-03-01"}),
        ),
        "2027-03-10",
    )
    .expect("suspended");
    let (case, _) = run(
        &def,
        &case,
        ev(
            "fin_absence",
            "gouvernement",
            json!({"absence_fin_le": "2027-04-01"}),
        ),
        "2027-04-06",
    )
    .expect("resumed");
    // 1 Sep 2028 + 31 days = Mon 2 Oct 2028.
    assert_eq!(due(&case, "fin_stage"), d("2028-10-02"));
}
