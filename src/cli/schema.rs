//! `jalon schema`: the JSON Schema of the workflow language, as checked in at
//! `workflows/workflow.schema.json` (regenerate with `cargo run -- schema > workflows/workflow.schema.json`).

use clap::Args;

use super::Failure;

#[derive(Args)]
pub struct SchemaArgs {}

pub fn run(_: SchemaArgs) -> Result<(), Failure> {
    print!("{}", engine::definition::json_schema());
    Ok(())
}
