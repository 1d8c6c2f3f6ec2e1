//! Living cases through the API, on both backends: a correction that moves a deadline over
//! Christmas, an extension across Easter, a suspension then its resumption, a closing; each
//! refusal leaves the case and its history as they were; the hash chain stays intact.

use serde_json::{Value, json};

use super::harness::{Backend, TestApp, brussels, spawn_app};
use crate::on_both_backends;

const WORKFLOW: &str = r#"
id: vivant
title: Recours (dossier vivant)
legal_basis: "Décret du 13 septembre 2018, art. 40"
roles: { secretaire: Secrétaire, chambre: Chambre }
variables:
  notifiee_le: { type: date, label: Date de notification }
  votes: { type: integer }
start: { by: [secretaire], inputs: [notifiee_le] }
administration:
  corrections:
    by: [admin]
    notify: [{ to: [secretaire], template: correction }]
initial: attente
states:
  attente:
    label: Attente du recours
    legal_basis: "Art. 40"
    timers:
      - id: delai
        label: Délai de recours
        after: { working_days: 10, from: notifiee_le, letter: registered }
        goto: instruction
        reminders: [{ before: { working_days: 2 }, notify: [{ to: [secretaire], template: rappel }] }]
    tasks:
      - id: recevoir
        role: secretaire
        title: Recevoir le recours
        due: { working_days: 10, from: notifiee_le, letter: registered }
        closes_on: [recours]
    on:
      recours: { by: [secretaire], goto: instruction }
  instruction:
    label: Instruction
    legal_basis: "Art. 41"
    tasks: [{ id: avis, role: chambre, title: "Rendre l'avis", due: { working_days: 20 }, closes_on: [avis] }]
    timers: [{ id: delai_avis, label: "Délai d'avis", after: { working_days: 20 }, goto: clos }]
    on:
      avis: { by: [chambre], inputs: [votes], goto: clos }
  clos: { label: Clos, final: true }
"#;

fn templates() -> Value {
    json!({
        "rappel.subject": "Rappel",
        "rappel.text": "Le délai expire bientôt.",
        "correction.subject": "Dossier corrigé",
        "correction.text": "Une valeur du dossier a été corrigée.",
    })
}

struct Living {
    app: TestApp,
    secretaire: String,
}

async fn living(backend: Backend) -> Living {
    let app = spawn_app(backend).await;
    let r = app.deploy(WORKFLOW, templates()).await;
    assert!(r.status == 200 || r.status == 201, "{}", r.body);
    let secretaire = app.actor("Secrétaire", &["secretaire"]).await;
    Living { app, secretaire }
}

