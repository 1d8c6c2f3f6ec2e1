//! The legal calendar: which days are *jours ouvrables* and how deadlines are counted
//! (decree of 13 September 2018, Art. 1 12° and Art. 22).
//!
//! Every date jalon shows or arms a timer for comes from [`Calendar::deadline`]. The calendar
//! precomputes, once, a table of every day from 1900 to 2299 so that counting working days is a
//! lookup, not a loop; the table is immutable afterwards and shared freely.

pub mod brussels;
mod closures;
mod deadline;
pub mod french;
mod holidays;

use std::sync::{Arc, OnceLock};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

pub use closures::{Closure, ClosureError, load_closures, parse_closures};
pub use deadline::{
    Change, DayOfYear, Deadline, Decision, EndRule, Length, Means, Move, Notification, Unit,
};
pub use holidays::{Holiday, HolidayKind};

/// Years a deadline may start in. Results may run past the last year (see [`Length::max`]).
pub const FIRST_YEAR: i32 = 1900;
pub const LAST_YEAR: i32 = 2200;
/// The table goes well past [`LAST_YEAR`] so that the longest allowed length still fits.
const TABLE_LAST_YEAR: i32 = 2299;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum DayKind {
    Working,
    Saturday,
    Sunday,
    Holiday,
}

/// Why a day is not a working day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DayOff {
    Saturday,
    Sunday,
    Holiday { name: Arc<str>, source: HolidayKind },
}

/// A non-working day and its reason, as listed in explanations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonWorkingDay {
    pub date: NaiveDate,
    pub reason: DayOff,
}

/// Why a deadline could not be computed. Each variant names the faulty input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("date {date} is outside the supported years {FIRST_YEAR}-{LAST_YEAR}")]
    YearOutOfRange { date: NaiveDate },
    #[error("a deadline length must be at least 1, got 0 {unit}")]
    ZeroLength { unit: Unit },
    #[error("{count} {unit} is longer than the longest supported deadline ({max} {unit})")]
    LengthTooLong { count: u32, unit: Unit, max: u32 },
}

/// Working days, holidays and closure days, precomputed from 1900 to 2299.
#[derive(Debug)]
pub struct Calendar {
    kinds: Vec<DayKind>,
    /// `rank[i]`: number of working days among table days `0..=i`.
    rank: Vec<u32>,
    /// Every working day of the table, in order.
    working: Vec<NaiveDate>,
    /// Every holiday and closure of the table, sorted by date.
    holidays: Vec<Holiday>,
}

fn table_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).expect("valid date")
}

/// `table_start()` as a day number (`num_days_from_ce`, checked when the table is built):
/// table indices are plain subtractions, cheaper than date arithmetic on every lookup.
const TABLE_START_DAY: i32 = 693_596;

fn table_end() -> NaiveDate {
    NaiveDate::from_ymd_opt(TABLE_LAST_YEAR, 12, 31).expect("valid date")
}

impl Calendar {
    /// The statutory calendar of the Fédération Wallonie-Bruxelles, with no closure days.
    pub fn fwb() -> Arc<Calendar> {
        static FWB: OnceLock<Arc<Calendar>> = OnceLock::new();
        FWB.get_or_init(|| Arc::new(Self::build(Vec::new())))
            .clone()
    }

    /// The statutory calendar plus the closure days of `source` (a file name, for errors).
    /// Refuses a closure that would change nothing (weekend, holiday, duplicate) or lies
    /// outside the supported years, so that no day is ever silently assumed closed.
    pub fn with_closures(source: &str, closures: Vec<Closure>) -> Result<Calendar, ClosureError> {
        let statutory = Self::fwb();
        let mut extra: Vec<Holiday> = Vec::with_capacity(closures.len());
        for c in closures {
            let refuse = |message: String| ClosureError {
                file: source.to_string(),
                line: c.line,
                column: c.column,
                message,
            };
            if !(FIRST_YEAR..=LAST_YEAR).contains(&c.date.year()) {
                return Err(refuse(format!(
                    "closure day {} is outside the supported years {FIRST_YEAR}-{LAST_YEAR}",
                    c.date
                )));
            }
            if let Some(off) = statutory.day_off(c.date) {
                return Err(refuse(format!(
                    "closure day {} is already not a working day ({}); remove it",
                    c.date,
                    french::day_off(&off)
                )));
            }
            if extra.iter().any(|h| h.date == c.date) {
                return Err(refuse(format!("closure day {} is listed twice", c.date)));
            }
            extra.push(Holiday {
                date: c.date,
                name: Arc::from(c.label.as_str()),
                kind: HolidayKind::Closure,
            });
        }
        Ok(Self::build(extra))
    }

