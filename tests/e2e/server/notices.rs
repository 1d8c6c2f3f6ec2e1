//! Notices leave through the outbox to a real SMTP server on loopback (Python's aiosmtpd) or
//! to the file drop: the right people get the right dates and the `.ics`; an outage is caught
//! up exactly once; a crash between delivery and record resends the same message (same
//! Message-ID, same bytes); dead notices show in the stuck list and can be retried; the
//! daily digest lists an actor's open tasks.

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use jalon::server::dispatcher::LEASE_SECS;
use jalon::server::notice_config::NoticeConfig;
use notifiers::test_support::{Received, SmtpSink, leaves, parse_eml};
use notifiers::{SmtpConfig, TlsMode};
use serde_json::{Value, json};

use super::harness::{Backend, TestApp, brussels, spawn_app, spawn_app_with, spawn_with};
use crate::on_both_backends;

fn smtp_to(port: u16) -> NoticeConfig {
    NoticeConfig {
        from: Some("Jalon FWB <jalon@ecoles.example.be>".into()),
        public_url: Some("https://jalon.example.be".into()),
        smtp: Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            tls: TlsMode::None,
            username: None,
            password: None,
            from: String::new(),
            timeout_secs: 10,
            pool_size: 2,
            ca_file: None,
        }),
        ..Default::default()
    }
}

/// A loopback port with nothing listening on it (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Chambre de recours appeal whose list of members, received on Friday 18 December 2026,
/// opens the 10-working-day recusation period (Art. 129): due Tuesday 5 January 2027, across
/// Christmas and New Year's Day. The `liste-membres` notice goes to the requérant.
async fn list_sent(app: &TestApp, key: &str) -> String {
    let secretaire = app
        .actor(&format!("Secrétaire {key}"), &["chambre_secretaire"])
        .await;
    app.clock.set(brussels(2026, 12, 18, 12));
    let id = super::api::recours(app, &secretaire, key).await;
    super::api::list_received(app, &secretaire, &id, "2026-12-18").await;
    id
}

fn header<'a>(parsed: &'a Value, name: &str) -> &'a str {
    parsed["headers"][name].as_str().unwrap_or_default()
}

fn message_id_of(bytes: &[u8]) -> String {
    header(&parse_eml(bytes), "Message-ID").to_owned()
}

/// Waits for the next message, if any arrives within `wait` (the worker may block).
async fn received(sink: &SmtpSink, wait: Duration) -> Option<Received> {
    tokio::task::block_in_place(|| sink.message_within(wait))
}

