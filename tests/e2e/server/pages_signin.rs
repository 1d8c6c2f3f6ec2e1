//! Signing in to the pages without a password, over real HTTP on both backends: the link
//! through the outbox (read from the `.eml` the dispatcher writes), its single use, its 15
//! minutes, the session's idle end, sign-out, revocation, the CSRF and origin checks, the
//! limits per address and per client, the cookie's flags, and that no API route shows a
//! sign-in link to anyone.

use chrono::Duration;
use serde_json::Value;

use super::harness::{Backend, TestApp, spawn_app, spawn_app_with};
use super::web_client::{WebClient, cookie_value, link_in, sign_in_files, text_and_to};
use crate::on_both_backends;
use jalon::server::notice_config::NoticeConfig;
use notifiers::test_support::{leaves, parse_eml};

const SENT: &str = "Si cette adresse est connue, un lien de connexion vient d'y être envoyé. \
    Il est valable 15 minutes.";

async fn with_actor(backend: Backend) -> (TestApp, String) {
    let app = spawn_app(backend).await;
    app.actor("Anne Greffe", &["chambre_secretaire"]).await;
    (app, "anne.greffe@example.org".to_owned())
}

/// The sign-in rows of the outbox, as the operator's API lists them.
async fn sign_in_notices(app: &TestApp) -> Vec<Value> {
    let r = app.get(&app.admin, "/api/v1/operator/notices").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["template"] == "sign_in")
        .cloned()
        .collect()
}

async fn the_same_answer_for_any_address(backend: Backend) {
    let (app, email) = with_actor(backend).await;
    let web = WebClient::anonymous(&app);
    let (status, page) = web.get("/connexion").await;
    assert_eq!(status, 200);
    assert!(page.contains("<label for=\"email\">"), "{page}");
    assert!(page.contains("id=\"email\" name=\"email\""), "{page}");

    let known = web
        .post_form("/connexion", &[("email", &email.to_uppercase())])
        .await;
    let unknown = web
        .post_form("/connexion", &[("email", "personne@example.org")])
        .await;
    assert_eq!(known, (303, "/connexion?envoye=1".to_owned()));
    assert_eq!(unknown, known);
    let (status, page) = web.get(&known.1).await;
    assert_eq!(status, 200);
    assert!(page.contains(SENT), "{page}");

    // Only the known address gets a mail, addressed to it, with an absolute link to this
    // server (no public URL is configured: the listening address).
    let pass = app.deliver().await;
    assert_eq!(pass.sent, 1, "{pass:?}");
    let files = sign_in_files(&app);
    assert_eq!(files.len(), 1, "{files:?}");
    let (text, to) = text_and_to(files.iter().next().unwrap());
    assert_eq!(to, "Anne Greffe <anne.greffe@example.org>");
    // The link can be copied from the raw `.eml` file as it is (one short line, nothing
    // quoted-printable would break or escape).
    let link = link_in(&text).expect("a link");
    let raw = std::fs::read_to_string(files.iter().next().unwrap()).unwrap();
    assert!(raw.contains(&link), "{link} not verbatim in:\n{raw}");
    assert!(
        text.contains(&format!("{}/connexion/lien/", app.base)),
        "{text}"
    );
    assert!(text.contains("valable 15 minutes"), "{text}");
    assert_eq!(sign_in_notices(&app).await.len(), 1);

    // An empty address is refused beside its field, nothing queued.
    let (status, page) = web.post_form("/connexion", &[("email", " ")]).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("Indiquez votre adresse électronique."),
        "{page}"
    );
    assert_eq!(sign_in_notices(&app).await.len(), 1);
}

async fn a_link_signs_in_once_and_only_on_post(backend: Backend) {
    let (app, email) = with_actor(backend).await;
    let link = app.sign_in_link(&email, None).await;
    assert!(link.starts_with(&app.base), "{link}");
    let path = &link[app.base.len()..];

    // Opening the link (as a mail scanner would, twice) signs nobody in and uses nothing.
    let scanner = WebClient::anonymous(&app);
    for _ in 0..2 {
        let page = scanner.get_page(path).await;
        assert_eq!(page.status, 200);
        assert!(page.set_cookies.is_empty(), "{:?}", page.set_cookies);
        assert!(page.body.contains("Me connecter"), "{}", page.body);
    }

    let (reply, web) = app.follow_sign_in_link(&link).await;
    assert_eq!((reply.status, reply.location.as_deref()), (303, Some("/")));
    assert!(web.signed_in().await);
    assert!(!scanner.signed_in().await);
    // Signed in, the sign-in page sends on.
    assert_eq!(
        web.get("/connexion?suite=/workflows").await,
        (303, "/workflows".into())
    );

    // Second use: refused, in French, with a way to ask for a new link; no cookie.
    let (again, other) = app.follow_sign_in_link(&link).await;
    assert_eq!(again.status, 410, "{}", again.body);
    assert!(
        again.body.contains("Ce lien n'est plus valable"),
        "{}",
        again.body
    );
    assert!(again.body.contains("href=\"/connexion\""), "{}", again.body);
    assert!(again.set_cookies.is_empty());
    assert!(!other.signed_in().await);

    // A made-up token is refused the same way; a malformed one, as a bad request.
    let fake = "0".repeat(32);
    let r = scanner
        .post_page_exact("/connexion/lien", &[("jeton", &fake)])
        .await;
    assert_eq!(r.status, 410);
    let r = scanner
        .post_page_exact("/connexion/lien", &[("jeton", "abc")])
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(scanner.get_page("/connexion/lien/abc").await.status, 400);
}

