//! What one workflow may contain. A deployment arrives over HTTP: without bounds one request
//! could hold the server's threads for minutes. The bounds are far above what a procedure
//! needs (the largest shipped one has 23 KB, 31 states) and are checked before any other check,
//! so that an oversized text costs a parse, never the static checks. Listed in
//! `docs/diagnostics.md` (code `limit-exceeded`); the API answers 422 `limit_exceeded` with the
//! limit's name, its maximum and the value found.

use serde::Serialize;

use super::model::{Condition, Notice, Test, Workflow};
use super::{Diagnostic, Located, Pos};

/// Bytes of the workflow's YAML text.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;
/// Nesting of YAML collections (the language itself needs about ten).
pub const MAX_YAML_DEPTH: usize = 32;
/// YAML nodes (scalars, sequences, mappings), aliases expanded.
pub const MAX_YAML_NODES: usize = 250_000;
pub const MAX_STATES: usize = 5_000;
/// Events of all states together.
pub const MAX_EVENTS: usize = 20_000;
pub const MAX_VARIABLES: usize = 1_000;
pub const MAX_ROLES: usize = 1_000;
/// Case timers and state timers together.
pub const MAX_TIMERS: usize = 10_000;
pub const MAX_TASKS: usize = 10_000;
/// `notify` entries everywhere (start, states, events, timers, reminders).
pub const MAX_NOTICES: usize = 20_000;
pub const MAX_SCHEDULES: usize = 100;
/// Branches of one `choose`.
pub const MAX_BRANCHES: usize = 100;
/// Variables tested by one `when`.
pub const MAX_CONDITION_TESTS: usize = 100;
/// Values of one `one_of` list, or of one `enum` variable.
pub const MAX_VALUES: usize = 1_000;

/// Every limit by its name, as `docs/diagnostics.md` lists them (a test keeps them in sync).
pub const ALL: [(&str, usize); 15] = [
    ("source_bytes", MAX_SOURCE_BYTES),
    ("yaml_depth", MAX_YAML_DEPTH),
    ("yaml_nodes", MAX_YAML_NODES),
    ("states", MAX_STATES),
    ("events", MAX_EVENTS),
    ("variables", MAX_VARIABLES),
    ("roles", MAX_ROLES),
    ("timers", MAX_TIMERS),
    ("tasks", MAX_TASKS),
    ("notices", MAX_NOTICES),
    ("schedules", MAX_SCHEDULES),
    ("branches", MAX_BRANCHES),
    ("condition_tests", MAX_CONDITION_TESTS),
    ("enum_values", MAX_VALUES),
    ("one_of_values", MAX_VALUES),
];

/// A limit a workflow goes over: its stable name, its maximum and the value found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Exceeded {
    pub limit: &'static str,
    pub max: u64,
    pub value: u64,
}

impl Exceeded {
    fn new(limit: &'static str, max: usize, value: usize) -> Self {
        debug_assert!(ALL.contains(&(limit, max)), "{limit} is listed in ALL");
        Exceeded {
            limit,
            max: max as u64,
            value: value as u64,
        }
    }

    /// The `limit-exceeded` diagnostic, at `pos` (where the first item over the limit is).
    pub fn diagnostic(self, pos: Pos) -> Diagnostic {
        let mut d = Diagnostic::error(
            "limit-exceeded",
            pos,
            format!(
                "the workflow goes over the limit `{}`: {} where at most {} are allowed",
                self.limit, self.value, self.max
            ),
        )
        .with_hint(
            "split the procedure into workflows that start one another (`start_case`); \
             the limits are listed in docs/diagnostics.md",
        );
        d.exceeded = Some(Box::new(self));
        d
    }
}

/// The text is too long to be parsed at all.
pub fn check_text(text: &str) -> Option<Diagnostic> {
    (text.len() > MAX_SOURCE_BYTES).then(|| {
        Exceeded::new("source_bytes", MAX_SOURCE_BYTES, text.len())
            .diagnostic(Pos { line: 1, column: 1 })
    })
}

/// The parser's budget, from the limits above (its other bounds keep their defaults).
pub(super) fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_YAML_DEPTH;
    budget.max_nodes = MAX_YAML_NODES;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// A parser budget breach as a limit, when it is one of ours.
pub(super) fn yaml_breach(e: &serde_saphyr::Error, pos: Pos) -> Option<Diagnostic> {
    use serde_saphyr::budget::BudgetBreach;
    let serde_saphyr::Error::Budget { breach, .. } = e.without_snippet() else {
        return None;
    };
    let exceeded = match breach {
        BudgetBreach::Depth { depth } => Exceeded::new("yaml_depth", MAX_YAML_DEPTH, *depth),
        BudgetBreach::Nodes { nodes } => Exceeded::new("yaml_nodes", MAX_YAML_NODES, *nodes),
        _ => return None,
    };
    Some(exceeded.diagnostic(pos))
}

