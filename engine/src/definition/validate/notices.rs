//! Notices: recipients, templates on disk, and the deadline they announce.
//!
//! Template files are looked up next to the workflow file (`templates/<name>.subject.hbs` and
//! `templates/<name>.text.hbs`), or among the files a deployment gives; this is the one check
//! that may read the file system.

use std::collections::BTreeSet;

use super::{Checker, listed};
use crate::definition::Located;
use crate::definition::model::{Notice, State, VarType};

/// Where a notice is sent from: which timers and tasks its `deadline` may name.
struct Site<'a> {
    deadlines: Vec<&'a str>,
    place: String,
}

pub(super) fn check(c: &mut Checker<'_>) {
    let wf = c.wf;
    let case_timers: Vec<&str> = wf.timers.iter().map(|t| t.id.as_str()).collect();
    let mut all: Vec<(&Located<Notice>, &Site<'_>)> = Vec::new();
    let start_site = Site {
        deadlines: case_timers.clone(),
        place: "the case".to_string(),
    };
    all.extend(wf.start.notify.iter().map(|n| (n, &start_site)));
    // A correction's notice is sent from wherever the case stands: only case timers are sure.
    let corrections = wf
        .administration
        .iter()
        .filter_map(|a| a.corrections.as_ref())
        .flat_map(|c| &c.notify);
    all.extend(corrections.map(|n| (n, &start_site)));
    for t in &wf.timers {
        all.extend(t.notify.iter().map(|n| (n, &start_site)));
        all.extend(
            t.reminders
                .iter()
                .flat_map(|r| &r.notify)
                .map(|n| (n, &start_site)),
        );
    }
    let site_of = |state, place| site_of(&case_timers, state, place);
    let state_sites: Vec<(&State, Site<'_>)> = wf
        .states
        .iter()
        .map(|(id, state)| (&state.value, site_of(state, format!("state `{id}`"))))
        .collect();
    // An event that moves the case sends its notices once the target state is entered (its
    // timers armed): they announce a deadline of the target (with `choose`, one that every
    // possible target arms), or one of the state just left, as it stood before the move.
    let mut event_sites: Vec<(&Located<Notice>, Site<'_>)> = Vec::new();
    for (id, state) in &wf.states {
        for e in state.on.values() {
            let targets: Vec<&str> = e
                .goto
                .iter()
                .map(|g| g.as_str())
                .chain(e.choose.iter().map(|b| b.goto.as_str()))
                .collect();
            if targets.is_empty() || e.notify.is_empty() {
                continue;
            }
            let mut common: Option<Vec<&str>> = None;
            for t in &targets {
                let Some(target) = wf.states.get(*t) else {
                    continue;
                };
                let here = site_of(target, String::new()).deadlines;
                common = Some(match common {
                    None => here,
                    Some(mut c) => {
                        c.retain(|d| here.contains(d));
                        c
                    }
                });
            }
            let mut deadlines = site_of(state, String::new()).deadlines;
            for d in common.unwrap_or_default() {
                if !deadlines.contains(&d) {
                    deadlines.push(d);
                }
            }
            let place = match targets.as_slice() {
                [one] => format!("state `{id}` or of state `{one}`, where the event leads"),
                many => format!(
                    "state `{id}` or of every state the event may lead to ({})",
                    many.join(", ")
                ),
            };
            for n in &e.notify {
                event_sites.push((
                    n,
                    Site {
                        deadlines: deadlines.clone(),
                        place: place.clone(),
                    },
                ));
            }
        }
    }
    for (state, site) in &state_sites {
        all.extend(state.notify.iter().map(|n| (n, site)));
        for t in &state.timers {
            all.extend(t.notify.iter().map(|n| (n, site)));
            all.extend(
                t.reminders
                    .iter()
                    .flat_map(|r| &r.notify)
                    .map(|n| (n, site)),
            );
        }
        for t in &state.tasks {
            all.extend(
                t.reminders
                    .iter()
                    .flat_map(|r| &r.notify)
                    .map(|n| (n, site)),
            );
        }
        for e in state.on.values() {
            if e.goto.is_none() && e.choose.is_empty() {
                all.extend(e.notify.iter().map(|n| (n, site)));
            }
        }
    }
    all.extend(event_sites.iter().map(|(n, site)| (*n, site)));
    let mut templates_checked = BTreeSet::new();
    for (notice, site) in all {
        recipients(c, notice);
        if templates_checked.insert(notice.template.as_str()) {
            template(c, &notice.template);
        }
        if let Some(deadline) = &notice.deadline
            && !site.deadlines.contains(&deadline.as_str())
        {
            let hint = c.suggest(deadline, &site.deadlines).unwrap_or_else(|| {
                format!(
                    "timers and tasks of {}: {}",
                    site.place,
                    listed(site.deadlines.iter().copied())
                )
            });
            c.error(
                "unknown-deadline",
                deadline.pos,
                format!(
                    "the notice announces the deadline of `{}`, which is not a timer or task of {}",
                    deadline.value, site.place
                ),
                hint,
            );
        }
    }
}

/// The deadlines a notice sent in `state` may announce: the case's timers, the state's timers
/// and tasks.
fn site_of<'a>(case_timers: &[&'a str], state: &'a State, place: String) -> Site<'a> {
    let mut deadlines = case_timers.to_vec();
    deadlines.extend(state.timers.iter().map(|t| t.id.as_str()));
    deadlines.extend(state.tasks.iter().map(|t| t.id.as_str()));
    Site { deadlines, place }
}

fn recipients(c: &mut Checker<'_>, notice: &Notice) {
    if notice.to.is_empty() {
        c.error(
            "unknown-recipient",
            notice.template.pos,
            format!("the notice `{}` has no recipient", notice.template.value),
            "list roles or `email` variables in `to`",
        );
    }
    for to in &notice.to {
        if c.wf.roles.contains_key(to.as_str()) {
            continue;
        }
        match c.variable(to) {
            Some(var) if var.ty == VarType::Email => {}
            Some(var) => c.error(
                "unknown-recipient",
                to.pos,
                format!(
                    "notice recipient `{}` is a {} variable, not an email",
                    to.value,
                    super::types::type_name(var.ty)
                ),
                "send to a role or to a variable of type `email`",
            ),
            None => {
                let mut candidates: Vec<&str> = c.wf.roles.keys().map(String::as_str).collect();
                candidates.extend(
                    c.wf.variables
                        .iter()
                        .filter(|(_, v)| v.ty == VarType::Email)
                        .map(|(k, _)| k.as_str()),
                );
                let hint = c.suggest(to, &candidates).unwrap_or_else(|| {
                    format!(
                        "roles and email variables: {}",
                        listed(candidates.iter().copied())
                    )
                });
                c.error(
                    "unknown-recipient",
                    to.pos,
                    format!(
                        "notice recipient `{}` is neither a role nor an email variable",
                        to.value
                    ),
                    hint,
                );
            }
        }
    }
}

fn template(c: &mut Checker<'_>, name: &Located<String>) {
    let well_formed = !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_');
    if !well_formed {
        c.error(
            "invalid-template-name",
            name.pos,
            format!("template name `{}` is not a plain file name", name.value),
            "use lowercase letters, digits and dashes, e.g. `reclamation-recue`",
        );
        return;
    }
    let missing: Vec<String> = ["subject", "text"]
        .into_iter()
        .map(|part| format!("{}.{part}.hbs", name.value))
        .filter(|f| !c.has_template(f))
        .map(|f| format!("templates/{f}"))
        .collect();
    if !missing.is_empty() {
        c.error(
            "missing-template",
            name.pos,
            format!(
                "template `{}` is missing: no {} next to the workflow file",
                name.value,
                missing.join(" nor ")
            ),
            "write the subject (one line) in `.subject.hbs` and the body in `.text.hbs`",
        );
    }
}
