//! `jalon bench scale`: a real `jalon serve` process over a database holding `--cases` open
//! cases, each with one armed timer. The cases are started through the store's `start_case`
//! (so every row is the Writer's), then the timers of the first `--rate` × `--seconds` cases
//! are moved (one UPDATE of `timer.fire_at`, which the engine does not re-check) so that
//! `--rate` a second fall due during the measured window once the server is up; the others
//! stay years away. One case in [`STUCK_EVERY`] starts long enough ago for its state's
//! `stuck_after` to have passed, so that the operator's stuck list is not empty.
//!
//! Printed: the fill, the database's size, start-up time and idle memory of the server,
//! timer lateness (the firing's recorded instant, `timer.fired_at` = the history row's `at`,
//! minus `fire_at`), the reads an operator and an agent make (store and HTTP), and the disk a
//! case takes once closed (the window's cases are completed over HTTP, their notices
//! delivered).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Statement,
};

use super::Failure;
use super::bench_e2e::{Client, Server};
use super::bench_server::Target;
use crate::clock::{Clock, SystemClock};
use crate::server::{App, Config};
use store::entities::{case, outbox, timer};

/// Clients starting cases at once while the database is filled.
const FILLERS: usize = 64;

/// One case in this many starts [`STUCK_DAYS_AGO`] days ago: past its `stuck_after`.
const STUCK_EVERY: usize = 100;
const STUCK_DAYS_AGO: i64 = 60;

/// Timed requests per read (after [`WARM_UP`] untimed ones), or fewer (at least
/// [`MIN_READS`]) once [`READ_BUDGET`] has passed: a read that scans a million rows should not
/// take the bench's minutes.
const READS: usize = 100;
const MIN_READS: usize = 5;
const READ_BUDGET: Duration = Duration::from_secs(10);
const WARM_UP: usize = 3;

/// Connections completing the window's cases at once.
const CLOSERS: usize = 8;

const WORKFLOW_ID: &str = "banc-echelle";

/// What `jalon bench scale` is asked for.
pub struct Options {
    pub cases: usize,
    /// Timers falling due per second during the window.
    pub rate: usize,
    pub window: Duration,
}

fn run_err(e: impl std::fmt::Display) -> Failure {
    Failure::Run(anyhow::anyhow!("{e}"))
}

/// Writes the bench's workflow folder under `dir`; returns the folder of workflows. It is
/// `bench e2e`'s (a timer leads to a task whose completion closes the case with a notice; here
/// the timer is years away when the case starts), with a `stuck_after` on the waiting state for
/// the stuck list.
fn write_workflow(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    super::bench_e2e::write_workflow(
        dir,
        WORKFLOW_ID,
        "Banc d'essai à grande échelle",
        "    stuck_after: { working_days: 20 }\n",
    )
}

pub fn run(targets: &[Target], o: &Options) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(run_err)?;
    for t in targets {
        let dir = tempfile::tempdir().map_err(run_err)?;
        let scratch = rt.block_on(t.scratch())?;
        let result = one(
            &rt,
            t,
            dir.path(),
            scratch.as_ref().map(|s| s.url.as_str()),
            o,
        );
        if let Some(scratch) = &scratch {
            rt.block_on(t.drop_scratch(scratch))?;
        }
        result?;
    }
    Ok(())
}

