//! `jalon serve`: the store, the scheduler and the HTTP API in one process.

pub mod api;
pub mod digest;
pub mod dispatcher;
pub mod notice_config;
pub mod scheduler;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use engine::calendar::Calendar;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::{Notify, watch};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

use crate::clock::Clock;
use crate::store::{self, Store};
use api::error::ApiError;
use dispatcher::{Delivery, Dispatcher};
use notice_config::NoticeConfig;
use scheduler::Scheduler;

/// Request bodies above this are refused with 413 (a workflow with its templates fits).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub workflows: PathBuf,
    /// `None`: SQLite under `data_dir`.
    pub database_url: Option<String>,
    pub calendar: Arc<Calendar>,
    /// Sender and transport of notices; by default `.eml` files under `<data_dir>/outbox`.
    pub notices: NoticeConfig,
}

impl Config {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| store::sqlite_url(&self.data_dir))
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub scheduler_wake: Arc<Notify>,
    /// Pokes the outbox dispatcher: a transition queued notices.
    pub notices_wake: Arc<Notify>,
    pub metrics: PrometheusHandle,
}

impl AppState {
    /// After a committed transition: its timers and notices may be due now.
    pub fn poke(&self) {
        self.scheduler_wake.notify_one();
        self.notices_wake.notify_one();
    }
}

/// The process-wide Prometheus recorder (a recorder can be installed once per process).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let full = |name: &str| Matcher::Full(name.to_owned());
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.01, 0.1, 1.0, 10.0, 60.0, 600.0, 3600.0, 86_400.0])
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        full("jalon_sqlite_batch_size"),
                        &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        full("jalon_sqlite_checkpoint_seconds"),
                        &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0],
                    )
                })
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            describe_metrics();
            handle
        })
        .clone()
}

/// The `# HELP` line of each metric jalon records.
fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        "jalon_transitions_total",
        "Committed transitions, by what set them off (start, event, timer, schedule)."
    );
    describe_histogram!(
        "jalon_timer_lateness_seconds",
        Unit::Seconds,
        "How long after its due instant each timer fired."
    );
    describe_counter!("jalon_notices_sent_total", "Notices delivered.");
    describe_counter!(
        "jalon_notices_dead_total",
        "Notices given up on (the operator can retry them)."
    );
    describe_histogram!(
        "jalon_sqlite_batch_size",
        "Transitions committed together by the SQLite writer."
    );
    describe_counter!(
        "jalon_sqlite_batch_restarts_total",
        "Batches the SQLite writer ran again, each transition in a savepoint, because one failed after writing."
    );
    describe_histogram!(
        "jalon_sqlite_checkpoint_seconds",
        Unit::Seconds,
        "WAL checkpoints, by thread; the writer's are time in which no transition commits."
    );
}

/// A ready server: store open and migrated, workflows deployed, not yet listening.
pub struct App {
    pub state: AppState,
    pub scheduler: Scheduler,
    pub dispatcher: Dispatcher,
    pub deploy_report: store::deploy::Report,
}

impl App {
    pub async fn build(cfg: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        if cfg.database_url.is_none() {
            store::ensure_dir(&cfg.data_dir)
                .with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
        }
        let url = cfg.database_url();
        let store = Store::open(&url, cfg.calendar.clone())
            .await
            .with_context(|| format!("cannot open the database {}", redact(&url)))?;
        store.registry.refresh((&store.db).into()).await?;
        let report = if cfg.workflows.is_dir() {
            store.deploy_dir(&cfg.workflows, None, clock.now()).await?
        } else {
            tracing::warn!(path = %cfg.workflows.display(), "no workflows folder; nothing deployed");
            Default::default()
        };
        for (path, errors) in &report.refused {
            tracing::error!(%path, "workflow refused; the previous version (if any) stays deployed:\n{errors}");
        }
        let dispatcher = Dispatcher::new(store.clone(), clock.clone(), delivery(cfg)?);
        let mut scheduler = Scheduler::new(store.clone(), clock.clone());
        scheduler.notices_wake = dispatcher.wake.clone();
        let state = AppState {
            store,
            clock,
            scheduler_wake: scheduler.wake.clone(),
            notices_wake: dispatcher.wake.clone(),
            metrics: metrics_handle(),
        };
        Ok(App {
            state,
            scheduler,
            dispatcher,
            deploy_report: report,
        })
    }

    pub fn router(&self) -> Router {
        router(self.state.clone())
    }
}

