//! Deployment through the API runs the checks of `jalon validate` (templates included), is
//! bounded by the workflow limits, and is serialised: concurrent deploys of one text make one
//! version.

use engine::definition::{limits, sample};
use serde_json::{Value, json};

use super::harness::{Backend, shipped, spawn_app};
use crate::on_both_backends;

/// The diagnostics of a 422, as `(file, line, column, code)`.
fn diagnostics(body: &Value) -> Vec<(String, u64, u64, String)> {
    body["details"]["diagnostics"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|d| {
            (
                d["file"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
                d["column"].as_u64().unwrap(),
                d["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Templates that `jalon validate` refuses (a partial, a syntax error, an unknown path) are
/// refused by the API too, each with its file, line, column and code; nothing is stored.
async fn template_errors_are_refused_like_validate(backend: Backend) {
    let app = spawn_app(backend).await;
    let (source, templates) = shipped("chambre-recours");
    let name = templates
        .keys()
        .find(|k| k.ends_with(".text"))
        .unwrap()
        .clone();
    for (text, code, line, column) in [
        ("Bonjour\n{{> signature}}\n", "template-syntax", 2, 1),
        ("Bonjour {{#if case.key}}\n", "template-syntax", 2, 1),
        (
            "Bonjour\n  {{vars.inconnue}}\n",
            "template-unknown-variable",
            2,
            3,
        ),
    ] {
        let mut broken = templates.clone();
        broken.insert(name.clone(), text.to_string());
        let r = app
            .deploy(&source.replace("title: ", "title: (v2) "), json!(broken))
            .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (422, Some("invalid_workflow")),
            "{text}: {}",
            r.body
        );
        let file = format!("<deployed>/templates/{name}.hbs");
        let found = diagnostics(&r.body);
        assert!(
            found
                .iter()
                .any(|d| (d.0.as_str(), d.1, d.3.as_str()) == (file.as_str(), line, code)),
            "{text}: {found:?}"
        );
        let at = found.iter().find(|d| d.0 == file).unwrap();
        if code == "template-unknown-variable" {
            assert_eq!(at.2, column, "{found:?}");
        }
        let msg = r.body["message"].as_str().unwrap();
        assert!(msg.contains(&format!("{file}:{line}:")), "{msg}");
        assert!(msg.contains(&format!("error[{code}]")), "{msg}");
    }
    let v = app
        .get(&app.admin, "/api/v1/workflows/chambre-recours/versions")
        .await;
    assert_eq!(v.body.as_array().map(Vec::len), Some(1), "{}", v.body);
}

/// A YAML mistake names the deployed text `<deployed>`, never a path of the server.
async fn yaml_errors_name_the_deployed_text(backend: Backend) {
    let app = spawn_app(backend).await;
    let (source, templates) = shipped("chambre-recours");
    let broken = source.replacen("title: ", "title: [", 1);
    let r = app.deploy(&broken, json!(templates)).await;
    r.assert_refused(422, "invalid_workflow");
    let msg = r.body["message"].as_str().unwrap();
    assert!(
        msg.starts_with("<deployed>/workflow.yaml:") && msg.contains("error[yaml]"),
        "{msg}"
    );
    let temp = std::env::temp_dir().display().to_string();
    assert!(!msg.contains(&temp), "{msg}");
    assert_eq!(diagnostics(&r.body)[0].3, "yaml");
}

/// A workflow over a limit is refused with the limit's name, its maximum and the value; a
/// large one within the limits deploys.
async fn limits_bound_a_deployment(backend: Backend) {
    let app = spawn_app(backend).await;
    let over = limits::MAX_STATES + 1;
    let r = app.deploy(&sample::chain(over), json!({})).await;
    r.assert_refused(422, "limit_exceeded");
    assert_eq!(
        (
            r.body["details"]["limit"].as_str(),
            r.body["details"]["max"].as_u64(),
            r.body["details"]["value"].as_u64()
        ),
        (
            Some("states"),
            Some(limits::MAX_STATES as u64),
            Some(over as u64)
        ),
        "{}",
        r.body["details"]["limit"]
    );
    assert_eq!(diagnostics(&r.body)[0].3, "limit-exceeded");
    let r = app
        .deploy(&sample::many_events(limits::MAX_EVENTS + 1), json!({}))
        .await;
    assert_eq!(
        (r.status, r.body["details"]["limit"].as_str()),
        (422, Some("events")),
        "{}",
        r.body["message"]
    );
    let r = app.deploy(&sample::chain(2_000), json!({})).await;
    assert_eq!(
        (r.status, r.body["version"].as_i64()),
        (201, Some(1)),
        "{}",
        r.body
    );
}

/// Several deploys of one changed workflow at once (three `jalon serve` starting on one
/// database, a rolling restart): every one succeeds and exactly one new version is stored. A
/// folder with one small workflow, so that the deploys meet in the database rather than queue
/// behind their checks.
async fn concurrent_deploys_make_one_version(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = app.app.state.store.clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("evenements")).unwrap();
    let path = dir.path().join("evenements/workflow.yaml");
    let first = sample::many_events(2);
    // Rounds of 12 at once, each a new text: the race is a few milliseconds wide.
    for round in 1..=5 {
        let text = first.replace("title: ", &format!("title: v{round} "));
        std::fs::write(&path, text).unwrap();
        let runs = (0..12).map(|_| {
            let (store, dir) = (store.clone(), dir.path().to_path_buf());
            let now = app.clock_now();
            tokio::spawn(async move { store.deploy_dir(&dir, None, now).await })
        });
        let mut done = Vec::new();
        for run in futures_util::future::join_all(runs).await {
            let report = run.unwrap().expect("every concurrent deploy succeeds");
            assert!(report.refused.is_empty(), "{:?}", report.refused);
            done.extend(report.deployed);
        }
        assert!(done.iter().all(|d| d.version == round), "{done:?}");
        assert_eq!(done.iter().filter(|d| d.changed).count(), 1, "{done:?}");
    }
    let v = app
        .get(&app.admin, "/api/v1/workflows/evenements/versions")
        .await;
    assert_eq!(v.body.as_array().map(Vec::len), Some(5), "{}", v.body);
}

on_both_backends!(
    template_errors_are_refused_like_validate,
    yaml_errors_name_the_deployed_text,
    limits_bound_a_deployment,
    concurrent_deploys_make_one_version,
);
