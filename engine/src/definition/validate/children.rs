//! Linked cases: `start_case` must name a loaded workflow and pass it known variables;
//! `on_child` must wait for outcomes that the started workflows can end with; `tell` must
//! send an event the told workflow has, with inputs it takes.

use std::collections::BTreeSet;

use super::{Checker, listed};
use crate::definition::Located;
use crate::definition::model::{StartCase, Tell, Workflow};

pub(super) fn check(c: &mut Checker<'_>) {
    let wf = c.wf;
    let mut started: Vec<&Located<StartCase>> = Vec::new();
    for state in wf.states.values() {
        started.extend(&state.start_case);
        for event in state.on.values() {
            started.extend(&event.start_case);
        }
    }
    for sc in &started {
        start_case(c, sc);
    }
    on_child(c, &started);
    for state in wf.states.values() {
        for (event_id, event) in &state.on {
            for t in &event.tell {
                tell(c, event_id, t);
            }
        }
    }
}

fn tell(c: &mut Checker<'_>, event_id: &str, t: &Located<Tell>) {
    let Some(told) = c.catalog.get(&t.workflow).map(|f| &f.workflow) else {
        let known: Vec<&str> = c.catalog.ids().collect();
        let hint = c.suggest(&t.workflow, &known).unwrap_or_else(|| {
            "validate the told workflow together with this one (e.g. `jalon validate workflows/`)"
                .to_string()
        });
        c.error(
            "unknown-workflow",
            t.workflow.pos,
            format!(
                "event `{event_id}` tells workflow `{}`, which is not loaded",
                t.workflow.value
            ),
            hint,
        );
        return;
    };
    // The event, wherever the told workflow accepts it, and the inputs it takes there.
    let takes: Vec<&str> = told
        .states
        .values()
        .filter_map(|s| s.on.get(t.event.as_str()))
        .flat_map(|e| e.inputs.iter().chain(&e.optional_inputs))
        .map(|i| i.value.as_str())
        .collect();
    if !told
        .states
        .values()
        .any(|s| s.on.contains_key(t.event.as_str()))
    {
        c.error(
            "tell-unknown-event",
            t.event.pos,
            format!(
                "workflow `{}` has no event `{}`",
                told.id.value, t.event.value
            ),
            "name an event of one of its states",
        );
        return;
    }
    for (theirs, ours) in &t.pass {
        let key_pos = c.key_pos(theirs, ours.pos);
        if !takes.contains(&theirs.as_str()) {
            c.error(
                "tell-unknown-input",
                key_pos,
                format!(
                    "event `{}` of workflow `{}` takes no input `{theirs}`",
                    t.event.value, told.id.value
                ),
                format!("its inputs: {}", listed(takes.iter().copied())),
            );
            continue;
        }
        if !c.is_variable(ours) {
            c.unknown_variable(ours, ours.pos, "`tell.with`");
            continue;
        }
        if let (Some(target), Some(own)) = (told.variables.get(theirs), c.variable(ours))
            && target.ty != own.ty
        {
            c.error(
                "type-mismatch",
                ours.pos,
                format!(
                    "`tell.with` passes `{}` ({}) to `{theirs}` ({}) of workflow `{}`",
                    ours.value,
                    super::types::type_name(own.ty),
                    super::types::type_name(target.ty),
                    told.id.value
                ),
                "pass a variable of the same type",
            );
        }
    }
}

