//! Command-line parsing and dispatch. Each subcommand lives in its own module; this one only
//! maps failures to exit codes: 2 for unusable arguments, 1 for a failed run.

mod actors;
mod args;
mod bench;
mod bench_e2e;
mod bench_pages;
mod bench_scale;
mod bench_server;
mod cases;
mod data;
mod deadline;
mod docs;
mod graph;
mod holidays;
mod migrate;
mod scenarios;
mod schema;
mod serve;
mod simulate;
mod validate;
mod verify;
mod workflows;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "jalon",
    version,
    about = "Workflow server for legal procedures (FWB)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compute a legal deadline (decree of 13 September 2018, Art. 22).
    Deadline(deadline::DeadlineArgs),
    /// List the holidays and closure days of a year.
    Holidays(holidays::HolidaysArgs),
    /// Measure the engine's speed on this machine.
    Bench(bench::BenchArgs),
    /// Check workflow files for mistakes (file:line:column diagnostics).
    Validate(validate::ValidateArgs),
    /// Print the JSON Schema of the workflow language.
    Schema(schema::SchemaArgs),
    /// Draw the state diagram of a workflow (Mermaid or Graphviz dot).
    Graph(graph::GraphArgs),
    /// Print the reference page of the workflows (docs/procedures.md).
    Docs(docs::DocsArgs),
    /// Run a scenario against a workflow and print the timeline (in French).
    Simulate(simulate::SimulateArgs),
    /// Run every scenario of the workflows under a folder.
    Test(scenarios::TestArgs),
    /// Run the server: HTTP API, timers, schedules (SQLite under ./data by default).
    Serve(serve::ServeArgs),
    /// Create or update the database schema.
    Migrate(migrate::MigrateArgs),
    /// Manage actors (people and systems with roles and a bearer token).
    Actors(actors::ActorsArgs),
    /// Recompute every case's history hash chain; exit 1 if one is broken.
    Verify(verify::VerifyArgs),
    /// Act on running cases: move them to a newer version of their workflow.
    Cases(cases::CasesArgs),
}

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The arguments cannot be used (exit code 2); the message is one line.
    Usage(String),
    /// The command ran and failed (exit code 1).
    Run(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Run(e)
    }
}

pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(&e.render().to_string()),
    };
    let result = match cli.command {
        Command::Deadline(a) => deadline::run(a),
        Command::Holidays(a) => holidays::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Graph(a) => graph::run(a),
        Command::Docs(a) => docs::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Test(a) => scenarios::run(a),
        Command::Serve(a) => serve::serve(a),
        Command::Migrate(a) => migrate::run(a),
        Command::Actors(a) => actors::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Cases(a) => cases::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => usage_error(&msg),
        Err(Failure::Run(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the first paragraph of `msg` as one line, as scripts expect, and exits with code 2.
fn usage_error(msg: &str) -> ExitCode {
    let paragraph: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    let line = paragraph.join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    eprintln!("error: {line}");
    ExitCode::from(2)
}
