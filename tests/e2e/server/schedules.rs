//! Cron schedules in the server's loop: a failing occurrence stops neither the other schedules
//! nor the digests and shows on the operator's stuck list; the loop wakes at the next
//! occurrence rather than at its safety poll.

use std::sync::Arc;

use chrono::Duration;
use jalon::clock::millis;
use jalon::server::App;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::json;
use store::entities::{schedule_run, workflow_version};

use super::harness::{Backend, TestApp, brussels, spawn_app};
use crate::on_both_backends;

/// A daily reading on working days: one case at 08:00, one at 08:30, each with a task.
const WORKFLOW: &str = r#"
id: releve-quotidien
title: Relevé quotidien (exemple)
legal_basis: "Décret du 13 septembre 2018, art. 22"
roles:
  agent: Agent
variables:
  origine:
    type: text
start:
  by: [agent]
  inputs: [origine]
initial: a_relever
states:
  a_relever:
    label: À relever
    tasks:
      - id: faire_releve
        role: agent
        title: Faire le relevé
    on:
      relever:
        by: [agent]
        goto: clos
  clos:
    label: Clos
    final: true
schedules:
  - id: matin
    cron: "0 0 8 * * Mon-Fri"
    with: { origine: matin }
  - id: midi
    cron: "0 30 8 * * Mon-Fri"
    with: { origine: midi }
"#;

