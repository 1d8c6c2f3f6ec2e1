//! `jalon bench e2e`: the whole of a small legal case through the public API of a real
//! `jalon serve` process on loopback, as a client meets it. Per case: start it (its deadline
//! is already due, so the server's scheduler fires it at once), wait for its task without
//! polling (`GET /cases/{id}?after_version=&wait=`), complete the task, then wait until the
//! notice that the completion sends is delivered (`GET /cases/{id}/notices?wait=`, answered
//! once none is pending).
//!
//! The client runs on one thread with one kept-alive connection per case in flight (and per
//! server) and a minimal HTTP/1.1 exchange, so that its share of the two cores stays small;
//! the server's and the client's CPU seconds are printed apart, which says which one was the
//! limit.
//!
//! With `--processes N` (PostgreSQL only), N `jalon serve` children share one database: each
//! case's requests go to one of them, in turn, while its timer is fired by whichever scheduler
//! claims it and its notice sent by whichever dispatcher does, so that a wait is often answered
//! by another process's commit. A case is three transitions (start, timer, completion).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::TcpStream;

use super::Failure;
use super::bench_server::Target;

pub struct Options {
    pub cases: usize,
    /// Cases in flight at once (one connection each, to each server).
    pub in_flight: usize,
    /// `jalon serve` processes on the database (more than one: PostgreSQL only).
    pub processes: usize,
    /// `--postgres-lanes` of each process.
    pub postgres_lanes: usize,
}

/// Transitions of one case: its start, its timer, its completion.
const TRANSITIONS_A_CASE: usize = 3;

fn run_err(e: impl std::fmt::Display) -> Failure {
    Failure::Run(anyhow::anyhow!("{e}"))
}

