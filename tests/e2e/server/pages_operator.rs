//! `/operateur`, the operators' page, over real HTTP with a real session cookie: the stuck list
//! of the API with French reasons, its counts and filters, and the retry of a dead notice (a
//! real SMTP server refuses its address) — only for operators, only with a reason and the
//! form's CSRF token, as `POST /api/v1/operator/notices/{id}/retry`.

use jalon::server::notice_config::NoticeConfig;
use notifiers::test_support::SmtpSink;
use notifiers::{SmtpConfig, TlsMode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;

use super::harness::{Backend, TestApp, brussels, spawn_app_with};
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

/// A browser session of the actor with this address: a sign-in link requested and used
/// through the store, as the sign-in page does (the link's token read from its queued mail).
struct Browser {
    cookie: String,
    csrf: String,
    http: reqwest::Client,
    base: String,
}

struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

async fn browser(app: &TestApp, email: &str) -> Browser {
    use store::entities::outbox;
    let store = &app.app.state.store;
    let asked = store
        .request_sign_in(email, None, app.clock_now())
        .await
        .unwrap();
    assert!(
        matches!(asked, store::sessions::LinkRequest::Queued { .. }),
        "{asked:?}"
    );
    let mail = outbox::Entity::find()
        .filter(outbox::Column::Template.eq(store::sessions::TEMPLATE))
        .filter(outbox::Column::RecipientEmail.eq(email))
        .order_by_desc(outbox::Column::Id)
        .one(store.db())
        .await
        .unwrap()
        .expect("the sign-in mail is queued");
    let facts: Value = serde_json::from_str(&mail.context).unwrap();
    let path = facts["path"].as_str().unwrap();
    let token = path.strip_prefix("/connexion/lien/").unwrap();
    let (secret, session, _) = store
        .redeem_sign_in(token, app.clock_now())
        .await
        .unwrap()
        .expect("a fresh link opens a session");
    Browser {
        cookie: format!("jalon_session={secret}"),
        csrf: session.csrf_token,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: app.base.clone(),
    }
}

impl Browser {
    async fn page(r: reqwest::Response) -> Page {
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        Page {
            status,
            location,
            body: r.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        Self::page(r).await
    }

    /// Posts a form; `_csrf` is added unless `csrf` is false.
    async fn post(&self, path: &str, fields: &[(&str, &str)], csrf: bool) -> Page {
        let mut pairs: Vec<(&str, &str)> = fields.to_vec();
        if csrf {
            pairs.push(("_csrf", &self.csrf));
        }
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        Self::page(r).await
    }
}

/// How many rows the page's table lists.
fn rows(body: &str) -> usize {
    body.matches(r#"<td data-label="Motif">"#).count()
}

/// The count the summary shows beside a reason's label.
fn count_of(body: &str, label: &str) -> usize {
    let at = body
        .find(&format!(">{label}</a> : "))
        .unwrap_or_else(|| panic!("no count for {label} in:\n{body}"));
    let rest = &body[at + label.len() + 7..];
    rest[..rest.find('<').unwrap()]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label}: {rest:.40}"))
}

async fn notice(app: &TestApp, id: i64) -> Value {
    let r = app
        .get(&app.admin, "/api/v1/operator/notices?limit=1000")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("notice {id} in {}", r.body))
}

/// A Chambre de recours appeal whose list of members goes to two requérants: one address the
/// relay refuses for good (the notice goes dead), one it accepts. Then the recusation period
/// ends and no scheduler runs: the case's timer is late too.
async fn stuck_world(backend: Backend) -> (SmtpSink, TestApp, String, i64, i64) {
    let sink = SmtpSink::start();
    let app = spawn_app_with(backend, smtp_to(sink.port)).await;
    for (name, email) in [
        ("Adresse refusée", "reject.me@example.org"),
        ("Jean Dupont", "jean.dupont@example.org"),
    ] {
        app.app
            .state
            .store
            .add_actor(name, email, &["requerant".into()], app.clock_now())
            .await
            .unwrap();
    }
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    app.clock.set(brussels(2026, 12, 18, 12));
    let id = super::api::recours(&app, &secretaire, "CR-OP-1").await;
    super::api::list_received(&app, &secretaire, &id, "2026-12-18").await;
    let pass = app.deliver().await;
    assert_eq!((pass.sent, pass.dead), (1, 1), "{pass:?}");
    let r = app
        .get(&app.admin, &format!("/api/v1/cases/{id}/notices"))
        .await;
    let find = |status: &str| {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["status"] == status)
            .unwrap_or_else(|| panic!("a {status} notice in {}", r.body))["id"]
            .as_i64()
            .unwrap()
    };
    let (dead, sent) = (find("dead"), find("sent"));
    // Due Tuesday 5 January 2027 (Art. 129); on the 8th no scheduler has fired it.
    app.clock.set(brussels(2027, 1, 8, 12));
    (sink, app, id, dead, sent)
}

