//! The HTTP API on a real procedure (Chambre de recours, decree of 13 September 2018,
//! Art. 117-135): deadlines, timers, tasks, history, refusals, idempotency, deployment.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;
use store::entities::history;

use super::harness::{Backend, Reply, TestApp, brussels, spawn_app};
use crate::on_both_backends;

/// An appeal received on Thursday 17 December 2026, started by `token`.
pub(super) async fn recours(app: &TestApp, token: &str, key: &str) -> String {
    let r = app
        .start(
            token,
            "chambre-recours",
            key,
            json!({"matiere": "evaluation", "recours_recu_le": "2026-12-17"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// The list of members received by the requérant on `day` (Art. 129): the recusation period
/// opens. The event must be accepted.
pub(super) async fn list_received(app: &TestApp, token: &str, id: &str, day: &str) -> Reply {
    let r = app
        .event(
            token,
            id,
            "communiquer_liste",
            json!({"liste_recue_le": day}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

async fn chambre_recours_procedure(backend: Backend) {
    let app = spawn_app(backend).await;
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    let president = app.actor("Président", &["president"]).await;
    let requerant = app.actor("Requérant", &["requerant"]).await;
    app.clock.set(brussels(2026, 12, 18, 12));
    let id = recours(&app, &secretaire, "CR-2026-17").await;

    // The list of members, received on Friday 18 December 2026: the recusation period runs
    // 10 working days (Art. 129), across Christmas and New Year's Day.
    let r = list_received(&app, &secretaire, &id, "2026-12-18").await;
    assert_eq!(r.body["state"], "recusation_ouverte");
    let d = &r.body["deadlines"][0];
    assert_eq!(d["timer"], "delai_recusation");
    assert_eq!(d["due_date"], "2027-01-05");
    assert_eq!(d["due_long"], "mardi 5 janvier 2027");
    assert_eq!(d["legal_basis"], "Art. 129, al. 2");
    let explanation = d["explanation"].to_string();
    assert!(explanation.contains("jours ouvrables"), "{explanation}");

    // Nothing fires on the due date itself; the timer fires at midnight after it.
    assert_eq!(app.advance_to(brussels(2027, 1, 5, 23)).await, 0);
    assert_eq!(app.advance_to(brussels(2027, 1, 6, 1)).await, 1);
    let c = app.get(&secretaire, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(c.body["state"], "instruction");
    let version = c.body["row_version"].as_i64().unwrap();

    // Refusals change nothing.
    let wrong_role = app
        .event(
            &secretaire,
            &id,
            "convoquer_seance",
            json!({"date_seance": "2027-02-01"}),
        )
        .await;
    assert_eq!(
        (wrong_role.status, wrong_role.body["code"].as_str()),
        (403, Some("role_not_allowed"))
    );
    let wrong_state = app
        .event(
            &secretaire,
            &id,
            "rendre_avis",
            json!({"avis": "favorable_au_requerant", "votes_pour": 4, "votes_contre": 1}),
        )
        .await;
    assert_eq!(
        (wrong_state.status, wrong_state.body["code"].as_str()),
        (409, Some("event_not_allowed"))
    );
    let bad_input = app
        .event(
            &president,
            &id,
            "convoquer_seance",
            json!({"date_seance": "lundi prochain"}),
        )
        .await;
    assert_eq!(
        (bad_input.status, bad_input.body["code"].as_str()),
        (422, Some("invalid_input"))
    );
    assert_eq!(bad_input.body["details"]["input"], "date_seance");
    let missing = app
        .event(&president, &id, "convoquer_seance", json!({}))
        .await;
    assert_eq!(
        (missing.status, missing.body["code"].as_str()),
        (422, Some("missing_input"))
    );
    // Art. 128: no sitting before the file is complete and a rapporteur named.
    let guard = app
        .event(
            &president,
            &id,
            "convoquer_seance",
            json!({"date_seance": "2027-02-01"}),
        )
        .await;
    assert_eq!(
        (guard.status, guard.body["code"].as_str()),
        (409, Some("guard_failed"))
    );
    let c = app.get(&secretaire, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(
        (c.body["state"].as_str(), c.body["row_version"].as_i64()),
        (Some("instruction"), Some(version))
    );

    let r = app
        .post(
            &secretaire,
            &format!("/api/v1/cases/{id}/events"),
            json!({
                "event": "completer_dossier",
                "inputs": {"rapporteur": "M. Dupont", "dossier_complet": true},
                "expected_version": version,
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A second writer that read the same version is refused.
    let stale = app
        .post(
            &secretaire,
            &format!("/api/v1/cases/{id}/events"),
            json!({
                "event": "completer_dossier", "inputs": {}, "expected_version": version,
            }),
        )
        .await;
    assert_eq!(
        (stale.status, stale.body["code"].as_str()),
        (409, Some("stale_version"))
    );

    let r = app
        .event(
            &president,
            &id,
            "convoquer_seance",
            json!({"date_seance": "2027-02-01"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (200, Some("seance_convoquee")),
        "{}",
        r.body
    );
    let r = app
        .event(
            &secretaire,
            &id,
            "rendre_avis",
            json!({"avis": "favorable_au_requerant", "votes_pour": 4, "votes_contre": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["status"].as_str(), r.body["outcome"].as_str()),
        (Some("closed"), Some("avis_rendu"))
    );
    let closed = app.event(&requerant, &id, "desister", json!({})).await;
    assert_eq!(
        (closed.status, closed.body["code"].as_str()),
        (409, Some("case_closed"))
    );

    // History: every transition, who and why, hash-chained.
    let h = app
        .get(&requerant, &format!("/api/v1/cases/{id}/history"))
        .await;
    let triggers: Vec<&str> = h
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(
        triggers,
        [
            "start",
            "event communiquer_liste",
            "timer delai_recusation#1",
            "event completer_dossier",
            "event convoquer_seance",
            "event rendre_avis",
        ]
    );
    assert!(h.body[2]["late_ms"].as_i64().unwrap() > 0);
    let rows = history::Entity::find()
        .filter(history::Column::CaseId.eq(&id))
        .order_by_asc(history::Column::Seq)
        .all(app.app.state.store.db())
        .await
        .unwrap();
    assert_eq!(rows[0].prev_hash, "");
    for pair in rows.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
}

async fn authentication_and_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .http
        .get(format!("{}/api/v1/cases", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app.get("jalon_not_a_token", "/api/v1/cases").await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let dco = app.actor("DCO", &["dco"]).await;
    assert_eq!(app.get(&dco, "/api/v1/cases").await.status, 200);
    app.app
        .state
        .store
        .revoke_actor("dco@example.org", app.clock_now())
        .await
        .unwrap();
    assert_eq!(app.get(&dco, "/api/v1/cases").await.status, 401);

    let r = app.get(&app.admin, "/api/v1/cases/nope").await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("case_not_found"))
    );
    let r = app.get(&app.admin, "/api/v1/nothing-here").await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("route_not_found"))
    );
    let r = app
        .start(&app.admin, "no-such-workflow", "k", json!({}))
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("workflow_not_found"))
    );
    let r = app
        .post(
            &app.admin,
            "/api/v1/cases",
            json!({"workflow": "chambre-recours"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("invalid_body"))
    );
    let r = app
        .http
        .post(format!("{}/api/v1/cases", app.base))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A body announced above the limit is refused before it is read (raw HTTP: a client
    // still sending when the server answers would see a reset instead of the answer).
    let answer = raw_request(
        &app.base,
        &format!(
            "POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            app.admin,
            jalon::server::BODY_LIMIT + 1
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // An actor with no role in the workflow cannot start it (the engine checks `start.by`).
    let r = app
        .start(
            &app.admin,
            "chambre-recours",
            "k",
            json!({"matiere": "evaluation", "recours_recu_le": "2026-12-17"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("role_not_allowed"))
    );
    let list = app.get(&app.admin, "/api/v1/cases").await;
    assert_eq!(list.body, json!([]));
}

async fn idempotent_start(backend: Backend) {
    let app = spawn_app(backend).await;
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    let body = json!({"workflow": "chambre-recours", "key": "CR-1", "inputs": {"matiere": "evaluation", "recours_recu_le": "2026-11-02"}});
    let send = |b: serde_json::Value, key: &'static str| {
        let req = app
            .http
            .post(format!("{}/api/v1/cases", app.base))
            .bearer_auth(&secretaire)
            .header("Idempotency-Key", key)
            .json(&b);
        async move { super::harness::reply(req.send().await.unwrap()).await }
    };
    let first = send(body.clone(), "k-1").await;
    assert_eq!(first.status, 201, "{}", first.body);
    let again = send(body.clone(), "k-1").await;
    assert_eq!((again.status, &again.body), (201, &first.body));
    let other = send(
        json!({"workflow": "chambre-recours", "key": "CR-2", "inputs": {}}),
        "k-1",
    )
    .await;
    assert_eq!(
        (other.status, other.body["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    // Without the header, the business key still prevents a second case.
    let dup = app
        .start(
            &secretaire,
            "chambre-recours",
            "CR-1",
            body["inputs"].clone(),
        )
        .await;
    assert_eq!(
        (dup.status, dup.body["code"].as_str()),
        (409, Some("duplicate_business_key"))
    );
    let list = app
        .get(&app.admin, "/api/v1/cases?workflow=chambre-recours")
        .await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
}

async fn deploy_versions(backend: Backend) {
    let app = spawn_app(backend).await;
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    let old = recours(&app, &secretaire, "CR-old").await;
    let (source, templates) = super::harness::shipped("chambre-recours");
    // Not an administrator.
    let r = app
        .post(
            &secretaire,
            "/api/v1/workflows",
            json!({"source": source, "templates": templates}),
        )
        .await;
    assert_eq!(r.status, 403);
    // The same text: nothing new.
    let r = app.deploy(&source, &templates).await;
    assert_eq!(
        (
            r.status,
            r.body["version"].as_i64(),
            r.body["changed"].as_bool()
        ),
        (200, Some(1), Some(false))
    );
    // A broken text is refused with the validator's message and position.
    let broken = source.replace("goto: instruction", "goto: instructoin");
    let r = app.deploy(&broken, &templates).await;
    r.assert_refused(422, "invalid_workflow");
    let msg = r.body["message"].as_str().unwrap();
    assert!(
        msg.contains("instructoin") && msg.contains("error["),
        "{msg}"
    );
    // A changed text is version 2; the running case keeps version 1, a new case gets 2.
    let changed = source.replace("title: ", "title: (v2) ");
    let r = app.deploy(&changed, &templates).await;
    assert_eq!(
        (r.status, r.body["version"].as_i64()),
        (201, Some(2)),
        "{}",
        r.body
    );
    let c = app.get(&secretaire, &format!("/api/v1/cases/{old}")).await;
    assert_eq!(c.body["version"], 1);
    let new = recours(&app, &secretaire, "CR-new").await;
    let c = app.get(&secretaire, &format!("/api/v1/cases/{new}")).await;
    assert_eq!(c.body["version"], 2);
    let v = app
        .get(&secretaire, "/api/v1/workflows/chambre-recours/versions")
        .await;
    assert_eq!(v.body.as_array().unwrap().len(), 2);
}

/// Incompatibility (Art. 36-40): a task with its due date, the appeal opened as a child case
/// of the Chambre de recours, the parent moved by the child's outcome, and what the operator
/// sees on the way.
async fn child_case_tasks_and_stuck(backend: Backend) {
    let app = spawn_app(backend).await;
    let gouvernement = app.actor("Gouvernement", &["gouvernement"]).await;
    let membre = app.actor("Membre", &["membre"]).await;
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    let operator = app.actor("Opérateur", &["operator"]).await;
    assert_eq!(app.get(&membre, "/api/v1/operator/stuck").await.status, 403);
    let r = app
        .start(&gouvernement, "incompatibilite", "INC-7", json!({
            "constatee_le": "2026-11-02", "fondement": "occupation_art38", "description": "Cumul"
        }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    // 20 calendar days from 2 November end on Sunday 22 November: moved to Monday (Art. 22).
    let tasks = app.get(&gouvernement, "/api/v1/tasks").await;
    assert_eq!(tasks.body[0]["task_id"], "informer_membre");
    assert_eq!(tasks.body[0]["due_date"], "2026-11-23");
    assert_eq!(tasks.body[0]["overdue"], false);
    assert_eq!(app.get(&membre, "/api/v1/tasks").await.body, json!([]));

    app.advance_to(super::harness::brussels(2026, 11, 24, 12))
        .await;
    let stuck = app.get(&operator, "/api/v1/operator/stuck").await;
    let reasons: Vec<&str> = stuck
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"task_overdue"), "{}", stuck.body);
    let overdue = app.get(&operator, "/api/v1/cases?overdue=true").await;
    assert_eq!(overdue.body[0]["id"], id.as_str());

    let r = app
        .event(
            &gouvernement,
            &id,
            "notifier",
            json!({"notification_expediee_le": "2026-11-24"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        app.get(&gouvernement, "/api/v1/tasks")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    let r = app
        .event(
            &membre,
            &id,
            "introduire_reclamation",
            json!({"reclamation_expediee_le": "2026-11-24", "reclamation_recue_le": "2026-12-01"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (200, Some("reclamation_recue")),
        "{}",
        r.body
    );
    let children = app
        .get(&secretaire, "/api/v1/cases?workflow=chambre-recours")
        .await;
    assert_eq!(
        children.body.as_array().unwrap().len(),
        1,
        "{}",
        children.body
    );
    assert_eq!(children.body[0]["key"], "INC-7/chambre-recours-1");
    let child = children.body[0]["id"].as_str().unwrap().to_owned();
    let c = app
        .get(&secretaire, &format!("/api/v1/cases/{child}"))
        .await;
    assert_eq!(c.body["parent_id"], id.as_str());
    assert_eq!(c.body["variables"]["recours_recu_le"], "2026-12-01");

    // The appeal is withdrawn: the parent moves on in the same transaction.
    let r = app.event(&secretaire, &child, "desister", json!({})).await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("closed")),
        "{}",
        r.body
    );
    let parent = app.get(&gouvernement, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(parent.body["state"], "incompatibilite_etablie");
    let h = app
        .get(&gouvernement, &format!("/api/v1/cases/{id}/history"))
        .await;
    let last = h.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["trigger"], "child chambre-recours ended: desistement");
}

async fn case_list_filters_and_probes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, bob) = (
        app.actor("Alice", &["chambre_secretaire"]).await,
        app.actor("Bob", &["chambre_secretaire"]).await,
    );
    let mut ids = Vec::new();
    for (token, key) in [(&alice, "CR-1"), (&alice, "CR-2"), (&bob, "CR-3")] {
        ids.push(recours(&app, token, key).await);
    }
    list_received(&app, &alice, &ids[0], "2026-12-18").await;
    let r = app.event(&bob, &ids[1], "desister", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let id_of = |me: Reply| me.body["id"].as_str().unwrap().to_owned();
    let alice_id = id_of(app.get(&alice, "/api/v1/me").await);
    let bob_id = id_of(app.get(&bob, "/api/v1/me").await);
    let app = &app;
    let list = |query: String| async move {
        let r = app.get(&app.admin, &format!("/api/v1/cases?{query}")).await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        r.sorted_keys()
    };
    assert_eq!(list("state=recusation_ouverte".into()).await, ["CR-1"]);
    assert_eq!(list("state=liste_a_communiquer".into()).await, ["CR-3"]);
    assert_eq!(list("status=closed".into()).await, ["CR-2"]);
    assert_eq!(list("status=open".into()).await, ["CR-1", "CR-3"]);
    // Acted on: started it, or sent it an event.
    assert_eq!(list(format!("actor={alice_id}")).await, ["CR-1", "CR-2"]);
    assert_eq!(list(format!("actor={bob_id}")).await, ["CR-2", "CR-3"]);
    assert_eq!(list(format!("actor={bob_id}&status=open")).await, ["CR-3"]);
    assert!(
        list(format!("actor={bob_id}&state=recusation_ouverte"))
            .await
            .is_empty()
    );
    assert_eq!(
        list("workflow=chambre-recours&limit=2".into()).await.len(),
        2
    );
    assert_eq!(
        list("workflow=chambre-recours&limit=2&offset=2".into())
            .await
            .len(),
        1
    );

    // The probes answer without a token.
    for (path, body) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let r = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.text().await.unwrap(), body, "{path}");
    }
}

/// Every paging value is bounded before it reaches the database: out of range is a 422
/// `invalid_query` in the error shape (an offset past `i64::MAX` used to panic in the SQL
/// binding and answer 500).
async fn paging_values_are_bounded(backend: Backend) {
    let app = spawn_app(backend).await;
    for query in [
        "/api/v1/cases?offset=9223372036854775808",
        "/api/v1/cases?offset=18446744073709551615",
        "/api/v1/cases?offset=18446744073709551616",
        "/api/v1/cases?offset=100000001",
        "/api/v1/cases?offset=-1",
        "/api/v1/cases?limit=0",
        "/api/v1/cases?limit=1001",
        "/api/v1/cases?limit=9223372036854775808",
        "/api/v1/operator/notices?limit=0",
        "/api/v1/operator/notices?limit=1001",
        "/api/v1/operator/notices?status=lost",
        "/api/v1/cases?status=lost",
    ] {
        let r = app.get(&app.admin, query).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (422, Some("invalid_query")),
            "{query}: {}",
            r.body
        );
    }
    for query in [
        "/api/v1/cases?offset=100000000&limit=1000",
        "/api/v1/cases?limit=1",
        "/api/v1/operator/notices?limit=1000",
    ] {
        let r = app.get(&app.admin, query).await;
        assert_eq!((r.status, &r.body), (200, &json!([])), "{query}");
    }
    // The store itself never panics on a page, whatever it is asked.
    let all = store::queries::CaseFilter {
        limit: u64::MAX,
        offset: u64::MAX,
        ..Default::default()
    };
    let rows = app.app.state.store.list_cases(&all, app.clock_now()).await;
    assert!(rows.expect("a page past every row").is_empty());
}

/// A page of the case list holds only cases the caller may read, cut after that filter: a
/// newer case of another workflow used to take the page's place and leave it empty.
async fn a_page_holds_only_readable_cases(backend: Backend) {
    let app = spawn_app(backend).await;
    let secretariat = app.actor("Greffe", &["chambre_secretaire"]).await;
    let dco = app.actor("DCO", &["dco"]).await;
    let nobody = app.actor("Personne", &["no_such_role"]).await;
    recours(&app, &secretariat, "CR-1").await;
    app.clock.set(app.clock_now() + chrono::Duration::hours(1));
    let r = app
        .start(
            &dco,
            "besoins-formation",
            "BF-1",
            json!({"collecte_sexennale": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let page = app.get(&secretariat, "/api/v1/cases?limit=1").await;
    assert_eq!(page.sorted_keys(), ["CR-1"], "{}", page.body);
    let page = app.get(&dco, "/api/v1/cases?limit=1&offset=1").await;
    assert!(page.sorted_keys().is_empty(), "{}", page.body);
    let page = app.get(&nobody, "/api/v1/cases").await;
    assert_eq!((page.status, &page.body), (200, &json!([])));
    let all = app.get(&app.admin, "/api/v1/cases?limit=1").await;
    assert_eq!(all.sorted_keys(), ["BF-1"], "{}", all.body);
}

/// An actor without any role in a case's workflow learns nothing from sending it an event:
/// the same answer as reading it (403, or 404 for no such case), whatever the event, before
/// the event, its inputs or the expected version are looked at (it used to get the state,
/// the outcome and the version in a 409's details).
async fn events_from_outsiders_are_refused_like_reads(backend: Backend) {
    let app = spawn_app(backend).await;
    let secretariat = app.actor("Greffe", &["chambre_secretaire"]).await;
    let outsider = app.actor("DCO", &["dco"]).await;
    let id = recours(&app, &secretariat, "CR-1").await;
    let read = app.get(&outsider, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(
        (read.status, read.body["code"].as_str()),
        (403, Some("forbidden"))
    );
    for body in [
        json!({"event": "communiquer_liste", "inputs": {"liste_recue_le": "2026-12-18"}}),
        json!({"event": "no_such_event"}),
        json!({"event": "communiquer_liste", "expected_version": 99}),
    ] {
        let r = app
            .post(
                &outsider,
                &format!("/api/v1/cases/{id}/events"),
                body.clone(),
            )
            .await;
        assert_eq!((r.status, &r.body), (read.status, &read.body), "{body}");
    }
    let read = app.get(&outsider, "/api/v1/cases/nope").await;
    assert_eq!(read.status, 404);
    let r = app
        .event(&outsider, "nope", "communiquer_liste", json!({}))
        .await;
    assert_eq!((r.status, &r.body), (read.status, &read.body));
    // Nothing happened to the case; its actors still move it.
    let history = app
        .get(&secretariat, &format!("/api/v1/cases/{id}/history"))
        .await;
    assert_eq!(
        history.body.as_array().unwrap().len(),
        1,
        "{}",
        history.body
    );
    list_received(&app, &secretariat, &id, "2026-12-18").await;
}

/// A key given twice in `inputs` is refused like a field given twice in the body (serde_json
/// used to keep the last one in silence); nothing is started or moved.
async fn inputs_with_a_key_twice_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let secretariat = app.actor("Greffe", &["chambre_secretaire"]).await;
    let raw = |path: String, body: &'static str| {
        let app = &app;
        let secretariat = secretariat.clone();
        async move {
            let r = app
                .http
                .post(format!("{}{path}", app.base))
                .bearer_auth(&secretariat)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            super::harness::reply(r).await
        }
    };
    let r = raw(
        "/api/v1/cases".into(),
        r#"{"workflow": "chambre-recours", "key": "CR-D", "inputs": {"matiere": "evaluation", "recours_recu_le": "2026-12-17", "matiere": "autre"}}"#,
    )
    .await;
    r.assert_refused(422, "invalid_body");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("duplicate key `matiere`"),
        "{}",
        r.body
    );
    // The same refusal as a field given twice at the top of the body.
    let top = raw(
        "/api/v1/cases".into(),
        r#"{"workflow": "chambre-recours", "key": "CR-D", "key": "CR-E", "inputs": {}}"#,
    )
    .await;
    assert_eq!(
        (top.status, top.body["code"].as_str()),
        (422, Some("invalid_body"))
    );
    // Fields given by position, as an array, are no body either.
    let array = raw(
        "/api/v1/cases".into(),
        r#"["chambre-recours", "CR-A", {"matiere": "evaluation", "recours_recu_le": "2026-12-17"}]"#,
    )
    .await;
    array.assert_refused(422, "invalid_body");
    assert_eq!(app.get(&app.admin, "/api/v1/cases").await.body, json!([]));

    let id = recours(&app, &secretariat, "CR-1").await;
    let r = raw(
        format!("/api/v1/cases/{id}/events"),
        r#"{"event": "communiquer_liste", "inputs": {"liste_recue_le": "2026-12-18", "liste_recue_le": "2027-03-01"}}"#,
    )
    .await;
    r.assert_refused(422, "invalid_body");
    let case = app.get(&secretariat, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(case.body["state"], "liste_a_communiquer", "{}", case.body);
}

/// The authentication scheme's name is case-insensitive (RFC 7235 §2.1); another scheme, or
/// none, is still 401.
async fn bearer_scheme_in_any_case(backend: Backend) {
    let app = spawn_app(backend).await;
    for (value, status) in [
        (format!("bearer {}", app.admin), 200),
        (format!("BEARER {}", app.admin), 200),
        (format!("Bearer {}", app.admin), 200),
        (format!("Basic {}", app.admin), 401),
        (app.admin.clone(), 401),
    ] {
        let r = app
            .http
            .get(format!("{}/api/v1/me", app.base))
            .header("authorization", &value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{value}");
    }
}

/// Rejections that axum answers in plain text by default come in the error shape: an
/// unreadable path parameter (400 `invalid_path`) and a body announced over the limit (413
/// `body_too_large`).
async fn rejections_in_the_error_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .post(
            &app.admin,
            "/api/v1/operator/notices/abc/retry",
            json!({"reason": "x"}),
        )
        .await;
    r.assert_refused(400, "invalid_path");
    let r = app.get(&app.admin, "/api/v1/cases/x/notices/abc/eml").await;
    r.assert_refused(400, "invalid_path");
    // The NUL character, which PostgreSQL cannot store (it answered 500 there), is refused
    // in every string on both backends.
    let r = app
        .start(&app.admin, "chambre-recours\u{0}", "k", json!({}))
        .await;
    r.assert_refused(422, "invalid_body");
    let r = app
        .start(
            &app.admin,
            "chambre-recours",
            "k",
            json!({"matiere": "a\u{0}"}),
        )
        .await;
    r.assert_refused(422, "invalid_body");
    let r = app.get(&app.admin, "/api/v1/cases?workflow=a%00").await;
    r.assert_refused(422, "invalid_query");
    for path in [
        "/api/v1/cases/%FF",
        "/api/v1/workflows/%FF/versions",
        "/api/v1/cases/%FF/verify",
    ] {
        let r = app.get(&app.admin, path).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (400, Some("invalid_path")),
            "{path}: {}",
            r.body
        );
    }
    let r = app.get(&app.admin, "/api/v1/cases/a%00").await;
    r.assert_refused(400, "invalid_path");
    let r = app
        .http
        .delete(format!("{}/api/v1/cases", app.base))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.headers().contains_key("allow"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "method_not_allowed", "{body}");
    let answer = raw_request(
        &app.base,
        &format!(
            "POST /api/v1/workflows HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            app.admin,
            jalon::server::BODY_LIMIT + 1
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{answer}"));
    assert_eq!(body["code"], "body_too_large", "{answer}");
}

on_both_backends!(
    chambre_recours_procedure,
    authentication_and_errors,
    idempotent_start,
    deploy_versions,
    child_case_tasks_and_stuck,
    case_list_filters_and_probes,
    paging_values_are_bounded,
    a_page_holds_only_readable_cases,
    events_from_outsiders_are_refused_like_reads,
    inputs_with_a_key_twice_are_refused,
    bearer_scheme_in_any_case,
    rejections_in_the_error_shape,
);

async fn raw_request(base: &str, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The OpenAPI document describes exactly the routes that answer: every documented path and
/// method reaches a handler (no `route_not_found`, no 405), and the notice routes are in it.
async fn openapi_matches_the_routes(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/cases/{id}/notices",
        "/cases/{id}/notices/{notice}/eml",
        "/operator/notices",
        "/operator/notices/{id}/retry",
        "/operator/stuck",
    ] {
        assert!(paths.contains_key(p), "{p} missing from {:?}", paths.keys());
    }
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{id}", "1")
            .replace("{notice}", "1")
            .replace("{workflow}", "chambre-recours");
        for method in item.as_object().unwrap().keys() {
            let url = format!("{}/api/v1{concrete}", app.base);
            let req = match method.as_str() {
                "get" => app.http.get(&url),
                "post" => app.http.post(&url).json(&json!({})),
                "put" => app.http.put(&url).json(&json!({})),
                "delete" => app.http.delete(&url),
                other => panic!("unexpected method {other} on {path}"),
            };
            let r = super::harness::reply(req.bearer_auth(&app.admin).send().await.unwrap()).await;
            assert_ne!(r.status, 405, "{method} {path}: {}", r.body);
            assert_ne!(r.body["code"], "route_not_found", "{method} {path}");
            checked += 1;
        }
    }
    assert!(checked >= 14, "{checked} routes checked");
}

on_both_backends!(openapi_matches_the_routes);