    /// Loads closure days from a YAML file (see [`parse_closures`]).
    pub fn from_closure_file(path: &std::path::Path) -> Result<Calendar, ClosureError> {
        let closures = load_closures(path)?;
        Self::with_closures(&path.display().to_string(), closures)
    }

    fn build(extra: Vec<Holiday>) -> Calendar {
        let mut holidays: Vec<Holiday> = (FIRST_YEAR..=TABLE_LAST_YEAR)
            .flat_map(|y| holidays::statutory(y).expect("Easter is defined for 1900-2299"))
            .chain(extra)
            .collect();
        holidays.sort_by_key(|h| h.date);
        let start = table_start();
        assert_eq!(start.num_days_from_ce(), TABLE_START_DAY);
        let len = (table_end() - start).num_days() as usize + 1;
        let mut kinds = Vec::with_capacity(len);
        let mut rank = Vec::with_capacity(len);
        let mut working = Vec::with_capacity(len * 5 / 7);
        let mut next_holiday = holidays.iter().peekable();
        for date in start.iter_days().take(len) {
            let mut kind = match date.weekday() {
                Weekday::Sat => DayKind::Saturday,
                Weekday::Sun => DayKind::Sunday,
                _ => DayKind::Working,
            };
            while next_holiday.peek().is_some_and(|h| h.date == date) {
                next_holiday.next();
                if kind == DayKind::Working {
                    kind = DayKind::Holiday;
                }
            }
            if kind == DayKind::Working {
                working.push(date);
            }
            kinds.push(kind);
            rank.push(working.len() as u32);
        }
        Calendar {
            kinds,
            rank,
            working,
            holidays,
        }
    }

    fn index(&self, date: NaiveDate) -> Option<usize> {
        let i = date.num_days_from_ce() - TABLE_START_DAY;
        usize::try_from(i).ok().filter(|&i| i < self.kinds.len())
    }

    /// Monday to Friday and not a holiday or closure day (Art. 1, 12°).
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        match self.index(date) {
            Some(i) => self.kinds[i] == DayKind::Working,
            None => !matches!(date.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// Why `date` is not a working day, or `None` when it is one.
    pub fn day_off(&self, date: NaiveDate) -> Option<DayOff> {
        match date.weekday() {
            Weekday::Sat => return Some(DayOff::Saturday),
            Weekday::Sun => return Some(DayOff::Sunday),
            _ => {}
        }
        self.holiday_on(date).map(|h| DayOff::Holiday {
            name: h.name.clone(),
            source: h.kind,
        })
    }

    fn holiday_on(&self, date: NaiveDate) -> Option<&Holiday> {
        let at = self.holidays.partition_point(|h| h.date < date);
        self.holidays.get(at).filter(|h| h.date == date)
    }

    /// Holidays and closure days of `year`, including those falling on a weekend.
    pub fn holidays(&self, year: i32) -> Vec<Holiday> {
        self.holidays
            .iter()
            .filter(|h| h.date.year() == year)
            .cloned()
            .collect()
    }

    /// The `n`-th working day strictly after `date` (`date` itself for 0). `None` past the table.
    pub fn add_working_days(&self, date: NaiveDate, n: u32) -> Option<NaiveDate> {
        let i = self.index(date)?;
        if n == 0 {
            return Some(date);
        }
        let k = self.rank[i] as usize + n as usize;
        // rank counts working days up to and including `date`, so the n-th one after it is
        // at position rank + n - 1 in `working`.
        let at = k.checked_sub(1)?;
        self.working.get(at).copied()
    }

    /// The first working day on or after `date`.
    pub fn next_working_day_from(&self, date: NaiveDate) -> Option<NaiveDate> {
        if self.is_working_day(date) {
            return Some(date);
        }
        self.add_working_days(date, 1)
    }

    /// Number of working days in `(from, to]`: the day of the act excluded, the last day
    /// included, as Art. 22 counts. Zero when `to <= from`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        match (self.index(from), self.index(to)) {
            (Some(a), Some(b)) if b > a => self.rank[b] - self.rank[a],
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests;
