//! What an event's dates must respect: a letter posted within its period (a timer's `grace`
//! and an event's `posted`) and the bounds of `constraints`.

use std::collections::BTreeSet;

use super::Checker;
use crate::calendar::Unit;
use crate::definition::Located;
use crate::definition::graph::asserted_set;
use crate::definition::model::{MAX_GRACE, Timer, VarType};

pub(super) fn check(c: &mut Checker<'_>) {
    let wf = c.wf;
    let timers: Vec<&Located<Timer>> = wf
        .timers
        .iter()
        .chain(wf.states.values().flat_map(|s| s.timers.iter()))
        .collect();
    for t in &timers {
        let Some(g) = &t.grace else { continue };
        let lengths = g.lengths();
        let ok = t.after.is_some()
            && g.from.is_none()
            && g.letter.is_none()
            && g.date.is_none()
            && matches!(lengths.as_slice(), [l] if l.unit == Unit::WorkingDays && (1..=MAX_GRACE).contains(&l.count));
        if !ok {
            c.error(
                "grace-invalid",
                g.pos,
                format!("the grace of timer `{}` is not a number of working days on a deadline", t.id.value),
                format!("write `grace: {{ working_days: 5 }}` (1 to {MAX_GRACE}) on a timer with `after`"),
            );
        }
    }
    let mut used = BTreeSet::new();
    for state in wf.states.values() {
        for (event_id, event) in &state.on {
            for k in &event.constraints {
                let given = event
                    .inputs
                    .iter()
                    .chain(&event.optional_inputs)
                    .any(|i| i.value == k.date.value);
                let is_date = c.variable(&k.date).is_some_and(|v| v.ty == VarType::Date);
                if !given || !is_date {
                    c.error(
                        "constraint-invalid",
                        k.date.pos,
                        format!("event `{event_id}` bounds `{}`, which is not one of its date inputs", k.date.value),
                        "a constraint checks a date the event's actor gives: list it in `inputs` or `optional_inputs`",
                    );
                }
                if k.not_before.is_none() && k.not_after.is_none() {
                    c.error(
                        "constraint-invalid",
                        k.pos,
                        format!("a constraint of event `{event_id}` gives neither `not_before` nor `not_after`"),
                        "give the earliest (`not_before`) or latest (`not_after`) day as a delay",
                    );
                }
                if k.message.trim().is_empty() {
                    c.error(
                        "constraint-invalid",
                        k.pos,
                        format!("a constraint of event `{event_id}` has no message"),
                        "say in French why the date is refused, with the article",
                    );
                }
            }
            if let Some(on) = &event.effective {
                // A date the actor gives, or one the case holds already and the event's `when`
                // requires (`{ set: true }`): the event is refused before it could fall back
                // to the day it is recorded.
                let given = event
                    .inputs
                    .iter()
                    .chain(&event.optional_inputs)
                    .any(|i| i.value == on.value)
                    || asserted_set(event.when.as_deref()).any(|v| v == on.value);
                let is_date = c.variable(on).is_some_and(|v| v.ty == VarType::Date);
                let moves = !event.suspend.is_empty() || !event.resume.is_empty();
                if !given || !is_date || !moves {
                    c.error(
                        "effective-invalid",
                        on.pos,
                        format!(
                            "event `{event_id}` takes effect on `{}`, which is neither one of its date inputs nor a date its `when` requires, or it suspends and resumes nothing",
                            on.value
                        ),
                        "`effective` names a date the actor gives (listed in `inputs`), or one already recorded that `when` requires (`{ set: true }`), for an event with `suspend` or `resume`",
                    );
                }
            }
            let Some(p) = &event.posted else { continue };
            let required = event.inputs.iter().any(|i| i.value == p.date.value);
            let is_date = c.variable(&p.date).is_some_and(|v| v.ty == VarType::Date);
            if !required || !is_date {
                c.error(
                    "posted-date-invalid",
                    p.date.pos,
                    format!(
                        "event `{event_id}` is posted on `{}`, which is not one of its required date inputs",
                        p.date.value
                    ),
                    "declare a `date` variable for the dispatch date and list it in the event's `inputs`",
                );
            }
            match timers.iter().find(|t| t.id.value == p.within.value) {
                Some(t) if t.grace.is_some() => {
                    used.insert(t.id.value.as_str());
                }
                Some(_) => c.error(
                    "posted-within-invalid",
                    p.within.pos,
                    format!("timer `{}` has no `grace`", p.within.value),
                    "a letter in the post is waited for only if the period's timer says how long: add `grace: { working_days: 5 }`",
                ),
                None => c.error(
                    "posted-within-invalid",
                    p.within.pos,
                    format!("event `{event_id}` is posted within `{}`, which is not a timer", p.within.value),
                    "name the timer of the period the letter must be posted within",
                ),
            }
        }
    }
    for t in timers {
        if let Some(g) = &t.grace
            && !used.contains(t.id.value.as_str())
        {
            c.warning(
                "grace-unused",
                g.pos,
                format!("timer `{}` waits for letters in the post, but no event is `posted` within it", t.id.value),
                "give the appeal's event `posted: { date: <dispatch date>, within: <this timer> }`, or remove the grace",
            );
        }
    }
}
