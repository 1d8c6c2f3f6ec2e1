//! The state graph: the initial state, targets, reachability, dead ends and final states.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{Checker, listed};
use crate::definition::Pos;
use crate::definition::graph::{Transition, transitions};
use crate::definition::model::Workflow;

pub(super) fn check(c: &mut Checker<'_>) {
    initial(c);
    targets(c);
    unreachable(c);
    dead_ends(c);
    finals(c);
    events(c);
}

fn initial(c: &mut Checker<'_>) {
    let initial = &c.wf.initial;
    match c.wf.states.get(initial.as_str()) {
        None => unknown_state(c, "`initial`", initial.as_str(), initial.pos),
        Some(state) if state.is_final => c.error(
            "initial-final",
            initial.pos,
            format!(
                "initial state `{}` is final: every case would end at once",
                initial.value
            ),
            "start in a state that waits for something",
        ),
        Some(_) => {}
    }
}

fn unknown_state(c: &mut Checker<'_>, context: &str, name: &str, pos: Pos) {
    let states: Vec<&str> = c.wf.states.keys().map(String::as_str).collect();
    let hint = c
        .suggest(name, &states)
        .unwrap_or_else(|| format!("declared states: {}", listed(states.iter().copied())));
    c.error(
        "unknown-state",
        pos,
        format!("{context} names `{name}`, which is not a state of this workflow"),
        hint,
    );
}

fn targets(c: &mut Checker<'_>) {
    for t in transitions(c.wf) {
        if !c.wf.states.contains_key(t.to) {
            let context = match t.via {
                crate::definition::graph::Via::Event(e) => format!("event `{e}`"),
                crate::definition::graph::Via::Branch(e, i) => {
                    format!("branch {} of event `{e}`", i + 1)
                }
                crate::definition::graph::Via::Timer(id, _) => format!("timer `{id}`"),
                crate::definition::graph::Via::Child(o) => format!("`on_child` `{o}`"),
            };
            unknown_state(c, &context, t.to, t.at);
        }
    }
}

/// The states a case can reach from `initial`, through events, branches, timers (including
/// workflow-level ones, from any reached non-final state) and child outcomes.
pub fn reachable(wf: &Workflow) -> BTreeSet<&str> {
    let mut seen = BTreeSet::new();
    if !wf.states.contains_key(wf.initial.as_str()) {
        return seen;
    }
    let all = transitions(wf);
    let moves = Moves::new(&all);
    let mut todo = vec![wf.initial.as_str()];
    while let Some(state) = todo.pop() {
        if !seen.insert(state) {
            continue;
        }
        let is_final = wf.states.get(state).is_some_and(|s| s.is_final);
        for t in moves.leaving(state, is_final) {
            if wf.states.contains_key(t.to) && !seen.contains(t.to) {
                todo.push(t.to);
            }
        }
    }
    seen
}

/// The transitions by the state they leave, so that walking the graph reads each state's own
/// moves instead of every transition of the workflow at each state.
pub(super) struct Moves<'t, 'a> {
    from: HashMap<&'a str, Vec<&'t Transition<'a>>>,
    /// Workflow-level timers: they leave every non-final state.
    anywhere: Vec<&'t Transition<'a>>,
}

impl<'t, 'a> Moves<'t, 'a> {
    pub(super) fn new(all: &'t [Transition<'a>]) -> Self {
        let mut moves = Moves {
            from: HashMap::new(),
            anywhere: Vec::new(),
        };
        for t in all {
            match t.from {
                Some(from) => moves.from.entry(from).or_default().push(t),
                None => moves.anywhere.push(t),
            }
        }
        moves
    }

    /// The moves out of `state`, workflow-level timers included unless it is final.
    pub(super) fn leaving(
        &self,
        state: &str,
        is_final: bool,
    ) -> impl Iterator<Item = &'t Transition<'a>> + '_ {
        let own = self.from.get(state).into_iter().flatten().copied();
        let anywhere = self.anywhere.iter().copied().filter(move |_| !is_final);
        own.chain(anywhere)
    }
}

fn unreachable(c: &mut Checker<'_>) {
    if !c.wf.states.contains_key(c.wf.initial.as_str()) {
        return;
    }
    let reached = reachable(c.wf);
    for (id, state) in &c.wf.states {
        if !reached.contains(id.as_str()) {
            let pos = c.key_pos(id, state.pos);
            c.warning(
                "unreachable-state",
                pos,
                format!(
                    "state `{id}` cannot be reached from the initial state `{}`",
                    c.wf.initial.value
                ),
                "add an event, timer or `on_child` that goes to it, or remove it",
            );
        }
    }
}

