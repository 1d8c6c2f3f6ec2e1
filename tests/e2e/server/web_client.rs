//! A browser's part in page tests, over real HTTP: sign in the way a person does (ask for a
//! link at `/connexion`, let the dispatcher write the mail under `<data>/outbox/`, read the
//! link from the `.eml`, open it, press "Me connecter"), then keep the session cookie and the
//! CSRF token for the pages' forms.
//!
//! ```ignore
//! let web = app.sign_in("jean.dupont@example.org").await;
//! let (status, html) = web.get("/").await;
//! let (status, location) = web.post_form("/cases/x/events", &[("event", "clore")]).await;
//! ```
//!
//! Redirects are not followed: a 3xx answer gives its `Location`. Posts carry the `_csrf`
//! token unless the fields already have one (`post_form_exact` sends them as given) and an
//! `Origin` header naming the server, as a browser's form does.

use std::collections::BTreeSet;
use std::path::PathBuf;

use notifiers::test_support::{leaves, parse_eml};
use reqwest::header;

use super::harness::TestApp;

/// One browser: its session cookie (if signed in) and the session's CSRF token.
pub struct WebClient {
    pub base: String,
    /// Does not follow redirects.
    pub http: reqwest::Client,
    /// The `jalon_session` cookie's value; empty when not signed in.
    pub session: String,
    /// The session's CSRF token (what every page's forms carry as `_csrf`).
    pub csrf_token: String,
}

/// An answer as a page test reads it.
#[derive(Debug)]
pub struct PageReply {
    pub status: u16,
    /// `Location` of a redirect.
    pub location: Option<String>,
    /// Every `Set-Cookie` header.
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl PageReply {
    /// The `Location` for a redirect, else the body.
    fn location_or_body(self) -> (u16, String) {
        (self.status, self.location.unwrap_or(self.body))
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

impl WebClient {
    /// A browser with no session.
    pub fn anonymous(app: &TestApp) -> WebClient {
        WebClient {
            base: app.base.clone(),
            http: no_redirects(),
            session: String::new(),
            csrf_token: String::new(),
        }
    }

    /// The CSRF token of this session.
    pub fn csrf(&self) -> &str {
        &self.csrf_token
    }

    /// A request to `path` carrying the session cookie (if any).
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        if self.session.is_empty() {
            r
        } else {
            r.header(header::COOKIE, format!("jalon_session={}", self.session))
        }
    }

    pub async fn send(&self, r: reqwest::RequestBuilder) -> PageReply {
        let r = r.send().await.expect("request sent");
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let set_cookies = r
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|c| c.to_str().unwrap().to_owned())
            .collect();
        let body = r.text().await.unwrap_or_default();
        PageReply {
            status,
            location,
            set_cookies,
            body,
        }
    }

    /// GET: the status and the HTML (or the `Location` of a redirect).
    pub async fn get(&self, path: &str) -> (u16, String) {
        self.get_page(path).await.location_or_body()
    }

    pub async fn get_page(&self, path: &str) -> PageReply {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    /// POST of a form, with the CSRF token added unless `fields` has one: the status and the
    /// `Location` of a redirect, or the HTML.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        self.post_page(path, fields).await.location_or_body()
    }

    pub async fn post_page(&self, path: &str, fields: &[(&str, &str)]) -> PageReply {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        if !self.csrf_token.is_empty() && !fields.iter().any(|(k, _)| *k == "_csrf") {
            all.push(("_csrf", &self.csrf_token));
        }
        self.post_page_exact(path, &all).await
    }

    /// POST of exactly these fields (no token added): for the CSRF refusals.
    pub async fn post_form_exact(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        self.post_page_exact(path, fields).await.location_or_body()
    }

    pub async fn post_page_exact(&self, path: &str, fields: &[(&str, &str)]) -> PageReply {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let r = self
            .request(reqwest::Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, self.base.as_str())
            .body(body);
        self.send(r).await
    }

    /// Whether the server takes this browser as signed in (`/connexion` sends it on).
    pub async fn signed_in(&self) -> bool {
        let r = self.get_page("/connexion").await;
        match r.status {
            303 => true,
            200 => false,
            s => panic!("GET /connexion answered {s}: {}", r.body),
        }
    }
}

/// The value of `name` in `Set-Cookie` headers, if one sets it.
pub fn cookie_value<'a>(set_cookies: &'a [String], name: &str) -> Option<&'a str> {
    set_cookies.iter().find_map(|c| {
        let (pair, _) = c.split_once(';').unwrap_or((c, ""));
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then_some(v.trim())
    })
}

