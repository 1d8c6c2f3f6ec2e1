//! `/metrics`: the Prometheus page an operator scrapes. Counters and histograms are the
//! process's (every test server of this binary adds to them, so they are compared as "at
//! least"); queue depths are read from the scraped server's own database, so they are exact.

use serde_json::json;

use super::harness::{Backend, TestApp, brussels, spawn_app};
use crate::on_both_backends;

async fn scrape(app: &TestApp) -> String {
    let r = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("request sent");
    assert_eq!(r.status().as_u16(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    r.text().await.unwrap()
}

/// The value of one series (`name{labels}` exactly as rendered); 0 when not there yet.
fn series(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Asserts that series `name` grew by at least `by` from page `before` to page `after`.
fn assert_grew(before: &str, after: &str, name: &str, by: f64) {
    let (was, is) = (series(before, name), series(after, name));
    assert!(is >= was + by, "{name}: {was} then {is}");
}

/// Open cases, armed timers, pending and dead notices; `None` for a queue not on the page.
fn depths(page: &str) -> Vec<Option<u64>> {
    [
        "open_cases",
        "armed_timers",
        "pending_notices",
        "dead_notices",
    ]
    .iter()
    .map(|queue| {
        let name = format!("jalon_queue_depth{{queue=\"{queue}\"}} ");
        page.lines()
            .find_map(|l| l.strip_prefix(&name)?.parse().ok())
    })
    .collect()
}

async fn metrics_follow_transitions_timers_and_queues(backend: Backend) {
    let app = spawn_app(backend).await;
    let greffe = app
        .actor("Greffe", &["chambre_secretaire", "requerant"])
        .await;
    let before = scrape(&app).await;
    assert_eq!(depths(&before), [Some(0); 4], "{before}");

    for key in ["CR-M-1", "CR-M-2"] {
        let started = app
            .start(
                &greffe,
                "chambre-recours",
                key,
                json!({"matiere": "evaluation", "recours_recu_le": "2026-11-02"}),
            )
            .await;
        assert_eq!(started.status, 201, "{}", started.body);
        let id = started.body["id"].as_str().unwrap();
        let sent = app
            .event(
                &greffe,
                id,
                "communiquer_liste",
                json!({"liste_recue_le": "2026-11-03"}),
            )
            .await;
        assert_eq!(sent.status, 200, "{}", sent.body);
    }
    let armed = scrape(&app).await;
    // Two recusation periods running, two lists of members to send to the requerant.
    assert_eq!(depths(&armed), [Some(2), Some(2), Some(2), Some(0)]);
    for trigger in ["start", "event"] {
        let name = format!("jalon_transitions_total{{trigger=\"{trigger}\"}}");
        assert_grew(&before, &armed, &name, 2.0);
    }

    // A week after the periods ended: both timers fire late, and say how late.
    assert_eq!(app.advance_to(brussels(2026, 11, 25, 12)).await, 2);
    assert_eq!(app.deliver().await.sent, 2);
    let fired = scrape(&app).await;
    assert_eq!(depths(&fired), [Some(2), Some(0), Some(0), Some(0)]);
    let timer = r#"jalon_transitions_total{trigger="timer"}"#;
    assert_grew(&armed, &fired, timer, 2.0);
    let late = "jalon_timer_lateness_seconds_count";
    assert_grew(&armed, &fired, late, 2.0);
    // At least these two firings were more than a day late.
    let within_a_day = r#"jalon_timer_lateness_seconds_bucket{le="86400"}"#;
    let all = r#"jalon_timer_lateness_seconds_bucket{le="+Inf"}"#;
    assert!(series(&fired, all) - series(&fired, within_a_day) >= 2.0);
    let sent = "jalon_notices_sent_total";
    assert_grew(&armed, &fired, sent, 2.0);
    // Each of the six transitions was committed in a batch of the backend's writer.
    let batched = match backend {
        Backend::Sqlite => "jalon_sqlite_batch_size",
        Backend::Postgres => "jalon_pg_batch_size",
    };
    assert_grew(&before, &fired, &format!("{batched}_sum"), 6.0);
    let batch_help = format!("# HELP {batched} ");
    for help in [
        "# HELP jalon_transitions_total ",
        "# HELP jalon_timer_lateness_seconds ",
        "# HELP jalon_queue_depth ",
        "# TYPE jalon_timer_lateness_seconds histogram",
        &batch_help,
    ] {
        assert!(fired.contains(help), "{help} in\n{fired}");
    }
}

on_both_backends!(metrics_follow_transitions_timers_and_queues);
