//! `spawn_app`: a server on its own database, listening on a free loopback port, with a
//! manual clock and an administrator token. Every API test runs once per backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Europe::Brussels;
use jalon::clock::ManualClock;
use jalon::server::notice_config::NoticeConfig;
use jalon::server::{App, Config};
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests use (`scripts/test` makes sure one runs).
pub(crate) fn pg_admin_url() -> String {
    std::env::var("JALON_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn workflows_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows")
}

/// A shipped workflow's text and templates, as `POST /api/v1/workflows` takes them.
pub fn shipped(id: &str) -> (String, std::collections::BTreeMap<String, String>) {
    let dir = workflows_dir().join(id);
    let source = std::fs::read_to_string(dir.join("workflow.yaml")).unwrap();
    let templates = store::deploy::read_templates(&dir).unwrap();
    (source, templates)
}

/// Noon in Brussels on a civil date, as the tests' "now".
pub fn brussels(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Brussels
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("a valid Brussels time")
        .with_timezone(&Utc)
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub app: App,
    pub admin: String,
    pub cfg: Config,
    server: tokio::task::JoinHandle<()>,
    _data: Arc<tempfile::TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A fresh, empty database for one test.
pub async fn fresh_database(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let admin = pg_admin_url();
            let db = Database::connect(format!("{admin}/postgres"))
                .await
                .expect("PostgreSQL reachable (scripts/test starts it)");
            let name = format!("jalon_t_{}", uuid::Uuid::new_v4().simple());
            db.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            db.close().await.ok();
            Some(format!("{admin}/{name}"))
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, Default::default()).await
}

/// A server whose notices go where `notices` says (default: `.eml` files under its data dir).
pub async fn spawn_app_with(backend: Backend, notices: NoticeConfig) -> TestApp {
    let data = Arc::new(tempfile::tempdir().expect("temp dir"));
    let url = fresh_database(backend).await;
    let cfg = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_path_buf(),
        workflows: workflows_dir(),
        database_url: url,
        max_document_bytes: Config::DEFAULT_MAX_DOCUMENT_BYTES,
        store: Default::default(),
        calendar: engine::calendar::Calendar::fwb(),
        notices,
        waits: Default::default(),
    };
    spawn_with(cfg, data, ManualClock::new(brussels(2026, 11, 2, 12))).await
}

/// Starts a server on an existing configuration (a restart keeps the data and the clock).
pub async fn spawn_with(cfg: Config, data: Arc<tempfile::TempDir>, clock: ManualClock) -> TestApp {
    let app = App::build(&cfg, Arc::new(clock.clone()))
        .await
        .expect("app builds");
    assert!(
        app.deploy_report.refused.is_empty(),
        "shipped workflows deploy: {:?}",
        app.deploy_report.refused
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // As `jalon serve`: links in notices lead here, handlers see the peer's address.
    // Each test server is its own public address for its whole life.
    app.dispatcher.listening_on(addr, true);
    let router = app
        .router()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });
    let (_, admin) = app
        .state
        .store
        .add_actor(
            "Admin",
            "admin@example.org",
            &["admin".into(), "operator".into()],
            clock_now(&clock),
        )
        .await
        .unwrap();
    TestApp {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        clock,
        app,
        admin,
        cfg,
        server,
        _data: data,
    }
}

fn clock_now(c: &ManualClock) -> DateTime<Utc> {
    use jalon::clock::Clock;
    c.now()
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The answer is a refusal with this status and stable code (the body shown otherwise).
    #[track_caller]
    pub fn assert_refused(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.body["code"].as_str()),
            (status, Some(code)),
            "{}",
            self.body
        );
    }

    /// The business keys of a case list, sorted.
    pub fn sorted_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .body
            .as_array()
            .unwrap_or_else(|| panic!("a list: {}", self.body))
            .iter()
            .map(|c| c["key"].as_str().unwrap().to_owned())
            .collect();
        keys.sort();
        keys
    }
}

impl TestApp {
    pub async fn actor(&self, name: &str, roles: &[&str]) -> String {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        let email = format!("{}@example.org", name.to_lowercase().replace(' ', "."));
        self.app
            .state
            .store
            .add_actor(name, &email, &roles, clock_now(&self.clock))
            .await
            .unwrap()
            .1
    }

    pub async fn get(&self, token: &str, path: &str) -> Reply {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent");
        reply(r).await
    }

    /// The operator's stuck list (read as the administrator), only the rows with `reason`.
    pub async fn stuck_for(&self, reason: &str) -> Vec<Value> {
        let r = self.get(&self.admin, "/api/v1/operator/stuck").await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
            .as_array()
            .unwrap_or_else(|| panic!("{}", r.body))
            .iter()
            .filter(|s| s["reason"] == reason)
            .cloned()
            .collect()
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request sent");
        reply(r).await
    }

    /// Deploys a workflow through the API, as the administrator.
    pub async fn deploy(&self, source: &str, templates: impl serde::Serialize) -> Reply {
        self.post(
            &self.admin,
            "/api/v1/workflows",
            serde_json::json!({ "source": source, "templates": templates }),
        )
        .await
    }

    pub async fn start(&self, token: &str, workflow: &str, key: &str, inputs: Value) -> Reply {
        self.post(
            token,
            "/api/v1/cases",
            serde_json::json!({ "workflow": workflow, "key": key, "inputs": inputs }),
        )
        .await
    }

    pub async fn event(&self, token: &str, case: &str, event: &str, inputs: Value) -> Reply {
        self.post(
            token,
            &format!("/api/v1/cases/{case}/events"),
            serde_json::json!({ "event": event, "inputs": inputs }),
        )
        .await
    }

    pub fn data(&self) -> Arc<tempfile::TempDir> {
        self._data.clone()
    }

    pub fn clock_now(&self) -> DateTime<Utc> {
        clock_now(&self.clock)
    }

    /// One pass of the outbox dispatcher at the clock's time.
    pub async fn deliver(&self) -> jalon::server::dispatcher::DispatchPass {
        self.app
            .dispatcher
            .run_due()
            .await
            .expect("dispatcher pass")
    }

    /// Moves the clock to `at` and fires what came due; returns how many timers fired.
    pub async fn advance_to(&self, at: DateTime<Utc>) -> usize {
        self.clock.set(at);
        self.app
            .scheduler
            .run_due()
            .await
            .expect("scheduler pass")
            .fired
    }
}

pub async fn reply(r: reqwest::Response) -> Reply {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// Defines one test per backend from an `async fn(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::server::harness::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::server::harness::Backend::Postgres).await
                }
            }
        )*
    };
}
