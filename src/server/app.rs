//! Building the server: the store opened and migrated, workflows deployed, the background
//! loops made; the state every handler shares.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;

use super::config::{Config, redact};
use super::dispatcher::{Delivery, Dispatcher};
use super::scheduler::Scheduler;
use crate::clock::Clock;
use store::{self, Store};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// The largest document a case accepts, in bytes (`Config::max_document_bytes`).
    pub max_document_bytes: usize,
    pub metrics: PrometheusHandle,
    /// What the pages need beyond the store: session lifetime, cookie flags.
    pub web: Arc<super::web::session::WebSettings>,
    /// Requests waiting for a case to change.
    pub changes: super::changes::Hub,
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
        if let Some(hint) = super::config::loopback_tls_hint(&url) {
            tracing::info!("{hint}");
        }
        let store = Store::open_with(&url, cfg.calendar.clone(), cfg.store)
            .await
            .with_context(|| format!("cannot open the database {}", redact(&url)))?;
        store.load_latest_versions().await?;
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
        let scheduler = Scheduler::new(store.clone(), clock.clone());
        let state = AppState {
            store: store.clone(),
            clock,
            max_document_bytes: cfg.max_document_bytes,
            metrics: super::metrics::handle(),
            web: Arc::new(super::web::session::WebSettings::from_config(cfg)),
            changes: super::changes::Hub::start(store.clone(), cfg.waits),
        };
        Ok(App {
            state,
            scheduler,
            dispatcher,
            deploy_report: report,
        })
    }

    pub fn router(&self) -> Router {
        super::router::router(self.state.clone())
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
