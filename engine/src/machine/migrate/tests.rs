//! Migrations checked by hand against the calendar of December 2026: Christmas (Friday 25)
//! and New Year's Day (Friday 1 January 2027) are not working days.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::mapping::{check, check_versions, parse};
use super::*;
use crate::calendar::Calendar;
use crate::definition;
use crate::machine::{Actor, StartRequest, Trigger, civil, start, step};

const V1: &str = r#"
id: migration-test
title: Migration
legal_basis: "Art. 1"
roles: { secretaire: Secrétaire, chambre: Chambre }
variables:
  recu_le: { type: date }
  motif: { type: text }
  ancien: { type: integer }
start:
  by: [secretaire]
  inputs: [recu_le]
  optional_inputs: [motif, ancien]
initial: instruction
states:
  instruction:
    label: Instruction
    legal_basis: "Art. 2"
    tasks:
      - id: avis
        role: chambre
        title: Rendre l'avis
        due: { working_days: 10 }
        closes_on: [avis_rendu]
    timers:
      - id: delai
        after: { working_days: 10 }
        goto: clos
      - id: rappel
        after: { calendar_days: 5 }
        notify: [{ to: [secretaire], template: rappel }]
    on:
      avis_rendu: { by: [chambre], goto: clos }
      suspendre: { by: [secretaire], suspend: [delai] }
  clos: { label: Clos, final: true }
"#;

/// `instruction` renamed `examen`, `motif` renamed `motifs`, `ancien` gone, the deadline and
/// the task's due date 15 working days instead of 10, and a new timer `relance`.
const V2: &str = r#"
id: migration-test
title: Migration
legal_basis: "Art. 1"
roles: { secretaire: Secrétaire, chambre: Chambre }
variables:
  recu_le: { type: date }
  motifs: { type: text }
start:
  by: [secretaire]
  inputs: [recu_le]
  optional_inputs: [motifs]
initial: examen
states:
  examen:
    label: Examen
    legal_basis: "Art. 2"
    tasks:
      - id: avis
        role: chambre
        title: Rendre l'avis
        due: { working_days: 15 }
        closes_on: [avis_rendu]
    timers:
      - id: delai
        after: { working_days: 15 }
        goto: clos
      - id: rappel
        after: { calendar_days: 5 }
        notify: [{ to: [secretaire], template: rappel }]
      - id: relance
        after: { calendar_days: 22 }
        notify: [{ to: [secretaire], template: relance }]
    on:
      avis_rendu: { by: [chambre], goto: clos }
      suspendre: { by: [secretaire], suspend: [delai] }
  clos: { label: Clos, final: true }
"#;

const MAPPING: &str = "states: { instruction: examen }
variables: { motif: motifs }
drop: [ancien]
";

