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
                if crate::machine::more_than_once_a_minute(&parsed) {
                    c.error(
                        "cron-too-frequent",
                        expr.pos,
                        format!(
                            "schedule `{}` runs more than once a minute (`{}`): a schedule opens at most one case a minute",
                            id.value, expr.value
                        ),
                        "give the seconds field one value, e.g. `0 */10 * * * *` (every ten minutes) rather than `*/10 * * * * *` (every ten seconds)",
                    );
                }
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

#[cfg(test)]
mod tests {
    use crate::definition::load::{Catalog, WorkflowFile};

    /// The `cron-too-frequent` diagnostics of a workflow with one schedule, rendered.
    fn too_frequent(cron: &str) -> Vec<String> {
        let text = format!(
            "id: campagne\ntitle: Campagne\nlegal_basis: Art. 1er\nroles: {{ agent: Agent }}\n\
             variables: {{ annee: {{ type: integer }} }}\nstart: {{ by: [agent], inputs: [annee] }}\n\
             initial: ouvert\nstates:\n  ouvert: {{ label: Ouvert, final: true }}\nschedules:\n\
             \x20 - {{ id: vite, cron: \"{cron}\", with: {{ annee: 2026 }} }}\n"
        );
        let file = WorkflowFile::from_text("campagne.yaml", text).expect("parses");
        let catalog = Catalog::new(vec![file]);
        super::super::validate(&catalog.files()[0], &catalog)
            .iter()
            .filter(|d| d.code == "cron-too-frequent")
            .map(|d| d.render("campagne.yaml"))
            .collect()
    }

    #[test]
    fn a_cron_running_more_than_once_a_minute_is_refused() {
        for cron in ["*/10 * * * * *", "* * * * * *", "0,30 0 8 * * *"] {
            let out = too_frequent(cron);
            assert_eq!(out.len(), 1, "{cron}: {out:?}");
            assert!(
                out[0].starts_with(&format!(
                    "campagne.yaml:11:23: error[cron-too-frequent]: schedule `vite` runs more than once a minute (`{cron}`)"
                )),
                "{}",
                out[0]
            );
            assert!(
                out[0].contains("hint: give the seconds field one value"),
                "{}",
                out[0]
            );
        }
        for cron in ["0 * * * * *", "30 */10 * * * *", "0 0 8 1 9 *"] {
            assert_eq!(too_frequent(cron), Vec::<String>::new(), "{cron}");
        }
    }
}