/// The transport of notices: SMTP when configured, else one `.eml` file per notice under
/// `<data_dir>/outbox`.
fn delivery(cfg: &Config) -> anyhow::Result<Delivery> {
    let n = &cfg.notices;
    let transport = match &n.smtp {
        Some(smtp) => {
            let mut smtp = smtp.clone();
            smtp.from = n.from().to_owned();
            notifiers::Transport::Smtp(
                notifiers::Smtp::new(&smtp).context("the SMTP configuration cannot work")?,
            )
        }
        None => {
            let drop = notifiers::FileDrop::new(cfg.data_dir.join("outbox"));
            // Files' times are the system's, not the (possibly manual) clock's. Ten minutes is
            // far longer than any write in progress by a peer process sharing the folder.
            let before = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
            match drop.remove_abandoned(before) {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "abandoned temporary notice files removed"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot sweep abandoned temporary notice files")
                }
            }
            notifiers::Transport::FileDrop(drop)
        }
    };
    Ok(Delivery {
        from: n.from().to_owned(),
        base_url: n.public_url.clone(),
        transport,
    })
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((head, tail)) if head.contains("://") => {
            let scheme = head.split("://").next().unwrap_or("");
            format!("{scheme}://…@{tail}")
        }
        _ => url.to_owned(),
    }
}

pub fn router(state: AppState) -> Router {
    let (api, openapi) = api::routes();
    let openapi = Arc::new(openapi);
    let routes = Router::new()
        .nest("/api/v1", api)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { axum::Json((*doc).clone()) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take this method",
            )
        })
        .with_state(state);
    guarded(routes)
}

/// What every request passes through, whatever its route: the body limit (413, in the API's
/// error shape) and the panic guard (a JSON 500 with a request id instead of a dropped
/// connection).
fn guarded(routes: Router) -> Router {
    routes
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(axum::middleware::from_fn(refuse_announced_too_large))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// A body whose `Content-Length` is over the limit is refused before it is read. The limit
/// layer would do it too, in plain text; a body without a length is cut by that layer as it
/// is read, and the JSON extractors answer it in the error shape (`api/body.rs`).
async fn refuse_announced_too_large(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > BODY_LIMIT as u64) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than the server accepts ({BODY_LIMIT} bytes)"),
        )
        .into_response();
    }
    next.run(request).await
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    tracing::error!(%request_id, "a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        format!("the server failed on this request (request id {request_id}); nothing was changed"),
    )
    .with_details(serde_json::json!({ "request_id": request_id }))
    .into_response()
}

/// Ready when the database answers within a second and writes commit: 503
/// `database_unavailable` or `storage_full` otherwise, in the API's error shape.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ready().await {
        Ok(()) => "ready".into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn metrics_page(State(state): State<AppState>) -> Response {
    let mut page = state.metrics.render();
    // Read from this server's store at each scrape rather than recorded in the process-wide
    // registry: a depth is a fact of the database now, not a sum of events.
    if let Ok(depths) = state.store.depths().await {
        page.push_str("# HELP jalon_queue_depth Rows waiting in each queue of the store.\n");
        page.push_str("# TYPE jalon_queue_depth gauge\n");
        for (name, n) in depths {
            page.push_str(&format!("jalon_queue_depth{{queue=\"{name}\"}} {n}\n"));
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], page).into_response()
}

/// Between two passes of a background loop (timers, outbox): sleeps until its next due
/// instant, at most `poll`; a poke or shutdown ends the wait early.
pub(crate) async fn pause(
    next: Option<chrono::DateTime<chrono::Utc>>,
    clock: &dyn Clock,
    poll: std::time::Duration,
    wake: &Notify,
    shutdown: &mut watch::Receiver<bool>,
) {
    let sleep = next
        .map(|next| {
            (next - clock.now())
                .to_std()
                .unwrap_or(std::time::Duration::ZERO)
                .min(poll)
        })
        .unwrap_or(poll)
        .max(std::time::Duration::from_millis(10));
    tokio::select! {
        _ = tokio::time::sleep(sleep) => {}
        _ = wake.notified() => {}
        _ = shutdown.changed() => {}
    }
}

/// Serves until SIGTERM or Ctrl-C: stops accepting, lets requests and the scheduler's pass in
/// progress finish (each transition is one transaction: nothing is left half-done).
pub async fn serve(cfg: Config, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let app = App::build(&cfg, clock).await?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = %redact(&cfg.database_url()), "jalon listening");
    println!("jalon listening on http://{addr}");
    let (stop_tx, stop_rx) = watch::channel(false);
    let scheduler = tokio::spawn(app.scheduler.clone().run(stop_rx.clone()));
    let dispatcher = tokio::spawn(app.dispatcher.clone().run(stop_rx));
    let router = app.router();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        })
        .await?;
    let _ = scheduler.await;
    let _ = dispatcher.await;
    app.state.store.close().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    /// No route panics on purpose; this one stands for the bug that would.
    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_a_request_id() {
        let routes = Router::new().route(
            "/boom",
            get(|| async {
                if true {
                    panic!("a bug in a handler");
                }
                "unreachable"
            }),
        );
        let response = guarded(routes)
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "internal_error");
        let id = body["details"]["request_id"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{body}");
        assert!(body["message"].as_str().unwrap().contains(id), "{body}");
    }
}
