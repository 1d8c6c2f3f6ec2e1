//! Art. 22: how a deadline is counted, and the record of how it was counted.

use std::fmt;

use chrono::{Datelike, Days, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Calendar, CalendarError, DayOff, FIRST_YEAR, LAST_YEAR, NonWorkingDay};

/// The unit a legal text counts a deadline in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// *jours ouvrables*: Monday to Friday, holidays excluded (Art. 1, 12°).
    WorkingDays,
    /// *jours de calendrier*.
    CalendarDays,
    /// *mois*: same day number, clamped to the month's last day.
    Months,
    /// *ans*: same day and month, 29 February clamped to the 28th.
    Years,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::WorkingDays => "working days",
            Unit::CalendarDays => "calendar days",
            Unit::Months => "months",
            Unit::Years => "years",
        })
    }
}

/// A length of time as a legal text states it ("vingt jours ouvrables", "un mois").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Length {
    pub count: u32,
    pub unit: Unit,
}

impl Length {
    pub fn new(count: u32, unit: Unit) -> Self {
        Length { count, unit }
    }

    /// The longest supported length per unit: about twenty years, far beyond any deadline of
    /// the texts, and small enough that every result stays inside the calendar's table.
    pub fn max(unit: Unit) -> u32 {
        match unit {
            Unit::WorkingDays => 5_000,
            Unit::CalendarDays => 10_000,
            Unit::Months => 600,
            Unit::Years => 50,
        }
    }
}

/// How the act that starts the deadline reached the person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Means {
    /// *lettre recommandée à la poste*: takes effect the third working day after dispatch
    /// (Art. 39, 69 §2, 84 §2, 138 §2).
    RegisteredLetter,
    /// *remise de la main à la main avec accusé de réception*: takes effect on the date of the
    /// acknowledgement of receipt (Art. 69 §2, 84 §2, 138 §2).
    HandDelivered,
}

/// When a notification took effect, and from which date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub means: Means,
    /// Dispatch date (registered letter) or receipt date (hand delivery).
    pub on: NaiveDate,
    pub effective: NaiveDate,
}

/// The raw end date moved to the next working day (Art. 22, 2°).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Every day skipped, starting with the raw end date itself.
    pub skipped: Vec<NonWorkingDay>,
}

/// A computed deadline and everything needed to explain it to a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// The last day on which the act is allowed (until the end of that day, Europe/Brussels).
    pub due: NaiveDate,
    /// The date given: the act, the dispatch of the letter or its receipt.
    pub from: NaiveDate,
    pub notification: Option<Notification>,
    pub length: Option<Length>,
    /// The day of the act from which counting starts; itself not counted (Art. 22, 1°).
    pub counted_from: NaiveDate,
    /// The end date before any move to a working day.
    pub raw_end: NaiveDate,
    /// Set when a month or year count asked for a day the target month does not have.
    pub clamped_from_day: Option<u32>,
    /// Holidays and closure days that fell on weekdays inside a working-day count (the
    /// registered letter's three days, then the length).
    pub holidays_skipped: Vec<NonWorkingDay>,
    pub moved: Option<Move>,
    /// The end stays on its day even when it is not a working day: Art. 22 of the decree
    /// governs the periods of its own title (Title III), not those of other titles or of the
    /// conventions, unless their own text says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_moved: bool,
    /// Counted under a text other than Title III of the decree (`EndRule::Kept`): the
    /// explanation cites no article of the decree.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outside_art_22: bool,
    /// A date the text fixes by day and month ("pour le 1er avril"), in the year of `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<DayOfYear>,
    /// With `fixed`: the first such day after `from`, rather than the one of its year.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fixed_next: bool,
    /// The decisions that moved this deadline after it was first counted (an extension, a
    /// suspension and its resumption, a correction of the date it counts from), oldest first:
    /// the explanation says who moved it, when and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<Decision>,
    /// For an extended deadline: the day its period began counting, before the extension
    /// counted on from the old end (`counted_from` is then that end). A suspension may date
    /// from any day of the whole period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_began: Option<NaiveDate>,
}

/// A decision that moved a deadline: what it did, the day it was taken, by whom and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub change: Change,
    /// The civil day the decision was recorded.
    pub on: NaiveDate,
    /// The actor's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The workflow's event that carried it, when it was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The due date before the decision (none while the deadline was suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_due: Option<NaiveDate>,
}

