//! The migration page (`/workflows/{id}/migration`) over real HTTP with a real session: only an
//! administrator may use it; a mapping with errors is shown with its line:column and moves
//! nothing; "Simuler" shows each case's plan in French (the same sentences as the API's dry
//! run) and moves nothing; "Migrer" moves the cases (a new version and a history row, seen
//! through the API) and then says how many moved; a post without the CSRF token is refused.
//! Versions and cases come from the API's migration tests (`migrations::cases_on_v1`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::harness::{Backend, TestApp, brussels, spawn_app};
use super::migrations::{MAPPING, cases_on_v1};
use super::web_client::WebClient;
use crate::on_both_backends;

const PAGE: &str = "/workflows/migration-e2e/migration";

/// Text as maud escapes it in the page.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The refusal page's stable code.
fn code_of(body: &str) -> &str {
    let at = body.find("Code : <code>").expect("an error page") + "Code : <code>".len();
    &body[at..at + body[at..].find('<').unwrap()]
}

/// Each case's (version, number of history rows), by key, as the API shows them.
async fn versions_and_history(
    app: &TestApp,
    ids: &BTreeMap<&'static str, String>,
) -> BTreeMap<&'static str, (i64, usize)> {
    let mut out = BTreeMap::new();
    for (key, id) in ids {
        let c = app.get(&app.admin, &format!("/api/v1/cases/{id}")).await;
        assert_eq!(c.status, 200, "{}", c.body);
        let h = app
            .get(&app.admin, &format!("/api/v1/cases/{id}/history"))
            .await;
        assert_eq!(h.status, 200, "{}", h.body);
        let rows = h.body.as_array().unwrap().len();
        out.insert(*key, (c.body["version"].as_i64().unwrap(), rows));
    }
    out
}

async fn on_v1(backend: Backend) -> (TestApp, BTreeMap<&'static str, String>) {
    let app = spawn_app(backend).await;
    let ids = cases_on_v1(&app).await;
    app.clock.set(brussels(2026, 12, 16, 12));
    (app, ids)
}

fn fields<'a>(mapping: &'a str, action: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("to_version", "2"),
        ("mapping", mapping),
        ("reason", "Circulaire : délai porté à 15 jours"),
        ("action", action),
    ]
}

async fn only_an_administrator_may_migrate(backend: Backend) {
    let (app, ids) = on_v1(backend).await;
    let before = versions_and_history(&app, &ids).await;
    let chambre = app.sign_in("chambre@example.org").await;
    let admin = app.sign_in("admin@example.org").await;

    // The procedure page offers the migration to administrators only.
    let (status, body) = chambre.get("/workflows/migration-e2e").await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(PAGE), "{body}");
    let (status, body) = admin.get("/workflows/migration-e2e").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("href=\"{PAGE}\"")), "{body}");

    let (status, body) = chambre.get(PAGE).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code_of(&body), "forbidden");
    assert!(!body.contains("<textarea"), "{body}");
    for action in ["migrer", "simuler"] {
        let (status, body) = chambre.post_form(PAGE, &fields(MAPPING, action)).await;
        assert_eq!(status, 403, "{action}: {body}");
        assert_eq!(code_of(&body), "forbidden");
    }
    let token = chambre.csrf().to_owned();
    let (status, body) = post_multipart(
        &chambre,
        &format!("{PAGE}/fichier"),
        &[
            ("_csrf", None, token.as_bytes()),
            ("to_version", None, b"2"),
            ("fichier", Some("v2.yaml"), MAPPING.as_bytes()),
        ],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code_of(&body), "forbidden");
    assert_eq!(versions_and_history(&app, &ids).await, before);

    // The administrator's form offers version 2, the one newer than the open cases.
    let (status, body) = admin.get(PAGE).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<option value=\"2\">Version 2</option>"),
        "{body}"
    );
    assert!(!body.contains("<option value=\"1\">"), "{body}");
    assert!(body.contains("<label for=\"mapping\">"), "{body}");
    assert!(body.contains("<main id=\"contenu\""), "{body}");
}

