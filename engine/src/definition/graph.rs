//! The transitions of a workflow, as one list that the validator (reachability, dataflow) and
//! the diagrams (`jalon graph`) both read, so they cannot disagree about where a case can go.

use std::fmt::Write;

use super::Pos;
use super::model::{Condition, Delay, Test, Workflow};

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
    /// Variables certainly set when the move happens (required inputs, `set` keys, and
    /// variables the event's or branch's condition requires to be set).
    pub sets: Vec<&'a str>,
}

/// Variables a condition can only pass when they are set: tested for a value, a range, or
/// `set: true`. (`not:` and `set: false` hold on an unset variable.)
pub(crate) fn asserted_set(when: Option<&Condition>) -> impl Iterator<Item = &str> {
    when.into_iter().flat_map(|c| {
        c.iter().filter_map(|(var, test)| {
            let implies_set = match &test.value {
                Test::Equals(_) => true,
                Test::Operators(op) => {
                    op.set == Some(true)
                        || op.equals.is_some()
                        || op.one_of.is_some()
                        || op.at_least.is_some()
                        || op.at_most.is_some()
                }
            };
            implies_set.then_some(var.as_str())
        })
    })
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
                .chain(asserted_set(event.when.as_deref()))
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
                    sets: sets
                        .iter()
                        .copied()
                        .chain(asserted_set(branch.when.as_deref()))
                        .collect(),
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
        Via::Timer(id, delay) => match delay {
            Some(d) if d.length().is_some() || d.date.is_some() => {
                format!("⏱ {}", d.summary_fr())
            }
            _ => format!("⏱ {id}"),
        },
        Via::Child(outcome) => format!("↳ {outcome}"),
    }
}

/// The states a workflow-level timer can fire from: every state except final ones.
pub fn sources<'a>(wf: &'a Workflow, t: &Transition<'a>) -> Vec<&'a str> {
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

/// Words of the Mermaid state-diagram syntax that cannot be state ids.
const MERMAID_KEYWORDS: [&str; 8] = [
    "state",
    "note",
    "end",
    "direction",
    "class",
    "classdef",
    "style",
    "default",
];

/// Mermaid identifiers allow letters, digits and `_` only, and no keyword.
fn mermaid_id(id: &str) -> String {
    let mut s: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let keyword = MERMAID_KEYWORDS.contains(&s.to_ascii_lowercase().as_str());
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) || keyword {
        s.insert_str(0, "s_");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::parse;

    const WF: &str = r#"
id: exemple
title: "Exemple: avec # et ;"
legal_basis: Art. 1er
roles: { agent: Agent }
start: { by: [agent] }
initial: ouvert
timers:
  - id: peremption
    after: { years: 1 }
    goto: end
states:
  ouvert:
    label: "Ouvert: en cours"
    timers:
      - id: delai
        after: { working_days: 1 }
        goto: end
    on:
      trier:
        by: [agent]
        choose:
          - when: { x: 1 }
            goto: ouvert
          - goto: end
  end:
    label: Fin "définitive"
    final: true
"#;

    #[test]
    fn transitions_list_every_move_with_what_it_sets() {
        let wf = parse(WF).unwrap();
        let all = transitions(&wf);
        let moves: Vec<(Option<&str>, &str)> = all.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            moves,
            [
                (Some("ouvert"), "ouvert"),
                (Some("ouvert"), "end"),
                (Some("ouvert"), "end"),
                (None, "end"),
            ]
        );
        assert!(matches!(all[1].via, Via::Branch("trier", 1)));
    }

    #[test]
    fn mermaid_escapes_labels_and_renames_keywords() {
        let wf = parse(WF).unwrap();
        let out = mermaid(&wf);
        assert!(
            out.contains("state \"Fin #34;définitive#34; (fin)\" as s_end\n"),
            "{out}"
        );
        assert!(
            out.contains("state \"Ouvert#58; en cours\" as ouvert\n"),
            "{out}"
        );
        assert!(
            out.contains("ouvert --> s_end: ⏱ 1 jour ouvrable\n"),
            "{out}"
        );
        // The workflow-level timer leaves every non-final state, and only those.
        assert!(out.contains("ouvert --> s_end: ⏱ 1 an\n"), "{out}");
        assert!(!out.contains("s_end --> s_end"), "{out}");
        assert!(out.contains("s_end --> [*]\n"));
    }

    /// The whole diagram of the valid example workflow, as `jalon graph --format dot` prints
    /// it (`scripts/dot_graph.py` parses every shipped one in the end-to-end tests).
    #[test]
    fn dot_of_the_example_workflow() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/valid/recours-exemple/workflow.yaml");
        let wf = parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        insta::assert_snapshot!(dot(&wf));
    }

    #[test]
    fn dot_quotes_everything() {
        let wf = parse(WF).unwrap();
        let out = dot(&wf);
        assert!(
            out.contains("\"end\" [label=\"Fin \\\"définitive\\\"\", shape=doublecircle];"),
            "{out}"
        );
        assert!(
            out.contains("\"ouvert\" -> \"ouvert\" [label=\"trier (1)\"];"),
            "{out}"
        );
    }
}
