//! `tell`: an event of one case reaches the open linked cases of another workflow (same
//! business key, parent or children), in the same transaction, without retyping.

use serde_json::json;

use super::harness::{Backend, spawn_app};
use crate::on_both_backends;

const SUSPENSION: &str = r#"
id: suspension-lien
title: Suspension (lien)
legal_basis: "Décret du 13 septembre 2018, art. 139"
roles: { gouvernement: Gouvernement }
variables:
  proposition_notifiee_le: { type: date }
start: { by: [gouvernement] }
initial: suspendu
states:
  suspendu:
    label: Suspendu
    legal_basis: "Art. 139"
    on:
      proposition_notifiee:
        by: [gouvernement]
        inputs: [proposition_notifiee_le]
        goto: proposition_connue
  proposition_connue:
    label: Proposition connue
    legal_basis: "Art. 139, § 2"
    on:
      lever: { by: [gouvernement], goto: levee }
  levee: { label: Levée, final: true }
"#;

const DISCIPLINE: &str = r#"
id: discipline-lien
title: Discipline (lien)
legal_basis: "Décret du 13 septembre 2018, art. 115"
roles: { gouvernement: Gouvernement, dz: Directeur de zone }
variables:
  notifiee_le: { type: date }
start: { by: [dz] }
initial: instruction
states:
  instruction:
    label: Instruction
    legal_basis: "Art. 115"
    on:
      proposer:
        by: [dz]
        inputs: [notifiee_le]
        tell:
          - workflow: suspension-lien
            event: proposition_notifiee
            with: { proposition_notifiee_le: notifiee_le }
      clore: { by: [dz], goto: close }
  close: { label: Close, final: true }
"#;

async fn a_proposal_reaches_the_suspension_of_the_same_member(backend: Backend) {
    let app = spawn_app(backend).await;
    for source in [SUSPENSION, DISCIPLINE] {
        let r = app.deploy(source, json!({})).await;
        assert!(r.status < 300, "{}", r.body);
    }
    let gov = app.actor("Gouvernement", &["gouvernement"]).await;
    let dz = app.actor("DZ", &["dz"]).await;
    let suspension = app
        .start(&gov, "suspension-lien", "matricule-42", json!({}))
        .await;
    let other = app
        .start(&gov, "suspension-lien", "matricule-7", json!({}))
        .await;
    let discipline = app
        .start(&dz, "discipline-lien", "matricule-42", json!({}))
        .await;
    let id = |r: &super::harness::Reply| r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .event(
            &dz,
            &id(&discipline),
            "proposer",
            json!({"notifiee_le": "2026-12-24"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let told = app
        .get(&gov, &format!("/api/v1/cases/{}", id(&suspension)))
        .await;
    assert_eq!(told.body["state"], "proposition_connue", "{}", told.body);
    assert_eq!(
        told.body["variables"]["proposition_notifiee_le"],
        "2026-12-24"
    );
    let history = app
        .get(&gov, &format!("/api/v1/cases/{}/history", id(&suspension)))
        .await;
    let last = history.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], format!("case:{}", id(&discipline)), "{last}");
    // Another member's suspension is not linked.
    let untouched = app
        .get(&gov, &format!("/api/v1/cases/{}", id(&other)))
        .await;
    assert_eq!(untouched.body["state"], "suspendu");
    // A linked case that does not take the event now is left as it is; the sender goes on.
    let again = app
        .event(
            &dz,
            &id(&discipline),
            "proposer",
            json!({"notifiee_le": "2027-01-04"}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    let unchanged = app
        .get(&gov, &format!("/api/v1/cases/{}", id(&suspension)))
        .await;
    assert_eq!(
        unchanged.body["variables"]["proposition_notifiee_le"],
        "2026-12-24"
    );
    assert_eq!(unchanged.body["row_version"], told.body["row_version"]);
}

on_both_backends!(a_proposal_reaches_the_suspension_of_the_same_member);
