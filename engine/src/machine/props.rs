//! Property tests: random events (names, roles, inputs) and timer firings at increasing
//! instants never panic, only reach declared states, and a refusal leaves the case unchanged.

use std::path::Path;

use chrono::{Days, Duration};
use proptest::prelude::*;
use serde_json::json;

use super::tests::{WORKFLOW, d, noon};
use super::*;
use crate::calendar::Calendar;
use crate::definition::{self, VarType};

/// A second shape: workflow-level recurring timer, `set` on timers, a guard on a date.
const SMALL: &str = r#"
id: petit
title: Petit
legal_basis: "Art. 1"
roles: { a: A, b: B }
variables:
  depose_le: { type: date }
  nb: { type: integer }
  ok: { type: boolean }
  statut: { type: enum, values: [ouvert, clos] }
start: { by: [a], optional_inputs: [depose_le] }
initial: un
timers:
  - id: relance
    every: { calendar_days: 10 }
    until: { months: 2 }
    set: { statut: ouvert }
states:
  un:
    label: Un
    timers: [{ id: t1, after: { working_days: 3, from: depose_le }, goto: deux }]
    on:
      avancer: { by: [a, b], inputs: [nb], when: { nb: { at_least: 1, at_most: 9 } }, goto: deux }
      rester: { by: [b], optional_inputs: [ok], set: { statut: clos } }
  deux:
    label: Deux
    tasks: [{ id: k, role: b, title: T, due: { calendar_days: 5 }, reminders: [{ before: { calendar_days: 2 }, notify: [{ to: [a], template: r }] }] }]
    on:
      finir:
        by: [b]
        optional_inputs: [depose_le]
        choose:
          - when: { depose_le: { at_least: "2026-01-01" } }
            goto: fin
          - when: { ok: true }
            goto: un
  fin: { label: Fin, final: true }
"#;

fn definitions() -> Vec<Definition> {
    let mut texts = vec![WORKFLOW.to_string(), SMALL.to_string()];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if let Ok(t) = std::fs::read_to_string(e.path().join("workflow.yaml")) {
                texts.push(t);
            }
        }
    }
    texts
        .iter()
        .filter_map(|t| definition::parse(t).ok())
        .filter_map(|w| Definition::compile(w).ok())
        .collect()
}

#[derive(Clone, Debug)]
enum Action {
    /// `fill`: give the event's required inputs well typed, as a real actor mostly does.
    Event {
        name: usize,
        role: usize,
        fill: bool,
        inputs: Vec<(usize, u8, u32)>,
    },
    FireNext,
    Stale,
    Child {
        outcome: usize,
    },
    Wait {
        days: u8,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (any::<usize>(), any::<usize>(), prop::bool::weighted(0.8), prop::collection::vec((any::<usize>(), 0u8..8, any::<u32>()), 0..3))
            .prop_map(|(name, role, fill, inputs)| Action::Event { name, role, fill, inputs }),
        3 => Just(Action::FireNext),
        1 => Just(Action::Stale),
        1 => any::<usize>().prop_map(|outcome| Action::Child { outcome }),
        1 => (0u8..40).prop_map(|days| Action::Wait { days }),
    ]
}

/// A value for a variable: mostly well-typed, sometimes wrong on purpose.
fn value_for(def: &Definition, var: usize, kind: u8, seed: u32) -> (String, serde_json::Value) {
    let (name, v) = def
        .variables
        .get_index(var % def.variables.len())
        .expect("non-empty");
    let date = d("2025-09-01") + Days::new(u64::from(seed % 900));
    let good = match v.ty {
        VarType::Text | VarType::Document => json!(format!("texte {seed}")),
        VarType::Date => json!(date.to_string()),
        VarType::Integer => json!(i64::from(seed % 12) - 1),
        VarType::Boolean => json!(seed.is_multiple_of(2)),
        VarType::Enum => json!(v.values[seed as usize % v.values.len()]),
        VarType::Email => json!(format!("p{seed}@ecole.be")),
    };
    let value = match kind {
        0..=4 => good,
        5 => json!(null),
        6 => json!(seed),
        _ => json!(format!("{seed}-13-45")),
    };
    (name.clone(), value)
}

fn good_start(def: &Definition) -> StartRequest {
    let inputs = def
        .start
        .inputs
        .iter()
        .map(|name| {
            let i = def.variables.get_index_of(&**name).expect("declared");
            value_for(def, i, 0, 0)
        })
        .collect();
    StartRequest {
        by: Actor {
            id: "p".into(),
            roles: vec![def.start.by[0].to_string()],
        },
        inputs,
        now: noon("2025-09-01"),
    }
}

