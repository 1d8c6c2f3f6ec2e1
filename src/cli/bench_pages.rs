//! `jalon bench pages`: how long the French pages take to answer with many cases stored. A
//! scratch database (SQLite, and PostgreSQL with `--postgres`) is filled with `--cases` cases
//! spread over the shipped workflows and over the last [`SPREAD_DAYS`] days, the scheduler
//! fires what came due, then the app is served in-process on loopback and each page is asked
//! for `--requests` times, one request at a time on one kept-alive connection. The time of a
//! request is measured by the client, from the first byte sent to the last byte of the answer
//! read: the server's time plus a loopback round trip.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Brussels;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::Failure;
use super::bench_server::Target;
use crate::clock::{Clock, ManualClock};
use crate::server::scheduler::Scheduler;
use crate::server::{App, Config};
use store::Store;
use store::entities::{case, outbox, task};

/// Concurrent clients while the cases are started (as `bench server`).
const WORKERS: usize = 64;

/// Cases are started over this many days before the measurement: deadlines of the older ones
/// have passed (timers fired, tasks opened, some overdue), as on a server in use.
const SPREAD_DAYS: usize = 90;

/// Requests per page before the measured ones (connection, caches, compiled templates).
const WARM_UP: usize = 3;

/// The workflow and event of the measured form post: the list of members received, which
/// arms the recusation period (Art. 129), as in `bench server`.
const POST_WORKFLOW: &str = "chambre-recours";
const POST_EVENT: &str = "communiquer_liste";
const POST_INPUT: &str = "liste_recue_le";

fn run_err(e: impl std::fmt::Display) -> Failure {
    Failure::Run(anyhow::anyhow!("{e}"))
}

/// What `jalon bench pages` is asked for.
pub struct Options {
    /// Cases stored before the pages are timed.
    pub cases: usize,
    /// Timed requests per page at most...
    pub requests: usize,
    /// ...and once this long has passed, no more than [`MIN_REQUESTS`].
    pub budget: Duration,
    /// Where to keep the SQLite data folder.
    pub keep: Option<std::path::PathBuf>,
}

/// Timed requests per page however slow it is.
const MIN_REQUESTS: usize = 5;

