//! Snapshots of the diagnostics for the broken fixtures (one mistake per file), and unit tests
//! of reachability and dataflow.

use std::path::{Path, PathBuf};

use super::validate;
use crate::definition::load::{Catalog, LoadError, WorkflowFile, discover};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// The catalog every fixture is validated against: all valid and broken workflows that parse,
/// so that `start_case` fixtures can name the valid child.
fn catalog() -> (Catalog, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut unparsable = Vec::new();
    for dir in ["valid", "broken"] {
        for path in discover(&fixtures().join(dir)).expect("fixtures are readable") {
            match WorkflowFile::load(&path) {
                Ok(f) => files.push(f),
                Err(LoadError::Parse { path, diagnostic }) => {
                    unparsable.push((path, diagnostic.render("")))
                }
                Err(LoadError::Io { path, error }) => panic!("{}: {error}", path.display()),
            }
        }
    }
    (Catalog::new(files), unparsable)
}

/// The file's path relative to `tests/fixtures`, as the snapshots show it.
fn shown(path: &Path) -> String {
    path.strip_prefix(fixtures())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn rendered(file: &WorkflowFile, catalog: &Catalog) -> String {
    validate(file, catalog)
        .iter()
        .map(|d| d.render(&shown(&file.path)) + "\n")
        .collect()
}

#[test]
fn valid_fixtures_have_no_diagnostics() {
    let (catalog, unparsable) = catalog();
    assert!(
        unparsable
            .iter()
            .all(|(p, _)| !p.starts_with(fixtures().join("valid"))),
        "{unparsable:?}"
    );
    let valid: Vec<&WorkflowFile> = catalog
        .files()
        .iter()
        .filter(|f| f.path.starts_with(fixtures().join("valid")))
        .collect();
    assert_eq!(valid.len(), 2);
    for file in valid {
        assert_eq!(rendered(file, &catalog), "", "{}", file.path.display());
    }
}

/// One snapshot per broken fixture: the rendered diagnostics, as `jalon validate` prints them.
#[test]
fn broken_fixtures_snapshots() {
    let (catalog, unparsable) = catalog();
    let broken = fixtures().join("broken");
    let mut seen = 0;
    for file in catalog
        .files()
        .iter()
        .filter(|f| f.path.starts_with(&broken))
    {
        let name = file.path.file_stem().unwrap().to_string_lossy().to_string();
        let out = rendered(file, &catalog);
        assert!(!out.is_empty(), "{name} yields no diagnostic");
        insta::assert_snapshot!(name, out);
        seen += 1;
    }
    for (path, diagnostic) in &unparsable {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        insta::assert_snapshot!(name, format!("{}{diagnostic}\n", shown(path)));
        seen += 1;
    }
    assert!(seen >= 15, "only {seen} broken fixtures");
}

mod flow {
    use std::collections::BTreeSet;

    use super::super::{definitely_set, reachable, validate};
    use crate::definition::load::{Catalog, WorkflowFile};
    use crate::definition::parse;

    /// A diamond: `a` goes to `b` (setting x, y) or `c` (setting x only); both go to `d`.
    /// `e` is only reachable through a workflow-level timer; `f` is unreachable.
    const DIAMOND: &str = r#"
id: diamond
title: Diamant
legal_basis: Art. 1er
roles: { agent: Agent }
variables:
  x: { type: date }
  y: { type: date }
  z: { type: text }
start: { by: [agent], inputs: [z] }
initial: a
timers:
  - id: global
    after: { years: 1 }
    goto: e
states:
  a:
    label: A
    on:
      to_b: { by: [agent], inputs: [x, y], goto: b }
      to_c: { by: [agent], inputs: [x], optional_inputs: [y], goto: c }
  b:
    label: B
    on:
      next: { by: [agent], goto: d }
  c:
    label: C
    timers:
      - id: t
        after: { working_days: 2 }
        set: { y: 2027-01-01 }
        goto: d
    on:
      next: { by: [agent], goto: d }
  d:
    label: D
    on:
      done: { by: [agent], goto: e }
  e:
    label: E
    final: true
  f:
    label: F
    on:
      done: { by: [agent], goto: e }
"#;

    fn names<'a>(set: &BTreeSet<&'a str>) -> Vec<&'a str> {
        set.iter().copied().collect()
    }

    #[test]
    fn reachability_follows_events_timers_and_case_timers() {
        let wf = parse(DIAMOND).unwrap();
        assert_eq!(names(&reachable(&wf)), ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn definitely_set_is_the_intersection_over_incoming_moves() {
        let wf = parse(DIAMOND).unwrap();
        let entry = definitely_set(&wf);
        assert_eq!(names(&entry["a"]), ["started_on", "z"]);
        assert_eq!(names(&entry["b"]), ["started_on", "x", "y", "z"]);
        assert_eq!(names(&entry["c"]), ["started_on", "x", "z"]);
        // From c, `next` does not set y but the timer does: y is not definitely set in d.
        assert_eq!(names(&entry["d"]), ["started_on", "x", "z"]);
        // e is also entered by the case timer from a, where only the start inputs are set.
        assert_eq!(names(&entry["e"]), ["started_on", "z"]);
        assert!(!entry.contains_key("f"));
    }

    #[test]
    fn loops_keep_only_what_every_path_sets() {
        let wf = parse(
            r#"
id: boucle
title: Boucle
legal_basis: Art. 1er
roles: { agent: Agent }
variables: { x: { type: date } }
start: { by: [agent] }
initial: a
states:
  a:
    label: A
    on:
      go: { by: [agent], inputs: [x], goto: b }
  b:
    label: B
    on:
      back: { by: [agent], goto: a }
      end: { by: [agent], goto: c }
  c: { label: C, final: true }
"#,
        )
        .unwrap();
        let entry = definitely_set(&wf);
        assert_eq!(names(&entry["a"]), ["started_on"]);
        assert_eq!(names(&entry["b"]), ["started_on", "x"]);
    }

    #[test]
    fn a_use_after_a_diamond_is_reported_with_its_state() {
        let text = DIAMOND.replace(
            "  d:\n    label: D\n",
            "  d:\n    label: D\n    timers:\n      - id: late\n        after: { months: 1, from: y }\n        goto: e\n    legal_basis: Art. 2\n",
        );
        let file = WorkflowFile::from_text("diamond.yaml", text).unwrap();
        let catalog = Catalog::default();
        let unset: Vec<String> = validate(&file, &catalog)
            .into_iter()
            .filter(|d| d.code == "variable-maybe-unset")
            .map(|d| d.message)
            .collect();
        assert_eq!(
            unset,
            ["timer `late` uses `y`, which may not be set yet in state `d`"]
        );
    }

    #[test]
    fn validate_never_panics_on_half_written_workflows() {
        // Unknown initial state, targets and names everywhere: diagnostics, no panic.
        let text = r#"
id: x
title: X
legal_basis: Art. 1er
roles: {}
start: { by: [] }
initial: nowhere
states: {}
timers:
  - id: t
    until: { months: 0 }
    goto: nowhere
"#;
        let file = WorkflowFile::from_text("x.yaml", text.to_string()).unwrap();
        let out = validate(&file, &Catalog::default());
        let codes: Vec<&str> = out.iter().map(|d| d.code).collect();
        assert!(codes.contains(&"unknown-state"), "{codes:?}");
        assert!(codes.contains(&"impossible-start"), "{codes:?}");
        assert!(codes.contains(&"timer-schedule"), "{codes:?}");
        let mut sorted = out.clone();
        sorted.sort_by_key(|d| d.pos);
        assert_eq!(sorted, out);
    }
}

/// Every code the validator and the template check can emit is documented in
/// docs/diagnostics.md, and only those.
#[test]
fn every_code_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/diagnostics.md")).unwrap();
    let codes = doc.split("\n## Limits").next().unwrap();
    let documented: std::collections::BTreeSet<String> = codes
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    let mut emitted = std::collections::BTreeSet::from(["yaml".to_string()]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/definition/validate");
    // The template checks live in the notifiers crate (the engine knows no handlebars).
    let templates = root.join("notifiers/src/check/mod.rs");
    // Parsing and the limits are checked before the validator proper.
    let definition = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/definition");
    let files = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .chain([
            templates,
            definition.join("mod.rs"),
            definition.join("limits.rs"),
        ]);
    for path in files {
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // Codes are the kebab-case string literals passed to `error`/`warning`.
        for piece in text.split('"').skip(1).step_by(2) {
            let kebab =
                piece.contains('-') && piece.chars().all(|c| c.is_ascii_lowercase() || c == '-');
            if kebab {
                emitted.insert(piece.to_string());
            }
        }
    }
    assert_eq!(emitted, documented);
}

#[test]
fn two_files_with_one_id_are_both_reported() {
    let text = std::fs::read_to_string(fixtures().join("broken/final-initial.yaml")).unwrap();
    let a = WorkflowFile::from_text("a/final-initial.yaml", text.clone()).unwrap();
    let b = WorkflowFile::from_text("b/final-initial.yaml", text).unwrap();
    let catalog = Catalog::new(vec![a, b]);
    for file in catalog.files() {
        let dup: Vec<String> = validate(file, &catalog)
            .into_iter()
            .filter(|d| d.code == "duplicate-workflow-id")
            .map(|d| d.message)
            .collect();
        assert_eq!(dup.len(), 1, "{}", file.path.display());
        assert!(dup[0].contains("is also used by"), "{}", dup[0]);
    }
}

#[test]
fn an_event_that_moves_the_case_announces_a_deadline_of_its_source_or_target() {
    let text = r#"
id: x
title: X
legal_basis: Art. 1er
roles: { agent: Agent }
start: { by: [agent] }
initial: a
states:
  a:
    label: A
    legal_basis: Art. 1er
    timers:
      - { id: delai_a, after: { calendar_days: 10 }, goto: b2 }
    on:
      vers_b:
        by: [agent]
        goto: b
        notify:
          - { to: [agent], template: t, deadline: delai_b }
          - { to: [agent], template: t, deadline: delai_a }
          - { to: [agent], template: t, deadline: delai_b2 }
      choisir:
        by: [agent]
        choose:
          - { when: { x: { set: true } }, goto: b }
          - { goto: c }
        notify:
          - { to: [agent], template: t, deadline: delai_a }
          - { to: [agent], template: t, deadline: delai_b }
  b:
    label: B
    legal_basis: Art. 2
    timers:
      - { id: delai_b, after: { working_days: 5 }, goto: c }
  b2:
    label: B2
    legal_basis: Art. 3
    timers:
      - { id: delai_b2, after: { working_days: 5 }, goto: c }
  c:
    label: C
    final: true
variables:
  x: { type: boolean }
"#;
    let file = WorkflowFile::from_text("x.yaml", text.to_string()).unwrap();
    let unknown: Vec<String> = validate(&file, &Catalog::default())
        .into_iter()
        .filter(|d| d.code == "unknown-deadline")
        .map(|d| format!("{}:{} {}", d.pos.line, d.pos.column, d.message))
        .collect();
    assert_eq!(
        unknown,
        [
            "21:51 the notice announces the deadline of `delai_b2`, which is not a timer or task of state `a` or of state `b`, where the event leads",
            "29:51 the notice announces the deadline of `delai_b`, which is not a timer or task of state `a` or of every state the event may lead to (b, c)",
        ]
    );
}

/// A period that outlives its state (`persist`): events of later states may suspend and resume
/// it, a date the `when` requires may date a resumption; a case timer may not persist, and a
/// state entered twice may not hold one.
mod persist {
    use super::super::validate;
    use crate::definition::load::{Catalog, WorkflowFile};

    const STAGE: &str = r#"
id: stage
title: Stage
legal_basis: Art. 65
roles: { agent: Agent }
variables:
  entree_le: { type: date }
  mention_le: { type: date }
  reprise_le: { type: date }
start: { by: [agent] }
initial: invite
TIMERS
states:
  invite:
    label: Invité
    on:
      accepter: { by: [agent], inputs: [entree_le], goto: stage }
  stage:
    label: Stage
    legal_basis: Art. 65
    timers:
      - id: fin_stage
        after: { years: 2, from: entree_le }
        persist: true
        goto: fini
    on:
      defavorable: { by: [agent], inputs: [mention_le], effective: mention_le, suspend: [fin_stage], goto: recours }
  recours:
    label: Recours
    on:
      accueilli: { by: [agent], inputs: [reprise_le], effective: reprise_le, resume: [fin_stage], goto: repris }
      ACCUEILLI_SANS_DATE
  repris:
    label: Stage repris
    on:
      BACK
      mettre_fin: { by: [agent], goto: fini }
  fini: { label: Fini, final: true }
"#;

    fn codes(timers: &str, accueilli: &str, back: &str) -> Vec<String> {
        let text = STAGE
            .replace("TIMERS", timers)
            .replace("ACCUEILLI_SANS_DATE", accueilli)
            .replace("BACK", back);
        let file = WorkflowFile::from_text("stage.yaml", text).unwrap();
        validate(&file, &Catalog::default())
            .into_iter()
            .map(|d| format!("{}:{} {}", d.pos.line, d.code, d.message))
            .collect()
    }

    #[test]
    fn a_later_state_suspends_and_resumes_a_persistent_timer() {
        assert_eq!(codes("", "", ""), Vec::<String>::new());
    }

    #[test]
    fn effective_may_name_a_date_the_when_requires() {
        let by_when = "accueilli_bis: { by: [agent], when: { mention_le: { set: true } }, effective: mention_le, resume: [fin_stage], goto: repris }";
        assert_eq!(codes("", by_when, ""), Vec::<String>::new());
        let unchecked = "accueilli_bis: { by: [agent], effective: mention_le, resume: [fin_stage], goto: repris }";
        let out = codes("", unchecked, "");
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].starts_with("32:effective-invalid "), "{out:?}");
    }

    #[test]
    fn a_state_left_only_by_a_running_persistent_timer_is_no_dead_end() {
        let text = STAGE
            .replace("TIMERS", "")
            .replace("ACCUEILLI_SANS_DATE", "")
            .replace(
                "    on:\n      BACK\n      mettre_fin: { by: [agent], goto: fini }\n",
                "",
            );
        let file = WorkflowFile::from_text("stage.yaml", text.clone()).unwrap();
        assert_eq!(validate(&file, &Catalog::default()), vec![]);
        // Without `persist` the timer dies with its state: `repris` is a dead end.
        let file =
            WorkflowFile::from_text("stage.yaml", text.replace("persist: true", "")).unwrap();
        let codes: Vec<&str> = validate(&file, &Catalog::default())
            .iter()
            .map(|d| d.code)
            .collect();
        assert!(codes.contains(&"dead-end-state"), "{codes:?}");
    }

    #[test]
    fn a_case_timer_cannot_persist() {
        let timers = "timers:\n  - { id: global, after: { years: 5 }, persist: true, goto: fini }";
        let out = codes(timers, "", "");
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].starts_with("13:persist-invalid "), "{out:?}");
    }

    #[test]
    fn a_state_entered_again_cannot_hold_a_persistent_timer() {
        let out = codes("", "", "recommencer: { by: [agent], goto: stage }");
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].starts_with("22:persist-reentered "), "{out:?}");
        // Through a case timer that can fire anywhere, back to the state before it.
        let timers = "timers:\n  - { id: global, after: { years: 5 }, goto: invite }";
        let out = codes(timers, "", "");
        assert!(
            out.iter().any(|d| d.starts_with("23:persist-reentered ")),
            "{out:?}"
        );
    }
}
