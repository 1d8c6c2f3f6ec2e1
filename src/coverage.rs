//! The coverage of the deadlines of the texts (`docs/coverage.yaml`): every row of the two
//! deadline tables of the domain notes (the decree's and the conventions'), copied as written,
//! says which workflow encodes it (a timer, a task's due date, a date constraint, a schedule…)
//! or why it is out of scope. `jalon docs` checks each reference against the loaded workflows
//! (a renamed timer fails the page instead of leaving a stale claim), finds the scenarios that
//! assert each timer or task, and appends the French table to `docs/procedures.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use engine::definition::{Located, Timer, Workflow};
use serde::Deserialize;
use serde_json::Value;

/// The whole file: one table per source table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    pub tables: Vec<Table>,
}

/// One source table, its rows in the source's order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// The French heading of its section on the page.
    pub title: String,
    /// Where the table comes from (file and heading), for the reader.
    pub source: String,
    pub rows: Vec<Row>,
}

/// One row of a source table, its cells copied verbatim, and how it is encoded.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// The procedure column of the conventions' table (absent in the decree's).
    #[serde(default)]
    pub procedure: Option<String>,
    pub deadline: String,
    pub length: String,
    pub from: String,
    pub on_expiry: String,
    pub article: String,
    /// The places that encode the row; empty when it is out of scope.
    #[serde(default)]
    pub covered: Vec<Encoding>,
    /// Why the row is not encoded, in French, citing the text.
    #[serde(default)]
    pub out_of_scope: Option<String>,
}

/// One place of one workflow that encodes a row. Exactly one of `timer`, `task`, `schedule`,
/// `state`, `event` (with `constraint`: a date constraint on that event's input) or `fixed`
/// (something encoded without a deadline of its own, described in French).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encoding {
    pub workflow: String,
    #[serde(default)]
    pub timer: Option<String>,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub event: Option<String>,
    /// The date input the event constrains.
    #[serde(default)]
    pub constraint: Option<String>,
    #[serde(default)]
    pub fixed: Option<String>,
    /// A French remark for the reader (a reading chosen, a part left out).
    #[serde(default)]
    pub note: Option<String>,
}