/// How a decision moved a deadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Extended by `by`, counted from the end of the period in its own unit.
    Extension { by: Length },
    /// Stopped as of `from`, with `remaining` left to run (`None`: nothing left).
    Suspension {
        from: NaiveDate,
        remaining: Option<Length>,
    },
    /// The remaining length runs again from `on`.
    Resumption { on: NaiveDate },
    /// Counted again because the date it counts from (`variable`) was corrected.
    Correction { variable: String },
}

/// A day and month fixed by a text, whatever the year ("le 1er juillet de chaque année").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DayOfYear {
    pub month: u32,
    pub day: u32,
}

impl DayOfYear {
    /// `MM-DD`, e.g. `04-01`; 29 February is refused (it is not a date of every year).
    pub fn parse(s: &str) -> Option<DayOfYear> {
        let (m, d) = s.split_once('-')?;
        if m.len() != 2 || d.len() != 2 {
            return None;
        }
        let (month, day) = (m.parse().ok()?, d.parse().ok()?);
        // 2023 is not a leap year: a day valid in it is valid in every year.
        NaiveDate::from_ymd_opt(2023, month, day)?;
        Some(DayOfYear { month, day })
    }

    /// This day in `year`.
    pub fn in_year(self, year: i32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(year, self.month, self.day)
    }
}

/// Whether Art. 22, 2° moves the end of a period that falls on a day off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EndRule {
    /// Moved to the next working day (Art. 22, 2°): the periods of Title III of the decree.
    #[default]
    Art22,
    /// Kept on its day: other titles and the conventions, unless their text says otherwise.
    Kept,
}

impl Deadline {
    /// The first instant at which the deadline has passed: midnight after the due date in
    /// Europe/Brussels.
    pub fn expires_at(&self) -> chrono::DateTime<Utc> {
        super::brussels::midnight(self.due + Days::new(1))
    }

    /// The explanation in French, one line per step, ready to be shown to a person.
    pub fn explain_fr(&self) -> Vec<String> {
        super::french::explain(self)
    }

    /// The day the period began counting, extensions included (see `period_began`).
    pub fn began(&self) -> NaiveDate {
        self.period_began.unwrap_or(self.counted_from)
    }
}

impl Calendar {
    /// Computes the deadline that runs `length` from `from` (Art. 22), where `from` is the day
    /// of the act, or the dispatch/receipt date when `means` says how the act was notified.
    /// With no length, the deadline is the notification's effect date itself.
    pub fn deadline(
        &self,
        from: NaiveDate,
        means: Option<Means>,
        length: Option<Length>,
    ) -> Result<Deadline, CalendarError> {
        self.deadline_under(from, means, length, EndRule::Art22)
    }

    /// The date a text fixes by day and month, in the year of `from` (the act that opened the
    /// procedure): never moved, since it is a date, not the end of a period. A case opened
    /// after that day is late from the start.
    pub fn fixed_date(&self, from: NaiveDate, day: DayOfYear) -> Result<Deadline, CalendarError> {
        if !(FIRST_YEAR..=LAST_YEAR).contains(&from.year()) {
            return Err(CalendarError::YearOutOfRange { date: from });
        }
        let due = day
            .in_year(from.year())
            .expect("DayOfYear::parse admits only days of every year");
        Ok(Deadline {
            due,
            from,
            notification: None,
            length: None,
            counted_from: from,
            raw_end: due,
            clamped_from_day: None,
            holidays_skipped: Vec::new(),
            moved: None,
            not_moved: self.day_off(due).is_some(),
            outside_art_22: true,
            fixed: Some(day),
            fixed_next: false,
            decisions: Vec::new(),
            period_began: None,
        })
    }

    /// The first day with this day and month strictly after `from` (a yearly step of a case
    /// that runs for years: "chaque année, le 1er juin"). Never moved, like [`Calendar::fixed_date`].
    pub fn next_date(&self, from: NaiveDate, day: DayOfYear) -> Result<Deadline, CalendarError> {
        let this_year = self.fixed_date(from, day)?;
        if this_year.due > from {
            return Ok(Deadline {
                fixed_next: true,
                ..this_year
            });
        }
        let next = day
            .in_year(from.year() + 1)
            .expect("DayOfYear::parse admits only days of every year");
        if next.year() > LAST_YEAR {
            return Err(CalendarError::YearOutOfRange { date: next });
        }
        Ok(Deadline {
            due: next,
            raw_end: next,
            not_moved: self.day_off(next).is_some(),
            fixed_next: true,
            ..this_year
        })
    }

