//! `jalon deadline`: one legal deadline, as a date, an explanation or JSON.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{ArgGroup, Args};
use engine::calendar::{Deadline, Length, Means, Unit};
use serde::Serialize;

use super::{Failure, args};

#[derive(Args)]
#[command(group(ArgGroup::new("length").args(["working_days", "calendar_days", "months", "years"])))]
#[command(group(ArgGroup::new("means").args(["registered_letter", "hand_delivered"])))]
pub struct DeadlineArgs {
    /// Date of the act (or dispatch of the registered letter, or receipt of the hand-delivered
    /// letter), YYYY-MM-DD; not counted.
    #[arg(long, value_name = "DATE", value_parser = args::date)]
    from: NaiveDate,
    /// Length in working days (Monday to Friday, holidays excluded).
    #[arg(long, value_name = "N", value_parser = args::length, allow_negative_numbers = true)]
    working_days: Option<u32>,
    /// Length in calendar days.
    #[arg(long, value_name = "N", value_parser = args::length, allow_negative_numbers = true)]
    calendar_days: Option<u32>,
    /// Length in months (same day number, clamped to the month's end).
    #[arg(long, value_name = "N", value_parser = args::length, allow_negative_numbers = true)]
    months: Option<u32>,
    /// Length in years.
    #[arg(long, value_name = "N", value_parser = args::length, allow_negative_numbers = true)]
    years: Option<u32>,
    /// --from is the dispatch date of a registered letter: it takes effect on the third working
    /// day after it, and the length runs from that effect date.
    #[arg(long)]
    registered_letter: bool,
    /// --from is the receipt date of a hand-delivered letter: it takes effect that day.
    #[arg(long)]
    hand_delivered: bool,
    /// Add the explanation (in French) below the date.
    #[arg(long, conflicts_with = "json")]
    explain: bool,
    /// Print one JSON object instead.
    #[arg(long)]
    json: bool,
    /// YAML file of extra closure days.
    #[arg(long, value_name = "FILE", env = "JALON_CALENDAR")]
    calendar: Option<PathBuf>,
}

impl DeadlineArgs {
    fn length(&self) -> Option<Length> {
        [
            (self.working_days, Unit::WorkingDays),
            (self.calendar_days, Unit::CalendarDays),
            (self.months, Unit::Months),
            (self.years, Unit::Years),
        ]
        .into_iter()
        .find_map(|(n, unit)| n.map(|n| Length::new(n, unit)))
    }

    fn means(&self) -> Option<Means> {
        if self.registered_letter {
            Some(Means::RegisteredLetter)
        } else if self.hand_delivered {
            Some(Means::HandDelivered)
        } else {
            None
        }
    }
}

/// The JSON form: the computation record, the expiry instant and the French explanation.
#[derive(Serialize)]
struct DeadlineJson<'a> {
    #[serde(flatten)]
    deadline: &'a Deadline,
    expires_at: chrono::DateTime<chrono::Utc>,
    explanation: Vec<String>,
}

pub fn run(a: DeadlineArgs) -> Result<(), Failure> {
    let (length, means) = (a.length(), a.means());
    if length.is_none() && means.is_none() {
        return Err(Failure::Usage(
            "missing deadline length: give --working-days, --calendar-days, --months or --years \
             (or --registered-letter for the letter's effect date)"
                .to_string(),
        ));
    }
    let calendar = args::calendar(a.calendar.as_ref())?;
    let deadline = calendar
        .deadline(a.from, means, length)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    if a.json {
        let json = DeadlineJson {
            deadline: &deadline,
            expires_at: deadline.expires_at(),
            explanation: deadline.explain_fr(),
        };
        println!(
            "{}",
            serde_json::to_string(&json).map_err(anyhow::Error::from)?
        );
        return Ok(());
    }
    println!("{}", deadline.due);
    if a.explain {
        for line in deadline.explain_fr() {
            println!("{line}");
        }
    }
    Ok(())
}
