//! Value parsers shared by subcommands, so that every command refuses bad input the same way.

use std::path::PathBuf;

use chrono::{Datelike, NaiveDate};
use engine::calendar::{Calendar, FIRST_YEAR, LAST_YEAR};

use super::Failure;

/// A `YYYY-MM-DD` date inside the supported years.
pub fn date(s: &str) -> Result<NaiveDate, String> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| format!("expected a date as YYYY-MM-DD ({e})"))?;
    year(d.year())?;
    Ok(d)
}

pub fn year(y: i32) -> Result<i32, String> {
    if (FIRST_YEAR..=LAST_YEAR).contains(&y) {
        Ok(y)
    } else {
        Err(format!(
            "year {y} is outside the supported years {FIRST_YEAR}-{LAST_YEAR}"
        ))
    }
}

pub fn year_arg(s: &str) -> Result<i32, String> {
    let y: i32 = s
        .parse()
        .map_err(|_| format!("expected a year such as 2027, got '{s}'"))?;
    year(y)
}

/// A deadline length: a whole number of at least 1. Negative numbers are parsed (not taken
/// for flags) so that the message can say what is wrong with them.
pub fn length(s: &str) -> Result<u32, String> {
    match s.parse::<i64>() {
        Ok(n) if n >= 1 => u32::try_from(n).map_err(|_| format!("{n} is too long")),
        Ok(n) => Err(format!("a length must be at least 1, got {n}")),
        Err(_) => Err(format!("expected a whole number, got '{s}'")),
    }
}

/// The calendar to count with: the statutory one, plus the closure days of `file` if given.
pub fn calendar(file: Option<&PathBuf>) -> Result<std::sync::Arc<Calendar>, Failure> {
    match file {
        None => Ok(Calendar::fwb()),
        Some(path) => Calendar::from_closure_file(path)
            .map(std::sync::Arc::new)
            .map_err(|e| Failure::Usage(e.to_string())),
    }
}

/// `--postgres-lanes`: within [`store::Options::POSTGRES_LANES`].
pub fn postgres_lanes(s: &str) -> Result<usize, String> {
    let range = store::Options::POSTGRES_LANES;
    s.parse::<usize>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            format!(
                "'{s}' lanes: a whole number from {} to {}",
                range.start(),
                range.end()
            )
        })
}