fn one(
    rt: &tokio::runtime::Runtime,
    t: &Target,
    dir: &Path,
    pg_url: Option<&str>,
    o: &Options,
) -> Result<(), Failure> {
    let name = t.name;
    let workflows = write_workflow(dir).map_err(run_err)?;
    let data = dir.join("data");
    store::ensure_dir(&data).map_err(run_err)?;
    let url = pg_url
        .map(str::to_owned)
        .unwrap_or_else(|| store::sqlite_url(&data));

    let started = Instant::now();
    let token = rt.block_on(fill(&workflows, &data, pg_url, o.cases))?;
    let fill_s = started.elapsed().as_secs_f64();
    let db = rt
        .block_on(sea_orm::Database::connect(&url))
        .map_err(run_err)?;
    if pg_url.is_some() {
        // As a server in use has had autovacuum: statistics, and a visibility map.
        rt.block_on(db.execute_unprepared("VACUUM ANALYZE"))
            .map_err(run_err)?;
    }
    let filled = rt.block_on(size(&db, &data))?;
    println!(
        "scale/{name}: {} open cases with one armed timer each started in {fill_s:.1} s ({:.0}/s, {FILLERS} clients, through the store's start_case); database {} ({:.0} bytes a case)",
        o.cases,
        o.cases as f64 / fill_s,
        filled.show(),
        filled.total() as f64 / o.cases.max(1) as f64,
    );

    // Start-up on the filled database, alone (no timer due: nothing else to do).
    let (mut server, startup) = start(&workflows, &data, pg_url, rt)?;
    println!(
        "scale/{name}: start-up (spawn to /readyz answered) {:.0} ms; idle memory {}",
        startup.as_secs_f64() * 1e3,
        rss(server.child.id())
    );
    server.stop();

    // The window: `rate` timers a second, from a few seconds after the next start-up.
    let due = o.rate * o.window.as_secs() as usize;
    let due = due.min(o.cases);
    let lead = startup + Duration::from_secs(3);
    let t0 = store_millis(Utc::now()) + lead.as_millis() as i64;
    rt.block_on(move_timers(&db, t0, o.rate, due))?;
    let before_window = rt.block_on(size(&db, &data))?;

    let (server, startup) = start(&workflows, &data, pg_url, rt)?;
    let idle_start = rss(server.child.id());
    let wait_until = t0 + (o.window.as_millis() as i64);
    let late = rt.block_on(lateness(&db, wait_until, due))?;
    println!(
        "scale/{name}: start-up again {:.0} ms; {due} timers due at {}/s over {} s: {} fired at {:.0}/s; lateness {}",
        startup.as_secs_f64() * 1e3,
        o.rate,
        o.window.as_secs(),
        late.fired,
        late.per_s,
        late.show
    );

    rt.block_on(reads(&db, &url, &server, &token, name))?;

    let closed = rt.block_on(close_window(&db, &server, &token))?;
    let after = rt.block_on(size(&db, &data))?;
    let per_open = before_window.total() as f64 / o.cases.max(1) as f64;
    let grown = after.total() as f64 - before_window.total() as f64;
    println!(
        "scale/{name}: {closed} cases fired, completed and their notices delivered: database {} → {}; {:.0} bytes a closed case ({per_open:.0} open + {:.0} for firing, task, completion, notice)",
        before_window.show(),
        after.show(),
        per_open + grown / closed.max(1) as f64,
        grown / closed.max(1) as f64,
    );
    println!(
        "scale/{name}: server memory idle after start {idle_start}, after the run {}",
        rss(server.child.id())
    );
    drop(server);
    rt.block_on(db.close()).ok();
    Ok(())
}

