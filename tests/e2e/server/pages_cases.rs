//! The actor's pages over real HTTP with a session opened through the real sign-in flow:
//! "Nouveau dossier" starts a case of a shipped workflow (`incompatibilite`: a date, an enum
//! and a text at the start), "Mes tâches" lists its task for the right role only, the case page
//! is refused to an actor of no role of the workflow, and its generated forms send events:
//! a date crossing Christmas gives a deadline explained on the page, a stale form and a
//! missing input are refused in French and change nothing, a form without its CSRF token is
//! refused, and a key with markup is shown as text.

use chrono::NaiveDate;
use serde_json::Value;

use super::harness::{Backend, TestApp, spawn_app};
use super::web_client::{WebClient, hidden_field};
use crate::on_both_backends;

const WF: &str = "incompatibilite";

struct Cast {
    app: TestApp,
    /// Role `gouvernement`: starts cases and holds their first task.
    gov: WebClient,
    /// The same actor's API token.
    gov_token: String,
    /// Role `membre`: takes part in the workflow, holds no task at first.
    member: WebClient,
    /// Role `president`: appears only in `chambre-recours`.
    stranger: WebClient,
}

async fn cast(backend: Backend) -> Cast {
    let app = spawn_app(backend).await;
    let gov_token = app.actor("Gouv Un", &["gouvernement"]).await;
    app.actor("Membre Deux", &["membre"]).await;
    app.actor("President Trois", &["president"]).await;
    let gov = app.sign_in("gouv.un@example.org").await;
    let member = app.sign_in("membre.deux@example.org").await;
    let stranger = app.sign_in("president.trois@example.org").await;
    Cast {
        app,
        gov,
        gov_token,
        member,
        stranger,
    }
}

/// Starts a case through "Nouveau dossier", found on 2 November 2026; returns its id.
async fn start_through_page(web: &WebClient, key: &str) -> String {
    start_found_on(web, key, "2026-11-02").await
}

