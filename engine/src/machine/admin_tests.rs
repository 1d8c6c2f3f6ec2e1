//! Changes by decision, dates checked by hand against the calendar of 2026-2027 (Christmas
//! and New Year's Day on Fridays, Easter Monday on 29 March 2027).

use serde_json::json;

use super::tests::{d, noon, run};
use super::*;
use crate::calendar::{Calendar, Length, Unit};
use crate::definition;

const WORKFLOW: &str = r#"
id: admin-test
title: Test
legal_basis: "Décret du 13 septembre 2018, art. 40"
roles: { secretaire: Secrétaire, chambre: Chambre }
variables:
  notifiee_le: { type: date }
  votes: { type: integer }
start: { by: [secretaire], inputs: [notifiee_le] }
initial: attente
states:
  attente:
    label: Attente
    timers:
      - id: delai
        label: Délai de recours
        after: { working_days: 10, from: notifiee_le, letter: registered }
        goto: instruction
        reminders: [{ before: { working_days: 2 }, notify: [{ to: [secretaire], template: rappel }] }]
    tasks:
      - id: recevoir
        role: secretaire
        title: Recevoir le recours
        due: { working_days: 10, from: notifiee_le, letter: registered }
        closes_on: [recours]
    on:
      recours: { by: [secretaire], goto: instruction }
  instruction:
    label: Instruction
    tasks: [{ id: avis, role: chambre, title: "Rendre l'avis", due: { working_days: 20 }, closes_on: [avis] }]
    timers: [{ id: delai_avis, label: "Délai d'avis", after: { working_days: 20 }, goto: clos }]
    on:
      avis: { by: [chambre], inputs: [votes], goto: clos }
  clos: { label: Clos, final: true }
"#;

fn def() -> Definition {
    Definition::compile(definition::parse(WORKFLOW).expect("parses")).expect("compiles")
}

fn who(role: &str) -> Actor {
    Actor {
        id: format!("test:{role}"),
        roles: vec![role.to_string()],
    }
}

/// Notified by registered letter on Monday 14 December 2026.
fn started(def: &Definition) -> Case {
    start(
        def,
        &Calendar::fwb(),
        StartRequest {
            by: who("secretaire"),
            inputs: serde_json::from_value(json!({"notifiee_le": "2026-12-14"})).unwrap(),
            now: noon("2026-12-15"),
        },
    )
    .expect("starts")
    .0
}

fn correction(value: serde_json::Value, reason: Option<&str>) -> Trigger {
    Trigger::Correction {
        by: who("admin"),
        inputs: serde_json::from_value(value).unwrap(),
        reason: reason.map(str::to_string),
        fired: Vec::new(),
    }
}

fn history(effects: &[Effect]) -> &History {
    match effects.last() {
        Some(Effect::History(h)) => h,
        _ => panic!("a history row last"),
    }
}

fn reminder_dates(case: &Case) -> Vec<NaiveDate> {
    case.timers
        .iter()
        .filter(|t| matches!(t.kind, TimerKind::Reminder { .. }))
        .map(|t| civil::civil_date(t.fire_at))
        .collect()
}

#[test]
fn a_corrected_date_moves_the_deadline_its_task_and_reminder_over_christmas() {
    let def = def();
    let case = started(&def);
    // Effect Thu 17 Dec; 10 working days skipping Christmas and New Year's Day: Mon 4 Jan.
    assert_eq!(case.timer("delai").unwrap().due.due, d("2027-01-04"));
    assert_eq!(reminder_dates(&case), vec![d("2026-12-30")]);
    let (next, effects) = run(
        &def,
        &case,
        correction(
            json!({"notifiee_le": "2026-12-17"}),
            Some("date de l'accusé mal recopiée"),
        ),
        "2026-12-16",
    )
    .expect("corrected");
    // Effect Tue 22 Dec; then 23, 24, 28, 29, 30, 31 Dec, 4, 5, 6, 7 Jan: Thu 7 Jan.
    let t = next.timer("delai").unwrap();
    assert_eq!(t.due.due, d("2027-01-07"));
    assert_ne!(t.key, case.timer("delai").unwrap().key, "a new arming");
    assert_eq!(
        next.task("recevoir").unwrap().due.as_ref().unwrap().due,
        d("2027-01-07")
    );
    assert_eq!(reminder_dates(&next), vec![d("2027-01-05")]);
    let explained = t.due.explain_fr().join("\n");
    assert!(
        explained.contains("Délai recompté après correction de « notifiee_le »"),
        "{explained}"
    );
    assert!(
        explained.contains("date de l'accusé mal recopiée"),
        "{explained}"
    );
    assert!(
        explained.contains("échéance précédente : lundi 4 janvier 2027"),
        "{explained}"
    );
    let h = history(&effects);
    assert_eq!(h.trigger, Cause::Correction);
    assert_eq!(h.reason.as_deref(), Some("date de l'accusé mal recopiée"));
    assert!(h.detail.contains(&Detail::Corrected {
        variable: "notifiee_le".into(),
        old: Some(json!("2026-12-14")),
        new: json!("2026-12-17"),
    }));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::MoveTask { task_id, due: Some(due) }
        if &**task_id == "recevoir" && due.due == d("2027-01-07")))
    );
}

