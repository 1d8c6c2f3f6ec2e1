//! The operator's list of stuck cases for the reasons the procedures' own tests do not reach: a
//! timer past due that no scheduler fired, a case waiting for nothing, a case idle longer than
//! its state's `stuck_after`. (`task_overdue` and `notice_failing` are in `api.rs` and
//! `notices.rs`.) Then the list a page at a time: its order across reasons, its counts and
//! filters, the case columns that keep it (`idle_since`, `stuck_at`) through transitions and
//! after a database made before them, and the refusals of its parameters.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::{Value, json};
use store::entities::case;

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

/// `WORKFLOW` with more ways in and out of waiting for nothing: a suspended deadline (no state
/// change), a note while on hold (stays idle), reopening, closing.
const WATCHED: &str = r#"
id: veille-exemple
title: Dossier suivi (exemple)
legal_basis: "Décret du 13 septembre 2018, art. 22"
roles:
  gestionnaire: Gestionnaire
variables:
  recu_le:
    type: date
    label: Date de réception
  note:
    type: text
    label: Note
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
      suspendre:
        by: [gestionnaire]
        suspend: [delai_traitement]
      reprendre:
        by: [gestionnaire]
        resume: [delai_traitement]
      mettre_en_attente:
        by: [gestionnaire]
        goto: en_attente
  en_attente:
    label: En attente
    stuck_after: { working_days: 10 }
    on:
      noter:
        by: [gestionnaire]
        inputs: [note]
      rouvrir:
        by: [gestionnaire]
        goto: a_traiter
      clore:
        by: [gestionnaire]
        goto: clos
  clos:
    label: Clos
    final: true
"#;

/// A task due three days after the start.
const TASKED: &str = r#"
id: tache-exemple
title: Dossier avec une tâche (exemple)
legal_basis: "Décret du 13 septembre 2018, art. 22"
roles:
  gestionnaire: Gestionnaire
start:
  by: [gestionnaire]
initial: a_faire
states:
  a_faire:
    label: À faire
    tasks:
      - id: instruire
        role: gestionnaire
        title: Instruire le dossier
        due: { calendar_days: 3 }
        closes_on: [fait]
    on:
      fait:
        by: [gestionnaire]
        goto: clos
  clos:
    label: Clos
    final: true
"#;

