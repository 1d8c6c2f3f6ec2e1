//! The "Procédures" pages over real HTTP with a real session cookie: the list shows only the
//! workflows the viewer takes part in (the API's rule for cases), a workflow's page shows its
//! versions, its SVG diagram and the tables of `docs/procedures.md`, and the check page
//! reports `jalon validate`'s diagnostics with line:column for administrators only, deploying
//! nothing. Every browser signs in as a person does (`web_client`).

use std::collections::BTreeSet;

use super::harness::{Backend, TestApp, shipped, spawn_app};
use super::web_client::{PageReply, WebClient};
use crate::on_both_backends;

/// A signed-in browser (`web_client`: the link read from the sign-in mail's `.eml`).
struct Browser(WebClient);

struct Page {
    status: u16,
    body: String,
}

impl From<PageReply> for Page {
    fn from(r: PageReply) -> Page {
        Page {
            status: r.status,
            body: r.body,
        }
    }
}

async fn browser(app: &TestApp, email: &str) -> Browser {
    Browser(app.sign_in(email).await)
}

impl Browser {
    async fn get(&self, path: &str) -> Page {
        self.0.get_page(path).await.into()
    }

    /// Posts a form; `_csrf` is added unless `csrf` is false.
    async fn post(&self, path: &str, fields: &[(&str, &str)], csrf: bool) -> Page {
        if csrf {
            self.0.post_page(path, fields).await.into()
        } else {
            self.0.post_page_exact(path, fields).await.into()
        }
    }

    /// Posts `multipart/form-data`, as a browser sends a form with a file: each part is a name,
    /// a file name for a file, and bytes. `_csrf` is added first unless `csrf` is false.
    async fn post_multipart(
        &self,
        path: &str,
        parts: &[(&str, Option<&str>, &[u8])],
        csrf: bool,
    ) -> Page {
        const BOUNDARY: &str = "----jalon-test-7d1f0c";
        let mut body = Vec::new();
        let token = self.0.csrf().to_owned();
        let mut all: Vec<(&str, Option<&str>, &[u8])> = Vec::new();
        if csrf {
            all.push(("_csrf", None, token.as_bytes()));
        }
        all.extend_from_slice(parts);
        for (name, file, bytes) in all {
            body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            match file {
                Some(f) => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                         Content-Type: application/yaml\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        let r = self
            .0
            .request(reqwest::Method::POST, path)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        self.0.send(r).await.into()
    }
}

/// Text as maud escapes it in the page.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The workflow ids the list page links to.
fn listed(body: &str) -> BTreeSet<String> {
    body.split("href=\"/workflows/")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .filter(|id| id != "verifier")
        .collect()
}

/// Every stored version, as (workflow, version).
async fn versions(app: &TestApp) -> Vec<(String, i32)> {
    app.app
        .state
        .store
        .workflow_versions(None)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.workflow_id, v.version))
        .collect()
}

/// The refusal page's stable code.
fn code_of(body: &str) -> &str {
    let at = body.find("Code : <code>").expect("an error page") + "Code : <code>".len();
    &body[at..at + body[at..].find('<').unwrap()]
}

async fn a_role_actor_sees_only_their_workflows(backend: Backend) {
    let app = spawn_app(backend).await;
    app.actor("Presidente", &["president"]).await;
    app.actor("Operatrice", &["operator"]).await;
    let president = browser(&app, "presidente@example.org").await;
    let operator = browser(&app, "operatrice@example.org").await;
    let admin = browser(&app, "admin@example.org").await;

    let list = president.get("/workflows").await;
    assert_eq!(list.status, 200, "{}", list.body);
    // `president` is a role of the appeal chamber's procedure only.
    assert_eq!(
        listed(&list.body),
        BTreeSet::from(["chambre-recours".to_owned()])
    );
    assert!(list.body.contains("Chambre de recours"), "{}", list.body);
    assert!(
        !list.body.contains("/workflows/verifier"),
        "only administrators are offered the check"
    );

    let every: BTreeSet<String> = versions(&app).await.into_iter().map(|(w, _)| w).collect();
    assert!(every.len() > 10, "{every:?}");
    for viewer in [&operator, &admin] {
        let list = viewer.get("/workflows").await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert_eq!(listed(&list.body), every);
    }

    // A workflow in which none of their roles appears is refused, as its cases are.
    let refused = president.get("/workflows/bilan-annuel").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(code_of(&refused.body), "forbidden");
    assert!(!refused.body.contains("<svg"));
    let refused = president.get("/workflows/bilan-annuel?version=1").await;
    assert_eq!(refused.status, 403);
    let missing = president.get("/workflows/nulle-part").await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert_eq!(code_of(&missing.body), "workflow_not_found");
    assert_eq!(
        president.get("/workflows/chambre-recours").await.status,
        200
    );
    assert_eq!(operator.get("/workflows/bilan-annuel").await.status, 200);
}

