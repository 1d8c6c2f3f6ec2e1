//! Schedules: cron expressions (the `cron` crate, Quartz style with seconds) and the start
//! inputs they give.

use std::str::FromStr;

use cron::{Schedule, TimeUnitSpec};

use super::Checker;

pub(super) fn check(c: &mut Checker<'_>) {
    for schedule in &c.wf.schedules {
        let id = &schedule.id;
        let expr = &schedule.cron;
        match Schedule::from_str(expr.trim()) {
            Err(e) => {
                let fields = expr.split_whitespace().count();
                let why = if fields == 5 {
                    "it has 5 fields, like a Unix crontab".to_string()
                } else {
                    e.to_string()
                };
                c.error(
                    "invalid-cron",
                    expr.pos,
                    format!("schedule `{}` has an invalid cron `{}`: {why}", id.value, expr.value),
                    "write 6 or 7 fields, seconds first: `sec min hour day month weekday [year]`, e.g. `0 0 8 1 9 *` (1 September, 08:00)",
                );
            }
            Ok(parsed) => {
                if parsed.hours().includes(2) {
                    c.warning(
                        "cron-dst",
                        expr.pos,
                        format!(
                            "schedule `{}` can fire between 02:00 and 03:00, Brussels time",
                            id.value
                        ),
                        "on daylight-saving days that hour is skipped or happens twice: jalon then runs it once, at 03:00 in March, at the first of the two in October; pick another hour to keep the time exact",
                    );
                }
            }
        }
        super::types::start_values(c, &schedule.pass);
        for input in &c.wf.start.inputs {
            if !schedule.pass.contains_key(input.as_str()) {
                c.error(
                    "schedule-missing-input",
                    id.pos,
                    format!(
                        "schedule `{}` starts cases without the required start input `{}`",
                        id.value, input.value
                    ),
                    format!("add `{}: <value>` under `with`", input.value),
                );
            }
        }
    }
}