/// What an encoding points at, once its fields are checked to name exactly one thing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target<'a> {
    Timer(&'a str),
    Task(&'a str),
    Schedule(&'a str),
    State(&'a str),
    Event(&'a str),
    Constraint { event: &'a str, date: &'a str },
    Fixed(&'a str),
}

impl Encoding {
    fn target(&self) -> Result<Target<'_>, String> {
        let mut found = Vec::new();
        if let Some(t) = &self.timer {
            found.push(Target::Timer(t));
        }
        if let Some(t) = &self.task {
            found.push(Target::Task(t));
        }
        if let Some(s) = &self.schedule {
            found.push(Target::Schedule(s));
        }
        if let Some(s) = &self.state {
            found.push(Target::State(s));
        }
        match (&self.event, &self.constraint) {
            (Some(event), Some(date)) => found.push(Target::Constraint { event, date }),
            (Some(event), None) => found.push(Target::Event(event)),
            (None, Some(_)) => return Err("`constraint` needs the `event` it belongs to".into()),
            (None, None) => {}
        }
        if let Some(f) = &self.fixed {
            found.push(Target::Fixed(f));
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => {
                Err("names nothing: give one of timer, task, schedule, state, event, fixed".into())
            }
            _ => Err(
                "names several things: give only one of timer, task, schedule, state, event, fixed"
                    .into(),
            ),
        }
    }
}

/// Parses the file and checks its shape: every row is either covered or explained, not both.
pub fn parse(text: &str) -> Result<Coverage, String> {
    let coverage: Coverage = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    let mut errors = Vec::new();
    for table in &coverage.tables {
        for row in &table.rows {
            let reason = row.out_of_scope.as_deref().map(str::trim);
            match (row.covered.is_empty(), reason) {
                (true, None) => errors.push(format!(
                    "{}: neither `covered` nor `out_of_scope`",
                    row_name(table, row)
                )),
                (true, Some("")) => errors.push(format!(
                    "{}: `out_of_scope` gives no reason",
                    row_name(table, row)
                )),
                (false, Some(_)) => errors.push(format!(
                    "{}: both `covered` and `out_of_scope`",
                    row_name(table, row)
                )),
                _ => {}
            }
            for e in &row.covered {
                if let Err(why) = e.target() {
                    errors.push(format!("{}: {why}", row_name(table, row)));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(coverage)
    } else {
        Err(errors.join("\n"))
    }
}

/// Reads and parses `path`.
pub fn load(path: &Path) -> Result<Coverage, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}:\n{e}", path.display()))
}

/// How an error names a row: its table and its deadline cell.
fn row_name(table: &Table, row: &Row) -> String {
    match &row.procedure {
        Some(p) => format!("[{}] « {p} — {} »", table.title, row.deadline),
        None => format!("[{}] « {} »", table.title, row.deadline),
    }
}

fn all_timers(wf: &Workflow) -> impl Iterator<Item = &Located<Timer>> {
    wf.timers
        .iter()
        .chain(wf.states.values().flat_map(|s| s.value.timers.iter()))
}

/// Whether `target` exists in `wf`; `Err` says what is missing.
fn resolve(wf: &Workflow, target: &Target<'_>) -> Result<(), String> {
    let id = &wf.id.value;
    let events = || wf.states.values().flat_map(|s| s.value.on.iter());
    let ok = match target {
        Target::Timer(t) => all_timers(wf).any(|x| x.value.id.value == *t),
        Target::Task(t) => wf
            .states
            .values()
            .flat_map(|s| s.value.tasks.iter())
            .any(|x| x.value.id.value == *t),
        Target::Schedule(s) => wf.schedules.iter().any(|x| x.value.id.value == *s),
        Target::State(s) => wf.states.contains_key(*s),
        Target::Event(e) => events().any(|(name, _)| name == e),
        Target::Constraint { event, date } => events().any(|(name, ev)| {
            name == event
                && ev
                    .value
                    .constraints
                    .iter()
                    .any(|c| c.value.date.value == *date)
        }),
        Target::Fixed(_) => true,
    };
    if ok {
        return Ok(());
    }
    Err(match target {
        Target::Timer(t) => format!("timer `{t}` does not exist in workflow `{id}`"),
        Target::Task(t) => format!("task `{t}` does not exist in workflow `{id}`"),
        Target::Schedule(s) => format!("schedule `{s}` does not exist in workflow `{id}`"),
        Target::State(s) => format!("state `{s}` does not exist in workflow `{id}`"),
        Target::Event(e) => format!("event `{e}` does not exist in workflow `{id}`"),
        Target::Constraint { event, date } => {
            format!("no event `{event}` constrains the date `{date}` in workflow `{id}`")
        }
        Target::Fixed(_) => unreachable!("a fixed encoding always resolves"),
    })
}

/// Checks every reference against `workflows`: each workflow, timer, task, schedule, state,
/// event and constraint named must exist. The error lists every dangling one with its row.
pub fn check(coverage: &Coverage, workflows: &[&Workflow]) -> Result<(), String> {
    let by_id: BTreeMap<&str, &Workflow> = workflows
        .iter()
        .map(|w| (w.id.value.as_str(), *w))
        .collect();
    let mut errors = Vec::new();
    for table in &coverage.tables {
        for row in &table.rows {
            for e in &row.covered {
                let Some(wf) = by_id.get(e.workflow.as_str()) else {
                    errors.push(format!(
                        "{}: workflow `{}` does not exist",
                        row_name(table, row),
                        e.workflow
                    ));
                    continue;
                };
                let checked = e.target().and_then(|t| resolve(wf, &t));
                if let Err(why) = checked {
                    errors.push(format!("{}: {why}", row_name(table, row)));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "docs coverage: {} dangling reference(s)\n{}",
            errors.len(),
            errors.join("\n")
        ))
    }
}

/// What one scenario asserts, as far as coverage goes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScenarioFacts {
    /// The file's name without `.yaml`.
    pub name: String,
    /// Timer and task ids named in a `due:` or `fired:` expectation.
    pub deadlines: BTreeSet<String>,
    /// Events sent by a step.
    pub events: BTreeSet<String>,
    /// Events refused with `date_out_of_range` (a date constraint exercised).
    pub out_of_range: BTreeSet<String>,
    /// States named in an expectation.
    pub states: BTreeSet<String>,
}

impl ScenarioFacts {
    /// Reads a scenario's text. A file that is not YAML asserts nothing here (`jalon test`
    /// reports it).
    pub fn read(name: &str, text: &str) -> ScenarioFacts {
        let mut facts = ScenarioFacts {
            name: name.to_string(),
            ..ScenarioFacts::default()
        };
        if let Ok(doc) = serde_saphyr::from_str::<Value>(text) {
            facts.walk(&doc);
        }
        facts
    }

    fn walk(&mut self, v: &Value) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Object(due)) = map.get("due") {
                    self.deadlines.extend(due.keys().cloned());
                }
                if let Some(Value::Array(fired)) = map.get("fired") {
                    self.deadlines
                        .extend(fired.iter().filter_map(|f| f.as_str().map(str::to_owned)));
                }
                if let Some(Value::String(state)) = map.get("state") {
                    self.states.insert(state.clone());
                }
                if let Some(Value::String(event)) = map.get("event") {
                    self.events.insert(event.clone());
                    let refused = map
                        .get("expect")
                        .and_then(|e| e.get("refused"))
                        .and_then(Value::as_str);
                    if refused == Some("date_out_of_range") {
                        self.out_of_range.insert(event.clone());
                    }
                }
                map.values().for_each(|child| self.walk(child));
            }
            Value::Array(items) => items.iter().for_each(|child| self.walk(child)),
            _ => {}
        }
    }

    fn exercises(&self, target: &Target<'_>) -> bool {
        match target {
            Target::Timer(id) | Target::Task(id) => self.deadlines.contains(*id),
            Target::State(s) => self.states.contains(*s),
            Target::Event(e) => self.events.contains(*e),
            Target::Constraint { event, .. } => self.out_of_range.contains(*event),
            Target::Schedule(_) | Target::Fixed(_) => false,
        }
    }
}

/// The scenarios of each workflow, by workflow id.
pub type Scenarios = BTreeMap<String, Vec<ScenarioFacts>>;

/// Reads `scenarios/*.yaml` next to a workflow file, sorted by name.
pub fn read_scenarios(workflow_file: &Path) -> Vec<ScenarioFacts> {
    let dir = workflow_file
        .parent()
        .unwrap_or(Path::new("."))
        .join("scenarios");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            let name = p.file_stem()?.to_str()?;
            Some(ScenarioFacts::read(name, &text))
        })
        .collect()
}

