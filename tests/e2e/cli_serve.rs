//! The real `jalon serve` process, as the README's tour runs it: embedded SQLite under its data
//! folder, an actor added by `jalon actors add` while it runs, a notice written as an `.eml`,
//! a clean stop on SIGTERM, a revoked token refused.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{jalon, jalon_with};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path) -> Server {
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    start(
        Command::new(env!("CARGO_BIN_EXE_jalon"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .arg("--workflows")
            .arg(&workflows),
    )
}

/// Spawns a `jalon serve` command (on the embedded database, notices as files) and waits for
/// the line that says where it listens.
fn start(command: &mut Command) -> Server {
    let mut child = command
        .env("JALON_LOG", "info")
        .env_remove("JALON_CALENDAR")
        .env_remove("JALON_DATABASE_URL")
        .env_remove("JALON_SMTP_HOST")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jalon serve starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .trim()
        .strip_prefix("jalon listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
        .to_owned();
    Server { child, base }
}

/// Waits for `cond`, checking every 50 ms, at most 10 s.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tour_then_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = serve(&data);
    assert!(
        data.join("jalon.db").is_file(),
        "database created on first start"
    );

    let add = jalon(&[
        "actors",
        "add",
        "--name",
        "Greffe",
        "--email",
        "greffe@example.org",
        "--roles",
        "chambre_secretaire,requerant",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(add.code, 0, "{}", add.stderr);
    let token = add.stdout.lines().last().unwrap().to_owned();
    assert!(token.starts_with("jalon_"), "{}", add.stdout);

    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{}/api/v1{path}", server.base))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = post(
        "/cases",
        json!({"workflow": "chambre-recours", "key": "CR-TOUR",
               "inputs": {"matiere": "evaluation", "recours_recu_le": "2026-12-17"}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = post(
        &format!("/cases/{id}/events"),
        json!({"event": "communiquer_liste", "inputs": {"liste_recue_le": "2026-12-18"}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.json::<Value>().await.unwrap();
    assert_eq!(body["deadlines"][0]["due_date"], "2027-01-05");

    // The notice to the requérant is written as a file by the running dispatcher.
    let outbox = data.join("outbox");
    eventually("a notice in data/outbox", || {
        std::fs::read_dir(&outbox).is_ok_and(|d| d.count() == 1)
    });

    // SIGTERM: the server stops by itself, cleanly.
    let pid = server.child.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let mut log = String::new();
    std::io::Read::read_to_string(server.child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(log.contains("stopped cleanly"), "{log}");

    // Revoked while stopped; the next server refuses the token.
    let revoke = jalon(&[
        "actors",
        "revoke",
        "greffe@example.org",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(revoke.code, 0, "{}", revoke.stderr);
    let again = serve(&data);
    let r = http
        .get(format!("{}/api/v1/cases/{id}", again.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// `jalon migrate`, then `jalon actors add` and `jalon actors list`, all configured by `env`
/// alone; returns the new actor's token.
fn migrate_then_add_an_actor(env: &[(&str, &str)]) -> String {
    let migrate = jalon_with(&["migrate"], env);
    assert_eq!(migrate.code, 0, "{}", migrate.stderr);
    assert_eq!(migrate.stdout.trim(), "database is up to date");
    let add = jalon_with(
        &[
            "actors",
            "add",
            "--name",
            "Greffe",
            "--email",
            "greffe@example.org",
            "--roles",
            "admin,operator",
        ],
        env,
    );
    assert_eq!(add.code, 0, "{}", add.stderr);
    let list = jalon_with(&["actors", "list"], env);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let listed: Vec<Vec<&str>> = list
        .stdout
        .lines()
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(listed.len(), 1, "{}", list.stdout);
    assert_eq!(
        listed[0][1..],
        ["Greffe", "greffe@example.org", "admin,operator"]
    );
    add.stdout.lines().last().unwrap().to_owned()
}

/// Every setting from the environment alone, as a service manager would give them: the
/// schema made beforehand by `jalon migrate`, an actor added and listed, the server on the
/// address, data folder and workflows the variables name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("env-data");
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
    let env = [("JALON_DATA_DIR", data.to_str().unwrap())];

    let token = migrate_then_add_an_actor(&env);
    assert!(
        data.join("jalon.db").is_file(),
        "migrate creates the database"
    );

    let server = start(
        Command::new(env!("CARGO_BIN_EXE_jalon"))
            .arg("serve")
            .env("JALON_LISTEN", "127.0.0.1:0")
            .env("JALON_DATA_DIR", &data)
            .env("JALON_WORKFLOWS", &workflows),
    );
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/workflows", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut deployed: Vec<String> = r
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .iter()
        .map(|v| v["workflow"].as_str().unwrap().to_owned())
        .collect();
    deployed.sort();
    assert_eq!(deployed, ["avis-exemple", "recours-exemple"]);
}

/// `jalon migrate` on PostgreSQL: the URL from the environment, the schema made there (an
/// actor can be added and listed straight after), nothing made under the data folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_on_postgres() {
    use crate::server::harness::{Backend, fresh_database};
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Postgres, dir.path())
        .await
        .expect("a PostgreSQL database");
    let unused = dir.path().join("unused");
    let env = [
        ("JALON_DATABASE_URL", url.as_str()),
        ("JALON_DATA_DIR", unused.to_str().unwrap()),
    ];
    migrate_then_add_an_actor(&env);
    // The URL wins over the data folder: no SQLite file was made.
    assert!(!unused.exists());
}