/// The workflow the benches deploy, as `id` titled `title`: the state `attente` (with
/// `waiting`, extra lines of that state, e.g. a `stuck_after`) has a timer whose deadline counts
/// from `recu_le`, leading to the task of `a_traiter`, completed by `traiter`, which closes the
/// case with a notice. Here `recu_le` is long past, so the timer is due when the case starts.
fn workflow(id: &str, title: &str, waiting: &str) -> String {
    format!(
        r#"id: {id}
title: {title}
legal_basis: Aucune (banc d'essai)
roles:
  agent: Agent
variables:
  recu_le:
    type: date
    label: Reçu le
  courriel:
    type: email
start:
  by: [agent]
  inputs: [recu_le, courriel]
initial: attente
states:
  attente:
    label: En attente
    legal_basis: Aucune (banc d'essai)
{waiting}    timers:
      - id: echeance
        label: Échéance
        after: {{ working_days: 1, from: recu_le }}
        goto: a_traiter
  a_traiter:
    label: À traiter
    tasks:
      - id: traiter
        role: agent
        title: Traiter le dossier
    on:
      traiter:
        by: [agent]
        goto: clos
        notify:
          - to: [courriel]
            template: clos
  clos:
    label: Clos
    final: true
"#
    )
}

/// The workflow `bench e2e` deploys (see [`workflow`]).
const WORKFLOW_ID: &str = "banc-e2e";
const WORKFLOW_TITLE: &str = "Banc d'essai de bout en bout";

pub(super) const TEMPLATES: [(&str, &str); 2] = [
    ("clos.subject.hbs", "{{workflow.title}} — {{case.key}}\n"),
    (
        "clos.text.hbs",
        "Bonjour,\n\nLe dossier {{case.key}} est dans l’état « {{state.label}} ».\n",
    ),
];

/// Writes the folder of workflow `id` (see [`workflow`]) under `dir`; returns the folder of
/// workflows.
pub(super) fn write_workflow(
    dir: &Path,
    id: &str,
    title: &str,
    waiting: &str,
) -> std::io::Result<std::path::PathBuf> {
    let workflows = dir.join("workflows");
    let folder = workflows.join(id);
    std::fs::create_dir_all(folder.join("templates"))?;
    std::fs::write(folder.join("workflow.yaml"), workflow(id, title, waiting))?;
    for (name, text) in TEMPLATES {
        std::fs::write(folder.join("templates").join(name), text)?;
    }
    Ok(workflows)
}

/// Runs the bench on each target; with several processes, on PostgreSQL alone.
pub fn run(targets: &[Target], o: &Options) -> Result<(), Failure> {
    let several = o.processes > 1;
    if several && !targets.iter().any(|t| t.admin_url.is_some()) {
        return Err(Failure::Usage(
            "--processes above 1 needs --postgres: several `jalon serve` processes share one \
             PostgreSQL database, while a SQLite database is served by one process"
                .into(),
        ));
    }
    for t in targets {
        if several && t.admin_url.is_none() {
            println!("e2e/{}: skipped (one process only on SQLite)", t.name);
            continue;
        }
        one(t, o)?;
    }
    Ok(())
}

fn one(t: &Target, o: &Options) -> Result<(), Failure> {
    let dir = tempfile::tempdir().map_err(run_err)?;
    let workflows = write_workflow(dir.path(), WORKFLOW_ID, WORKFLOW_TITLE, "").map_err(run_err)?;
    let data = dir.path().join("data");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(run_err)?;
    let scratch = rt.block_on(t.scratch())?;
    let url = scratch
        .as_ref()
        .map(|s| s.url.clone())
        .unwrap_or_else(|| store::sqlite_url(&data));
    let agents = o.in_flight.min(o.cases).div_ceil(SLOTS_AN_AGENT).max(1);
    let tokens = rt.block_on(agent_tokens(&url, &data, agents))?;
    let mut servers = Vec::with_capacity(o.processes);
    for k in 0..o.processes.max(1) {
        // Each process its own data folder (its notices' files); the database is shared.
        let data = match k {
            0 => data.clone(),
            k => dir.path().join(format!("data-{k}")),
        };
        let pg = scratch.as_ref().map(|s| s.url.as_str());
        servers.push(Server::spawn(&workflows, &data, pg, o.postgres_lanes)?);
    }
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    let commits_token = tokens[0].clone();
    let measured = rt.block_on(load(&addrs, tokens, o));
    let mut batches = Batches::default();
    for addr in &addrs {
        batches.add(rt.block_on(batch_metrics(*addr, &commits_token)));
    }
    let cpu: Vec<Cpu> = servers
        .iter()
        .map(|s| cpu_of(s.child.id()).map_or(Cpu::UNKNOWN, |end| end - s.cpu_at_start))
        .collect();
    stop_all(&mut servers);
    if let Some(scratch) = &scratch {
        rt.block_on(t.drop_scratch(scratch))?;
    }
    let m = measured?;
    let secs = m.elapsed.as_secs_f64();
    let cases = m.latencies.len();
    let lanes = o.postgres_lanes;
    let (processes, per_process) = match (cpu.len(), &scratch) {
        (1, None) => (String::new(), String::new()),
        (1, Some(_)) => (format!(", {lanes} lanes"), String::new()),
        (n, _) => (
            format!(", {n} processes of {lanes} lanes"),
            format!(
                " ({})",
                cpu.iter()
                    .map(|c| format!("{:.2}", c.total()))
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
        ),
    };
    println!(
        "e2e/{}: {cases} cases, {} in flight{processes}: {:.0} complete cases/s ({:.2} s), \
         {:.0} transitions/s; start to notice delivered {}; CPU: server {:.2} s{per_process} \
         (user {:.2} s, kernel {:.2} s), client {:.2} s; {:.1} requests a case",
        t.name,
        o.in_flight,
        cases as f64 / secs,
        secs,
        (cases * TRANSITIONS_A_CASE) as f64 / secs,
        percentiles(m.latencies),
        cpu.iter().map(Cpu::total).sum::<f64>(),
        cpu.iter().map(|c| c.user).sum::<f64>(),
        cpu.iter().map(|c| c.kernel).sum::<f64>(),
        m.client_cpu,
        m.requests as f64 / o.cases.max(1) as f64,
    );
    let median = |k: usize| {
        let mut d: Vec<Duration> = m.steps.iter().map(|s| s[k]).collect();
        d.sort();
        d.get(d.len() / 2)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "e2e/{}: steps, p50: start answered {:.1} ms, timer fired {:.1} ms, completion answered \
         {:.1} ms, notice delivered {:.1} ms",
        t.name,
        median(0),
        median(1),
        median(2),
        median(3),
    );
    // What bounds the writes: the batches' commits (on SQLite each ends in a WAL fsync), and
    // on PostgreSQL the transitions run again.
    if batches.commits > 0.0 {
        let (writer, again) = match t.admin_url {
            None => ("SQLite writer".to_owned(), String::new()),
            Some(_) => (
                format!("PostgreSQL lanes ({:.0} in all)", batches.lanes),
                format!(
                    ", {:.0} transitions run again, {:.0} batches undone",
                    batches.reruns, batches.undone
                ),
            ),
        };
        println!(
            "e2e/{}: {writer}: {:.0} commits ({:.0}/s) of {:.0} jobs, {:.1} jobs a commit{again}",
            t.name,
            batches.commits,
            batches.commits / secs,
            batches.jobs,
            batches.jobs / batches.commits,
        );
    }
    Ok(())
}

/// The batches of the servers' writers, from their `/metrics` pages.
#[derive(Default)]
struct Batches {
    /// PostgreSQL lanes, over every process.
    lanes: f64,
    commits: f64,
    jobs: f64,
    reruns: f64,
    undone: f64,
}

impl Batches {
    fn add(&mut self, page: Option<String>) {
        let Some(page) = page else { return };
        let read = |name: &str| {
            page.lines()
                .find_map(|l| {
                    l.strip_prefix(name)?
                        .strip_prefix(' ')?
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
                .unwrap_or(0.0)
        };
        for backend in ["sqlite", "pg"] {
            self.commits += read(&format!("jalon_{backend}_batch_size_count"));
            self.jobs += read(&format!("jalon_{backend}_batch_size_sum"));
        }
        self.lanes += read("jalon_pg_lanes");
        self.reruns += read("jalon_pg_batch_reruns_total");
        self.undone += read("jalon_pg_batch_undone_total");
    }
}

/// A server's `/metrics` page (`None` if it cannot be read).
async fn batch_metrics(addr: std::net::SocketAddr, token: &str) -> Option<String> {
    let mut client = Client::connect(addr, token).await.ok()?;
    client.exchange("GET", "/metrics", None).await.ok()?;
    Some(String::from_utf8_lossy(&client.buf).into_owned())
}

/// Asks every server to stop, then waits for them all (they shut down side by side).
fn stop_all(servers: &mut [Server]) {
    for s in servers.iter() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(s.child.id().to_string())
            .status();
    }
    for s in servers.iter_mut() {
        let _ = s.child.wait();
    }
}

/// Client slots one agent's token serves: each slot waits on one case at a time, and an
/// actor may hold 100 waits (`server::changes`).
const SLOTS_AN_AGENT: usize = 50;

/// The bearer tokens of `n` agents, added before the server starts (the database is migrated
/// here, as `jalon actors add` would).
async fn agent_tokens(url: &str, data: &Path, n: usize) -> Result<Vec<String>, Failure> {
    if url.starts_with("sqlite:") {
        store::ensure_dir(data).map_err(run_err)?;
    }
    let store = store::Store::open(url, engine::calendar::Calendar::fwb())
        .await
        .map_err(run_err)?;
    let mut tokens = Vec::with_capacity(n);
    for k in 0..n {
        let (_, token) = store
            .add_actor(
                &format!("Agent du banc {k}"),
                &format!("agent-{k}@ecoles.example.be"),
                &["agent".to_owned()],
                chrono::Utc::now(),
            )
            .await
            .map_err(run_err)?;
        tokens.push(token);
    }
    store.close().await.map_err(run_err)?;
    Ok(tokens)
}

/// The `jalon serve` child.
pub(super) struct Server {
    pub(super) child: Child,
    pub(super) addr: std::net::SocketAddr,
    /// Its CPU seconds once listening (start-up and deployment are not the load's).
    cpu_at_start: Cpu,
}

impl Server {
    pub(super) fn spawn(
        workflows: &Path,
        data: &Path,
        database_url: Option<&str>,
        postgres_lanes: usize,
    ) -> Result<Server, Failure> {
        let exe = std::env::current_exe().map_err(run_err)?;
        let mut cmd = Command::new(exe);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .arg("--workflows")
            .arg(workflows)
            .env("JALON_LOG", "error")
            .env("JALON_POSTGRES_LANES", postgres_lanes.to_string())
            .env_remove("JALON_DATABASE_URL")
            .env_remove("JALON_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            cmd.arg("--database-url").arg(url);
        }
        let mut child = cmd.spawn().map_err(run_err)?;
        let stdout = child.stdout.take().ok_or_else(|| run_err("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(run_err)?;
        let addr = line
            .trim()
            .strip_prefix("jalon listening on http://")
            .and_then(|a| a.parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(run_err(format!("`jalon serve` did not start: {line:?}")));
        };
        let cpu_at_start = cpu_of(child.id()).unwrap_or_default();
        Ok(Server {
            child,
            addr,
            cpu_at_start,
        })
    }

    pub(super) fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// User and system CPU seconds of a process, all its threads (Linux `/proc/<pid>/stat`, in
/// the kernel's 100 Hz ticks).
pub(super) fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_of(pid).map(|c| c.total())
}

/// CPU seconds of a process in its own code and in the kernel's on its behalf (system calls:
/// sockets, files): apart, since the kernel's share depends on the machine's file system.
#[derive(Clone, Copy, Debug, Default)]
struct Cpu {
    user: f64,
    kernel: f64,
}

impl Cpu {
    const UNKNOWN: Cpu = Cpu {
        user: f64::NAN,
        kernel: f64::NAN,
    };

    fn total(&self) -> f64 {
        self.user + self.kernel
    }
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, o: Cpu) -> Cpu {
        Cpu {
            user: self.user - o.user,
            kernel: self.kernel - o.kernel,
        }
    }
}

fn cpu_of(pid: u32) -> Option<Cpu> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: the fields start after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some(Cpu {
        user: ticks(11)? / 100.0,
        kernel: ticks(12)? / 100.0,
    })
}

struct Measured {
    latencies: Vec<Duration>,
    /// Each case's four steps, in [`one_case`]'s order.
    steps: Vec<[Duration; 4]>,
    elapsed: Duration,
    requests: usize,
    client_cpu: f64,
}

/// Runs `o.cases` cases, `o.in_flight` at once; case `i` is sent to server `i` modulo their
/// number, each slot keeping one connection to each server it has used; slot `j` acts as
/// agent `j / SLOTS_AN_AGENT`.
async fn load(
    addrs: &[std::net::SocketAddr],
    tokens: Vec<String>,
    o: &Options,
) -> Result<Measured, Failure> {
    let next = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu_seconds(std::process::id()).unwrap_or(0.0);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for slot in 0..o.in_flight.min(o.cases) {
        let token = tokens[(slot / SLOTS_AN_AGENT).min(tokens.len() - 1)].clone();
        let (next, requests, cases) = (next.clone(), requests.clone(), o.cases);
        let addrs = addrs.to_vec();
        workers.spawn(async move {
            let mut clients: Vec<Option<Client>> = addrs.iter().map(|_| None).collect();
            let mut latencies = Vec::new();
            let mut steps = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cases {
                    break;
                }
                let k = i % addrs.len();
                let client = match &mut clients[k] {
                    Some(c) => c,
                    none => none.insert(Client::connect(addrs[k], &token).await?),
                };
                let t0 = Instant::now();
                steps.push(one_case(client, i).await?);
                latencies.push(t0.elapsed());
            }
            let sent: usize = clients.iter().flatten().map(|c| c.requests).sum();
            requests.fetch_add(sent, Ordering::Relaxed);
            Ok::<_, Failure>((latencies, steps))
        });
    }
    let (mut latencies, mut steps) = (Vec::with_capacity(o.cases), Vec::with_capacity(o.cases));
    while let Some(done) = workers.join_next().await {
        let (l, s) = done.map_err(run_err)??;
        latencies.extend(l);
        steps.extend(s);
    }
    let elapsed = started.elapsed();
    Ok(Measured {
        latencies,
        steps,
        elapsed,
        requests: requests.load(Ordering::Relaxed),
        client_cpu: cpu_seconds(std::process::id()).unwrap_or(f64::NAN) - cpu_before,
    })
}

#[derive(Deserialize)]
struct CaseReply {
    id: String,
    state: String,
    row_version: i64,
}

#[derive(Deserialize)]
struct NoticeReply {
    status: String,
}

/// One case from its start to its notice delivered; how long each step took: the start's
/// answer, then the timer's firing seen, the completion's answer, the notice delivered.
async fn one_case(c: &mut Client, i: usize) -> Result<[Duration; 4], Failure> {
    let mut at = Instant::now();
    let mut lap = || {
        let now = Instant::now();
        std::mem::replace(&mut at, now).elapsed()
    };
    let body = format!(
        r#"{{"workflow":"{WORKFLOW_ID}","key":"banc-{i}","inputs":{{"recu_le":"2026-01-05","courriel":"agent+{i}@ecoles.example.be"}}}}"#
    );
    let mut case: CaseReply = c.call("POST", "/api/v1/cases", Some(&body), 201).await?;
    let started = lap();
    let id = case.id.clone();
    while case.state != "a_traiter" {
        let path = format!(
            "/api/v1/cases/{id}?after_version={}&wait=30s",
            case.row_version
        );
        case = c.call("GET", &path, None, 200).await?;
    }
    let fired = lap();
    let path = format!("/api/v1/cases/{id}/events");
    let _: CaseReply = c
        .call("POST", &path, Some(r#"{"event":"traiter"}"#), 200)
        .await?;
    let completed = lap();
    // Waits until no notice of the case is pending (answered by the delivery's record).
    let path = format!("/api/v1/cases/{id}/notices?wait=30s");
    loop {
        let notices: Vec<NoticeReply> = c.call("GET", &path, None, 200).await?;
        if notices.iter().any(|n| n.status == "sent") {
            return Ok([started, fired, completed, lap()]);
        }
        if notices.iter().any(|n| n.status == "dead") {
            return Err(run_err(format!("the notice of case {id} is dead")));
        }
    }
}

/// "p50 12.3 ms, p99 45.6 ms".
fn percentiles(mut times: Vec<Duration>) -> String {
    if times.is_empty() {
        return "(no case)".into();
    }
    times.sort();
    let at = |q: f64| {
        let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
        times[i].as_secs_f64() * 1e3
    };
    format!("p50 {:.1} ms, p99 {:.1} ms", at(0.50), at(0.99))
}

/// A minimal HTTP/1.1 client on one kept-alive loopback connection, JSON in and out.
pub(super) struct Client {
    conn: AsyncBufReader<TcpStream>,
    head: String,
    requests: usize,
    pub(super) buf: Vec<u8>,
}

impl Client {
    pub(super) async fn connect(
        addr: std::net::SocketAddr,
        token: &str,
    ) -> Result<Client, Failure> {
        let stream = TcpStream::connect(addr).await.map_err(run_err)?;
        stream.set_nodelay(true).map_err(run_err)?;
        Ok(Client {
            conn: AsyncBufReader::new(stream),
            head: format!("Host: {addr}\r\nAuthorization: Bearer {token}\r\n"),
            requests: 0,
            buf: Vec::new(),
        })
    }

    /// Sends a request and reads its JSON answer, which must have status `expect`.
    pub(super) async fn call<T: for<'de> Deserialize<'de>>(
        &mut self,
        method: &str,
        path: &str,
        json: Option<&str>,
        expect: u16,
    ) -> Result<T, Failure> {
        self.requests += 1;
        let status = self
            .exchange(method, path, json)
            .await
            .map_err(|e| run_err(format!("{method} {path}: {e}")))?;
        if status != expect {
            return Err(run_err(format!(
                "{method} {path}: {status} {}",
                String::from_utf8_lossy(&self.buf)
            )));
        }
        serde_json::from_slice(&self.buf).map_err(|e| run_err(format!("{method} {path}: {e}")))
    }

    /// Writes the request, reads the answer's body into `buf`; returns its status.
    pub(super) async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> std::io::Result<u16> {
        let mut req = format!("{method} {path} HTTP/1.1\r\n{}", self.head);
        match json {
            Some(body) => req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )),
            None => req.push_str("\r\n"),
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
        let mut length = None;
        loop {
            line.clear();
            if self.conn.read_line(&mut line).await? == 0 {
                return Err(bad("connection closed in the headers"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.trim().eq_ignore_ascii_case("content-length")
            {
                length = Some(v.trim().parse().map_err(|_| bad("content-length"))?);
            }
        }
        let length = length.ok_or_else(|| bad("an answer without Content-Length"))?;
        self.buf.resize(length, 0);
        self.conn.read_exact(&mut self.buf).await?;
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server would refuse to deploy it, and the bench would measure refusals.
    #[test]
    fn the_bench_workflow_and_its_templates_validate_with_no_diagnostic() {
        let dir = tempfile::tempdir().unwrap();
        let folder = store::validation::load_folder(
            &write_workflow(dir.path(), WORKFLOW_ID, WORKFLOW_TITLE, "").unwrap(),
        )
        .unwrap();
        assert!(folder.unloadable.is_empty(), "{:?}", folder.unloadable);
        assert_eq!(folder.checked.len(), 1);
        for (_, report) in &folder.checked {
            let all: Vec<_> = report.files.iter().flat_map(|(_, ds)| ds).collect();
            assert!(all.is_empty(), "{all:?}");
        }
    }

    #[test]
    fn cpu_seconds_are_read_for_this_process() {
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(cpu_seconds(std::process::id()).is_some_and(|s| s > 0.0));
    }
}