async fn links_expire_after_fifteen_minutes(backend: Backend) {
    let (app, email) = with_actor(backend).await;
    let fresh = app.sign_in_link(&email, None).await;
    let stale = app.sign_in_link(&email, None).await;
    app.clock
        .advance(Duration::minutes(14) + Duration::seconds(59));
    let (reply, _) = app.follow_sign_in_link(&fresh).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    app.clock.advance(Duration::seconds(1));
    let (reply, web) = app.follow_sign_in_link(&stale).await;
    assert_eq!(reply.status, 410, "{}", reply.body);
    assert!(!web.signed_in().await);
}

async fn sessions_end_after_eight_idle_hours(backend: Backend) {
    let (app, email) = with_actor(backend).await;
    let web = app.sign_in(&email).await;
    // Used just before the end of each idle period, the session lives on.
    for _ in 0..2 {
        app.clock.advance(Duration::hours(8) - Duration::minutes(1));
        assert!(web.signed_in().await);
    }
    app.clock.advance(Duration::hours(8));
    assert!(!web.signed_in().await);
    // A new link opens a new session.
    assert!(app.sign_in(&email).await.signed_in().await);
}

async fn sign_out_ends_the_session_on_the_server(backend: Backend) {
    let (app, email) = with_actor(backend).await;
    let web = app.sign_in(&email).await;

    // Without the token, or with another one: refused, still signed in.
    let (status, page) = web.post_form_exact("/deconnexion", &[]).await;
    assert_eq!(status, 403);
    assert!(page.contains("csrf_failed"), "{page}");
    let (status, page) = web
        .post_form_exact("/deconnexion", &[("_csrf", &"f".repeat(64))])
        .await;
    assert_eq!(status, 403);
    assert!(page.contains("csrf_failed"), "{page}");
    assert!(web.signed_in().await);
    // Another session's token is not this one's.
    let other = app.sign_in(&email).await;
    let (status, _) = web
        .post_form_exact("/deconnexion", &[("_csrf", other.csrf())])
        .await;
    assert_eq!(status, 403);
    assert!(web.signed_in().await && other.signed_in().await);

    let reply = web.post_page("/deconnexion", &[]).await;
    assert_eq!(
        (reply.status, reply.location.as_deref()),
        (303, Some("/connexion?fin=1"))
    );
    let cleared = reply
        .set_cookies
        .iter()
        .find(|c| c.starts_with("jalon_session="))
        .expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(cookie_value(&reply.set_cookies, "jalon_session"), Some(""));
    // The old cookie, replayed, opens nothing; the other browser's session is untouched.
    assert!(!web.signed_in().await);
    assert!(other.signed_in().await);
    let (status, page) = web.get("/connexion?fin=1").await;
    assert_eq!(status, 200);
    assert!(page.contains("Vous êtes déconnecté(e)."), "{page}");
    // Signing out without a session: refused as unauthenticated.
    let (status, _) = web.post_form("/deconnexion", &[]).await;
    assert_eq!(status, 401);
}

async fn revoking_an_actor_ends_their_sessions_at_once(backend: Backend) {
    let (app, email) = with_actor(backend).await;
    let web = app.web_session(&email).await;
    let unused = app.sign_in_link(&email, None).await;
    assert!(web.signed_in().await);

    // The real command, on this server's database, while the server runs.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jalon"));
    cmd.args(["actors", "revoke", &email, "--data"])
        .arg(&app.cfg.data_dir);
    if let Some(url) = &app.cfg.database_url {
        cmd.args(["--database-url", url]);
    }
    let out = tokio::task::block_in_place(|| cmd.output()).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert!(!web.signed_in().await);
    // A link sent before opens nothing; a new request sends nothing.
    let (reply, other) = app.follow_sign_in_link(&unused).await;
    assert_eq!(reply.status, 410, "{}", reply.body);
    assert!(!other.signed_in().await);
    assert!(app.request_sign_in_links(&email, None).await.is_empty());
}

