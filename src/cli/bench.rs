//! `jalon bench`: throughput of the engine's hot paths and of notices on this machine.
//! Build with `--release`; a debug build measures the compiler, not jalon.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use clap::{Args, ValueEnum};
use engine::calendar::{Calendar, Length, Means, Unit};
use notifiers::SmtpConfig;

use super::Failure;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    All,
    Calendar,
    Engine,
    /// The durable server: SQLite, and PostgreSQL with `--postgres`.
    Server,
    Notices,
    /// The French pages' times with `--cases` cases stored (SQLite, and PostgreSQL with
    /// `--postgres`); not part of `all`, as filling the database takes minutes.
    Pages,
    /// Whole cases through the HTTP API of a real `jalon serve` process (SQLite, and
    /// PostgreSQL with `--postgres`): `--cases` cases, `--in-flight` at once; with
    /// `--processes N`, N processes on PostgreSQL; not part of `all`.
    E2e,
    /// `--cases` open cases with an armed timer each under a real `jalon serve` (SQLite, and
    /// PostgreSQL with `--postgres`): start-up, memory, timer lateness while `--rate` timers a
    /// second fall due for `--seconds`, the stuck list and list pages, disk a closed case;
    /// not part of `all`.
    Scale,
}

#[derive(Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value = "all")]
    suite: Suite,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Also measure the server on this PostgreSQL server (`postgres://user@host:port`; a
    /// scratch database is created and dropped).
    #[arg(long)]
    postgres: Option<String>,
    /// Workflows deployed for the server measurements.
    #[arg(long, default_value = "workflows")]
    workflows: std::path::PathBuf,
    /// A plain SMTP server on loopback (`127.0.0.1:2525`) to measure SMTP delivery against
    /// (notices, and the server's outbox); without it SMTP is not measured (the bench starts
    /// no server of its own).
    #[arg(long, value_name = "HOST:PORT")]
    smtp: Option<String>,
    /// Runs of the server measurements; with more than one, the median and the spread of each
    /// figure follow.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=20))]
    runs: u16,
    /// Stores opened on the PostgreSQL database of the server measurements, each with its own
    /// pool and batching lanes as a `jalon serve` process has; the clients and the timers are
    /// shared among them (SQLite: always one).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
    stores: u16,
    /// PostgreSQL lanes of each store (`server`) or `jalon serve` process (`e2e`), as
    /// `jalon serve --postgres-lanes`.
    #[arg(long, env = "JALON_POSTGRES_LANES", default_value_t = store::Options::default().postgres_lanes,
          value_parser = super::args::postgres_lanes)]
    postgres_lanes: usize,
    /// Cases stored before the pages are timed (`pages`, default 100000); cases run through
    /// the server (`e2e`, default 2000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    cases: Option<u32>,
    /// Cases in flight at once, each on its own connection (`e2e`).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    in_flight: u32,
    /// `jalon serve` processes sharing the PostgreSQL database of `e2e`, each case's requests
    /// sent to one of them in turn (above 1: PostgreSQL only, with `--postgres`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
    processes: u16,
    /// Timed requests per page (`pages`): this many, or fewer once `--seconds` have passed
    /// (at least five).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    requests: u32,
    /// Keep the SQLite data folder of `pages` at this path (it must not exist), and its
    /// PostgreSQL database, to look at query plans afterwards.
    #[arg(long, value_name = "DIR")]
    keep: Option<std::path::PathBuf>,
    /// Timers falling due per second during the window of `scale`.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rate: u32,
    /// Measure PostgreSQL only (with `--postgres`), not SQLite as well (`server`, `pages`,
    /// `e2e`, `scale`).
    #[arg(long, requires = "postgres")]
    postgres_only: bool,
}