async fn notices(app: &TestApp, id: &str) -> Vec<Value> {
    let r = app
        .get(&app.admin, &format!("/api/v1/cases/{id}/notices"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.as_array().unwrap().clone()
}

async fn eml(app: &TestApp, case: &str, notice: i64) -> (u16, Vec<u8>, String) {
    let r = app
        .http
        .get(format!(
            "{}/api/v1/cases/{case}/notices/{notice}/eml",
            app.base
        ))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let sha = r
        .headers()
        .get("x-content-sha256")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, r.bytes().await.unwrap().to_vec(), sha)
}

async fn smtp_delivers_a_procedure_step(backend: Backend) {
    let sink = SmtpSink::start();
    let app = spawn_app_with(backend, smtp_to(sink.port)).await;
    app.actor("Jean Dupont", &["requerant"]).await;
    // Holds no role the notice is for: must receive nothing.
    app.actor("Président", &["president"]).await;
    let id = list_sent(&app, "CR-2026-SMTP").await;

    let pass = app.deliver().await;
    assert_eq!(pass.sent, 1, "{pass:?}");
    let m = received(&sink, Duration::from_secs(10))
        .await
        .expect("a message");
    assert_eq!(m.rcpt_tos, vec!["jean.dupont@example.org".to_string()]);
    assert_eq!(m.mail_from, "jalon@ecoles.example.be");
    let parsed = parse_eml(&m.data);
    assert_eq!(
        header(&parsed, "Subject"),
        "Chambre de recours : liste des membres et récusation possible jusqu'au mardi 5 janvier 2027"
    );
    assert_eq!(
        header(&parsed, "To"),
        "Jean Dupont <jean.dupont@example.org>"
    );
    let parts = leaves(&parsed["body"]);
    let text = parts
        .iter()
        .find(|p| p["content_type"] == "text/plain")
        .expect("a text part")["content"]
        .as_str()
        .unwrap();
    assert!(text.contains("Madame, Monsieur Jean Dupont,"), "{text}");
    assert!(
        text.contains("reçue le vendredi 18 décembre 2026"),
        "{text}"
    );
    assert!(
        text.contains("au plus tard le mardi 5 janvier 2027 (Art. 129, al. 2)"),
        "{text}"
    );
    let ics = parts
        .iter()
        .find(|p| p["content_type"] == "text/calendar")
        .expect("an .ics part")["content"]
        .as_str()
        .unwrap();
    assert!(ics.contains("DTSTART;VALUE=DATE:20270105"), "{ics}");
    assert!(ics.contains("DTEND;VALUE=DATE:20270106"), "{ics}");
    assert!(ics.contains("https://jalon.example.be/cases/"), "{ics}");
    // Nobody else was written to.
    assert!(received(&sink, Duration::from_millis(500)).await.is_none());

    // The evidence: the record and the exact bytes the server received.
    let list = notices(&app, &id).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let n = &list[0];
    assert_eq!(n["status"], "sent");
    assert_eq!(n["template"], "liste-membres");
    assert_eq!(n["recipient_email"], "jean.dupont@example.org");
    assert_eq!(n["message_id"], header(&parsed, "Message-ID"));
    assert!(n["response"].as_str().unwrap().starts_with("250"), "{n}");
    let (status, bytes, sha) = eml(&app, &id, n["id"].as_i64().unwrap()).await;
    assert_eq!(status, 200);
    // SMTP ends the DATA it carries with a line break of its own before the final dot.
    let on_the_wire = m.data.strip_suffix(b"\r\n").unwrap_or(&m.data);
    assert!(
        bytes == on_the_wire,
        "the stored bytes are the bytes sent ({} and {} bytes)",
        bytes.len(),
        on_the_wire.len()
    );
    assert_eq!(sha, n["eml_sha256"].as_str().unwrap());
    assert_eq!(sha, notifiers::message::sha256_hex(on_the_wire));
    // Nothing is left to send.
    assert_eq!(app.deliver().await.sent, 0);
}

async fn outage_then_every_notice_once(backend: Backend) {
    let port = free_port();
    let app = spawn_app_with(backend, smtp_to(port)).await;
    app.actor("Jean Dupont", &["requerant"]).await;
    let mut ids = Vec::new();
    for k in 0..3 {
        ids.push(list_sent(&app, &format!("CR-OUT-{k}")).await);
    }
    // SMTP down: every attempt fails and is kept for a retry.
    let pass = app.deliver().await;
    assert_eq!(pass.retrying, 3, "{pass:?}");
    assert_eq!(
        app.deliver().await.retrying,
        0,
        "nothing retried before its backoff"
    );
    let failing = app.stuck_for("notice_failing").await;
    assert_eq!(failing.len(), 3, "{failing:?}");
    assert!(failing[0]["notice_id"].is_i64());
    for id in &ids {
        let n = &notices(&app, id).await[0];
        assert_eq!(n["status"], "pending");
        assert_eq!(n["attempts"], 1);
        assert!(
            n["last_error"]
                .as_str()
                .unwrap()
                .contains("Connection refused"),
            "{n}"
        );
    }

    // A second failure doubles the wait.
    app.clock.set(app.clock_now() + ChronoDuration::seconds(31));
    assert_eq!(app.deliver().await.retrying, 3);

    // SMTP back on the same port: after the backoff, each notice arrives exactly once.
    let sink = SmtpSink::start_on(port);
    app.clock.set(app.clock_now() + ChronoDuration::seconds(61));
    let pass = app.deliver().await;
    assert_eq!(pass.sent, 3, "{pass:?}");
    let mut ids_seen = Vec::new();
    for _ in 0..3 {
        let m = received(&sink, Duration::from_secs(10))
            .await
            .expect("a message");
        ids_seen.push(message_id_of(&m.data));
    }
    ids_seen.sort();
    ids_seen.dedup();
    assert_eq!(ids_seen.len(), 3, "three distinct messages");
    app.clock.set(app.clock_now() + ChronoDuration::hours(5));
    assert_eq!(app.deliver().await, Default::default());
    assert!(received(&sink, Duration::from_secs(1)).await.is_none());
    for id in &ids {
        let n = &notices(&app, id).await[0];
        assert_eq!(n["status"], "sent");
        assert_eq!(n["attempts"], 3);
    }
    let failing = app.stuck_for("notice_failing").await;
    assert!(failing.is_empty(), "{failing:?}");
}

async fn crash_after_delivery_resends_the_same_message(backend: Backend) {
    let sink = SmtpSink::start();
    let app = spawn_app_with(backend, smtp_to(sink.port)).await;
    app.actor("Jean Dupont", &["requerant"]).await;
    let id = list_sent(&app, "CR-CRASH").await;

    // The process "dies" once the relay has accepted the message, before recording it.
    app.app.dispatcher.simulate_crash_after_delivery(true);
    let pass = app.deliver().await;
    assert_eq!((pass.sent, pass.errors), (0, 1), "{pass:?}");
    let first = received(&sink, Duration::from_secs(10))
        .await
        .expect("first copy");
    assert_eq!(notices(&app, &id).await[0]["status"], "pending");

    // A new process on the same database. Within the dead process's lease nothing is resent.
    let cfg = app.cfg.clone();
    let data = app.data();
    let clock = app.clock.clone();
    drop(app);
    let app = spawn_with(cfg, data, clock).await;
    assert_eq!(app.deliver().await.sent, 0);
    app.clock
        .set(app.clock_now() + ChronoDuration::seconds(LEASE_SECS + 1));
    assert_eq!(app.deliver().await.sent, 1);
    let second = received(&sink, Duration::from_secs(10))
        .await
        .expect("second copy");

    // The duplicate is recognisable: same Message-ID, byte for byte the same message.
    assert_eq!(message_id_of(&first.data), message_id_of(&second.data));
    assert!(first.data == second.data, "the same bytes twice");
    let n = &notices(&app, &id).await[0];
    assert_eq!(n["status"], "sent");
    assert_eq!(n["message_id"], message_id_of(&first.data));
    assert_eq!(app.deliver().await.sent, 0);
    assert!(received(&sink, Duration::from_millis(500)).await.is_none());
}

async fn file_drop_by_default(backend: Backend) {
    let app = spawn_app(backend).await;
    app.actor("Jean Dupont", &["requerant"]).await;
    let id = list_sent(&app, "CR-FILE").await;
    assert_eq!(app.deliver().await.sent, 1);
    let n = &notices(&app, &id).await[0];
    let file = app
        .cfg
        .data_dir
        .join("outbox")
        .join(format!("{id}-{}.eml", n["id"]));
    let on_disk = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let (_, bytes, _) = eml(&app, &id, n["id"].as_i64().unwrap()).await;
    assert_eq!(on_disk, bytes);
    let parsed = parse_eml(&on_disk);
    assert_eq!(header(&parsed, "From"), "Jalon <jalon@localhost>");
    assert!(header(&parsed, "Subject").ends_with("mardi 5 janvier 2027"));
    // Not sent yet → 404 with its code; an unknown case → 404 too.
    let (status, _, _) = eml(&app, &id, n["id"].as_i64().unwrap() + 1000).await;
    assert_eq!(status, 404);
}

async fn dead_notices_are_listed_and_retried(backend: Backend) {
    let sink = SmtpSink::start();
    let app = spawn_app_with(backend, smtp_to(sink.port)).await;
    // The sink answers 550 to addresses starting with `reject`: retrying cannot help.
    app.app
        .state
        .store
        .add_actor(
            "Adresse refusée",
            "reject.me@example.org",
            &["requerant".into()],
            app.clock_now(),
        )
        .await
        .unwrap();
    let id = list_sent(&app, "CR-DEAD").await;
    let pass = app.deliver().await;
    assert_eq!(pass.dead, 1, "{pass:?}");
    let n = notices(&app, &id).await[0].clone();
    assert_eq!(n["status"], "dead");
    assert!(n["last_error"].as_str().unwrap().contains("550"), "{n}");
    let nid = n["id"].as_i64().unwrap();

    let row = app
        .stuck_for("notice_failing")
        .await
        .into_iter()
        .next()
        .expect("a notice_failing row");
    assert_eq!(row["notice_id"], nid);
    assert!(
        row["detail"]
            .as_str()
            .unwrap()
            .contains("reject.me@example.org")
    );
    let dead = app
        .get(&app.admin, "/api/v1/operator/notices?status=dead")
        .await;
    assert_eq!(dead.body.as_array().unwrap().len(), 1, "{}", dead.body);
    let bad = app
        .get(&app.admin, "/api/v1/operator/notices?status=lost")
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.body["code"], "invalid_query");

    // Only operators retry; a retry makes it due now, attempts counted afresh.
    let requerant = app.actor("Autre", &["requerant"]).await;
    let path = format!("/api/v1/operator/notices/{nid}/retry");
    let why = json!({"reason": "adresse vérifiée auprès du secrétariat"});
    assert_eq!(app.post(&requerant, &path, why.clone()).await.status, 403);
    // A retry says why; without a reason nothing changes.
    let r = app.post(&app.admin, &path, json!({"reason": " "})).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("missing_reason"))
    );
    assert_eq!(app.post(&app.admin, &path, json!({})).await.status, 422);
    assert_eq!(notices(&app, &id).await[0]["status"], "dead");
    let r = app.post(&app.admin, &path, why.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["attempts"], 0);
    assert_eq!(
        r.body["retry_reason"],
        "adresse vérifiée auprès du secrétariat"
    );
    assert!(
        r.body["retried_by"].is_string() && r.body["retried_at"].is_string(),
        "{}",
        r.body
    );
    assert_eq!(app.deliver().await.dead, 1, "tried again, refused again");

    // A sent notice is not retried.
    let other = list_sent(&app, "CR-DEAD-2").await;
    let pass = app.deliver().await;
    // Both requérants (one refused address, one good) are written to.
    assert_eq!((pass.sent, pass.dead), (1, 1), "{pass:?}");
    let sent = notices(&app, &other)
        .await
        .into_iter()
        .find(|n| n["status"] == "sent")
        .unwrap();
    let r = app
        .post(
            &app.admin,
            &format!("/api/v1/operator/notices/{}/retry", sent["id"]),
            why.clone(),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["code"], "notice_not_retryable");
    let r = app
        .post(&app.admin, "/api/v1/operator/notices/999999/retry", why)
        .await;
    assert_eq!(r.status, 404);
}

