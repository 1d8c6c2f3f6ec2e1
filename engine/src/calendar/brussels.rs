//! Europe/Brussels time: the UTC offsets of the tz database (chrono-tz), read once per year
//! and kept. Every transition converts an instant to its civil date and a date to its
//! midnight; searching the database each time cost more than the rest of a transition.
//! Outside the kept years the database is asked directly.

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Europe::Brussels;

const FIRST_YEAR: i32 = 1890;
const LAST_YEAR: i32 = 2310;
const YEARS: usize = (LAST_YEAR - FIRST_YEAR + 1) as usize;
const DAY: i64 = 86_400;
/// Offsets are sampled this often when a year is read. Brussels never changed its offset
/// twice within six hours (a test compares with the database around every change).
const SAMPLE: i64 = 6 * 3600;
/// Day number (from 1 January of year 1, as `num_days_from_ce`) of 1 January 1970.
const UNIX_EPOCH_DAY: i64 = 719_163;

/// The offsets of one (UTC) year.
struct Year {
    /// Offset in force at the first second of the year, in seconds east of UTC.
    start: i32,
    /// (first UTC second of a new offset, that offset), in order.
    changes: Vec<(i64, i32)>,
}

static TABLE: [OnceLock<Year>; YEARS] = [const { OnceLock::new() }; YEARS];

fn database_offset(t: i64) -> i32 {
    DateTime::from_timestamp(t, 0)
        .map(|u| {
            Brussels
                .offset_from_utc_datetime(&u.naive_utc())
                .fix()
                .local_minus_utc()
        })
        .unwrap_or(0)
}

/// The first second (UTC) of year `y`: the day count of 1 January (proleptic Gregorian,
/// H. Hinnant's `days_from_civil`), integer arithmetic only.
const fn year_start(y: i32) -> i64 {
    let y = y as i64 - 1; // January counts in the previous March-based year
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + 306;
    (era * 146_097 + doe - 719_468) * DAY
}

/// `year_start` of every kept year and of the year after the last, computed at compile time.
static STARTS: [i64; YEARS + 1] = {
    let mut starts = [0; YEARS + 1];
    let mut i = 0;
    while i <= YEARS {
        starts[i] = year_start(FIRST_YEAR + i as i32);
        i += 1;
    }
    starts
};

fn read_year(y: i32) -> Year {
    let (from, to) = (year_start(y), year_start(y + 1));
    let start = database_offset(from);
    let mut changes = Vec::new();
    let (mut t, mut current) = (from, start);
    while t < to {
        let next = (t + SAMPLE).min(to);
        let offset = database_offset(next);
        if offset != current {
            // The first second in (t, next] with the new offset.
            let (mut lo, mut hi) = (t, next);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if database_offset(mid) == current {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            if hi < to {
                changes.push((hi, offset));
            }
            current = offset;
        }
        t = next;
    }
    Year { start, changes }
}

/// The UTC year of the instant `t` (seconds), if kept.
fn year_of(t: i64) -> Option<&'static Year> {
    if !(STARTS[0]..STARTS[YEARS]).contains(&t) {
        return None;
    }
    // An average Gregorian year is 365.2425 days: the estimate is off by one at most.
    let estimate =
        (1970 + t.div_euclid(31_556_952) - i64::from(FIRST_YEAR)).clamp(0, YEARS as i64 - 1);
    let mut i = estimate as usize;
    if t < STARTS[i] {
        i -= 1;
    } else if t >= STARTS[i + 1] {
        i += 1;
    }
    Some(TABLE[i].get_or_init(|| read_year(FIRST_YEAR + i as i32)))
}

/// Brussels' offset from UTC at instant `t` (seconds), in seconds.
fn offset_at(t: i64) -> i32 {
    let Some(year) = year_of(t) else {
        return database_offset(t);
    };
    year.changes
        .iter()
        .take_while(|(at, _)| *at <= t)
        .last()
        .map_or(year.start, |(_, offset)| *offset)
}

