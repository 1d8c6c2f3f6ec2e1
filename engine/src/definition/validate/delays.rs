//! Delays, timers, reminders and tasks: the shape of every deadline.

use super::{Checker, STARTED_ON, listed};
use crate::calendar::{DayOfYear, Length, Unit};
use crate::definition::Located;
use crate::definition::model::{Delay, Reminder, State, Timer, VarType};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// `after` of a timer, `due` of a task: a letter alone is a deadline.
    Deadline,
    Every,
    Until,
    Before,
    Extend,
    Stuck,
}

impl Use {
    fn key(self) -> &'static str {
        match self {
            Use::Deadline => "the delay",
            Use::Every => "`every`",
            Use::Until => "`until`",
            Use::Before => "`before`",
            Use::Extend => "the extension",
            Use::Stuck => "`stuck_after`",
        }
    }
}

pub(super) fn check(c: &mut Checker<'_>) {
    let wf = c.wf;
    for timer in &wf.timers {
        self::timer(c, timer, None);
    }
    for (id, state) in &wf.states {
        for timer in &state.timers {
            self::timer(c, timer, Some(state));
        }
        for task in &state.tasks {
            if let Some(due) = &task.due {
                delay(c, due, Use::Deadline);
                legal_basis(c, &task.id, "task", task.legal_basis.is_some(), state);
            }
            reminders(c, &task.reminders, task.due.is_some(), &task.id);
            for event in &task.closes_on {
                if !state.on.contains_key(event.as_str()) {
                    let events: Vec<&str> = state.on.keys().map(String::as_str).collect();
                    let hint = c.suggest(event, &events).unwrap_or_else(|| {
                        format!("events of `{id}`: {}", listed(events.iter().copied()))
                    });
                    c.error(
                        "unknown-event",
                        event.pos,
                        format!(
                            "task `{}` closes on `{}`, which is not an event of state `{id}`",
                            task.id.value, event.value
                        ),
                        hint,
                    );
                }
            }
        }
        if let Some(stuck) = &state.stuck_after {
            delay(c, stuck, Use::Stuck);
        }
        for (event_id, event) in &state.on {
            let refs = event
                .suspend
                .iter()
                .map(|t| ("suspends", t))
                .chain(event.resume.iter().map(|t| ("resumes", t)))
                .chain(event.extend.iter().map(|e| ("extends", &e.timer)));
            for (verb, timer) in refs {
                timer_ref(c, state, id, event_id, verb, timer);
            }
            for ext in &event.extend {
                delay(c, &ext.by, Use::Extend);
            }
            for k in &event.constraints {
                for bound in k.not_before.iter().chain(&k.not_after) {
                    delay(c, bound, Use::Deadline);
                }
            }
        }
    }
}

fn timer_ref(
    c: &mut Checker<'_>,
    state: &State,
    state_id: &str,
    event_id: &str,
    verb: &str,
    timer: &Located<String>,
) {
    // A persistent timer of another state may still run here (a period the case carries
    // across the states of an appeal); suspending or resuming one not running does nothing.
    let persistent =
        c.wf.states
            .values()
            .flat_map(|s| s.timers.iter())
            .filter(|t| t.persist);
    let candidates: Vec<&str> = state
        .timers
        .iter()
        .chain(&c.wf.timers)
        .chain(persistent)
        .map(|t| t.id.as_str())
        .collect();
    if candidates.contains(&timer.as_str()) {
        return;
    }
    let hint = c.suggest(timer, &candidates).unwrap_or_else(|| {
        format!(
            "timers of `{state_id}` and of the case: {}",
            listed(candidates.iter().copied())
        )
    });
    c.error(
        "unknown-timer",
        timer.pos,
        format!(
            "event `{event_id}` {verb} `{}`, which is not a timer of state `{state_id}` nor of the case",
            timer.value
        ),
        hint,
    );
}

