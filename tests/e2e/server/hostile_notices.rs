//! Notices against hostile or broken input: a stored template nested deep enough to overflow
//! the renderer's stack, an actor whose name carries a header injection, a relay that accepts
//! connections and never answers while the server shuts down. None of them may take the
//! process down, hold it up, or leave a notice pending forever without a word.

use std::time::Duration;

use notifiers::{SmtpConfig, TlsMode};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use store::entities::actor;

use super::harness::{Backend, TestApp, brussels, spawn_app, spawn_app_with, spawn_with};
use crate::on_both_backends;
use crate::support::jalon;

/// The Chambre de recours appeal whose list of members is received on Friday 18 December
/// 2026: the `liste-membres` notice goes to every requérant.
async fn list_sent(app: &TestApp, key: &str) -> String {
    let secretaire = app
        .actor(&format!("Secrétaire {key}"), &["chambre_secretaire"])
        .await;
    app.clock.set(brussels(2026, 12, 18, 12));
    let id = super::api::recours(app, &secretaire, key).await;
    super::api::list_received(app, &secretaire, &id, "2026-12-18").await;
    id
}

async fn notices(app: &TestApp, id: &str) -> Vec<Value> {
    let r = app
        .get(&app.admin, &format!("/api/v1/cases/{id}/notices"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.as_array().unwrap().clone()
}

/// A stored template nested a thousand blocks deep (altered after deployment: validation
/// refuses it) used to overflow the stack of the dispatcher's thread and abort the process,
/// again after every restart. Now its notice goes dead with the reason.
async fn deeply_nested_stored_template_goes_dead(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = spawn_app(backend).await;
    app.actor("Jean Dupont", &["requerant"]).await;
    let id = list_sent(&app, "CR-DEEP").await;
    let deep = "{{#if case}}".repeat(1000) + "x" + &"{{/if}}".repeat(1000);
    app.app
        .state
        .store
        .db()
        .execute_unprepared(&format!(
            "UPDATE workflow_versions SET templates = \
             REPLACE(templates, '{{{{deadline.long}}}}', '{deep}') \
             WHERE workflow_id = 'chambre-recours'"
        ))
        .await
        .unwrap();
    // A process that reads the altered version (this one has the original in memory).
    let (cfg, data, clock) = (app.cfg.clone(), app.data(), app.clock.clone());
    drop(app);
    let app = spawn_with(cfg, data, clock).await;
    let pass = app.deliver().await;
    assert_eq!((pass.sent, pass.dead, pass.errors), (0, 1, 0), "{pass:?}");
    let n = &notices(&app, &id).await[0];
    assert_eq!(n["status"], "dead");
    let error = n["last_error"].as_str().unwrap();
    assert!(
        error.contains(".hbs:1:") && error.contains("more than 16 deep"),
        "{error}"
    );
    let stuck = app.stuck_for("notice_failing").await;
    assert!(stuck.iter().any(|s| s["notice_id"] == n["id"]), "{stuck:?}");
}

/// Deploying such a template through the API is refused with the template check's code.
async fn deploying_a_deep_or_raw_html_template_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (source, mut templates) = super::harness::shipped("chambre-recours");
    let deep = "{{#if case}}".repeat(1000) + &"{{/if}}".repeat(1000);
    templates.insert("liste-membres.text".into(), deep);
    templates.insert(
        "liste-membres.html".into(),
        "<p>{{{vars.matiere}}}</p>".into(),
    );
    let r = app.deploy(&source, &templates).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let msg = r.body["message"].as_str().unwrap();
    assert!(
        msg.contains("template-too-deep") && msg.contains("template-raw-html"),
        "{msg}"
    );
}

/// An actor whose stored name has a line break (from before names were checked, or written
/// around the CLI) used to make lettre panic: the notice stayed pending forever, with no error
/// and not in the stuck list. It goes dead with the reason and is listed.
async fn header_injection_in_a_name_goes_dead_and_is_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.actor("Jean Dupont", &["requerant"]).await;
    let store = &app.app.state.store;
    actor::Entity::update_many()
        .col_expr(
            actor::Column::Name,
            Expr::value("Jean\r\nBcc: x@evil.example"),
        )
        .filter(actor::Column::Email.eq("jean.dupont@example.org"))
        .exec(store.db())
        .await
        .unwrap();
    let id = list_sent(&app, "CR-CRLF").await;
    let pass = app.deliver().await;
    assert_eq!((pass.sent, pass.dead, pass.errors), (0, 1, 0), "{pass:?}");
    let n = &notices(&app, &id).await[0];
    assert_eq!(n["status"], "dead");
    let error = n["last_error"].as_str().unwrap();
    assert!(error.contains("control character"), "{error}");
    let stuck = app.stuck_for("notice_failing").await;
    assert!(
        stuck
            .iter()
            .any(|s| s["notice_id"] == n["id"] && s["case_id"] == id.as_str()),
        "{stuck:?}"
    );
    // Adding such an actor is refused, whatever the backend.
    let refused = store
        .add_actor(
            "Jean\r\nBcc: x@evil.example",
            "jean2@example.org",
            &["requerant".into()],
            app.clock_now(),
        )
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("control character"),
        "{refused}"
    );
}

