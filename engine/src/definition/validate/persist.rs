//! Timers that outlive their state (`persist`): only on a state, and on a state the case
//! enters once, since entering it again would arm a second copy of the same period.

use std::collections::HashMap;

use super::Checker;
use crate::definition::graph::{Via, transitions};
use crate::definition::model::Workflow;

pub(super) fn check(c: &mut Checker<'_>) {
    let wf = c.wf;
    for t in &wf.timers {
        if t.persist {
            c.error(
                "persist-invalid",
                t.id.pos,
                format!(
                    "case timer `{}` has `persist`, which only a state's timer can have",
                    t.id.value
                ),
                "a case timer already runs from the start until a final state: remove `persist`",
            );
        }
    }
    let holders: Vec<&str> = wf
        .states
        .iter()
        .filter(|(_, s)| s.timers.iter().any(|t| t.persist))
        .map(|(id, _)| id.as_str())
        .collect();
    if holders.is_empty() {
        return;
    }
    let cyclic = on_a_cycle(wf);
    for id in holders {
        if !cyclic.get(id).copied().unwrap_or(false) {
            continue;
        }
        let state = &wf.states[id];
        for t in state.timers.iter().filter(|t| t.persist) {
            c.error(
                "persist-reentered",
                t.id.pos,
                format!(
                    "timer `{}` outlives state `{id}`, which the case can enter again: a second copy of the period would be armed",
                    t.id.value
                ),
                "give the period to a state entered once (the case goes on in another state after it), or remove `persist`",
            );
        }
    }
}

/// Whether each state can be entered again after it was left. Workflow-level timers and
/// persistent ones may fire from any non-final state: their moves go through one extra node
/// that every non-final state leads to. Strongly connected components (Kosaraju, iterative):
/// linear in states and transitions.
fn on_a_cycle(wf: &Workflow) -> HashMap<&str, bool> {
    let ids: Vec<&str> = wf.states.keys().map(String::as_str).collect();
    let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let anywhere = ids.len();
    let n = ids.len() + 1;
    let persistent: Vec<&str> = wf
        .states
        .values()
        .flat_map(|s| s.timers.iter())
        .filter(|t| t.persist)
        .map(|t| t.id.as_str())
        .collect();
    let mut next = vec![Vec::new(); n];
    let mut self_loop = vec![false; n];
    for t in transitions(wf) {
        let Some(&to) = index.get(t.to) else { continue };
        let from = match (t.from, &t.via) {
            (_, Via::Timer(id, _)) if persistent.contains(id) => anywhere,
            (Some(f), _) => match index.get(f) {
                Some(&f) => f,
                None => continue,
            },
            (None, _) => anywhere,
        };
        if from == to {
            self_loop[to] = true;
        }
        next[from].push(to);
    }
    for (i, s) in wf.states.values().enumerate() {
        if !s.is_final {
            next[i].push(anywhere);
        }
    }
    let mut prev = vec![Vec::new(); n];
    for (from, tos) in next.iter().enumerate() {
        for &to in tos {
            prev[to].push(from);
        }
    }
    // First pass: nodes by finishing order.
    let mut order = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    for root in 0..n {
        if seen[root] {
            continue;
        }
        seen[root] = true;
        let mut stack = vec![(root, 0usize)];
        while let Some((node, edge)) = stack.pop() {
            if let Some(&to) = next[node].get(edge) {
                stack.push((node, edge + 1));
                if !seen[to] {
                    seen[to] = true;
                    stack.push((to, 0));
                }
            } else {
                order.push(node);
            }
        }
    }
    // Second pass, on the reversed graph in reverse finishing order: one component per root.
    let mut component = vec![usize::MAX; n];
    let mut sizes = Vec::new();
    for &root in order.iter().rev() {
        if component[root] != usize::MAX {
            continue;
        }
        let id = sizes.len();
        sizes.push(0usize);
        component[root] = id;
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            sizes[id] += 1;
            for &from in &prev[node] {
                if component[from] == usize::MAX {
                    component[from] = id;
                    stack.push(from);
                }
            }
        }
    }
    ids.iter()
        .enumerate()
        .map(|(i, id)| (*id, self_loop[i] || sizes[component[i]] > 1))
        .collect()
}
