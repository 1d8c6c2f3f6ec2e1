//! Variables used before they can be set: a forward "definitely set" dataflow over the state
//! graph. On entry to a state, a variable is definitely set when every way into the state sets
//! it (intersection over incoming transitions). Variables are never unset, so what holds at
//! the start holds everywhere.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use super::states::Moves;
use super::{Checker, STARTED_ON};
use crate::definition::graph::transitions;
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

/// For each reachable state, the variables definitely set on entry. A worklist: a state's
/// moves are read again only when what is set on entering it shrank (sweeping every transition
/// until nothing changed took one sweep per state for a chain written bottom-up).
pub fn definitely_set(wf: &Workflow) -> BTreeMap<&str, Vars<'_>> {
    let mut entry: BTreeMap<&str, Vars<'_>> = BTreeMap::new();
    if !wf.states.contains_key(wf.initial.as_str()) {
        return entry;
    }
    entry.insert(wf.initial.as_str(), at_start(wf));
    let all = transitions(wf);
    let moves = Moves::new(&all);
    let mut todo = VecDeque::from([wf.initial.as_str()]);
    let mut queued = HashSet::from([wf.initial.as_str()]);
    while let Some(from) = todo.pop_front() {
        queued.remove(from);
        let is_final = wf.states.get(from).is_some_and(|s| s.is_final);
        for t in moves.leaving(from, is_final) {
            if !wf.states.contains_key(t.to) {
                continue;
            }
            let Some(before) = entry.get(from) else {
                continue;
            };
            let after: Vars<'_> = before
                .iter()
                .copied()
                .chain(t.sets.iter().copied())
                .collect();
            let changed = match entry.get_mut(t.to) {
                None => {
                    entry.insert(t.to, after);
                    true
                }
                Some(current) => {
                    let before = current.len();
                    current.retain(|v| after.contains(v));
                    current.len() != before
                }
            };
            if changed && queued.insert(t.to) {
                todo.push_back(t.to);
            }
        }
    }
    entry
}

/// Reports uses of variables that may not be set yet.
struct Uses<'c, 'a> {
    c: &'c mut Checker<'a>,
    /// What any start, event or timer can set (read once, not walked again at each use).
    settable: HashSet<&'a str>,
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
        for from in delay.into_iter().flat_map(|d| d.from.iter().chain(&d.on)) {
            self.need(set, from, from.pos, what, place);
        }
    }

    fn notices(&mut self, set: &Vars<'_>, notices: &[Located<Notice>], place: &str) {
        for notice in notices {
            for to in &notice.to {
                // An address that is not set is skipped (the roles still receive the notice), so
                // an optional address is fine; it is a mistake only when nothing can set it.
                let is_email = self.c.variable(to).is_some_and(|v| v.ty == VarType::Email);
                if is_email && !self.settable.contains(to.as_str()) {
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
                if !only_set && !self.settable.contains(name.as_str()) {
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

/// Every variable that a start, an event or a timer of the workflow can set.
fn settable(wf: &Workflow) -> HashSet<&str> {
    fn timer_sets(timers: &[Located<Timer>]) -> impl Iterator<Item = &str> {
        timers.iter().flat_map(|t| t.set.keys().map(String::as_str))
    }
    let mut out: HashSet<&str> = HashSet::from([STARTED_ON]);
    out.extend(wf.start.inputs.iter().map(|v| v.as_str()));
    out.extend(wf.start.optional_inputs.iter().map(|v| v.as_str()));
    out.extend(timer_sets(&wf.timers));
    for s in wf.states.values() {
        out.extend(timer_sets(&s.timers));
        for e in s.on.values() {
            out.extend(e.inputs.iter().map(|v| v.as_str()));
            out.extend(e.optional_inputs.iter().map(|v| v.as_str()));
            out.extend(e.set.keys().map(String::as_str));
        }
    }
    out
}

pub(super) fn check(c: &mut Checker<'_>) {
    let wf = c.wf;
    let entry = definitely_set(wf);
    let mut uses = Uses {
        c,
        settable: settable(wf),
    };
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