fn timer(c: &mut Checker<'_>, timer: &Located<Timer>, state: Option<&State>) {
    let id = &timer.id;
    match (&timer.after, &timer.every) {
        (Some(after), None) => delay(c, after, Use::Deadline),
        (None, Some(every)) => delay(c, every, Use::Every),
        (Some(_), Some(_)) => c.error(
            "timer-schedule",
            id.pos,
            format!("timer `{}` has both `after` and `every`", id.value),
            "use `after` for a deadline, `every` for a recurring timer",
        ),
        (None, None) => c.error(
            "timer-schedule",
            id.pos,
            format!("timer `{}` has neither `after` nor `every`", id.value),
            "say when it fires with `after` (a deadline) or `every` (recurring)",
        ),
    }
    if let Some(until) = &timer.until {
        if timer.every.is_none() {
            c.error(
                "until-without-every",
                until.pos,
                format!("timer `{}` has `until` but does not recur", id.value),
                "`until` bounds a recurring timer; use it with `every`, or remove it",
            );
        }
        delay(c, until, Use::Until);
    }
    if timer.every.is_some()
        && let Some(goto) = &timer.goto
    {
        c.error(
            "recurring-timer-goto",
            goto.pos,
            format!(
                "recurring timer `{}` has a `goto`: it would leave the state at its first firing",
                id.value
            ),
            "use `after` for a deadline that moves the case; keep `every` for repeated notices",
        );
    }
    let no_effect = timer.goto.is_none()
        && timer.notify.is_empty()
        && timer.set.is_empty()
        && timer.reminders.is_empty();
    if no_effect {
        c.error(
            "useless-timer",
            id.pos,
            format!("timer `{}` does nothing when it fires", id.value),
            "give it a `goto`, a `notify`, a `set` or `reminders`",
        );
    }
    reminders(
        c,
        &timer.reminders,
        timer.after.is_some() || timer.every.is_some(),
        id,
    );
    if let Some(state) = state
        && timer.after.is_some()
    {
        legal_basis(c, id, "timer", timer.legal_basis.is_some(), state);
    }
}

fn legal_basis(c: &mut Checker<'_>, id: &Located<String>, what: &str, own: bool, state: &State) {
    if !own && state.legal_basis.is_none() {
        c.warning(
            "missing-legal-basis",
            id.pos,
            format!(
                "{what} `{}` sets a deadline but neither it nor its state gives a `legal_basis`",
                id.value
            ),
            "cite the article the deadline comes from, e.g. `legal_basis: \"Décret du 13 septembre 2018, art. 66 § 3\"`",
        );
    }
}

fn reminders(
    c: &mut Checker<'_>,
    reminders: &[Located<Reminder>],
    has_due: bool,
    owner: &Located<String>,
) {
    for r in reminders {
        if !has_due {
            c.error(
                "reminder-without-due",
                r.pos,
                format!(
                    "`{}` has reminders but no due date to count back from",
                    owner.value
                ),
                "reminders need a timer with `after` or `every`, or a task with `due`",
            );
        }
        delay(c, &r.before, Use::Before);
        if r.notify.is_empty() {
            c.error(
                "reminder-without-notice",
                r.pos,
                format!("a reminder of `{}` sends no notice", owner.value),
                "add a `notify` entry, or remove the reminder",
            );
        }
    }
}

