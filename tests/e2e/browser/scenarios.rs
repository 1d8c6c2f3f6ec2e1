//! What the people jalon serves do, in a real headless chromium against the real server on
//! loopback, on SQLite and on PostgreSQL: an actor signs in with the link of the mail dropped
//! in `<data>/outbox/`, opens a task from the link of its notice and records a registered letter
//! whose delay runs over Christmas; a stale form is refused in French and changes nothing; an
//! operator sends a dead notice again with a reason; an administrator checks a broken workflow
//! and reads line:column; and every page passes axe-core (WCAG 2.1 AA) and fits a phone.
//!
//! Screenshots go to `target/screenshots/<page>-<backend>.png` (both backends run side by
//! side, so their files are apart).

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use notifiers::test_support::{SmtpSink, leaves, parse_eml};
use serde_json::{Value, json};

use super::harness::Browser;
use crate::on_both_backends;
use crate::server::harness::{Backend, TestApp, brussels, shipped, spawn_app, spawn_app_with};
use crate::server::web_client::{link_in, sign_in_files, text_and_to};

const WF: &str = "incompatibilite";
const TASK: &str = "informer_membre";
const NOTIFY_BUTTON: &str = "Enregistrer : Lettre recommandée de notification expédiée";
const DISPATCH_LABEL: &str =
    "Date d'expédition de la lettre recommandée de notification (obligatoire)";
const EMAIL_LABEL: &str = "Adresse électronique (obligatoire)";
const ASK_BUTTON: &str = "Recevoir un lien de connexion";
/// The French sentence of a stale form (`src/server/web/case.rs`, `STALE`).
const STALE: &str = "Ce dossier a changé depuis l'ouverture de la page. Voici son état actuel ; vérifiez avant de recommencer.";