async fn daily_digest_of_open_tasks(backend: Backend) {
    let app = spawn_app(backend).await;
    let (greffe, token) = app
        .app
        .state
        .store
        .add_actor(
            "Cellule incompatibilités",
            "cellule@example.org",
            &["gouvernement".into()],
            app.clock_now(),
        )
        .await
        .unwrap();
    // Holds the role too, but did not opt in: no digest.
    app.actor("Autre agent", &["gouvernement"]).await;
    // The actor opts in itself.
    let me = app.get(&token, "/api/v1/me").await;
    assert_eq!(
        (me.body["id"].as_str(), &me.body["digest"]),
        (Some(greffe.id.as_str()), &json!(false))
    );
    let r = app
        .http
        .put(format!("{}/api/v1/me/digest", app.base))
        .bearer_auth(&token)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    let r = super::harness::reply(r).await;
    assert_eq!(
        (r.status, &r.body["digest"]),
        (200, &json!(true)),
        "{}",
        r.body
    );
    assert_eq!(app.get(&token, "/api/v1/me").await.body["digest"], true);
    // Thursday 10 December 2026: the member must be informed within 20 calendar days
    // (Art. 39): Wednesday 30 December.
    app.clock.set(brussels(2026, 12, 10, 12));
    let r = app
        .start(&token, "incompatibilite", "INC-DIGEST", json!({
            "constatee_le": "2026-12-10", "fondement": "occupation_art38", "description": "Cumul"
        }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // The digest of Thursday goes at once (past 07:00); Friday's from 07:00; none on the
    // weekend; Monday's once, however many passes.
    for (d, h) in [
        (10, 13),
        (11, 6),
        (11, 8),
        (12, 9),
        (13, 9),
        (14, 7),
        (14, 15),
    ] {
        app.advance_to(brussels(2026, 12, d, h)).await;
    }
    app.deliver().await;
    let sent = app
        .get(&app.admin, "/api/v1/operator/notices?status=sent")
        .await;
    let digests: Vec<&Value> = sent
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["template"] == "digest")
        .collect();
    assert_eq!(digests.len(), 3, "Thursday, Friday, Monday: {}", sent.body);
    assert!(
        digests
            .iter()
            .all(|d| d["recipient_email"] == "cellule@example.org" && d["case_id"].is_null())
    );
    let file = app
        .cfg
        .data_dir
        .join("outbox")
        .join(format!("digest-{}.eml", digests[0]["id"]));
    let parsed = parse_eml(&std::fs::read(&file).unwrap());
    assert_eq!(
        header(&parsed, "Subject"),
        "1 tâche(s) en cours au lundi 14 décembre 2026"
    );
    assert_eq!(
        header(&parsed, "To"),
        "Cellule incompatibilités <cellule@example.org>"
    );
    let text = leaves(&parsed["body"])
        .into_iter()
        .find(|p| p["content_type"] == "text/plain")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains(
            "Informer le membre du personnel de l'incompatibilité par lettre recommandée"
        ),
        "{text}"
    );
    assert!(text.contains("dossier INC-DIGEST"), "{text}");
    assert!(
        text.contains("À faire au plus tard le mercredi 30 décembre 2026 (Art. 39)"),
        "{text}"
    );
    assert!(!text.contains("EN RETARD"), "{text}");
}

