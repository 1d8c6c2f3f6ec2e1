//! Timers: due order, exactly once per arming across restarts and several processes.

use std::sync::Arc;

use jalon::server::App;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use store::entities::timer;

use super::harness::{Backend, brussels, spawn_app};
use crate::on_both_backends;
use jalon::clock::{Clock, millis};

async fn open_recusations(app: &super::harness::TestApp, token: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let r = app
            .start(
                token,
                "chambre-recours",
                &format!("CR-{i}"),
                json!({"matiere": "evaluation", "recours_recu_le": "2026-11-02"}),
            )
            .await;
        let id = r.body["id"].as_str().unwrap().to_owned();
        // Lists received on different days: different due dates.
        let day = format!("2026-11-{:02}", 3 + i % 20);
        let e = app
            .event(
                token,
                &id,
                "communiquer_liste",
                json!({"liste_recue_le": day}),
            )
            .await;
        assert_eq!(e.status, 200, "{}", e.body);
        ids.push(id);
    }
    ids
}

async fn fired_count(db: &sea_orm::DatabaseConnection) -> u64 {
    timer::Entity::find()
        .filter(timer::Column::Status.eq("fired"))
        .count(db)
        .await
        .unwrap()
}

async fn restart_fires_each_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    let ids = open_recusations(&app, &secretaire, 6).await;
    let (cfg, clock) = (app.cfg.clone(), app.clock.clone());
    let data = app.data();
    // The server stops with every timer due (the clock moved while it was down).
    drop(app);
    clock.set(brussels(2027, 3, 1, 12));
    let again = super::harness::spawn_with(cfg, data, clock).await;
    let pass = again.app.scheduler.run_due().await.unwrap();
    assert_eq!(pass.fired, 6);
    assert_eq!(again.app.scheduler.run_due().await.unwrap().fired, 0);
    for id in &ids {
        let c = again.get(&secretaire, &format!("/api/v1/cases/{id}")).await;
        assert_eq!(c.body["state"], "instruction");
        let h = again
            .get(&secretaire, &format!("/api/v1/cases/{id}/history"))
            .await;
        let timers: Vec<_> = h
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["trigger"].as_str().unwrap().starts_with("timer"))
            .collect();
        assert_eq!(timers.len(), 1);
        // Lateness is recorded: the due instants were in November.
        assert!(timers[0]["late_ms"].as_i64().unwrap() > 86_400_000);
    }
    assert_eq!(fired_count(again.app.state.store.db()).await, 6);
}

async fn concurrent_schedulers_fire_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    open_recusations(&app, &secretaire, 40).await;
    app.clock.set(brussels(2027, 3, 1, 12));
    // A second process on the same database.
    let other = App::build(&app.cfg, Arc::new(app.clock.clone()))
        .await
        .unwrap();
    let (a, b) = tokio::join!(app.app.scheduler.run_due(), other.scheduler.run_due());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.fired + b.fired, 40, "{a:?} {b:?}");
    assert_eq!(fired_count(app.app.state.store.db()).await, 40);
}

async fn timers_fire_in_due_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    let ids = open_recusations(&app, &secretaire, 3).await;
    // Only the first list's deadline (3 Nov + 10 working days, 11 Nov a holiday: 18 Nov) has
    // passed on 19 November.
    assert_eq!(app.advance_to(brussels(2026, 11, 19, 12)).await, 1);
    let states: Vec<String> = futures_states(&app, &secretaire, &ids).await;
    assert_eq!(
        states,
        ["instruction", "recusation_ouverte", "recusation_ouverte"]
    );
    assert_eq!(app.advance_to(brussels(2026, 11, 21, 12)).await, 2);
}

async fn futures_states(app: &super::harness::TestApp, token: &str, ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        let c = app.get(token, &format!("/api/v1/cases/{id}")).await;
        out.push(c.body["state"].as_str().unwrap().to_owned());
    }
    out
}