pub fn run(targets: &[Target], workflows: &Path, o: &Options) -> Result<(), Failure> {
    if let Some(k) = &o.keep
        && k.exists()
    {
        return Err(Failure::Usage(format!(
            "--keep {}: the folder must not exist yet",
            k.display()
        )));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(run_err)?;
    for t in targets {
        rt.block_on(one(t, workflows, o))?;
    }
    Ok(())
}

/// How one workflow's cases are started: its first scenario's start, moved in time.
struct Plan {
    workflow: String,
    /// The day the scenario starts on; its date inputs are moved with the case's start.
    on: NaiveDate,
    inputs: BTreeMap<String, serde_json::Value>,
}

impl Plan {
    /// The inputs of a case started on `day`: every date moved by as many days as the start.
    fn inputs(&self, day: NaiveDate) -> engine::machine::Inputs {
        let shift = day.signed_duration_since(self.on);
        self.inputs
            .iter()
            .map(|(k, v)| {
                let moved = v
                    .as_str()
                    .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                    .map(|d| serde_json::Value::from((d + shift).to_string()));
                (k.clone(), moved.unwrap_or_else(|| v.clone()))
            })
            .collect()
    }
}

/// The first scenario (by file name) of each workflow that has one.
fn scenario_starts(workflows: &Path, deployed: &[String]) -> Vec<Plan> {
    let mut out = Vec::new();
    for id in deployed {
        let dir = workflows.join(id).join("scenarios");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        let Some(s) = files
            .iter()
            .find_map(|f| engine::scenario::parse(&std::fs::read_to_string(f).ok()?).ok())
        else {
            eprintln!("pages: {id} has no scenario to start its cases from; left out");
            continue;
        };
        out.push(Plan {
            workflow: id.clone(),
            on: s.start.on,
            inputs: s.start.inputs.clone(),
        });
    }
    out
}

fn at_hour(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    Brussels
        .from_local_datetime(&day.and_hms_opt(hour, 0, 0).expect("a valid hour"))
        .earliest()
        .expect("a Brussels time")
        .to_utc()
}

async fn one(t: &Target, workflows: &Path, o: &Options) -> Result<(), Failure> {
    let (cases, requests) = (o.cases, o.requests);
    let dir = tempfile::tempdir().map_err(run_err)?;
    let scratch = t.scratch().await?;
    let url = scratch.as_ref().map(|s| s.url.clone());
    let today = NaiveDate::from_ymd_opt(2027, 3, 1).expect("a date");
    let clock = ManualClock::new(at_hour(today, 12));
    let cfg = Config {
        listen: "127.0.0.1:0".parse().expect("an address"),
        data_dir: dir.path().to_path_buf(),
        workflows: workflows.to_path_buf(),
        database_url: url,
        max_document_bytes: Config::DEFAULT_MAX_DOCUMENT_BYTES,
        store: Default::default(),
        calendar: engine::calendar::Calendar::fwb(),
        notices: Default::default(),
        waits: Default::default(),
    };
    let app = App::build(&cfg, Arc::new(clock.clone()))
        .await
        .map_err(run_err)?;
    if !app.deploy_report.refused.is_empty() {
        return Err(run_err(
            "the workflows do not validate; run `jalon validate`",
        ));
    }
    let store = app.state.store.clone();
    let latest = store.latest_versions();
    let mut roles: Vec<String> = latest
        .iter()
        .flat_map(|d| d.def.roles.keys().cloned())
        .collect();
    roles.sort();
    roles.dedup();
    let ids: Vec<String> = latest.iter().map(|d| d.workflow_id.clone()).collect();
    let (clerk, _) = store
        .add_actor(
            "Gestionnaire (bench)",
            "gestion@bench.example.org",
            &roles,
            clock.now(),
        )
        .await
        .map_err(run_err)?;
    store
        .add_actor(
            "Opérateur (bench)",
            "operateur@bench.example.org",
            &[store::actors::OPERATOR.into()],
            clock.now(),
        )
        .await
        .map_err(run_err)?;
    let by = clerk.engine();

    // One case per workflow first: a workflow whose scenario's start is refused here (a
    // guard on the date, a parent required) is left out rather than failing every case.
    let mut plans = Vec::new();
    for p in scenario_starts(workflows, &ids) {
        let key = format!("PROBE-{}", p.workflow);
        match store
            .start_case(
                &p.workflow,
                &key,
                &by,
                p.inputs(today),
                at_hour(today, 9),
                None,
            )
            .await
        {
            Ok(_) => plans.push(p),
            Err(e) => eprintln!(
                "pages: {} left out, its scenario's start is refused: {e}",
                p.workflow
            ),
        }
    }
    if plans.is_empty() {
        return Err(run_err("no workflow's cases could be started"));
    }
    let plans = Arc::new(plans);

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(plans.len()));
    let mut handles = Vec::new();
    for _ in 0..WORKERS {
        let (store, by, plans, next) = (store.clone(), by.clone(), plans.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cases {
                    return Ok::<_, store::Error>(());
                }
                let p = &plans[i % plans.len()];
                let back = (i / plans.len()) % SPREAD_DAYS;
                let day = today - Days::new(back as u64);
                let at = at_hour(day, 9) + chrono::Duration::milliseconds((i % 28_800_000) as i64);
                let key = format!("B-{i:07}");
                store
                    .start_case(&p.workflow, &key, &by, p.inputs(day), at, None)
                    .await?;
            }
        }));
    }
    for h in handles {
        h.await.map_err(run_err)?.map_err(run_err)?;
    }
    let seeded = started.elapsed().as_secs_f64();
    let total = cases.max(plans.len());
    println!(
        "pages/{}: {total} cases of {} workflows started in {seeded:.1} s ({:.0}/s, {WORKERS} clients, through the store's start_case)",
        t.name,
        plans.len(),
        total as f64 / seeded,
    );

    let scheduler = Scheduler::new(store.clone(), Arc::new(clock.clone()));
    let started = Instant::now();
    let pass = scheduler.run_due().await.map_err(run_err)?;
    println!(
        "pages/{}: the scheduler fired {} timers in {:.1} s ({} cases started by schedules)",
        t.name,
        pass.fired,
        started.elapsed().as_secs_f64(),
        pass.started
    );

    // A server in use has had its statistics gathered and its tables vacuumed (autovacuum);
    // without statistics the planner takes a freshly filled table for an empty one and scans
    // it, and without a vacuum no index-only scan is cheap (every row's page is still read).
    if t.admin_url.is_some() {
        store
            .db()
            .execute_unprepared("VACUUM ANALYZE")
            .await
            .map_err(run_err)?;
    }

    // What the pages read, timed alone: the list behind "Mes tâches" and the stuck list.
    let now = clock.now();
    let started = Instant::now();
    let all_tasks = store::pages::TaskFilter {
        limit: 1000,
        ..Default::default()
    };
    let tasks = store
        .open_tasks(&roles, &all_tasks, now)
        .await
        .map_err(run_err)?;
    let tasks_ms = started.elapsed().as_secs_f64() * 1e3;
    // The operators' first page: the counts per reason, then 50 rows (as `/operateur`).
    let grace = chrono::Duration::minutes(5);
    let first_page = store::stuck::StuckFilter {
        limit: 50,
        ..Default::default()
    };
    // The first call reads the pages from disk; the median of the next ones is the store's
    // share of the page.
    let mut stuck_ms = Vec::new();
    let mut stuck = None;
    for _ in 0..21 {
        let started = Instant::now();
        stuck = Some(
            store
                .stuck_page(&first_page, now, grace)
                .await
                .map_err(run_err)?,
        );
        stuck_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let stuck = stuck.expect("measured at least once");
    let first_ms = stuck_ms.remove(0);
    stuck_ms.sort_by(f64::total_cmp);
    let stuck_ms = stuck_ms[stuck_ms.len() / 2];
    let counts: Vec<String> = stuck
        .counts
        .counts
        .iter()
        .map(|(r, n)| format!("{} {n}", r.code()))
        .collect();
    let open = case::Entity::find()
        .filter(case::Column::Status.eq(case::Status::Open))
        .count(store.db())
        .await
        .map_err(run_err)?;
    let open_tasks = task::Entity::find()
        .filter(task::Column::Status.eq(task::Status::Open))
        .count(store.db())
        .await
        .map_err(run_err)?;
    println!(
        "pages/{}: {open} cases open, {open_tasks} tasks open (all the clerk's); store.open_tasks {tasks_ms:.1} ms ({} tasks, a page of 1000); store.stuck_page {first_ms:.1} ms first, {stuck_ms:.2} ms median of 20 (counts and 50 of {} rows: {})",
        t.name,
        tasks.len(),
        stuck.counts.total,
        counts.join(", ")
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(run_err)?;
    let addr = listener.local_addr().map_err(run_err)?;
    let router = app.router();
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });

    let (clerk_cookie, clerk_csrf) = session(&store, "gestion@bench.example.org", now).await?;
    let (operator_cookie, _) = session(&store, "operateur@bench.example.org", now).await?;
    let mut as_clerk = Client::connect(addr, clerk_cookie).await?;
    let mut as_operator = Client::connect(addr, operator_cookie).await?;

    let mut pages: Vec<(String, Vec<String>)> = vec![(
        format!("GET / (Mes tâches, {open_tasks} tâches)"),
        vec!["/".into()],
    )];
    if let Some(task) = tasks.first() {
        pages.push((
            "GET /cases/{id}".into(),
            vec![format!("/cases/{}", task.case_id)],
        ));
        pages.push((
            "GET /cases/{id}/tasks/{task}".into(),
            vec![format!("/cases/{}/tasks/{}", task.case_id, task.task_id)],
        ));
    }
    pages.push(("GET /nouveau".into(), vec!["/nouveau".into()]));
    pages.push(("GET /workflows".into(), vec!["/workflows".into()]));
    pages.push((
        format!("GET /workflows/{POST_WORKFLOW}"),
        vec![format!("/workflows/{POST_WORKFLOW}")],
    ));
    println!(
        "pages/{}: {:<42} {:>7} {:>5} {:>8} {:>8} {:>8} {:>9}",
        t.name, "page", "status", "n", "p50 ms", "p95 ms", "max ms", "bytes"
    );
    for (name, paths) in &pages {
        let m = measure(&mut as_clerk, paths, requests, o.budget, |_| None).await?;
        print_row(t.name, name, &m);
    }
    let m = measure(
        &mut as_operator,
        &["/operateur".into()],
        requests,
        o.budget,
        |_| None,
    )
    .await?;
    print_row(
        t.name,
        &format!("GET /operateur ({} stuck rows)", stuck.counts.total),
        &m,
    );

    // The form post: each request acts on another case waiting for its list of members.
    let forms = post_forms(&store, &clerk_csrf, today, requests + WARM_UP).await?;
    if forms.is_empty() {
        println!(
            "pages/{}: POST /cases/{{id}}/actions not measured: no {POST_WORKFLOW} case waits for {POST_EVENT}",
            t.name
        );
    } else {
        let paths: Vec<String> = forms.iter().map(|(p, _)| p.clone()).collect();
        let bodies: Vec<String> = forms.into_iter().map(|(_, b)| b).collect();
        let n = paths.len().saturating_sub(WARM_UP).max(1);
        let m = measure(&mut as_clerk, &paths, n, o.budget, |i| {
            Some(bodies[i].clone())
        })
        .await?;
        print_row(
            t.name,
            &format!("POST /cases/{{id}}/actions ({POST_EVENT})"),
            &m,
        );
    }

    server.abort();
    store.close().await.map_err(run_err)?;
    if let (Some(keep), None) = (&o.keep, &t.admin_url) {
        std::fs::rename(dir.path(), keep)
            .map_err(|e| run_err(format!("cannot keep the data in {}: {e}", keep.display())))?;
        println!("pages/{}: data folder kept in {}", t.name, keep.display());
    }
    if let Some(scratch) = &scratch {
        if o.keep.is_some() {
            println!("pages/{}: database {} kept", t.name, scratch.name);
        } else {
            t.drop_scratch(scratch).await?;
        }
    }
    Ok(())
}