/// Starts a case through "Nouveau dossier", the incompatibility found on `day`.
async fn start_found_on(web: &WebClient, key: &str, day: &str) -> String {
    let (status, location) = web
        .post_form(
            &format!("/nouveau/{WF}"),
            &[
                ("key", key),
                ("v.constatee_le", day),
                ("v.fondement", "occupation_art38"),
                ("v.description", "Gérance d'une société"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{location}");
    let id = location
        .strip_prefix("/cases/")
        .and_then(|l| l.strip_suffix("?ouvert=1"))
        .unwrap_or_else(|| panic!("redirect to the new case: {location}"));
    id.to_owned()
}

async fn history_len(app: &TestApp, id: &str) -> usize {
    let r = app
        .get(&app.admin, &format!("/api/v1/cases/{id}/history"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.as_array().unwrap().len()
}

async fn case_json(app: &TestApp, id: &str) -> Value {
    let r = app.get(&app.admin, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// The text of the element with this id (up to its closing tag), to check that a message
/// stands beside its field.
fn element(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[at..].find('>')? + at + 1;
    let end = html[start..].find('<')? + start;
    Some(html[start..end].to_owned())
}

async fn start_list_and_read(backend: Backend) {
    let c = cast(backend).await;

    // Nouveau dossier: the workflow is offered to its starting role, with typed fields.
    let (status, html) = c.gov.get("/nouveau").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("href=\"/nouveau/{WF}\"")), "{html}");
    let (_, html) = c.member.get("/nouveau").await;
    assert!(!html.contains(&format!("href=\"/nouveau/{WF}\"")), "{html}");
    let (status, _) = c.member.get(&format!("/nouveau/{WF}")).await;
    assert_eq!(status, 403);
    let (status, html) = c.gov.get(&format!("/nouveau/{WF}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(
            r#"<input type="date" id="n-constatee_le" name="v.constatee_le" value="" required>"#
        ),
        "{html}"
    );
    assert!(
        html.contains(
            r#"<option value="occupation_art38">Occupation incompatible (art. 38)</option>"#
        ),
        "{html}"
    );
    assert!(html.contains(r#"<textarea id="n-description""#), "{html}");

    // A missing required input: 422, the reason beside its field, the values kept, no case.
    let (status, html) = c
        .gov
        .post_form(
            &format!("/nouveau/{WF}"),
            &[
                ("key", "DOSSIER-1"),
                ("v.constatee_le", "2026-11-02"),
                ("v.description", "Gérance"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    assert_eq!(
        element(&html, "n-fondement-erreur").as_deref(),
        Some("Cette information est obligatoire."),
        "{html}"
    );
    assert!(html.contains(r#"value="DOSSIER-1""#), "{html}");
    assert!(html.contains(r#"value="2026-11-02""#), "{html}");
    let listed = c.app.get(&c.app.admin, "/api/v1/cases").await;
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(0),
        "{}",
        listed.body
    );

    let id = start_through_page(&c.gov, "DOSSIER-1").await;
    let (status, html) = c.gov.get(&format!("/cases/{id}?ouvert=1")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Dossier ouvert"), "{html}");
    assert!(
        html.contains("Incompatibilité constatée, membre du personnel à informer"),
        "{html}"
    );
    assert!(html.contains("Art. 39"), "{html}");
    assert!(html.contains("Occupation incompatible (art. 38)"), "{html}");
    assert!(html.contains("lundi 2 novembre 2026"), "{html}");
    // The history names who started it.
    assert!(html.contains("Dossier ouvert"), "{html}");
    assert!(html.contains("par Gouv Un"), "{html}");

    // Mes tâches: the task for the government, none for the member or the stranger.
    let (status, html) = c.gov.get("/").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(
            "Informer le membre du personnel de l'incompatibilité par lettre recommandée"
        ),
        "{html}"
    );
    assert!(html.contains("DOSSIER-1"), "{html}");
    assert!(
        html.contains(&format!("href=\"/cases/{id}/tasks/informer_membre\"")),
        "{html}"
    );
    assert!(html.contains("au plus tard le "), "{html}");
    assert!(html.contains("(dans "), "{html}");
    for other in [&c.member, &c.stranger] {
        let (status, html) = other.get("/").await;
        assert_eq!(status, 200, "{html}");
        assert!(!html.contains("DOSSIER-1"), "{html}");
        assert!(html.contains("Vous n'avez aucune tâche ouverte"), "{html}");
    }

    // Overdue: a case found on 1 October (its task was due 20 days later) comes first, marked,
    // and alone under "en retard".
    start_found_on(&c.gov, "DOSSIER-ANCIEN", "2026-10-01").await;
    let (_, html) = c.gov.get("/").await;
    let old = html.find("DOSSIER-ANCIEN").expect("the overdue task");
    assert!(
        old < html.find("DOSSIER-1<").expect("the other task"),
        "{html}"
    );
    assert!(html.contains("En retard"), "{html}");
    assert!(html.contains("(en retard de 12 jours)"), "{html}");
    let (_, html) = c.gov.get("/?periode=en-retard").await;
    assert!(html.contains("DOSSIER-ANCIEN"), "{html}");
    assert!(!html.contains("DOSSIER-1<"), "{html}");
    let (_, html) = c.gov.get("/?procedure=chambre-recours").await;
    assert!(!html.contains("DOSSIER-1<"), "{html}");
    assert!(
        html.contains("Aucune tâche ouverte ne correspond à ces critères."),
        "{html}"
    );

    // 25 a page: 27 tasks in all, the next page keeps the filters.
    for n in 0..25 {
        let r = c
            .app
            .start(
                &c.gov_token,
                WF,
                &format!("LOT-{n:02}"),
                serde_json::json!({"constatee_le": "2026-11-20", "fondement": "occupation_art38",
                    "description": "x"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let (_, html) = c.gov.get(&format!("/?procedure={WF}")).await;
    assert!(html.contains("27 tâches ouvertes — page 1 sur 2"), "{html}");
    assert!(html.contains("DOSSIER-ANCIEN"), "{html}");
    assert!(!html.contains("LOT-24"), "{html}");
    let next = format!("/?periode=toutes&amp;page=2&amp;procedure={WF}");
    assert!(html.contains(&format!("href=\"{next}\"")), "{html}");
    assert!(!html.contains("Page précédente"), "{html}");
    let (_, html) = c.gov.get(&next.replace("&amp;", "&")).await;
    assert!(html.contains("LOT-24"), "{html}");
    assert!(html.contains("Page précédente"), "{html}");
    assert!(!html.contains("Page suivante"), "{html}");

    // The case page: readable by a role of the workflow, refused to anyone else.
    let (status, html) = c.member.get(&format!("/cases/{id}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Aucune action de cette étape n'est ouverte à vos rôles."),
        "{html}"
    );
    let (status, html) = c.stranger.get(&format!("/cases/{id}")).await;
    assert_eq!(status, 403, "{html}");
    assert!(!html.contains("DOSSIER-1"), "{html}");
    let (status, _) = c
        .stranger
        .get(&format!("/cases/{id}/tasks/informer_membre"))
        .await;
    assert_eq!(status, 403);
    let (status, _) = c.gov.get("/cases/no-such-case").await;
    assert_eq!(status, 404);

    // The task page: the task's title first, its event's form first.
    let (status, html) = c
        .gov
        .get(&format!("/cases/{id}/tasks/informer_membre"))
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(
            "<h1>Informer le membre du personnel de l'incompatibilité par lettre recommandée</h1>"
        ),
        "{html}"
    );
    let notify = html
        .find("name=\"event\" value=\"notifier\"")
        .expect("notifier form");
    let give_up = html
        .find("name=\"event\" value=\"abandonner\"")
        .expect("abandonner form");
    assert!(notify < give_up);
}

async fn act_through_forms(backend: Backend) {
    let c = cast(backend).await;
    let id = start_through_page(&c.gov, "DOSSIER-2").await;
    let (_, html) = c.gov.get(&format!("/cases/{id}")).await;
    let version = hidden_field(&html, "expected_version").expect("a version in the form");
    assert_eq!(
        version,
        case_json(&c.app, &id).await["row_version"].to_string()
    );
    let before = history_len(&c.app, &id).await;

    // A POST without its CSRF token: 403, nothing changed.
    let (status, _) = c
        .gov
        .post_form_exact(
            &format!("/cases/{id}/actions"),
            &[
                ("event", "notifier"),
                ("expected_version", &version),
                ("v.notification_expediee_le", "2026-12-18"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(history_len(&c.app, &id).await, before);

    // A missing required input: 422, the reason beside the field, nothing changed.
    let (status, html) = c
        .gov
        .post_form(
            &format!("/cases/{id}/actions"),
            &[
                ("event", "notifier"),
                ("expected_version", &version),
                ("v.notification_expediee_le", ""),
                ("reason", "mon motif"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    assert_eq!(
        element(&html, "e-notifier-notification_expediee_le-erreur").as_deref(),
        Some("Cette information est obligatoire."),
        "{html}"
    );
    assert!(html.contains(">mon motif</textarea>"), "{html}");
    assert_eq!(history_len(&c.app, &id).await, before);

    // An actor of the workflow whose roles may not send it: 403, nothing changed.
    let (status, html) = c
        .member
        .post_form(
            &format!("/cases/{id}/actions"),
            &[
                ("event", "notifier"),
                ("expected_version", &version),
                ("v.notification_expediee_le", "2026-12-18"),
            ],
        )
        .await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("Rôles autorisés : Gouvernement"), "{html}");
    let (status, _) = c
        .stranger
        .post_form(
            &format!("/cases/{id}/actions"),
            &[
                ("event", "notifier"),
                ("expected_version", &version),
                ("v.notification_expediee_le", "2026-12-18"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(history_len(&c.app, &id).await, before);

    // Sent on Friday 18 December 2026 by registered letter: the delay runs over Christmas.
    let (status, location) = c
        .gov
        .post_form(
            &format!("/cases/{id}/actions"),
            &[
                ("event", "notifier"),
                ("expected_version", &version),
                ("v.notification_expediee_le", "2026-12-18"),
                ("reason", "lettre n° 42"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{location}");
    assert_eq!(location, format!("/cases/{id}?fait=notifier"));
    let after = history_len(&c.app, &id).await;
    assert_eq!(after, before + 1);
    let api = case_json(&c.app, &id).await;
    assert_eq!(api["state"], "notifiee");
    let deadline = &api["deadlines"][0];
    let (_, html) = c.gov.get(&location).await;
    assert!(
        html.contains("Action enregistrée : « Lettre recommandée de notification expédiée »"),
        "{html}"
    );
    assert!(
        html.contains("Incompatibilité notifiée, délai de réclamation en cours"),
        "{html}"
    );
    assert!(
        html.contains("Délai de réclamation devant la Chambre de recours"),
        "{html}"
    );
    assert!(
        html.contains(deadline["due_long"].as_str().unwrap()),
        "{html}"
    );
    for line in deadline["explanation"].as_array().unwrap() {
        let line = line.as_str().unwrap();
        let escaped = line
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        assert!(html.contains(&escaped), "{line} in {html}");
    }
    let explanation = deadline["explanation"].to_string();
    assert!(
        explanation.contains("Noël"),
        "the delay skips Christmas: {explanation}"
    );
    // The history shows the event, its input in long French, and the reason.
    assert!(html.contains("vendredi 18 décembre 2026"), "{html}");
    assert!(html.contains("Motif : lettre n° 42"), "{html}");

    // The same (now stale) form again: 409, the French sentence, nothing changed.
    let (status, html) = c
        .gov
        .post_form(
            &format!("/cases/{id}/actions"),
            &[("event", "fin_occupation"), ("expected_version", &version)],
        )
        .await;
    assert_eq!(status, 409, "{html}");
    assert!(
        html.contains("Ce dossier a changé depuis l'ouverture de la page. Voici son état actuel ; vérifiez avant de recommencer."),
        "{html}"
    );
    assert_eq!(history_len(&c.app, &id).await, after);
    assert_eq!(case_json(&c.app, &id).await["state"], "notifiee");
    // …and the page shows the current version to try again with.
    let fresh = hidden_field(&html, "expected_version").unwrap();
    assert_ne!(fresh, version);

    // The notice to the member, once sent, downloads as the exact bytes.
    c.app.deliver().await;
    let notices = c
        .app
        .get(&c.app.admin, &format!("/api/v1/cases/{id}/notices"))
        .await;
    let sent = notices
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["status"] == "sent")
        .cloned()
        .expect("a sent notice");
    let n = sent["id"].as_i64().unwrap();
    let (_, html) = c.member.get(&format!("/cases/{id}")).await;
    let link = format!("/cases/{id}/notices/{n}.eml");
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    let page = c.member.get_page(&link).await;
    assert_eq!(page.status, 200);
    let api_bytes = c
        .app
        .http
        .get(format!("{}/api/v1/cases/{id}/notices/{n}/eml", c.app.base))
        .bearer_auth(&c.app.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page.body, api_bytes);
    let (status, _) = c.stranger.get(&link).await;
    assert_eq!(status, 403);

    // The member appeals: a "chambre-recours" case starts, linked both ways; its key is shown
    // only to whoever may read it.
    c.app
        .actor("Secretariat Quatre", &["chambre_secretaire"])
        .await;
    let secretary = c.app.sign_in("secretariat.quatre@example.org").await;
    let (_, html) = c.member.get(&format!("/cases/{id}")).await;
    let version = hidden_field(&html, "expected_version").unwrap();
    // A dispatch date after today: refused beside its field.
    let (status, html) = c
        .member
        .post_form(
            &format!("/cases/{id}/actions"),
            &[
                ("event", "introduire_reclamation"),
                ("expected_version", &version),
                ("v.reclamation_expediee_le", "2026-12-28"),
                ("v.reclamation_recue_le", "2026-12-30"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    assert_eq!(
        element(
            &html,
            "e-introduire_reclamation-reclamation_expediee_le-erreur"
        )
        .as_deref(),
        Some(
            "Cette date est postérieure à aujourd'hui : un courrier ne peut pas avoir été posté dans le futur."
        ),
        "{html}"
    );
    assert!(html.contains(r#"value="2026-12-30""#), "{html}");
    let (status, location) = c
        .member
        .post_form(
            &format!("/cases/{id}/actions"),
            &[
                ("event", "introduire_reclamation"),
                ("expected_version", &version),
                // The dispatch date may not be after the test clock (2 November 2026).
                ("v.reclamation_expediee_le", "2026-11-02"),
                ("v.reclamation_recue_le", "2026-11-02"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{location}");
    let children = c
        .app
        .get(&c.app.admin, "/api/v1/cases?workflow=chambre-recours")
        .await;
    let child = children.body[0]["id"]
        .as_str()
        .expect("a child case")
        .to_owned();
    let child_key = children.body[0]["key"].as_str().unwrap().to_owned();
    let (_, html) = secretary.get(&format!("/cases/{id}")).await;
    assert!(html.contains("Dossiers ouverts par ce dossier"), "{html}");
    assert!(html.contains(&format!("href=\"/cases/{child}\"")), "{html}");
    let (_, html) = secretary.get(&format!("/cases/{child}")).await;
    assert!(
        html.contains(&format!("<a href=\"/cases/{id}\">DOSSIER-2</a>")),
        "{html}"
    );
    let (_, html) = c.member.get(&format!("/cases/{id}")).await;
    assert!(!html.contains(&child_key), "{html}");
    assert!(
        html.contains("procédure à laquelle vous ne participez pas"),
        "{html}"
    );
}

async fn markup_in_a_key_is_text(backend: Backend) {
    let c = cast(backend).await;
    let key = "<script>alert(1)</script>";
    let id = start_through_page(&c.gov, key).await;
    for path in [format!("/cases/{id}"), "/".to_owned()] {
        let (status, html) = c.gov.get(&path).await;
        assert_eq!(status, 200, "{html}");
        assert!(!html.contains(key), "{path}: {html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}: {html}"
        );
    }
    // A duplicate key: refused beside the key field, the value kept escaped.
    let (status, html) = c
        .gov
        .post_form(
            &format!("/nouveau/{WF}"),
            &[
                ("key", key),
                ("v.constatee_le", "2026-11-02"),
                ("v.fondement", "occupation_art38"),
                ("v.description", "x"),
            ],
        )
        .await;
    assert_eq!(status, 409, "{html}");
    assert_eq!(
        element(&html, "n-key-erreur").as_deref(),
        Some("Un dossier de cette procédure porte déjà cette référence."),
        "{html}"
    );
    assert!(!html.contains(key), "{html}");
}

/// "Mes tâches" reads its order as dated tasks by `(due_date, id)` then undated ones by `id`
/// (two index ranges): every page, at every offset, with each filter, is the slice of the one
/// order "earliest due first, undated last, ties by id" computed here, with the same total.
async fn task_pages_keep_one_order(backend: Backend) {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
    use store::entities::{case, task};
    use store::pages::TaskFilter;

    let app = spawn_app(backend).await;
    let gov = app.actor("Gouv Ordre", &["gouvernement"]).await;
    let r = app
        .start(
            &gov,
            WF,
            "ORDRE-1",
            serde_json::json!({
                "constatee_le": "2026-11-02",
                "fondement": "occupation_art38",
                "description": "Gérance",
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id_a = r.body["id"].as_str().unwrap().to_owned();
    let db = app.app.state.store.db();
    // A second case under another workflow id, for the workflow filter.
    let mut other = case::Entity::find_by_id(id_a.clone())
        .one(db)
        .await
        .unwrap()
        .unwrap();
    other.id = format!("{id_a}-autre");
    other.workflow_id = "autre-procedure".into();
    other.business_key = "ORDRE-2".into();
    let id_b = other.id.clone();
    other
        .into_active_model()
        .reset_all()
        .insert(db)
        .await
        .unwrap();

    // Dates repeat (ties by id), undated tasks are inserted between dated ones, some tasks
    // are closed or of a role the reader lacks: none of that may change the order.
    let dates = [
        Some("2026-12-20"),
        None,
        Some("2026-11-30"),
        Some("2027-01-05"),
        None,
        Some("2026-11-30"),
        Some("2026-12-01"),
        None,
        Some("2026-10-15"),
        Some("2026-12-20"),
        Some("2026-11-01"),
    ];
    let mut made = Vec::new();
    for i in 0..60usize {
        let due = dates[(i * 7) % dates.len()].map(str::to_owned);
        let role = ["ordre_un", "ordre_deux", "ordre_absent"][i % 3].to_owned();
        let status = if i % 11 == 4 {
            task::Status::Closed
        } else {
            task::Status::Open
        };
        let case_id = if i % 4 == 1 { &id_b } else { &id_a }.clone();
        let row = task::ActiveModel {
            case_id: Set(case_id),
            task_id: Set(format!("ordre-{i:02}")),
            role: Set(role),
            title: Set(format!("Tâche {i}")),
            instructions: Set(None),
            due_date: Set(due),
            explanation: Set(None),
            legal_basis: Set(None),
            status: Set(status),
            opened_at: Set(0),
            closed_at: Set(None),
            close_reason: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        made.push(row);
    }
    let roles = vec!["ordre_un".to_owned(), "ordre_deux".to_owned()];
    let now = app.clock_now();
    let today = engine::machine::civil::civil_date(now);
    let today_s = today.to_string();
    // Some dated tasks are overdue, some are not.
    assert!(("2026-10-16".."2027-01-05").contains(&today_s.as_str()));

    /// A filter of the page, and the same rule written here.
    struct Scenario {
        name: &'static str,
        workflow: Option<String>,
        due_before: Option<NaiveDate>,
        due_by: Option<NaiveDate>,
        keep: fn(&task::Model, &str, &str) -> bool,
    }
    let scenarios = [
        Scenario {
            name: "all",
            workflow: None,
            due_before: None,
            due_by: None,
            keep: |_, _, _| true,
        },
        Scenario {
            name: "workflow",
            workflow: Some("autre-procedure".into()),
            due_before: None,
            due_by: None,
            keep: |t, b, _| t.case_id == b,
        },
        Scenario {
            name: "workflow of A",
            workflow: Some(WF.into()),
            due_before: None,
            due_by: None,
            keep: |t, b, _| t.case_id != b,
        },
        Scenario {
            name: "late",
            workflow: None,
            due_before: Some(today),
            due_by: None,
            keep: |t, _, today| t.due_date.as_deref().is_some_and(|d| d < today),
        },
        Scenario {
            name: "by 2026-12-20",
            workflow: None,
            due_before: None,
            due_by: NaiveDate::from_ymd_opt(2026, 12, 20),
            keep: |t, _, _| t.due_date.as_deref().is_some_and(|d| d <= "2026-12-20"),
        },
    ];
    for Scenario {
        name,
        workflow,
        due_before,
        due_by,
        keep,
    } in scenarios
    {
        let mut expected: Vec<&task::Model> = made
            .iter()
            .filter(|t| t.status == task::Status::Open && roles.contains(&t.role))
            .filter(|t| keep(t, &id_b, &today_s))
            .collect();
        expected.sort_by(|x, y| {
            (x.due_date.is_none(), &x.due_date, x.id).cmp(&(
                y.due_date.is_none(),
                &y.due_date,
                y.id,
            ))
        });
        let expected: Vec<&str> = expected.iter().map(|t| t.task_id.as_str()).collect();
        assert!(expected.len() > 3, "{name}: {expected:?}");
        for limit in [1u64, 7, 25] {
            for offset in 0..expected.len() as u64 + 3 {
                let f = TaskFilter {
                    workflow: workflow.clone(),
                    due_before,
                    due_by,
                    limit,
                    offset,
                };
                let (page, total) = app
                    .app
                    .state
                    .store
                    .task_page(&roles, &f, now)
                    .await
                    .unwrap();
                let got: Vec<&str> = page.iter().map(|r| r.task.task_id.as_str()).collect();
                let from = (offset as usize).min(expected.len());
                let to = (from + limit as usize).min(expected.len());
                assert_eq!(
                    got,
                    expected[from..to],
                    "{name}, limit {limit}, offset {offset}"
                );
                assert_eq!(total, expected.len() as u64, "{name}");
                for r in &page {
                    let key = if r.task.case_id == id_b {
                        "ORDRE-2"
                    } else {
                        "ORDRE-1"
                    };
                    assert_eq!(r.case_key, key, "{name}");
                }
            }
        }
    }

    // The API's `GET /tasks` reads the same order, undated last on both backends (it once
    // sorted by `due_date` alone: undated first on SQLite, last on PostgreSQL).
    let reader = app
        .actor("Lecteur Ordre", &["ordre_un", "ordre_deux"])
        .await;
    let mut all: Vec<&task::Model> = made
        .iter()
        .filter(|t| t.status == task::Status::Open && roles.contains(&t.role))
        .collect();
    all.sort_by(|x, y| {
        (x.due_date.is_none(), &x.due_date, x.id).cmp(&(y.due_date.is_none(), &y.due_date, y.id))
    });
    let all: Vec<&str> = all.iter().map(|t| t.task_id.as_str()).collect();
    let whole = app.get(&reader, "/api/v1/tasks").await;
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|t| t["task_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&whole.body), all);
    for (limit, offset) in [(1, 0), (7, 0), (7, 7), (7, 35), (25, 20), (5, 1000)] {
        let r = app
            .get(
                &reader,
                &format!("/api/v1/tasks?limit={limit}&offset={offset}"),
            )
            .await;
        let from = offset.min(all.len());
        let to = (from + limit).min(all.len());
        assert_eq!(
            ids(&r.body),
            all[from..to],
            "limit {limit}, offset {offset}"
        );
    }
    let r = app.get(&reader, "/api/v1/tasks?limit=0").await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("invalid_query"))
    );
}

on_both_backends!(
    start_list_and_read,
    act_through_forms,
    markup_in_a_key_is_text,
    task_pages_keep_one_order
);