/// The French section of `docs/procedures.md`. Call `check` first: a dangling reference is
/// rendered as if it existed.
pub fn render(coverage: &Coverage, scenarios: &Scenarios) -> String {
    let mut out = String::from("\n## Couverture des délais des textes\n\n");
    out.push_str(
        "Chaque ligne des deux tableaux de délais des notes de domaine (le décret du 13 septembre \
         2018, puis les conventions et les pôles territoriaux) est reprise telle quelle, avec ce \
         qui l'encode (workflow · minuteur, tâche, contrainte de date…) ou la raison pour laquelle \
         elle est hors champ. Les scénarios cités vérifient l'échéance d'un minuteur ou d'une \
         tâche (`due:` ou `fired:`), refusent une date hors de sa contrainte \
         (`date_out_of_range`), ou, pour une ligne sans échéance, passent par l'état ou \
         l'événement qui l'encode. Source : `docs/coverage.yaml`, vérifié contre les workflows à \
         chaque génération.\n",
    );
    let mut totals = Totals::default();
    for table in &coverage.tables {
        let mut t = Totals::default();
        let _ = writeln!(out, "\n### {}\n\nSource : {}.\n", table.title, table.source);
        out.push_str(
            "| Délai | Durée | Article | Encodé par (workflow · minuteur/tâche) | Scénarios |\n\
             |---|---|---|---|---|\n",
        );
        for row in &table.rows {
            let deadline = match &row.procedure {
                Some(p) => format!("{} — {}", cell(p), cell(&row.deadline)),
                None => cell(&row.deadline),
            };
            let (encoded, played) = if let Some(reason) = &row.out_of_scope {
                t.out_of_scope += 1;
                (format!("Hors champ : {}", cell(reason)), "—".to_string())
            } else {
                t.covered += 1;
                let (encoded, played) = encodings(row, scenarios);
                if played.is_empty() {
                    t.without_scenario += 1;
                }
                t.scenarios.extend(played.iter().cloned());
                (encoded, played_cell(&played))
            };
            let _ = writeln!(
                out,
                "| {deadline} | {} | {} | {encoded} | {played} |",
                cell(&row.length),
                cell(&row.article),
            );
        }
        let _ = writeln!(out, "\n{}", t.sentence(table.rows.len()));
        totals.add(t);
    }
    let rows: usize = coverage.tables.iter().map(|t| t.rows.len()).sum();
    let shipped: usize = scenarios.values().map(Vec::len).sum();
    let _ = writeln!(
        out,
        "\n**Total** : {rows} lignes, {} encodées (dont {} sans scénario), {} hors champ avec leur \
         raison ; aucune ligne n'est laissée sans encodage ni explication. {} des {shipped} \
         scénarios livrés vérifient au moins une de ces échéances.",
        totals.covered,
        totals.without_scenario,
        totals.out_of_scope,
        totals.scenarios.len(),
    );
    out
}