async fn operator_sees_stuck_cases_in_french(backend: Backend) {
    let (_sink, app, id, dead, _) = stuck_world(backend).await;
    let admin = browser(&app, "admin@example.org").await;
    let p = admin.get("/operateur").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("<h1>Dossiers bloqués</h1>"), "{}", p.body);
    for text in [
        "<strong>Avis non remis</strong>",
        "<strong>Délai non déclenché</strong>",
        "reject.me@example.org",
        &format!(r#"href="/cases/{id}""#),
        &format!(r#"action="/operateur/notices/{dead}/relancer""#),
        &format!(r#"<label for="motif-avis-{dead}">Motif"#),
    ] {
        assert!(p.body.contains(text), "{text} missing:\n{}", p.body);
    }
    // The counts are the API's, reason by reason.
    let api = app.get(&app.admin, "/api/v1/operator/stuck").await;
    let api = api.body.as_array().unwrap();
    for (code, label) in [
        ("task_overdue", "Tâche en retard"),
        ("timer_not_fired", "Délai non déclenché"),
        ("notice_failing", "Avis non remis"),
        ("nothing_pending", "Rien n'est attendu"),
        ("idle_too_long", "Inactif depuis trop longtemps"),
        ("schedule_failing", "Démarrage planifié en échec"),
    ] {
        let expected = api.iter().filter(|s| s["reason"] == code).count();
        assert_eq!(count_of(&p.body, label), expected, "{code}");
    }
    assert_eq!(count_of(&p.body, "Tous les motifs"), api.len());
    assert_eq!(rows(&p.body), api.len());
    assert!(api.len() >= 2, "{api:?}");

    // Filters: by reason, by procedure, by key (a part of it, any case).
    let p = admin.get("/operateur?motif=notice_failing").await;
    assert_eq!(rows(&p.body), 1, "{}", p.body);
    assert!(p.body.contains("reject.me@example.org"));
    let p = admin.get("/operateur?motif=timer_not_fired").await;
    assert_eq!(rows(&p.body), 1, "{}", p.body);
    assert!(!p.body.contains("reject.me@example.org"));
    let p = admin.get("/operateur?cle=cr-op").await;
    assert_eq!(rows(&p.body), api.len(), "{}", p.body);
    let p = admin.get("/operateur?cle=AUTRE").await;
    assert_eq!(rows(&p.body), 0);
    assert!(p.body.contains("Aucun dossier bloqué ne correspond"));
    let p = admin
        .get("/operateur?procedure=chambre-recours&page=9")
        .await;
    assert_eq!(
        rows(&p.body),
        api.len(),
        "a page past the end shows the last"
    );
    let p = admin.get("/operateur?procedure=autre-procedure").await;
    assert_eq!(rows(&p.body), 0);
}

async fn only_operators_see_and_retry(backend: Backend) {
    let (_sink, app, _, dead, _) = stuck_world(backend).await;
    app.actor("Autre", &["requerant"]).await;
    let other = browser(&app, "autre@example.org").await;
    let p = other.get("/operateur").await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(p.body.contains("<code>forbidden</code>"), "{}", p.body);
    let path = format!("/operateur/notices/{dead}/relancer");
    let p = other
        .post(&path, &[("motif", "adresse vérifiée")], true)
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    let n = notice(&app, dead).await;
    assert_eq!(n["status"], "dead");
    assert!(n["retried_by"].is_null(), "{n}");
    // Without a session the form is refused, not redirected; the page asks to sign in.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = anonymous
        .get(format!("{}/operateur", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        "/connexion?suite=%2Foperateur"
    );
    let r = anonymous
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("motif=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(notice(&app, dead).await["status"], "dead");
}

async fn operator_retries_a_dead_notice_with_a_reason(backend: Backend) {
    let (_sink, app, _, dead, sent) = stuck_world(backend).await;
    let admin = browser(&app, "admin@example.org").await;
    let path = format!("/operateur/notices/{dead}/relancer");

    // No CSRF token: refused before anything is read.
    let p = admin
        .post(&path, &[("motif", "adresse vérifiée")], false)
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(p.body.contains("<code>csrf_failed</code>"), "{}", p.body);
    let p = admin
        .post(
            &path,
            &[("motif", "adresse vérifiée"), ("_csrf", "faux")],
            false,
        )
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(notice(&app, dead).await["status"], "dead");

    // A blank reason: the form again, the message beside the field, nothing changed.
    let p = admin.post(&path, &[("motif", "   ")], true).await;
    assert_eq!(p.status, 422, "{}", p.body);
    let field = format!(r#"id="motif-avis-{dead}""#);
    let error = p.body.find(
        "Veuillez indiquer la raison de cette décision : elle est conservée dans l'historique.",
    );
    let input = p.body.find(&field);
    assert!(
        error.is_some() && input.is_some() && p.body.contains(r#"aria-invalid="true""#),
        "{}",
        p.body
    );
    assert!(
        p.body
            .contains(&format!(r#"<label for="motif-avis-{dead}">"#))
    );
    let p = admin.post(&path, &[], true).await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert_eq!(notice(&app, dead).await["status"], "dead");

    // With a reason: back to pending, who and why recorded, then the list says so.
    let p = admin
        .post(
            &path,
            &[("motif", "  adresse vérifiée auprès du secrétariat ")],
            true,
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let back = format!("/operateur?relance={dead}");
    assert_eq!(p.location.as_deref(), Some(back.as_str()));
    let n = notice(&app, dead).await;
    assert_eq!(n["status"], "pending", "{n}");
    assert_eq!(n["attempts"], 0);
    assert_eq!(n["retry_reason"], "adresse vérifiée auprès du secrétariat");
    let admin_id = app.get(&app.admin, "/api/v1/me").await.body["id"].clone();
    assert_eq!(n["retried_by"], admin_id, "{n}");
    let p = admin.get(&back).await;
    assert!(
        p.body.contains(&format!("L'avis n° {dead} sera renvoyé.")),
        "{}",
        p.body
    );
    // Pending after a retry with no attempt yet: off the list.
    let p = admin.get("/operateur?motif=notice_failing").await;
    assert_eq!(rows(&p.body), 0, "{}", p.body);

    // A sent notice is not sent again; an unknown one does not exist.
    let p = admin
        .post(
            &format!("/operateur/notices/{sent}/relancer"),
            &[("motif", "encore")],
            true,
        )
        .await;
    assert_eq!(p.status, 409, "{}", p.body);
    assert!(p.body.contains("<code>notice_not_retryable</code>"));
    assert!(
        p.body
            .contains("Ce courrier ne peut pas être envoyé à nouveau.")
    );
    let p = admin
        .post(
            "/operateur/notices/999999/relancer",
            &[("motif", "x")],
            true,
        )
        .await;
    assert_eq!(p.status, 404, "{}", p.body);
}

/// A case that waits for an event and for nothing else: listed as `nothing_pending` at once.
const WAITING: &str = r#"
id: attente-operateur
title: Dossier en attente (exemple)
legal_basis: "Décret du 13 septembre 2018, art. 22"
roles:
  gestionnaire: Gestionnaire
start:
  by: [gestionnaire]
initial: en_attente
states:
  en_attente:
    label: En attente
    on:
      clore:
        by: [gestionnaire]
        goto: clos
  clos:
    label: Clos
    final: true
"#;

async fn the_list_comes_a_page_at_a_time(backend: Backend) {
    let app = super::harness::spawn_app(backend).await;
    let r = app.deploy(WAITING, serde_json::json!({})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gestion = app.actor("Gestion", &["gestionnaire"]).await;
    for i in 1..=55 {
        // One minute apart: the list is oldest first.
        app.clock
            .set(brussels(2026, 11, 2, 8) + chrono::Duration::minutes(i));
        let r = app
            .start(
                &gestion,
                "attente-operateur",
                &format!("P-{i:03}"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let admin = browser(&app, "admin@example.org").await;
    let first = admin.get("/operateur?motif=nothing_pending").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(rows(&first.body), 50);
    assert!(first.body.contains("Page 1 sur 2"), "{}", first.body);
    assert!(first.body.contains(">P-001<") && first.body.contains(">P-050<"));
    assert!(!first.body.contains(">P-051<"));
    assert!(
        first
            .body
            .contains(r#"href="/operateur?motif=nothing_pending&amp;page=2" rel="next""#),
        "{}",
        first.body
    );
    let second = admin.get("/operateur?motif=nothing_pending&page=2").await;
    assert_eq!(rows(&second.body), 5, "{}", second.body);
    assert!(second.body.contains(">P-055<") && !second.body.contains(">P-050<"));
    assert!(second.body.contains(r#"rel="prev""#));
    // The key search narrows the list and the counts alike.
    let found = admin.get("/operateur?cle=p-05").await;
    assert_eq!(rows(&found.body), 6, "{}", found.body);
    assert_eq!(count_of(&found.body, "Rien n'est attendu"), 6);
    assert_eq!(count_of(&found.body, "Tous les motifs"), 6);
    assert!(!found.body.contains("Page 1 sur"));
}

on_both_backends!(
    the_list_comes_a_page_at_a_time,
    operator_sees_stuck_cases_in_french,
    only_operators_see_and_retry,
    operator_retries_a_dead_notice_with_a_reason,
);
