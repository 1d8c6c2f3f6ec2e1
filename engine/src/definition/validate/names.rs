//! Identifiers: their shape, their uniqueness, and references to roles.

use std::collections::HashMap;

use super::{Checker, STARTED_ON, listed};
use crate::definition::{Located, Pos};

pub(super) fn check(c: &mut Checker<'_>) {
    workflow_id(c);
    identifiers(c);
    duplicates(c);
    roles(c);
}

fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
        })
}

/// States, roles, variables, events, timers, tasks and schedules: `snake_case`.
pub(super) fn is_identifier(s: &str) -> bool {
    s.starts_with(|ch: char| ch.is_ascii_lowercase())
        && s.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
}

fn workflow_id(c: &mut Checker<'_>) {
    let id = &c.wf.id;
    if !is_kebab(id) {
        c.error(
            "invalid-workflow-id",
            id.pos,
            format!(
                "workflow id `{}` is not lowercase words joined by dashes",
                id.value
            ),
            "use lowercase letters, digits and dashes, e.g. `recours-evaluation`",
        );
    }
    let path = &c.file.path;
    let expected = if path.file_name().is_some_and(|n| n == "workflow.yaml") {
        path.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .map(|n| (n, "folder"))
    } else {
        path.file_stem()
            .and_then(|n| n.to_str())
            .map(|n| (n, "file"))
    };
    if let Some((name, what)) = expected
        && name != id.value
    {
        c.warning(
            "id-mismatch",
            id.pos,
            format!(
                "workflow id `{}` differs from its {what} name `{name}`",
                id.value
            ),
            "by convention a workflow lives in `workflows/<id>/workflow.yaml`; rename one of them",
        );
    }
    let others = c.catalog.others_with_id(&id.value, path);
    if let Some(other) = others.first() {
        let other = other.display().to_string();
        c.error(
            "duplicate-workflow-id",
            id.pos,
            format!("workflow id `{}` is also used by {other}", id.value),
            "each workflow needs its own id",
        );
    }
}

fn identifiers(c: &mut Checker<'_>) {
    let wf = c.wf;
    let mut named: Vec<(&str, &str, Pos)> = Vec::new();
    for role in wf.roles.keys() {
        named.push((
            "role",
            role,
            c.section_key_pos("roles", role).unwrap_or_default(),
        ));
    }
    for (name, var) in &wf.variables {
        named.push((
            "variable",
            name,
            c.section_key_pos("variables", name).unwrap_or(var.pos),
        ));
    }
    for (id, state) in &wf.states {
        named.push(("state", id, c.key_pos(id, state.pos)));
        for (event, e) in &state.on {
            named.push(("event", event, c.key_pos(event, e.pos)));
        }
        for t in &state.timers {
            named.push(("timer", &t.id, t.id.pos));
        }
        for t in &state.tasks {
            named.push(("task", &t.id, t.id.pos));
        }
    }
    for t in &wf.timers {
        named.push(("timer", &t.id, t.id.pos));
    }
    for s in &wf.schedules {
        named.push(("schedule", &s.id, s.id.pos));
    }
    for (what, name, pos) in named {
        if !is_identifier(name) {
            c.error(
                "invalid-identifier",
                pos,
                format!("{what} id `{name}` is not a lowercase identifier"),
                "use lowercase letters, digits and underscores, starting with a letter",
            );
        }
    }
    if let Some(var) = wf.variables.get(STARTED_ON) {
        let pos = c
            .section_key_pos("variables", STARTED_ON)
            .unwrap_or(var.pos);
        c.error(
            "reserved-variable",
            pos,
            format!("`{STARTED_ON}` is a built-in variable and cannot be declared"),
            "it always holds the date the case started; pick another name",
        );
    }
}

/// Timers, tasks and schedules share one namespace: notices refer to timers and tasks alike.
fn duplicates(c: &mut Checker<'_>) {
    let wf = c.wf;
    let mut ids: Vec<(&str, &Located<String>)> = Vec::new();
    ids.extend(wf.timers.iter().map(|t| ("timer", &t.id)));
    for state in wf.states.values() {
        ids.extend(state.timers.iter().map(|t| ("timer", &t.id)));
        ids.extend(state.tasks.iter().map(|t| ("task", &t.id)));
    }
    ids.extend(wf.schedules.iter().map(|s| ("schedule", &s.id)));
    let mut first: HashMap<&str, (&str, Pos)> = HashMap::new();
    for (what, id) in ids {
        if let Some((first_what, first_pos)) = first.get(id.as_str()).copied() {
            c.error(
                "duplicate-id",
                id.pos,
                format!(
                    "{what} id `{}` is already used by a {first_what} at line {}",
                    id.value, first_pos.line
                ),
                "timer, task and schedule ids must be unique in the workflow",
            );
        } else {
            first.insert(id.as_str(), (what, id.pos));
        }
    }
}

fn roles(c: &mut Checker<'_>) {
    let wf = c.wf;
    let mut uses: Vec<(&str, &Located<String>)> = Vec::new();
    uses.extend(wf.start.by.iter().map(|r| ("start.by", r)));
    for state in wf.states.values() {
        for event in state.on.values() {
            uses.extend(event.by.iter().map(|r| ("event `by`", r)));
        }
        uses.extend(state.tasks.iter().map(|t| ("task `role`", &t.role)));
    }
    for (context, role) in uses {
        if !wf.roles.contains_key(role.as_str()) {
            unknown_role(c, context, role);
        }
    }
    if wf.start.by.is_empty() {
        c.error(
            "impossible-start",
            c.key_pos("start", Pos::default()),
            "no role may start a case: `start.by` is empty".to_string(),
            "list the roles allowed to start a case",
        );
    }
}

pub(super) fn unknown_role(c: &mut Checker<'_>, context: &str, role: &Located<String>) {
    let roles: Vec<&str> = c.wf.roles.keys().map(String::as_str).collect();
    let hint = c
        .suggest(role, &roles)
        .unwrap_or_else(|| format!("declared roles: {}", listed(roles.iter().copied())));
    c.error(
        "unknown-role",
        role.pos,
        format!(
            "{context} names `{}`, which is not a declared role",
            role.value
        ),
        hint,
    );
}
