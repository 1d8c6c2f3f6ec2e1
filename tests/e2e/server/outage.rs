//! The server while PostgreSQL is away: it talks to PostgreSQL through a TCP proxy in the
//! test, which is cut (connections dropped, new ones accepted and never answered: the worst
//! case, a database host that vanished) and then restored. `/readyz` and the API must answer
//! 503 at once (not after the pool's half-minute wait), in the error shape with
//! `Retry-After`, and recover by themselves.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jalon::clock::ManualClock;
use jalon::server::Config;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::harness::{Backend, brussels, fresh_database, spawn_with, workflows_dir};

/// A loopback TCP proxy to PostgreSQL that can be cut and restored.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    relays: Arc<tokio::sync::Mutex<JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: &'static str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let relays = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
        let accept = tokio::spawn({
            let (up, relays) = (up.clone(), relays.clone());
            async move {
                let mut held = Vec::new();
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        // Accepted and never answered.
                        held.push(client);
                        continue;
                    }
                    relays.lock().await.spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                }
            }
        });
        Proxy {
            port,
            up,
            relays,
            accept,
        }
    }

    /// Drops every open connection; new ones hang.
    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.relays.lock().await.abort_all();
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A liveness bound for one answer, far above the second the server promises: it only
/// tells "answers" from "hangs" (the pool's old acquire timeout was 30 s).
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

async fn get(http: &reqwest::Client, url: String, token: Option<&str>) -> reqwest::Response {
    let mut request = http.get(&url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    tokio::time::timeout(ANSWER_WITHIN, request.send())
        .await
        .unwrap_or_else(|_| panic!("{url} did not answer within {ANSWER_WITHIN:?}"))
        .expect("request sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_away_then_back() {
    let data = Arc::new(tempfile::tempdir().unwrap());
    let direct = fresh_database(Backend::Postgres)
        .await
        .expect("a PostgreSQL database");
    // postgres://user@host:port/name: the proxy goes to host:port, the server to the proxy.
    let (scheme_user, rest) = direct.rsplit_once('@').expect("a user in the test URL");
    let (target, name) = rest.split_once('/').unwrap();
    let target: &'static str = Box::leak(target.to_owned().into_boxed_str());
    let proxy = Proxy::start(target).await;
    let cfg = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_path_buf(),
        workflows: workflows_dir(),
        database_url: Some(format!("{scheme_user}@127.0.0.1:{}/{name}", proxy.port)),
        max_document_bytes: Config::DEFAULT_MAX_DOCUMENT_BYTES,
        store: Default::default(),
        calendar: engine::calendar::Calendar::fwb(),
        notices: Default::default(),
        waits: Default::default(),
    };
    let app = spawn_with(cfg, data, ManualClock::new(brussels(2026, 11, 2, 12))).await;
    let (http, base, token) = (&app.http, &app.base, Some(app.admin.as_str()));
    assert_eq!(
        get(http, format!("{base}/readyz"), None).await.status(),
        200
    );
    assert_eq!(
        get(http, format!("{base}/api/v1/cases"), token)
            .await
            .status(),
        200
    );

    proxy.cut().await;
    for _ in 0..2 {
        let r = get(http, format!("{base}/readyz"), None).await;
        assert_eq!(r.status(), 503);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "database_unavailable", "{body}");
    }
    for path in ["/api/v1/cases", "/api/v1/me", "/api/v1/operator/stuck"] {
        let r = get(http, format!("{base}{path}"), token).await;
        assert_eq!(r.status(), 503, "{path}");
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            retry
                .as_deref()
                .is_some_and(|s| s.parse::<u32>().is_ok_and(|n| n > 0)),
            "{path}: Retry-After {retry:?}"
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "database_unavailable", "{path}: {body}");
        assert!(body["message"].is_string(), "{body}");
    }

    proxy.restore();
    // Back by itself: the pool opens new connections (bounded wait, no restart).
    let mut ready = false;
    for _ in 0..40 {
        if get(http, format!("{base}/readyz"), None).await.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ready, "/readyz never came back");
    let r = get(http, format!("{base}/api/v1/cases"), token).await;
    assert_eq!(r.status(), 200);
}
