//! `jalon migrate`: brings the database's schema up to date (opening it does).

use clap::Args;

use super::Failure;
use super::data::{DataArgs, open, runtime};

#[derive(Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    data: DataArgs,
}

pub fn run(a: MigrateArgs) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let s = open(&a.data).await?;
        s.close().await.map_err(|e| Failure::Run(e.into()))?;
        println!("database is up to date");
        Ok(())
    })
}
