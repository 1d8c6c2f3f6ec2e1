//! Schedules that start cases (`schedules:` in a workflow): when they run, in Europe/Brussels
//! wall-clock time, without double runs or lost runs on daylight-saving days.
//!
//! The `cron` crate, asked in Brussels time, skips a wall time that does not exist (02:30 on
//! the last Sunday of March) and yields both instants of one that happens twice (02:30 on the
//! last Sunday of October). jalon instead walks the cron's wall-clock times in a zone without
//! daylight saving and maps each to one instant:
//! - a wall time that happens twice runs once, at its first occurrence (summer time);
//! - a wall time that does not exist runs at the first instant after the gap (03:00), once
//!   even when several skipped times (or 03:00 itself) map there.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Brussels;
use cron::TimeUnitSpec;

use super::Inputs;
use super::compiled::Definition;

/// A compiled `schedules:` entry.
#[derive(Debug)]
pub struct ScheduleDef {
    pub id: Arc<str>,
    pub label: Option<Arc<str>>,
    /// The cron expression as written (Quartz style, seconds first).
    pub expr: Arc<str>,
    /// The start inputs of the cases it opens (`with`), as a start request takes them.
    pub inputs: Inputs,
    pub(super) cron: cron::Schedule,
}

/// The most runs [`next_runs`] returns at once.
pub const MAX_RUNS: usize = 1000;

/// Whether a cron can run more than once in a minute (more than one value in its seconds
/// field). Refused by the validator (`cron-too-frequent`) and the compiler: schedules open
/// cases of yearly or daily procedures, and a case's key names the minute of its occurrence.
pub fn more_than_once_a_minute(cron: &cron::Schedule) -> bool {
    cron.seconds().count() > 1
}

/// The runs of the definition's schedules in `(after, until]`, earliest first, as
/// (index in `def.schedules`, instant). Pure: the caller passes the instants (typically the
/// last instant it handled and now). At most [`MAX_RUNS`], the earliest: a caller catching up
/// on a long window calls again from the last run returned.
pub fn next_runs(
    def: &Definition,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<(usize, DateTime<Utc>)> {
    let mut runs = Vec::new();
    if until <= after {
        return runs;
    }
    for (i, s) in def.schedules.iter().enumerate() {
        runs.extend(runs_of(&s.cron, after, until).map(|t| (i, t)));
    }
    runs.sort_by_key(|&(i, t)| (t, i));
    runs.truncate(MAX_RUNS);
    runs
}

/// The first run of any of the definition's schedules strictly after `after`, as
/// (index in `def.schedules`, instant): the instant the scheduler has to wake at.
pub fn next_run(def: &Definition, after: DateTime<Utc>) -> Option<(usize, DateTime<Utc>)> {
    def.schedules
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            runs_of(&s.cron, after, DateTime::<Utc>::MAX_UTC)
                .next()
                .map(|t| (i, t))
        })
        .min_by_key(|&(i, t)| (t, i))
}

