//! Generated workflows of a chosen size: the shipped procedures have a few dozen states, so the
//! benchmark of validation (`jalon bench engine`) and the tests of the deployment limits need
//! larger ones. Each is valid (no error, no warning) while it stays within `limits`.

use std::fmt::Write;

/// `states` states in a chain: each one has a deadline timer and an event that both lead to
/// the next, the event reading and setting variables (what the dataflow and delay checks walk);
/// the last state is final.
pub fn chain(states: usize) -> String {
    let states = states.max(2);
    let mut out = header("chaine", "s0");
    for i in 0..states - 1 {
        let next = i + 1;
        let _ = write!(
            out,
            "  s{i}:\n    label: Étape {i}\n    legal_basis: \"Art. 1\"\n    timers:\n      \
             - id: t{i}\n        after: {{ working_days: 5, from: depose_le }}\n        \
             goto: s{next}\n    on:\n      avancer:\n        by: [agent]\n        \
             optional_inputs: [note]\n        when: {{ niveau: {{ at_most: 9 }} }}\n        \
             set: {{ niveau: 1 }}\n        goto: s{next}\n"
        );
    }
    let _ = write!(
        out,
        "  s{last}:\n    label: Fin\n    final: true\n",
        last = states - 1
    );
    out
}

/// One state that accepts `events` different events, each leading to the final state.
pub fn many_events(events: usize) -> String {
    let mut out = header("evenements", "attente");
    out.push_str("  attente:\n    label: Attente\n    on:\n");
    for i in 0..events.max(1) {
        let _ = write!(
            out,
            "      e{i}:\n        by: [agent]\n        set: {{ niveau: {n} }}\n        goto: fin\n",
            n = i % 10
        );
    }
    out.push_str("  fin:\n    label: Fin\n    final: true\n");
    out
}

fn header(id: &str, initial: &str) -> String {
    format!(
        "id: {id}\ntitle: Généré\nlegal_basis: \"Art. 1\"\nroles:\n  agent: Agent\n\
         variables:\n  depose_le:\n    type: date\n  note:\n    type: text\n  \
         niveau:\n    type: integer\nstart:\n  by: [agent]\n  inputs: [depose_le]\n\
         initial: {initial}\nstates:\n"
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
            println!(
                "{name}: parse {:.0} ms, validate {:.0} ms, {found} diagnostics",
                parsed.as_secs_f64() * 1e3,
                (t.elapsed() - parsed).as_secs_f64() * 1e3
            );
        }
    }
}
