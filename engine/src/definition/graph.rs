//! The transitions of a workflow, as one list that the validator (reachability, dataflow) and
//! the diagrams (`jalon graph`) both read, so they cannot disagree about where a case can go.

use std::fmt::Write;

use super::Pos;
use super::model::{Delay, Workflow};
use crate::calendar::french;

/// What moves a case from one state to another.
#[derive(Clone, Debug)]
pub enum Via<'a> {
    /// An event with a `goto`.
    Event(&'a str),
    /// Branch `index` (0-based) of an event's `choose`.
    Branch(&'a str, usize),
    /// A timer with a `goto`; the delay labels the edge.
    Timer(&'a str, Option<&'a Delay>),
    /// A child case ended with this outcome.
    Child(&'a str),
}

/// One possible move. `from` is `None` for a workflow-level timer, which can fire in any
/// non-final state.
#[derive(Clone, Debug)]
pub struct Transition<'a> {
    pub from: Option<&'a str>,
    pub to: &'a str,
    /// Where the target is written.
    pub at: Pos,
    pub via: Via<'a>,
    /// Variables certainly set when the move happens (required inputs and `set` keys).
    pub sets: Vec<&'a str>,
}

/// Every transition written in the workflow, in file order; targets are not checked here.
pub fn transitions(wf: &Workflow) -> Vec<Transition<'_>> {
    let mut out = Vec::new();
    for (state_id, state) in &wf.states {
        let from = Some(state_id.as_str());
        for (event_id, event) in &state.on {
            let sets: Vec<&str> = event
                .inputs
                .iter()
                .map(|v| v.as_str())
                .chain(event.set.keys().map(String::as_str))
                .collect();
            if let Some(goto) = &event.goto {
                out.push(Transition {
                    from,
                    to: goto.as_str(),
                    at: goto.pos,
                    via: Via::Event(event_id),
                    sets: sets.clone(),
                });
            }
            for (i, branch) in event.choose.iter().enumerate() {
                out.push(Transition {
                    from,
                    to: branch.goto.as_str(),
                    at: branch.goto.pos,
                    via: Via::Branch(event_id, i),
                    sets: sets.clone(),
                });
            }
        }
        for timer in &state.timers {
            if let Some(goto) = &timer.goto {
                out.push(Transition {
                    from,
                    to: goto.as_str(),
                    at: goto.pos,
                    via: Via::Timer(timer.id.as_str(), timer.after.as_ref().map(|d| &d.value)),
                    sets: timer.set.keys().map(String::as_str).collect(),
                });
            }
        }
        for (outcome, goto) in &state.on_child {
            out.push(Transition {
                from,
                to: goto.as_str(),
                at: goto.pos,
                via: Via::Child(outcome),
                sets: Vec::new(),
            });
        }
    }
    for timer in &wf.timers {
        if let Some(goto) = &timer.goto {
            out.push(Transition {
                from: None,
                to: goto.as_str(),
                at: goto.pos,
                via: Via::Timer(timer.id.as_str(), timer.after.as_ref().map(|d| &d.value)),
                sets: timer.set.keys().map(String::as_str).collect(),
            });
        }
    }
    out
}

/// The French label of a transition, as diagrams show it.
fn edge_label(via: &Via<'_>) -> String {
    match via {
        Via::Event(id) => (*id).to_string(),
        Via::Branch(id, i) => format!("{id} ({})", i + 1),
        Via::Timer(id, delay) => match delay.and_then(|d| d.length()) {
            Some(length) => format!("⏱ {}", french::length(length)),
            None => format!("⏱ {id}"),
        },
        Via::Child(outcome) => format!("↳ {outcome}"),
    }
}

/// The states a workflow-level timer can fire from: every state except final ones.
fn sources<'a>(wf: &'a Workflow, t: &Transition<'a>) -> Vec<&'a str> {
    match t.from {
        Some(from) => vec![from],
        None => wf
            .states
            .iter()
            .filter(|(_, s)| !s.is_final)
            .map(|(id, _)| id.as_str())
            .collect(),
    }
}

/// Mermaid identifiers allow letters, digits and `_` only.
fn mermaid_id(id: &str) -> String {
    let mut s: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 's');
    }
    s
}

/// Mermaid labels end at `:`, `;` and lines; `#` starts entity codes, so these become codes.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' | ':' | ';' | '"' => {
                let _ = write!(out, "#{};", u32::from(c));
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A Mermaid `stateDiagram-v2` of the workflow. Final states lead to `[*]`.
pub fn mermaid(wf: &Workflow) -> String {
    let mut out = String::from("stateDiagram-v2\n");
    let _ = writeln!(out, "    %% {}", wf.title.replace('\n', " "));
    for (id, state) in &wf.states {
        let label = if state.is_final {
            format!("{} (fin)", state.label)
        } else {
            state.label.clone()
        };
        let _ = writeln!(
            out,
            "    state \"{}\" as {}",
            mermaid_text(&label),
            mermaid_id(id)
        );
    }
    let _ = writeln!(out, "    [*] --> {}", mermaid_id(&wf.initial));
    for t in transitions(wf) {
        for from in sources(wf, &t) {
            let _ = writeln!(
                out,
                "    {} --> {}: {}",
                mermaid_id(from),
                mermaid_id(t.to),
                mermaid_text(&edge_label(&t.via))
            );
        }
    }
    for (id, state) in &wf.states {
        if state.is_final {
            let _ = writeln!(out, "    {} --> [*]", mermaid_id(id));
        }
    }
    out
}

fn dot_string(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// A Graphviz `digraph` of the workflow. Final states are double circles.
pub fn dot(wf: &Workflow) -> String {
    let mut out = format!("digraph {} {{\n", dot_string(&wf.id));
    out.push_str("    rankdir=LR;\n");
    let _ = writeln!(out, "    label={};", dot_string(&wf.title));
    out.push_str("    node [shape=box, style=rounded];\n");
    out.push_str("    \"__start\" [shape=point, label=\"\"];\n");
    for (id, state) in &wf.states {
        let shape = if state.is_final {
            ", shape=doublecircle"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "    {} [label={}{shape}];",
            dot_string(id),
            dot_string(&state.label)
        );
    }
    let _ = writeln!(out, "    \"__start\" -> {};", dot_string(&wf.initial));
    for t in transitions(wf) {
        let style = match t.via {
            Via::Timer(..) => ", style=dashed",
            Via::Child(_) => ", style=dotted",
            _ => "",
        };
        for from in sources(wf, &t) {
            let _ = writeln!(
                out,
                "    {} -> {} [label={}{style}];",
                dot_string(from),
                dot_string(t.to),
                dot_string(&edge_label(&t.via))
            );
        }
    }
    out.push_str("}\n");
    out
}