async fn a_next_path_must_be_this_sites(backend: Backend) {
    let (app, email) = with_actor(backend).await;
    let web = WebClient::anonymous(&app);
    // The page keeps a path of this server, and drops another site.
    let (_, page) = web.get("/connexion?suite=%2Fcases%2Fabc").await;
    assert!(
        page.contains("name=\"suite\" value=\"/cases/abc\""),
        "{page}"
    );
    let (_, page) = web.get("/connexion?suite=%2F%2Fevil.example").await;
    assert!(!page.contains("evil.example"), "{page}");
    let (status, location) = web
        .post_form(
            "/connexion",
            &[("email", "x@example.org"), ("suite", "/cases/abc")],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/connexion?envoye=1&suite=%2Fcases%2Fabc")
    );

    let link = app.sign_in_link(&email, Some("//evil.example")).await;
    assert!(!link.contains("evil"), "{link}");
    let (reply, signed) = app.follow_sign_in_link(&link).await;
    assert_eq!(reply.location.as_deref(), Some("/"));
    // Signed in, `suite` to another site is ignored too.
    assert_eq!(
        signed.get("/connexion?suite=%2F%2Fevil.example").await,
        (303, "/".to_owned())
    );
    assert_eq!(
        signed
            .get("/connexion?suite=https%3A%2F%2Fevil.example%2F")
            .await,
        (303, "/".to_owned())
    );

    let link = app.sign_in_link(&email, Some("/cases/abc?onglet=1")).await;
    let (reply, _) = app.follow_sign_in_link(&link).await;
    assert_eq!(reply.location.as_deref(), Some("/cases/abc?onglet=1"));
}

async fn five_links_per_address_in_fifteen_minutes(backend: Backend) {
    let (app, email) = with_actor(backend).await;
    for i in 0..5 {
        assert_eq!(
            app.request_sign_in_links(&email, None).await.len(),
            1,
            "link {i}"
        );
        app.clock.advance(Duration::minutes(1));
    }
    // The sixth within the window: the same answer, nothing sent.
    assert!(app.request_sign_in_links(&email, None).await.is_empty());
    assert_eq!(sign_in_notices(&app).await.len(), 5);
    // Once the first leaves the window, one more may go.
    app.clock.advance(Duration::minutes(11));
    assert_eq!(app.request_sign_in_links(&email, None).await.len(), 1);
}

async fn twenty_requests_per_client_in_fifteen_minutes(backend: Backend) {
    let (app, email) = with_actor(backend).await;
    let web = WebClient::anonymous(&app);
    for i in 0..20 {
        let address = format!("inconnu{i}@example.org");
        let (status, _) = web.post_form("/connexion", &[("email", &address)]).await;
        assert_eq!(status, 303, "request {i}");
    }
    let reply = web.post_page("/connexion", &[("email", &email)]).await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert!(reply.body.contains("Trop de demandes"), "{}", reply.body);
    assert!(reply.body.contains("lang=\"fr\""));
    assert!(sign_in_notices(&app).await.is_empty());
    // The window slides on.
    app.clock.advance(Duration::minutes(15));
    assert_eq!(app.request_sign_in_links(&email, None).await.len(), 1);
}

async fn the_cookie_is_http_only_lax_and_secure_behind_https(backend: Backend) {
    let (app, email) = with_actor(backend).await;
    let link = app.sign_in_link(&email, None).await;
    let (reply, _) = app.follow_sign_in_link(&link).await;
    let cookie = reply
        .set_cookies
        .iter()
        .find(|c| c.starts_with("jalon_session="))
        .unwrap();
    let flags: Vec<&str> = cookie.split("; ").skip(1).collect();
    assert_eq!(flags, ["Path=/", "HttpOnly", "SameSite=Lax"], "{cookie}");
    let secret = cookie_value(&reply.set_cookies, "jalon_session").unwrap();
    assert_eq!(secret.len(), 64, "{cookie}");

    let app = spawn_app_with(
        backend,
        NoticeConfig {
            public_url: Some("https://jalon.example.be".into()),
            ..Default::default()
        },
    )
    .await;
    app.actor("Anne Greffe", &["chambre_secretaire"]).await;
    let link = app.sign_in_link(&email, None).await;
    assert!(
        link.starts_with("https://jalon.example.be/connexion/lien/"),
        "{link}"
    );
    let (reply, web) = app.follow_sign_in_link(&link).await;
    let cookie = reply
        .set_cookies
        .iter()
        .find(|c| c.starts_with("jalon_session="))
        .unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    assert!(web.signed_in().await);
}

