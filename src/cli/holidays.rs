//! `jalon holidays YEAR`: the days off of a year, with their names.

use std::path::PathBuf;

use clap::Args;
use engine::calendar::french;

use super::{Failure, args};

#[derive(Args)]
pub struct HolidaysArgs {
    /// The year, 1900-2200.
    #[arg(value_parser = args::year_arg)]
    year: i32,
    /// Print a JSON array instead.
    #[arg(long)]
    json: bool,
    /// YAML file of extra closure days.
    #[arg(long, value_name = "FILE", env = "JALON_CALENDAR")]
    calendar: Option<PathBuf>,
}

pub fn run(a: HolidaysArgs) -> Result<(), Failure> {
    let calendar = args::calendar(a.calendar.as_ref())?;
    let holidays = calendar.holidays(a.year);
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&holidays).map_err(anyhow::Error::from)?
        );
        return Ok(());
    }
    for h in holidays {
        println!(
            "{}  {:<8}  {} ({})",
            h.date,
            french::weekday(h.date),
            h.name,
            h.kind.label_fr()
        );
    }
    Ok(())
}