#[test]
fn corrections_are_refused_without_reason_role_or_a_known_typed_variable() {
    let def = def();
    let case = started(&def);
    let code = |t| {
        run(&def, &case, t, "2026-12-16")
            .map(|_| ())
            .unwrap_err()
            .code()
    };
    assert_eq!(
        code(correction(json!({"notifiee_le": "2026-12-17"}), None)),
        "missing_reason"
    );
    assert_eq!(
        code(correction(json!({"notifiee_le": "2026-12-17"}), Some("  "))),
        "missing_reason"
    );
    assert_eq!(
        code(correction(json!({"inconnue": 1}), Some("x"))),
        "unknown_input"
    );
    assert_eq!(
        code(correction(json!({"started_on": "2026-12-01"}), Some("x"))),
        "unknown_input"
    );
    assert_eq!(
        code(correction(json!({"notifiee_le": "demain"}), Some("x"))),
        "invalid_input"
    );
    assert_eq!(code(correction(json!({}), Some("x"))), "missing_input");
    let by_secretary = Trigger::Correction {
        by: who("secretaire"),
        inputs: serde_json::from_value(json!({"notifiee_le": "2026-12-17"})).unwrap(),
        reason: Some("x".into()),
        fired: Vec::new(),
    };
    assert_eq!(code(by_secretary), "role_not_allowed");
}

#[test]
fn a_correction_may_not_unfire_a_deadline_that_expired() {
    let def = def();
    let case = started(&def);
    let t = case.timer("delai").unwrap().clone();
    let (fired, _) = step(
        &def,
        &Calendar::fwb(),
        &case,
        Trigger::Timer { key: t.key },
        t.fire_at,
    )
    .expect("fires");
    assert_eq!(&*fired.state, "instruction");
    let late = Trigger::Correction {
        by: who("admin"),
        inputs: serde_json::from_value(json!({"notifiee_le": "2027-01-04"})).unwrap(),
        reason: Some("x".into()),
        fired: vec!["delai".into()],
    };
    let refused = run(&def, &fired, late, "2027-01-06")
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        refused,
        Refusal::TimerAlreadyFired {
            timer: "delai".into(),
            variable: "notifiee_le".into(),
            corrected_due: d("2027-01-21"),
        }
    );
    // An earlier date keeps the expiry in the past: accepted.
    let earlier = Trigger::Correction {
        by: who("admin"),
        inputs: serde_json::from_value(json!({"notifiee_le": "2026-12-10"})).unwrap(),
        reason: Some("x".into()),
        fired: vec!["delai".into()],
    };
    assert!(run(&def, &fired, earlier, "2027-01-06").is_ok());
}

fn in_instruction(def: &Definition) -> Case {
    // Appeal received Monday 8 March 2027: 20 working days skipping Easter Monday (29 March)
    // end on Tuesday 6 April.
    let case = started(def);
    let (case, _) = run(
        def,
        &case,
        Trigger::Event {
            name: "recours".into(),
            by: who("secretaire"),
            inputs: Inputs::new(),
            reason: None,
        },
        "2027-03-08",
    )
    .expect("received");
    assert_eq!(case.timer("delai_avis").unwrap().due.due, d("2027-04-06"));
    case
}

