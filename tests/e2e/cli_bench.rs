//! `jalon bench server --runs N`: each run prints its figures, then the median and the spread of
//! each. Speed itself is the benchmark's business, never asserted here; that every figure is
//! measured, and summarised from the runs' own values, is.

use crate::server::harness::pg_admin_url;
use crate::support::jalon;

/// The rate at the start of `line` after `prefix` ("server/sqlite:    10412 timers fired/s").
fn rate(line: &str, prefix: &str) -> f64 {
    line.strip_prefix(prefix)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {line:?}"))
}

#[test]
fn bench_server_gives_the_median_and_spread_of_its_runs() {
    let run = jalon(&["bench", "server", "--seconds", "0.1", "--runs", "3"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (runs, summary) = run
        .stdout
        .split_once("server: over 3 runs\n")
        .unwrap_or_else(|| panic!("no summary in:\n{}", run.stdout));
    assert_eq!(runs.matches("server: run ").count(), 3, "{runs}");

    let mut fired: Vec<f64> = runs
        .lines()
        .filter(|l| l.contains(" timers fired/s ("))
        .map(|l| rate(l, "server/sqlite:"))
        .collect();
    fired.sort_by(f64::total_cmp);
    assert_eq!(fired.len(), 3, "{runs}");
    let line = summary
        .lines()
        .find(|l| l.starts_with("server/sqlite: timers fired: "))
        .unwrap_or_else(|| panic!("no timers line in:\n{summary}"));
    assert_eq!(
        line,
        format!(
            "server/sqlite: timers fired: median {:.0}/s ({:.0}-{:.0}/s, 3 runs)",
            fired[1], fired[0], fired[2]
        )
    );
    for what in [
        "cases started",
        "events in start order",
        "events in random order",
        "notices delivered (file drop)",
    ] {
        assert!(
            summary.lines().any(
                |l| l.starts_with(&format!("server/sqlite: {what}: median "))
                    && l.ends_with(", 3 runs)")
            ),
            "{what} missing from:\n{summary}"
        );
    }
    assert!(
        summary.contains("server/idle: resident memory"),
        "{summary}"
    );
}

#[test]
fn bench_runs_are_bounded() {
    let run = jalon(&["bench", "server", "--runs", "0"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--runs"), "{}", run.stderr);
}

/// `jalon bench pages` on a small database: every page is asked for and answered (the form
/// post with its redirect), and the table says so. The times are not looked at.
#[test]
fn bench_pages_times_every_page() {
    let run = jalon(&["bench", "pages", "--cases", "200", "--requests", "3"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("pages/sqlite: 200 cases of "),
        "{}",
        run.stdout
    );
    for (page, status) in [
        ("GET / (Mes tâches", "200"),
        ("GET /cases/{id} ", "200"),
        ("GET /cases/{id}/tasks/{task}", "200"),
        ("GET /nouveau", "200"),
        ("GET /workflows ", "200"),
        ("GET /operateur (", "200"),
        ("POST /cases/{id}/actions", "303"),
    ] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("pages/sqlite: {page}")))
            .unwrap_or_else(|| panic!("no line for {page} in:\n{}", run.stdout));
        // The last six cells: status, requests, p50, p95, max, bytes.
        let cells: Vec<&str> = line.split_whitespace().collect();
        let tail = &cells[cells.len() - 6..];
        assert_eq!(tail[0], status, "{line}");
        assert!(
            tail[1].parse::<u32>().is_ok_and(|n| (1..=3).contains(&n)),
            "{line}"
        );
        for ms in &tail[2..5] {
            assert!(ms.parse::<f64>().is_ok_and(|t| t > 0.0), "{line}");
        }
    }
}

/// `jalon bench e2e` drives whole cases through a real `jalon serve` on SQLite and on a
/// scratch PostgreSQL database: every case reaches its delivered notice, and the line gives
/// the rate, the percentiles and both processes' CPU. The figures are not looked at.
#[test]
fn bench_e2e_runs_whole_cases_through_a_real_server() {
    let pg = pg_admin_url();
    let run = jalon(&[
        "bench",
        "e2e",
        "--cases",
        "30",
        "--in-flight",
        "7",
        "--postgres",
        &pg,
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for target in ["sqlite", "postgres"] {
        let line = run
            .stdout
            .lines()
            .find(|l| {
                let lanes = if target == "postgres" {
                    ", 4 lanes"
                } else {
                    ""
                };
                l.starts_with(&format!("e2e/{target}: 30 cases, 7 in flight{lanes}: "))
            })
            .unwrap_or_else(|| panic!("no {target} line in:\n{}", run.stdout));
        for part in [
            " complete cases/s (",
            " s), ",
            " transitions/s; start to notice delivered p50 ",
            " ms, p99 ",
            "; CPU: server ",
            " s (user ",
            " s, kernel ",
            " s), client ",
            " requests a case",
        ] {
            assert!(line.contains(part), "{part:?} missing from {line}");
        }
        let steps = format!("e2e/{target}: steps, p50: start answered ");
        assert!(run.stdout.contains(&steps), "{}", run.stdout);
    }
    // The writers' commits, read from the server's /metrics.
    assert!(
        run.stdout.contains("e2e/sqlite: SQLite writer: ") && run.stdout.contains(" jobs a commit"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("e2e/postgres: SQLite writer"));
    let lanes = batch_jobs(&run.stdout, "e2e/postgres: PostgreSQL lanes (4 in all): ");
    assert!(lanes >= 90, "30 cases of 3 transitions: {}", run.stdout);
}

/// The jobs the writers' batches held, from the bench's line that starts with `prefix`
/// (`… commits (…/s) of N jobs, …`).
fn batch_jobs(stdout: &str, prefix: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{stdout}"));
    line.split_once("/s) of ")
        .and_then(|(_, rest)| rest.split_once(" jobs, "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no jobs in {line}"))
}

/// More cases in flight than one actor may wait on (100): the bench spreads its client slots
/// over several agents, where a single agent was refused `too_many_waits`.
#[test]
fn bench_e2e_runs_more_cases_in_flight_than_one_actor_may_wait_on() {
    let run = jalon(&["bench", "e2e", "--cases", "400", "--in-flight", "200"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("e2e/sqlite: 400 cases, 200 in flight: "),
        "{}",
        run.stdout
    );
}

/// `--postgres-only` leaves SQLite out of every suite that measures both, not only `scale`.
#[test]
fn bench_e2e_with_postgres_only_measures_no_sqlite() {
    let pg = pg_admin_url();
    let run = jalon(&[
        "bench",
        "e2e",
        "--cases",
        "10",
        "--in-flight",
        "2",
        "--postgres",
        &pg,
        "--postgres-only",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("e2e/sqlite"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("e2e/postgres: 10 cases, 2 in flight, 4 lanes: "),
        "{}",
        run.stdout
    );
}

/// `jalon bench e2e --processes 2 --postgres-lanes 1`: two `jalon serve` children of one lane
/// each on one scratch PostgreSQL database complete every case, print one line with each
/// child's CPU and report their lanes on `/metrics`; SQLite is skipped, and without
/// `--postgres` the option is refused, as are lanes out of bounds. The figures are not looked
/// at.
#[test]
fn bench_e2e_runs_on_several_processes_on_postgres_only() {
    let pg = pg_admin_url();
    let run = jalon(&[
        "bench",
        "e2e",
        "--cases",
        "20",
        "--in-flight",
        "4",
        "--processes",
        "2",
        "--postgres-lanes",
        "1",
        "--postgres",
        &pg,
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("e2e/sqlite: skipped (one process only on SQLite)"),
        "{}",
        run.stdout
    );
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("e2e/postgres: 20 cases, 4 in flight, 2 processes of 1 lanes: "))
        .unwrap_or_else(|| panic!("no postgres line in:\n{}", run.stdout));
    let cpu = line
        .split_once("; CPU: server ")
        .and_then(|(_, rest)| rest.split_once(" s ("))
        .and_then(|(_, rest)| rest.split_once("), client "))
        .map(|(each, _)| each)
        .unwrap_or_else(|| panic!("no CPU per process in {line}"));
    assert_eq!(cpu.split(" + ").count(), 2, "{line}");
    assert!(line.contains(" transitions/s; "), "{line}");
    // Both processes' batches are counted: each committed part of the 60 transitions, on the
    // one lane it was told to have.
    let lanes = batch_jobs(&run.stdout, "e2e/postgres: PostgreSQL lanes (2 in all): ");
    assert!(lanes >= 60, "{}", run.stdout);
    assert!(
        run.stdout.contains(" transitions run again, "),
        "{}",
        run.stdout
    );

    for lanes in ["0", "9", "two"] {
        for command in [
            &["serve", "--postgres-lanes", lanes][..],
            &["bench", "e2e", "--postgres-lanes", lanes],
        ] {
            let refused = jalon(command);
            assert_eq!(refused.code, 2, "{command:?}: {}", refused.stderr);
            assert!(
                refused.stderr.contains("lanes: a whole number from 1 to 8"),
                "{command:?}: {}",
                refused.stderr
            );
        }
    }

    let refused = jalon(&["bench", "e2e", "--cases", "5", "--processes", "2"]);
    assert_eq!(refused.code, 2, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused
            .stderr
            .contains("--processes above 1 needs --postgres"),
        "{}",
        refused.stderr
    );
}

/// `jalon bench scale` on a small database, SQLite and a scratch PostgreSQL database: the
/// timers of the window fire under a real server, every read answers, the window's cases are
/// closed, and each figure is printed. The figures are not looked at.
#[test]
fn bench_scale_prints_each_figure() {
    let pg = pg_admin_url();
    let run = jalon(&[
        "bench",
        "scale",
        "--cases",
        "300",
        "--rate",
        "50",
        "--seconds",
        "2",
        "--postgres",
        &pg,
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for target in ["sqlite", "postgres"] {
        let prefix = format!("scale/{target}: ");
        let lines: Vec<&str> = run
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .collect();
        for part in [
            "300 open cases with one armed timer each started in ",
            "start-up (spawn to /readyz answered) ",
            "100 timers due at 50/s over 2 s: 100 fired at ",
            "store.stuck_page (counts and 50 of ",
            "GET /api/v1/operator/stuck/summary ",
            "GET /api/v1/operator/stuck?limit=50 ",
            "GET /api/v1/tasks ",
            "GET /api/v1/cases?workflow=banc-echelle&status=open&limit=50 ",
            "GET /api/v1/cases/",
            "100 cases fired, completed and their notices delivered: ",
            "server memory idle after start ",
        ] {
            assert!(
                lines.iter().any(|l| l.contains(part)),
                "{part:?} missing from {target}:\n{}",
                run.stdout
            );
        }
        let late = lines
            .iter()
            .find(|l| l.contains("; lateness p50 "))
            .unwrap_or_else(|| panic!("no lateness for {target}:\n{}", run.stdout));
        assert!(
            late.contains(" ms, p99 ") && late.contains(" ms, max "),
            "{late}"
        );
        assert!(
            lines.iter().any(|l| l.contains(" bytes a closed case (")),
            "{}",
            run.stdout
        );
    }
}