fn def(text: &str) -> Definition {
    Definition::compile(definition::parse(text).expect("parses")).expect("compiles")
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn noon(s: &str) -> DateTime<Utc> {
    civil::brussels_at(d(s), 12, 0)
}

const VERSIONS: Versions = Versions { from: 1, to: 2 };

/// A case of `V1` started on Monday 14 December 2026.
fn started(old: &Definition) -> Case {
    let inputs = serde_json::from_value(json!({
        "recu_le": "2026-12-14", "motif": "retard", "ancien": 3
    }))
    .unwrap();
    let by = Actor {
        id: "s".into(),
        roles: vec!["secretaire".into()],
    };
    let req = StartRequest {
        by,
        inputs,
        now: noon("2026-12-14"),
    };
    start(old, &Calendar::fwb(), req).expect("starts").0
}

fn migrated(mapping: &str, case: &Case) -> Migrated {
    let (old, new) = (def(V1), def(V2));
    let mapping = parse(mapping).expect("parses");
    assert_eq!(check(&mapping, &old, &new), vec![]);
    let decision = Decision {
        actor: Some("admin".into()),
        reason: Some("version 2".into()),
    };
    migrate(
        &old,
        &new,
        &mapping,
        VERSIONS,
        &Calendar::fwb(),
        case,
        noon("2026-12-16"),
        decision,
    )
    .expect("migrates")
}

fn due(case: &Case, id: &str) -> NaiveDate {
    case.timer(id).expect("armed").due.due
}

#[test]
fn deadlines_are_counted_again_from_the_state_s_entry_over_christmas() {
    let before = started(&def(V1));
    // 10 working days from Monday 14 December: 15-18, 21-24, 28, 29.
    assert_eq!(due(&before, "delai"), d("2026-12-29"));
    let m = migrated(MAPPING, &before);
    let after = &m.case;
    assert_eq!(&*after.state, "examen");
    assert_eq!(after.entered_on, d("2026-12-14"));
    let vars: Vec<&str> = after.variables.keys().map(|k| &**k).collect();
    assert_eq!(vars, ["motifs", "recu_le", "started_on"]);
    // 15 working days: 15-18, 21-24, 28-31 (Christmas skipped), 4-6 January (New Year's
    // Day skipped).
    assert_eq!(due(after, "delai"), d("2027-01-06"));
    assert_eq!(
        after.task("avis").unwrap().due.as_ref().unwrap().due,
        d("2027-01-06")
    );
    // The reminder-like timer of the same length keeps its date under a new arming.
    assert_eq!(due(after, "rappel"), due(&before, "rappel"));
    assert_ne!(
        after.timer("rappel").unwrap().key,
        before.timer("rappel").unwrap().key
    );
    // The new timer counts from the state's entry: 14 December + 22 days.
    assert_eq!(due(after, "relance"), d("2027-01-05"));
    let changes: Vec<&Change> = m
        .plan
        .iter()
        .filter_map(|p| match p {
            Detail::Migrated { change } => Some(change),
            _ => None,
        })
        .collect();
    assert!(changes.contains(&&Change::State {
        from: "instruction".into(),
        to: "examen".into()
    }));
    assert!(changes.contains(&&Change::VariableDropped {
        name: "ancien".into()
    }));
    assert!(changes.iter().any(|c| matches!(c,
        Change::TimerArmed { timer, due, previous_due: Some(p), .. }
            if &**timer == "delai" && *due == d("2027-01-06") && *p == d("2026-12-29"))));
    assert!(changes.iter().any(|c| matches!(c,
        Change::TaskOpened { task, previous_due: Some(p), .. }
            if &**task == "avis" && *p == d("2026-12-29"))));
    assert!(changes.contains(&&Change::TaskClosed {
        task: "avis".into()
    }));
    // Every cancelled and armed timer of the effects is in the plan, and nothing else.
    let cancelled = m
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::CancelTimer { .. }))
        .count();
    let armed = m
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::ArmTimer { .. }))
        .count();
    assert_eq!(
        (cancelled, armed),
        (
            changes
                .iter()
                .filter(|c| matches!(c, Change::TimerCancelled { .. }))
                .count(),
            changes
                .iter()
                .filter(|c| matches!(c, Change::TimerArmed { .. }))
                .count()
        )
    );
    assert_eq!((cancelled, armed), (2, 3));
    // The history row carries the plan.
    let Some(Effect::History(h)) = m.effects.last() else {
        panic!("history last")
    };
    assert_eq!(h.detail, m.plan);
    assert_eq!(h.trigger.to_string(), "migration v1 -> v2");
    assert_eq!(h.from_state.as_deref(), Some("instruction"));
    assert_eq!(after.transitions, before.transitions + 1);
}

#[test]
fn kept_timers_keep_their_arming_and_cancelled_ones_are_not_armed_again() {
    let before = started(&def(V1));
    let mapping = format!("{MAPPING}timers: {{ delai: keep, rappel: cancel }}\n");
    let m = migrated(&mapping, &before);
    assert_eq!(m.case.timer("delai"), before.timer("delai"));
    assert!(m.case.timer("rappel").is_none());
    let armed: Vec<&str> = m
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::ArmTimer { timer_id, .. } => Some(&**timer_id),
            _ => None,
        })
        .collect();
    assert_eq!(armed, ["relance"]);
}

#[test]
fn a_timer_that_fired_is_not_armed_again() {
    let old = def(V1);
    let before = started(&old);
    let key = before.timer("rappel").unwrap().key.clone();
    let fired_at = before.timer("rappel").unwrap().fire_at;
    let (before, _) = step(
        &old,
        &Calendar::fwb(),
        &before,
        Trigger::Timer { key },
        fired_at,
    )
    .expect("fires");
    assert!(before.timer("rappel").is_none());
    let m = migrated(MAPPING, &before);
    assert!(m.case.timer("rappel").is_none());
    assert!(m.case.timer("relance").is_some());
}

#[test]
fn a_suspended_timer_stays_suspended() {
    let old = def(V1);
    let before = started(&old);
    let by = Actor {
        id: "s".into(),
        roles: vec!["secretaire".into()],
    };
    let suspend = Trigger::Event {
        name: "suspendre".into(),
        by,
        inputs: Default::default(),
        reason: None,
    };
    let (before, _) =
        step(&old, &Calendar::fwb(), &before, suspend, noon("2026-12-15")).expect("suspends");
    let m = migrated(MAPPING, &before);
    let delai = m
        .case
        .timers
        .iter()
        .find(|t| &*t.key.timer == "delai")
        .unwrap();
    assert!(matches!(delai.status, TimerStatus::Suspended { .. }));
    assert!(!m.effects.iter().any(
        |e| matches!(e, Effect::ArmTimer { timer_id, .. } | Effect::CancelTimer { key: crate::machine::TimerKey { timer: timer_id, .. } } if &**timer_id == "delai")
    ));
}

