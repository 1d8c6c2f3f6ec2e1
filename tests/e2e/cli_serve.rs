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
    listening(launch(command))
}

/// Spawns a `jalon serve` command without waiting for it.
fn launch(command: &mut Command) -> Child {
    command
        .env("JALON_LOG", "info")
        .env_remove("JALON_CALENDAR")
        .env_remove("JALON_DATABASE_URL")
        .env_remove("JALON_SMTP_HOST")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jalon serve starts")
}

/// Waits for the line that says where a launched server listens.
fn listening(mut child: Child) -> Server {
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let Some(base) = first.trim().strip_prefix("jalon listening on ") else {
        let _ = child.kill();
        let mut log = String::new();
        let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log);
        panic!("unexpected first line: {first:?}\n{log}");
    };
    let base = base.to_owned();
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
    // Private to the server's user: the folder, the database and its WAL files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700, "{}", data.display());
        for file in ["jalon.db", "jalon.db-wal", "jalon.db-shm"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
    }

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
    let url = fresh_database(Backend::Postgres)
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

/// Three `jalon serve` started at once on a fresh PostgreSQL database: each migrates (one at a
/// time, under an advisory lock), deploys and becomes ready. Without the lock two of them
/// used to exit on `duplicate key … pg_type_typname_nsp_index`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_start_together_on_a_fresh_postgres() {
    use crate::server::harness::{Backend, fresh_database};
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Postgres)
        .await
        .expect("a PostgreSQL database");
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let launched: Vec<Child> = (0..3)
        .map(|i| {
            launch(
                Command::new(env!("CARGO_BIN_EXE_jalon"))
                    .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
                    .arg("--data")
                    .arg(dir.path().join(format!("data-{i}")))
                    .arg("--workflows")
                    .arg(&workflows),
            )
        })
        .collect();
    let servers: Vec<Server> = launched.into_iter().map(listening).collect();
    let http = reqwest::Client::new();
    for server in &servers {
        let r = http
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", server.base);
    }
}

/// SQLite on a full disk: the database lives on a 4 MiB tmpfs in a mount namespace of the
/// server's own (`unshare`: as root, or through a user namespace), filled up by the test
/// through `/proc/<pid>/root`. Writes answer 503 `storage_full` with `Retry-After` (not a
/// 500), `/readyz` says `storage_full` (it used to stay "ready"), and once space is freed
/// both recover without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let token_file = dir.path().join("token");
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let script = r#"set -e
mount -t tmpfs -o size=4m tmpfs "$MNT"
"$JALON" actors add --name Greffe --email greffe@example.org --roles chambre_secretaire --data "$MNT/data" > "$TOKEN"
exec "$JALON" serve --listen 127.0.0.1:0 --data "$MNT/data" --workflows "$WORKFLOWS""#;
    let server = start(
        Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sh", "-c", script])
            .env("MNT", &mnt)
            .env("JALON", env!("CARGO_BIN_EXE_jalon"))
            .env("TOKEN", &token_file)
            .env("WORKFLOWS", &workflows),
    );
    let token = std::fs::read_to_string(&token_file).unwrap();
    let token = token.lines().last().unwrap().trim().to_owned();
    let http = reqwest::Client::new();
    let readyz = || async {
        let r = http
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    };
    let start_case = |key: String| {
        let (http, base, token) = (&http, &server.base, &token);
        async move {
            let r = http
                .post(format!("{base}/api/v1/cases"))
                .bearer_auth(token)
                .json(&json!({"workflow": "chambre-recours", "key": key,
                    "inputs": {"matiere": "evaluation", "recours_recu_le": "2026-12-17"}}))
                .send()
                .await
                .unwrap();
            let retry = r.headers().get("retry-after").cloned();
            (r.status().as_u16(), retry, r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(readyz().await, (200, "ready".to_owned()));
    let (status, _, body) = start_case("CR-0".into()).await;
    assert_eq!(status, 201, "{body}");

    // Fill the server's disk, through its own view of the file system.
    let filler = Path::new("/proc")
        .join(server.child.id().to_string())
        .join("root")
        .join(mnt.strip_prefix("/").unwrap())
        .join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).expect("the server's tmpfs");
        let chunk = vec![0u8; 16 * 1024];
        while f.write_all(&chunk).is_ok() {}
    }
    let mut full = None;
    for i in 1..=500 {
        let (status, retry, body) = start_case(format!("CR-{i}")).await;
        if status == 201 {
            continue;
        }
        full = Some((status, retry, body));
        break;
    }
    let (status, retry, body) = full.expect("a write fails once the disk is full");
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("storage_full")),
        "{body}"
    );
    assert!(retry.is_some(), "Retry-After");
    let (status, body) = readyz().await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("storage_full"), "{body}");

    std::fs::remove_file(&filler).unwrap();
    let mut ready = false;
    for _ in 0..40 {
        if readyz().await.0 == 200 {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(ready, "/readyz never came back after space was freed");
    let (status, _, body) = start_case("CR-AFTER".into()).await;
    assert_eq!(status, 201, "{body}");
}

/// The same race without the processes: three stores opened at once on a fresh PostgreSQL
/// database all migrate it (one after the other) and agree on its schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_stores_open_together_on_a_fresh_postgres() {
    use crate::server::harness::{Backend, fresh_database};
    let url = fresh_database(Backend::Postgres)
        .await
        .expect("a PostgreSQL database");
    let open = || store::Store::open(&url, engine::calendar::Calendar::fwb());
    let (a, b, c) = tokio::join!(open(), open(), open());
    for store in [a, b, c] {
        let store = store.expect("the store opens and migrates");
        store.ready().await.expect("ready");
        store.close().await.unwrap();
    }
}

/// Stores opened at once on a new SQLite file connect and migrate it one after the other (a
/// lock on its folder), instead of each creating the same tables, or turning the new file to
/// WAL together, which SQLite refuses with "database is locked" without waiting. That refusal
/// came in a few percent of such starts, so the test starts many.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_open_together_on_a_new_sqlite_file() {
    for _ in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        let url = store::sqlite_url(dir.path());
        let open = || store::Store::open(&url, engine::calendar::Calendar::fwb());
        let (a, b, c, d) = tokio::join!(open(), open(), open(), open());
        for store in [a, b, c, d] {
            let store = store.expect("the store opens and migrates");
            store.ready().await.expect("ready");
            store.close().await.unwrap();
        }
    }
}