fn check_invariants(def: &Definition, case: &Case) {
    let state = def.state(&case.state).expect("a declared state");
    if case.is_closed() {
        assert!(state.is_final, "closed outside a final state");
        assert!(case.timers.is_empty() && case.tasks.is_empty());
    } else {
        assert!(!state.is_final, "open in a final state");
    }
    for t in &case.timers {
        assert!(t.key.seq <= case.arming_seq);
        if t.of_state && !matches!(t.kind, TimerKind::Reminder { .. }) {
            let def_t = def.timer(&t.key.timer).expect("declared timer");
            assert_eq!(
                def_t.state,
                def.state_index(&case.state),
                "timer of another state"
            );
        }
    }
    for k in &case.tasks {
        let def_k = def.task(&k.id).expect("declared task");
        assert_eq!(Some(def_k.state), def.state_index(&case.state));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_runs_stay_inside_the_definition(
        which in any::<usize>(),
        actions in prop::collection::vec(action(), 0..40),
    ) {
        let defs = definitions();
        let def = &defs[which % defs.len()];
        let cal = Calendar::fwb();
        let (mut case, _) = start(def, &cal, good_start(def)).expect("a well-typed start");
        check_invariants(def, &case);
        let mut now = noon("2025-09-02");
        let events: Vec<&EventDef> = def.states.iter().flat_map(|s| s.events.iter()).collect();
        let roles: Vec<&String> = def.roles.keys().collect();
        let outcomes: Vec<&str> = def.states.iter().flat_map(|s| s.on_child.iter().map(|(o, _)| o.as_str())).chain(["x"]).collect();
        for a in actions {
            let trigger = match a {
                Action::Wait { days } => { now += Duration::days(i64::from(days)); continue; }
                Action::FireNext => match case.next_timer() {
                    Some(t) => { now = now.max(t.fire_at); Trigger::Timer { key: t.key.clone() } }
                    None => continue,
                },
                Action::Stale => Trigger::Timer { key: TimerKey { timer: "nope".into(), seq: case.arming_seq + 1 } },
                Action::Child { outcome } => Trigger::ChildEnded { workflow: "w".into(), outcome: outcomes[outcome % outcomes.len()].into() },
                Action::Event { name, role, fill, inputs } => {
                    if events.is_empty() { continue; }
                    let ev = events[name % events.len()];
                    let mut given: Inputs = inputs.into_iter().map(|(v, k, s)| value_for(def, v, k, s)).collect();
                    let mut roles = vec![roles[role % roles.len()].clone()];
                    if fill {
                        for input in &ev.inputs {
                            let i = def.variables.get_index_of(&**input).expect("declared");
                            let (n, v) = value_for(def, i, 0, role as u32);
                            given.insert(n, v);
                        }
                        given.retain(|k, _| ev.inputs.iter().chain(&ev.optional_inputs).any(|n| **n == **k));
                        roles.push(ev.by[role % ev.by.len()].to_string());
                    }
                    Trigger::Event { name: ev.name.to_string(), by: Actor { id: "p".into(), roles }, inputs: given, reason: None }
                }
            };
            let before = serde_json::to_string(&case).expect("serializes");
            match step(def, &cal, &case, trigger.clone(), now) {
                Ok((next, effects)) => {
                    check_invariants(def, &next);
                    prop_assert!(next.transitions == case.transitions + 1);
                    prop_assert!(next.arming_seq >= case.arming_seq);
                    prop_assert!(matches!(effects.last(), Some(Effect::History(_))));
                    case = next;
                }
                Err(refusal) => {
                    prop_assert_eq!(&serde_json::to_string(&case).expect("serializes"), &before);
                    if matches!(trigger, Trigger::Timer { .. }) {
                        prop_assert_eq!(refusal.code(), "unknown_timer");
                    }
                    prop_assert!(!refusal.to_string().is_empty());
                }
            }
            now += Duration::hours(1);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Broken workflows (a name swapped for another) are refused or run, never panic.
    #[test]
    fn mutated_workflows_compile_or_are_refused(which in any::<usize>(), with in any::<usize>(), seed in any::<u32>()) {
        let words: Vec<&str> = WORKFLOW
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .filter(|w| w.len() > 2)
            .collect();
        let from = words[which % words.len()];
        let to = words[with % words.len()];
        let text = WORKFLOW.replacen(from, to, 1 + (seed % 3) as usize);
        if let Ok(wf) = definition::parse(&text)
            && let Ok(def) = Definition::compile(wf)
        {
            let cal = Calendar::fwb();
            let req = good_start(&def);
            if let Ok((case, _)) = start(&def, &cal, req) {
                check_invariants(&def, &case);
                if let Some(t) = case.next_timer() {
                    let key = t.key.clone();
                    let at = t.fire_at;
                    if let Ok((next, _)) = step(&def, &cal, &case, Trigger::Timer { key }, at) {
                        check_invariants(&def, &next);
                    }
                }
            }
        }
    }
}