async fn a_bad_mapping_shows_its_line_and_column_and_moves_nothing(backend: Backend) {
    let (app, ids) = on_v1(backend).await;
    let before = versions_and_history(&app, &ids).await;
    let admin = app.sign_in("admin@example.org").await;
    let bad =
        "from_version: 1\nstates: { instruction: nulle_part }\nvariables: { motif: motifs }\n";

    // The API's diagnostics of the same text give the positions the page must show.
    let api = app
        .post(
            &app.admin,
            "/api/v1/workflows/migration-e2e/migrations",
            json!({"to_version": 2, "mapping": bad, "dry_run": true}),
        )
        .await;
    assert_eq!(api.status, 422, "{}", api.body);
    let diagnostics = api.body["details"]["diagnostics"].as_array().unwrap();
    assert!(!diagnostics.is_empty());
    assert!(
        diagnostics.iter().any(|d| d["line"] == 2),
        "{diagnostics:?}"
    );

    for action in ["simuler", "migrer"] {
        let (status, body) = admin.post_form(PAGE, &fields(bad, action)).await;
        assert_eq!(status, 422, "{action}: {body}");
        assert!(body.contains("aria-invalid=\"true\""), "{body}");
        let beside = body
            .find("id=\"mapping-erreur\"")
            .expect("an error beside the field");
        let field = body.find("<textarea").unwrap();
        assert!(
            beside < field,
            "the error comes before the field it is about"
        );
        assert!(
            body[beside..].contains("aucun dossier n&#39;a été modifié")
                || body[beside..].contains("aucun dossier n'a été modifié"),
            "{body}"
        );
        for d in diagnostics {
            let at = format!(
                "<code class=\"position\">{}:{}</code>",
                d["line"], d["column"]
            );
            assert!(body[beside..field].contains(&at), "{at} in {body}");
            assert!(body.contains(d["code"].as_str().unwrap()), "{body}");
        }
        // The text stays in the field, to be corrected.
        assert!(body.contains(&esc(bad)), "{body}");
        assert!(!body.contains("Simulation"), "{body}");
    }
    assert_eq!(versions_and_history(&app, &ids).await, before);
}

async fn the_dry_run_shows_each_plan_and_moves_nothing(backend: Backend) {
    let (app, ids) = on_v1(backend).await;
    let before = versions_and_history(&app, &ids).await;
    let admin = app.sign_in("admin@example.org").await;

    let (status, body) = admin.post_form(PAGE, &fields(MAPPING, "simuler")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Rien n'a été enregistré") || body.contains("Rien n&#39;a"));
    assert!(body.contains("4 dossiers seraient migrés"), "{body}");
    assert_eq!(versions_and_history(&app, &ids).await, before);

    // Each case's plan is the API's dry run, sentence for sentence, in French.
    let api = app
        .post(
            &app.admin,
            "/api/v1/workflows/migration-e2e/migrations",
            json!({"to_version": 2, "mapping": MAPPING, "dry_run": true}),
        )
        .await;
    assert_eq!(api.status, 200, "{}", api.body);
    let plans = api.body["cases"].as_array().unwrap();
    assert_eq!(plans.len(), 4);
    let mut recomputed = 0;
    for plan in plans {
        let heading = format!(
            "href=\"/cases/{}\">{}</a>",
            plan["case_id"].as_str().unwrap(),
            plan["key"].as_str().unwrap()
        );
        let at = body
            .find(&heading)
            .unwrap_or_else(|| panic!("{heading} in {body}"));
        let end = body[at..].find("</article>").unwrap() + at;
        for change in plan["changes"].as_array().unwrap() {
            let text = change["text"].as_str().unwrap();
            assert!(
                body[at..end].contains(&format!("<li>{}</li>", esc(text))),
                "{text} in {}",
                &body[at..end]
            );
            recomputed += usize::from(text.contains("recalculé : échéance le"));
        }
    }
    // Deadlines counted again from 10 to 15 working days, shown with long French dates.
    assert!(recomputed >= 3, "{body}");
    assert!(
        body.contains("état « instruction » devenu « examen »"),
        "{body}"
    );
    assert!(
        body.contains("décembre 2026") || body.contains("janvier 2027"),
        "{body}"
    );
    assert_eq!(versions_and_history(&app, &ids).await, before);
}

async fn migrer_moves_the_cases_and_says_how_many(backend: Backend) {
    let (app, ids) = on_v1(backend).await;
    let before = versions_and_history(&app, &ids).await;
    let admin = app.sign_in("admin@example.org").await;

    // Without the CSRF token: refused, nothing moved.
    let mut exact = fields(MAPPING, "migrer");
    let (status, body) = admin.post_form_exact(PAGE, &exact).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code_of(&body), "csrf_failed");
    exact.push(("_csrf", "pas-le-bon-jeton"));
    let (status, body) = admin.post_form_exact(PAGE, &exact).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(versions_and_history(&app, &ids).await, before);

    let (status, location) = admin.post_form(PAGE, &fields(MAPPING, "migrer")).await;
    assert_eq!(status, 303, "{location}");
    assert!(location.starts_with(PAGE), "{location}");
    let (status, body) = admin.get(&location).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("4 dossiers ont été migrés vers la version 2"),
        "{body}"
    );

    let after = versions_and_history(&app, &ids).await;
    for (key, id) in &ids {
        let (version, rows) = after[key];
        assert_eq!(version, 2, "{key}");
        assert_eq!(rows, before[key].1 + 1, "{key}: one history row more");
        let h = app
            .get(&app.admin, &format!("/api/v1/cases/{id}/history"))
            .await;
        let last: &Value = h.body.as_array().unwrap().last().unwrap();
        assert_eq!(last["trigger"], "migration v1 -> v2", "{last}");
        assert_eq!(last["reason"], "Circulaire : délai porté à 15 jours");
    }
    // Nothing is left to migrate: no version is offered any more.
    let (status, body) = admin.get(PAGE).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("<option"), "{body}");
    assert!(body.contains("il n'y a rien à migrer") || body.contains("il n&#39;y a rien"));
}