async fn a_workflow_page_shows_its_diagram_and_tables(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = browser(&app, "admin@example.org").await;
    let page = admin.get("/workflows/chambre-recours").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;

    // The diagram, inline, with its caption.
    let figure = body
        .find("<figure class=\"diagram\"")
        .expect("a diagram figure");
    let svg = body[figure..].find("<svg").expect("an inline SVG") + figure;
    let caption = body[figure..].find("<figcaption>").expect("a caption") + figure;
    let closed = body[figure..].find("</figure>").unwrap() + figure;
    assert!(svg < caption && caption < closed);
    assert!(body[svg..closed].contains("role=\"img\""));

    // The tables say what the workflow file says: every state, role, move and deadline.
    let (source, _) = shipped("chambre-recours");
    let wf = engine::definition::parse(&source).unwrap();
    for heading in [
        "Versions",
        "Diagramme",
        "Rôles",
        "États",
        "Transitions",
        "Délais",
        "Articles cités",
    ] {
        assert!(body.contains(&format!("<h2>{heading}</h2>")), "{heading}");
    }
    for (id, state) in &wf.states {
        let row = format!(
            "<td data-label=\"Identifiant\"><code>{}</code></td>",
            esc(id)
        );
        assert!(body.contains(&row), "state {id}");
        assert!(body.contains(&esc(&state.label)), "label of {id}");
    }
    for label in wf.roles.values() {
        assert!(body.contains(&esc(label)), "role {label}");
    }
    let moves = engine::definition::graph::transitions(&wf)
        .iter()
        .map(|t| engine::definition::graph::sources(&wf, t).len())
        .sum::<usize>();
    assert_eq!(
        body.matches("<td data-label=\"Déclencheur\">").count(),
        moves
    );
    let deadlines = jalon::procedure_facts::deadlines(&wf);
    assert!(!deadlines.is_empty());
    assert_eq!(
        body.matches("<td data-label=\"Durée\">").count(),
        deadlines.len()
    );
    for d in &deadlines {
        assert!(
            body.contains(&format!("<td data-label=\"Durée\">{}</td>", esc(&d.length))),
            "{d:?}"
        );
    }
    assert!(
        body.contains(&esc(&wf
            .legal_basis
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")))
    );
    assert!(
        body.contains("au démarrage du serveur"),
        "deployed at start"
    );

    // A second version: the page shows the newest, `?version=1` the first.
    let first = "id: essai-pages\ntitle: Essai des pages\nlegal_basis: Art. 1er\n\
        roles: { agent: Agent }\nstart: { by: [agent] }\ninitial: ouvert\nstates:\n  \
        ouvert:\n    label: Ouvert au public\n    on:\n      clore: { by: [agent], goto: clos }\n  \
        clos:\n    label: Clos\n    final: true\n";
    let second = first.replace("Ouvert au public", "Ouvert aux agents");
    assert_eq!(app.deploy(first, serde_json::json!({})).await.status, 201);
    assert_eq!(app.deploy(&second, serde_json::json!({})).await.status, 201);
    let newest = admin.get("/workflows/essai-pages").await;
    assert_eq!(newest.status, 200, "{}", newest.body);
    assert!(newest.body.contains("Ouvert aux agents"));
    assert!(!newest.body.contains("Ouvert au public"));
    assert!(
        newest
            .body
            .contains("href=\"/workflows/essai-pages?version=1\"")
    );
    assert!(
        newest.body.contains(">Admin</td>"),
        "deployed by the administrator"
    );
    let older = admin.get("/workflows/essai-pages?version=1").await;
    assert_eq!(older.status, 200, "{}", older.body);
    assert!(older.body.contains("Ouvert au public"));
    assert!(!older.body.contains("Ouvert aux agents<"));
    assert!(older.body.contains("ancienne version"));
    for bad in ["?version=9", "?version=x"] {
        let missing = admin.get(&format!("/workflows/essai-pages{bad}")).await;
        assert_eq!(missing.status, 404, "{bad}");
        assert_eq!(code_of(&missing.body), "workflow_version_not_found");
    }
}

/// A transition to a state that does not exist, among other broken targets.
const BROKEN: &str = include_str!("../../fixtures/broken/unknown-target.yaml");

async fn the_check_page_reports_line_and_column_and_deploys_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = browser(&app, "admin@example.org").await;
    let form = admin.get("/workflows/verifier").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("<label for=\"source\">"));
    assert!(
        form.body
            .contains("<textarea class=\"yaml\" id=\"source\" name=\"source\"")
    );
    let before = versions(&app).await;

    let checked = admin
        .post("/workflows/verifier", &[("source", BROKEN)], true)
        .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    let body = &checked.body;
    // As `jalon validate` prints them: tests/fixtures/broken/unknown-target.yaml:24:15 …
    for at in ["20:15", "24:15", "29:19", "32:16"] {
        assert!(
            body.contains(&format!("<code class=\"position\">{at}</code>")),
            "{at} in {body}"
        );
    }
    assert!(body.contains("<code>unknown-state</code>"));
    assert!(body.contains("<td data-label=\"Gravité\">erreur</td>"));
    assert!(body.contains(&esc("did you mean `clos`?")));
    assert!(body.contains("Ce fichier serait refusé : 5 erreurs, 0 avertissement."));
    // The text stays in the field.
    let field = body.find("name=\"source\"").expect("the field");
    assert!(
        body[field..].contains(&format!(">\n{}</textarea>", esc(BROKEN))),
        "the text is kept"
    );
    // A browser sends a text area's lines ended by CRLF: the same places are found.
    let crlf = admin
        .post(
            "/workflows/verifier",
            &[("source", &BROKEN.replace('\n', "\r\n"))],
            true,
        )
        .await;
    assert_eq!(crlf.status, 200);
    for at in ["20:15", "24:15", "29:19", "32:7", "32:16"] {
        assert!(
            crlf.body
                .contains(&format!("<code class=\"position\">{at}</code>")),
            "{at} in {}",
            crlf.body
        );
    }
    assert_eq!(versions(&app).await, before, "nothing deployed");

    // A valid text: no problem, and still nothing deployed, even a new workflow.
    let valid = BROKEN
        .replace("goto: expire", "goto: clos")
        .replace("goto: cols", "goto: clos")
        .replace("goto: prioritaire", "goto: clos")
        .replace("    on_child:\n      termine: archive\n", "");
    let ok = admin
        .post("/workflows/verifier", &[("source", &valid)], true)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(
        ok.body.contains("Aucun problème : ce fichier est valide."),
        "{}",
        ok.body
    );
    // A shipped workflow is checked with its deployed templates: no missing template.
    let (shipped_text, _) = shipped("chambre-recours");
    let ok = admin
        .post("/workflows/verifier", &[("source", &shipped_text)], true)
        .await;
    assert!(
        ok.body.contains("Aucun problème : ce fichier est valide."),
        "{}",
        ok.body
    );
    // A YAML syntax error is placed too.
    let syntax = admin
        .post("/workflows/verifier", &[("source", "id: [x\n")], true)
        .await;
    assert_eq!(syntax.status, 200);
    assert!(
        syntax
            .body
            .contains("<td data-label=\"Gravité\">erreur</td>")
    );
    assert!(syntax.body.contains("<code class=\"position\">"));
    // An empty text is asked again.
    let empty = admin
        .post("/workflows/verifier", &[("source", "  ")], true)
        .await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("aria-invalid=\"true\""));
    assert_eq!(versions(&app).await, before, "nothing deployed");
}

