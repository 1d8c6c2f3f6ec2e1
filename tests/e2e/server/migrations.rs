//! `POST /api/v1/workflows/{id}/migrations`: open cases moved to a newer version of their
//! workflow through a mapping file. The dry run's plan is what the migration then writes (the
//! history row's detail, the timer and task rows); deadlines are counted again over Christmas
//! and New Year's Day; a case not selected stays on its version; the chain stays valid.

use std::collections::BTreeMap;

use jalon::clock::millis;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use store::entities::{task, timer};

use super::harness::{Backend, TestApp, brussels, spawn_app};
use crate::on_both_backends;

pub const V1: &str = r#"
id: migration-e2e
title: Migration e2e
legal_basis: "Décret du 13 septembre 2018"
roles: { secretaire: Secrétaire, chambre: Chambre }
variables:
  recu_le: { type: date }
  motif: { type: text }
  rappel_fait: { type: boolean }
start:
  by: [secretaire]
  inputs: [recu_le]
  optional_inputs: [motif]
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
        set: { rappel_fait: true }
    on:
      avis_rendu: { by: [chambre], goto: examen_final }
  examen_final:
    label: Examen final
    legal_basis: "Art. 3"
    timers:
      - id: delai_final
        after: { working_days: 5 }
        goto: clos
    on:
      clore: { by: [secretaire], goto: clos }
  clos: { label: Clos, final: true, outcome: clos }
"#;

/// Version 2: `instruction` is `examen`, `motif` is `motifs`, the deadline and the opinion
/// are due in 15 working days instead of 10, and a new timer `relance` (22 days).
pub fn v2() -> String {
    V1.replace("instruction", "examen")
        .replace("  motif: { type: text }", "  motifs: { type: text }")
        .replace("[motif]", "[motifs]")
        .replace("due: { working_days: 10 }", "due: { working_days: 15 }")
        .replace("after: { working_days: 10 }", "after: { working_days: 15 }")
        .replace(
            "        set: { rappel_fait: true }\n    on:",
            "        set: { rappel_fait: true }\n      - id: relance\n        after: { calendar_days: 22 }\n        set: { rappel_fait: true }\n    on:",
        )
}

pub const MAPPING: &str = "from_version: 1
states: { instruction: examen }
variables: { motif: motifs }
";

