//! Crashes of the real `jalon serve` process under load: SIGKILL at random moments while
//! clients start cases and send events, restarts, and then the promises are checked from the
//! database and the file drop: no acknowledged start or event lost or doubled, every timer
//! fired exactly once, every queued notice delivered as a file whose bytes are the ones the
//! API reports, the SQLite file intact, `jalon verify` clean. SQLite: one process, 3 rounds;
//! PostgreSQL: two processes sharing the database, 2 rounds.
//!
//! The workflow (`tests/fixtures/fault/panne`) counts its deadline from a date in the past, so
//! each case's timer is due as soon as it starts and the process, on the system clock, fires
//! it. Leases of a killed process (timers 60 s, notices 120 s) would hold its claimed rows for
//! that long; rather than wait, the test ends them in the database once every process is down,
//! as the time would have.
//!
//! The moments and the requests come from one seed, printed; `JALON_FAULT_SEED` replays it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, QueryResult, Statement};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::server::harness::{Backend, fresh_database};
use crate::support::jalon_with;

/// The date the deadlines are counted from: long past, so every timer is due at start.
const RECU_LE: &str = "2026-01-05";
/// Concurrent clients.
const CLIENTS: usize = 4;
/// Requests per client and round, at most (the kill usually comes first).
const MAX_REQUESTS: usize = 150;

struct Setup {
    dir: tempfile::TempDir,
    data: PathBuf,
    url: Option<String>,
    spawned: usize,
}