fn store_millis(t: chrono::DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Starts the cases through the store; returns the token of an agent who is also operator.
async fn fill(
    workflows: &Path,
    data: &Path,
    pg_url: Option<&str>,
    cases: usize,
) -> Result<String, Failure> {
    let cfg = Config {
        listen: "127.0.0.1:0".parse().expect("an address"),
        data_dir: data.to_path_buf(),
        workflows: workflows.to_path_buf(),
        database_url: pg_url.map(str::to_owned),
        max_document_bytes: Config::DEFAULT_MAX_DOCUMENT_BYTES,
        store: Default::default(),
        calendar: engine::calendar::Calendar::fwb(),
        notices: Default::default(),
        waits: Default::default(),
    };
    let app = App::build(&cfg, Arc::new(SystemClock))
        .await
        .map_err(run_err)?;
    if !app.deploy_report.refused.is_empty() {
        return Err(run_err("the bench's workflow was refused"));
    }
    let store = app.state.store.clone();
    let (agent, token) = store
        .add_actor(
            "Agent du banc",
            "agent@ecoles.example.be",
            &["agent".to_owned(), store::actors::OPERATOR.to_owned()],
            SystemClock.now(),
        )
        .await
        .map_err(run_err)?;
    let by = agent.engine();
    let next = Arc::new(AtomicUsize::new(0));
    let mut fillers = tokio::task::JoinSet::new();
    for _ in 0..FILLERS {
        let (store, by, next) = (store.clone(), by.clone(), next.clone());
        fillers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cases {
                    return Ok::<_, store::Error>(());
                }
                let mut at = Utc::now();
                if i % STUCK_EVERY == STUCK_EVERY - 1 {
                    at -= chrono::Duration::days(STUCK_DAYS_AGO);
                }
                let inputs = [
                    ("recu_le".to_owned(), serde_json::json!("2035-01-08")),
                    (
                        "courriel".to_owned(),
                        serde_json::json!(format!("agent+{i}@ecoles.example.be")),
                    ),
                ]
                .into_iter()
                .collect();
                store
                    .start_case(WORKFLOW_ID, &format!("E-{i:07}"), &by, inputs, at, None)
                    .await?;
            }
        });
    }
    while let Some(done) = fillers.join_next().await {
        done.map_err(run_err)?.map_err(run_err)?;
    }
    store.close().await.map_err(run_err)?;
    Ok(token)
}

/// Moves the timers of `due` cases to fall due `rate` a second from `t0` (milliseconds).
async fn move_timers(
    db: &DatabaseConnection,
    t0: i64,
    rate: usize,
    due: usize,
) -> Result<(), Failure> {
    let first: Option<i64> = timer::Entity::find()
        .select_only()
        .column_as(timer::Column::Id.min(), "m")
        .into_tuple()
        .one(db)
        .await
        .map_err(run_err)?
        .flatten();
    let Some(first) = first else {
        return Err(run_err("no timer was armed"));
    };
    let sql = format!(
        "UPDATE timers SET fire_at = {t0} + (id - {first}) * 1000 / {rate} WHERE id < {first} + {due}"
    );
    db.execute_unprepared(&sql).await.map_err(run_err)?;
    Ok(())
}

/// Spawns `jalon serve`; returns it and the time until `/readyz` answered 200.
fn start(
    workflows: &Path,
    data: &Path,
    pg_url: Option<&str>,
    rt: &tokio::runtime::Runtime,
) -> Result<(Server, Duration), Failure> {
    let started = Instant::now();
    let server = Server::spawn(
        workflows,
        data,
        pg_url,
        store::Options::default().postgres_lanes,
    )?;
    let addr = server.addr;
    rt.block_on(async move {
        let mut c = Client::connect(addr, "").await?;
        loop {
            if c.exchange("GET", "/readyz", None).await.map_err(run_err)? == 200 {
                return Ok::<_, Failure>(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })?;
    Ok((server, started.elapsed()))
}

/// The resident memory of a process (`VmRSS`).
fn rss(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().to_owned()))
        })
        .map(
            |v| match v.strip_suffix(" kB").and_then(|k| k.parse::<f64>().ok()) {
                Some(kb) => format!("{:.0} MB RSS", kb / 1024.0),
                None => v,
            },
        )
        .unwrap_or_else(|| "unknown".into())
}

struct Size {
    main: u64,
    wal: Option<u64>,
}

impl Size {
    fn total(&self) -> u64 {
        self.main + self.wal.unwrap_or(0)
    }

    fn show(&self) -> String {
        let mb = |b: u64| b as f64 / 1e6;
        match self.wal {
            Some(w) => format!(
                "{:.1} MB (file {:.1} + WAL {:.1})",
                mb(self.total()),
                mb(self.main),
                mb(w)
            ),
            None => format!("{:.1} MB (pg_database_size)", mb(self.main)),
        }
    }
}