/// bilan-annuel opens each year on 1 April at 08:00 Brussels (Art. 4); besoins-formation on
/// 1 February at 08:00 (Art. 9/1).
async fn schedules_start_each_occurrence_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let count = |w: &'static str| {
        let app = &app;
        async move {
            app.get(&app.admin, &format!("/api/v1/cases?workflow={w}"))
                .await
                .body
                .as_array()
                .unwrap()
                .len()
        }
    };
    app.clock.set(brussels(2027, 4, 1, 7));
    let pass = app.app.scheduler.run_due().await.unwrap();
    assert_eq!(pass.started, 1, "besoins-formation of 1 February 2027");
    assert_eq!(
        (
            count("bilan-annuel").await,
            count("besoins-formation").await
        ),
        (0, 1)
    );
    // 08:00 Brussels is 06:00 UTC on 1 April (summer time).
    app.clock.set(brussels(2027, 4, 1, 8));
    // Two processes see the occurrence at once: one case.
    let other = App::build(&app.cfg, Arc::new(app.clock.clone()))
        .await
        .unwrap();
    let (a, b) = tokio::join!(app.app.scheduler.run_due(), other.scheduler.run_due());
    assert_eq!(a.unwrap().started + b.unwrap().started, 1);
    assert_eq!(count("bilan-annuel").await, 1);
    assert_eq!(app.app.scheduler.run_due().await.unwrap().started, 0);
    let list = app
        .get(&app.admin, "/api/v1/cases?workflow=bilan-annuel")
        .await;
    assert_eq!(list.body[0]["key"], "ouverture_annuelle-2027-04-01T08:00");
    // Down from May 2027 to June 2029: the two missed occurrences of each run once (other
    // shipped workflows with schedules start theirs too: each start is one new case).
    let all = || async {
        app.get(&app.admin, "/api/v1/cases?limit=1000")
            .await
            .body
            .as_array()
            .unwrap()
            .len()
    };
    let before = all().await;
    app.clock.set(brussels(2029, 6, 1, 12));
    let started = app.app.scheduler.run_due().await.unwrap().started;
    assert_eq!(started, all().await - before);
    assert!(started >= 4, "{started}");
    assert_eq!(
        (
            count("bilan-annuel").await,
            count("besoins-formation").await
        ),
        (3, 3)
    );
}

on_both_backends!(
    schedules_start_each_occurrence_once,
    restart_fires_each_once,
    concurrent_schedulers_fire_once,
    timers_fire_in_due_order,
);

/// Many transitions at once (batched into shared transactions on SQLite): each refused one
/// changes nothing and does not disturb the others; each accepted one is there, once.
async fn concurrent_transitions_commit_or_refuse_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    let mut ids = Vec::new();
    for i in 0..40 {
        let r = app
            .start(
                &secretaire,
                "chambre-recours",
                &format!("CR-B-{i}"),
                json!({"matiere": "evaluation", "recours_recu_le": "2026-11-02"}),
            )
            .await;
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    // Even cases get a valid event; odd ones an invalid date (422) — all at the same time.
    let sends = ids.iter().enumerate().map(|(i, id)| {
        let day = if i % 2 == 0 {
            "2026-11-03"
        } else {
            "pas une date"
        };
        app.event(
            &secretaire,
            id,
            "communiquer_liste",
            json!({"liste_recue_le": day}),
        )
    });
    let replies = futures_util::future::join_all(sends).await;
    for (i, r) in replies.iter().enumerate() {
        let want = if i % 2 == 0 { 200 } else { 422 };
        assert_eq!(r.status, want, "case {i}: {}", r.body);
    }
    for (i, id) in ids.iter().enumerate() {
        let c = app.get(&secretaire, &format!("/api/v1/cases/{id}")).await;
        let h = app
            .get(&secretaire, &format!("/api/v1/cases/{id}/history"))
            .await;
        let n = h.body.as_array().unwrap().len();
        if i % 2 == 0 {
            assert_eq!(c.body["state"], "recusation_ouverte");
            assert_eq!(n, 2, "start and event: {}", h.body);
        } else {
            assert_eq!(c.body["state"], "liste_a_communiquer");
            assert_eq!(n, 1, "start only: {}", h.body);
        }
    }
    let armed = timer::Entity::find()
        .filter(timer::Column::Status.eq("armed"))
        .count(app.app.state.store.db())
        .await
        .unwrap();
    assert_eq!(armed, 20);
}

on_both_backends!(concurrent_transitions_commit_or_refuse_alone);