/// A relay that accepts connections and never says a word, on loopback; returns its port and
/// a channel that hears of each connection.
async fn silent_relay() -> (u16, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
            let _ = tx.send(());
        }
    });
    (port, rx)
}

/// SIGTERM while the relay never answers: the dispatcher used to go on claiming and trying
/// notices for minutes. Now it starts no other notice, its pass ends within one SMTP timeout
/// and the time to record, and every notice is still there to send (left to its lease).
async fn shutdown_is_bounded_when_the_relay_never_answers(backend: Backend) {
    let (port, mut connections) = silent_relay().await;
    let timeout_secs = 1;
    let app = spawn_app_with(
        backend,
        jalon::server::notice_config::NoticeConfig {
            from: Some("Jalon FWB <jalon@ecoles.example.be>".into()),
            public_url: None,
            smtp: Some(SmtpConfig {
                host: "127.0.0.1".into(),
                port: Some(port),
                tls: TlsMode::None,
                username: None,
                password: None,
                from: String::new(),
                timeout_secs,
                pool_size: 1,
                ca_file: None,
            }),
            ..Default::default()
        },
    )
    .await;
    // Forty recipients: one at a time against a silent relay, forty timeouts in a row.
    for i in 0..40 {
        app.actor(&format!("Requerant {i}"), &["requerant"]).await;
    }
    let id = list_sent(&app, "CR-SILENT").await;
    assert_eq!(notices(&app, &id).await.len(), 40);

    let dispatcher = app.app.dispatcher.clone();
    let bound = dispatcher.shutdown_bound();
    assert_eq!(bound, Duration::from_secs(timeout_secs + 5));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(dispatcher.run(stopped));
    tokio::time::timeout(Duration::from_secs(30), connections.recv())
        .await
        .expect("the dispatcher connects to the relay")
        .unwrap();
    stop.send(true).unwrap();
    // A liveness bound (the process must be able to exit), not a speed: the pass's own bound,
    // and as much again for a loaded machine. Before, it took a timeout per notice at least.
    tokio::time::timeout(bound * 2, running)
        .await
        .expect("the dispatcher stops within its bound")
        .unwrap();

    let all = notices(&app, &id).await;
    assert!(all.iter().all(|n| n["status"] == "pending"), "{all:?}");
    let untried = all.iter().filter(|n| n["attempts"] == 0).count();
    assert!(untried >= 38, "left to their lease: {all:?}");
    // Not lost: once the lease has run out, another process claims every one of them.
    let later = app.clock_now() + chrono::Duration::hours(1);
    let claimed = app
        .app
        .state
        .store
        .claim_notices("another-process", later, chrono::Duration::minutes(2), 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 40);
}

on_both_backends!(
    deeply_nested_stored_template_goes_dead,
    deploying_a_deep_or_raw_html_template_is_refused,
    header_injection_in_a_name_goes_dead_and_is_listed,
    shutdown_is_bounded_when_the_relay_never_answers,
);

/// `jalon actors add` refuses a name with a line break (exit 2, one clear line) and writes
/// nothing.
#[test]
fn the_cli_refuses_a_name_with_a_line_break() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().display().to_string();
    let run = jalon(&[
        "actors",
        "add",
        "--name",
        "a\r\nBcc: x@y",
        "--email",
        "a@example.org",
        "--roles",
        "requerant",
        "--data",
        &dir,
    ]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("line break or another control character"),
        "{}",
        run.stderr
    );
    let list = jalon(&["actors", "list", "--data", &dir]);
    assert_eq!(
        (list.code, list.stdout.as_str()),
        (0, ""),
        "{}",
        list.stderr
    );
}

/// `jalon validate` used to accept a thousand nested blocks; it refuses them at the block that
/// goes too deep, with the inline partial that calls itself and the raw HTML.
#[test]
fn validate_refuses_deep_recursive_and_raw_html_templates() {
    let from = super::harness::workflows_dir().join("chambre-recours");
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("chambre-recours");
    std::fs::create_dir_all(to.join("templates")).unwrap();
    std::fs::copy(from.join("workflow.yaml"), to.join("workflow.yaml")).unwrap();
    for entry in std::fs::read_dir(from.join("templates")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join("templates").join(path.file_name().unwrap())).unwrap();
    }
    let deep = "Bonjour\n".to_string() + &"{{#if case}}".repeat(1000) + &"{{/if}}".repeat(1000);
    let templates = to.join("templates");
    std::fs::write(templates.join("liste-membres.text.hbs"), deep).unwrap();
    std::fs::write(
        templates.join("liste-membres.subject.hbs"),
        "{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}",
    )
    .unwrap();
    std::fs::write(
        templates.join("liste-membres.html.hbs"),
        "<p>{{{vars.matiere}}}</p>",
    )
    .unwrap();
    let run = jalon(&["validate", &dir.path().display().to_string()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let t = templates.display();
    for line in [
        format!("{t}/liste-membres.html.hbs:1:4: error[template-raw-html]"),
        format!("{t}/liste-membres.subject.hbs:1:1: error[template-syntax]"),
        format!(
            "{t}/liste-membres.text.hbs:2:{}: error[template-too-deep]",
            12 * 16 + 1
        ),
    ] {
        assert!(run.stdout.contains(&line), "{line}\n{}", run.stdout);
    }
}
