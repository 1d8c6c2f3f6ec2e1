//! `jalon verify` and `GET /cases/{id}/verify`: the history hash chain recomputed on real
//! databases (a SQLite file, a PostgreSQL database), clean, then with one row changed in SQL.

use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

use crate::on_both_backends;
use crate::server::harness::{Backend, TestApp, spawn_app};
use crate::support::{Run, jalon_with};

/// Two appeals with a few transitions each; returns their ids.
async fn two_cases(app: &TestApp) -> (String, String) {
    let secretaire = app.actor("Secrétaire", &["chambre_secretaire"]).await;
    let mut ids = Vec::new();
    for key in ["CR-V1", "CR-V2"] {
        let r = app
            .start(
                &secretaire,
                "chambre-recours",
                key,
                json!({"matiere": "evaluation", "recours_recu_le": "2026-12-17"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let r = app
            .event(
                &secretaire,
                &id,
                "communiquer_liste",
                json!({"liste_recue_le": "2026-12-18"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        ids.push(id);
    }
    (ids.remove(0), ids.remove(0))
}

/// The database URL of the app (its SQLite file or its PostgreSQL database).
fn url(app: &TestApp) -> String {
    app.cfg
        .database_url
        .clone()
        .unwrap_or_else(|| store::sqlite_url(&app.cfg.data_dir))
}

/// Runs SQL on the app's database from outside the server, as someone tampering would.
async fn tamper(app: &TestApp, sql: &str) {
    let db = Database::connect(url(app)).await.unwrap();
    let done = db.execute_unprepared(sql).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
    db.close().await.unwrap();
}

/// `jalon verify` on the app's database, configured like a service: from the environment.
fn verify(app: &TestApp) -> Run {
    let data = app.cfg.data_dir.to_str().unwrap().to_owned();
    match &app.cfg.database_url {
        Some(u) => jalon_with(
            &["verify"],
            &[("JALON_DATABASE_URL", u), ("JALON_DATA_DIR", &data)],
        ),
        None => jalon_with(&["verify", "--data", &data], &[]),
    }
}

async fn verify_command(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = two_cases(&app).await;

    let clean = verify(&app);
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);
    assert_eq!(
        clean.stdout.trim(),
        "2 cases, 4 history rows checked, 0 broken"
    );

    let stored: String = {
        let r = app
            .get(&app.admin, &format!("/api/v1/cases/{b}/history"))
            .await;
        r.body[0]["hash"].as_str().unwrap().to_owned()
    };
    tamper(
        &app,
        &format!(
            r#"UPDATE history SET inputs = '{{"matiere":"autre"}}' WHERE case_id = '{b}' AND seq = 1"#
        ),
    )
    .await;
    let broken = verify(&app);
    assert_eq!(broken.code, 1, "{}{}", broken.stdout, broken.stderr);
    let lines: Vec<&str> = broken.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", broken.stdout);
    let prefix = format!("broken: case {b} seq 1 (hash): expected ");
    assert!(lines[0].starts_with(&prefix), "{}", lines[0]);
    assert!(
        lines[0].ends_with(&format!(", stored {stored}")),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "2 cases, 4 history rows checked, 1 broken");
    assert!(
        broken
            .stderr
            .contains("history chain of 1 case(s) is broken"),
        "{}",
        broken.stderr
    );
    assert!(!broken.stdout.contains(&a));
}

on_both_backends!(verify_command);

/// A mistyped data folder is an error, not a new empty database that verifies clean.
#[test]
fn no_database_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let r = jalon_with(&["verify", "--data", missing.to_str().unwrap()], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("error: no database at "),
        "{}",
        r.stderr
    );
    assert!(!missing.exists());
}

async fn verify_endpoint(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = two_cases(&app).await;
    let check = |id: String| {
        let app = &app;
        async move {
            app.get(&app.admin, &format!("/api/v1/cases/{id}/verify"))
                .await
        }
    };

    let r = check(a.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"intact": true, "rows": 2, "first_broken": null})
    );

    // A stored hash replaced: that row no longer matches its content.
    tamper(
        &app,
        &format!("UPDATE history SET hash = 'ff' WHERE case_id = '{a}' AND seq = 2"),
    )
    .await;
    let r = check(a.clone()).await;
    assert_eq!(
        (r.status, &r.body["intact"]),
        (200, &json!(false)),
        "{}",
        r.body
    );
    let first = &r.body["first_broken"];
    assert_eq!(
        (
            &first["case_id"],
            &first["seq"],
            &first["problem"],
            &first["stored"]
        ),
        (&json!(a), &json!(2), &json!("hash"), &json!("ff")),
        "{}",
        r.body
    );
    assert_eq!(first["expected"].as_str().unwrap().len(), 64);

    // The newest row removed: the case row no longer ends on the last history row.
    tamper(
        &app,
        &format!("DELETE FROM history WHERE case_id = '{b}' AND seq = 2"),
    )
    .await;
    let r = check(b.clone()).await;
    assert_eq!(r.body["rows"], 1, "{}", r.body);
    assert_eq!(
        (
            &r.body["first_broken"]["seq"],
            &r.body["first_broken"]["problem"]
        ),
        (&json!(1), &json!("case_last_hash")),
        "{}",
        r.body
    );

    // Read like the case itself: a stranger to the workflow is refused, an unknown case is 404.
    let stranger = app.actor("Conseil", &["conseil_fpc"]).await;
    let r = app
        .get(&stranger, &format!("/api/v1/cases/{a}/verify"))
        .await;
    assert_eq!(
        (r.status, &r.body["code"]),
        (403, &json!("forbidden")),
        "{}",
        r.body
    );
    let r = check("nope".into()).await;
    assert_eq!(
        (r.status, &r.body["code"]),
        (404, &json!("case_not_found")),
        "{}",
        r.body
    );
}

on_both_backends!(verify_endpoint);