/// Starts that fail in the middle of their writes (the idempotency key is recorded, then the
/// business key is refused) while others succeed, all at once: on SQLite they share a batch,
/// and each failed start must leave nothing behind, its idempotency key included.
async fn a_failed_start_leaves_nothing_in_a_shared_batch(backend: Backend) {
    let app = spawn_app(backend).await;
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    let inputs = json!({"matiere": "evaluation", "recours_recu_le": "2026-11-02"});
    let send = |case_key: String, idem: String| {
        let req = app
            .http
            .post(format!("{}/api/v1/cases", app.base))
            .bearer_auth(&secretaire)
            .header("Idempotency-Key", idem)
            .json(&json!({"workflow": "chambre-recours", "key": case_key, "inputs": inputs}));
        async move { super::harness::reply(req.send().await.unwrap()).await }
    };
    // Two requests per business key, with different idempotency keys: one of each pair wins.
    let sends = (0..60).map(|i| send(format!("CR-D-{}", i / 2), format!("idem-{i}")));
    let replies = futures_util::future::join_all(sends).await;
    for pair in replies.chunks(2) {
        let mut got: Vec<(u16, Option<&str>)> = pair
            .iter()
            .map(|r| (r.status, r.body["code"].as_str()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [(201, None), (409, Some("duplicate_business_key"))],
            "{:?}",
            pair.iter().map(|r| &r.body).collect::<Vec<_>>()
        );
    }
    // A loser's idempotency key was rolled back with its start: repeating the request is
    // refused again for the business key, not answered with a case that does not exist.
    for (i, r) in replies.iter().enumerate() {
        let again = send(format!("CR-D-{}", i / 2), format!("idem-{i}")).await;
        if r.status == 201 {
            assert_eq!((again.status, &again.body), (201, &r.body));
        } else {
            again.assert_refused(409, "duplicate_business_key");
        }
    }
    let list = app
        .get(&app.admin, "/api/v1/cases?workflow=chambre-recours")
        .await;
    assert_eq!(list.body.as_array().unwrap().len(), 30);
}

on_both_backends!(a_failed_start_leaves_nothing_in_a_shared_batch);

/// A process killed after claiming (its lease runs on): the timers and notices it held are due,
/// but nothing can claim them before the lease ends, so that is when the loops wake, instead
/// of polling every 10 ms until then. On a SQLite file timers are read, not leased (a firing's
/// own update is the claim, `store/src/claim.rs`): what a killed process read fires at once.
async fn a_dead_process_lease_is_waited_for(backend: Backend) {
    let timers_leased = matches!(backend, Backend::Postgres);
    let app = spawn_app(backend).await;
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    // Told of the list of members when a recusation opens: a notice each.
    app.actor("Requérant", &["requerant"]).await;
    open_recusations(&app, &secretaire, 2).await;
    let store = &app.app.state.store;
    let due = store
        .next_timer_at(app.clock.now())
        .await
        .unwrap()
        .expect("a timer armed");
    let now = due + chrono::Duration::hours(1);
    app.clock.set(now);
    let lease = chrono::Duration::minutes(2);
    let held = store.claim_timers("dead", now, lease, 100).await.unwrap();
    assert!(!held.is_empty());
    let notices = store.claim_notices("dead", now, lease, 100).await.unwrap();
    assert!(!notices.is_empty(), "the recusations queued notices");
    assert!(notices.iter().all(|n| n.next_attempt_at < millis(now)));
    assert_eq!(store.next_notice_at(now).await.unwrap(), Some(now + lease));
    if !timers_leased {
        assert_eq!(store.next_timer_at(now).await.unwrap(), Some(due));
        let pass = app.app.scheduler.run_due().await.unwrap();
        assert_eq!(pass.fired, held.len(), "{pass:?}");
        return;
    }
    assert_eq!(store.next_timer_at(now).await.unwrap(), Some(now + lease));
    // Nothing is claimed before the lease ends; then this process fires what it held.
    assert_eq!(app.app.scheduler.run_due().await.unwrap().fired, 0);
    app.clock
        .set(now + lease + chrono::Duration::milliseconds(1));
    let pass = app.app.scheduler.run_due().await.unwrap();
    assert_eq!(pass.fired, held.len(), "{pass:?}");
}

on_both_backends!(a_dead_process_lease_is_waited_for);