fn delay(c: &mut Checker<'_>, d: &Located<Delay>, usage: Use) {
    if let Some(on) = &d.on {
        return on_date(c, d, on, usage);
    }
    let lengths = d.lengths();
    let key = usage.key();
    if let Some(date) = d.date.as_ref().or(d.next_date.as_ref()) {
        if usage != Use::Deadline {
            c.error(
                "fixed-date-misplaced",
                date.pos,
                format!("{key} gives a fixed `date`; only a deadline (`after`, `due`) can be one"),
                "a fixed date is the day and month a text names (\"pour le 1er avril\"): use it in `after` or a task's `due`",
            );
        } else if DayOfYear::parse(date).is_none() {
            c.error(
                "fixed-date-invalid",
                date.pos,
                format!("`{}` is not a day of every year written `MM-DD`", date.value),
                "write the month then the day, two digits each: `04-01` for the 1st of April (the 29th of February is not allowed)",
            );
        }
        if !lengths.is_empty() || d.letter.is_some() || (d.date.is_some() && d.next_date.is_some())
        {
            c.error(
                "fixed-date-with-length",
                date.pos,
                format!("{key} gives a fixed `date` and a length or a letter"),
                "a fixed date stands alone; `from` only says which year",
            );
        }
        return;
    }
    match lengths.len() {
        0 if usage == Use::Deadline && d.letter.is_some() => {}
        0 => {
            let hint = if usage == Use::Deadline {
                "give one of `working_days`, `calendar_days`, `months`, `years`, or a `letter` alone"
            } else {
                "give one of `working_days`, `calendar_days`, `months`, `years`"
            };
            c.error(
                "delay-length",
                d.pos,
                format!("{key} gives no length"),
                hint,
            );
        }
        1 => {}
        _ => c.error(
            "delay-length",
            d.pos,
            format!(
                "{key} gives {} lengths; it needs exactly one",
                lengths.len()
            ),
            "keep one of `working_days`, `calendar_days`, `months`, `years`",
        ),
    }
    if d.letter.is_some() && d.from.is_none() {
        c.error(
            "letter-without-from",
            d.pos,
            format!("{key} has a `letter` but no `from`"),
            "`from` must name the date variable holding the dispatch (registered) or receipt (hand delivered) date",
        );
    }
    for length in &lengths {
        let max = Length::max(length.unit);
        if length.count > max {
            c.error(
                "length-too-long",
                d.pos,
                format!(
                    "{key} of {} {} is longer than the maximum of {max}",
                    length.count,
                    unit_key(length.unit)
                ),
                "legal deadlines are far shorter; check the number",
            );
        }
        // Art. 22 never counts the day of the act, so the shortest delay ends the next day;
        // the calendar and the machine refuse zero, and so does the validator.
        if length.count == 0 {
            let hint = match usage {
                Use::Deadline => {
                    "give at least 1; for a deadline on the day a letter takes effect, give the `letter` alone, without a length"
                }
                Use::Every => "`every` of zero would fire without end; give at least 1",
                Use::Before => "remind at least 1 day before the due date",
                Use::Until | Use::Extend | Use::Stuck => "give at least 1",
            };
            c.error(
                "zero-length",
                d.pos,
                format!(
                    "{key} is 0 {}: a delay counts at least one day (the day of the act is not counted, Art. 22)",
                    unit_key(length.unit)
                ),
                hint,
            );
        }
    }
    if usage == Use::Before {
        let wrong_unit = lengths
            .iter()
            .any(|l| !matches!(l.unit, Unit::WorkingDays | Unit::CalendarDays));
        if wrong_unit || d.from.is_some() || d.letter.is_some() {
            c.error(
                "invalid-reminder",
                d.pos,
                "a reminder's `before` takes only `working_days` or `calendar_days`".to_string(),
                "count reminders in days before the due date; `from`, `letter`, `months` and `years` do not apply",
            );
        }
    }
}

/// A deadline on the date a variable holds: a deadline alone, on a date variable.
fn on_date(c: &mut Checker<'_>, d: &Located<Delay>, on: &Located<String>, usage: Use) {
    let key = usage.key();
    if usage != Use::Deadline {
        c.error(
            "on-date-misplaced",
            on.pos,
            format!("{key} gives `on`; only a deadline (`after`, `due`, a constraint's bound) can fall on a date variable"),
            "`on` names the date an authority set (the Government's date for an urgent advice): use it in `after` or a task's `due`",
        );
    }
    let alone = d.lengths().is_empty()
        && d.letter.is_none()
        && d.from.is_none()
        && d.date.is_none()
        && d.next_date.is_none()
        && d.art_22.is_none();
    if !alone {
        c.error(
            "on-date-not-alone",
            on.pos,
            format!("{key} gives `on` with a length, `from`, a `letter`, a fixed date or `art_22`"),
            "the deadline is the date the variable holds, never moved: write `{ on: <date variable> }` alone",
        );
    }
    if on.as_str() == STARTED_ON {
        return;
    }
    match c.variable(on) {
        None => c.unknown_variable(on, on.pos, "`on`"),
        Some(var) if var.ty != VarType::Date => c.error(
            "type-mismatch",
            on.pos,
            format!(
                "`on` names `{}`, a {} variable, but a deadline falls on a date",
                on.value,
                super::types::type_name(var.ty)
            ),
            "use a variable of type `date`",
        ),
        Some(_) => {}
    }
}

fn unit_key(unit: Unit) -> &'static str {
    match unit {
        Unit::WorkingDays => "working_days",
        Unit::CalendarDays => "calendar_days",
        Unit::Months => "months",
        Unit::Years => "years",
    }
}