impl Setup {
    async fn new(backend: Backend) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let url = fresh_database(backend).await;
        Setup {
            dir,
            data,
            url,
            spawned: 0,
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("JALON_DATA_DIR", self.data.display().to_string())];
        if let Some(u) = &self.url {
            env.push(("JALON_DATABASE_URL", u.clone()));
        }
        env
    }

    fn jalon(&self, args: &[&str]) -> crate::support::Run {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        jalon_with(args, &env)
    }

    fn db_url(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| store::sqlite_url(&self.data))
    }

    /// Starts `jalon serve` and waits for the line that says where it listens.
    fn spawn(&mut self) -> Serve {
        self.spawned += 1;
        let log = self.dir.path().join(format!("serve-{}.log", self.spawned));
        let out = File::create(&log).unwrap();
        let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fault");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_jalon"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--workflows"])
            .arg(&workflows)
            .current_dir(self.dir.path())
            .env("JALON_LOG", "warn")
            .env_remove("JALON_CALENDAR")
            .env_remove("JALON_CONFIG")
            .env_remove("JALON_SMTP_HOST")
            .env_remove("JALON_DATABASE_URL")
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        let child = cmd.spawn().expect("jalon serve starts");
        let mut serve = Serve {
            child,
            base: String::new(),
            log,
        };
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&serve.log).unwrap_or_default();
            if let Some(addr) = text
                .lines()
                .find_map(|l| l.strip_prefix("jalon listening on "))
            {
                serve.base = addr.trim().to_owned();
                return serve;
            }
            if let Some(status) = serve.child.try_wait().unwrap() {
                panic!("jalon serve exited ({status}): {text}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "jalon serve did not listen: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct Serve {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Serve {
    fn sigkill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits (bounded) for the clean stop.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let started = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                assert!(s.success(), "{s}: {log}");
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a client knows of a request.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    /// 2xx: the server promised it.
    Acked,
    /// A 4xx: refused, nothing changed.
    Refused(u16),
    /// No answer (the process died) or a 5xx: it may or may not have happened, once at most.
    Unknown,
    /// No connection (the process was dead already): it did not happen.
    NotSent,
}

#[derive(Default)]
struct Record {
    /// Business key → outcome and the case id if acknowledged.
    starts: BTreeMap<String, (Outcome, Option<String>)>,
    /// Reason (unique per request) → case id and outcome.
    events: BTreeMap<String, (String, Outcome)>,
    /// Acknowledged case ids, the events' targets.
    known: Vec<String>,
}

/// One client: starts cases and sends events to the cases it knows, until told to stop.
async fn client(
    bases: Vec<String>,
    token: String,
    rec: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
    mut rng: StdRng,
    tag: String,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for n in 0..MAX_REQUESTS {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let base = &bases[rng.random_range(0..bases.len())];
        let target = {
            let r = rec.lock().unwrap();
            (!r.known.is_empty() && rng.random_bool(0.6))
                .then(|| r.known[rng.random_range(0..r.known.len())].clone())
        };
        let name = format!("{tag}-{n}");
        let (url, body) = match &target {
            None => (
                format!("{base}/api/v1/cases"),
                json!({"workflow": "panne", "key": name,
                       "inputs": {"recu_le": RECU_LE, "courriel": format!("{name}@example.org")}}),
            ),
            Some(id) => (
                format!("{base}/api/v1/cases/{id}/events"),
                json!({"event": "noter", "inputs": {"note": name}, "reason": name}),
            ),
        };
        let answer = http.post(url).bearer_auth(&token).json(&body).send().await;
        let (outcome, reply) = match answer {
            Ok(r) if r.status().is_success() => (
                Outcome::Acked,
                r.json::<Value>().await.unwrap_or(Value::Null),
            ),
            Ok(r) if r.status().is_client_error() => (Outcome::Refused(r.status().as_u16()), {
                r.json::<Value>().await.unwrap_or(Value::Null)
            }),
            Err(e) if e.is_connect() => (Outcome::NotSent, Value::Null),
            _ => (Outcome::Unknown, Value::Null),
        };
        let mut r = rec.lock().unwrap();
        match target {
            None => {
                // Acknowledged, but the body may have been cut by the kill: the key is enough.
                let id = reply["id"].as_str().map(str::to_owned);
                if let (Outcome::Acked, Some(id)) = (&outcome, &id) {
                    r.known.push(id.clone());
                }
                r.starts.insert(name, (outcome, id));
            }
            Some(id) => {
                r.events.insert(name, (id, outcome));
            }
        }
    }
}

/// Runs the clients against `servers` until `kill` has killed them; returns when every
/// client has stopped.
async fn load_then_kill(
    servers: Vec<Serve>,
    token: &str,
    rec: &Arc<Mutex<Record>>,
    rng: &mut StdRng,
    round: usize,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            tokio::spawn(client(
                bases.clone(),
                token.to_owned(),
                rec.clone(),
                stop.clone(),
                StdRng::seed_from_u64(rng.random()),
                format!("r{round}c{c}"),
            ))
        })
        .collect();
    // Kill the processes one after the other, each at a random moment.
    let mut servers = servers;
    while !servers.is_empty() {
        let wait = rng.random_range(200..1200);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let victim = servers.remove(rng.random_range(0..servers.len()));
        println!("round {round}: SIGKILL of {} after {wait} ms", victim.base);
        tokio::task::spawn_blocking(move || victim.sigkill())
            .await
            .unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
}

async fn query(db: &DatabaseConnection, sql: &str) -> Vec<QueryResult> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    query(db, sql).await[0].try_get_by_index::<i64>(0).unwrap()
}

async fn crash_and_recover(backend: Backend, processes: usize, rounds: usize) {
    let seed: u64 = std::env::var("JALON_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("fault test ({backend:?}): seed {seed} (JALON_FAULT_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut setup = Setup::new(backend).await;
    let migrate = setup.jalon(&["migrate"]);
    assert_eq!(migrate.code, 0, "{}", migrate.stderr);
    let add = setup.jalon(&[
        "actors",
        "add",
        "--name",
        "Agent",
        "--email",
        "agent@example.org",
        "--roles",
        "agent",
    ]);
    assert_eq!(add.code, 0, "{}", add.stderr);
    let token = add.stdout.lines().last().unwrap().to_owned();

    let rec = Arc::new(Mutex::new(Record::default()));
    for round in 1..=rounds {
        let servers: Vec<Serve> = (0..processes).map(|_| setup.spawn()).collect();
        load_then_kill(servers, &token, &rec, &mut rng, round).await;
    }

    // Every process is down: the leases they held end, as time would end them.
    let db = Database::connect(setup.db_url()).await.unwrap();
    db.execute_unprepared(
        "UPDATE timers SET lease_owner = NULL, lease_until = NULL WHERE status = 'armed'",
    )
    .await
    .unwrap();
    db.execute_unprepared(
        "UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE status = 'pending'",
    )
    .await
    .unwrap();

    // Notices a killed process wrote but did not record as sent: the documented window of
    // duplicates. Their files must come out of the redelivery byte for byte the same.
    let outbox = setup.data.join("outbox");
    let mut written_unrecorded: BTreeMap<String, String> = BTreeMap::new();
    for r in query(
        &db,
        "SELECT id, case_id FROM outbox WHERE status = 'pending'",
    )
    .await
    {
        let (id, case): (i64, String) = (
            r.try_get_by_index(0).unwrap(),
            r.try_get_by_index(1).unwrap(),
        );
        let name = format!("{case}-{id}.eml");
        if let Ok(bytes) = std::fs::read(outbox.join(&name)) {
            written_unrecorded.insert(name, hex::encode(Sha256::digest(&bytes)));
        }
    }

    // Restart and let the processes finish what was due.
    let servers: Vec<Serve> = (0..processes).map(|_| setup.spawn()).collect();
    let started = Instant::now();
    loop {
        let armed = count(&db, "SELECT COUNT(*) FROM timers WHERE status = 'armed'").await;
        let pending = count(&db, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'").await;
        if armed == 0 && pending == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "after restart: {armed} timers still armed, {pending} notices pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let rec = std::mem::take(&mut *rec.lock().unwrap());
    let acked_starts = rec
        .starts
        .values()
        .filter(|s| s.0 == Outcome::Acked)
        .count();
    let acked_events = rec
        .events
        .values()
        .filter(|e| e.1 == Outcome::Acked)
        .count();
    let outcomes = |o: Outcome| {
        rec.starts.values().filter(|s| s.0 == o).count()
            + rec.events.values().filter(|e| e.1 == o).count()
    };
    println!(
        "fault test ({backend:?}): {} starts ({acked_starts} acknowledged), {} events \
         ({acked_events} acknowledged), {} without an answer, {} refused connections",
        rec.starts.len(),
        rec.events.len(),
        outcomes(Outcome::Unknown),
        outcomes(Outcome::NotSent)
    );
    assert!(
        acked_starts > 0 && acked_events > 0,
        "the load did something"
    );
    let refused: Vec<_> = rec
        .starts
        .iter()
        .map(|(k, s)| (k, &s.0))
        .chain(rec.events.iter().map(|(k, e)| (k, &e.1)))
        .filter(|(_, o)| matches!(o, Outcome::Refused(_)))
        .collect();
    assert!(refused.is_empty(), "refused: {refused:?}");

    // The API's record of each notice is the file in the drop, byte for byte.
    let http = reqwest::Client::new();
    let mut files_checked = 0;
    for id in &rec.known {
        let notices: Vec<Value> = http
            .get(format!("{}/api/v1/cases/{id}/notices", servers[0].base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(!notices.is_empty(), "case {id} has no notice");
        for n in &notices {
            assert_eq!(n["status"], "sent", "{n}");
            let file = outbox.join(format!("{id}-{}.eml", n["id"]));
            let bytes =
                std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e} ({n})", file.display()));
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                n["eml_sha256"].as_str().unwrap(),
                "{}",
                file.display()
            );
            files_checked += 1;
        }
    }
    for s in servers {
        tokio::task::spawn_blocking(move || s.stop()).await.unwrap();
    }

    // From the database, every process stopped.
    let cases: BTreeMap<String, (String, String)> =
        query(&db, "SELECT id, business_key, state FROM cases")
            .await
            .iter()
            .map(|r| {
                let (id, key, state): (String, String, String) = (
                    r.try_get_by_index(0).unwrap(),
                    r.try_get_by_index(1).unwrap(),
                    r.try_get_by_index(2).unwrap(),
                );
                (key, (id, state))
            })
            .collect();
    for (key, (outcome, id)) in &rec.starts {
        match (outcome, cases.get(key)) {
            (Outcome::Acked, Some((stored, _))) => {
                assert!(id.as_ref().is_none_or(|id| id == stored), "{key}")
            }
            (Outcome::Acked, None) => panic!("acknowledged start {key} lost"),
            (Outcome::NotSent, Some(_)) => panic!("start {key} never reached a server"),
            _ => {}
        }
    }
    for (key, (id, state)) in &cases {
        assert!(
            rec.starts.contains_key(key),
            "case {key} was never asked for"
        );
        assert_eq!(state, "echu", "case {id} ({key}): its timer did not fire");
    }
    let history = query(&db, "SELECT case_id, trigger, reason FROM history").await;
    let mut timer_fires: BTreeMap<String, usize> = BTreeMap::new();
    let mut transitions: BTreeMap<String, usize> = BTreeMap::new();
    let mut events: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &history {
        let case: String = r.try_get_by_index(0).unwrap();
        let trigger: String = r.try_get_by_index(1).unwrap();
        let reason: Option<String> = r.try_get_by_index(2).unwrap();
        *transitions.entry(case.clone()).or_default() += 1;
        if trigger.starts_with("timer ") {
            *timer_fires.entry(case.clone()).or_default() += 1;
        }
        if let Some(reason) = reason {
            events.entry(reason).or_default().push(case);
        }
    }
    for (id, _) in cases.values() {
        assert_eq!(
            timer_fires.get(id),
            Some(&1),
            "case {id}: timer fired not once"
        );
    }
    for (reason, (id, outcome)) in &rec.events {
        let rows = events.get(reason).map_or(0, Vec::len);
        match outcome {
            Outcome::Acked => assert_eq!(rows, 1, "acknowledged event {reason} on {id}"),
            Outcome::NotSent => assert_eq!(rows, 0, "event {reason} never reached a server"),
            _ => assert!(rows <= 1, "event {reason} applied {rows} times"),
        }
        if rows == 1 {
            assert_eq!(&events[reason][0], id);
        }
    }
    assert!(
        events.keys().all(|r| rec.events.contains_key(r)),
        "an event nobody sent"
    );

    // One notice per transition (the workflow sends one on each), each sent, as its file.
    let notices = query(&db, "SELECT id, case_id, status, eml_hash FROM outbox").await;
    let mut per_case: BTreeMap<String, usize> = BTreeMap::new();
    let mut names = BTreeSet::new();
    for r in &notices {
        let (id, case, status, hash): (i64, String, String, Option<String>) = (
            r.try_get_by_index(0).unwrap(),
            r.try_get_by_index(1).unwrap(),
            r.try_get_by_index(2).unwrap(),
            r.try_get_by_index(3).unwrap(),
        );
        assert_eq!(status, "sent", "notice {id}");
        let name = format!("{case}-{id}.eml");
        let bytes = std::fs::read(outbox.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(Some(hex::encode(Sha256::digest(&bytes))), hash, "{name}");
        *per_case.entry(case).or_default() += 1;
        names.insert(name);
    }
    assert_eq!(per_case, transitions, "one notice per transition");
    for (name, before) in &written_unrecorded {
        let after = hex::encode(Sha256::digest(std::fs::read(outbox.join(name)).unwrap()));
        assert_eq!(&after, before, "{name} delivered again with other bytes");
    }
    // A process killed while writing leaves its temporary file behind (swept at a start ten
    // minutes later): never named like a notice; every other file is a notice of the outbox.
    let (temporary, on_disk): (BTreeSet<String>, BTreeSet<String>) = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .partition(|n| n.starts_with('.'));
    assert!(
        temporary.iter().all(|n| n.ends_with(".part")),
        "a temporary file named like a notice: {temporary:?}"
    );
    let stray: Vec<_> = on_disk.difference(&names).collect();
    let missing: Vec<_> = names.difference(&on_disk).collect();
    assert!(
        stray.is_empty() && missing.is_empty(),
        "files that are no notice: {stray:?}; notices without a file: {missing:?}"
    );

    if matches!(backend, Backend::Sqlite) {
        let ok = query(&db, "PRAGMA integrity_check").await;
        let verdict: String = ok[0].try_get_by_index(0).unwrap();
        assert_eq!(verdict, "ok");
        println!("fault test: PRAGMA integrity_check: {verdict}");
    }
    db.close().await.unwrap();
    let verify = setup.jalon(&["verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(verify.stdout.ends_with(" 0 broken\n"), "{}", verify.stdout);
    println!(
        "fault test ({backend:?}): {} cases, {} history rows, {} notices ({files_checked} \
         checked through the API, {} delivered again after a kill, {} temporary files left by \
         the kills), {}",
        cases.len(),
        history.len(),
        notices.len(),
        written_unrecorded.len(),
        temporary.len(),
        verify.stdout.trim()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_process_killed_three_times() {
    crash_and_recover(Backend::Sqlite, 1, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_processes_killed_twice() {
    crash_and_recover(Backend::Postgres, 2, 2).await;
}