fn deadline(change: DeadlineChange, reason: Option<&str>) -> Trigger {
    Trigger::Deadline {
        timer: "delai_avis".into(),
        change,
        by: who("admin"),
        reason: reason.map(str::to_string),
    }
}

#[test]
fn an_extension_counts_in_the_deadlines_unit_and_moves_its_task() {
    let def = def();
    let case = in_instruction(&def);
    let ten = DeadlineChange::Extend(Length::new(10, Unit::WorkingDays));
    let (next, effects) = run(
        &def,
        &case,
        deadline(ten, Some("avis d'expert attendu")),
        "2027-03-10",
    )
    .expect("ok");
    // From Tue 6 April, 10 working days: Tue 20 April.
    let t = next.timer("delai_avis").unwrap();
    assert_eq!(t.due.due, d("2027-04-20"));
    assert_eq!(
        next.task("avis").unwrap().due.as_ref().unwrap().due,
        d("2027-04-20")
    );
    let explained = t.due.explain_fr().join("\n");
    assert!(explained.contains("Délai prolongé de 10 jours ouvrables, décision du mercredi 10 mars 2027 (par test:admin) : avis d'expert attendu ; échéance précédente : mardi 6 avril 2027."), "{explained}");
    assert_eq!(
        history(&effects).trigger,
        Cause::Deadline {
            timer: "delai_avis".into(),
            change: "extension"
        }
    );
}

/// An extension adds to the period; it does not start a new one: the period still began on
/// 8 March, so a suspension from a day before the old end is recorded, with what is left of
/// the extended period.
#[test]
fn an_extended_deadline_can_be_suspended_from_a_day_of_its_first_period() {
    let def = def();
    let case = in_instruction(&def);
    let ten = DeadlineChange::Extend(Length::new(10, Unit::WorkingDays));
    let (longer, _) = run(&def, &case, deadline(ten, Some("expertise")), "2027-03-10").expect("ok");
    assert_eq!(longer.timer("delai_avis").unwrap().due.due, d("2027-04-20"));
    let from_22_march = DeadlineChange::Suspend {
        from: d("2027-03-22"),
    };
    let (susp, _) = run(
        &def,
        &longer,
        deadline(from_22_march, Some("instruction pénale")),
        "2027-03-23",
    )
    .expect("a day of the period, before the extension's start");
    let t = susp
        .timers
        .iter()
        .find(|t| &*t.key.timer == "delai_avis")
        .unwrap();
    let TimerStatus::Suspended { remaining, .. } = &t.status else {
        panic!("suspended")
    };
    // The 10 working days left on 22 March (see the next test) and the 10 of the extension.
    assert_eq!(*remaining, Some(Length::new(20, Unit::WorkingDays)));
    // Before the period began (8 March): still refused.
    let before = DeadlineChange::Suspend {
        from: d("2027-03-05"),
    };
    let refused = run(&def, &longer, deadline(before, Some("x")), "2027-03-23");
    assert!(
        matches!(&refused, Err(Refusal::InvalidInput { input, .. }) if input == "from"),
        "{refused:?}"
    );
}