fn from_seconds(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The civil date in Brussels at `now`.
pub fn civil_date(now: DateTime<Utc>) -> NaiveDate {
    let t = now.timestamp();
    let local_day = (t + i64::from(offset_at(t))).div_euclid(DAY) + UNIX_EPOCH_DAY;
    i32::try_from(local_day)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .unwrap_or_else(|| now.with_timezone(&Brussels).date_naive())
}

/// The instant of a Brussels wall time: the earlier one when the wall time happens twice,
/// `None` when it does not exist (in the spring gap). Whole seconds: jalon needs no finer.
pub fn earliest(wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    let w = wall.and_utc().timestamp();
    // An offset is at most a day, and the offset changes at most once within a day of `w`:
    // the offsets a day before and after are the only candidates.
    let mut best: Option<i64> = None;
    for offset in [offset_at(w - DAY), offset_at(w + DAY)] {
        let t = w - i64::from(offset);
        if offset_at(t) == offset && best.is_none_or(|b| t < b) {
            best = Some(t);
        }
    }
    best.map(from_seconds)
}

/// Midnight at the start of `date` in Brussels (never in a gap since 1946; before that, the
/// first instant of the day).
pub fn midnight(date: NaiveDate) -> DateTime<Utc> {
    let wall = date.and_time(chrono::NaiveTime::MIN);
    earliest(wall).unwrap_or_else(|| {
        Brussels
            .from_local_datetime(&wall)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| first_instant_of(date))
    })
}

/// The first instant whose civil date is `date` (midnight fell in a gap).
fn first_instant_of(date: NaiveDate) -> DateTime<Utc> {
    let w = date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
    // The day starts within the 24 hours after its wall midnight read with any offset.
    let mut t = w - DAY;
    while civil_date(from_seconds(t)) < date && t < w + DAY {
        t += 60;
    }
    from_seconds(t)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveTime};
    use proptest::prelude::*;

    use super::*;

    fn database_earliest(wall: NaiveDateTime) -> Option<DateTime<Utc>> {
        Brussels
            .from_local_datetime(&wall)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Every change of offset from 1890 to 2310, and the wall times around it, agree with
    /// the database to the second.
    #[test]
    fn agrees_with_the_database_around_every_change() {
        let mut changes = 0;
        for y in FIRST_YEAR..=LAST_YEAR {
            let year = TABLE[(y - FIRST_YEAR) as usize].get_or_init(|| read_year(y));
            for &(at, offset) in &year.changes {
                changes += 1;
                assert_eq!(database_offset(at), offset);
                assert_ne!(database_offset(at - 1), offset, "{at}");
                for delta in (-3 * 3600..=3 * 3600).step_by(600) {
                    let t = from_seconds(at + delta);
                    assert_eq!(
                        civil_date(t),
                        t.with_timezone(&Brussels).date_naive(),
                        "{t}"
                    );
                    let wall = t.with_timezone(&Brussels).naive_local();
                    for w in [wall, wall + Duration::minutes(30)] {
                        assert_eq!(earliest(w), database_earliest(w), "{w}");
                    }
                }
            }
        }
        // Two a year since 1977 (as far as the database lists them), and irregular ones before.
        assert!(changes > 2 * (2037 - 1977), "{changes}");
    }

    #[test]
    fn midnights_exist_and_start_their_day() {
        let mut d = NaiveDate::from_ymd_opt(1890, 1, 2).unwrap();
        let last = NaiveDate::from_ymd_opt(2310, 12, 30).unwrap();
        while d <= last {
            let m = midnight(d);
            assert_eq!(civil_date(m), d, "{d}");
            assert!(civil_date(m - Duration::seconds(1)) < d, "{d}");
            d = d.succ_opt().unwrap();
        }
    }

    #[test]
    fn years_start_where_chrono_says() {
        for y in (FIRST_YEAR - 5)..=(LAST_YEAR + 5) {
            let jan1 = NaiveDate::from_ymd_opt(y, 1, 1).unwrap();
            assert_eq!(
                year_start(y),
                jan1.and_time(NaiveTime::MIN).and_utc().timestamp()
            );
            let before = from_seconds(year_start(y) - 1);
            assert_eq!(chrono::Datelike::year(&before), y - 1);
        }
    }

    #[test]
    fn a_day_whose_midnight_did_not_exist_starts_at_one() {
        // Summer time began at midnight on 1 May 1916: the day started at 01:00 (+02:00).
        let may_first = NaiveDate::from_ymd_opt(1916, 5, 1).unwrap();
        assert_eq!(database_earliest(may_first.and_time(NaiveTime::MIN)), None);
        assert_eq!(
            midnight(may_first).to_rfc3339(),
            "1916-04-30T23:00:00+00:00"
        );
    }

    proptest! {
        #[test]
        fn any_instant_and_wall_time_agree_with_the_database(
            secs in year_start(1890)..year_start(2311),
            hour in 0u32..24,
            minute in 0u32..60,
        ) {
            let t = from_seconds(secs);
            prop_assert_eq!(civil_date(t), t.with_timezone(&Brussels).date_naive());
            let wall = civil_date(t).and_time(NaiveTime::from_hms_opt(hour, minute, 0).unwrap());
            prop_assert_eq!(earliest(wall), database_earliest(wall));
        }
    }
}