/// Parents without an account: the address the school gives is written to like a role holder;
/// a malformed one is refused at the start with nothing written.
async fn address_held_in_a_case_variable(backend: Backend) {
    let app = spawn_app(backend).await;
    let ecole = app.actor("Direction", &["ecole_ordinaire"]).await;
    let pole = app.actor("Pôle", &["pole"]).await;
    app.clock.set(brussels(2027, 5, 20, 12));
    let inputs = |courriel: &str| json!({"eleve": "Léa M.", "ecole_cooperante": "École du Centre", "courriel_parents": courriel});
    let r = app
        .start(&ecole, "ipt", "IPT-BAD", inputs("pas une adresse"))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["code"], "invalid_input");
    let r = app
        .start(&ecole, "ipt", "IPT-1", inputs("parents.martin@example.org"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .event(
            &pole,
            &id,
            "concertation_tenue",
            json!({"concertation_le": "2027-06-03"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .event(
            &pole,
            &id,
            "protocole_signe",
            json!({"protocole_signe_le": "2027-06-10"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.deliver().await;
    let to_parents: Vec<Value> = notices(&app, &id)
        .await
        .into_iter()
        .filter(|n| n["recipient_email"] == "parents.martin@example.org")
        .collect();
    assert_eq!(to_parents.len(), 1, "{to_parents:?}");
    let n = &to_parents[0];
    assert_eq!(n["template"], "integration-active");
    assert_eq!(n["status"], "sent");
    let (_, bytes, _) = eml(&app, &id, n["id"].as_i64().unwrap()).await;
    assert_eq!(
        header(&parse_eml(&bytes), "To"),
        "parents.martin@example.org"
    );
}

/// Two processes on one database share the outbox: each notice goes out once.
async fn two_dispatchers_send_each_notice_once(backend: Backend) {
    let sink = SmtpSink::start();
    let app = spawn_app_with(backend, smtp_to(sink.port)).await;
    app.actor("Jean Dupont", &["requerant"]).await;
    const N: usize = 24;
    for k in 0..N {
        list_sent(&app, &format!("CR-PAR-{k}")).await;
    }
    // A second server process on the same database: its own pool, registry and lease owner.
    let other = jalon::server::App::build(&app.cfg, std::sync::Arc::new(app.clock.clone()))
        .await
        .unwrap();
    let (a, b) = tokio::join!(app.app.dispatcher.run_due(), other.dispatcher.run_due());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.sent + b.sent, N, "{a:?} {b:?}");
    assert_eq!(a.lost_lease + b.lost_lease, 0);
    let mut seen = Vec::new();
    for _ in 0..N {
        let m = received(&sink, Duration::from_secs(10))
            .await
            .expect("a message");
        seen.push(message_id_of(&m.data));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), N, "each message once");
    assert!(received(&sink, Duration::from_millis(500)).await.is_none());
}

/// A reminder declared on a task (5 calendar days before its due date) is a notice like any
/// other, sent on its day (a working day) with the due date it reminds of.
async fn reminder_before_the_due_date(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.actor("Cellule", &["gouvernement"]).await;
    app.clock.set(brussels(2026, 12, 10, 12));
    let r = app
        .start(&token, "incompatibilite", "INC-RAPPEL", json!({
            "constatee_le": "2026-12-10", "fondement": "occupation_art38", "description": "Cumul"
        }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let reminders = |list: Vec<Value>| {
        list.into_iter()
            .filter(|n| n["template"] == "rappel-information")
            .collect::<Vec<_>>()
    };
    // Due Wednesday 30 December (20 calendar days, Art. 39): five calendar days before is
    // Friday 25 December, Christmas; a reminder falling on a day off goes out on the working
    // day before, Thursday 24 December at 08:00.
    app.advance_to(brussels(2026, 12, 24, 7)).await;
    app.deliver().await;
    assert!(reminders(notices(&app, &id).await).is_empty());
    app.advance_to(brussels(2026, 12, 24, 9)).await;
    assert_eq!(app.deliver().await.sent, 1);
    let sent = reminders(notices(&app, &id).await);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (_, bytes, _) = eml(&app, &id, sent[0]["id"].as_i64().unwrap()).await;
    let parsed = parse_eml(&bytes);
    assert_eq!(
        header(&parsed, "Subject"),
        "Rappel : informer le membre du personnel de l'incompatibilité au plus tard le mercredi 30 décembre 2026"
    );
    let ics = leaves(&parsed["body"])
        .into_iter()
        .find(|p| p["content_type"] == "text/calendar")
        .expect("an .ics part")["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(ics.contains("DTSTART;VALUE=DATE:20261230"), "{ics}");
    // The reminder of a task leads to the task's page, where the actor acts on it.
    let text = leaves(&parsed["body"])
        .into_iter()
        .find(|p| p["content_type"] == "text/plain")
        .expect("a text part")["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains(&format!(
            "Faire la tâche dans jalon : {}/cases/{id}/tasks/informer_membre",
            app.base
        )),
        "{text}"
    );
}

/// A notice that cannot be rendered when it is sent (here: its stored template altered after
/// deployment, which validation would have refused) goes dead with the reason; the transition
/// that queued it stands.
async fn unrenderable_notice_goes_dead_with_its_reason(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = spawn_app(backend).await;
    app.actor("Jean Dupont", &["requerant"]).await;
    let id = list_sent(&app, "CR-RENDER").await;
    app.app
        .state
        .store
        .db()
        .execute_unprepared(
            "UPDATE workflow_versions SET templates = \
             REPLACE(templates, '{{deadline.long}}', '{{vars.nulle_part}}') \
             WHERE workflow_id = 'chambre-recours'",
        )
        .await
        .unwrap();
    // A process that reads the altered version (this one has the original in memory).
    let (cfg, data, clock) = (app.cfg.clone(), app.data(), app.clock.clone());
    drop(app);
    let app = spawn_with(cfg, data, clock).await;
    let pass = app.deliver().await;
    assert_eq!((pass.sent, pass.dead), (0, 1), "{pass:?}");
    let n = &notices(&app, &id).await[0];
    assert_eq!(n["status"], "dead");
    let error = n["last_error"].as_str().unwrap();
    assert!(
        error.contains("liste-membres.subject.hbs") && error.contains("nulle_part"),
        "{error}"
    );
    let c = app.get(&app.admin, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(c.body["state"], "recusation_ouverte");
}

on_both_backends!(
    unrenderable_notice_goes_dead_with_its_reason,
    two_dispatchers_send_each_notice_once,
    reminder_before_the_due_date,
    address_held_in_a_case_variable,
    smtp_delivers_a_procedure_step,
    outage_then_every_notice_once,
    crash_after_delivery_resends_the_same_message,
    file_drop_by_default,
    dead_notices_are_listed_and_retried,
    daily_digest_of_open_tasks,
);

/// A notice to a role goes to the actors who hold it when the transition commits: one added
/// since the previous transition receives it, one revoked since does not.
async fn notices_follow_the_holders_of_the_moment(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = &app.app.state.store;
    let emails = |ns: Vec<Value>| -> Vec<String> {
        let mut v: Vec<String> = ns
            .iter()
            .map(|n| n["recipient_email"].as_str().unwrap_or("?").to_owned())
            .collect();
        v.sort();
        v
    };
    app.actor("Anne", &["requerant"]).await;
    let first = list_sent(&app, "CR-H1").await;
    assert_eq!(emails(notices(&app, &first).await), ["anne@example.org"]);
    app.actor("Bruno", &["requerant", "dco"]).await;
    let second = list_sent(&app, "CR-H2").await;
    assert_eq!(
        emails(notices(&app, &second).await),
        ["anne@example.org", "bruno@example.org"]
    );
    store
        .revoke_actor("anne@example.org", app.clock_now())
        .await
        .unwrap();
    let third = list_sent(&app, "CR-H3").await;
    assert_eq!(emails(notices(&app, &third).await), ["bruno@example.org"]);
}

on_both_backends!(notices_follow_the_holders_of_the_moment);

/// The outbox's unique keys, as the migrations leave them on each backend: a notice is filed
/// under the history row of the transition that queued it, and queued once per dedupe key of
/// that transition; a notice of no case (the daily digest) once per dedupe key among those.
/// The migration that introduced `history_id`, undone and run again on real rows, files each
/// notice under the same transition.
async fn outbox_keys_refuse_a_notice_queued_twice(backend: Backend) {
    use migrations::{Migrator, MigratorTrait};
    use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    use store::entities::{history, outbox};

    let app = spawn_app(backend).await;
    let greffe = app
        .actor("Greffe", &["chambre_secretaire", "requerant"])
        .await;
    let id = super::api::recours(&app, &greffe, "CR-KEYS").await;
    super::api::list_received(&app, &greffe, &id, "2026-12-18").await;
    let db = app.app.state.store.db();
    let queued = outbox::Entity::find().all(db).await.unwrap();
    assert_eq!(queued.len(), 1);
    let event = history::Entity::find()
        .filter(history::Column::CaseId.eq(&id))
        .filter(history::Column::Trigger.eq("event communiquer_liste"))
        .one(db)
        .await
        .unwrap()
        .expect("the event's history row");
    assert_eq!(queued[0].history_id, Some(event.id));
    let again = |case_id: Option<String>, history_id: Option<i64>| outbox::ActiveModel {
        case_id: Set(case_id),
        history_id: Set(history_id),
        dedupe_key: Set(queued[0].dedupe_key.clone()),
        template: Set(queued[0].template.clone()),
        context: Set("{}".into()),
        status: Set(outbox::Status::Pending),
        attempts: Set(0),
        next_attempt_at: Set(0),
        created_at: Set(0),
        ..Default::default()
    };
    let insert = |row| async move { outbox::Entity::insert(row).exec(db).await };
    assert!(
        insert(again(Some(id.clone()), Some(event.id)))
            .await
            .is_err(),
        "same transition, same key"
    );
    insert(again(None, None))
        .await
        .expect("no case: keys of their own");
    assert!(
        insert(again(None, None)).await.is_err(),
        "no case, same key"
    );
    assert_eq!(outbox::Entity::find().count(db).await.unwrap(), 2);

    let filed = || async {
        let mut rows: Vec<(i64, Option<i64>)> = outbox::Entity::find()
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.history_id))
            .collect();
        rows.sort();
        rows
    };
    let before = filed().await;
    let listed = notices(&app, &id).await;
    // Undone back to it, whatever migrations came after.
    let since = Migrator::migrations()
        .iter()
        .rev()
        .position(|m| m.name() == "m20261206_000001_outbox_by_transition")
        .expect("the migration that introduced history_id");
    Migrator::down(db, Some(since as u32 + 1))
        .await
        .expect("migration undone");
    Migrator::up(db, None).await.expect("migration run again");
    assert_eq!(filed().await, before);
    assert_eq!(notices(&app, &id).await, listed);
    assert_eq!(listed.len(), 1);
}

on_both_backends!(outbox_keys_refuse_a_notice_queued_twice);