/// The "Encodé par" cell of a covered row, and the scenarios (workflow, name) that exercise it.
fn encodings(row: &Row, scenarios: &Scenarios) -> (String, BTreeSet<(String, String)>) {
    let mut parts = Vec::new();
    let mut played = BTreeSet::new();
    for e in &row.covered {
        let Ok(target) = e.target() else { continue };
        let what = match &target {
            Target::Timer(t) => format!("minuteur `{t}`"),
            Target::Task(t) => format!("tâche `{t}`"),
            Target::Schedule(s) => format!("échéancier `{s}`"),
            Target::State(s) => format!("état `{s}`"),
            Target::Event(ev) => format!("événement `{ev}`"),
            Target::Constraint { event, date } => {
                format!("contrainte sur `{date}` (événement `{event}`)")
            }
            Target::Fixed(f) => cell(f),
        };
        let mut part = format!("`{}` · {what}", e.workflow);
        if let Some(note) = &e.note {
            let _ = write!(part, " — {}", cell(note));
        }
        parts.push(part);
        for s in scenarios.get(&e.workflow).into_iter().flatten() {
            if s.exercises(&target) {
                played.insert((e.workflow.clone(), s.name.clone()));
            }
        }
    }
    (parts.join("<br>"), played)
}

/// Scenario names grouped by workflow: "`stage-dz` : `a`, `b`".
fn played_cell(played: &BTreeSet<(String, String)>) -> String {
    if played.is_empty() {
        return "aucun".to_string();
    }
    let mut by_workflow: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (wf, name) in played {
        by_workflow.entry(wf).or_default().push(format!("`{name}`"));
    }
    by_workflow
        .into_iter()
        .map(|(wf, names)| format!("`{wf}` : {}", names.join(", ")))
        .collect::<Vec<_>>()
        .join("<br>")
}