#[test]
fn a_suspension_keeps_the_remaining_working_days_until_resumed() {
    let def = def();
    let case = in_instruction(&def);
    let (susp, effects) = run(
        &def,
        &case,
        deadline(
            DeadlineChange::Suspend {
                from: d("2027-03-22"),
            },
            Some("instruction pénale"),
        ),
        "2027-03-23",
    )
    .expect("suspended");
    let t = susp
        .timers
        .iter()
        .find(|t| &*t.key.timer == "delai_avis")
        .unwrap();
    let TimerStatus::Suspended { remaining, .. } = &t.status else {
        panic!("suspended")
    };
    // Working days after 22 March up to 6 April: 23-26 March (4), 30-31 (2), 1-2 April (2),
    // 5 April (1), 6 April (1) = 10; Easter Monday 29 March is not one.
    assert_eq!(*remaining, Some(Length::new(10, Unit::WorkingDays)));
    assert_eq!(
        susp.task("avis").unwrap().due,
        None,
        "no due date while suspended"
    );
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::MoveTask { due: None, .. }))
    );
    let code = |c: &Case, t| {
        run(&def, c, t, "2027-03-24")
            .map(|_| ())
            .unwrap_err()
            .code()
    };
    let ten = DeadlineChange::Extend(Length::new(10, Unit::WorkingDays));
    assert_eq!(
        code(
            &case,
            deadline(
                DeadlineChange::Resume {
                    on: d("2027-03-24")
                },
                None
            )
        ),
        "timer_not_suspended"
    );
    assert_eq!(
        code(
            &susp,
            deadline(
                DeadlineChange::Suspend {
                    from: d("2027-03-23")
                },
                Some("x")
            )
        ),
        "timer_not_armed"
    );
    assert_eq!(code(&susp, deadline(ten, None)), "missing_reason");
    // Resumed Mon 19 April: 10 working days, Tue 20 April to Mon 3 May.
    let (back, _) = run(
        &def,
        &susp,
        deadline(
            DeadlineChange::Resume {
                on: d("2027-04-19"),
            },
            None,
        ),
        "2027-04-19",
    )
    .expect("resumed");
    let t = back.timer("delai_avis").unwrap();
    assert!(t.is_armed());
    assert_eq!(t.due.due, d("2027-05-03"));
    assert_eq!(
        back.task("avis").unwrap().due.as_ref().unwrap().due,
        d("2027-05-03")
    );
    let explained = t.due.explain_fr().join("\n");
    assert!(
        explained.contains(
            "Délai suspendu à partir du lundi 22 mars 2027 (10 jours ouvrables restants)"
        ),
        "{explained}"
    );
    assert!(
        explained.contains("Délai repris le lundi 19 avril 2027"),
        "{explained}"
    );
}

#[test]
fn closing_cancels_timers_and_tasks_and_keeps_the_state() {
    let def = def();
    let case = in_instruction(&def);
    let close = |role: &str, reason: Option<&str>, outcome: &str| Trigger::Close {
        by: who(role),
        reason: reason.map(str::to_string),
        outcome: outcome.into(),
    };
    let code = |t| {
        run(&def, &case, t, "2027-03-10")
            .map(|_| ())
            .unwrap_err()
            .code()
    };
    assert_eq!(
        code(close("chambre", Some("x"), "sans_suite")),
        "role_not_allowed"
    );
    assert_eq!(
        code(close("operator", None, "sans_suite")),
        "missing_reason"
    );
    assert_eq!(code(close("operator", Some("x"), " ")), "missing_input");
    let (closed, effects) = run(
        &def,
        &case,
        close("operator", Some("désistement"), "sans_suite"),
        "2027-03-10",
    )
    .expect("closed");
    assert_eq!(closed.outcome(), Some("sans_suite"));
    assert_eq!(&*closed.state, "instruction");
    assert!(closed.timers.is_empty() && closed.tasks.is_empty());
    assert_eq!(closed.variables, case.variables);
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::CloseTask {
            reason: CloseReason::CaseClosed,
            ..
        }
    )));
    let again = run(
        &def,
        &closed,
        close("operator", Some("x"), "y"),
        "2027-03-11",
    );
    assert_eq!(again.map(|_| ()).unwrap_err().code(), "case_closed");
}

#[test]
fn administration_names_who_may_and_refuses_unknown_roles() {
    let with = WORKFLOW.replace(
        "initial: attente",
        "administration: { corrections: { by: [secretaire] }, deadlines: { by: [chambre, admin] } }\ninitial: attente",
    );
    let def = Definition::compile(definition::parse(&with).unwrap()).unwrap();
    assert_eq!(def.admin.corrections_by, vec![Arc::from("secretaire")]);
    assert_eq!(
        def.admin.closing_by,
        vec![Arc::from("admin"), Arc::from("operator")]
    );
    let bad = WORKFLOW.replace(
        "initial: attente",
        "administration: { closing: { by: [directeur] } }\ninitial: attente",
    );
    let err = Definition::compile(definition::parse(&bad).unwrap()).unwrap_err();
    assert!(err.contains("unknown role 'directeur'"), "{err}");
}