fn tag(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// Screenshots and messages name the page and the backend.
fn shot(backend: Backend, page: &str) -> String {
    format!("{page}-{}", tag(backend))
}

// ---------------------------------------------------------------------------------------------
// Signing in the way a person does

/// Asks for a sign-in link on the page the browser shows (`/connexion`, maybe with `suite`):
/// types the address, presses the button, sees the neutral answer.
async fn ask_for_link(b: &Browser, email: &str) {
    assert!(
        b.current_url().await.contains("/connexion"),
        "{}",
        b.current_url().await
    );
    b.fill(EMAIL_LABEL, email).await;
    b.submit(ASK_BUTTON).await;
    let url = b.current_url().await;
    assert!(url.contains("/connexion?envoye=1"), "{url}");
    let status = b.text_of("[role=status]").await;
    assert!(
        status.starts_with(
            "Si cette adresse est connue, un lien de connexion vient d'y être envoyé."
        ),
        "{status}"
    );
}

/// The link of the one sign-in mail to `email` that the dispatcher writes now under
/// `<data>/outbox/` (files there before `before` are older requests).
async fn link_from_outbox(
    app: &TestApp,
    email: &str,
    before: &std::collections::BTreeSet<PathBuf>,
) -> String {
    app.deliver().await;
    let mut links = Vec::new();
    for file in sign_in_files(app).difference(before) {
        let (text, to) = tokio::task::block_in_place(|| text_and_to(file));
        if to.to_lowercase().contains(email) {
            links.push(link_in(&text).unwrap_or_else(|| panic!("no link in {text}")));
        }
    }
    assert_eq!(links.len(), 1, "one sign-in mail to {email}: {links:?}");
    links.remove(0)
}

/// Opens a sign-in link and presses "Me connecter".
async fn open_link(b: &Browser, link: &str) {
    assert!(
        link.starts_with("http://127.0.0.1:"),
        "the link names the server's listening address: {link}"
    );
    b.goto(link).await;
    assert_eq!(b.text_of("h1").await, "Connexion à jalon");
    b.submit("Me connecter").await;
    let url = b.current_url().await;
    assert!(
        !url.contains("/connexion/lien"),
        "still on the link's page after \"Me connecter\": {url}\n{}",
        b.text_of("main").await
    );
}

/// The whole flow from the page the browser shows (`/connexion`): ask, read the `.eml`, open,
/// confirm. Returns the link (used once now).
async fn sign_in_from_outbox(b: &Browser, app: &TestApp, email: &str) -> String {
    let before = sign_in_files(app);
    ask_for_link(b, email).await;
    let link = link_from_outbox(app, email, &before).await;
    open_link(b, &link).await;
    link
}

/// Signs in from `/connexion`, landing on "Mes tâches".
async fn sign_in(b: &Browser, app: &TestApp, email: &str) {
    b.goto(&format!("{}/connexion", app.base)).await;
    sign_in_from_outbox(b, app, email).await;
    assert_eq!(b.current_url().await, format!("{}/", app.base));
    assert_eq!(b.text_of("h1").await, "Mes tâches");
}

// ---------------------------------------------------------------------------------------------
// Reading and filling

/// Types a date into the date field labelled `label` the way a person does: the digits of the
/// day, the month and the year in the order the browser's locale shows them (jj/mm/aaaa in a
/// French chromium, mm/dd/yyyy in headless chromium's default en-US), then checks what the
/// field holds.
async fn type_date(b: &Browser, label: &str, day: NaiveDate) {
    let el = b.field(label).await;
    assert_eq!(
        el.attr("type").await.unwrap().as_deref(),
        Some("date"),
        "{label} is a date field"
    );
    let order = b
        .client
        .execute(
            "return new Intl.DateTimeFormat().formatToParts(new Date(2026, 11, 18))\
               .map(p => p.type).filter(t => t === 'day' || t === 'month' || t === 'year')",
            vec![],
        )
        .await
        .expect("the locale's order of day, month and year");
    let keys: String = order
        .as_array()
        .expect("a list of parts")
        .iter()
        .map(|part| match part.as_str() {
            Some("day") => day.format("%d").to_string(),
            Some("month") => day.format("%m").to_string(),
            Some("year") => day.format("%Y").to_string(),
            other => panic!("unexpected date part {other:?}"),
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(20), el.send_keys(&keys))
        .await
        .expect("typing within 20 s")
        .expect("type the date");
    let value = el.prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(
        value,
        day.to_string(),
        "{label} after typing {keys} ({order})"
    );
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

async fn case_json(app: &TestApp, id: &str) -> Value {
    let r = app.get(&app.admin, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

async fn history_len(app: &TestApp, id: &str) -> usize {
    let r = app
        .get(&app.admin, &format!("/api/v1/cases/{id}/history"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.as_array().unwrap().len()
}

/// Starts an incompatibility case through the API, found on `found`; returns its id.
async fn start_case(app: &TestApp, token: &str, key: &str, found: &str) -> String {
    let r = app
        .start(
            token,
            WF,
            key,
            json!({"constatee_le": found, "fondement": "occupation_art38",
                   "description": "Gérance d'une société commerciale"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// The registered letter of notification, sent through the API on `day`.
async fn notify_by_api(app: &TestApp, token: &str, id: &str, day: &str) -> Value {
    let r = app
        .event(
            token,
            id,
            "notifier",
            json!({"notification_expediee_le": day}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// The text parts of the case notices (not sign-in mails) written under `<data>/outbox/`.
fn case_notice_texts(app: &TestApp) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(app.cfg.data_dir.join("outbox")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.ends_with(".eml") && !f.starts_with("sign-in-"))
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| tokio::task::block_in_place(|| text_and_to(f)).0)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. A task from its notice, a date over Christmas

/// The government's reminder before the task is due carries the task's link: the shipped
/// template does not print `{{task.url}}`, so this test deploys the same workflow with one line
/// added to it (a new version; the cases started after it run it).
async fn deploy_reminder_with_task_link(app: &TestApp) {
    let (source, mut templates) = shipped(WF);
    let text = templates
        .get_mut("rappel-information.text")
        .expect("the shipped reminder template");
    text.push_str("\nOuvrir la tâche : {{task.url}}\n");
    let r = app.deploy(&source, &templates).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn actor_opens_the_task_of_a_notice_and_records_a_letter_over_christmas(backend: Backend) {
    let Some(b) = Browser::start().await else {
        return;
    };
    let app = spawn_app(backend).await;
    deploy_reminder_with_task_link(&app).await;
    let gov_token = app.actor("Gouv Un", &["gouvernement"]).await;
    let email = "gouv.un@example.org";

    // Found on Thursday 3 December: the letter is due within 20 days (23 December); the
    // reminder goes out 5 days before, on the 18th.
    app.clock.set(brussels(2026, 12, 3, 12));
    let id = start_case(&app, &gov_token, "INC-2026-041", "2026-12-03").await;
    assert!(app.advance_to(brussels(2026, 12, 18, 9)).await >= 1);
    app.deliver().await;
    let task_path = format!("/cases/{id}/tasks/{TASK}");
    let texts = case_notice_texts(&app);
    let link = texts
        .iter()
        .flat_map(|t| t.split_whitespace())
        .find(|w| w.starts_with("http") && w.ends_with(&task_path))
        .unwrap_or_else(|| panic!("a notice with the task's link {task_path}: {texts:#?}"))
        .to_owned();
    assert_eq!(link, format!("{}{task_path}", app.base));

    // The link, before signing in, leads to the sign-in page, which leads back to the task.
    b.goto(&link).await;
    let url = b.current_url().await;
    assert!(
        url.ends_with(&format!(
            "/connexion?suite={}",
            task_path.replace('/', "%2F")
        )),
        "{url}"
    );
    sign_in_from_outbox(&b, &app, email).await;
    assert_eq!(b.current_url().await, link);
    assert_eq!(
        b.text_of("h1").await,
        "Informer le membre du personnel de l'incompatibilité par lettre recommandée"
    );
    let section = b.text_of("section[aria-labelledby=tache]").await;
    assert!(
        section.contains("Au plus tard le mercredi 23 décembre 2026 (dans 5 jours)"),
        "{section}"
    );
    b.assert_accessible(&shot(backend, "scenario-tache")).await;
    b.screenshot(&shot(backend, "scenario-tache")).await;

    // Sent on Friday 18 December by registered letter.
    let before = history_len(&app, &id).await;
    type_date(&b, DISPATCH_LABEL, date(2026, 12, 18)).await;
    b.fill_css("#e-notifier-motif", "Lettre recommandée n° 42")
        .await;
    b.submit(NOTIFY_BUTTON).await;
    assert_eq!(
        b.current_url().await,
        format!("{}/cases/{id}?fait=notifier", app.base)
    );
    assert_eq!(history_len(&app, &id).await, before + 1);
    let api = case_json(&app, &id).await;
    assert_eq!(api["state"], "notifiee", "{api}");
    let deadline = &api["deadlines"][0];
    assert_eq!(deadline["timer"], "delai_reclamation", "{api}");
    // By hand: the letter takes effect on the third working day after Friday 18 December
    // (Monday 21, Tuesday 22, Wednesday 23); twenty working days from the day after, Christmas
    // and New Year's Day skipped: 24, 28-31 December (5), 4-8 January (10), 11-15 (15),
    // 18-22 (20).
    assert_eq!(deadline["due_date"], "2027-01-22", "{deadline}");

    let status = b.text_of("[role=status]").await;
    for expected in [
        "Action enregistrée : « Lettre recommandée de notification expédiée ».",
        "Le dossier est maintenant à l'état : Incompatibilité notifiée, délai de réclamation en cours.",
        "Délai de réclamation devant la Chambre de recours : au plus tard le vendredi 22 janvier 2027",
    ] {
        assert!(status.contains(expected), "{expected:?} in {status}");
    }
    // The deadline explained, line by line as the API gives it, over Christmas.
    let shown = b.texts_of("ul.explanation li").await;
    let api_lines: Vec<String> = deadline["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown, api_lines);
    assert!(
        shown.iter().any(|l| l.contains("Noël (jour férié légal)")),
        "Christmas skipped: {shown:#?}"
    );
    assert!(
        shown
            .iter()
            .any(|l| l.contains("vendredi 18 décembre 2026")),
        "{shown:#?}"
    );
    let history = b.text_of("ol.timeline").await;
    assert!(
        history.contains("Motif : Lettre recommandée n° 42"),
        "{history}"
    );
    b.assert_accessible(&shot(backend, "scenario-action-enregistree"))
        .await;
    b.screenshot(&shot(backend, "scenario-action-enregistree"))
        .await;
}

// ---------------------------------------------------------------------------------------------
// 2. A stale form

async fn a_stale_form_is_refused_in_french_and_changes_nothing(backend: Backend) {
    let Some(b) = Browser::start().await else {
        return;
    };
    let app = spawn_app(backend).await;
    let gov_token = app.actor("Gouv Un", &["gouvernement"]).await;
    app.clock.set(brussels(2026, 12, 23, 12));
    let id = start_case(&app, &gov_token, "INC-2026-042", "2026-12-14").await;
    sign_in(&b, &app, "gouv.un@example.org").await;
    b.goto(&format!("{}/cases/{id}", app.base)).await;
    assert!(b.exists("form.action").await);

    // Meanwhile the letter is recorded elsewhere (through the API), sent on the 22nd.
    let changed = notify_by_api(&app, &gov_token, &id, "2026-12-22").await;
    let after_api = history_len(&app, &id).await;

    // The page's old form, sent anyway with another date.
    type_date(&b, DISPATCH_LABEL, date(2026, 12, 18)).await;
    b.submit(NOTIFY_BUTTON).await;
    let alert = b.text_of("[role=alert]").await;
    assert!(alert.contains(STALE), "{alert}");
    assert!(alert.contains("Rien n'a été modifié."), "{alert}");
    // The page shows the case as it is now: notified, no letter form left.
    let facts = b.text_of("dl.facts").await;
    assert!(
        facts.contains("Incompatibilité notifiée, délai de réclamation en cours"),
        "{facts}"
    );
    assert!(
        !b.source().await.contains("value=\"notifier\""),
        "no notification form in the state it is in now"
    );
    b.assert_accessible(&shot(backend, "scenario-formulaire-perime"))
        .await;
    b.screenshot(&shot(backend, "scenario-formulaire-perime"))
        .await;

    // Nothing changed: the same history, the deadline of the letter of the 22nd.
    assert_eq!(history_len(&app, &id).await, after_api);
    let now = case_json(&app, &id).await;
    assert_eq!(now["row_version"], changed["row_version"], "{now}");
    assert_eq!(
        now["variables"]["notification_expediee_le"], "2026-12-22",
        "{now}"
    );
    assert_eq!(now["deadlines"], changed["deadlines"], "{now}");
}

// ---------------------------------------------------------------------------------------------
// 3. An operator sends a dead notice again

/// Notices by SMTP to a sink that refuses `reject…` addresses for good; no public URL, so links
/// name the listening address (plain HTTP: the session cookie is not `Secure`).
fn smtp_to(port: u16) -> jalon::server::notice_config::NoticeConfig {
    jalon::server::notice_config::NoticeConfig {
        from: Some("Jalon FWB <jalon@ecoles.example.be>".into()),
        smtp: Some(notifiers::SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            tls: notifiers::TlsMode::None,
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

/// The next message the sink received for `email` (others before it are skipped).
fn mail_to(sink: &SmtpSink, email: &str) -> String {
    loop {
        let m = sink
            .message_within(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("no mail to {email} within 20 s"));
        if m.rcpt_tos.iter().any(|r| r == email) {
            let parsed = parse_eml(&m.data);
            return leaves(&parsed["body"])
                .into_iter()
                .find(|p| p["content_type"] == "text/plain")
                .and_then(|p| p["content"].as_str())
                .unwrap_or_default()
                .to_owned();
        }
    }
}

async fn operator_sends_a_dead_notice_again_with_a_reason(backend: Backend) {
    let Some(b) = Browser::start().await else {
        return;
    };
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
    // A Chambre de recours appeal: its list of members goes to both requérants; the relay
    // refuses one address for good and the notice goes dead.
    let secretary = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    app.clock.set(brussels(2026, 12, 18, 12));
    let r = app
        .start(
            &secretary,
            "chambre-recours",
            "CR-2026-17",
            json!({"matiere": "evaluation", "recours_recu_le": "2026-12-17"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .event(
            &secretary,
            &id,
            "communiquer_liste",
            json!({"liste_recue_le": "2026-12-18"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pass = app.deliver().await;
    assert_eq!((pass.sent, pass.dead), (1, 1), "{pass:?}");
    let notices = app
        .get(&app.admin, &format!("/api/v1/cases/{id}/notices"))
        .await;
    let dead = notices
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["status"] == "dead")
        .unwrap_or_else(|| panic!("a dead notice in {}", notices.body))["id"]
        .as_i64()
        .unwrap();

    // The operator (the administrator, who is one) opens /operateur: signed in on the way,
    // with the link of the mail the relay received.
    b.goto(&format!("{}/operateur", app.base)).await;
    assert!(
        b.current_url()
            .await
            .ends_with("/connexion?suite=%2Foperateur")
    );
    ask_for_link(&b, "admin@example.org").await;
    app.deliver().await;
    let text = tokio::task::block_in_place(|| mail_to(&sink, "admin@example.org"));
    let link = link_in(&text).unwrap_or_else(|| panic!("no link in {text}"));
    open_link(&b, &link).await;
    assert_eq!(b.current_url().await, format!("{}/operateur", app.base));
    assert_eq!(b.text_of("h1").await, "Dossiers bloqués");
    let table = b.text_of("table").await;
    assert!(table.contains("Avis non remis"), "{table}");
    assert!(table.contains("reject.me@example.org"), "{table}");
    b.assert_accessible(&shot(backend, "scenario-operateur"))
        .await;

    b.fill(
        "Motif (obligatoire)",
        "Adresse vérifiée auprès du secrétariat",
    )
    .await;
    b.submit(&format!("Relancer l'avis n° {dead}")).await;
    assert_eq!(
        b.current_url().await,
        format!("{}/operateur?relance={dead}", app.base)
    );
    let confirmation = b.text_of("[role=status]").await;
    assert!(
        confirmation.contains(&format!("L'avis n° {dead} sera renvoyé.")),
        "{confirmation}"
    );
    b.assert_accessible(&shot(backend, "scenario-operateur-relance"))
        .await;
    b.screenshot(&shot(backend, "scenario-operateur-relance"))
        .await;

    // The API agrees: pending again, who and why recorded.
    let r = app
        .get(&app.admin, "/api/v1/operator/notices?limit=1000")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let n = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == dead)
        .cloned()
        .unwrap_or_else(|| panic!("notice {dead} in {}", r.body));
    assert_eq!(n["status"], "pending", "{n}");
    assert_eq!(n["retry_reason"], "Adresse vérifiée auprès du secrétariat");
    let me = app.get(&app.admin, "/api/v1/me").await.body["id"].clone();
    assert_eq!(n["retried_by"], me, "{n}");
}

// ---------------------------------------------------------------------------------------------
// 4. An administrator checks a broken workflow

/// Where `value` starts on the line that ends with `<key>: <value>` in `text`: 1-based line and
/// column, counted here from the file itself.
fn position_of(text: &str, key_value: &str) -> String {
    let (n, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.trim_end().ends_with(key_value))
        .unwrap_or_else(|| panic!("{key_value} in the fixture"));
    let value = key_value.split_once(": ").unwrap().1;
    let column = line.rfind(value).unwrap() + 1;
    format!("{}:{column}", n + 1)
}

async fn administrator_checks_a_broken_workflow_and_reads_line_column(backend: Backend) {
    let Some(b) = Browser::start().await else {
        return;
    };
    let app = spawn_app(backend).await;
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/broken/unknown-target.yaml"),
    )
    .unwrap();
    let versions_before = app.get(&app.admin, "/api/v1/workflows").await.body;

    sign_in(&b, &app, "admin@example.org").await;
    b.goto(&format!("{}/workflows/verifier", app.base)).await;
    assert_eq!(b.text_of("h1").await, "Vérifier une procédure");
    b.fill("Texte YAML de la procédure (obligatoire)", &fixture)
        .await;
    let typed = b
        .field("Texte YAML de la procédure (obligatoire)")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(typed, fixture, "the text area holds the file as typed");
    b.submit("Vérifier le texte").await;

    let alert = b.text_of("[role=alert]").await;
    assert_eq!(
        alert,
        "Ce fichier serait refusé : 5 erreurs, 0 avertissement."
    );
    let positions = b.texts_of("table.diagnostics code.position").await;
    for (target, code) in [
        ("goto: cols", "unknown-state"),
        ("goto: prioritaire", "unknown-state"),
        ("goto: expire", "unknown-state"),
        ("termine: archive", "unknown-state"),
    ] {
        let at = position_of(&fixture, target);
        assert!(positions.contains(&at), "{target} at {at}: {positions:?}");
        let row = b
            .texts_of("table.diagnostics tbody tr")
            .await
            .into_iter()
            .find(|r| r.contains(&at))
            .unwrap();
        assert!(row.contains(code), "{row}");
    }
    let rows = b.texts_of("table.diagnostics tbody tr").await;
    assert!(
        rows.iter()
            .any(|r| r.contains("24:15") && r.contains("did you mean `clos`?")),
        "{rows:#?}"
    );
    b.assert_accessible(&shot(backend, "scenario-verifier"))
        .await;
    b.screenshot(&shot(backend, "scenario-verifier")).await;

    // Nothing deployed.
    let versions_after = app.get(&app.admin, "/api/v1/workflows").await.body;
    assert_eq!(versions_after, versions_before);
}

// ---------------------------------------------------------------------------------------------
// 5. Every page: axe-core and a phone's width

/// Visits pages and records, for each, what axe-core found and whether it fits a phone;
/// `finish` fails the test with every problem at once.
struct Sweep<'a> {
    b: &'a Browser,
    backend: Backend,
    problems: Vec<String>,
    pages: usize,
}

impl Sweep<'_> {
    /// Checks the page the browser shows: axe-core at desktop size, a screenshot, then the
    /// phone's width and its screenshot.
    async fn check(&mut self, page: &str) {
        let name = shot(self.backend, page);
        let axe = self.b.check_accessible(&name).await;
        let mut scrollers = self.unreachable_scrollers().await;
        self.b.screenshot(&name).await;
        self.b.phone().await;
        let (inner, scroll) = self.b.layout_widths().await;
        scrollers.extend(self.unreachable_scrollers().await);
        let phone_axe = self.b.check_accessible(&format!("{name}-telephone")).await;
        self.b.screenshot(&format!("{name}-telephone")).await;
        self.b.desktop().await;
        eprintln!(
            "page {name}: axe {}, phone axe {}, phone width {scroll}px in {inner}px",
            if axe.is_ok() {
                "0 violation"
            } else {
                "VIOLATIONS"
            },
            if phone_axe.is_ok() {
                "0 violation"
            } else {
                "VIOLATIONS"
            },
        );
        self.pages += 1;
        if let Err(report) = axe {
            self.problems.push(report);
        }
        if let Err(report) = phone_axe {
            self.problems.push(report);
        }
        if !scrollers.is_empty() {
            self.problems.push(format!(
                "{name} ({}): boxes scroll sideways without tabindex=\"0\", a role and a name: {scrollers:#?}",
                self.b.current_url().await
            ));
        }
        if scroll > inner {
            self.problems.push(format!(
                "{name} ({}): {scroll}px wide in a {inner}px phone viewport; screenshot {name}-telephone.png",
                self.b.current_url().await
            ));
        }
    }

    /// The boxes that scroll sideways on the page as shown now (a table or a diagram wider
    /// than its container) and do not let a keyboard user reach and name them: each needs
    /// `tabindex="0"`, a role and an accessible name (`role="region"` with `aria-label`, or a
    /// `figure` named by its `figcaption`).
    async fn unreachable_scrollers(&self) -> Vec<String> {
        let found = self
            .b
            .client
            .execute(
                "return [...document.querySelectorAll('body *')].filter(e => {\
                   const o = getComputedStyle(e).overflowX;\
                   return (o === 'auto' || o === 'scroll') && e.scrollWidth > e.clientWidth;\
                 }).filter(e => !(e.tabIndex >= 0 && (\
                   (e.getAttribute('role') && (e.getAttribute('aria-label') || e.getAttribute('aria-labelledby')))\
                   || (e.tagName === 'FIGURE' && e.querySelector(':scope > figcaption')))))\
                   .map(e => e.outerHTML.slice(0, 120))",
                vec![],
            )
            .await
            .expect("list the scrolling boxes");
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn finish(self) {
        assert!(
            self.problems.is_empty(),
            "{} of {} pages have problems:\n{}",
            self.problems.len(),
            self.pages,
            self.problems.join("\n")
        );
    }
}

async fn every_page_passes_axe_and_fits_a_phone(backend: Backend) {
    let Some(b) = Browser::start().await else {
        return;
    };
    let app = spawn_app(backend).await;
    app.clock.set(brussels(2026, 12, 21, 10));
    let gov_token = app.actor("Gouv Un", &["gouvernement"]).await;
    let open = start_case(&app, &gov_token, "INC-2026-051", "2026-12-14").await;
    start_case(&app, &gov_token, "INC-2026-038", "2026-11-20").await;
    let notified = start_case(&app, &gov_token, "INC-2026-044", "2026-12-01").await;
    notify_by_api(&app, &gov_token, &notified, "2026-12-18").await;
    let mut sweep = Sweep {
        b: &b,
        backend,
        problems: Vec::new(),
        pages: 0,
    };
    let go = |path: &str| format!("{}{path}", app.base);

    // The sign-in pages, then the actor's.
    b.goto(&go("/connexion")).await;
    sweep.check("connexion").await;
    let before = sign_in_files(&app);
    ask_for_link(&b, "gouv.un@example.org").await;
    sweep.check("connexion-envoye").await;
    let link = link_from_outbox(&app, "gouv.un@example.org", &before).await;
    b.goto(&link).await;
    sweep.check("connexion-lien").await;
    b.submit("Me connecter").await;
    assert_eq!(b.text_of("h1").await, "Mes tâches");
    sweep.check("mes-taches").await;

    b.goto(&go("/nouveau")).await;
    sweep.check("nouveau").await;
    b.goto(&go(&format!("/nouveau/{WF}"))).await;
    sweep.check("nouveau-incompatibilite").await;
    b.goto(&go(&format!("/cases/{notified}"))).await;
    assert!(b.exists("ul.explanation").await);
    assert!(b.exists("form.action").await);
    sweep.check("dossier").await;
    b.goto(&go(&format!("/cases/{open}/tasks/{TASK}"))).await;
    sweep.check("tache").await;
    b.goto(&go("/workflows")).await;
    sweep.check("procedures").await;
    b.goto(&go(&format!("/workflows/{WF}"))).await;
    assert!(b.exists(".diagram svg").await);
    sweep.check("procedure-incompatibilite").await;
    // Not an operator: 403. No such case: 404.
    b.goto(&go("/operateur")).await;
    assert_eq!(b.text_of("h1").await, "Accès refusé");
    sweep.check("interdit-403").await;
    b.goto(&go("/cases/aucun-dossier")).await;
    assert_eq!(b.text_of("h1").await, "Page introuvable");
    sweep.check("introuvable-404").await;

    // Signing out, a used link, then the administrator's pages.
    b.goto(&go("/")).await;
    b.submit("Se déconnecter").await;
    assert!(b.current_url().await.ends_with("/connexion?fin=1"));
    sweep.check("connexion-fin").await;
    b.goto(&link).await;
    b.submit("Me connecter").await;
    assert_eq!(b.text_of("h1").await, "Lien de connexion expiré");
    sweep.check("connexion-lien-expire").await;

    b.goto(&go("/operateur")).await;
    sign_in_from_outbox(&b, &app, "admin@example.org").await;
    assert_eq!(b.current_url().await, go("/operateur"));
    assert!(b.exists("table").await);
    sweep.check("operateur").await;
    b.goto(&go("/workflows/verifier")).await;
    sweep.check("verifier").await;
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/broken/unknown-target.yaml"),
    )
    .unwrap();
    b.fill("Texte YAML de la procédure (obligatoire)", &fixture)
        .await;
    b.submit("Vérifier le texte").await;
    assert!(b.exists("table.diagnostics").await);
    sweep.check("verifier-diagnostics").await;

    sweep.finish();
}

on_both_backends!(
    actor_opens_the_task_of_a_notice_and_records_a_letter_over_christmas,
    a_stale_form_is_refused_in_french_and_changes_nothing,
    operator_sends_a_dead_notice_again_with_a_reason,
    administrator_checks_a_broken_workflow_and_reads_line_column,
    every_page_passes_axe_and_fits_a_phone,
);