/// The database's size, once what was written before is on disk: read before the window, so
/// that the fill's pages are not flushed during it (a PostgreSQL checkpoint, SQLite's WAL
/// copied into the file), as on a server that has been running.
async fn size(db: &DatabaseConnection, data: &Path) -> Result<Size, Failure> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_unprepared("CHECKPOINT").await.map_err(run_err)?;
        let row = db
            .query_one_raw(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_database_size(current_database())",
            ))
            .await
            .map_err(run_err)?
            .ok_or_else(|| run_err("no size"))?;
        let main: i64 = row.try_get_by_index(0).map_err(run_err)?;
        return Ok(Size {
            main: main as u64,
            wal: None,
        });
    }
    // The WAL holds pages the file will take back; checkpointed, the file is the data's size.
    db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
        .await
        .map_err(run_err)?;
    let len = |name: &str| std::fs::metadata(data.join(name)).map_or(0, |m| m.len());
    Ok(Size {
        main: len("jalon.db"),
        wal: Some(len("jalon.db-wal")),
    })
}

struct Lateness {
    fired: usize,
    per_s: f64,
    show: String,
}

/// Waits for the window to pass and its timers to fire (30 s more at most), then reads each
/// firing's recorded instant.
async fn lateness(db: &DatabaseConnection, until: i64, due: usize) -> Result<Lateness, Failure> {
    let wait = (until - store_millis(Utc::now())).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let fired = timer::Entity::find()
            .filter(timer::Column::FiredAt.is_not_null())
            .count(db)
            .await
            .map_err(run_err)? as usize;
        if fired >= due || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows: Vec<(i64, Option<i64>)> = timer::Entity::find()
        .select_only()
        .column(timer::Column::FireAt)
        .column(timer::Column::FiredAt)
        .filter(timer::Column::FiredAt.is_not_null())
        .into_tuple()
        .all(db)
        .await
        .map_err(run_err)?;
    let mut late: Vec<f64> = rows
        .iter()
        .filter_map(|(due, at)| at.map(|at| (at - due) as f64))
        .collect();
    let first = rows.iter().map(|r| r.0).min().unwrap_or(0);
    let last = rows.iter().filter_map(|r| r.1).max().unwrap_or(first);
    let per_s = late.len() as f64 / ((last - first).max(1) as f64 / 1e3);
    // The worst lateness of each second of the window says whether it is steady or a stall.
    let mut worst = std::collections::BTreeMap::<i64, i64>::new();
    for (due, at) in &rows {
        if let Some(at) = at {
            let w = worst.entry((due - first) / 1000).or_default();
            *w = (*w).max(at - due);
        }
    }
    let worst: Vec<String> = worst.values().map(i64::to_string).collect();
    Ok(Lateness {
        fired: late.len(),
        per_s,
        show: format!(
            "{}; worst of each second (ms): {}",
            quantiles(&mut late),
            worst.join(" ")
        ),
    })
}

/// "p50 1.2 ms, p99 3.4 ms, max 5.6 ms" of milliseconds.
fn quantiles(ms: &mut [f64]) -> String {
    if ms.is_empty() {
        return "(none)".into();
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.99),
        ms[ms.len() - 1]
    )
}