/// Every count of the workflow that goes over its limit, each at the first item past it.
pub fn check(wf: &Workflow) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut count = |limit: &'static str, max: usize, items: Vec<Pos>| {
        if items.len() > max {
            out.push(Exceeded::new(limit, max, items.len()).diagnostic(items[max]));
        }
    };
    let id = wf.id.pos;
    count(
        "states",
        MAX_STATES,
        wf.states.values().map(|s| s.pos).collect(),
    );
    let events = wf.states.values().flat_map(|s| s.on.values());
    count(
        "events",
        MAX_EVENTS,
        events.clone().map(|e| e.pos).collect(),
    );
    count(
        "variables",
        MAX_VARIABLES,
        wf.variables.values().map(|v| v.pos).collect(),
    );
    count("roles", MAX_ROLES, vec![id; wf.roles.len()]);
    let state_timers = wf.states.values().flat_map(|s| &s.timers);
    let timers: Vec<_> = wf.timers.iter().chain(state_timers).collect();
    count("timers", MAX_TIMERS, timers.iter().map(|t| t.pos).collect());
    let tasks = wf.states.values().flat_map(|s| &s.tasks);
    count("tasks", MAX_TASKS, tasks.clone().map(|t| t.pos).collect());
    count(
        "schedules",
        MAX_SCHEDULES,
        wf.schedules.iter().map(|s| s.pos).collect(),
    );
    let mut notices: Vec<&Located<Notice>> = wf.start.notify.iter().collect();
    for t in &timers {
        notices.extend(&t.notify);
        notices.extend(t.reminders.iter().flat_map(|r| &r.notify));
    }
    for s in wf.states.values() {
        notices.extend(&s.notify);
        notices.extend(s.on.values().flat_map(|e| &e.notify));
    }
    notices.extend(tasks.flat_map(|t| &t.reminders).flat_map(|r| &r.notify));
    count(
        "notices",
        MAX_NOTICES,
        notices.iter().map(|n| n.pos).collect(),
    );
    for v in wf.variables.values() {
        count("enum_values", MAX_VALUES, vec![v.pos; v.values.len()]);
    }
    for e in events {
        count(
            "branches",
            MAX_BRANCHES,
            e.choose.iter().map(|b| b.pos).collect(),
        );
        let conditions = e
            .when
            .iter()
            .chain(e.choose.iter().filter_map(|b| b.when.as_ref()));
        for cond in conditions {
            condition(cond, &mut count);
        }
    }
    out
}

fn condition(cond: &Located<Condition>, count: &mut impl FnMut(&'static str, usize, Vec<Pos>)) {
    count(
        "condition_tests",
        MAX_CONDITION_TESTS,
        cond.values().map(|t| t.pos).collect(),
    );
    for test in cond.values() {
        if let Test::Operators(ops) = &test.value
            && let Some(values) = &ops.one_of
        {
            count("one_of_values", MAX_VALUES, vec![test.pos; values.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{parse, sample};

    fn limits_of(text: &str) -> Vec<Exceeded> {
        let found = match parse(text) {
            Ok(wf) => check(&wf),
            Err(d) => vec![d],
        };
        found
            .iter()
            .filter_map(|d| d.exceeded.as_deref().copied())
            .collect()
    }

    #[test]
    fn the_documented_limits_are_these() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let doc = std::fs::read_to_string(root.join("docs/diagnostics.md")).unwrap();
        let table = doc.split("\n## Limits").nth(1).expect("a Limits section");
        // The section ends where the next one (the migration mappings' codes) begins.
        let table = table.split("\n## ").next().unwrap_or(table);
        let documented: Vec<(String, usize)> = table
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .map(|l| {
                let (name, rest) = l.split_once('`').unwrap();
                let max = rest.split('|').nth(1).unwrap().trim().replace(',', "");
                (name.to_string(), max.parse().unwrap())
            })
            .collect();
        let code: Vec<(String, usize)> = ALL.iter().map(|(n, m)| (n.to_string(), *m)).collect();
        assert_eq!(documented, code);
    }

    #[test]
    fn a_large_workflow_within_the_limits_passes() {
        assert_eq!(limits_of(&sample::chain(MAX_STATES)), vec![]);
        assert_eq!(limits_of(&sample::many_events(10_000)), vec![]);
    }

    #[test]
    fn each_count_over_its_limit_is_named_with_its_value() {
        assert_eq!(
            limits_of(&sample::chain(MAX_STATES + 1)),
            vec![Exceeded::new("states", MAX_STATES, MAX_STATES + 1)]
        );
        let events = limits_of(&sample::many_events(MAX_EVENTS + 1));
        assert_eq!(
            events,
            vec![Exceeded::new("events", MAX_EVENTS, MAX_EVENTS + 1)]
        );
    }

    #[test]
    fn the_text_and_the_parser_are_bounded() {
        let long = format!("# {}\n", "x".repeat(MAX_SOURCE_BYTES));
        assert_eq!(
            limits_of(&long),
            vec![Exceeded::new("source_bytes", MAX_SOURCE_BYTES, long.len())]
        );
        // An untagged value (a `when` test) is read whole before its type is known.
        let nested = format!("{}1{}", "[".repeat(40), "]".repeat(40));
        let deep = sample::many_events(1).replace("goto: fin", &format!("when: {{ n: {nested} }}"));
        let found = limits_of(&deep);
        assert_eq!(
            found.iter().map(|e| e.limit).collect::<Vec<_>>(),
            ["yaml_depth"],
            "{found:?}"
        );
        let list = format!("[{}1]", "1,".repeat(MAX_YAML_NODES));
        let wide = sample::many_events(1).replace("goto: fin", &format!("when: {{ n: {list} }}"));
        let found = limits_of(&wide);
        assert_eq!(
            found.iter().map(|e| e.limit).collect::<Vec<_>>(),
            ["yaml_nodes"],
            "{found:?}"
        );
    }
}