fn no_templates() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// Version 1 deployed, cases started on Monday 14 December 2026: `A`, `B` (in `instruction`),
/// `C` (moved on to `examen_final`) and `D`; then version 2 deployed. Returns the case ids by
/// key.
pub async fn cases_on_v1(app: &TestApp) -> BTreeMap<&'static str, String> {
    app.clock.set(brussels(2026, 12, 14, 12));
    let r = app.deploy(V1, no_templates()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let secretaire = app.actor("Secrétaire", &["secretaire"]).await;
    let chambre = app.actor("Chambre", &["chambre"]).await;
    let mut ids = BTreeMap::new();
    for key in ["A", "B", "C", "D"] {
        let r = app
            .start(
                &secretaire,
                "migration-e2e",
                key,
                json!({"recu_le": "2026-12-14", "motif": format!("motif {key}")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.insert(key, r.body["id"].as_str().unwrap().to_owned());
    }
    let r = app
        .event(&chambre, &ids["C"], "avis_rendu", json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.deploy(&v2(), no_templates()).await;
    assert_eq!(
        (r.status, &r.body["version"]),
        (201, &json!(2)),
        "{}",
        r.body
    );
    ids
}

async fn migrations(app: &TestApp, token: &str, body: Value) -> super::harness::Reply {
    app.post(token, "/api/v1/workflows/migration-e2e/migrations", body)
        .await
}

async fn case(app: &TestApp, id: &str) -> Value {
    let r = app.get(&app.admin, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

async fn history(app: &TestApp, id: &str) -> Vec<Value> {
    let r = app
        .get(&app.admin, &format!("/api/v1/cases/{id}/history"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.as_array().unwrap().clone()
}

/// The changes of a plan with this `change` kind.
fn of_kind<'a>(changes: &'a [Value], kind: &str) -> Vec<&'a Value> {
    changes
        .iter()
        .filter(|c| c["change"]["change"] == kind)
        .collect()
}

fn plan_of<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("no plan for {key}: {report}"))
}

async fn the_dry_run_is_what_the_migration_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let ids = cases_on_v1(&app).await;
    app.clock.set(brussels(2026, 12, 16, 12));
    let before: Vec<Value> = {
        let mut v = Vec::new();
        for id in ids.values() {
            v.push(case(&app, id).await);
        }
        v
    };
    let body = |dry_run: bool| {
        json!({"to_version": 2, "mapping": MAPPING, "dry_run": dry_run,
               "cases": ["A", "B", "C"], "reason": "nouvelle version"})
    };
    let dry = migrations(&app, &app.admin, body(true)).await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(dry.body["cases"].as_array().unwrap().len(), 3);
    // Nothing written by the dry run.
    for (id, was) in ids.values().zip(&before) {
        assert_eq!(&case(&app, id).await, was);
    }
    let done = migrations(&app, &app.admin, body(false)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["dry_run"], false);
    assert_eq!(done.body["cases"], dry.body["cases"]);

    let db = app.app.state.store.db();
    for key in ["A", "B", "C"] {
        let id = &ids[key];
        let plan = plan_of(&done.body, key);
        assert_eq!(plan["error"], Value::Null, "{plan}");
        let c = case(&app, id).await;
        assert_eq!(c["version"], 2);
        assert_eq!(c["state"], plan["to_state"]);
        assert_eq!(c["variables"]["motifs"], format!("motif {key}"));
        assert!(c["variables"].get("motif").is_none(), "{c}");
        // The history row holds the plan, in the chain.
        let h = history(&app, id).await;
        let last = h.last().unwrap();
        assert_eq!(last["trigger"], "migration v1 -> v2");
        assert_eq!(last["reason"], "nouvelle version");
        assert_eq!(&last["detail"], &plan["changes"]);
        // Every timer the plan arms is an armed row with that key, due date and instant;
        // every one it cancels, a cancelled row.
        let changes = plan["changes"].as_array().unwrap();
        let rows = timer::Entity::find()
            .filter(timer::Column::CaseId.eq(id))
            .all(db)
            .await
            .unwrap();
        let row = |key: &str| {
            rows.iter()
                .find(|r| r.timer_key == key)
                .unwrap_or_else(|| panic!("no timer row {key}"))
        };
        for armed in of_kind(changes, "timer_armed") {
            let ch = &armed["change"];
            let r = row(ch["key"].as_str().unwrap());
            assert_eq!(r.status, timer::Status::Armed);
            assert_eq!(r.due_date, ch["due"].as_str().unwrap());
            let fire_at: chrono::DateTime<chrono::Utc> =
                serde_json::from_value(ch["fire_at"].clone()).unwrap();
            assert_eq!(r.fire_at, millis(fire_at));
        }
        for cancelled in of_kind(changes, "timer_cancelled") {
            let r = row(cancelled["change"]["key"].as_str().unwrap());
            assert_eq!(r.status, timer::Status::Cancelled);
        }
        let armed_rows = rows
            .iter()
            .filter(|r| r.status == timer::Status::Armed)
            .count();
        let kept = of_kind(changes, "timer_kept").len();
        assert_eq!(armed_rows, of_kind(changes, "timer_armed").len() + kept);
        let tasks = task::Entity::find()
            .filter(task::Column::CaseId.eq(id))
            .all(db)
            .await
            .unwrap();
        for opened in of_kind(changes, "task_opened") {
            let ch = &opened["change"];
            let open: Vec<_> = tasks
                .iter()
                .filter(|t| t.task_id == ch["task"] && t.status == task::Status::Open)
                .collect();
            assert_eq!(open.len(), 1);
            assert_eq!(open[0].due_date.as_deref(), ch["due"].as_str());
        }
        for closed in of_kind(changes, "task_closed") {
            let t = tasks
                .iter()
                .find(|t| t.task_id == closed["change"]["task"] && t.status == task::Status::Closed)
                .unwrap();
            assert_eq!(t.close_reason.as_deref(), Some("migrated"));
        }
        let v = app
            .get(&app.admin, &format!("/api/v1/cases/{id}/verify"))
            .await;
        assert_eq!(
            (v.status, &v.body["intact"]),
            (200, &json!(true)),
            "{}",
            v.body
        );
    }

    // A: counted again from its entry on Monday 14 December, 15 working days: 15-18,
    // 21-24, 28-31 (Christmas skipped), 4-6 January (New Year's Day skipped).
    let a = plan_of(&done.body, "A");
    let delai = of_kind(a["changes"].as_array().unwrap(), "timer_armed")
        .into_iter()
        .find(|c| c["change"]["timer"] == "delai")
        .unwrap()["change"]
        .clone();
    assert_eq!(delai["due"], "2027-01-06");
    assert_eq!(delai["previous_due"], "2026-12-29");
    assert_eq!(a["to_state"], "examen");
    let deadlines = &case(&app, &ids["A"]).await["deadlines"];
    assert!(
        deadlines
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["timer"] == "delai" && d["due_date"] == "2027-01-06"),
        "{deadlines}"
    );
    // C stays in its state; its deadline of 5 working days has the same date in both.
    let c = plan_of(&done.body, "C");
    assert_eq!(
        (&c["from_state"], &c["to_state"]),
        (&json!("examen_final"), &json!("examen_final"))
    );
    let final_ = of_kind(c["changes"].as_array().unwrap(), "timer_armed")[0]["change"].clone();
    assert_eq!(final_["due"], final_["previous_due"]);

    // D was not selected: still on version 1, no migration in its history.
    let d = case(&app, &ids["D"]).await;
    assert_eq!(d["version"], 1);
    assert_eq!(d["state"], "instruction");
    assert!(
        history(&app, &ids["D"])
            .await
            .iter()
            .all(|h| !h["trigger"].as_str().unwrap().starts_with("migration"))
    );

    // The migrated timers run on the new version: A's deadline passes after 6 January; D's
    // (version 1) passed after 29 December.
    app.advance_to(brussels(2027, 1, 5, 12)).await;
    assert_eq!(case(&app, &ids["A"]).await["state"], "examen");
    assert_eq!(case(&app, &ids["D"]).await["state"], "clos");
    app.advance_to(brussels(2027, 1, 7, 12)).await;
    assert_eq!(case(&app, &ids["A"]).await["state"], "clos");

    // Nothing left to migrate: a second run finds no case.
    let again = migrations(&app, &app.admin, body(false)).await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert_eq!(again.body["code"], "invalid_migration");
}

async fn a_bad_mapping_is_refused_with_positions(backend: Backend) {
    let app = spawn_app(backend).await;
    let ids = cases_on_v1(&app).await;
    let mapping =
        "states:\n  instruction: exmen\nvariables: { motif: motifs }\ntimers: { delai: later }\n";
    let r = migrations(
        &app,
        &app.admin,
        json!({"to_version": 2, "mapping": mapping}),
    )
    .await;
    r.assert_refused(422, "invalid_mapping");
    let d = &r.body["details"]["diagnostics"][0];
    assert_eq!(
        (&d["code"], &d["line"]),
        (&json!("mapping-yaml"), &json!(4)),
        "{}",
        r.body
    );
    let mapping = "states:\n  instruction: exmen\nvariables: { motif: motifs }\n";
    let r = migrations(
        &app,
        &app.admin,
        json!({"to_version": 2, "mapping": mapping}),
    )
    .await;
    r.assert_refused(422, "invalid_mapping");
    let d = &r.body["details"]["diagnostics"][0];
    assert_eq!(
        (&d["file"], &d["code"], &d["line"], &d["column"]),
        (
            &json!("<mapping>"),
            &json!("mapping-unknown-state"),
            &json!(2),
            &json!(16)
        ),
        "{}",
        r.body
    );
    assert_eq!(d["hint"], "did you mean `examen`?");
    // Refused: every case as it was.
    for id in ids.values() {
        assert_eq!(case(&app, id).await["version"], 1);
    }
    // Only an administrator migrates.
    let secretaire = app.actor("Autre secrétaire", &["secretaire"]).await;
    let r = migrations(
        &app,
        &secretaire,
        json!({"to_version": 2, "mapping": MAPPING}),
    )
    .await;
    r.assert_refused(403, "forbidden");
    let r = migrations(
        &app,
        &app.admin,
        json!({"to_version": 3, "mapping": MAPPING}),
    )
    .await;
    r.assert_refused(404, "workflow_version_not_found");
}

/// Cases of versions 1 and 2 moved to version 3 by one mapping (no `from_version`): its
/// keys of version 1 apply to the cases of version 1 only; both count 20 working days from
/// 14 December, over Christmas and New Year's Day.
async fn cases_of_two_older_versions_move_together(backend: Backend) {
    let app = spawn_app(backend).await;
    let ids = cases_on_v1(&app).await;
    let secretaire = app.actor("Secrétaire 2", &["secretaire"]).await;
    let r = app
        .start(
            &secretaire,
            "migration-e2e",
            "E",
            json!({"recu_le": "2026-12-14", "motifs": "motif E"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let e = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(case(&app, &e).await["version"], 2);
    let v3 = v2().replace("working_days: 15", "working_days: 20");
    let r = app.deploy(&v3, no_templates()).await;
    assert_eq!(
        (r.status, &r.body["version"]),
        (201, &json!(3)),
        "{}",
        r.body
    );
    app.clock.set(brussels(2026, 12, 16, 12));
    let mapping = "states: { instruction: examen }\nvariables: { motif: motifs }\n";
    let body = json!({"to_version": 3, "mapping": mapping, "cases": ["A", "E"]});
    let r = migrations(&app, &app.admin, body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for (key, id, from) in [("A", &ids["A"], 1), ("E", &e, 2)] {
        let plan = plan_of(&r.body, key);
        assert_eq!(
            (&plan["from_version"], &plan["to_version"]),
            (&json!(from), &json!(3))
        );
        let c = case(&app, id).await;
        assert_eq!((&c["version"], &c["state"]), (&json!(3), &json!("examen")));
        // 20 working days: 15-18, 21-24, 28-31, 4-8 and 11-13 January.
        let delai = c["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["timer"] == "delai")
            .unwrap_or_else(|| panic!("{c}"))
            .clone();
        assert_eq!(delai["due_date"], "2027-01-13", "{key}");
        let h = history(&app, id).await;
        assert_eq!(
            h.last().unwrap()["trigger"],
            format!("migration v{from} -> v3")
        );
    }
    // A mapping naming a state of no version is refused, whatever the cases.
    let body = json!({"to_version": 3, "mapping": "states: { nulle_part: examen }\n"});
    let r = migrations(&app, &app.admin, body).await;
    r.assert_refused(422, "invalid_mapping");
}

on_both_backends!(
    the_dry_run_is_what_the_migration_does,
    a_bad_mapping_is_refused_with_positions,
    cases_of_two_older_versions_move_together
);