#[derive(Default)]
struct Totals {
    covered: usize,
    out_of_scope: usize,
    without_scenario: usize,
    scenarios: BTreeSet<(String, String)>,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.covered += other.covered;
        self.out_of_scope += other.out_of_scope;
        self.without_scenario += other.without_scenario;
        self.scenarios.extend(other.scenarios);
    }

    fn sentence(&self, rows: usize) -> String {
        format!(
            "{rows} lignes : {} encodées (dont {} sans scénario), {} hors champ ; {} scénarios \
             vérifient au moins une de ces échéances.",
            self.covered,
            self.without_scenario,
            self.out_of_scope,
            self.scenarios.len()
        )
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Table cells cannot hold pipes or newlines.
fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WF: &str = r#"
id: exemple
title: Exemple
legal_basis: Art. 1er
roles: { agent: Agent }
variables:
  notifie_le: { type: date, label: la notification }
start: { by: [agent], inputs: [notifie_le] }
initial: ouvert
states:
  ouvert:
    label: Ouvert
    timers:
      - id: delai
        after: { working_days: 10, from: notifie_le }
        goto: fin
    tasks:
      - id: repondre
        role: agent
        title: Répondre
        due: { working_days: 5, from: notifie_le }
    on:
      clore: { by: [agent], goto: fin }
  fin: { label: Fin, final: true }
"#;

    fn workflow() -> Workflow {
        engine::definition::parse(WF).expect("the test workflow parses")
    }

    fn coverage(covered: &str) -> String {
        format!(
            "tables:\n  - title: Décret\n    source: test\n    rows:\n      - deadline: Délai \
             de réponse\n        length: 10 j. ouvr.\n        from: notification\n        \
             on_expiry: fin\n        article: \"5\"\n        covered:\n{covered}"
        )
    }

    #[test]
    fn a_reference_to_a_missing_timer_fails_with_its_name_and_row() {
        let text = coverage("          - { workflow: exemple, timer: delai_inexistant }\n");
        let cov = parse(&text).expect("well formed");
        let wf = workflow();
        let err = check(&cov, &[&wf]).expect_err("the timer does not exist");
        assert!(err.contains("timer `delai_inexistant`"), "{err}");
        assert!(err.contains("« Délai de réponse »"), "{err}");
        assert!(err.contains("workflow `exemple`"), "{err}");
    }

    #[test]
    fn existing_timer_task_and_event_resolve_others_do_not() {
        let wf = workflow();
        for (covered, ok) in [
            ("{ workflow: exemple, timer: delai }", true),
            ("{ workflow: exemple, task: repondre }", true),
            ("{ workflow: exemple, event: clore }", true),
            ("{ workflow: exemple, state: fin }", true),
            ("{ workflow: exemple, task: delai }", false),
            (
                "{ workflow: exemple, event: clore, constraint: notifie_le }",
                false,
            ),
            ("{ workflow: absent, timer: delai }", false),
        ] {
            let cov = parse(&coverage(&format!("          - {covered}\n"))).unwrap();
            assert_eq!(check(&cov, &[&wf]).is_ok(), ok, "{covered}");
        }
    }

    #[test]
    fn a_row_must_be_covered_or_explained_not_both_nor_neither() {
        let neither = coverage("").replace("        covered:\n", "");
        assert!(parse(&neither).unwrap_err().contains("neither"));
        let both = coverage("          - { workflow: exemple, timer: delai }\n")
            + "        out_of_scope: \"raison\"\n";
        assert!(parse(&both).unwrap_err().contains("both"));
        let two_targets = coverage("          - { workflow: exemple, timer: delai, task: x }\n");
        assert!(parse(&two_targets).unwrap_err().contains("several"));
        let unknown = coverage("          - { workflow: exemple, minuteur: delai }\n");
        assert!(parse(&unknown).is_err(), "unknown fields are refused");
    }

    #[test]
    fn scenarios_that_assert_a_timer_are_listed_in_the_table() {
        let cov = parse(&coverage(
            "          - { workflow: exemple, timer: delai }\n",
        ))
        .unwrap();
        let asserting = ScenarioFacts::read(
            "avec-echeance",
            "steps:\n  - until: 2027-01-01\n    expect:\n      due:\n        delai: 2027-01-15\n",
        );
        let firing = ScenarioFacts::read("expire", "steps:\n  - expect: { fired: [delai] }\n");
        let silent = ScenarioFacts::read("autre", "steps:\n  - expect: { fired: [repondre] }\n");
        let scenarios = Scenarios::from([("exemple".to_string(), vec![asserting, firing, silent])]);
        let page = render(&cov, &scenarios);
        assert!(
            page.contains("## Couverture des délais des textes"),
            "{page}"
        );
        assert!(
            page.contains("`exemple` : `avec-echeance`, `expire` |"),
            "{page}"
        );
        assert!(
            page.contains(
                "1 lignes : 1 encodées (dont 0 sans scénario), 0 hors champ ; 2 scénarios"
            ),
            "{page}"
        );
    }

    /// The shipped file: every row covered or explained (`parse`), no dangling reference
    /// against the shipped workflows, and the two source tables complete.
    #[test]
    fn the_shipped_coverage_has_no_dangling_reference() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cov = load(&root.join("docs/coverage.yaml")).unwrap();
        let folder = crate::validation::load_folder(&root.join("workflows")).unwrap();
        let workflows: Vec<&Workflow> = folder.checked.iter().map(|(f, _)| &f.workflow).collect();
        check(&cov, &workflows).unwrap();
        let rows: Vec<usize> = cov.tables.iter().map(|t| t.rows.len()).collect();
        assert_eq!(rows, vec![DECREE_ROWS, CONVENTION_ROWS]);
    }

    /// Rows of "## Deadline table" (procedures-decree.md) and "## Deadline summary"
    /// (procedures-conventions-poles.md).
    const DECREE_ROWS: usize = 65;
    const CONVENTION_ROWS: usize = 23;
}
