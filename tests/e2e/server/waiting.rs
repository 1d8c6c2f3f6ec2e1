//! Waiting for a case to change without polling: `GET /cases/{id}?after_version=N&wait=…`
//! and the `/cases/{id}/changes` event stream, answered by this server's commits (a request,
//! a timer firing), by another process's commits on the same database (on PostgreSQL told by
//! a notification, and read again each second on both backends), or by the end of the wait;
//! bounded per actor and in total.

use std::time::{Duration, Instant};

use jalon::server::changes::WaitLimits;
use serde_json::{Value, json};

use super::harness::{Backend, Reply, TestApp, brussels, reply, spawn_app, spawn_with};
use crate::on_both_backends;

/// A case whose deadline falls due on 4 November 2026 (the harness's clock says 2 November),
/// with an event that keeps it where it is, and one that closes it once the deadline passed.
const WORKFLOW: &str = r#"id: attente-test
title: Dossier d'attente (test)
legal_basis: Aucune (test)
roles:
  agent: Agent
variables:
  recu_le:
    type: date
    label: Reçu le
  note:
    type: text
start:
  by: [agent]
  inputs: [recu_le]
initial: attente
states:
  attente:
    label: En attente
    timers:
      - id: echeance
        label: Échéance
        after: { working_days: 1, from: recu_le }
        goto: a_traiter
    on:
      noter:
        by: [agent]
        inputs: [note]
  a_traiter:
    label: À traiter
    on:
      traiter:
        by: [agent]
        goto: clos
  clos:
    label: Clos
    final: true
"#;

/// Far beyond any wait these tests expect to end by itself: a hang fails, nothing is timed.
const GENEROUS: Duration = Duration::from_secs(30);

async fn deployed(app: &TestApp) -> String {
    let r = app.deploy(WORKFLOW, json!({})).await;
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
    app.actor("Agent", &["agent"]).await
}