async fn forms_from_another_site_are_refused(backend: Backend) {
    let (app, email) = with_actor(backend).await;
    let web = WebClient::anonymous(&app);
    let post = |path: &str, origin: &'static str, field: (&'static str, String)| {
        web.request(reqwest::Method::POST, path)
            .header("origin", origin)
            .form(&[field])
    };
    let r = web
        .send(post(
            "/connexion",
            "https://evil.example",
            ("email", email.clone()),
        ))
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("csrf_failed"), "{}", r.body);
    let r = web
        .send(post("/connexion", "null", ("email", email.clone())))
        .await;
    assert_eq!(r.status, 403);
    app.deliver().await;
    assert!(sign_in_notices(&app).await.is_empty());

    // Another site cannot sign a visitor in with a link of its own.
    let link = app.sign_in_link(&email, None).await;
    let token = link.split("/connexion/lien/").nth(1).unwrap().to_owned();
    let r = web
        .send(post(
            "/connexion/lien",
            "https://evil.example",
            ("jeton", token),
        ))
        .await;
    assert_eq!(r.status, 403);
    assert!(r.set_cookies.is_empty());
    // The link was not used up.
    let (reply, signed) = app.follow_sign_in_link(&link).await;
    assert_eq!(reply.status, 303);
    assert!(signed.signed_in().await);
}

async fn no_api_route_shows_a_sign_in_link(backend: Backend) {
    let (app, email) = with_actor(backend).await;
    app.actor("Jean Dupont", &["requerant"]).await;
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    app.clock.set(super::harness::brussels(2026, 12, 18, 12));
    let case = super::api::recours(&app, &secretaire, "CR-SIGNIN").await;
    super::api::list_received(&app, &secretaire, &case, "2026-12-18").await;

    let link = app.sign_in_link(&email, None).await;
    let token = link.split("/connexion/lien/").nth(1).unwrap().to_owned();

    // The operator sees that a sign-in mail went, to whom, not what it said.
    let listed = sign_in_notices(&app).await;
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_i64().unwrap();
    assert_eq!(listed[0]["status"], "sent");
    for path in [
        "/api/v1/operator/notices".to_owned(),
        "/api/v1/operator/notices?status=sent".to_owned(),
        format!("/api/v1/cases/{case}/notices"),
    ] {
        let r = app.get(&app.admin, &path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(!r.body.to_string().contains(&token), "{path}: {}", r.body);
    }
    // Its bytes are no case's notice, whoever asks.
    let r = app
        .get(
            &app.admin,
            &format!("/api/v1/cases/{case}/notices/{id}/eml"),
        )
        .await;
    r.assert_refused(404, "notice_not_sent");
    let r = app
        .get(
            &secretaire,
            &format!("/api/v1/cases/{case}/notices/{id}/eml"),
        )
        .await;
    r.assert_refused(404, "notice_not_sent");
    // The case's own notice links to its page on this server, absolutely.
    let notices = app
        .get(&app.admin, &format!("/api/v1/cases/{case}/notices"))
        .await;
    let n = notices.body.as_array().unwrap().first().cloned().unwrap();
    let r = app
        .http
        .get(format!(
            "{}/api/v1/cases/{case}/notices/{}/eml",
            app.base, n["id"]
        ))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let eml = r.bytes().await.unwrap();
    let parsed = tokio::task::block_in_place(|| parse_eml(&eml));
    // Every part's decoded text, iCalendar lines unfolded.
    let all: String = leaves(&parsed["body"])
        .iter()
        .filter_map(|p| p["content"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\r\n ", "")
        .replace("\n ", "");
    assert!(all.contains(&format!("{}/cases/{case}", app.base)), "{all}");
}

on_both_backends!(
    the_same_answer_for_any_address,
    a_link_signs_in_once_and_only_on_post,
    links_expire_after_fifteen_minutes,
    sessions_end_after_eight_idle_hours,
    sign_out_ends_the_session_on_the_server,
    revoking_an_actor_ends_their_sessions_at_once,
    a_next_path_must_be_this_sites,
    five_links_per_address_in_fifteen_minutes,
    twenty_requests_per_client_in_fifteen_minutes,
    the_cookie_is_http_only_lax_and_secure_behind_https,
    forms_from_another_site_are_refused,
    no_api_route_shows_a_sign_in_link,
);
