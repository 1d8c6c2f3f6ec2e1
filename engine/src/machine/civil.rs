//! Civil dates and instants in Europe/Brussels, computed from given instants (nothing here
//! reads a clock; see `calendar::brussels`).

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};

use crate::calendar::brussels;

/// The civil date of `now` in Brussels.
pub fn civil_date(now: DateTime<Utc>) -> NaiveDate {
    brussels::civil_date(now)
}

/// `date` at `hour`:`minute` Brussels time. Hours used by jalon (08:00, 12:00) always exist;
/// inside a DST gap the instant falls back to the same wall time read as UTC.
pub fn brussels_at(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let local = date.and_time(NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN));
    brussels::earliest(local).unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

/// Midnight at the start of `date`, Brussels time.
pub fn brussels_midnight(date: NaiveDate) -> DateTime<Utc> {
    brussels::midnight(date)
}
