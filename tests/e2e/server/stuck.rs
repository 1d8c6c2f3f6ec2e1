//! The operator's list of stuck cases for the reasons the procedures' own tests do not reach: a
//! timer past due that no scheduler fired, a case waiting for nothing, a case idle longer than
//! its state's `stuck_after`. (`task_overdue` and `notice_failing` are in `api.rs` and
//! `notices.rs`.)

use serde_json::json;

use super::harness::{Backend, TestApp, brussels, spawn_app};
use crate::on_both_backends;

/// A file is received (a 30-day deadline runs from it), or put on hold, where nothing is
/// awaited and the operator wants to hear of it after ten working days.
const WORKFLOW: &str = r#"
id: attente-exemple
title: Dossier mis en attente (exemple)
legal_basis: "Décret du 13 septembre 2018, art. 22"
roles:
  gestionnaire: Gestionnaire
variables:
  recu_le:
    type: date
    label: Date de réception
start:
  by: [gestionnaire]
  inputs: [recu_le]
initial: a_traiter
states:
  a_traiter:
    label: À traiter
    timers:
      - id: delai_traitement
        after: { calendar_days: 30, from: recu_le }
        goto: clos
    on:
      mettre_en_attente:
        by: [gestionnaire]
        goto: en_attente
  en_attente:
    label: En attente
    stuck_after: { working_days: 10 }
    on:
      reprendre:
        by: [gestionnaire]
        goto: clos
  clos:
    label: Clos
    final: true
"#;

/// Reasons listed per business key, sorted.
async fn stuck(app: &TestApp) -> Vec<(String, String)> {
    let r = app.get(&app.admin, "/api/v1/operator/stuck").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut out: Vec<(String, String)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let text = |k: &str| s[k].as_str().unwrap().to_owned();
            (text("key"), text("reason"))
        })
        .collect();
    out.sort();
    out
}

fn pair(key: &str, reason: &str) -> (String, String) {
    (key.to_owned(), reason.to_owned())
}

async fn operator_sees_why_a_case_is_stuck(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.deploy(WORKFLOW, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gestion = app.actor("Gestion", &["gestionnaire"]).await;
    let mut ids = Vec::new();
    for key in ["RUNNING", "ON-HOLD"] {
        let r = app
            .start(
                &gestion,
                "attente-exemple",
                key,
                json!({"recu_le": "2026-11-02"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let (running, on_hold) = (&ids[0], &ids[1]);
    let r = app
        .event(&gestion, on_hold, "mettre_en_attente", json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // At once: the case on hold waits for nothing; the other has its deadline running.
    assert_eq!(stuck(&app).await, [pair("ON-HOLD", "nothing_pending")]);

    // Ten working days after 2 November (11 November is a holiday) is Tuesday 17 November:
    // on the 17th the limit is not passed yet, on the 18th it is.
    app.clock.set(brussels(2026, 11, 17, 12));
    assert_eq!(stuck(&app).await, [pair("ON-HOLD", "nothing_pending")]);
    app.clock.set(brussels(2026, 11, 18, 12));
    assert_eq!(
        stuck(&app).await,
        [
            pair("ON-HOLD", "idle_too_long"),
            pair("ON-HOLD", "nothing_pending")
        ]
    );

    // The 30-day deadline ended on 2 December; no scheduler ran since (the clock moved on
    // its own): the operator sees the timer that did not fire.
    app.clock.set(brussels(2026, 12, 4, 12));
    let late = app.stuck_for("timer_not_fired").await;
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0]["case_id"], running.as_str());
    assert!(
        late[0]["detail"].as_str().unwrap().contains("2026-12-02"),
        "{}",
        late[0]
    );

    // Once the scheduler has run, the deadline's case is closed and off the list.
    assert_eq!(app.advance_to(brussels(2026, 12, 4, 12)).await, 1);
    assert_eq!(
        stuck(&app).await,
        [
            pair("ON-HOLD", "idle_too_long"),
            pair("ON-HOLD", "nothing_pending")
        ]
    );
    let r = app.event(&gestion, on_hold, "reprendre", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(stuck(&app).await.is_empty());
}

on_both_backends!(operator_sees_why_a_case_is_stuck);