/// The value of the hidden field `name` in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker)? + marker.len();
    let end = html[at..].find('"')?;
    Some(html[at..at + end].replace("&amp;", "&"))
}

fn outbox_dir(app: &TestApp) -> PathBuf {
    app.cfg.data_dir.join("outbox")
}

/// The sign-in `.eml` files written so far.
pub fn sign_in_files(app: &TestApp) -> BTreeSet<PathBuf> {
    match std::fs::read_dir(outbox_dir(app)) {
        Ok(dir) => dir
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| f.starts_with("sign-in-") && f.ends_with(".eml"))
            })
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// The text part of a message file and its `To`.
pub fn text_and_to(file: &PathBuf) -> (String, String) {
    let parsed = parse_eml(&std::fs::read(file).unwrap());
    let to = parsed["headers"]["To"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let text = leaves(&parsed["body"])
        .into_iter()
        .find(|p| p["content_type"] == "text/plain")
        .and_then(|p| p["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    (text, to)
}

/// The sign-in link (absolute, as in the mail) in a message's text.
pub fn link_in(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("http") && l.contains("/connexion/lien/"))
        .map(str::to_owned)
}

impl TestApp {
    /// Asks for a sign-in link for `email` at `/connexion` (leading to `suite` afterwards),
    /// runs a dispatcher pass, and returns the absolute links of the sign-in mails to `email`
    /// written by that pass (none for an unknown address or one over its limit).
    pub async fn request_sign_in_links(&self, email: &str, suite: Option<&str>) -> Vec<String> {
        let before = sign_in_files(self);
        let web = WebClient::anonymous(self);
        let mut fields = vec![("email", email)];
        if let Some(s) = suite {
            fields.push(("suite", s));
        }
        let (status, location) = web.post_form("/connexion", &fields).await;
        assert_eq!(status, 303, "POST /connexion: {location}");
        self.deliver().await;
        let mut links = Vec::new();
        for file in sign_in_files(self).difference(&before) {
            let (text, to) = tokio::task::block_in_place(|| text_and_to(file));
            if to.to_lowercase().contains(&email.to_lowercase()) {
                links.push(link_in(&text).unwrap_or_else(|| panic!("no link in {text}")));
            }
        }
        links
    }

    /// The one sign-in link sent to `email` for this request.
    pub async fn sign_in_link(&self, email: &str, suite: Option<&str>) -> String {
        let links = self.request_sign_in_links(email, suite).await;
        assert_eq!(links.len(), 1, "one sign-in mail to {email}: {links:?}");
        links.into_iter().next().unwrap()
    }

    /// Opens a sign-in link in a fresh browser and presses "Me connecter": the answer to that
    /// POST, and the browser (signed in if it worked).
    pub async fn follow_sign_in_link(&self, link: &str) -> (PageReply, WebClient) {
        let mut web = WebClient::anonymous(self);
        // The link may name the configured public URL: only its path is this server's.
        let path = &link[link.find("/connexion/lien").expect("a sign-in link")..];
        let page = web.get_page(path).await;
        assert_eq!(page.status, 200, "GET {path}: {}", page.body);
        assert!(page.body.contains("Me connecter"), "{}", page.body);
        let token = hidden_field(&page.body, "jeton").expect("the link's form");
        let reply = web
            .post_page_exact("/connexion/lien", &[("jeton", &token)])
            .await;
        if let Some(secret) = cookie_value(&reply.set_cookies, "jalon_session") {
            web.session = secret.to_owned();
            web.csrf_token = self
                .app
                .state
                .store
                .web_session(secret, self.app.state.web.session_idle, self.clock_now())
                .await
                .unwrap()
                .expect("the new session is open")
                .csrf_token;
        }
        (reply, web)
    }

    /// A browser signed in as the actor with this address, through the real flow.
    pub async fn sign_in(&self, email: &str) -> WebClient {
        let link = self.sign_in_link(email, None).await;
        let (reply, web) = self.follow_sign_in_link(&link).await;
        assert_eq!(
            (reply.status, reply.location.as_deref()),
            (303, Some("/")),
            "{}",
            reply.body
        );
        assert!(!web.session.is_empty(), "a session cookie: {reply:?}");
        web
    }

    /// Same as [`TestApp::sign_in`] (the name the pages' brief used).
    pub async fn web_session(&self, email: &str) -> WebClient {
        self.sign_in(email).await
    }
}
