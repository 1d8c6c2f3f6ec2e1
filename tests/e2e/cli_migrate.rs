//! `jalon cases migrate` on a real database (SQLite file, PostgreSQL): a bad mapping is
//! refused with `file:line:column` and changes nothing; `--dry-run` lists each case and what
//! would change and writes nothing; the migration then moves the cases, and `jalon verify`
//! finds every history chain intact.

use crate::on_both_backends;
use crate::server::harness::{Backend, TestApp, spawn_app};
use crate::server::migrations::{MAPPING, cases_on_v1};
use crate::support::{Run, jalon_with};

/// `jalon <args>` on the app's database, configured from the environment like a service.
fn jalon_on(app: &TestApp, args: &[&str]) -> Run {
    let data = app.cfg.data_dir.to_str().unwrap().to_owned();
    let mut env = vec![("JALON_DATA_DIR", data.clone())];
    if let Some(u) = &app.cfg.database_url {
        env.push(("JALON_DATABASE_URL", u.clone()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    jalon_with(args, &env)
}

async fn version_of(app: &TestApp, id: &str) -> serde_json::Value {
    let r = app.get(&app.admin, &format!("/api/v1/cases/{id}")).await;
    r.body["version"].clone()
}

async fn migrate_command(backend: Backend) {
    let app = spawn_app(backend).await;
    let ids = cases_on_v1(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "states:\n  instruction: exmen\n").unwrap();
    let good = dir.path().join("mapping.yaml");
    std::fs::write(&good, MAPPING).unwrap();
    let migrate = |mapping: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "cases",
            "migrate",
            "--workflow",
            "migration-e2e",
            "--to-version",
            "2",
            "--mapping",
            mapping.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        jalon_on(&app, &args)
    };

    let refused = migrate(&bad, &["--dry-run"]);
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "{}:2:16: error[mapping-unknown-state]: `exmen` is not a state of the new version",
            bad.display()
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("did you mean `examen`?"),
        "{}",
        refused.stderr
    );
    // The variable `motif` is neither renamed nor dropped in this file.
    assert!(
        refused.stderr.contains("mapping-unmapped-variable"),
        "{}",
        refused.stderr
    );

    let dry = migrate(&good, &["--dry-run", "--case", "A", "--case", "C"]);
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    assert!(
        dry.stdout.starts_with("dry run: nothing is written\n"),
        "{}",
        dry.stdout
    );
    let a_line = format!("case A ({}): v1 -> v2, instruction -> examen", ids["A"]);
    assert!(dry.stdout.contains(&a_line), "{}", dry.stdout);
    assert!(
        dry.stdout.contains("  state instruction -> examen\n"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("  variable motif renamed motifs\n"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("armed, due 2027-01-06 (recomputed, was 2026-12-29)"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .ends_with("2 case(s) of migration-e2e would move to version 2, 0 left as they are\n"),
        "{}",
        dry.stdout
    );
    for id in ids.values() {
        assert_eq!(version_of(&app, id).await, 1);
    }

    let done = migrate(&good, &["--case", "A", "--case", "C"]);
    assert_eq!(done.code, 0, "{}{}", done.stdout, done.stderr);
    // The same lines as the dry run announced, the dry run's header and summary aside.
    let body = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("  "))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(body(&done.stdout), body(&dry.stdout));
    assert!(
        done.stdout
            .contains("2 case(s) of migration-e2e moved to version 2")
    );
    for (key, version) in [("A", 2), ("B", 1), ("C", 2), ("D", 1)] {
        assert_eq!(version_of(&app, &ids[key]).await, version, "{key}");
    }
    let verify = jalon_on(&app, &["verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(verify.stdout.ends_with(", 0 broken\n"), "{}", verify.stdout);
}

on_both_backends!(migrate_command);