#[test]
fn a_closed_case_does_not_move() {
    let old = def(V1);
    let mut case = started(&old);
    case.status = crate::machine::Status::Closed {
        outcome: "x".into(),
    };
    let mapping = parse(MAPPING).unwrap();
    let r = migrate(
        &old,
        &def(V2),
        &mapping,
        VERSIONS,
        &Calendar::fwb(),
        &case,
        noon("2026-12-16"),
        Decision::default(),
    );
    assert!(r.is_err());
}

#[test]
fn an_unknown_key_is_placed() {
    let e = parse("states: { instruction: examen }\ntimer: { delai: keep }\n").unwrap_err();
    assert_eq!((e.code, e.pos.line, e.pos.column), ("mapping-yaml", 2, 1));
    let e = parse("timers: { delai: later }\n").unwrap_err();
    assert_eq!((e.code, e.pos.line), ("mapping-yaml", 1));
}

#[test]
fn mistakes_are_all_reported_with_their_positions() {
    let text = "states:
  instruction: exmen
  nulle_part: examen
variables:
  motif: motifs
  recu_le: motifs
timers:
  delai: keep
  inconnu: cancel
";
    let mut new = V2.replace("recu_le: { type: date }", "recu_le: { type: text }");
    new = new.replace(
        "      - id: delai\n        after: { working_days: 15 }\n        goto: clos\n",
        "",
    );
    new = new.replace("suspend: [delai]", "suspend: []");
    let (old, new) = (def(V1), def(&new));
    let mapping = parse(text).unwrap();
    let found: Vec<(&str, u32)> = check(&mapping, &old, &new)
        .iter()
        .map(|d| (d.code, d.pos.line))
        .collect();
    assert_eq!(
        found,
        [
            ("mapping-unmapped-variable", 1),
            ("mapping-unknown-state", 2),
            ("mapping-unknown-state", 3),
            ("mapping-variable-type", 6),
            ("mapping-variable-conflict", 6),
            ("mapping-keep-missing", 8),
            ("mapping-unknown-timer", 9),
        ]
    );
    let hint = check(&mapping, &old, &new)
        .into_iter()
        .find(|d| d.pos.line == 2)
        .and_then(|d| d.hint);
    assert_eq!(hint.as_deref(), Some("did you mean `examen`?"));
}

#[test]
fn an_open_state_without_a_place_is_reported() {
    let (old, new) = (def(V1), def(V2));
    let found: Vec<&str> = check(&parse("").unwrap(), &old, &new)
        .iter()
        .map(|d| d.code)
        .collect();
    assert_eq!(
        found,
        [
            "mapping-unmapped-state",
            "mapping-unmapped-variable",
            "mapping-unmapped-variable"
        ]
    );
}

/// Every `mapping-*` code this module emits is documented in docs/diagnostics.md (section
/// "Migration mappings"), and only those.
#[test]
fn every_mapping_code_is_documented() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/diagnostics.md")).unwrap();
    let section = doc
        .split("\n## Migration mappings")
        .nth(1)
        .expect("a Migration mappings section");
    let section = section.split("\n## ").next().unwrap();
    let documented: std::collections::BTreeSet<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let source = include_str!("mapping.rs");
    let emitted: std::collections::BTreeSet<&str> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|p| {
            p.starts_with("mapping-") && p.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .collect();
    assert_eq!(emitted, documented);
}

const PERSISTENT: &str = r#"
id: persist-test
title: Stage
legal_basis: "Art. 1"
roles: { secretaire: Secrétaire }
start: { by: [secretaire] }
initial: attente
states:
  attente:
    label: Attente
    on:
      admettre: { by: [secretaire], goto: admis }
  admis:
    label: Admis
    timers:
      - id: stage
        persist: true
        after: { working_days: 10 }
        goto: fin
    on:
      continuer: { by: [secretaire], goto: suite }
  suite:
    label: Suite
    on:
      finir: { by: [secretaire], goto: fin }
  fin: { label: Fin, final: true }
"#;