/// Deploys the workflow on Monday 7 December 2026 at noon (its schedules run from then on).
async fn deployed(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.clock.set(brussels(2026, 12, 7, 12));
    let r = app.deploy(WORKFLOW, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    app
}

async fn keys(app: &TestApp) -> Vec<String> {
    let r = app
        .get(&app.admin, "/api/v1/cases?workflow=releve-quotidien")
        .await;
    r.sorted_keys()
}

async fn a_failing_schedule_stops_nothing_else(backend: Backend) {
    let app = deployed(backend).await;
    let agent = app.actor("Agent", &["agent"]).await;
    let r = app
        .http
        .put(format!("{}/api/v1/me/digest", app.base))
        .bearer_auth(&agent)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Someone opened by hand the case Tuesday's 08:00 occurrence will open: its key is taken.
    let r = app
        .start(
            &agent,
            "releve-quotidien",
            "matin-2026-12-08T08:00",
            json!({"origine": "main"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // Tuesday 09:00: the 08:00 occurrence fails, the 08:30 one and the digest still run.
    app.clock.set(brussels(2026, 12, 8, 9));
    let pass = app.app.scheduler.run_due().await.expect("the pass goes on");
    assert_eq!(
        (pass.started, pass.schedules_failed, pass.digests),
        (1, 1, 1),
        "{pass:?}"
    );
    assert_eq!(
        keys(&app).await,
        ["matin-2026-12-08T08:00", "midi-2026-12-08T08:30"]
    );
    let stuck = app.stuck_for("schedule_failing").await;
    assert_eq!(stuck.len(), 1, "{stuck:?}");
    let s = &stuck[0];
    assert_eq!(
        (&s["workflow"], &s["schedule"], &s["key"]),
        (
            &json!("releve-quotidien"),
            &json!("matin"),
            &json!("matin-2026-12-08T08:00")
        )
    );
    assert!(
        s.get("case_id").is_none() && s.get("state").is_none(),
        "{s}"
    );
    let detail = s["detail"].as_str().unwrap();
    assert!(
        detail.contains("duplicate_business_key") && detail.contains("1 tentative(s)"),
        "{detail}"
    );
    assert_eq!(
        s["since"].as_str().unwrap(),
        "2026-12-08T07:00:00Z",
        "the occurrence's instant"
    );

    // The loop wakes for the retry, 30 s later, and backs off further when it fails again.
    let now = app.clock_now();
    assert_eq!(
        app.app.scheduler.next_wake().await.unwrap(),
        Some(now + Duration::seconds(30))
    );
    app.clock.set(now + Duration::seconds(30));
    let pass = app.app.scheduler.run_due().await.unwrap();
    assert_eq!((pass.started, pass.schedules_failed), (0, 1), "{pass:?}");
    let detail = app.stuck_for("schedule_failing").await[0]["detail"].clone();
    assert!(
        detail.as_str().unwrap().contains("2 tentative(s)"),
        "{detail}"
    );
    assert_eq!(
        app.app.scheduler.next_wake().await.unwrap(),
        Some(now + Duration::seconds(90))
    );

    // Wednesday: both occurrences of the day and the digest run; the retry fails once more.
    app.clock.set(brussels(2026, 12, 9, 9));
    let pass = app.app.scheduler.run_due().await.unwrap();
    assert_eq!(
        (pass.started, pass.schedules_failed, pass.digests),
        (2, 1, 1),
        "{pass:?}"
    );
    assert_eq!(
        keys(&app).await,
        [
            "matin-2026-12-08T08:00",
            "matin-2026-12-09T08:00",
            "midi-2026-12-08T08:30",
            "midi-2026-12-09T08:30"
        ]
    );
    assert_eq!(app.stuck_for("schedule_failing").await.len(), 1);

    // A version without the morning schedule: the afternoon one now comes first, yet the
    // retry does not run it at 08:00; the occurrence stays failing and waits longer.
    let without = WORKFLOW.replace(
        "  - id: matin\n    cron: \"0 0 8 * * Mon-Fri\"\n    with: { origine: matin }\n",
        "",
    );
    assert!(!without.contains("matin"));
    let r = app.deploy(&without, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let now = brussels(2026, 12, 9, 9) + Duration::minutes(10);
    app.clock.set(now);
    let pass = app.app.scheduler.run_due().await.unwrap();
    assert_eq!((pass.started, pass.schedules_failed), (0, 1), "{pass:?}");
    assert_eq!(keys(&app).await.len(), 4);
    let stuck = app.stuck_for("schedule_failing").await;
    assert_eq!(stuck[0]["schedule"], "matin");
    let detail = stuck[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("schedule_removed") && detail.contains("4 tentative(s)"),
        "{detail}"
    );
    assert_eq!(
        app.app.scheduler.next_wake().await.unwrap(),
        Some(now + Duration::minutes(4))
    );
}

/// The loop's next wake is the next thing it has to do: the digests at 07:00, then each
/// occurrence at its instant (not up to 30 s later, at the safety poll).
async fn the_scheduler_wakes_at_the_next_occurrence(backend: Backend) {
    let app = deployed(backend).await;
    let wake = || async { app.app.scheduler.next_wake().await.unwrap() };
    app.app.scheduler.run_due().await.unwrap();
    // Tuesday 8 December, before the digests: they come first.
    app.clock
        .set(brussels(2026, 12, 8, 6) + Duration::minutes(59));
    app.app.scheduler.run_due().await.unwrap();
    assert_eq!(wake().await, Some(brussels(2026, 12, 8, 7)));
    // Just before the 08:00 occurrence.
    app.clock
        .set(brussels(2026, 12, 8, 8) - Duration::seconds(1));
    app.app.scheduler.run_due().await.unwrap();
    assert_eq!(wake().await, Some(brussels(2026, 12, 8, 8)));
    app.clock.set(brussels(2026, 12, 8, 8));
    assert_eq!(app.app.scheduler.run_due().await.unwrap().started, 1);
    assert_eq!(
        wake().await,
        Some(brussels(2026, 12, 8, 8) + Duration::minutes(30))
    );
    app.clock
        .set(brussels(2026, 12, 8, 8) + Duration::minutes(30));
    assert_eq!(app.app.scheduler.run_due().await.unwrap().started, 1);
    // Nothing else today: Wednesday's digests.
    assert_eq!(wake().await, Some(brussels(2026, 12, 9, 7)));
    // Cron knows no holidays: Friday 25 December has its occurrences, but its digests wait
    // for Monday 28 December (Christmas, then the weekend).
    app.clock.set(brussels(2026, 12, 24, 9));
    app.app.scheduler.run_due().await.unwrap();
    assert_eq!(wake().await, Some(brussels(2026, 12, 25, 8)));
    app.clock.set(brussels(2026, 12, 25, 9));
    assert_eq!(app.app.scheduler.run_due().await.unwrap().started, 2);
    assert_eq!(wake().await, Some(brussels(2026, 12, 28, 7)));
}

/// A schedule every ten seconds: refused at deployment; a version stored before that check
/// neither runs nor keeps the server from starting, and the other workflows' schedules run.
async fn a_cron_more_than_once_a_minute_never_runs(backend: Backend) {
    let app = deployed(backend).await;
    let fast = WORKFLOW
        .replace("id: releve-quotidien", "id: releve-rapide")
        .replace("0 0 8 * * Mon-Fri", "*/10 * * * * *");
    let r = app.deploy(&fast, json!({})).await;
    r.assert_refused(422, "invalid_workflow");
    let message = r.body["message"].as_str().unwrap();
    assert!(message.contains("error[cron-too-frequent]"), "{message}");

    // Stored as an older jalon would have: the restarted server leaves it out.
    let version = workflow_version::ActiveModel {
        workflow_id: Set("releve-rapide".into()),
        version: Set(1),
        hash: Set("stored-before-the-check".into()),
        title: Set("Relevé rapide".into()),
        source: Set(fast),
        templates: Set("{}".into()),
        deployed_at: Set(millis(app.clock_now())),
        deployed_by: Set(None),
        ..Default::default()
    };
    workflow_version::Entity::insert(version)
        .exec(app.app.state.store.db())
        .await
        .unwrap();
    let (cfg, clock, data) = (app.cfg.clone(), app.clock.clone(), app.data());
    drop(app);
    let app = super::harness::spawn_with(cfg, data, clock).await;
    app.clock.set(brussels(2026, 12, 8, 9));
    let pass = app.app.scheduler.run_due().await.unwrap();
    assert_eq!((pass.started, pass.schedules_failed), (2, 0), "{pass:?}");
    let r = app
        .get(&app.admin, "/api/v1/cases?workflow=releve-rapide")
        .await;
    assert_eq!(r.body, json!([]));
}

/// An occurrence that failed once (the database was away, say) starts its case at its next
/// attempt, once, even with two processes retrying at the same time, and leaves the list.
async fn a_failed_occurrence_starts_at_its_retry(backend: Backend) {
    let app = deployed(backend).await;
    let failed = schedule_run::ActiveModel {
        workflow_id: Set("releve-quotidien".into()),
        schedule: Set(0),
        at: Set(millis(brussels(2026, 12, 8, 8))),
        case_id: Set(None),
        ran_at: Set(millis(brussels(2026, 12, 8, 8))),
        attempts: Set(1),
        last_error: Set(Some("database_unavailable: connection refused".into())),
        next_attempt_at: Set(Some(millis(
            brussels(2026, 12, 8, 8) + Duration::seconds(30),
        ))),
        schedule_id: Set(Some("matin".into())),
    };
    schedule_run::Entity::insert(failed)
        .exec(app.app.state.store.db())
        .await
        .unwrap();
    app.clock
        .set(brussels(2026, 12, 8, 8) + Duration::seconds(10));
    assert_eq!(app.stuck_for("schedule_failing").await.len(), 1);
    assert_eq!(
        app.app.scheduler.next_wake().await.unwrap(),
        Some(brussels(2026, 12, 8, 8) + Duration::seconds(30))
    );
    app.clock
        .set(brussels(2026, 12, 8, 8) + Duration::minutes(1));
    let other = App::build(&app.cfg, Arc::new(app.clock.clone()))
        .await
        .unwrap();
    let (a, b) = tokio::join!(app.app.scheduler.run_due(), other.scheduler.run_due());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (
            a.started + b.started,
            a.schedules_failed + b.schedules_failed
        ),
        (1, 0),
        "{a:?} {b:?}"
    );
    assert_eq!(keys(&app).await, ["matin-2026-12-08T08:00"]);
    assert_eq!(
        app.stuck_for("schedule_failing").await,
        Vec::<serde_json::Value>::new()
    );
    assert_eq!(app.app.scheduler.run_due().await.unwrap().started, 0);
}

on_both_backends!(
    a_failed_occurrence_starts_at_its_retry,
    a_failing_schedule_stops_nothing_else,
    the_scheduler_wakes_at_the_next_occurrence,
    a_cron_more_than_once_a_minute_never_runs,
);
