//! `jalon bench server`: durable throughput on this machine — cases started, events applied
//! and timers fired per second, each one a committed transaction (SQLite: WAL, synchronous
//! FULL; PostgreSQL: synchronous_commit as the server is configured); notices delivered per
//! second by the outbox dispatcher (claim, render, build, deliver, record) to the file drop and,
//! with `--smtp`, to a loopback relay — and the resident memory of an idle `jalon serve`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeZone;
use chrono_tz::Europe::Brussels;
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

use super::Failure;
use crate::clock::{Clock, ManualClock};
use crate::server::dispatcher::{Delivery, Dispatcher};
use crate::server::notice_config::DEFAULT_FROM;
use crate::server::scheduler::Scheduler;
use store::Store;
use store::drive::EventRequest;

/// Concurrent clients, as the HTTP requests of a busy day would be: on SQLite, transitions
/// that arrive together share one COMMIT (`store/batch.rs`), so throughput grows with them.
const WORKERS: usize = 64;

/// Bytes this process has had written to storage so far (Linux `/proc/self/io`): the cost of
/// durability per transition, WAL and checkpoints included.
fn written() -> Option<u64> {
    std::fs::read_to_string("/proc/self/io")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// ", 21 KiB written each", when the kernel tells and the database is this process's (on
/// PostgreSQL the server process writes).
fn per_transition(local: bool, since: Option<u64>, n: usize) -> String {
    match (since, written()) {
        (Some(a), Some(b)) if local && n > 0 => {
            format!(
                ", {:.1} KiB written each",
                (b - a) as f64 / 1024.0 / n as f64
            )
        }
        _ => String::new(),
    }
}

pub struct Target {
    pub name: &'static str,
    /// `None`: a SQLite file in a temporary folder.
    pub admin_url: Option<String>,
}

/// A PostgreSQL database made for one run, on a target's server.
pub(super) struct ScratchDb {
    pub url: String,
    pub name: String,
}

impl Target {
    /// A new scratch database when the target is PostgreSQL; `None` for SQLite.
    pub(super) async fn scratch(&self) -> Result<Option<ScratchDb>, Failure> {
        let Some(server) = &self.admin_url else {
            return Ok(None);
        };
        let name = format!("jalon_bench_{}", uuid::Uuid::new_v4().simple());
        on_server(server, &format!("CREATE DATABASE {name}")).await?;
        let url = database_url(server, &name)?;
        Ok(Some(ScratchDb { url, name }))
    }

    /// Drops a scratch database, even if a server killed midway still holds connections to it.
    pub(super) async fn drop_scratch(&self, scratch: &ScratchDb) -> Result<(), Failure> {
        let Some(server) = &self.admin_url else {
            return Ok(());
        };
        let name = &scratch.name;
        on_server(
            server,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await
    }
}

/// Runs `sql` on the server's `postgres` database (where databases are created and dropped).
async fn on_server(server: &str, sql: &str) -> Result<(), Failure> {
    let db = Database::connect(database_url(server, "postgres")?)
        .await
        .map_err(run_err)?;
    db.execute_unprepared(sql).await.map_err(run_err)?;
    db.close().await.ok();
    Ok(())
}

/// The URL of database `name` on the server `--postgres` named, whatever that URL's own path
/// and with its query (`?sslmode=disable`, say) kept.
fn database_url(server: &str, name: &str) -> Result<String, Failure> {
    let mut url = url::Url::parse(server)
        .map_err(|e| Failure::Usage(format!("--postgres expects a URL, got `{server}`: {e}")))?;
    url.set_path(name);
    Ok(url.into())
}

fn run_err(e: impl std::fmt::Display) -> Failure {
    Failure::Run(anyhow::anyhow!("{e}"))
}

/// The rates one run printed, by what they measure, for the summary over several runs.
#[derive(Default)]
struct Figures(Vec<(String, f64)>);

impl Figures {
    fn record(&mut self, target: &Target, what: &str, per_second: f64) {
        self.0
            .push((format!("server/{}: {what}", target.name), per_second));
    }
}

/// "median 10412/s (9272-11333/s)" of each figure over the runs, in the order first printed:
/// this machine's figures move by 15 % from one run to the next, so one run proves little.
fn summary(runs: &[Figures]) -> Vec<String> {
    let mut lines = Vec::new();
    let Some(first) = runs.first() else {
        return lines;
    };
    for (what, _) in &first.0 {
        let mut values: Vec<f64> = runs
            .iter()
            .flat_map(|r| r.0.iter().filter(|(w, _)| w == what).map(|(_, v)| *v))
            .collect();
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        lines.push(format!(
            "{what}: median {median:.0}/s ({:.0}-{:.0}/s, {n} runs)",
            values[0],
            values[n - 1]
        ));
    }
    lines
}

pub fn run(
    targets: &[Target],
    workflows: &Path,
    budget: Duration,
    smtp: Option<&notifiers::SmtpConfig>,
    runs: usize,
    stores: usize,
    options: store::Options,
) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(run_err)?;
    let mut figures: Vec<Figures> = Vec::new();
    for r in 1..=runs {
        if runs > 1 {
            println!("server: run {r} of {runs}");
        }
        let mut this = Figures::default();
        for t in targets {
            rt.block_on(one(t, workflows, budget, smtp, stores, options, &mut this))?;
        }
        figures.push(this);
    }
    if runs > 1 {
        println!("server: over {runs} runs");
        for line in summary(&figures) {
            println!("{line}");
        }
    }
    idle_rss(workflows)?;
    Ok(())
}

async fn one(
    t: &Target,
    workflows: &Path,
    budget: Duration,
    smtp: Option<&notifiers::SmtpConfig>,
    stores: usize,
    options: store::Options,
    figures: &mut Figures,
) -> Result<(), Failure> {
    let dir = tempfile::tempdir().map_err(run_err)?;
    let scratch = t.scratch().await?;
    let url = match &scratch {
        None => store::sqlite_url(dir.path()),
        Some(s) => s.url.clone(),
    };
    let store = Store::open_with(&url, engine::calendar::Calendar::fwb(), options)
        .await
        .map_err(run_err)?;
    let noon = |y, m, d| {
        Brussels
            .with_ymd_and_hms(y, m, d, 12, 0, 0)
            .unwrap()
            .to_utc()
    };
    let clock = ManualClock::new(noon(2026, 11, 2));
    let report = store
        .deploy_dir(workflows, None, clock.now())
        .await
        .map_err(run_err)?;
    if !report.refused.is_empty() {
        return Err(run_err(
            "the workflows do not validate; run `jalon validate`",
        ));
    }
    let (actor, _) = store
        .add_actor(
            "Bench",
            "bench@example.org",
            // `requerant`: each list of members sent queues one notice to this actor.
            &["chambre_secretaire".into(), "requerant".into()],
            clock.now(),
        )
        .await
        .map_err(run_err)?;
    let by = actor.engine();
    // Other stores on the same PostgreSQL database, as other `jalon serve` processes: their own
    // pools and batches, their row locks and commits competing with this one's.
    let mut all = vec![store.clone()];
    if t.admin_url.is_some() {
        for _ in 1..stores {
            let other = Store::open_with(&url, engine::calendar::Calendar::fwb(), options)
                .await
                .map_err(run_err)?;
            other.load_latest_versions().await.map_err(run_err)?;
            all.push(other);
        }
    }
    let on = match (all.len(), &t.admin_url) {
        (1, None) => String::new(),
        (1, Some(_)) => format!(", {} lanes", options.postgres_lanes),
        (n, _) => format!(", {n} stores of {} lanes", options.postgres_lanes),
    };

    // The floor under every figure below: one statement's round trip through the driver.
    let started = Instant::now();
    let mut statements = 0u32;
    while started.elapsed() < budget / 4 {
        store
            .db()
            .execute_unprepared("SELECT 1")
            .await
            .map_err(run_err)?;
        statements += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "server/{}: {:>8.0} statements/s (SELECT 1, one at a time: {:.0} µs per round trip)",
        t.name,
        f64::from(statements) / secs,
        secs * 1e6 / f64::from(statements)
    );

    // Cases started per second.
    let local = t.admin_url.is_none();
    let io = written();
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..WORKERS {
        let (store, by, now) = (all[w % all.len()].clone(), by.clone(), clock.now());
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            let t0 = Instant::now();
            while t0.elapsed() < budget {
                let inputs = [
                    ("matiere".to_owned(), json!("evaluation")),
                    ("recours_recu_le".to_owned(), json!("2026-11-02")),
                ]
                .into_iter()
                .collect();
                let key = format!("B-{w}-{}", ids.len());
                let row = store
                    .start_case("chambre-recours", &key, &by, inputs, now, None)
                    .await?;
                ids.push(row.id);
            }
            Ok::<_, store::Error>(ids)
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.extend(h.await.map_err(run_err)?.map_err(run_err)?);
    }
    let secs = started.elapsed().as_secs_f64();
    figures.record(t, "cases started", ids.len() as f64 / secs);
    println!(
        "server/{}: {:>8.0} cases started/s ({} cases, {WORKERS} clients{on}{})",
        t.name,
        ids.len() as f64 / secs,
        ids.len(),
        per_transition(local, io, ids.len())
    );

    // Events per second: each case receives its list of members (arming a timer). Half of
    // the cases receive it in the order they started: the clients then move through
    // neighbouring cases in step, and transitions of one batch share index pages. The other
    // half receive it in random order, as a day of requests on long-running cases would
    // come; each transition then writes index pages of its own.
    let mut shuffled = ids.split_off(ids.len() / 2);
    {
        use rand::seq::SliceRandom;
        shuffled.shuffle(&mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7));
    }
    let mut events = 0;
    for (order, ids) in [("in start order", ids), ("in random order", shuffled)] {
        let io = written();
        let started = Instant::now();
        let mut waits = send_lists(&all, ids, &by, clock.now()).await?;
        let secs = started.elapsed().as_secs_f64();
        let n = waits.len();
        figures.record(t, &format!("events {order}"), n as f64 / secs);
        println!(
            "server/{}: {:>8.0} transitions/s (events {order}, {WORKERS} clients{on}; {n} in {secs:.2} s; {}{})",
            t.name,
            n as f64 / secs,
            latency(&mut waits),
            per_transition(local, io, n)
        );
        events += n;
    }

    // The operator's stuck list, every case of the run open (each with its timer armed): how
    // long an operator waits for the page as cases accumulate.
    let started = Instant::now();
    let stuck = store
        .stuck(clock.now(), chrono::Duration::minutes(5))
        .await
        .map_err(run_err)?;
    println!(
        "server/{}: {:>8.1} ms for the operator's stuck list ({} open cases, {} listed)",
        t.name,
        started.elapsed().as_secs_f64() * 1e3,
        events,
        stuck.len()
    );

    // Timers fired per second: every recusation period has ended.
    clock.set(noon(2027, 3, 1));
    let io = written();
    let started = Instant::now();
    let mut passes = Vec::new();
    for store in &all {
        let scheduler = Scheduler::new(store.clone(), Arc::new(clock.clone()));
        passes.push(tokio::spawn(async move { scheduler.run_due().await }));
    }
    let mut fired = 0;
    for pass in passes {
        fired += pass.await.map_err(run_err)?.map_err(run_err)?.fired;
    }
    let secs = started.elapsed().as_secs_f64();
    figures.record(t, "timers fired", fired as f64 / secs);
    println!(
        "server/{}: {:>8.0} timers fired/s ({fired} in {secs:.2} s, one scheduler per store{on}{})",
        t.name,
        fired as f64 / secs,
        per_transition(local, io, fired)
    );
    if fired != events {
        return Err(run_err(format!("{fired} timers fired for {events} armed")));
    }
    notices(t, &store, &clock, dir.path(), events, smtp, figures).await?;
    for store in all {
        store.close().await.map_err(run_err)?;
    }
    if let Some(scratch) = &scratch {
        t.drop_scratch(scratch).await?;
    }
    Ok(())
}