fn start_case(c: &mut Checker<'_>, sc: &Located<StartCase>) {
    let name = &sc.workflow;
    let Some(child) = c.catalog.get(name).map(|f| &f.workflow) else {
        let known: Vec<&str> = c.catalog.ids().collect();
        let hint = c.suggest(name, &known).unwrap_or_else(|| {
            "validate the child workflow together with this one (e.g. `jalon validate workflows/`)"
                .to_string()
        });
        c.error(
            "unknown-workflow",
            name.pos,
            format!(
                "`start_case` names workflow `{}`, which is not loaded",
                name.value
            ),
            hint,
        );
        return;
    };
    for (child_var, source) in &sc.pass {
        let key_pos = c.key_pos(child_var, source.pos);
        let target = child.variables.get(child_var);
        if target.is_none() {
            let names: Vec<&str> = child.variables.keys().map(String::as_str).collect();
            let hint = c.suggest(child_var, &names).unwrap_or_else(|| {
                format!(
                    "variables of `{}`: {}",
                    child.id.value,
                    listed(names.iter().copied())
                )
            });
            c.error(
                "unknown-variable",
                key_pos,
                format!(
                    "`start_case.with` passes `{child_var}`, which is not a variable of workflow `{}`",
                    child.id.value
                ),
                hint,
            );
        }
        if !c.is_variable(source) {
            c.unknown_variable(source, source.pos, "`start_case.with`");
            continue;
        }
        if let (Some(target), Some(own)) = (target, c.variable(source))
            && target.ty != own.ty
        {
            c.error(
                "type-mismatch",
                source.pos,
                format!(
                    "`start_case.with` passes `{}` ({}) to `{child_var}` ({}) of workflow `{}`",
                    source.value,
                    super::types::type_name(own.ty),
                    super::types::type_name(target.ty),
                    child.id.value
                ),
                "pass a variable of the same type",
            );
        }
    }
    for input in &child.start.inputs {
        if !sc.pass.contains_key(input.as_str()) {
            c.error(
                "start-case-missing-input",
                name.pos,
                format!(
                    "workflow `{}` needs start input `{}`, which `start_case.with` does not pass",
                    child.id.value, input.value
                ),
                format!(
                    "add `{}: <variable of this case>` under `with`",
                    input.value
                ),
            );
        }
    }
}

/// The outcomes a workflow's cases can end with: each final state's `outcome`, or its id.
pub(super) fn outcomes(wf: &Workflow) -> BTreeSet<&str> {
    wf.states
        .iter()
        .filter(|(_, s)| s.is_final)
        .map(|(id, s)| s.outcome.as_deref().unwrap_or(id))
        .collect()
}

fn on_child(c: &mut Checker<'_>, started: &[&Located<StartCase>]) {
    let waiting: Vec<(&str, &str, crate::definition::Pos)> =
        c.wf.states
            .iter()
            .flat_map(|(id, s)| {
                s.on_child
                    .iter()
                    .map(move |(o, goto)| (id.as_str(), o.as_str(), goto.pos))
            })
            .collect();
    if waiting.is_empty() {
        return;
    }
    if started.is_empty() {
        for (state, outcome, pos) in waiting {
            let pos = c.key_pos(outcome, pos);
            c.error(
                "on-child-without-child",
                pos,
                format!(
                    "state `{state}` waits for a child case ending with `{outcome}`, but this workflow starts no child case"
                ),
                "add a `start_case` to the state, or to the event that leads to it",
            );
        }
        return;
    }
    let mut possible = BTreeSet::new();
    for sc in started {
        match c.catalog.get(&sc.workflow) {
            Some(child) => possible.extend(outcomes(&child.workflow)),
            // Reported by `unknown-workflow`; the outcomes are unknown.
            None => return,
        }
    }
    let children: BTreeSet<&str> = started.iter().map(|sc| sc.workflow.as_str()).collect();
    for (state, outcome, pos) in waiting {
        if possible.contains(outcome) {
            continue;
        }
        let pos = c.key_pos(outcome, pos);
        let candidates: Vec<&str> = possible.iter().copied().collect();
        let hint = c.suggest(outcome, &candidates).unwrap_or_else(|| {
            format!("possible outcomes: {}", listed(candidates.iter().copied()))
        });
        c.error(
            "unknown-outcome",
            pos,
            format!(
                "state `{state}` waits for outcome `{outcome}`, which no final state of {} has",
                listed(children.iter().copied())
            ),
            hint,
        );
    }
}