/// Posts `multipart/form-data` as a browser sends the file form: `(name, file name, bytes)`.
async fn post_multipart(
    web: &WebClient,
    path: &str,
    parts: &[(&str, Option<&str>, &[u8])],
) -> (u16, String) {
    const BOUNDARY: &str = "----jalon-migration-5b2e";
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match file {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                 Content-Type: application/yaml\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let r = web
        .request(reqwest::Method::POST, path)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("origin", web.base.as_str())
        .body(body);
    let reply = web.send(r).await;
    (reply.status, reply.body)
}

async fn an_uploaded_mapping_is_simulated_and_moves_nothing(backend: Backend) {
    let (app, ids) = on_v1(backend).await;
    let before = versions_and_history(&app, &ids).await;
    let admin = app.sign_in("admin@example.org").await;
    let path = format!("{PAGE}/fichier");
    let token = admin.csrf().to_owned();

    // Without the token: refused before the file is read.
    let (status, body) = post_multipart(
        &admin,
        &path,
        &[
            ("to_version", None, b"2"),
            ("fichier", Some("v2.yaml"), MAPPING.as_bytes()),
        ],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code_of(&body), "csrf_failed");

    let (status, body) = post_multipart(
        &admin,
        &path,
        &[
            ("_csrf", None, token.as_bytes()),
            ("to_version", None, b"2"),
            ("fichier", Some("v2.yaml"), MAPPING.as_bytes()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("4 dossiers seraient migrés"), "{body}");
    assert!(
        body.contains("état « instruction » devenu « examen »"),
        "{body}"
    );
    // The file's text is in the field, for "Migrer".
    assert!(
        body.contains(&format!("\n{}</textarea>", esc(MAPPING))),
        "{body}"
    );

    // A file that is not UTF-8 is a diagnostic with its position.
    let (status, body) = post_multipart(
        &admin,
        &path,
        &[
            ("_csrf", None, token.as_bytes()),
            ("to_version", None, b"2"),
            ("fichier", Some("v2.yaml"), b"states:\n  \xff: examen\n"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("<code class=\"position\">2:3</code>"),
        "{body}"
    );
    assert!(body.contains("invalid-encoding"), "{body}");
    assert_eq!(versions_and_history(&app, &ids).await, before);
}

on_both_backends!(
    an_uploaded_mapping_is_simulated_and_moves_nothing,
    only_an_administrator_may_migrate,
    a_bad_mapping_shows_its_line_and_column_and_moves_nothing,
    the_dry_run_shows_each_plan_and_moves_nothing,
    migrer_moves_the_cases_and_says_how_many,
);