    /// `due` extended by `by`: counted on from its end before any move (the extension adds
    /// to the period, Art. 22 applies to the new end), keeping the day the period began.
    pub fn extended(
        &self,
        due: &Deadline,
        by: Length,
        rule: EndRule,
    ) -> Result<Deadline, CalendarError> {
        let began = due.began();
        let mut longer = self.deadline_under(due.raw_end, None, Some(by), rule)?;
        longer.period_began = Some(began);
        Ok(longer)
    }

    /// [`Calendar::deadline`], with the end moved to a working day or kept where it falls.
    pub fn deadline_under(
        &self,
        from: NaiveDate,
        means: Option<Means>,
        length: Option<Length>,
        rule: EndRule,
    ) -> Result<Deadline, CalendarError> {
        if !(FIRST_YEAR..=LAST_YEAR).contains(&from.year()) {
            return Err(CalendarError::YearOutOfRange { date: from });
        }
        if let Some(l) = length {
            if l.count == 0 {
                return Err(CalendarError::ZeroLength { unit: l.unit });
            }
            let max = Length::max(l.unit);
            if l.count > max {
                return Err(CalendarError::LengthTooLong {
                    count: l.count,
                    unit: l.unit,
                    max,
                });
            }
        }
        let notification = means.map(|means| Notification {
            means,
            on: from,
            effective: match means {
                Means::RegisteredLetter => self
                    .add_working_days(from, 3)
                    .expect("inside the table: year checked above"),
                Means::HandDelivered => from,
            },
        });
        let counted_from = notification.map_or(from, |n| n.effective);
        let mut clamped_from_day = None;
        let mut holidays_skipped = match notification {
            Some(n) if n.means == Means::RegisteredLetter => {
                self.weekday_holidays_between(n.on, n.effective)
            }
            _ => Vec::new(),
        };
        let raw_end = match length {
            None => counted_from,
            Some(Length {
                count,
                unit: Unit::WorkingDays,
            }) => {
                let end = self
                    .add_working_days(counted_from, count)
                    .expect("inside the table: length bounded above");
                holidays_skipped.extend(self.weekday_holidays_between(counted_from, end));
                end
            }
            Some(Length {
                count,
                unit: Unit::CalendarDays,
            }) => counted_from + Days::new(count.into()),
            Some(Length { count, unit }) => {
                let months = if unit == Unit::Years {
                    count * 12
                } else {
                    count
                };
                let end = counted_from
                    .checked_add_months(Months::new(months))
                    .expect("inside chrono's range: length bounded above");
                if end.day() != counted_from.day() {
                    clamped_from_day = Some(counted_from.day());
                }
                end
            }
        };
        // Art. 22, 2° moves the end of a *period* that falls on a day off. A notification's
        // effect date with no period after it is a fact, not an end: a letter handed over on a
        // Saturday takes effect that Saturday.
        let due = match length {
            None => raw_end,
            Some(_) if rule == EndRule::Kept => raw_end,
            Some(_) => self
                .next_working_day_from(raw_end)
                .expect("inside the table: length bounded above"),
        };
        let moved = (due != raw_end).then(|| Move {
            from: raw_end,
            to: due,
            skipped: raw_end
                .iter_days()
                .take_while(|d| *d < due)
                .filter_map(|date| {
                    self.day_off(date)
                        .map(|reason| NonWorkingDay { date, reason })
                })
                .collect(),
        });
        Ok(Deadline {
            due,
            from,
            notification,
            length,
            counted_from,
            raw_end,
            clamped_from_day,
            holidays_skipped,
            moved,
            not_moved: rule == EndRule::Kept && length.is_some() && self.day_off(raw_end).is_some(),
            outside_art_22: rule == EndRule::Kept,
            fixed: None,
            fixed_next: false,
            decisions: Vec::new(),
            period_began: None,
        })
    }

    fn weekday_holidays_between(&self, from: NaiveDate, to: NaiveDate) -> Vec<NonWorkingDay> {
        let start = self.holidays.partition_point(|h| h.date <= from);
        let mut days = self.holidays[start..]
            .iter()
            .take_while(|h| h.date <= to)
            .filter(|h| {
                self.day_off(h.date)
                    .is_some_and(|o| matches!(o, DayOff::Holiday { .. }))
            })
            .map(|h| NonWorkingDay {
                date: h.date,
                reason: DayOff::Holiday {
                    name: h.name.clone(),
                    source: h.kind,
                },
            })
            .collect::<Vec<_>>();
        // Two holidays can share a date (Ascension on 1 May in 2008): list the day once.
        days.dedup_by_key(|d| d.date);
        days
    }
}