fn dead_ends(c: &mut Checker<'_>) {
    let all = transitions(c.wf);
    let case_timer_moves = all.iter().any(|t| t.from.is_none());
    let leave: HashSet<&str> = all.iter().filter_map(|t| t.from).collect();
    let carried = carried_out(c.wf, &all);
    for (id, state) in &c.wf.states {
        if state.is_final || case_timer_moves || carried.contains(id.as_str()) {
            continue;
        }
        if !leave.contains(id.as_str()) {
            let pos = c.key_pos(id, state.pos);
            c.error(
                "dead-end-state",
                pos,
                format!("state `{id}` is not final and has no way out: a case entering it would stay there forever"),
                "add an event or timer with `goto`, a `choose`, an `on_child`, or mark it `final: true`",
            );
        }
    }
}

/// The states a persistent timer with a `goto` may still be running in: every state reachable
/// from a state holding one (one walk from all of them at once). Its firing is their way out.
fn carried_out<'a>(wf: &'a Workflow, all: &[Transition<'a>]) -> HashSet<&'a str> {
    let mut todo: Vec<&str> = wf
        .states
        .iter()
        .filter(|(_, s)| s.timers.iter().any(|t| t.persist && t.goto.is_some()))
        .map(|(id, _)| id.as_str())
        .collect();
    let mut seen = HashSet::new();
    if todo.is_empty() {
        return seen;
    }
    let moves = Moves::new(all);
    while let Some(state) = todo.pop() {
        if !seen.insert(state) {
            continue;
        }
        let is_final = wf.states.get(state).is_some_and(|s| s.is_final);
        for t in moves.leaving(state, is_final) {
            if wf.states.contains_key(t.to) && !seen.contains(t.to) {
                todo.push(t.to);
            }
        }
    }
    seen
}

fn finals(c: &mut Checker<'_>) {
    for (id, state) in &c.wf.states {
        let pos = c.key_pos(id, state.pos);
        if state.is_final {
            let mut what = Vec::new();
            if !state.on.is_empty() {
                what.push("events");
            }
            if !state.timers.is_empty() {
                what.push("timers");
            }
            if !state.tasks.is_empty() {
                what.push("tasks");
            }
            if !state.on_child.is_empty() {
                what.push("`on_child`");
            }
            if let Some(stuck) = &state.stuck_after {
                let _ = stuck;
                what.push("`stuck_after`");
            }
            if !what.is_empty() {
                c.error(
                    "final-state-activity",
                    pos,
                    format!(
                        "final state `{id}` has {}, but a case in a final state is closed",
                        what.join(" and ")
                    ),
                    "remove them, or make the state non-final",
                );
            }
        } else if state.outcome.is_some() {
            c.warning(
                "outcome-not-final",
                pos,
                format!("state `{id}` has an `outcome` but is not final; it is never used"),
                "add `final: true`, or remove `outcome`",
            );
        }
    }
}

fn events(c: &mut Checker<'_>) {
    for state in c.wf.states.values() {
        for (event_id, event) in &state.on {
            let pos = c.key_pos(event_id, event.pos);
            if event.goto.is_some() && !event.choose.is_empty() {
                c.error(
                    "goto-and-choose",
                    pos,
                    format!("event `{event_id}` has both `goto` and `choose`"),
                    "keep `choose` and add a last branch without `when` for the default",
                );
            }
            let count = event.choose.len();
            for (i, branch) in event.choose.iter().enumerate() {
                if branch.when.is_none() && i + 1 < count {
                    c.error(
                        "unreachable-branch",
                        branch.pos,
                        format!(
                            "branch {} of event `{event_id}` has no `when`, so the branches after it are never tried",
                            i + 1
                        ),
                        "move the branch without `when` to the end",
                    );
                }
            }
            let known_role = event.by.iter().any(|r| c.wf.roles.contains_key(r.as_str()));
            if !known_role {
                c.error(
                    "impossible-event",
                    pos,
                    format!("event `{event_id}` can never happen: no declared role may send it"),
                    "list in `by` at least one role declared under `roles:`",
                );
            }
        }
    }
}
