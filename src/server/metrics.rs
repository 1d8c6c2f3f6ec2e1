//! Prometheus: the process-wide recorder and the `/metrics` page (recorded counters plus the
//! store's queue depths read at each scrape).

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;

/// The process-wide Prometheus recorder (a recorder can be installed once per process).
pub(crate) fn handle() -> PrometheusHandle {
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
                        full("jalon_pg_batch_size"),
                        &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
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
        "jalon_pg_batch_size",
        "Transitions committed together by a PostgreSQL lane."
    );
    describe_counter!(
        "jalon_pg_batch_reruns_total",
        "Transitions a PostgreSQL lane ran again after a deadlock, a serialization failure or a case changed since it was read."
    );
    describe_counter!(
        "jalon_pg_batch_undone_total",
        "PostgreSQL batches rolled back and run again, each transition in a savepoint, because one failed after writing."
    );
    describe_histogram!(
        "jalon_sqlite_checkpoint_seconds",
        Unit::Seconds,
        "WAL checkpoints, by thread; the writer's are time in which no transition commits."
    );
}

pub(crate) async fn metrics_page(State(state): State<AppState>) -> Response {
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
    if let Some(lanes) = state.store.postgres_lanes() {
        page.push_str(
            "# HELP jalon_pg_lanes PostgreSQL lanes of this process: batches of transitions it \
             commits at once (--postgres-lanes).\n",
        );
        page.push_str("# TYPE jalon_pg_lanes gauge\n");
        page.push_str(&format!("jalon_pg_lanes {lanes}\n"));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], page).into_response()
}