/// The notices the events queued, delivered by one dispatcher: to the file drop, then (the same
/// notices made due again) to the SMTP relay.
async fn notices(
    t: &Target,
    store: &Store,
    clock: &ManualClock,
    dir: &Path,
    expected: usize,
    smtp: Option<&notifiers::SmtpConfig>,
    figures: &mut Figures,
) -> Result<(), Failure> {
    let mut transports = vec![(
        "file drop",
        "file drop".to_owned(),
        notifiers::Transport::FileDrop(notifiers::FileDrop::new(dir.join("outbox"))),
    )];
    if let Some(cfg) = smtp {
        let mut cfg = cfg.clone();
        cfg.from = DEFAULT_FROM.to_owned();
        let relay = format!(
            "SMTP {}:{}, {} connections",
            cfg.host,
            cfg.port(),
            cfg.pool_size
        );
        transports.push((
            "SMTP",
            relay,
            notifiers::Transport::Smtp(notifiers::Smtp::new(&cfg).map_err(run_err)?),
        ));
    }
    for (i, (kind, name, transport)) in transports.into_iter().enumerate() {
        if i > 0 {
            store
                .db()
                .execute_unprepared(&format!(
                    "UPDATE outbox SET status = 'pending', next_attempt_at = {} WHERE status = 'sent'",
                    crate::clock::millis(clock.now())
                ))
                .await
                .map_err(run_err)?;
        }
        let d = Dispatcher::new(
            store.clone(),
            Arc::new(clock.clone()),
            Delivery {
                from: DEFAULT_FROM.to_owned(),
                base_url: None,
                transport,
            },
        );
        let started = Instant::now();
        let pass = d.run_due().await.map_err(run_err)?;
        let secs = started.elapsed().as_secs_f64();
        figures.record(
            t,
            &format!("notices delivered ({kind})"),
            pass.sent as f64 / secs,
        );
        println!(
            "server/{}: {:>8.0} notices delivered/s ({name}: claim, render, build, deliver, record; {} in {secs:.2} s)",
            t.name,
            pass.sent as f64 / secs,
            pass.sent
        );
        if pass.sent != expected {
            return Err(run_err(format!(
                "{} notices sent for {expected} queued ({pass:?})",
                pass.sent
            )));
        }
    }
    Ok(())
}

