//! `jalon graph --format dot` read back by an independent DOT parser (pydot, installed by
//! `scripts/test` in `target/test-venv`): every shipped workflow gives one valid digraph with
//! every state and every move.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use engine::definition::graph::{Via, sources, transitions};
use engine::definition::load::{WorkflowFile, discover};

use crate::support::jalon;

/// What `scripts/dot_graph.py` prints.
#[derive(serde::Deserialize)]
struct Parsed {
    name: String,
    directed: bool,
    nodes: Vec<String>,
    edges: Vec<(String, String, Option<String>)>,
}

fn parse_dot(dot: &str) -> Result<Parsed, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("JALON_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let mut child = Command::new(&python)
        .arg(root.join("scripts/dot_graph.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; run scripts/test"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(dot.as_bytes())
        .expect("writes");
    let out = child.wait_with_output().expect("runs");
    if !out.status.success() {
        return Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(serde_json::from_slice(&out.stdout).expect("JSON from dot_graph.py"))
}

#[test]
fn the_dot_parser_refuses_broken_dot() {
    // The oracle is not a yes-machine.
    let err = parse_dot("digraph \"x\" {\n    \"a\" -> ;\n}\n")
        .map(|_| ())
        .unwrap_err();
    assert!(!err.is_empty());
    let err = parse_dot("digraph \"x\" {\n    \"a\" [label=\"unclosed];\n}\n").map(|_| ());
    assert!(err.is_err());
}

#[test]
fn every_shipped_workflow_draws_a_valid_dot_graph_with_every_state_and_move() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let paths = discover(&dir).expect("workflows/ is readable");
    assert!(paths.len() >= 3, "found {} workflows", paths.len());
    for path in paths {
        let shown = path.display().to_string();
        let run = jalon(&["graph", &shown, "--format", "dot"]);
        assert_eq!(run.code, 0, "{shown}: {}", run.stderr);
        let parsed = parse_dot(&run.stdout).unwrap_or_else(|e| panic!("{shown}: not DOT: {e}"));
        let wf = WorkflowFile::load(&path).expect("loads").workflow;
        assert!(parsed.directed, "{shown}");
        assert_eq!(parsed.name, *wf.id, "{shown}");
        let mut states: Vec<String> = vec!["__start".into()];
        states.extend(wf.states.keys().cloned());
        assert_eq!(parsed.nodes, states, "{shown}: one node per state");
        let mut expected: Vec<(String, String, Option<String>)> =
            vec![("__start".into(), wf.initial.to_string(), None)];
        for t in transitions(&wf) {
            let label = match &t.via {
                Via::Event(id) => id.to_string(),
                Via::Branch(id, i) => format!("{id} ({})", i + 1),
                Via::Timer(..) => "⏱".into(),
                Via::Child(outcome) => format!("↳ {outcome}"),
            };
            for from in sources(&wf, &t) {
                expected.push((from.into(), t.to.into(), Some(label.clone())));
            }
        }
        // pydot groups parallel edges, so compare as sorted lists; a timer's label is the
        // delay ("⏱ 10 jours ouvrables"), checked by its sign only.
        let timer_sign = |l: &Option<String>| match l {
            Some(l) if l.starts_with('⏱') => Some("⏱".to_string()),
            other => other.clone(),
        };
        let mut got: Vec<_> = parsed
            .edges
            .iter()
            .map(|(f, t, l)| (f.clone(), t.clone(), timer_sign(l)))
            .collect();
        got.sort();
        expected.sort();
        assert_eq!(got, expected, "{shown}: one edge per move");
    }
}
