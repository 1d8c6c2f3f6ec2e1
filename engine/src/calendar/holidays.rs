//! The days that are never *jours ouvrables*, besides Saturdays and Sundays.
//!
//! Art. 1, 12° of the decree of 13 September 2018: a working day is "le lundi, mardi, mercredi,
//! jeudi ou vendredi non férié". Art. 22 counts "les jours fériés légaux, en ce compris les jours
//! fériés de ou dans la Communauté française". So: the ten Belgian legal holidays (loi du
//! 4 janvier 1974), Easter and Whit Sunday (legal holidays that always fall on a Sunday), and
//! 27 September, the Fête de la Fédération Wallonie-Bruxelles.

use std::sync::Arc;

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};

/// Why a day is a holiday; shown to people next to its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolidayKind {
    /// Belgian legal holiday (loi du 4 janvier 1974).
    Legal,
    /// Holiday of the Communauté française / Fédération Wallonie-Bruxelles.
    Community,
    /// Extra closure day added by configuration.
    Closure,
}

impl HolidayKind {
    pub fn label_fr(self) -> &'static str {
        match self {
            HolidayKind::Legal => "jour férié légal",
            HolidayKind::Community => "jour férié de la Communauté française",
            HolidayKind::Closure => "jour de fermeture configuré",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: Arc<str>,
    pub kind: HolidayKind,
}

/// The statutory holidays of `year`, in date order. Fails only when Easter cannot be computed
/// for the year (outside the Gregorian range computus supports).
pub(crate) fn statutory(year: i32) -> Option<Vec<Holiday>> {
    let easter = computus::gregorian_naive(year).ok()?;
    let after_easter = |days: u64| easter.checked_add_days(Days::new(days));
    let fixed = |month: u32, day: u32| NaiveDate::from_ymd_opt(year, month, day);
    let rows: [(Option<NaiveDate>, &str, HolidayKind); 13] = [
        (fixed(1, 1), "Nouvel An", HolidayKind::Legal),
        (Some(easter), "Pâques", HolidayKind::Legal),
        (after_easter(1), "Lundi de Pâques", HolidayKind::Legal),
        (fixed(5, 1), "Fête du Travail", HolidayKind::Legal),
        (after_easter(39), "Ascension", HolidayKind::Legal),
        (after_easter(49), "Pentecôte", HolidayKind::Legal),
        (after_easter(50), "Lundi de Pentecôte", HolidayKind::Legal),
        (fixed(7, 21), "Fête nationale", HolidayKind::Legal),
        (fixed(8, 15), "Assomption", HolidayKind::Legal),
        (
            fixed(9, 27),
            "Fête de la Fédération Wallonie-Bruxelles",
            HolidayKind::Community,
        ),
        (fixed(11, 1), "Toussaint", HolidayKind::Legal),
        (fixed(11, 11), "Armistice", HolidayKind::Legal),
        (fixed(12, 25), "Noël", HolidayKind::Legal),
    ];
    let mut out = Vec::with_capacity(rows.len());
    for (date, name, kind) in rows {
        let date = date?;
        debug_assert_eq!(date.year(), year);
        out.push(Holiday {
            date,
            name: Arc::from(name),
            kind,
        });
    }
    out.sort_by_key(|h| h.date);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn easter_relative_holidays_match_published_dates() {
        // Dates published by the SPF Emploi for 2026 and 2027.
        let names = |y| {
            statutory(y)
                .unwrap()
                .into_iter()
                .map(|h| (h.date, h.name.to_string()))
                .collect::<Vec<_>>()
        };
        let y2026 = names(2026);
        assert!(y2026.contains(&(d("2026-04-06"), "Lundi de Pâques".into())));
        assert!(y2026.contains(&(d("2026-05-14"), "Ascension".into())));
        assert!(y2026.contains(&(d("2026-05-25"), "Lundi de Pentecôte".into())));
        let y2027 = names(2027);
        assert!(y2027.contains(&(d("2027-03-28"), "Pâques".into())));
        assert!(y2027.contains(&(d("2027-03-29"), "Lundi de Pâques".into())));
        assert!(y2027.contains(&(d("2027-05-06"), "Ascension".into())));
        assert!(y2027.contains(&(d("2027-05-16"), "Pentecôte".into())));
        assert!(y2027.contains(&(d("2027-05-17"), "Lundi de Pentecôte".into())));
        assert_eq!(y2027.len(), 13);
    }

    #[test]
    fn easter_and_whit_sunday_are_always_sundays() {
        for year in 1900..=2200 {
            for h in statutory(year).unwrap() {
                if &*h.name == "Pâques" || &*h.name == "Pentecôte" {
                    assert_eq!(h.date.weekday(), chrono::Weekday::Sun, "{year} {}", h.name);
                }
            }
        }
    }
}