/// A browser session for the actor with this address, opened as the sign-in page does: a link
/// requested, its token read from the queued mail, the link used. Returns the `Cookie` header
/// value and the session's CSRF token.
async fn session(
    store: &Store,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(String, String), Failure> {
    store
        .request_sign_in(email, None, now)
        .await
        .map_err(run_err)?;
    let mail = outbox::Entity::find()
        .filter(outbox::Column::Template.eq(store::sessions::TEMPLATE))
        .filter(outbox::Column::RecipientEmail.eq(email))
        .order_by_desc(outbox::Column::Id)
        .one(store.db())
        .await
        .map_err(run_err)?
        .ok_or_else(|| run_err(format!("no sign-in mail queued for {email}")))?;
    let facts: serde_json::Value = serde_json::from_str(&mail.context).map_err(run_err)?;
    // The link is `/connexion/lien/<token>`.
    let token = facts["path"]
        .as_str()
        .and_then(|p| p.strip_prefix("/connexion/lien/"))
        .ok_or_else(|| run_err("no token in the sign-in mail"))?;
    let (secret, session, _) = store
        .redeem_sign_in(token, now)
        .await
        .map_err(run_err)?
        .ok_or_else(|| run_err("the sign-in link did not open a session"))?;
    Ok((
        format!("{}={secret}", crate::server::web::session::COOKIE),
        session.csrf_token,
    ))
}

/// Up to `n` action forms (path, body) for cases of [`POST_WORKFLOW`] in a state that takes
/// [`POST_EVENT`], the list received today.
async fn post_forms(
    store: &Store,
    csrf: &str,
    today: NaiveDate,
    n: usize,
) -> Result<Vec<(String, String)>, Failure> {
    let Some(d) = store
        .latest_versions()
        .into_iter()
        .find(|d| d.workflow_id == POST_WORKFLOW)
    else {
        return Ok(Vec::new());
    };
    let states: Vec<String> = d
        .def
        .states
        .iter()
        .filter(|s| s.events.iter().any(|e| &*e.name == POST_EVENT))
        .map(|s| s.id.to_string())
        .collect();
    let rows = case::Entity::find()
        .filter(case::Column::WorkflowId.eq(POST_WORKFLOW))
        .filter(case::Column::Status.eq(case::Status::Open))
        .filter(case::Column::State.is_in(states))
        .limit(n as u64)
        .all(store.db())
        .await
        .map_err(run_err)?;
    Ok(rows
        .into_iter()
        .map(|c| {
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair(crate::server::web::session::CSRF_FIELD, csrf)
                .append_pair("event", POST_EVENT)
                .append_pair("expected_version", &c.row_version.to_string())
                .append_pair(&format!("v.{POST_INPUT}"), &today.to_string())
                .finish();
            (format!("/cases/{}/actions", c.id), body)
        })
        .collect())
}

/// The times of one page's requests, and the statuses and sizes answered.
struct Measured {
    times: Vec<Duration>,
    statuses: BTreeMap<u16, usize>,
    bytes: usize,
}

/// Asks for `paths` in turn (the first [`WARM_UP`] not counted) until `n` answers are timed,
/// or `budget` has passed and [`MIN_REQUESTS`] were; `body(i)` is the form posted with the i-th request, if any.
async fn measure(
    client: &mut Client,
    paths: &[String],
    n: usize,
    budget: Duration,
    body: impl Fn(usize) -> Option<String>,
) -> Result<Measured, Failure> {
    let began = Instant::now();
    let mut m = Measured {
        times: Vec::with_capacity(n),
        statuses: BTreeMap::new(),
        bytes: 0,
    };
    for i in 0..WARM_UP + n {
        if m.times.len() >= MIN_REQUESTS && began.elapsed() > budget {
            break;
        }
        let path = &paths[i % paths.len()];
        let form = body(i % paths.len());
        let asked = Instant::now();
        let (status, bytes) = client
            .request(path, form.as_deref())
            .await
            .map_err(|e| run_err(format!("{path}: {e}")))?;
        let took = asked.elapsed();
        if i >= WARM_UP {
            m.times.push(took);
            *m.statuses.entry(status).or_default() += 1;
            m.bytes = bytes;
        }
    }
    Ok(m)
}

fn print_row(target: &str, name: &str, m: &Measured) {
    let mut times = m.times.clone();
    times.sort_unstable();
    let at = |q: f64| {
        let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
        times[i].as_secs_f64() * 1e3
    };
    let statuses = if m.statuses.len() == 1 {
        m.statuses.keys().map(u16::to_string).collect::<String>()
    } else {
        m.statuses
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    println!(
        "pages/{target}: {name:<42} {statuses:>7} {:>5} {:>8.2} {:>8.2} {:>8.2} {:>9}",
        times.len(),
        at(0.50),
        at(0.95),
        at(1.0),
        m.bytes
    );
}

/// A minimal HTTP/1.1 client on one kept-alive loopback connection: the bench times the
/// server, not a client library.
struct Client {
    conn: BufReader<TcpStream>,
    host: String,
    cookie: String,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr, cookie: String) -> Result<Client, Failure> {
        let stream = TcpStream::connect(addr).await.map_err(run_err)?;
        stream.set_nodelay(true).map_err(run_err)?;
        Ok(Client {
            conn: BufReader::new(stream),
            host: addr.to_string(),
            cookie,
        })
    }

    /// Sends a GET (or a POST of `form`) and reads the whole answer: its status and body size.
    async fn request(&mut self, path: &str, form: Option<&str>) -> std::io::Result<(u16, usize)> {
        let method = if form.is_some() { "POST" } else { "GET" };
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\n",
            self.host, self.cookie
        );
        if let Some(f) = form {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{f}",
                f.len()
            ));
        } else {
            req.push_str("\r\n");
        }
        self.conn.get_mut().write_all(req.as_bytes()).await?;
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        let mut line = String::new();
        self.conn.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let (mut length, mut chunked) = (0usize, false);
        loop {
            line.clear();
            if self.conn.read_line(&mut line).await? == 0 {
                return Err(bad("connection closed in the headers"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    length = v.parse().map_err(|_| bad("content-length"))?;
                } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.conn.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16).map_err(|_| bad("chunk size"))?;
                let mut chunk = vec![0; size + 2];
                self.conn.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            self.conn.read_exact(&mut body).await?;
        }
        Ok((status, body.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_moves_its_dates_with_it() {
        let p = Plan {
            workflow: "w".into(),
            on: NaiveDate::from_ymd_opt(2026, 12, 17).unwrap(),
            inputs: [
                ("recu_le".to_owned(), serde_json::json!("2026-12-17")),
                ("avant".to_owned(), serde_json::json!("2026-12-10")),
                ("texte".to_owned(), serde_json::json!("2026-12-17 ou pas")),
                ("n".to_owned(), serde_json::json!(3)),
            ]
            .into_iter()
            .collect(),
        };
        let moved = p.inputs(NaiveDate::from_ymd_opt(2027, 1, 2).unwrap());
        assert_eq!(moved["recu_le"], "2027-01-02");
        assert_eq!(moved["avant"], "2026-12-26");
        assert_eq!(moved["texte"], "2026-12-17 ou pas");
        assert_eq!(moved["n"], 3);
    }
}
