//! The SQLite writer's housekeeping: what its commits leave in the write-ahead log is copied
//! into the database file beside it, so the log does not grow with every transition.

use std::time::{Duration, Instant};

use super::harness::{Backend, spawn_app};

fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_transitions_reach_the_database_file() {
    let app = spawn_app(Backend::Sqlite).await;
    let db = app.cfg.data_dir.join("jalon.db");
    let before = size(&db);
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    for i in 0..300 {
        super::api::recours(&app, &secretaire, &format!("CR-W-{i}")).await;
    }
    // The writer does not checkpoint in its own commits; the checkpointer thread does, soon
    // after them. Bounded wait: 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    while size(&db) < before + 64 * 1024 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        size(&db) >= before + 64 * 1024,
        "database file {} bytes, {before} before 300 cases; WAL {} bytes",
        size(&db),
        size(&app.cfg.data_dir.join("jalon.db-wal"))
    );
}
