//! Variables used before they can be set: a forward "definitely set" dataflow over the state
//! graph. On entry to a state, a variable is definitely set when every way into the state sets
//! it (intersection over incoming transitions). Variables are never unset, so what holds at
//! the start holds everywhere.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, STARTED_ON};
use crate::definition::graph::{sources, transitions};
use crate::definition::model::{Delay, Event, Notice, StartCase, Test, Timer, VarType, Workflow};
use crate::definition::{Located, Pos};

type Vars<'a> = BTreeSet<&'a str>;

/// The variables set when a case starts: required start inputs and `started_on`.
fn at_start(wf: &Workflow) -> Vars<'_> {
    wf.start
        .inputs
        .iter()
        .map(|v| v.as_str())
        .chain([STARTED_ON])
        .collect()
}

/// For each reachable state, the variables definitely set on entry.
pub fn definitely_set(wf: &Workflow) -> BTreeMap<&str, Vars<'_>> {
    let mut entry: BTreeMap<&str, Vars<'_>> = BTreeMap::new();
    if !wf.states.contains_key(wf.initial.as_str()) {
        return entry;
    }
    entry.insert(wf.initial.as_str(), at_start(wf));
    let all = transitions(wf);
    loop {
        let mut changed = false;
        for t in &all {
            if !wf.states.contains_key(t.to) {
                continue;
            }
            for from in sources(wf, t) {
                let Some(before) = entry.get(from) else {
                    continue;
                };
                let after: Vars<'_> = before
                    .iter()
                    .copied()
                    .chain(t.sets.iter().copied())
                    .collect();
                match entry.get_mut(t.to) {
                    None => {
                        entry.insert(t.to, after);
                        changed = true;
                    }
                    Some(current) => {
                        let meet: Vars<'_> = current.intersection(&after).copied().collect();
                        if meet.len() != current.len() {
                            *current = meet;
                            changed = true;
                        }
                    }
                }
            }
        }
        if !changed {
            return entry;
        }
    }
}

/// Reports uses of variables that may not be set yet.
struct Uses<'c, 'a> {
    c: &'c mut Checker<'a>,
}

impl<'a> Uses<'_, 'a> {
    fn need(&mut self, set: &Vars<'_>, name: &str, pos: Pos, what: &str, place: &str) {
        // Unknown names are reported by the type checks.
        if !self.c.is_variable(name) || set.contains(name) {
            return;
        }
        self.c.error(
            "variable-maybe-unset",
            pos,
            format!("{what} uses `{name}`, which may not be set yet {place}"),
            format!(
                "make `{name}` a required input of the start or of every event leading here, or set it on the way"
            ),
        );
    }

    fn delay(&mut self, set: &Vars<'_>, delay: Option<&Located<Delay>>, what: &str, place: &str) {
        if let Some(from) = delay.and_then(|d| d.from.as_ref()) {
            self.need(set, from, from.pos, what, place);
        }
    }

    fn notices(&mut self, set: &Vars<'_>, notices: &[Located<Notice>], place: &str) {
        for notice in notices {
            for to in &notice.to {
                // An address that is not set is skipped (the roles still receive the notice), so
                // an optional address is fine; it is a mistake only when nothing can set it.
                let is_email = self.c.variable(to).is_some_and(|v| v.ty == VarType::Email);
                if is_email && !settable_somewhere(self.c.wf, to) {
                    self.need(set, to, to.pos, "a notice recipient", place);
                }
            }
        }
    }

    fn start_case(&mut self, set: &Vars<'_>, start: Option<&Located<StartCase>>, place: &str) {
        for source in start.iter().flat_map(|s| s.pass.values()) {
            self.need(set, source, source.pos, "`start_case.with`", place);
        }
    }

    fn event(&mut self, on_entry: &Vars<'a>, id: &str, event: &'a Event, place: &str) {
        // Conditions read the case with the event's inputs applied; `set` comes after them,
        // before the notices and the child case (as `machine::step` does).
        let mut set = on_entry.clone();
        set.extend(event.inputs.iter().map(|v| v.as_str()));
        let checked = set.clone();
        let what = format!("event `{id}`");
        let conditions = event
            .when
            .iter()
            .chain(event.choose.iter().filter_map(|b| b.when.as_ref()));
        // A test on an unset variable simply fails, so a condition may test a variable that is
        // only sometimes set (an optional input); it is a mistake only when nothing can set it.
        for cond in conditions {
            for (name, test) in cond.iter() {
                let only_set = matches!(&test.value, Test::Operators(ops) if ops.set.is_some());
                if !only_set && !settable_somewhere(self.c.wf, name) {
                    let pos = self.c.key_pos(name, test.pos).max(cond.pos);
                    self.need(
                        &checked,
                        name,
                        pos,
                        &format!("the condition of {what}"),
                        place,
                    );
                }
            }
        }
        set.extend(event.set.keys().map(String::as_str));
        self.notices(&set, &event.notify, place);
        self.start_case(&set, event.start_case.as_ref(), place);
    }
}

/// Whether any start, event or timer of the workflow can set `name`.
fn settable_somewhere(wf: &Workflow, name: &str) -> bool {
    let named = |list: &[Located<String>]| list.iter().any(|v| v.value == name);
    let timer_sets = |timers: &[Located<Timer>]| timers.iter().any(|t| t.set.contains_key(name));
    name == STARTED_ON
        || named(&wf.start.inputs)
        || named(&wf.start.optional_inputs)
        || timer_sets(&wf.timers)
        || wf.states.values().any(|s| {
            timer_sets(&s.timers)
                || s.on.values().any(|e| {
                    named(&e.inputs) || named(&e.optional_inputs) || e.set.contains_key(name)
                })
        })
}

pub(super) fn check(c: &mut Checker<'_>) {
    let wf = c.wf;
    let entry = definitely_set(wf);
    let mut uses = Uses { c };
    let start = at_start(wf);
    uses.notices(&start, &wf.start.notify, "when the case starts");
    for timer in &wf.timers {
        let place = "when the case starts";
        let what = format!("timer `{}`", timer.id.value);
        for d in [&timer.after, &timer.every, &timer.until] {
            uses.delay(&start, d.as_ref(), &what, place);
        }
        let mut after = start.clone();
        after.extend(timer.set.keys().map(String::as_str));
        uses.notices(&after, &timer.notify, place);
        for r in &timer.reminders {
            uses.notices(&start, &r.notify, place);
        }
    }
    for (id, state) in &wf.states {
        // Unreachable states are reported on their own.
        let Some(set) = entry.get(id.as_str()) else {
            continue;
        };
        let place = format!("in state `{id}`");
        uses.notices(set, &state.notify, &place);
        uses.start_case(set, state.start_case.as_ref(), &place);
        uses.delay(set, state.stuck_after.as_ref(), "`stuck_after`", &place);
        for timer in &state.timers {
            let what = format!("timer `{}`", timer.id.value);
            for d in [&timer.after, &timer.every, &timer.until] {
                uses.delay(set, d.as_ref(), &what, &place);
            }
            let mut after = set.clone();
            after.extend(timer.set.keys().map(String::as_str));
            uses.notices(&after, &timer.notify, &place);
            for r in &timer.reminders {
                uses.notices(set, &r.notify, &place);
            }
        }
        for task in &state.tasks {
            uses.delay(
                set,
                task.due.as_ref(),
                &format!("task `{}`", task.id.value),
                &place,
            );
            for r in &task.reminders {
                uses.notices(set, &r.notify, &place);
            }
        }
        for (event_id, event) in &state.on {
            uses.event(set, event_id, event, &place);
        }
    }
}
