//! `jalon verify`: recomputes every case's history hash chain, so that anyone holding the
//! database can check that no history row was changed, removed or inserted after the fact.

use clap::Args;

use super::Failure;
use super::data::{DataArgs, open, runtime};

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    data: DataArgs,
}

pub fn run(a: VerifyArgs) -> Result<(), Failure> {
    // Checking must not create an empty database where the operator mistyped a folder.
    let file = a.data.data_dir.join("jalon.db");
    if a.data.database_url.is_none() && !file.exists() {
        return Err(Failure::Usage(format!("no database at {}", file.display())));
    }
    runtime()?.block_on(async {
        let s = open(&a.data).await?;
        let sum = s
            .verify_all(|c| {
                if let Some(b) = &c.first_broken {
                    println!(
                        "broken: case {} seq {} ({}): expected {}, stored {}",
                        b.case_id,
                        b.seq.map_or("-".to_owned(), |s| s.to_string()),
                        b.problem,
                        if b.expected.is_empty() {
                            "\"\""
                        } else {
                            &b.expected
                        },
                        if b.stored.is_empty() {
                            "\"\""
                        } else {
                            &b.stored
                        },
                    );
                }
            })
            .await
            .map_err(|e| Failure::Run(e.into()))?;
        s.close().await.map_err(|e| Failure::Run(e.into()))?;
        println!(
            "{} cases, {} history rows checked, {} broken",
            sum.cases, sum.rows, sum.broken
        );
        if sum.broken > 0 {
            return Err(Failure::Run(anyhow::anyhow!(
                "the history chain of {} case(s) is broken",
                sum.broken
            )));
        }
        Ok(())
    })
}