pub fn run(a: BenchArgs) -> Result<(), Failure> {
    if !(a.seconds > 0.0 && a.seconds <= 600.0) {
        return Err(Failure::Usage(
            "--seconds must be between 0 and 600".to_string(),
        ));
    }
    let budget = Duration::from_secs_f64(a.seconds);
    let targets = server_targets(a.postgres.as_deref(), a.postgres_only);
    let smtp = a.smtp.as_deref().map(smtp_target).transpose()?;
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; run `cargo run --release -- bench` for real numbers");
    }
    if matches!(a.suite, Suite::All | Suite::Calendar) {
        calendar(budget);
    }
    if matches!(a.suite, Suite::All | Suite::Engine) {
        engine_steps(budget)?;
        validation(&a.workflows, budget)?;
        generated_validation();
    }
    if matches!(a.suite, Suite::All | Suite::Server) {
        super::bench_server::run(
            &targets,
            &a.workflows,
            budget,
            smtp.as_ref(),
            usize::from(a.runs),
            usize::from(a.stores),
            store::Options {
                postgres_lanes: a.postgres_lanes,
            },
        )?;
    }
    if matches!(a.suite, Suite::All | Suite::Notices) {
        notices(budget, smtp.as_ref())?;
    }
    if a.suite == Suite::Pages {
        super::bench_pages::run(
            &targets,
            &a.workflows,
            &super::bench_pages::Options {
                cases: a.cases.unwrap_or(100_000) as usize,
                requests: a.requests as usize,
                budget,
                keep: a.keep,
            },
        )?;
    }
    if a.suite == Suite::E2e {
        super::bench_e2e::run(
            &targets,
            &super::bench_e2e::Options {
                cases: a.cases.unwrap_or(2_000) as usize,
                in_flight: a.in_flight as usize,
                processes: usize::from(a.processes),
                postgres_lanes: a.postgres_lanes,
            },
        )?;
    }
    if a.suite == Suite::Scale {
        super::bench_scale::run(
            &targets,
            &super::bench_scale::Options {
                cases: a.cases.unwrap_or(1_000_000) as usize,
                rate: a.rate as usize,
                window: budget,
            },
        )?;
    }
    Ok(())
}

/// SQLite (unless `postgres_only`), and PostgreSQL when `--postgres` names a server.
fn server_targets(postgres: Option<&str>, postgres_only: bool) -> Vec<super::bench_server::Target> {
    let mut targets = Vec::new();
    if !postgres_only {
        targets.push(super::bench_server::Target {
            name: "sqlite",
            admin_url: None,
        });
    }
    if let Some(url) = postgres {
        targets.push(super::bench_server::Target {
            name: "postgres",
            admin_url: Some(url.trim_end_matches('/').to_owned()),
        });
    }
    targets
}

/// `--smtp HOST:PORT`, refused unless the host is a loopback address: the bench floods it.
fn smtp_target(arg: &str) -> Result<SmtpConfig, Failure> {
    let usage = || Failure::Usage(format!("--smtp expects a loopback HOST:PORT, got `{arg}`"));
    let (host, port) = arg.rsplit_once(':').ok_or_else(usage)?;
    let port: u16 = port.parse().map_err(|_| usage())?;
    let ip: std::net::IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| usage())?;
    if !ip.is_loopback() {
        return Err(usage());
    }
    serde_json::from_value(serde_json::json!({
        "host": host, "port": port, "tls": "none",
        "from": "Jalon <jalon@ecoles.example.be>", "timeout_secs": 10, "pool_size": 4,
    }))
    .map_err(|e| Failure::Usage(format!("--smtp: {e}")))
}

fn notices(budget: Duration, smtp: Option<&SmtpConfig>) -> Result<(), Failure> {
    use notifiers::bench;
    let sample = bench::Sample::new().map_err(|e| anyhow::anyhow!(e))?;
    let renders = bench::renders_per_second(&sample, budget).map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "notices: {:.1} k renders/s (context, subject + text + HTML, MIME with .ics, SHA-256; one core)",
        renders / 1e3
    );
    let drops = bench::file_drops_per_second(&sample, budget).map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "notices: {drops:.0} file-drop deliveries/s (write, fsync, rename; messages prebuilt)"
    );
    match smtp {
        Some(config) => {
            let sent = bench::smtp_per_second(&sample, config, budget)
                .map_err(|e| anyhow::anyhow!("SMTP bench: {e}"))?;
            println!(
                "notices: {sent:.0} SMTP deliveries/s to {}:{} ({} connections)",
                config.host,
                config.port(),
                config.pool_size
            );
        }
        None => println!(
            "notices: SMTP not measured (give --smtp 127.0.0.1:PORT, a plain loopback relay)"
        ),
    }
    Ok(())
}