async fn the_check_page_is_for_administrators_with_their_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.actor("Operatrice", &["operator"]).await;
    app.actor("Presidente", &["president"]).await;
    let admin = browser(&app, "admin@example.org").await;
    let before = versions(&app).await;
    for email in ["operatrice@example.org", "presidente@example.org"] {
        let other = browser(&app, email).await;
        let page = other.get("/workflows/verifier").await;
        assert_eq!(page.status, 403, "{email}: {}", page.body);
        assert_eq!(code_of(&page.body), "forbidden");
        assert!(!page.body.contains("<textarea"));
        let posted = other
            .post("/workflows/verifier", &[("source", BROKEN)], true)
            .await;
        assert_eq!(posted.status, 403, "{email}");
        assert!(!posted.body.contains("unknown-state"));
    }
    // Without its CSRF token, an administrator's post is refused before anything is read.
    let forged = admin
        .post("/workflows/verifier", &[("source", BROKEN)], false)
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(code_of(&forged.body), "csrf_failed");
    assert!(!forged.body.contains("unknown-state"));
    let wrong = admin
        .post(
            "/workflows/verifier",
            &[("source", BROKEN), ("_csrf", "pas-le-bon")],
            false,
        )
        .await;
    assert_eq!(wrong.status, 403);
    assert_eq!(code_of(&wrong.body), "csrf_failed");
    assert_eq!(versions(&app).await, before, "nothing deployed");

    // Without a session, the page leads to sign-in and back.
    let anonymous = WebClient::anonymous(&app)
        .get_page("/workflows/verifier")
        .await;
    assert_eq!(
        (anonymous.status, anonymous.location.as_deref()),
        (303, Some("/connexion?suite=%2Fworkflows%2Fverifier"))
    );
}