async fn deploy_both(app: &TestApp) -> String {
    for source in [WATCHED, TASKED] {
        let r = app.deploy(source, json!({})).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    app.actor("Gestion", &["gestionnaire"]).await
}

async fn start_at(app: &TestApp, token: &str, at: DateTime<Utc>, wf: &str, key: &str) -> String {
    app.clock.set(at);
    let inputs = if wf == "veille-exemple" {
        json!({"recu_le": "2026-11-02"})
    } else {
        json!({})
    };
    let r = app.start(token, wf, key, inputs).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn event_at(
    app: &TestApp,
    token: &str,
    at: DateTime<Utc>,
    id: &str,
    event: &str,
    inputs: Value,
) {
    app.clock.set(at);
    let r = app.event(token, id, event, inputs).await;
    assert_eq!(r.status, 200, "{event}: {}", r.body);
}

/// The rows of a request to the list, as (key, reason).
async fn listed(app: &TestApp, query: &str) -> Vec<(String, String)> {
    rows(app, query)
        .await
        .iter()
        .map(|s| (text(s, "key"), text(s, "reason")))
        .collect()
}

async fn rows(app: &TestApp, query: &str) -> Vec<Value> {
    let r = app
        .get(&app.admin, &format!("/api/v1/operator/stuck{query}"))
        .await;
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    r.body.as_array().unwrap().clone()
}

fn text(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_owned()
}

fn since(v: &Value) -> DateTime<Utc> {
    text(v, "since").parse().unwrap()
}

/// Three overdue tasks, three cases waiting for nothing (two on hold, one whose deadline is
/// suspended), two of them idle past their limit, one timer not fired: seen on 10 December.
async fn a_bit_of_everything(app: &TestApp) {
    let gestion = deploy_both(app).await;
    let day = |d: u32, h: u32| brussels(2026, 11, d, h);
    for (i, key) in ["T-3", "T-1", "T-2"].into_iter().enumerate() {
        start_at(app, &gestion, day(2, 9 + i as u32), "tache-exemple", key).await;
    }
    let mut w = Vec::new();
    for key in ["W-1", "W-2", "W-3", "W-4"] {
        w.push(start_at(app, &gestion, day(2, 12), "veille-exemple", key).await);
    }
    event_at(
        app,
        &gestion,
        day(2, 14),
        &w[1],
        "mettre_en_attente",
        json!({}),
    )
    .await;
    event_at(
        app,
        &gestion,
        day(2, 13),
        &w[0],
        "mettre_en_attente",
        json!({}),
    )
    .await;
    event_at(app, &gestion, day(3, 12), &w[2], "suspendre", json!({})).await;
    app.clock.set(brussels(2026, 12, 10, 12));
}

async fn the_list_is_paged_across_reasons_in_since_order(backend: Backend) {
    let app = spawn_app(backend).await;
    a_bit_of_everything(&app).await;
    let all = rows(&app, "?limit=1000").await;
    let pairs: Vec<(String, String)> = all
        .iter()
        .map(|s| (text(s, "key"), text(s, "reason")))
        .collect();
    let expected = [
        ("W-1", "nothing_pending"),
        ("W-2", "nothing_pending"),
        ("W-3", "nothing_pending"),
        // The same instant for all three (midnight after 5 November): by key.
        ("T-1", "task_overdue"),
        ("T-2", "task_overdue"),
        ("T-3", "task_overdue"),
        ("W-1", "idle_too_long"),
        ("W-2", "idle_too_long"),
        ("W-4", "timer_not_fired"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(k, r)| (k.to_string(), r.to_string()))
        .collect();
    assert_eq!(pairs, expected);
    // Since when each is stuck: on hold, suspended, the due date passed, the limit passed.
    let at = |i: usize| since(&all[i]);
    assert_eq!(at(0), brussels(2026, 11, 2, 13));
    assert_eq!(at(1), brussels(2026, 11, 2, 14));
    assert_eq!(at(2), brussels(2026, 11, 3, 12));
    assert_eq!(at(3), brussels(2026, 11, 6, 0));
    assert_eq!(at(6), brussels(2026, 11, 18, 0));
    assert!(at(8) >= brussels(2026, 12, 2, 0), "{}", all[8]);
    assert!(all.windows(2).all(|p| since(&p[0]) <= since(&p[1])));

    // Pages of every size cover the list once, in order.
    for limit in [1, 2, 4, 5] {
        let mut paged = Vec::new();
        for offset in (0..=expected.len()).step_by(limit) {
            paged.extend(listed(&app, &format!("?limit={limit}&offset={offset}")).await);
        }
        assert_eq!(paged, expected, "pages of {limit}");
    }
    assert_eq!(listed(&app, "?limit=3&offset=4").await, expected[4..7]);
    assert!(listed(&app, "?offset=9").await.is_empty());
    // Default: the first 100.
    assert_eq!(listed(&app, "").await, expected);

    // A reason, a procedure, a key: filters compose with paging.
    assert_eq!(
        listed(&app, "?reason=nothing_pending&limit=2&offset=1").await,
        expected[1..3]
    );
    assert_eq!(
        listed(&app, "?workflow=tache-exemple&offset=1").await,
        expected[4..6]
    );
    assert_eq!(
        listed(&app, "?key=w-1").await,
        [expected[0].clone(), expected[6].clone()]
    );
    assert!(
        listed(&app, "?key=%25").await.is_empty(),
        "% is a character"
    );
    assert!(listed(&app, "?workflow=autre").await.is_empty());
}

async fn summary(app: &TestApp, query: &str) -> Value {
    let r = app
        .get(
            &app.admin,
            &format!("/api/v1/operator/stuck/summary{query}"),
        )
        .await;
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    r.body
}

async fn counts_follow_the_filters(backend: Backend) {
    let app = spawn_app(backend).await;
    a_bit_of_everything(&app).await;
    let s = summary(&app, "").await;
    assert_eq!(
        s,
        json!({"counts": {"task_overdue": 3, "timer_not_fired": 1, "notice_failing": 0,
            "nothing_pending": 3, "idle_too_long": 2, "schedule_failing": 0}, "total": 9})
    );
    let s = summary(&app, "?workflow=tache-exemple").await;
    assert_eq!(s["counts"]["task_overdue"], 3);
    assert_eq!(s["counts"]["nothing_pending"], 0);
    assert_eq!(s["total"], 3);
    // The key narrows counts and total alike; the reason narrows the total only.
    let s = summary(&app, "?key=W-&reason=nothing_pending").await;
    assert_eq!(s["counts"]["task_overdue"], 0);
    assert_eq!(s["counts"]["nothing_pending"], 3);
    assert_eq!(s["counts"]["idle_too_long"], 2);
    assert_eq!(s["total"], 3);
    // Each count is the number of rows the list gives for it.
    for (reason, n) in s["counts"].as_object().unwrap() {
        let listed = rows(&app, &format!("?key=W-&reason={reason}")).await;
        assert_eq!(listed.len() as u64, n.as_u64().unwrap(), "{reason}");
    }
}

/// The case's `(idle_since, stuck_at)` as stored.
async fn watch(app: &TestApp, id: &str) -> (Option<i64>, Option<i64>) {
    let c = case::Entity::find_by_id(id)
        .one(app.app.state.store.db())
        .await
        .unwrap()
        .unwrap();
    (c.idle_since, c.stuck_at)
}

fn ms(t: DateTime<Utc>) -> Option<i64> {
    Some(t.timestamp_millis())
}

async fn columns_follow_the_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let gestion = deploy_both(&app).await;
    let day = |d: u32, h: u32| brussels(2026, 11, d, h);
    let id = start_at(&app, &gestion, day(2, 12), "veille-exemple", "C-1").await;
    assert_eq!(watch(&app, &id).await, (None, None), "a deadline runs");

    // On hold: idle from that instant, stuck from the midnight after 17 November (ten
    // working days, 11 November a holiday); a note keeps both.
    event_at(
        &app,
        &gestion,
        day(2, 13),
        &id,
        "mettre_en_attente",
        json!({}),
    )
    .await;
    let held = (ms(day(2, 13)), ms(day(18, 0)));
    assert_eq!(watch(&app, &id).await, held);
    event_at(
        &app,
        &gestion,
        day(3, 12),
        &id,
        "noter",
        json!({"note": "relancé"}),
    )
    .await;
    assert_eq!(watch(&app, &id).await, held);

    // Reopened: its deadline runs again, no limit in that state.
    event_at(&app, &gestion, day(4, 12), &id, "rouvrir", json!({})).await;
    assert_eq!(watch(&app, &id).await, (None, None));
    // The deadline suspended, in the same state: nothing pending; resumed: something is.
    event_at(&app, &gestion, day(5, 12), &id, "suspendre", json!({})).await;
    assert_eq!(watch(&app, &id).await, (ms(day(5, 12)), None));
    event_at(&app, &gestion, day(6, 12), &id, "reprendre", json!({})).await;
    assert_eq!(watch(&app, &id).await, (None, None));

    // On hold again, then closed: nothing to watch on a closed case.
    event_at(
        &app,
        &gestion,
        day(9, 12),
        &id,
        "mettre_en_attente",
        json!({}),
    )
    .await;
    // Ten working days from Monday 9 November: Tuesday 24.
    assert_eq!(watch(&app, &id).await, (ms(day(9, 12)), ms(day(25, 0))));
    event_at(&app, &gestion, day(10, 12), &id, "clore", json!({})).await;
    assert_eq!(watch(&app, &id).await, (None, None));
    app.clock.set(brussels(2026, 12, 31, 12));
    assert!(listed(&app, "?key=C-1").await.is_empty());
}

async fn a_database_from_before_the_columns_is_filled(backend: Backend) {
    let app = spawn_app(backend).await;
    a_bit_of_everything(&app).await;
    let before = rows(&app, "?limit=1000").await;
    let ids: Vec<String> = {
        let r = app.get(&app.admin, "/api/v1/cases?limit=1000").await;
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| text(c, "id"))
            .collect()
    };
    let mut kept = Vec::new();
    for id in &ids {
        kept.push(watch(&app, id).await);
    }
    assert!(kept.iter().any(|w| w.0.is_some()) && kept.iter().any(|w| w.1.is_some()));

    // The rows as a version before the columns left them.
    let db = app.app.state.store.db();
    db.execute_unprepared("UPDATE cases SET idle_since = NULL, stuck_at = NULL")
        .await
        .unwrap();
    let reasons: Vec<String> = rows(&app, "?limit=1000")
        .await
        .iter()
        .map(|s| text(s, "reason"))
        .collect();
    assert!(
        !reasons
            .iter()
            .any(|r| r == "nothing_pending" || r == "idle_too_long"),
        "{reasons:?}"
    );

    // The migration's SQL fills `idle_since`; the next start, `stuck_at`.
    assert_eq!(migrations::backfill_idle_since(db).await.unwrap(), 3);
    let (cfg, clock, data) = (app.cfg.clone(), app.clock.clone(), app.data());
    drop(app);
    let app = super::harness::spawn_with(cfg, data, clock).await;
    for (id, (idle, stuck)) in ids.iter().zip(&kept) {
        let c = case::Entity::find_by_id(id.as_str())
            .one(app.app.state.store.db())
            .await
            .unwrap()
            .unwrap();
        // Stuck limits are counted again exactly; idle cases are idle since they entered
        // their state (the suspended one, since its start: the rows do not say more).
        assert_eq!(c.stuck_at, *stuck, "{}", c.business_key);
        assert_eq!(
            c.idle_since,
            idle.map(|_| c.entered_at),
            "{}",
            c.business_key
        );
    }
    let after = rows(&app, "?limit=1000").await;
    let suspended = |v: &Value| text(v, "key") == "W-3" && text(v, "reason") == "nothing_pending";
    let strip =
        |v: &[Value]| -> Vec<Value> { v.iter().filter(|s| !suspended(s)).cloned().collect() };
    assert_eq!(strip(&after), strip(&before));
    assert_eq!(after.len(), before.len());
}

async fn list_parameters_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    for query in [
        "?reason=stuck",
        "?reason=",
        "?limit=0",
        "?limit=1001",
        "?offset=-1",
        "?offset=100000001",
        "?page=2",
    ] {
        let r = app
            .get(&app.admin, &format!("/api/v1/operator/stuck{query}"))
            .await;
        r.assert_refused(422, "invalid_query");
    }
    for query in ["?reason=stuck", "?limit=10"] {
        let r = app
            .get(
                &app.admin,
                &format!("/api/v1/operator/stuck/summary{query}"),
            )
            .await;
        r.assert_refused(422, "invalid_query");
    }
    let clerk = app.actor("Gestion", &["gestionnaire"]).await;
    for path in ["/api/v1/operator/stuck", "/api/v1/operator/stuck/summary"] {
        app.get(&clerk, path).await.assert_refused(403, "forbidden");
    }
    assert_eq!(summary(&app, "?reason=idle_too_long").await["total"], 0);
}

on_both_backends!(
    operator_sees_why_a_case_is_stuck,
    the_list_is_paged_across_reasons_in_since_order,
    counts_follow_the_filters,
    columns_follow_the_case,
    a_database_from_before_the_columns_is_filled,
    list_parameters_are_checked,
);