/// The reads at scale: the store's stuck page in-process, then the operator's and an agent's
/// requests over HTTP, one at a time on one kept-alive connection.
async fn reads(
    db: &DatabaseConnection,
    url: &str,
    server: &Server,
    token: &str,
    name: &str,
) -> Result<(), Failure> {
    let store = store::Store::open(url, engine::calendar::Calendar::fwb())
        .await
        .map_err(run_err)?;
    let first_page = store::stuck::StuckFilter {
        limit: 50,
        ..Default::default()
    };
    let grace = chrono::Duration::minutes(5);
    let mut times = Vec::new();
    let mut rows = 0;
    for i in 0..READS + WARM_UP {
        let started = Instant::now();
        let page = store
            .stuck_page(&first_page, Utc::now(), grace)
            .await
            .map_err(run_err)?;
        if i >= WARM_UP {
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
        rows = page.counts.total;
    }
    store.close().await.map_err(run_err)?;
    println!(
        "scale/{name}: store.stuck_page (counts and 50 of {rows} rows) {}",
        quantiles(&mut times)
    );

    let some_case: String = case::Entity::find()
        .select_only()
        .column(case::Column::Id)
        .filter(case::Column::State.eq("attente"))
        .into_tuple()
        .one(db)
        .await
        .map_err(run_err)?
        .ok_or_else(|| run_err("no open case"))?;
    let paths = [
        "/api/v1/operator/stuck/summary".to_owned(),
        "/api/v1/operator/stuck?limit=50".to_owned(),
        "/api/v1/tasks?limit=50".to_owned(),
        "/api/v1/tasks".to_owned(),
        format!("/api/v1/cases?workflow={WORKFLOW_ID}&status=open&limit=50"),
        "/api/v1/cases?state=a_traiter&limit=50".to_owned(),
        format!("/api/v1/cases/{some_case}"),
    ];
    let mut c = Client::connect(server.addr, token).await?;
    for path in paths {
        let mut times = Vec::new();
        let budget = Instant::now() + READ_BUDGET;
        for i in 0..READS + WARM_UP {
            if times.len() >= MIN_READS && Instant::now() > budget {
                break;
            }
            let started = Instant::now();
            let status = c.exchange("GET", &path, None).await.map_err(run_err)?;
            if status != 200 {
                return Err(run_err(format!(
                    "GET {path}: {status} {}",
                    String::from_utf8_lossy(&c.buf)
                )));
            }
            if i >= WARM_UP {
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
        println!(
            "scale/{name}: GET {path} ({} bytes) {} of {}",
            c.buf.len(),
            quantiles(&mut times),
            times.len()
        );
    }
    Ok(())
}

/// Completes every case whose timer fired, then waits (60 s at most) for their notices to be
/// delivered; returns how many were completed.
async fn close_window(
    db: &DatabaseConnection,
    server: &Server,
    token: &str,
) -> Result<usize, Failure> {
    let ids: Vec<String> = case::Entity::find()
        .select_only()
        .column(case::Column::Id)
        .filter(case::Column::State.eq("a_traiter"))
        .into_tuple()
        .all(db)
        .await
        .map_err(run_err)?;
    let ids = Arc::new(ids);
    let next = Arc::new(AtomicUsize::new(0));
    let mut closers = tokio::task::JoinSet::new();
    for _ in 0..CLOSERS {
        let (ids, next, token, addr) = (ids.clone(), next.clone(), token.to_owned(), server.addr);
        closers.spawn(async move {
            let mut c = Client::connect(addr, &token).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(i) else {
                    return Ok::<_, Failure>(());
                };
                let path = format!("/api/v1/cases/{id}/events");
                let _: serde_json::Value = c
                    .call("POST", &path, Some(r#"{"event":"traiter"}"#), 200)
                    .await?;
            }
        });
    }
    while let Some(done) = closers.join_next().await {
        done.map_err(run_err)??;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let pending = outbox::Entity::find()
            .filter(outbox::Column::Status.eq(outbox::Status::Pending))
            .count(db)
            .await
            .map_err(run_err)?;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server would refuse to deploy it, and the bench would measure refusals.
    #[test]
    fn the_bench_workflow_validates_with_no_diagnostic() {
        let dir = tempfile::tempdir().unwrap();
        let folder = store::validation::load_folder(&write_workflow(dir.path()).unwrap()).unwrap();
        assert!(folder.unloadable.is_empty(), "{:?}", folder.unloadable);
        assert_eq!(folder.checked.len(), 1);
        for (_, report) in &folder.checked {
            let all: Vec<_> = report.files.iter().flat_map(|(_, ds)| ds).collect();
            assert!(all.is_empty(), "{all:?}");
        }
    }

    #[test]
    fn quantiles_read_the_sorted_times() {
        let mut ms: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(quantiles(&mut ms), "p50 50.0 ms, p99 99.0 ms, max 100.0 ms");
        assert_eq!(quantiles(&mut []), "(none)");
    }
}