#[test]
fn the_validator_names_unknown_administration_roles_and_empty_lists() {
    let text = WORKFLOW.replace(
        "initial: attente",
        "administration:\n  closing: { by: [directeur] }\n  deadlines: { by: [] }\ninitial: attente",
    );
    let file = definition::WorkflowFile::from_text("admin-test/workflow.yaml", text).unwrap();
    let catalog = definition::Catalog::new(vec![file]);
    for file in catalog.files() {
        let out = definition::validate(file, &catalog);
        let found =
            |code: &str, line: u32| out.iter().any(|d| d.code == code && d.pos.line == line);
        assert!(found("unknown-role", 11), "{out:?}");
        assert!(found("administration-no-role", 12), "{out:?}");
    }
}

fn on_delai(change: DeadlineChange, reason: Option<&str>) -> Trigger {
    Trigger::Deadline {
        timer: "delai".into(),
        change,
        by: who("admin"),
        reason: reason.map(str::to_string),
    }
}

#[test]
fn a_correction_keeps_the_extensions_already_decided() {
    let def = def();
    let case = started(&def);
    let five = DeadlineChange::Extend(Length::new(5, Unit::WorkingDays));
    let (ext, _) = run(&def, &case, on_delai(five, Some("x")), "2026-12-16").expect("extended");
    // Monday 4 January + 5 working days: Monday 11 January.
    assert_eq!(ext.timer("delai").unwrap().due.due, d("2027-01-11"));
    assert_eq!(
        ext.task("recevoir").unwrap().due.as_ref().unwrap().due,
        d("2027-01-11")
    );
    let (next, _) = run(
        &def,
        &ext,
        correction(json!({"notifiee_le": "2026-12-17"}), Some("y")),
        "2026-12-17",
    )
    .expect("corrected");
    // Thursday 7 January + 5 working days: Thursday 14 January, for the task as well.
    assert_eq!(next.timer("delai").unwrap().due.due, d("2027-01-14"));
    assert_eq!(
        next.task("recevoir").unwrap().due.as_ref().unwrap().due,
        d("2027-01-14")
    );
    let kinds: Vec<&str> = next
        .timer("delai")
        .unwrap()
        .due
        .decisions
        .iter()
        .map(|x| match x.change {
            crate::calendar::Change::Extension { .. } => "extension",
            crate::calendar::Change::Correction { .. } => "correction",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, vec!["extension", "correction"]);
}

#[test]
fn a_correction_while_suspended_changes_what_is_left() {
    let def = def();
    let case = started(&def);
    let (susp, _) = run(
        &def,
        &case,
        on_delai(
            DeadlineChange::Suspend {
                from: d("2026-12-18"),
            },
            Some("x"),
        ),
        "2026-12-18",
    )
    .expect("suspended");
    let left = |c: &Case| match &c
        .timers
        .iter()
        .find(|t| &*t.key.timer == "delai")
        .unwrap()
        .status
    {
        TimerStatus::Suspended { remaining, .. } => *remaining,
        TimerStatus::Armed => panic!("suspended"),
    };
    // After Friday 18 December up to Monday 4 January: 9 working days.
    assert_eq!(left(&susp), Some(Length::new(9, Unit::WorkingDays)));
    let (next, _) = run(
        &def,
        &susp,
        correction(json!({"notifiee_le": "2026-12-11"}), Some("y")),
        "2026-12-18",
    )
    .expect("corrected");
    // Effect Wednesday 16 December, end Thursday 31 December: 8 left; nothing armed meanwhile.
    assert_eq!(left(&next), Some(Length::new(8, Unit::WorkingDays)));
    assert!(next.timer("delai").is_some_and(|t| !t.is_armed()));
    assert_eq!(next.task("recevoir").unwrap().due, None);
    let (back, _) = run(
        &def,
        &next,
        on_delai(
            DeadlineChange::Resume {
                on: d("2027-01-04"),
            },
            None,
        ),
        "2027-01-04",
    )
    .expect("resumed");
    // 8 working days from Monday 4 January: Thursday 14 January.
    assert_eq!(back.timer("delai").unwrap().due.due, d("2027-01-14"));
    assert_eq!(
        back.task("recevoir").unwrap().due.as_ref().unwrap().due,
        d("2027-01-14")
    );
}