/// One schedule's runs in `(after, until]`, at most [`MAX_RUNS`].
fn runs_of(
    cron: &cron::Schedule,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> impl Iterator<Item = DateTime<Utc>> {
    // UTC stands for a wall clock without daylight saving: its "instants" are Brussels wall
    // times. Their mapping to real instants never goes backwards, so the walk stops at the
    // first one past `until`, and a repeated instant is always the previous one.
    let wall_after = Utc.from_utc_datetime(&after.with_timezone(&Brussels).naive_local());
    let mut last = None;
    cron.after(&wall_after)
        .map(|wall| instant(wall.naive_utc()))
        .take_while(move |&t| t <= until)
        .filter(move |&t| {
            let new = t > after && last != Some(t);
            last = Some(t);
            new
        })
        .take(MAX_RUNS)
}

/// The instant a Brussels wall time runs at: its only instant, the first of two, or the end
/// of the gap it falls in.
pub fn instant(wall: NaiveDateTime) -> DateTime<Utc> {
    if let Some(t) = Brussels.from_local_datetime(&wall).earliest() {
        return t.with_timezone(&Utc);
    }
    // Gaps start and end on a whole minute (an hour in Brussels): the first wall minute after
    // `wall` that exists is the end of the gap.
    let minute = wall.with_second(0).and_then(|w| w.with_nanosecond(0));
    let mut probe = minute.unwrap_or(wall);
    for _ in 0..24 * 60 {
        probe += Duration::minutes(1);
        if let Some(t) = Brussels.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    // Unreachable with the tz database (no gap lasts a day); read the wall time as UTC.
    Utc.from_utc_datetime(&wall)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::{Days, NaiveDate};
    use proptest::prelude::*;

    use super::*;
    use crate::definition::parse;

    fn def(crons: &[&str]) -> Definition {
        compiled(crons).expect("compiles")
    }

    fn compiled(crons: &[&str]) -> Result<Definition, String> {
        let schedules: String = crons
            .iter()
            .enumerate()
            .map(|(i, c)| format!("  - {{ id: s{i}, cron: \"{c}\", with: {{ annee: 2026 }} }}\n"))
            .collect();
        let text = format!(
            "id: campagne\ntitle: Campagne\nlegal_basis: Art. 1er\nroles: {{ agent: Agent }}\n\
             variables: {{ annee: {{ type: integer }} }}\nstart: {{ by: [agent], inputs: [annee] }}\n\
             initial: ouvert\nstates:\n  ouvert: {{ label: Ouvert, final: true }}\nschedules:\n{schedules}"
        );
        Definition::compile(parse(&text).expect("parses"))
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("rfc3339").to_utc()
    }

    fn shown(runs: &[(usize, DateTime<Utc>)]) -> Vec<String> {
        runs.iter()
            .map(|(i, t)| format!("{i} {}", t.with_timezone(&Brussels).to_rfc3339()))
            .collect()
    }

    #[test]
    fn schedules_are_compiled_with_their_start_inputs() {
        let d = def(&["0 0 8 1 9 *"]);
        let s = &d.schedules[0];
        assert_eq!((&*s.id, &*s.expr), ("s0", "0 0 8 1 9 *"));
        assert_eq!(s.inputs["annee"], serde_json::json!(2026));
        let err = compiled(&["0 8 1 9 *"]).unwrap_err();
        assert!(err.contains("schedule 's0': invalid cron"), "{err}");
    }

    #[test]
    fn a_skipped_wall_time_runs_once_at_the_end_of_the_gap() {
        let d = def(&["0 30 2 * * *"]);
        let runs = next_runs(&d, utc("2026-03-27T12:00:00Z"), utc("2026-03-31T12:00:00Z"));
        assert_eq!(
            shown(&runs),
            [
                "0 2026-03-28T02:30:00+01:00",
                "0 2026-03-29T03:00:00+02:00",
                "0 2026-03-30T02:30:00+02:00",
                "0 2026-03-31T02:30:00+02:00",
            ]
        );
        // Every quarter of an hour from 01:00 to 03:45: the four skipped times and 03:00
        // itself make one run at 03:00.
        let d = def(&["0 */15 1-3 * * *"]);
        let runs = next_runs(&d, utc("2026-03-28T22:00:00Z"), utc("2026-03-29T12:00:00Z"));
        assert_eq!(
            shown(&runs),
            [
                "0 2026-03-29T01:00:00+01:00",
                "0 2026-03-29T01:15:00+01:00",
                "0 2026-03-29T01:30:00+01:00",
                "0 2026-03-29T01:45:00+01:00",
                "0 2026-03-29T03:00:00+02:00",
                "0 2026-03-29T03:15:00+02:00",
                "0 2026-03-29T03:30:00+02:00",
                "0 2026-03-29T03:45:00+02:00",
            ]
        );
    }

    #[test]
    fn a_repeated_wall_time_runs_once_at_its_first_occurrence() {
        let d = def(&["0 30 2 * * *"]);
        let runs = next_runs(&d, utc("2026-10-24T12:00:00Z"), utc("2026-10-26T12:00:00Z"));
        assert_eq!(
            shown(&runs),
            ["0 2026-10-25T02:30:00+02:00", "0 2026-10-26T02:30:00+01:00",]
        );
        // Polled during the second 02:00-03:00 of the night: nothing runs again.
        let runs = next_runs(&d, utc("2026-10-25T01:10:00Z"), utc("2026-10-25T01:50:00Z"));
        assert_eq!(shown(&runs), Vec::<String>::new());
    }

    #[test]
    fn runs_are_sorted_across_schedules_and_capped() {
        let d = def(&["0 0 9 * * Mon-Fri", "0 0 8 1 9 *"]);
        let runs = next_runs(&d, utc("2026-08-31T00:00:00Z"), utc("2026-09-01T23:00:00Z"));
        assert_eq!(
            shown(&runs),
            [
                "0 2026-08-31T09:00:00+02:00",
                "1 2026-09-01T08:00:00+02:00",
                "0 2026-09-01T09:00:00+02:00",
            ]
        );
        // Every minute for a day: the first MAX_RUNS, then the rest from the last one returned.
        let d = def(&["0 * * * * *"]);
        let from = utc("2026-03-28T12:00:00Z");
        let first = next_runs(&d, from, from + Duration::days(1));
        assert_eq!(first.len(), MAX_RUNS);
        assert_eq!(first[0].1, from + Duration::minutes(1));
        let last = first[MAX_RUNS - 1].1;
        let rest = next_runs(&d, last, from + Duration::days(1));
        assert_eq!(rest[0].1, last + Duration::minutes(1));
        assert!(next_runs(&d, from, from).is_empty());
    }

    #[test]
    fn a_cron_running_more_than_once_a_minute_does_not_compile() {
        for cron in ["* * * * * *", "*/10 * * * * *", "0,30 0 8 * * *"] {
            let err = compiled(&[cron]).unwrap_err();
            assert!(
                err.contains("schedule 's0': cron runs more than once a minute"),
                "{cron}: {err}"
            );
        }
        // Once a minute, at any second, is allowed.
        for cron in ["0 * * * * *", "30 * * * * *", "15 */5 8-17 * * Mon-Fri"] {
            assert!(compiled(&[cron]).is_ok(), "{cron}");
        }
    }

    #[test]
    fn the_next_run_is_the_earliest_of_all_schedules_strictly_after() {
        let d = def(&["0 0 9 * * Mon-Fri", "0 0 8 1 9 *"]);
        // Monday 31 August 2026, 08:59:59 Brussels: the weekday run at 09:00.
        let before = utc("2026-08-31T06:59:59Z");
        assert_eq!(next_run(&d, before), Some((0, utc("2026-08-31T07:00:00Z"))));
        // At 09:00 exactly that run is past: next is 1 September at 08:00.
        assert_eq!(
            next_run(&d, utc("2026-08-31T07:00:00Z")),
            Some((1, utc("2026-09-01T06:00:00Z")))
        );
        // The same as the first of `next_runs` over any window that holds it.
        let after = utc("2026-03-28T23:00:00Z");
        let d = def(&["0 30 2 * * *"]);
        assert_eq!(
            next_run(&d, after),
            next_runs(&d, after, after + Duration::days(2))
                .first()
                .copied()
        );
    }

    /// Nights of the two changes of 2026 and ordinary nights around them.
    fn around_changes() -> impl Strategy<Value = DateTime<Utc>> {
        (0usize..2, 0i64..(4 * 24 * 60)).prop_map(|(which, minutes)| {
            let start = [utc("2026-03-27T00:00:00Z"), utc("2026-10-23T00:00:00Z")][which];
            start + Duration::minutes(minutes)
        })
    }

    fn cron_at() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u32..60, 0u32..4).prop_map(|(m, h)| format!("0 {m} {h} * * *")),
            (0u32..4).prop_map(|h| format!("0 */20 {h} * * *")),
            Just("0 0 * * * *".to_string()),
        ]
    }

    proptest! {
        /// Polling in pieces gives the same runs as at once: no run is lost or doubled when
        /// the caller moves `after` along, whatever the cut points.
        #[test]
        fn runs_split_at_any_instant_add_up(
            cron in cron_at(),
            a in around_changes(),
            cut in 0i64..(2 * 24 * 60),
            len in 0i64..(3 * 24 * 60),
        ) {
            let d = def(&[cron.as_str()]);
            let (b, c) = (a + Duration::minutes(cut.min(len)), a + Duration::minutes(len));
            let whole = next_runs(&d, a, c);
            let mut pieces = next_runs(&d, a, b);
            pieces.extend(next_runs(&d, b, c));
            prop_assert_eq!(&whole, &pieces);
            // Strictly increasing: never twice at one instant.
            prop_assert!(whole.windows(2).all(|w| w[0].1 < w[1].1));
        }

        /// A daily wall time runs exactly once on every local day, DST days included.
        #[test]
        fn a_daily_cron_runs_once_every_day(h in 0u32..4, m in 0u32..60, which in 0usize..2) {
            let d = def(&[format!("0 {m} {h} * * *").as_str()]);
            let first = [NaiveDate::from_ymd_opt(2026, 3, 26), NaiveDate::from_ymd_opt(2026, 10, 22)][which].unwrap();
            let midnight = |day: NaiveDate| instant(day.and_hms_opt(0, 0, 0).unwrap());
            let runs = next_runs(&d, midnight(first), midnight(first + Days::new(7)));
            let days: BTreeSet<NaiveDate> = runs.iter().map(|(_, t)| t.with_timezone(&Brussels).date_naive()).collect();
            prop_assert_eq!(runs.len(), 7);
            prop_assert_eq!(days.len(), 7);
            for (_, t) in &runs {
                let local = t.with_timezone(&Brussels);
                let skipped = Brussels.from_local_datetime(&local.date_naive().and_hms_opt(h, m, 0).unwrap()).earliest().is_none();
                // The wall time itself, or 03:00 on the day it does not exist.
                let expected = if skipped { (3, 0) } else { (h, m) };
                prop_assert_eq!((local.hour(), local.minute()), expected);
            }
        }
    }
}
