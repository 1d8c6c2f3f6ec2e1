//! Serving: listen, run the background loops, stop cleanly on SIGTERM or Ctrl-C.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;

use super::App;
use super::config::{Config, redact};
use crate::clock::Clock;

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
    app.dispatcher.listening_on(addr, cfg.listen.port() != 0);
    if cfg.notices.public_url.is_none() {
        tracing::warn!(
            links = %app.dispatcher.base_url().unwrap_or_default(),
            "no public_url configured: links in notices lead to the listening address"
        );
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let scheduler = tokio::spawn(app.scheduler.clone().run(stop_rx.clone()));
    let dispatcher = tokio::spawn(app.dispatcher.clone().run(stop_rx));
    let router = app.router();
    // The peer's address reaches the handlers (the sign-in page's limit per client).
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
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
