//! `jalon cases migrate`: moves the open cases of a workflow to a newer version through a
//! mapping file (`docs/migrations.md`), each case in its own transaction with a history row;
//! `--dry-run` prints the same plans and writes nothing. Same store call as the API's
//! `POST /api/v1/workflows/{id}/migrations`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use store::migrate_cases::{MigrationReport, MigrationRequest};

use super::Failure;
use super::data::{DataArgs, open, runtime};
use crate::clock::{Clock, SystemClock};

#[derive(Args)]
pub struct CasesArgs {
    #[command(subcommand)]
    command: CasesCommand,
}

#[derive(Subcommand)]
enum CasesCommand {
    /// Move open cases to a newer version of their workflow (a mapping file says how).
    Migrate(MigrateArgs),
}

#[derive(Args)]
struct MigrateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The workflow id.
    #[arg(long)]
    workflow: String,
    /// The version the cases move to.
    #[arg(long = "to-version")]
    to_version: i32,
    /// The mapping file (YAML: states, variables, drop, timers; see docs/migrations.md).
    #[arg(long)]
    mapping: PathBuf,
    /// Print what would change, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Only the case with this business key (repeat for several).
    #[arg(long = "case")]
    cases: Vec<String>,
    /// Why the cases move, kept in their history.
    #[arg(long)]
    reason: Option<String>,
}

pub fn run(a: CasesArgs) -> Result<(), Failure> {
    match a.command {
        CasesCommand::Migrate(m) => migrate(m),
    }
}

fn migrate(a: MigrateArgs) -> Result<(), Failure> {
    let bytes = std::fs::read(&a.mapping)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", a.mapping.display())))?;
    let name = a.mapping.display().to_string();
    let text = match engine::definition::decode(bytes) {
        Ok(t) => t,
        Err(d) => {
            eprintln!("{}", d.render(&name));
            return Err(Failure::Run(anyhow::anyhow!(
                "the mapping file has errors; no case was changed"
            )));
        }
    };
    // Checking must not create an empty database where the operator mistyped a folder.
    let file = a.data.data_dir.join("jalon.db");
    if a.data.database_url.is_none() && !file.exists() {
        return Err(Failure::Usage(format!("no database at {}", file.display())));
    }
    let actor = std::env::var("USER")
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|_| "cli".into());
    runtime()?.block_on(async {
        let s = open(&a.data).await?;
        let report = s
            .migrate_cases(
                MigrationRequest {
                    workflow_id: &a.workflow,
                    to_version: a.to_version,
                    mapping: &text,
                    mapping_name: &name,
                    only: (!a.cases.is_empty()).then(|| a.cases.clone()),
                    dry_run: a.dry_run,
                    actor: Some(actor),
                    reason: a.reason.clone(),
                },
                SystemClock.now(),
            )
            .await;
        s.close().await.ok();
        match report {
            Ok(r) => print_report(&r),
            Err(e) if e.code() == "invalid_mapping" => {
                eprintln!("{e}");
                Err(Failure::Run(anyhow::anyhow!(
                    "the mapping file has errors; no case was changed"
                )))
            }
            Err(e) => Err(Failure::Run(e.into())),
        }
    })
}

fn print_report(r: &MigrationReport) -> Result<(), Failure> {
    if r.dry_run {
        println!("dry run: nothing is written");
    }
    let mut moved = 0;
    for c in &r.cases {
        println!(
            "case {} ({}): v{} -> v{}, {} -> {}",
            c.key, c.case_id, c.from_version, c.to_version, c.from_state, c.to_state
        );
        if let Some(e) = &c.error {
            println!("  left as it is: {e}");
            continue;
        }
        moved += 1;
        for line in &c.lines {
            println!("  {line}");
        }
    }
    let left = r.cases.len() - moved;
    println!(
        "{moved} case(s) of {} {} to version {}, {left} left as they are",
        r.workflow,
        if r.dry_run { "would move" } else { "moved" },
        r.to_version
    );
    if left > 0 {
        return Err(Failure::Run(anyhow::anyhow!(
            "{left} case(s) could not be migrated"
        )));
    }
    Ok(())
}