impl Living {
    /// A case notified by registered letter on Monday 14 December 2026, opened the next day.
    async fn notified(&self, key: &str) -> String {
        self.app.clock.set(brussels(2026, 12, 15, 12));
        let r = self
            .app
            .start(
                &self.secretaire,
                "vivant",
                key,
                json!({"notifiee_le": "2026-12-14"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// A case whose appeal came in on Monday 8 March 2027: its opinion is due 20 working
    /// days later, skipping Easter Monday (29 March): Tuesday 6 April.
    async fn in_instruction(&self, key: &str) -> String {
        let id = self.notified(key).await;
        self.app.clock.set(brussels(2027, 3, 8, 12));
        let r = self
            .app
            .event(&self.secretaire, &id, "recours", json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(deadline(&r.body, "delai_avis")["due_date"], "2027-04-06");
        id
    }

    async fn case(&self, id: &str) -> Value {
        let r = self
            .app
            .get(&self.app.admin, &format!("/api/v1/cases/{id}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    async fn history(&self, id: &str) -> Vec<Value> {
        let r = self
            .app
            .get(&self.app.admin, &format!("/api/v1/cases/{id}/history"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body.as_array().unwrap().clone()
    }

    async fn assert_intact(&self, id: &str) {
        let r = self
            .app
            .get(&self.app.admin, &format!("/api/v1/cases/{id}/verify"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["intact"], true, "{}", r.body);
    }

    /// Moves the clock to `at`, fires what came due, and answers how many timers of this
    /// case fired (the shipped workflows' scheduled cases run beside it).
    async fn fire_until(&self, id: &str, at: chrono::DateTime<chrono::Utc>) -> usize {
        let fired = |h: &[Value]| {
            h.iter()
                .filter(|r| r["trigger"].as_str().unwrap().starts_with("timer "))
                .count()
        };
        let before = fired(&self.history(id).await);
        self.app.advance_to(at).await;
        fired(&self.history(id).await) - before
    }

    async fn post(&self, token: &str, id: &str, path: &str, body: Value) -> super::harness::Reply {
        self.app
            .post(token, &format!("/api/v1/cases/{id}/{path}"), body)
            .await
    }
}

/// The deadline (not a reminder) of `timer` in a case view.
fn deadline<'v>(case: &'v Value, timer: &str) -> &'v Value {
    case["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["timer"] == timer && d["kind"] != "reminder")
        .unwrap_or_else(|| panic!("{timer} in {case}"))
}

fn reminders_of<'v>(case: &'v Value, timer: &str) -> Vec<&'v Value> {
    case["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["timer"] == timer && d["kind"] == "reminder")
        .collect()
}

fn task<'v>(case: &'v Value, id: &str) -> &'v Value {
    case["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == id && t["status"] == "open")
        .unwrap_or_else(|| panic!("open task {id} in {case}"))
}

fn explanation(d: &Value) -> String {
    d["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn correction_moves_a_deadline_over_christmas(backend: Backend) {
    let l = living(backend).await;
    let id = l.notified("C-1").await;
    let before = l.case(&id).await;
    // Effect Thursday 17 December; 10 working days skipping Christmas and New Year's Day.
    assert_eq!(deadline(&before, "delai")["due_date"], "2027-01-04");
    assert_eq!(task(&before, "recevoir")["due_date"], "2027-01-04");
    l.app.clock.set(brussels(2026, 12, 16, 10));
    let r = l
        .post(
            &l.app.admin,
            &id,
            "corrections",
            json!({
                "inputs": {"notifiee_le": "2026-12-17"},
                "reason": "date de l'accusé de réception mal recopiée",
                "expected_version": before["row_version"],
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Effect Tuesday 22 December; 23, 24, 28, 29, 30, 31 December, 4, 5, 6, 7 January.
    let d = deadline(&r.body, "delai");
    assert_eq!(d["due_date"], "2027-01-07");
    let why = explanation(d);
    assert!(
        why.contains("Délai recompté après correction de « notifiee_le », décision du mercredi 16 décembre 2026 (par ")
            && why.contains("date de l'accusé de réception mal recopiée ; échéance précédente : lundi 4 janvier 2027."),
        "{why}"
    );
    assert!(
        why.contains("25 décembre") || why.contains("2026-12-25"),
        "{why}"
    );
    let t = task(&r.body, "recevoir");
    assert_eq!(t["due_date"], "2027-01-07");
    assert!(
        t["explanation"].as_str().unwrap().contains("correction"),
        "{t}"
    );
    // The reminder two working days before: Tuesday 5 January, 08:00 in Brussels.
    let rem = reminders_of(&r.body, "delai");
    assert_eq!(rem.len(), 1, "{}", r.body);
    assert_eq!(rem[0]["fire_at"], "2027-01-05T07:00:00Z");
    assert_eq!(r.body["variables"]["notifiee_le"], "2026-12-17");
    let h = l.history(&id).await;
    let last = h.last().unwrap();
    assert_eq!(last["trigger"], "correction");
    assert_eq!(last["reason"], "date de l'accusé de réception mal recopiée");
    let detail = last["detail"].to_string();
    assert!(
        detail.contains(r#""old":"2026-12-14""#) && detail.contains(r#""new":"2026-12-17""#),
        "{detail}"
    );
    // The workflow's correction notice went to the secretary.
    let n = l
        .app
        .get(&l.app.admin, &format!("/api/v1/cases/{id}/notices"))
        .await;
    let corrections: Vec<&Value> = n
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["template"] == "correction")
        .collect();
    assert_eq!(corrections.len(), 1, "{}", n.body);
    assert_eq!(corrections[0]["recipient_email"], "secrétaire@example.org");
    l.assert_intact(&id).await;
    // The old arming and its reminder never fire; the new ones do, on their days.
    assert_eq!(l.fire_until(&id, brussels(2027, 1, 5, 1)).await, 0);
    assert_eq!(l.case(&id).await["state"], "attente");
    assert_eq!(l.fire_until(&id, brussels(2027, 1, 5, 9)).await, 1);
    assert_eq!(l.fire_until(&id, brussels(2027, 1, 7, 23)).await, 0);
    assert_eq!(l.fire_until(&id, brussels(2027, 1, 8, 1)).await, 1);
    assert_eq!(l.case(&id).await["state"], "instruction");
    l.assert_intact(&id).await;
}

async fn extension_across_easter(backend: Backend) {
    let l = living(backend).await;
    let id = l.in_instruction("E-1").await;
    l.app.clock.set(brussels(2027, 3, 10, 12));
    let r = l
        .post(
            &l.app.admin,
            &id,
            "deadlines/delai_avis/extension",
            json!({"length": {"working_days": 10}, "reason": "avis d'un expert attendu"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // From Tuesday 6 April, 10 working days: Tuesday 20 April.
    let d = deadline(&r.body, "delai_avis");
    assert_eq!(d["due_date"], "2027-04-20");
    assert!(
        explanation(d)
            .contains("Délai prolongé de 10 jours ouvrables, décision du mercredi 10 mars 2027"),
        "{d}"
    );
    assert_eq!(task(&r.body, "avis")["due_date"], "2027-04-20");
    assert_eq!(
        l.history(&id).await.last().unwrap()["trigger"],
        "deadline delai_avis extension"
    );
    l.assert_intact(&id).await;
    assert_eq!(l.fire_until(&id, brussels(2027, 4, 20, 23)).await, 0);
    assert_eq!(l.fire_until(&id, brussels(2027, 4, 21, 1)).await, 1);
    assert_eq!(l.case(&id).await["status"], "closed");
}

async fn suspension_then_resumption(backend: Backend) {
    let l = living(backend).await;
    let id = l.in_instruction("S-1").await;
    l.app.clock.set(brussels(2027, 3, 23, 12));
    let r = l
        .post(
            &l.app.admin,
            &id,
            "deadlines/delai_avis/suspension",
            json!({"from": "2027-03-22", "reason": "instruction pénale en cours"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = deadline(&r.body, "delai_avis");
    assert_eq!(d["status"], "suspended");
    // 23-26 March, 30-31 March, 1-2 and 5-6 April: 10 working days left (Easter Monday is not one).
    assert!(
        explanation(d).contains("(10 jours ouvrables restants)"),
        "{d}"
    );
    assert_eq!(task(&r.body, "avis")["due_date"], Value::Null);
    // Nothing fires while suspended.
    assert_eq!(l.fire_until(&id, brussels(2027, 4, 19, 12)).await, 0);
    let r = l
        .post(
            &l.app.admin,
            &id,
            "deadlines/delai_avis/resumption",
            json!({"on": "2027-04-19"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // 10 working days from Monday 19 April: Monday 3 May.
    let d = deadline(&r.body, "delai_avis");
    assert_eq!(
        (&d["status"], &d["due_date"]),
        (&json!("armed"), &json!("2027-05-03"))
    );
    assert!(
        explanation(d).contains("Délai repris le lundi 19 avril 2027"),
        "{d}"
    );
    assert_eq!(task(&r.body, "avis")["due_date"], "2027-05-03");
    l.assert_intact(&id).await;
    assert_eq!(l.fire_until(&id, brussels(2027, 5, 4, 1)).await, 1);
    assert_eq!(l.case(&id).await["status"], "closed");
}

async fn closing_cancels_timers_and_tasks_and_keeps_history(backend: Backend) {
    let l = living(backend).await;
    let id = l.in_instruction("K-1").await;
    let operator = l.app.actor("Opératrice", &["operator"]).await;
    let before = l.history(&id).await;
    let r = l
        .post(
            &operator,
            &id,
            "closing",
            json!({"reason": "désistement du requérant", "outcome": "sans_suite"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["status"], &r.body["outcome"]),
        (&json!("closed"), &json!("sans_suite"))
    );
    assert_eq!(r.body["state"], "instruction");
    assert_eq!(r.body["deadlines"], json!([]));
    assert!(
        r.body["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] != "open"),
        "{}",
        r.body
    );
    let after = l.history(&id).await;
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(after.last().unwrap()["trigger"], "closing: sans_suite");
    assert_eq!(after.last().unwrap()["reason"], "désistement du requérant");
    l.assert_intact(&id).await;
    assert_eq!(l.fire_until(&id, brussels(2027, 6, 1, 12)).await, 0);
    let again = l
        .post(
            &operator,
            &id,
            "closing",
            json!({"reason": "x", "outcome": "y"}),
        )
        .await;
    again.assert_refused(409, "case_closed");
}

/// Each refusal answers its code, and the case view and history are as before.
async fn refusals_change_nothing(backend: Backend) {
    let l = living(backend).await;
    let id = l.notified("R-1").await;
    let (admin, secretaire) = (l.app.admin.clone(), l.secretaire.clone());
    let version = l.case(&id).await["row_version"].clone();
    let refused: Vec<(&str, &str, Value, u16, &str)> = vec![
        (
            &admin,
            "corrections",
            json!({"inputs": {"notifiee_le": "2026-12-17"}}),
            422,
            "missing_reason",
        ),
        (
            &admin,
            "corrections",
            json!({"inputs": {"notifiee_le": "2026-12-17"}, "reason": " "}),
            422,
            "missing_reason",
        ),
        (
            &admin,
            "corrections",
            json!({"inputs": {"notifie_le": "2026-12-17"}, "reason": "x"}),
            422,
            "unknown_input",
        ),
        (
            &admin,
            "corrections",
            json!({"inputs": {"notifiee_le": 17}, "reason": "x"}),
            422,
            "invalid_input",
        ),
        (
            &admin,
            "corrections",
            json!({"inputs": {"notifiee_le": "2026-12-17"}, "reason": "x", "expected_version": version.as_i64().unwrap() - 1}),
            409,
            "stale_version",
        ),
        (
            &secretaire,
            "corrections",
            json!({"inputs": {"notifiee_le": "2026-12-17"}, "reason": "x"}),
            403,
            "role_not_allowed",
        ),
        (
            &admin,
            "deadlines/delai/extension",
            json!({"length": {"working_days": 5}}),
            422,
            "missing_reason",
        ),
        (
            &admin,
            "deadlines/delai/extension",
            json!({"length": {"working_days": 5, "months": 1}, "reason": "x"}),
            422,
            "invalid_body",
        ),
        (
            &admin,
            "deadlines/delai_avis/extension",
            json!({"length": {"working_days": 5}, "reason": "x"}),
            409,
            "timer_not_armed",
        ),
        (
            &admin,
            "deadlines/nope/extension",
            json!({"length": {"working_days": 5}, "reason": "x"}),
            409,
            "unknown_timer",
        ),
        (
            &admin,
            "deadlines/delai/resumption",
            json!({"on": "2026-12-15"}),
            409,
            "timer_not_suspended",
        ),
        (
            &admin,
            "deadlines/delai/suspension",
            json!({"from": "2026-12-31", "reason": "x"}),
            422,
            "invalid_input",
        ),
        (
            &secretaire,
            "deadlines/delai/suspension",
            json!({"from": "2026-12-15", "reason": "x"}),
            403,
            "role_not_allowed",
        ),
        (
            &secretaire,
            "closing",
            json!({"reason": "x", "outcome": "sans_suite"}),
            403,
            "role_not_allowed",
        ),
        (
            &admin,
            "closing",
            json!({"outcome": "sans_suite"}),
            422,
            "missing_reason",
        ),
    ];
    for (token, path, body, status, code) in refused {
        let (case, history) = (l.case(&id).await, l.history(&id).await);
        let r = l.post(token, &id, path, body.clone()).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (status, Some(code)),
            "{path} {body}: {}",
            r.body
        );
        assert_eq!(l.case(&id).await, case, "{path} {body} changed the case");
        assert_eq!(
            l.history(&id).await,
            history,
            "{path} {body} changed the history"
        );
    }
    // A deadline that expired (the case moved on) may not be moved back into the future.
    assert_eq!(l.fire_until(&id, brussels(2027, 1, 5, 1)).await, 2);
    assert_eq!(l.case(&id).await["state"], "instruction");
    l.app.clock.set(brussels(2027, 1, 6, 12));
    let (case, history) = (l.case(&id).await, l.history(&id).await);
    let r = l
        .post(
            &admin,
            &id,
            "corrections",
            json!({"inputs": {"notifiee_le": "2027-01-04"}, "reason": "x"}),
        )
        .await;
    r.assert_refused(409, "timer_already_fired");
    assert_eq!(r.body["details"]["timer"], "delai");
    assert_eq!(r.body["details"]["corrected_due"], "2027-01-21");
    assert_eq!(l.case(&id).await, case);
    assert_eq!(l.history(&id).await, history);
    l.assert_intact(&id).await;
}

/// The same decisions through the case page, for those the workflow allows; a success says
/// so in French.
async fn decisions_through_the_case_page(backend: Backend) {
    use super::web_client::hidden_field;
    let l = living(backend).await;
    let id = l.in_instruction("P-1").await;
    l.app.actor("Membre Chambre", &["chambre"]).await;
    let member = l.app.sign_in("membre.chambre@example.org").await;
    let (status, html) = member.get(&format!("/cases/{id}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("Décisions sur le dossier"), "{html}");
    let admin = l.app.sign_in("admin@example.org").await;
    let (status, html) = admin.get(&format!("/cases/{id}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Décisions sur le dossier"), "{html}");
    assert!(
        html.contains(r#"name="change" value="extension""#),
        "{html}"
    );
    let version = hidden_field(&html, "expected_version").expect("a version");
    let path = format!("/cases/{id}/decisions");
    let fields = [
        ("change", "extension"),
        ("timer", "delai_avis"),
        ("count", "10"),
        ("unit", "working_days"),
        ("reason", "avis d'un expert attendu"),
        ("expected_version", &version),
    ];
    let (status, location) = admin.post_form(&path, &fields).await;
    assert_eq!(
        (status, location.as_str()),
        (303, format!("/cases/{id}?decision=extension").as_str())
    );
    assert_eq!(
        deadline(&l.case(&id).await, "delai_avis")["due_date"],
        "2027-04-20"
    );
    let (status, html) = admin.get(&location).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Décision enregistrée : Délai prolongé."),
        "{html}"
    );
    assert!(!html.contains("« extension »"), "{html}");
    assert!(html.contains("Délai prolongé : Délai d"), "{html}");
    // A month later (a new session: the last one expired), suspended yesterday, then a resumption dated before the suspension is refused beside its
    // date, and the deadline stays suspended.
    l.app.clock.set(brussels(2027, 4, 8, 12));
    let admin = l.app.sign_in("admin@example.org").await;
    let (_, html) = admin.get(&format!("/cases/{id}")).await;
    let version = hidden_field(&html, "expected_version").expect("a version");
    let (status, location) = admin
        .post_form(
            &path,
            &[
                ("change", "suspension"),
                ("timer", "delai_avis"),
                ("date", "2027-04-07"),
                ("reason", "action pénale"),
                ("expected_version", &version),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (303, format!("/cases/{id}?decision=suspension").as_str())
    );
    let (_, html) = admin.get(&location).await;
    assert!(
        html.contains("Décision enregistrée : Délai suspendu."),
        "{html}"
    );
    let version = hidden_field(&html, "expected_version").expect("a version");
    let (case, history) = (l.case(&id).await, l.history(&id).await);
    let (status, html) = admin
        .post_form(
            &path,
            &[
                ("change", "resumption"),
                ("timer", "delai_avis"),
                ("date", "2027-04-01"),
                ("reason", ""),
                ("expected_version", &version),
            ],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains(r#"<p class="error" id="d-delai_avis-reprise-erreur">Une reprise a lieu au plus tard aujourd'hui, et pas avant le début de la suspension.</p>"#),
        "{html}"
    );
    assert!(html.contains(r#"value="2027-04-01""#), "{html}");
    assert_eq!((l.case(&id).await, l.history(&id).await), (case, history));
    assert_eq!(
        deadline(&l.case(&id).await, "delai_avis")["status"],
        "suspended"
    );
    // Closed, with its outcome.
    let (_, html) = admin.get(&format!("/cases/{id}")).await;
    let version = hidden_field(&html, "expected_version").expect("a version");
    let (status, location) = admin
        .post_form(
            &path,
            &[
                ("change", "closing"),
                ("outcome", "désistement"),
                ("reason", "lettre du requérant"),
                ("expected_version", &version),
            ],
        )
        .await;
    assert_eq!(status, 303, "{location}");
    let (_, html) = admin.get(&location).await;
    assert!(
        html.contains("Décision enregistrée : Dossier clôturé."),
        "{html}"
    );
    assert_eq!(l.case(&id).await["status"], "closed");
    l.assert_intact(&id).await;
}

/// A posted form, the status it is refused with, the reason beside its field, and what was
/// typed that the page shows again.
type RefusedForm<'a> = (Vec<(&'a str, &'a str)>, u16, String, Vec<&'a str>);

/// Each refused decision form answers the case page with the refusal's status, its French
/// reason beside the field, what was typed back in the form, and the case as it was.
async fn refused_decisions_stay_on_the_case_page(backend: Backend) {
    use super::web_client::hidden_field;
    let l = living(backend).await;
    let id = l.in_instruction("P-2").await;
    let admin = l.app.sign_in("admin@example.org").await;
    let (_, html) = admin.get(&format!("/cases/{id}")).await;
    let version = hidden_field(&html, "expected_version").expect("a version");
    let stale = (version.parse::<i64>().unwrap() - 1).to_string();
    let path = format!("/cases/{id}/decisions");
    let refused: Vec<RefusedForm> = vec![
        (
            vec![
                ("change", "extension"),
                ("timer", "delai_avis"),
                ("count", "12"),
                ("unit", "calendar_days"),
                ("reason", "  "),
                ("expected_version", &version),
            ],
            422,
            r#"<p class="error" id="d-delai_avis-p-motif-erreur">Indiquez la raison de cette décision.</p>"#.into(),
            vec![
                r#"id="d-delai_avis-duree" name="count" min="1" max="5000" required value="12">"#,
                r#"<option value="calendar_days" selected>jours de calendrier</option>"#,
                r#"aria-describedby="d-delai_avis-p-motif-erreur" aria-invalid="true">  </textarea>"#,
            ],
        ),
        (
            vec![
                ("change", "extension"),
                ("timer", "delai_avis"),
                ("count", "dix"),
                ("unit", "working_days"),
                ("reason", "expertise"),
                ("expected_version", &version),
            ],
            422,
            r#"<p class="error" id="d-delai_avis-duree-erreur">Indiquez la durée de la prolongation en nombre entier.</p>"#.into(),
            vec![r#"value="dix""#, ">expertise</textarea>"],
        ),
        (
            vec![
                ("change", "suspension"),
                ("timer", "delai_avis"),
                ("date", "2027-02-30"),
                ("reason", "action pénale"),
                ("expected_version", &version),
            ],
            422,
            r#"<p class="error" id="d-delai_avis-depuis-erreur">Indiquez une date valide (jour, mois, année).</p>"#.into(),
            vec![r#"value="2027-02-30""#, ">action pénale</textarea>"],
        ),
        (
            vec![
                ("change", "suspension"),
                ("timer", "delai_avis"),
                ("date", "2027-03-20"),
                ("reason", "action pénale"),
                ("expected_version", &version),
            ],
            422,
            r#"<p class="error" id="d-delai_avis-depuis-erreur">Une suspension commence au plus tard aujourd'hui, entre le début du délai et son échéance.</p>"#.into(),
            vec![r#"value="2027-03-20""#],
        ),
        (
            vec![
                ("change", "correction"),
                ("v.votes", "quatre"),
                ("reason", "faute de frappe"),
                ("expected_version", &version),
            ],
            422,
            r#"<p class="error" id="d-correction-votes-erreur">Indiquez un nombre entier.</p>"#.into(),
            vec![r#"value="quatre""#, ">faute de frappe</textarea>"],
        ),
        (
            vec![
                ("change", "closing"),
                ("outcome", ""),
                ("reason", "désistement écrit"),
                ("expected_version", &version),
            ],
            422,
            r#"<p class="error" id="d-cloture-issue-erreur">Indiquez l'issue du dossier.</p>"#.into(),
            vec![">désistement écrit</textarea>"],
        ),
        (
            vec![
                ("change", "correction"),
                ("v.notifiee_le", "2026-12-16"),
                ("reason", "date lue sur l'accusé de réception"),
                ("expected_version", &stale),
            ],
            409,
            "Ce dossier a changé depuis l'ouverture de la page".into(),
            vec![
                r#"value="2026-12-16""#,
                ">date lue sur l'accusé de réception</textarea>",
            ],
        ),
    ];
    for (fields, status, beside, kept) in refused {
        let (case, history) = (l.case(&id).await, l.history(&id).await);
        let (got, html) = admin.post_form(&path, &fields).await;
        assert_eq!(got, status, "{fields:?}: {html}");
        assert!(
            html.contains("Décisions sur le dossier"),
            "{fields:?}: {html}"
        );
        assert!(html.contains("Rien n'a été modifié"), "{fields:?}: {html}");
        assert!(
            html.contains(&beside),
            "{fields:?}: no «{beside}» in {html}"
        );
        for k in kept {
            assert!(html.contains(k), "{fields:?}: not kept «{k}» in {html}");
        }
        assert!(!html.contains("Code : "), "{fields:?}: {html}");
        assert_eq!(l.case(&id).await, case, "{fields:?} changed the case");
        assert_eq!(
            l.history(&id).await,
            history,
            "{fields:?} changed the history"
        );
    }
    l.assert_intact(&id).await;
}

on_both_backends!(
    correction_moves_a_deadline_over_christmas,
    extension_across_easter,
    suspension_then_resumption,
    closing_cancels_timers_and_tasks_and_keeps_history,
    refusals_change_nothing,
    decisions_through_the_case_page,
    refused_decisions_stay_on_the_case_page,
);
