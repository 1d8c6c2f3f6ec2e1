//! `jalon simulate`: runs one scenario (or a quick start-and-wait) against a workflow file and
//! prints the French timeline, or JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use chrono::{Months, NaiveDate};
use clap::Args;
use engine::machine::Definition;
use engine::scenario::{self, Report, Scenario};

use super::workflows::load_checked;
use super::{Failure, args};

#[derive(Args)]
pub struct SimulateArgs {
    /// The workflow file (workflows/<id>/workflow.yaml).
    #[arg(value_name = "WORKFLOW_FILE")]
    workflow: PathBuf,
    /// Scenario file to run (workflows/<id>/scenarios/<name>.yaml).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["start", "by", "input", "until"], required_unless_present = "start")]
    scenario: Option<PathBuf>,
    /// Quick run without a scenario: start a case on this date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = args::date)]
    start: Option<NaiveDate>,
    /// Role that starts the case (default: the first role allowed to start).
    #[arg(long, value_name = "ROLE", requires = "start")]
    by: Option<String>,
    /// A start input, `name=value` (repeatable).
    #[arg(long, value_name = "NAME=VALUE", requires = "start")]
    input: Vec<String>,
    /// Fast-forward to the end of this date (default: two years after --start).
    #[arg(long, value_name = "DATE", value_parser = args::date, requires = "start")]
    until: Option<NaiveDate>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// YAML file of extra closure days.
    #[arg(long, value_name = "FILE", env = "JALON_CALENDAR")]
    calendar: Option<PathBuf>,
}

/// Reads and parses a scenario file.
pub fn load_scenario(path: &Path) -> Result<Scenario, String> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    scenario::parse(&text).map_err(|e| format!("{name}:{e}"))
}

pub fn run(a: SimulateArgs) -> Result<(), Failure> {
    let cal = args::calendar(a.calendar.as_ref())?;
    let def = load_checked(&a.workflow).map_err(Failure::Usage)?;
    let (scenario, source) = match (&a.scenario, a.start) {
        (Some(path), _) => (
            load_scenario(path).map_err(Failure::Usage)?,
            path.display().to_string(),
        ),
        (None, Some(on)) => (quick(&a, &def, on)?, a.workflow.display().to_string()),
        (None, None) => {
            return Err(Failure::Usage(
                "give --scenario FILE or --start DATE".to_string(),
            ));
        }
    };
    let report = scenario::run(&def, &cal, &scenario);
    print(&report, a.json)?;
    failures(&source, &report)
}

fn quick(a: &SimulateArgs, def: &Definition, on: NaiveDate) -> Result<Scenario, Failure> {
    let by = match &a.by {
        Some(role) => role.clone(),
        None => def.start.by[0].to_string(),
    };
    let until = match a.until {
        Some(u) if u < on => {
            return Err(Failure::Usage(format!(
                "--until {u} is before --start {on}"
            )));
        }
        Some(u) => u,
        None => on
            .checked_add_months(Months::new(24))
            .ok_or_else(|| Failure::Usage(format!("cannot add two years to {on}")))?,
    };
    let mut inputs = BTreeMap::new();
    for i in &a.input {
        let Some((name, value)) = i.split_once('=') else {
            return Err(Failure::Usage(format!(
                "--input expects NAME=VALUE, got '{i}'"
            )));
        };
        inputs.insert(
            name.to_string(),
            scenario::input_from_text(def, name, value),
        );
    }
    Ok(scenario::quick(on, by, inputs, until))
}

fn print(report: &Report, json: bool) -> Result<(), Failure> {
    if json {
        let text = serde_json::to_string_pretty(report).map_err(|e| anyhow!(e))?;
        println!("{text}");
    } else {
        print!("{}", scenario::render_fr(report));
    }
    Ok(())
}

/// Prints each failed expectation on stderr as `file: step N: message`; exit code 1 if any.
fn failures(source: &str, report: &Report) -> Result<(), Failure> {
    for f in &report.failures {
        eprintln!("{source}: {}: {}", f.step, f.message);
    }
    match report.failures.len() {
        0 => Ok(()),
        n => Err(Failure::Run(anyhow!("{n} expectation(s) not met"))),
    }
}