/// A persistent timer armed in an earlier state is counted again from the date its arming
/// counted from (the admission on 14 December), not from the case's start (1 December) nor
/// from the entry into the current state (15 December).
#[test]
fn a_persistent_timer_is_counted_again_from_its_own_start() {
    let old = def(PERSISTENT);
    let new = def(&PERSISTENT.replace("working_days: 10", "working_days: 15"));
    let by = Actor {
        id: "s".into(),
        roles: vec!["secretaire".into()],
    };
    let event = |name: &str| Trigger::Event {
        name: name.into(),
        by: by.clone(),
        inputs: Default::default(),
        reason: None,
    };
    let cal = Calendar::fwb();
    let req = StartRequest {
        by: by.clone(),
        inputs: Default::default(),
        now: noon("2026-12-01"),
    };
    let (case, _) = start(&old, &cal, req).unwrap();
    let (case, _) = step(&old, &cal, &case, event("admettre"), noon("2026-12-14")).unwrap();
    let (case, _) = step(&old, &cal, &case, event("continuer"), noon("2026-12-15")).unwrap();
    assert_eq!(
        (&*case.state, due(&case, "stage")),
        ("suite", d("2026-12-29"))
    );
    let mapping = parse("").unwrap();
    assert_eq!(check(&mapping, &old, &new), vec![]);
    let m = migrate(
        &old,
        &new,
        &mapping,
        VERSIONS,
        &cal,
        &case,
        noon("2026-12-16"),
        Decision::default(),
    )
    .unwrap();
    // 15 working days from 14 December, Christmas and New Year's Day skipped.
    assert_eq!(due(&m.case, "stage"), d("2027-01-06"));
    assert!(!m.case.timer("stage").unwrap().of_state);
}

#[test]
fn a_suspended_timer_the_new_version_lacks_is_listed_as_cancelled() {
    let old = def(V1);
    let before = started(&old);
    let by = Actor {
        id: "s".into(),
        roles: vec!["secretaire".into()],
    };
    let suspend = Trigger::Event {
        name: "suspendre".into(),
        by,
        inputs: Default::default(),
        reason: None,
    };
    let (before, _) =
        step(&old, &Calendar::fwb(), &before, suspend, noon("2026-12-15")).expect("suspends");
    let key = before
        .timers
        .iter()
        .find(|t| &*t.key.timer == "delai")
        .unwrap()
        .key
        .to_string();
    let new = def(&V2
        .replace(
            "      - id: delai\n        after: { working_days: 15 }\n        goto: clos\n",
            "",
        )
        .replace("suspend: [delai]", "suspend: []"));
    let mapping = parse(MAPPING).unwrap();
    let m = migrate(
        &old,
        &new,
        &mapping,
        VERSIONS,
        &Calendar::fwb(),
        &before,
        noon("2026-12-16"),
        Decision::default(),
    )
    .unwrap();
    assert!(m.case.timers.iter().all(|t| &*t.key.timer != "delai"));
    assert!(m.plan.iter().any(|p| matches!(p,
        Detail::Migrated { change: Change::TimerCancelled { key: k, .. } } if *k == key)));
    // Its row was cancelled when it was suspended: no second cancellation.
    assert!(!m.effects.iter().any(|e| matches!(e,
        Effect::CancelTimer { key: k } if k.to_string() == key)));
}

/// One mapping for the cases of versions 1 and 2: a key of version 1 only is not a mistake
/// for the cases of version 2; a key of no version is; a problem of one version says which.
#[test]
fn one_mapping_for_several_versions() {
    let (v1, v2) = (def(V1), def(V2));
    let v3 = def(&V2.replace("working_days: 15", "working_days: 20"));
    let olds = [(1, &v1), (2, &v2)];
    assert_eq!(check_versions(&parse(MAPPING).unwrap(), &olds, &v3), vec![]);
    // Version 2 alone: `instruction` and `motif` are none of its.
    let found: Vec<&str> = check(&parse(MAPPING).unwrap(), &v2, &v3)
        .iter()
        .map(|d| d.code)
        .collect();
    assert!(found.contains(&"mapping-unknown-state"), "{found:?}");
    let text = format!("{MAPPING}timers: {{ inconnu: keep }}\n").replace("examen }", "clos }");
    let found: Vec<(&str, String)> = check_versions(&parse(&text).unwrap(), &olds, &v3)
        .into_iter()
        .map(|d| (d.code, d.message))
        .collect();
    assert_eq!(
        found,
        [
            (
                "mapping-final-state",
                "the open state `instruction` is mapped to the final state `clos`: a \
                 migration does not close cases (cases of version 1)"
                    .to_string()
            ),
            (
                "mapping-unknown-timer",
                "`inconnu` is not a timer of the old version".to_string()
            ),
        ]
    );
}
