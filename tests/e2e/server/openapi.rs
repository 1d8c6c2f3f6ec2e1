//! The OpenAPI document against the server itself: its shape (every path parameter declared,
//! query parameters in the query, the common error responses), then schemathesis (PyPI, in
//! the test virtualenv) fuzzing every operation on a bounded budget with all its checks:
//! every response must be one the document describes, in the shape it describes.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use super::harness::{Backend, spawn_app};

async fn document(app: &super::harness::TestApp) -> Value {
    app.http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// What schemathesis found missing before: `{id}` and `{notice}` undeclared, query
/// parameters declared in the path, 400/401/413/503 undocumented, `details` never null.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_declares_its_parameters_and_errors() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let names: Vec<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(n, _)| n))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for name in &names {
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == *name && p["in"] == "path"),
                    "{method} {path}: {{{name}}} undeclared"
                );
            }
            for p in &params {
                if p["in"] == "path" {
                    assert!(
                        names.contains(&p["name"].as_str().unwrap()),
                        "{method} {path}: {p}"
                    );
                }
            }
            for status in ["400", "401", "503"] {
                assert_eq!(
                    op["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
            if op.get("requestBody").is_some() {
                assert!(op["responses"]["413"].is_object(), "{method} {path}");
            }
        }
    }
    assert!(operations >= 16, "{operations}");
    let list = &doc["paths"]["/cases"]["get"]["parameters"];
    for p in list.as_array().unwrap() {
        assert_eq!(p["in"], "query", "{p}");
    }
    let details = &doc["components"]["schemas"]["ErrorBody"]["properties"]["details"];
    assert!(
        details["type"]
            .as_array()
            .is_some_and(|t| t.contains(&Value::from("null"))),
        "{details}"
    );
}

/// Operations whose bodies carry what only the server can judge (a workflow's YAML, a
/// workflow's own inputs): a schema-valid body may still be a 422 refusal there.
const SCHEMATHESIS_CONFIG: &str = r#"
[[operations]]
include-path = "/workflows"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2XX", 401, 403, 404, 409, 422]

[[operations]]
include-path = "/cases"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2XX", 401, 403, 404, 409, 422]

[[operations]]
include-path = "/cases/{id}/events"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2XX", 401, 403, 404, 409, 422]
"#;

/// Bounded: 20 examples per operation and a fixed seed (the run is the same each time; the
/// seed is printed, so another seed tried by hand is reproducible too), the whole run killed
/// after two minutes. Loopback only: proxies are ignored and nothing else is contacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_mismatch() {
    let app = spawn_app(Backend::Sqlite).await;
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("schemathesis.toml");
    std::fs::write(&config, SCHEMATHESIS_CONFIG).unwrap();
    let python = std::env::var("JALON_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let log = work.path().join("schemathesis.log");
    let mut child = std::process::Command::new(&python)
        .args(["-m", "schemathesis.cli", "--no-color", "--config-file"])
        .arg(&config)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", app.base))
        .args(["--checks", "all", "--max-examples", "20", "--seed", "1"])
        .args(["--request-timeout", "10", "--workers", "2"])
        .arg("--header")
        .arg(format!("Authorization: Bearer {}", app.admin))
        // Hypothesis keeps its example database under the working directory.
        .current_dir(work.path())
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("all_proxy")
        .env("NO_PROXY", "*")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::from(
            std::fs::File::create(work.path().join("stderr")).unwrap(),
        ))
        .spawn()
        .unwrap_or_else(|e| panic!("{python} -m schemathesis (scripts/setup-test-tools): {e}"));
    // The server runs on this test's runtime: wait without blocking it, at most two minutes.
    let mut status = None;
    for _ in 0..600 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "schemathesis ran for more than two minutes:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    };
    let stdout = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "schemathesis: {status}\n{stdout}\n{}",
        std::fs::read_to_string(work.path().join("stderr")).unwrap_or_default()
    );
    assert!(stdout.contains("Tested: "), "{stdout}");
}