/// Sends each case its list of members from [`WORKERS`] concurrent clients, each taking a
/// contiguous share of `ids` through one of `stores` in turn; returns how long each one waited
/// for its answer.
async fn send_lists(
    stores: &[Store],
    ids: Vec<String>,
    by: &engine::machine::Actor,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Duration>, Failure> {
    let began = Instant::now();
    let mut handles = Vec::new();
    for (i, chunk) in ids.chunks(ids.len().div_ceil(WORKERS).max(1)).enumerate() {
        let store = stores[i % stores.len()].clone();
        let (by, chunk) = (by.clone(), chunk.to_vec());
        handles.push(tokio::spawn(async move {
            let mut waits = Vec::with_capacity(chunk.len());
            for id in &chunk {
                let asked = Instant::now();
                let inputs = [("liste_recue_le".to_owned(), json!("2026-11-02"))]
                    .into_iter()
                    .collect();
                // Time goes on while the events arrive (cases entering a state at different
                // instants are indexed apart).
                let at = now + chrono::Duration::from_std(began.elapsed()).unwrap_or_default();
                store
                    .send_event(
                        EventRequest {
                            case_id: id,
                            event: "communiquer_liste",
                            by: &by,
                            inputs,
                            reason: None,
                            expected_version: None,
                        },
                        at,
                    )
                    .await?;
                waits.push(asked.elapsed());
            }
            Ok::<_, store::Error>(waits)
        }));
    }
    let mut waits = Vec::with_capacity(ids.len());
    for h in handles {
        waits.extend(h.await.map_err(run_err)?.map_err(run_err)?);
    }
    Ok(waits)
}

/// "p50 4.1 ms, p99 9.8 ms": how long a client waited for its answer (on SQLite, the price of
/// sharing a COMMIT with the other clients).
fn latency(waits: &mut [Duration]) -> String {
    if waits.is_empty() {
        return "no latency".into();
    }
    waits.sort_unstable();
    let at = |q: f64| {
        let i = ((waits.len() as f64 * q).ceil() as usize).clamp(1, waits.len()) - 1;
        waits[i].as_secs_f64() * 1e3
    };
    format!("p50 {:.1} ms, p99 {:.1} ms", at(0.50), at(0.99))
}

/// Starts `jalon serve` on an empty data folder, lets it settle, reads its resident memory.
fn idle_rss(workflows: &Path) -> Result<(), Failure> {
    let dir = tempfile::tempdir().map_err(run_err)?;
    let exe = std::env::current_exe().map_err(run_err)?;
    let mut child = Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .arg("--workflows")
        .arg(workflows)
        .env("JALON_LOG", "warn")
        .env_remove("JALON_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(run_err)?;
    let stdout = child.stdout.take().ok_or_else(|| run_err("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(run_err)?;
    std::thread::sleep(Duration::from_secs(2));
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .map(|l| l.trim_start_matches("VmRSS:").trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    println!(
        "server/idle: resident memory of `jalon serve` (SQLite, all workflows deployed): {rss}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_database_url_keeps_the_servers_query() {
        let url = |server| database_url(server, "jalon_bench_x").unwrap();
        assert_eq!(
            url("postgres://postgres@127.0.0.1:5432"),
            "postgres://postgres@127.0.0.1:5432/jalon_bench_x"
        );
        assert_eq!(
            url("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
            "postgres://postgres@127.0.0.1:5432/jalon_bench_x?sslmode=disable"
        );
        assert!(matches!(
            database_url("127.0.0.1:5432 x", "n"),
            Err(Failure::Usage(_))
        ));
    }

    #[test]
    fn the_summary_takes_the_median_of_each_figure_in_first_printed_order() {
        let sqlite = Target {
            name: "sqlite",
            admin_url: None,
        };
        let runs: Vec<Figures> = [[40.0, 10.0], [20.0, 30.0], [30.0, 20.0], [10.0, 40.0]]
            .iter()
            .map(|[cases, events]| {
                let mut f = Figures::default();
                f.record(&sqlite, "cases started", *cases);
                f.record(&sqlite, "events in random order", *events);
                f
            })
            .collect();
        assert_eq!(
            summary(&runs),
            [
                "server/sqlite: cases started: median 25/s (10-40/s, 4 runs)",
                "server/sqlite: events in random order: median 25/s (10-40/s, 4 runs)",
            ]
        );
        assert_eq!(
            summary(&runs[..3]),
            [
                "server/sqlite: cases started: median 30/s (20-40/s, 3 runs)",
                "server/sqlite: events in random order: median 20/s (10-30/s, 3 runs)",
            ]
        );
        assert!(summary(&[]).is_empty());
    }
}