async fn an_uploaded_file_is_checked_the_same_way(backend: Backend) {
    let app = spawn_app(backend).await;
    app.actor("Operatrice", &["operator"]).await;
    let admin = browser(&app, "admin@example.org").await;
    let form = admin.get("/workflows/verifier").await;
    assert!(form.body.contains("enctype=\"multipart/form-data\""));
    assert!(form.body.contains("<label for=\"fichier\">"));
    let before = versions(&app).await;

    let file = "/workflows/verifier/fichier";
    let checked = admin
        .post_multipart(
            file,
            &[("fichier", Some("workflow.yaml"), BROKEN.as_bytes())],
            true,
        )
        .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    for at in ["20:15", "24:15", "29:19", "32:7", "32:16"] {
        assert!(
            checked
                .body
                .contains(&format!("<code class=\"position\">{at}</code>")),
            "{at} in {}",
            checked.body
        );
    }
    assert!(
        checked
            .body
            .contains(&format!(">\n{}</textarea>", esc(BROKEN))),
        "the file's text is put in the text area"
    );

    // Not UTF-8: a diagnostic, as `jalon validate` reports such a file.
    let latin1 = b"id: essai\ntitle: \xe9t\xe9\n";
    let refused = admin
        .post_multipart(file, &[("fichier", Some("workflow.yaml"), latin1)], true)
        .await;
    assert_eq!(refused.status, 200, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("<td data-label=\"Gravité\">erreur</td>")
    );
    assert!(refused.body.contains("<code class=\"position\">2:"));
    // No file chosen: asked again.
    let none = admin
        .post_multipart(file, &[("fichier", Some(""), b"")], true)
        .await;
    assert_eq!(none.status, 200);
    assert!(none.body.contains("id=\"fichier-erreur\""));

    // Without the token, or by someone else than an administrator: refused, nothing read.
    let forged = admin
        .post_multipart(
            file,
            &[("fichier", Some("workflow.yaml"), BROKEN.as_bytes())],
            false,
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(code_of(&forged.body), "csrf_failed");
    let operator = browser(&app, "operatrice@example.org").await;
    let other = operator
        .post_multipart(
            file,
            &[("fichier", Some("workflow.yaml"), BROKEN.as_bytes())],
            true,
        )
        .await;
    assert_eq!(other.status, 403, "{}", other.body);
    assert_eq!(code_of(&other.body), "forbidden");
    assert!(!other.body.contains("unknown-state"));
    assert_eq!(versions(&app).await, before, "nothing deployed");
}

on_both_backends!(
    an_uploaded_file_is_checked_the_same_way,
    a_role_actor_sees_only_their_workflows,
    a_workflow_page_shows_its_diagram_and_tables,
    the_check_page_reports_line_and_column_and_deploys_nothing,
    the_check_page_is_for_administrators_with_their_token,
);
