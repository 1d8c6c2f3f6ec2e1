//! Generated workflows of a chosen size: the shipped procedures have a few dozen states, so the
//! benchmark of validation (`jalon bench engine`) and the tests of the deployment limits need
//! larger ones. Each is valid (no error, no warning) while it stays within `limits`.

use std::fmt::Write;

/// `states` states in a chain, one line each (so that 5,000 of them stay within
/// `limits::MAX_SOURCE_BYTES`): each has a deadline timer and an event, both leading to the
/// next state, the event testing and setting a variable (what the dataflow, type and delay
/// checks walk); the last state is final.
pub fn chain(states: usize) -> String {
    let states = states.max(2);
    let mut out = header("chaine", "s0");
    for i in 0..states - 1 {
        let next = i + 1;
        let _ = writeln!(
            out,
            "  s{i}: {{ label: É, legal_basis: A, timers: [{{ id: t{i}, after: \
             {{ working_days: 5, from: d }}, goto: s{next} }}], on: {{ go: {{ by: [r], \
             when: {{ n: {{ at_most: 9 }} }}, set: {{ n: 1 }}, goto: s{next} }} }} }}"
        );
    }
    let _ = writeln!(out, "  s{}: {{ label: Fin, final: true }}", states - 1);
    out
}

/// One state that accepts `events` different events, each leading to the final state.
pub fn many_events(events: usize) -> String {
    let mut out = header("evenements", "attente");
    out.push_str("  attente:\n    label: Attente\n    on:\n");
    for i in 0..events.max(1) {
        let _ = writeln!(out, "      e{i}: {{ by: [r], goto: fin }}");
    }
    out.push_str("  fin:\n    label: Fin\n    final: true\n");
    out
}

fn header(id: &str, initial: &str) -> String {
    format!(
        "id: {id}\ntitle: Généré\nlegal_basis: \"Art. 1\"\nroles:\n  r: Agent\n\
         variables:\n  d:\n    type: date\n  n:\n    type: integer\n\
         start:\n  by: [r]\n  inputs: [d]\ninitial: {initial}\nstates:\n"
    )
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::definition::{Catalog, WorkflowFile, validate};

    fn diagnostics(text: String) -> Vec<String> {
        let file = WorkflowFile::from_text("generated.yaml", text).unwrap();
        let path = format!("{}/workflow.yaml", file.workflow.id.value);
        let file = WorkflowFile::from_text(path, file.text).unwrap();
        let catalog = Catalog::new(Vec::new());
        validate(&file, &catalog)
            .iter()
            .map(|d| d.render("generated.yaml"))
            .collect()
    }

    #[test]
    fn generated_workflows_are_clean() {
        assert_eq!(diagnostics(chain(30)), Vec::<String>::new());
        assert_eq!(diagnostics(many_events(30)), Vec::<String>::new());
    }

    /// Not a check: prints where validation spends its time
    /// (`cargo test -p jalon-engine --release sample::tests::timings -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn timings() {
        for (name, text) in [
            ("chain 1k", chain(1_000)),
            ("chain 5k", chain(5_000)),
            ("events 10k", many_events(10_000)),
        ] {
            let t = Instant::now();
            let file = WorkflowFile::from_text("generated.yaml", text).unwrap();
            let parsed = t.elapsed();
            let catalog = Catalog::new(Vec::new());
            let found = validate(&file, &catalog).len();
            let validated = t.elapsed();
            crate::machine::Definition::compile(file.workflow).unwrap();
            println!(
                "{name}: parse {:.0} ms, validate {:.0} ms ({found} diagnostics), compile {:.0} ms",
                parsed.as_secs_f64() * 1e3,
                (validated - parsed).as_secs_f64() * 1e3,
                (t.elapsed() - validated).as_secs_f64() * 1e3
            );
        }
    }
}
