//! `jalon test`: runs every scenario of every workflow under a folder and lists the failures.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use engine::calendar::Calendar;
use engine::scenario;

use super::simulate::load_scenario;
use super::workflows::load_checked;
use super::{Failure, args};

#[derive(Args)]
pub struct TestArgs {
    /// A folder of workflows (`<id>/workflow.yaml`, `<id>/scenarios/*.yaml`) or one workflow
    /// folder.
    #[arg(value_name = "PATH", default_value = "workflows")]
    path: PathBuf,
    /// YAML file of extra closure days.
    #[arg(long, value_name = "FILE", env = "JALON_CALENDAR")]
    calendar: Option<PathBuf>,
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
}

pub fn run(a: TestArgs) -> Result<(), Failure> {
    let cal = args::calendar(a.calendar.as_ref())?;
    if !a.path.is_dir() {
        return Err(Failure::Usage(format!(
            "{} is not a folder of workflows",
            a.path.display()
        )));
    }
    let folders = if a.path.join("workflow.yaml").is_file() {
        vec![a.path.clone()]
    } else {
        sorted(&a.path, |p| p.join("workflow.yaml").is_file())
    };
    let mut tally = Tally::default();
    for folder in folders {
        test_workflow(&folder, &cal, &mut tally);
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.failed > 0 {
        return Err(Failure::Run(anyhow!("{} scenario(s) failed", tally.failed)));
    }
    Ok(())
}

/// Entries of `dir` that satisfy `keep`, in name order; an unreadable folder has none.
fn sorted(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| keep(p))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn test_workflow(folder: &Path, cal: &Calendar, tally: &mut Tally) {
    let scenarios = sorted(&folder.join("scenarios"), |p| {
        p.extension().is_some_and(|e| e == "yaml" || e == "yml")
    });
    if scenarios.is_empty() {
        return;
    }
    let def = match load_checked(&folder.join("workflow.yaml")) {
        Ok(def) => def,
        Err(message) => {
            for s in &scenarios {
                println!("{}: workflow unusable: {message}", s.display());
            }
            tally.failed += scenarios.len();
            return;
        }
    };
    for path in scenarios {
        let name = path.display().to_string();
        let scenario = match load_scenario(&path) {
            Ok(s) => s,
            Err(message) => {
                println!("{message}");
                tally.failed += 1;
                continue;
            }
        };
        let report = scenario::run(&def, cal, &scenario);
        if report.passed() {
            tally.passed += 1;
        } else {
            tally.failed += 1;
            for f in &report.failures {
                println!("{name}: {}: {}", f.step, f.message);
            }
        }
    }
}