/// `jalon validate` on every shipped workflow, as a whole: reading the files, parsing, every
/// static check and the template checks.
fn validation(dir: &std::path::Path, budget: Duration) -> Result<(), Failure> {
    use engine::definition::load::{Catalog, WorkflowFile, discover};
    let paths = discover(dir).unwrap_or_default();
    if paths.is_empty() {
        println!(
            "validate: not measured (no workflow under {}; give --workflows DIR)",
            dir.display()
        );
        return Ok(());
    }
    let once = || -> Result<usize, Failure> {
        let files = paths
            .iter()
            .map(|p| WorkflowFile::load(p).map_err(|e| anyhow::anyhow!("{e:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        let catalog = Catalog::new(files);
        let mut found = 0;
        for f in catalog.files() {
            found += engine::definition::validate(f, &catalog).len();
            found += notifiers::check::check_workflow_templates(f)
                .iter()
                .map(|(_, d)| d.len())
                .sum::<usize>();
        }
        Ok(found)
    };
    let diagnostics = once()?;
    let (mut runs, started) = (0u32, Instant::now());
    while started.elapsed() < budget {
        black_box(once()?);
        runs += 1;
    }
    println!(
        "validate: {} workflows with their templates in {:.1} ms ({diagnostics} diagnostics; mean of {runs} runs)",
        paths.len(),
        started.elapsed().as_secs_f64() * 1e3 / f64::from(runs.max(1))
    );
    Ok(())
}

/// What a deployment does with a generated 5,000-state workflow (`definition::sample::chain`,
/// within the limits): parse, every check, compile. It shows whether validation stays
/// near-linear in a workflow's size (docs/performance.md).
fn generated_validation() {
    use engine::definition::load::{Catalog, WorkflowFile};
    let text = engine::definition::sample::chain(5_000);
    let started = Instant::now();
    let Ok(file) = WorkflowFile::from_text("chaine/workflow.yaml", text) else {
        println!("validate 5k states: the generated workflow does not parse");
        return;
    };
    let parsed = started.elapsed();
    let catalog = Catalog::new(Vec::new());
    let report = crate::validation::check(
        &file,
        &catalog,
        std::path::Path::new("chaine/templates"),
        &Default::default(),
    );
    let checked = started.elapsed();
    let compiled = engine::machine::Definition::compile(file.workflow).is_ok();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "validate 5k states: parse {:.0} ms, checks {:.0} ms ({} errors), compile {:.0} ms{}",
        ms(parsed),
        ms(checked - parsed),
        report.errors().count(),
        ms(started.elapsed() - checked),
        if compiled { "" } else { " (refused)" }
    );
}

/// Inputs spread over 2020-2040, every unit and means, as the workflows use them.
fn calendar_inputs() -> Vec<(NaiveDate, Option<Means>, Length)> {
    let first = NaiveDate::from_ymd_opt(2020, 1, 1).expect("valid date");
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..4096)
        .map(|_| {
            let from = first + Days::new(next() % 7670);
            let means = match next() % 4 {
                0 => Some(Means::RegisteredLetter),
                1 => Some(Means::HandDelivered),
                _ => None,
            };
            let (unit, max) = match next() % 4 {
                0 => (Unit::WorkingDays, 60),
                1 => (Unit::CalendarDays, 90),
                2 => (Unit::Months, 12),
                _ => (Unit::Years, 3),
            };
            (from, means, Length::new(1 + (next() % max) as u32, unit))
        })
        .collect()
}

/// Runs `f` over the inputs repeatedly for `budget`; returns operations per second.
fn per_second<T>(inputs: &[T], budget: Duration, mut f: impl FnMut(&T)) -> f64 {
    let start = Instant::now();
    let mut done: u64 = 0;
    while start.elapsed() < budget {
        for input in inputs {
            f(input);
        }
        done += inputs.len() as u64;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

fn calendar(budget: Duration) {
    let started = Instant::now();
    let cal = Calendar::fwb();
    let build = started.elapsed();
    let inputs = calendar_inputs();
    let full = per_second(&inputs, budget, |(from, means, length)| {
        let d = cal
            .deadline(*from, *means, Some(*length))
            .expect("valid input");
        black_box(d);
    });
    let lookups = per_second(&inputs, budget, |(from, _, length)| {
        black_box(cal.add_working_days(*from, length.count));
    });
    let explained = per_second(&inputs[..256], budget, |(from, means, length)| {
        let d = cal
            .deadline(*from, *means, Some(*length))
            .expect("valid input");
        black_box(d.explain_fr());
    });
    println!(
        "calendar: table of 1900-2299 built in {:.1} ms",
        build.as_secs_f64() * 1e3
    );
    println!(
        "calendar: {:.2} M deadlines/s (full computation record, one core)",
        full / 1e6
    );
    println!(
        "calendar: {:.2} M working-day additions/s (table lookup)",
        lookups / 1e6
    );
    println!("calendar: {:.0} k French explanations/s", explained / 1e3);
}

/// A typical procedure: six states, a registered-letter deadline with a reminder, a task with
/// a due date, a guard, a choice, a suspension and a case-level timer.
const TYPICAL: &str = r#"
id: bench
title: Recours
legal_basis: "Art. 40"
roles: { secretariat: S, requerant: R, chambre: C }
variables:
  mention: { type: enum, values: [favorable, defavorable], labels: { favorable: Favorable, defavorable: Défavorable } }
  notifiee_le: { type: date }
  motifs: { type: text }
  avis: { type: enum, values: [confirme, reforme], labels: { confirme: Confirmée, reforme: Réformée } }
start: { by: [secretariat], inputs: [mention, notifiee_le] }
initial: notifiee
timers: [{ id: vie, after: { years: 2 }, goto: classe }]
states:
  notifiee:
    label: Notifiée
    timers:
      - id: reclamation
        after: { working_days: 10, from: notifiee_le, letter: registered }
        goto: definitive
        reminders: [{ before: { working_days: 3 }, notify: [{ to: [requerant], template: rappel }] }]
    on:
      reclamer: { by: [requerant], inputs: [motifs], goto: recue, notify: [{ to: [secretariat], template: recue }] }
  recue:
    label: Reçue
    tasks: [{ id: avis_chambre, role: chambre, title: Avis, due: { working_days: 20 }, closes_on: [aviser] }]
    timers: [{ id: delai_avis, after: { working_days: 20 }, goto: definitive }]
    on:
      suspendre: { by: [secretariat], suspend: [delai_avis] }
      reprendre: { by: [secretariat], resume: [delai_avis] }
      aviser:
        by: [chambre]
        inputs: [avis]
        when: { mention: defavorable }
        choose:
          - { when: { avis: reforme }, goto: reformee }
          - { goto: definitive }
  reformee: { label: Réformée, final: true, notify: [{ to: [requerant], template: reformee }] }
  definitive: { label: Définitive, final: true }
  classe: { label: Classé, final: true }
"#;

/// One case: start, then four events, each step counted.
fn engine_steps(budget: Duration) -> Result<(), Failure> {
    use engine::machine::civil::brussels_at;
    use engine::machine::{self, Actor, Definition, StartRequest, Trigger};

    let wf = engine::definition::parse(TYPICAL).map_err(|d| anyhow::anyhow!(d.render("bench")))?;
    let def = Definition::compile(wf).map_err(|e| anyhow::anyhow!(e))?;
    let cal = Calendar::fwb();
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid date");
    let actor = |role: &str| Actor {
        id: "bench".into(),
        roles: vec![role.into()],
    };
    let inputs = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let start_req = StartRequest {
        by: actor("secretariat"),
        inputs: inputs(&[("mention", "defavorable"), ("notifiee_le", "2026-10-05")]),
        now: brussels_at(day("2026-10-05"), 12, 0),
    };
    let events: Vec<(Trigger, chrono::DateTime<chrono::Utc>)> = [
        (
            "reclamer",
            "requerant",
            inputs(&[("motifs", "Désaccord")]),
            "2026-10-12",
        ),
        ("suspendre", "secretariat", inputs(&[]), "2026-10-19"),
        ("reprendre", "secretariat", inputs(&[]), "2026-11-02"),
        (
            "aviser",
            "chambre",
            inputs(&[("avis", "reforme")]),
            "2026-11-10",
        ),
    ]
    .into_iter()
    .map(|(name, role, inputs, on)| {
        (
            Trigger::Event {
                name: name.into(),
                by: actor(role),
                inputs,
                reason: None,
            },
            brussels_at(day(on), 12, 0),
        )
    })
    .collect();
    // Triggers are built outside the timed part: the caller builds them from a request, and
    // the figure is about the engine.
    const BATCH: usize = 256;
    let batch = || {
        (0..BATCH)
            .map(|_| (start_req.clone(), events.clone()))
            .collect::<Vec<_>>()
    };
    let run_case = |req: StartRequest, triggers: Vec<(Trigger, chrono::DateTime<chrono::Utc>)>| {
        let (mut case, effects) = machine::start(&def, &cal, req).map_err(|r| r.to_string())?;
        black_box(effects);
        let mut steps = 1u64;
        for (trigger, now) in triggers {
            let (next, effects) =
                machine::step(&def, &cal, &case, trigger, now).map_err(|r| r.to_string())?;
            black_box(effects);
            case = next;
            steps += 1;
        }
        if case.outcome() != Some("reformee") {
            return Err(format!("the bench case ended in {}", case.state));
        }
        Ok::<u64, String>(steps)
    };
    let mut timed = Duration::ZERO;
    let mut steps: u64 = 0;
    while timed < budget {
        let cases = batch();
        let started = Instant::now();
        for (req, triggers) in cases {
            steps += run_case(req, triggers).map_err(|e| anyhow::anyhow!("bench workflow: {e}"))?;
        }
        timed += started.elapsed();
    }
    let rate = steps as f64 / timed.as_secs_f64();
    println!(
        "engine: {:.2} M transitions/s (start + 4 events per case, effects built, triggers prebuilt, one core)",
        rate / 1e6
    );
    Ok(())
}