/// Starts a case at version 1 in `attente`; returns its id.
async fn started(app: &TestApp, agent: &str, key: &str) -> String {
    let r = app
        .start(agent, "attente-test", key, json!({"recu_le": "2026-11-02"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["row_version"], 1, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// A GET sent in the background (the test acts while it waits).
fn get_later(app: &TestApp, token: &str, path: String) -> tokio::task::JoinHandle<Reply> {
    let (http, url, token) = (
        app.http.clone(),
        format!("{}{path}", app.base),
        token.to_owned(),
    );
    tokio::spawn(async move { reply(http.get(url).bearer_auth(token).send().await.unwrap()).await })
}

/// Returns once the server holds `n` open waits.
async fn until_waits(app: &TestApp, n: usize) {
    let hub = &app.app.state.changes;
    let t = Instant::now();
    while hub.open_waits() != n {
        assert!(
            t.elapsed() < GENEROUS,
            "{} waits open, not {n}",
            hub.open_waits()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn answered(wait: tokio::task::JoinHandle<Reply>) -> Reply {
    tokio::time::timeout(GENEROUS, wait)
        .await
        .expect("the wait was answered")
        .unwrap()
}

async fn a_wait_is_answered_by_another_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = deployed(&app).await;
    let id = started(&app, &agent, "a").await;
    let wait = get_later(
        &app,
        &agent,
        format!("/api/v1/cases/{id}?after_version=1&wait=60s"),
    );
    until_waits(&app, 1).await;
    assert!(!wait.is_finished(), "answered before the case changed");
    let mut told = app.app.state.store.subscribe_changes();
    let r = app.event(&agent, &id, "noter", json!({"note": "vu"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The store told the committed version (what wakes waiters at once, without the re-read).
    let change = told
        .try_recv()
        .expect("the commit was told before the answer");
    assert_eq!(
        (&*change.case_id, change.what),
        (id.as_str(), store::changes::Changed::Row(2))
    );
    let r = answered(wait).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["row_version"], 2, "{}", r.body);
    assert_eq!(r.body["variables"]["note"], "vu", "{}", r.body);
    until_waits(&app, 0).await;
}

/// Without `after_version`, a wait is for the next change from the version the case is at.
async fn a_wait_alone_is_for_the_next_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = deployed(&app).await;
    let id = started(&app, &agent, "a").await;
    let wait = get_later(&app, &agent, format!("/api/v1/cases/{id}?wait=60s"));
    until_waits(&app, 1).await;
    assert!(!wait.is_finished(), "answered before the case changed");
    let r = app.event(&agent, &id, "noter", json!({"note": "vu"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = answered(wait).await;
    assert_eq!(
        (r.status, &r.body["row_version"]),
        (200, &json!(2)),
        "{}",
        r.body
    );
    // `wait=0` answers at once, as it is.
    let r = app.get(&agent, &format!("/api/v1/cases/{id}?wait=0")).await;
    assert_eq!(
        (r.status, &r.body["row_version"]),
        (200, &json!(2)),
        "{}",
        r.body
    );
}

async fn a_wait_is_answered_by_a_timer_firing(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = deployed(&app).await;
    let id = started(&app, &agent, "a").await;
    let wait = get_later(
        &app,
        &agent,
        format!("/api/v1/cases/{id}?after_version=1&wait=60s"),
    );
    until_waits(&app, 1).await;
    let mut told = app.app.state.store.subscribe_changes();
    assert_eq!(app.advance_to(brussels(2026, 11, 4, 12)).await, 1);
    let change = told.try_recv().expect("the firing's commit was told");
    assert_eq!(
        (&*change.case_id, change.what),
        (id.as_str(), store::changes::Changed::Row(2))
    );
    let r = answered(wait).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["row_version"], &r.body["state"]),
        (&json!(2), &json!("a_traiter")),
        "{}",
        r.body
    );
}

/// A commit by another process on the same database: on PostgreSQL its notification tells
/// this server; on both backends the versions of the cases waited on are read again each
/// second.
async fn a_wait_is_answered_by_another_process(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = deployed(&app).await;
    let id = started(&app, &agent, "a").await;
    let wait = get_later(
        &app,
        &agent,
        format!("/api/v1/cases/{id}?after_version=1&wait=60s"),
    );
    until_waits(&app, 1).await;
    let other = store::Store::open(&app.cfg.database_url(), engine::calendar::Calendar::fwb())
        .await
        .unwrap();
    noted_elsewhere(&other, &app, &id, None).await.unwrap();
    let r = answered(wait).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["row_version"], 2, "{}", r.body);
    assert_eq!(r.body["variables"]["note"], "ailleurs", "{}", r.body);
    other.close().await.unwrap();
}

/// Sends `noter` to case `id` through `other`, a store standing for another process.
async fn noted_elsewhere(
    other: &store::Store,
    app: &TestApp,
    id: &str,
    expected_version: Option<i64>,
) -> Result<(), store::Error> {
    let by = engine::machine::Actor {
        id: "autre-processus".into(),
        roles: vec!["agent".into()],
    };
    let mut inputs = engine::machine::Inputs::new();
    inputs.insert("note".into(), json!("ailleurs"));
    let req = store::drive::EventRequest {
        case_id: id,
        event: "noter",
        by: &by,
        inputs,
        reason: None,
        expected_version,
    };
    other.send_event(req, app.clock_now()).await.map(|_| ())
}

/// A server whose periodic re-read is an hour away, so that only what the store tells (its
/// own commits; on PostgreSQL, a notification, or a re-read asked for after a lost
/// connection) can answer a wait.
async fn spawn_deaf_to_polling() -> TestApp {
    spawn_deaf(Backend::Postgres).await
}

async fn spawn_deaf(backend: Backend) -> TestApp {
    let first = spawn_app(backend).await;
    let (mut cfg, clock, data) = (first.cfg.clone(), first.clock.clone(), first.data());
    drop(first);
    cfg.waits = WaitLimits {
        reread: Duration::from_secs(3600),
        ..WaitLimits::default()
    };
    spawn_with(cfg, data, clock).await
}

/// The next change the store tells, within [`GENEROUS`].
async fn next_told(
    told: &mut tokio::sync::broadcast::Receiver<store::changes::Change>,
) -> (String, i64) {
    let c = tokio::time::timeout(GENEROUS, told.recv())
        .await
        .expect("a change was told")
        .unwrap();
    match c.what {
        store::changes::Changed::Row(v) => (c.case_id.to_string(), v),
        other => panic!("not a row's version: {other:?}"),
    }
}

/// On PostgreSQL, another process's commit is told by the notification its transaction sent:
/// with the periodic re-read an hour away, a wait is answered when another store moves the
/// case (a wait of 60 s cannot end by itself within [`GENEROUS`]), and the store's broadcast
/// tells the other store's version. An event the other store refuses tells nothing: the next
/// change told is the one after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_commit_is_heard_from_its_notification() {
    let app = spawn_deaf_to_polling().await;
    let agent = deployed(&app).await;
    let id = started(&app, &agent, "a").await;
    let wait = get_later(
        &app,
        &agent,
        format!("/api/v1/cases/{id}?after_version=1&wait=60s"),
    );
    until_waits(&app, 1).await;
    let mut told = app.app.state.store.subscribe_changes();
    let other = store::Store::open(&app.cfg.database_url(), engine::calendar::Calendar::fwb())
        .await
        .unwrap();
    noted_elsewhere(&other, &app, &id, None).await.unwrap();
    let r = answered(wait).await;
    assert_eq!(
        (r.status, &r.body["row_version"]),
        (200, &json!(2)),
        "{}",
        r.body
    );
    assert_eq!(next_told(&mut told).await, (id.clone(), 2));
    let stale = noted_elsewhere(&other, &app, &id, Some(1)).await;
    assert_eq!(stale.unwrap_err().code(), "stale_version");
    noted_elsewhere(&other, &app, &id, Some(2)).await.unwrap();
    assert_eq!(next_told(&mut told).await, (id.clone(), 3));
    other.close().await.unwrap();
}

/// When the connection a server listens on is cut, it listens again and reads what it waits
/// on, so a change made meanwhile by another process still answers its waiter (the periodic
/// re-read being an hour away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listening_connection_is_replaced_and_the_waits_read_again() {
    use sea_orm::ConnectionTrait;
    let app = spawn_deaf_to_polling().await;
    let agent = deployed(&app).await;
    let id = started(&app, &agent, "a").await;
    let wait = get_later(
        &app,
        &agent,
        format!("/api/v1/cases/{id}?after_version=1&wait=60s"),
    );
    until_waits(&app, 1).await;
    // Every listening session of the database (the server's), before the other store listens.
    let cut = app
        .app
        .state
        .store
        .db()
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .await
        .unwrap();
    assert!(
        cut.rows_affected() >= 1,
        "the server's listening session was cut"
    );
    let other = store::Store::open(&app.cfg.database_url(), engine::calendar::Calendar::fwb())
        .await
        .unwrap();
    noted_elsewhere(&other, &app, &id, None).await.unwrap();
    let r = answered(wait).await;
    assert_eq!(
        (r.status, &r.body["row_version"]),
        (200, &json!(2)),
        "{}",
        r.body
    );
    other.close().await.unwrap();
}

async fn a_case_already_past_answers_at_once_and_a_wait_ends_cleanly(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = deployed(&app).await;
    let id = started(&app, &agent, "a").await;
    // Past already: answered at once (a wait over the bound is shortened, not refused).
    let t = Instant::now();
    let r = app
        .get(
            &agent,
            &format!("/api/v1/cases/{id}?after_version=0&wait=999999s"),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["row_version"]),
        (200, &json!(1)),
        "{}",
        r.body
    );
    assert!(t.elapsed() < GENEROUS);
    // Not past: the wait ends, the case as it is, and the slot is given back.
    let t = Instant::now();
    let r = app
        .get(
            &agent,
            &format!("/api/v1/cases/{id}?after_version=1&wait=1500ms"),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["row_version"]),
        (200, &json!(1)),
        "{}",
        r.body
    );
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(app.app.state.changes.open_waits(), 0);
    // Without `wait`, `after_version` answers at once.
    let r = app
        .get(&agent, &format!("/api/v1/cases/{id}?after_version=5"))
        .await;
    assert_eq!(
        (r.status, &r.body["row_version"]),
        (200, &json!(1)),
        "{}",
        r.body
    );
}

async fn a_wait_must_be_readable_and_bounded(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = deployed(&app).await;
    let id = started(&app, &agent, "a").await;
    for query in [
        "after_version=1&wait=abc",
        "after_version=1&wait=-1",
        "after_version=1&wait=1m",
    ] {
        app.get(&agent, &format!("/api/v1/cases/{id}?{query}"))
            .await
            .assert_refused(422, "invalid_wait");
    }
    for query in ["after_version=-1&wait=5s", "after_version=x", "waiting=5s"] {
        app.get(&agent, &format!("/api/v1/cases/{id}?{query}"))
            .await
            .assert_refused(422, "invalid_query");
    }
    assert_eq!(app.app.state.changes.open_waits(), 0);
}

/// A server with small bounds (one wait per actor, two in all): a server of the harness
/// started again on its data with them.
async fn spawn_bounded(backend: Backend) -> TestApp {
    let first = spawn_app(backend).await;
    let (mut cfg, clock, data) = (first.cfg.clone(), first.clock.clone(), first.data());
    drop(first);
    cfg.waits = WaitLimits {
        total: 2,
        per_actor: 1,
        ..WaitLimits::default()
    };
    spawn_with(cfg, data, clock).await
}

async fn waits_over_the_bounds_are_refused(backend: Backend) {
    let app = spawn_bounded(backend).await;
    let (a, b, c) = (
        deployed(&app).await,
        app.actor("Bea", &["agent"]).await,
        app.actor("Cyril", &["agent"]).await,
    );
    let id = started(&app, &a, "a").await;
    let path = format!("/api/v1/cases/{id}?after_version=1&wait=60s");
    let first = get_later(&app, &a, path.clone());
    until_waits(&app, 1).await;
    let refused = app.get(&a, &path).await;
    refused.assert_refused(429, "too_many_waits");
    assert_eq!(
        refused.body["details"]["bound"], "actor",
        "{}",
        refused.body
    );
    // The stream is a wait like any other.
    let r = app.get(&a, &format!("/api/v1/cases/{id}/changes")).await;
    r.assert_refused(429, "too_many_waits");
    let second = get_later(&app, &b, path.clone());
    until_waits(&app, 2).await;
    let r = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(&c)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["retry-after"], "1");
    let refused = reply(r).await;
    refused.assert_refused(429, "too_many_waits");
    assert_eq!(
        refused.body["details"]["bound"], "server",
        "{}",
        refused.body
    );
    // A case already past needs no slot, even at the bound.
    let r = app
        .get(&c, &format!("/api/v1/cases/{id}?after_version=0&wait=60s"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.event(&c, &id, "noter", json!({"note": "vu"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for wait in [first, second] {
        assert_eq!(answered(wait).await.body["row_version"], 2);
    }
    until_waits(&app, 0).await;
}

/// Reads server-sent events until the stream ends: each event's `id` and JSON `data`.
async fn events(mut r: reqwest::Response) -> Vec<(i64, Value)> {
    let mut text = String::new();
    while let Some(chunk) = tokio::time::timeout(GENEROUS, r.chunk())
        .await
        .expect("the stream went on or ended")
        .unwrap()
    {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    text.split("\n\n")
        .filter(|block| block.lines().any(|l| l.starts_with("event: change")))
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_else(|| panic!("no {name} in {block:?}"))
                    .trim()
                    .to_owned()
            };
            let data: Value = serde_json::from_str(&field("data:")).unwrap();
            (field("id:").parse().unwrap(), data)
        })
        .collect()
}

async fn the_change_stream_sends_versions_in_order_and_ends_on_closing(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = deployed(&app).await;
    let id = started(&app, &agent, "a").await;
    let r = app
        .http
        .get(format!("{}/api/v1/cases/{id}/changes", app.base))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let stream = tokio::spawn(events(r));
    until_waits(&app, 1).await;
    let r = app.event(&agent, &id, "noter", json!({"note": "vu"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.advance_to(brussels(2026, 11, 4, 12)).await, 1);
    let r = app.event(&agent, &id, "traiter", json!({})).await;
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("closed")),
        "{}",
        r.body
    );
    let got = tokio::time::timeout(GENEROUS, stream)
        .await
        .unwrap()
        .unwrap();
    let versions: Vec<i64> = got.iter().map(|(v, _)| *v).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    assert_eq!(versions.first(), Some(&1), "{got:?}");
    let (last, data) = got.last().unwrap();
    assert_eq!(*last, 4, "{got:?}");
    assert_eq!(
        (&data["row_version"], &data["status"], &data["state"]),
        (&json!(4), &json!("closed"), &json!("clos")),
        "{data}"
    );
    until_waits(&app, 0).await;
    // A closed case's stream after its last version ends at once, empty.
    let r = app
        .http
        .get(format!("{}/api/v1/cases/{id}/changes", app.base))
        .bearer_auth(&agent)
        .header("Last-Event-ID", "4")
        .send()
        .await
        .unwrap();
    assert!(events(r).await.is_empty());
}

async fn waiting_is_authorized_as_reading(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = deployed(&app).await;
    let outsider = app.actor("Autre", &["directeur"]).await;
    let id = started(&app, &agent, "a").await;
    for path in [
        format!("/api/v1/cases/{id}?after_version=1&wait=5s"),
        format!("/api/v1/cases/{id}/changes"),
    ] {
        app.get(&outsider, &path)
            .await
            .assert_refused(403, "forbidden");
    }
    for path in [
        "/api/v1/cases/nope?after_version=1&wait=5s",
        "/api/v1/cases/nope/changes",
    ] {
        app.get(&agent, path)
            .await
            .assert_refused(404, "case_not_found");
    }
    assert_eq!(app.app.state.changes.open_waits(), 0);
}

/// The workflow of [`WORKFLOW`] whose `traiter` also mails the case's address.
fn notifying() -> String {
    WORKFLOW
        .replace("id: attente-test", "id: avis-test")
        .replace(
            "    type: text\n",
            "    type: text\n  courriel:\n    type: email\n",
        )
        .replace("inputs: [recu_le]", "inputs: [recu_le, courriel]")
        .replace(
            "        goto: clos\n",
            "        goto: clos\n        notify:\n          - to: [courriel]\n            template: clos\n",
        )
}

/// A case of [`notifying`] at `a_traiter` whose `traiter` queued a notice, not yet delivered.
async fn notice_queued(app: &TestApp, agent: &str) -> String {
    let templates = json!({
        "clos.subject": "Dossier {{case.key}}\n",
        "clos.text": "Le dossier {{case.key}} est clos.\n",
    });
    let r = app.deploy(&notifying(), templates).await;
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
    let r = app
        .start(
            agent,
            "avis-test",
            "n",
            json!({"recu_le": "2026-10-01", "courriel": "agent@ecoles.example.be"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.advance_to(app.clock_now()).await,
        1,
        "the deadline fired"
    );
    let r = app.event(agent, &id, "traiter", json!({})).await;
    assert_eq!(
        (r.status, &r.body["state"]),
        (200, &json!("clos")),
        "{}",
        r.body
    );
    id
}

/// `GET /cases/{id}/notices?wait=` answers once none of the case's notices is pending: not
/// while its notice waits for the dispatcher, at once after the delivery's record committed
/// (a wait of 60 s cannot end by itself within [`GENEROUS`]); and at once when none is pending.
async fn a_notice_wait_is_answered_by_the_delivery(backend: Backend) {
    let app = spawn_deaf(backend).await;
    let agent = app.actor("Agent", &["agent"]).await;
    let id = notice_queued(&app, &agent).await;
    let path = format!("/api/v1/cases/{id}/notices?wait=60s");
    let wait = get_later(&app, &agent, path.clone());
    until_waits(&app, 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!wait.is_finished(), "answered while the notice was pending");
    assert_eq!(app.deliver().await.sent, 1);
    let r = answered(wait).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body[0]["status"], "sent", "{}", r.body);
    until_waits(&app, 0).await;
    // Nothing pending: a wait of 60 s answers at once (before GENEROUS).
    let r = tokio::time::timeout(GENEROUS, app.get(&agent, &path))
        .await
        .expect("answered at once");
    assert_eq!((r.status, &r.body[0]["status"]), (200, &json!("sent")));
    assert_eq!(app.app.state.changes.open_waits(), 0);
}

/// On PostgreSQL, a delivery by another process answers a notice wait through the
/// notification of its record's transaction (the periodic re-read an hour away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_delivery_is_heard_from_its_notification() {
    use jalon::server::dispatcher::{Delivery, Dispatcher};
    let app = spawn_deaf_to_polling().await;
    let agent = app.actor("Agent", &["agent"]).await;
    let id = notice_queued(&app, &agent).await;
    let wait = get_later(&app, &agent, format!("/api/v1/cases/{id}/notices?wait=60s"));
    until_waits(&app, 1).await;
    let other = store::Store::open(&app.cfg.database_url(), engine::calendar::Calendar::fwb())
        .await
        .unwrap();
    let drop = tempfile::tempdir().unwrap();
    let elsewhere = Dispatcher::new(
        other.clone(),
        std::sync::Arc::new(app.clock.clone()),
        Delivery {
            from: "Jalon <jalon@ecoles.example.be>".into(),
            base_url: Some("http://localhost:8080".into()),
            transport: notifiers::Transport::FileDrop(notifiers::FileDrop::new(drop.path())),
        },
    );
    assert_eq!(elsewhere.run_due().await.unwrap().sent, 1);
    let r = answered(wait).await;
    assert_eq!(
        (r.status, &r.body[0]["status"]),
        (200, &json!("sent")),
        "{}",
        r.body
    );
    other.close().await.unwrap();
}

/// A notice wait that ends first answers with the notices as they are; a bad `wait` is 422
/// and changes nothing.
async fn a_notice_wait_ends_with_the_notice_still_pending(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.actor("Agent", &["agent"]).await;
    let id = notice_queued(&app, &agent).await;
    let r = app
        .get(&agent, &format!("/api/v1/cases/{id}/notices?wait=200ms"))
        .await;
    assert_eq!((r.status, &r.body[0]["status"]), (200, &json!("pending")));
    app.get(&agent, &format!("/api/v1/cases/{id}/notices?wait=bientot"))
        .await
        .assert_refused(422, "invalid_wait");
    assert_eq!(app.app.state.changes.open_waits(), 0);
}

on_both_backends!(
    a_notice_wait_is_answered_by_the_delivery,
    a_notice_wait_ends_with_the_notice_still_pending,
    a_wait_is_answered_by_another_request,
    a_wait_alone_is_for_the_next_change,
    a_wait_is_answered_by_a_timer_firing,
    a_wait_is_answered_by_another_process,
    a_case_already_past_answers_at_once_and_a_wait_ends_cleanly,
    a_wait_must_be_readable_and_bounded,
    waits_over_the_bounds_are_refused,
    the_change_stream_sends_versions_in_order_and_ends_on_closing,
    waiting_is_authorized_as_reading,
);
