//! The checker that catches administrators' mistakes before anything runs. Each submodule
//! checks one family of mistakes; codes are stable and listed in `docs/diagnostics.md`.

mod children;
mod dataflow;
mod delays;
mod names;
mod notices;
mod schedules;
mod states;
mod types;

#[cfg(test)]
mod tests;

use super::load::{Catalog, WorkflowFile};
use super::model::{Variable, Workflow};
use super::{Diagnostic, Pos};

pub use dataflow::definitely_set;
pub use states::reachable;

/// The built-in date variable: the day the case started. Always set.
pub const STARTED_ON: &str = "started_on";

/// Every problem of `file`, sorted by position. Never panics: the model is walked as written,
/// and each check tolerates what other checks report (unknown names, missing states).
pub fn validate(file: &WorkflowFile, catalog: &Catalog) -> Vec<Diagnostic> {
    let mut c = Checker {
        file,
        wf: &file.workflow,
        catalog,
        out: Vec::new(),
    };
    names::check(&mut c);
    types::check(&mut c);
    states::check(&mut c);
    dataflow::check(&mut c);
    delays::check(&mut c);
    notices::check(&mut c);
    children::check(&mut c);
    schedules::check(&mut c);
    let mut out = c.out;
    out.sort_by(|a, b| {
        (a.pos, a.severity, a.code, &a.message).cmp(&(b.pos, b.severity, b.code, &b.message))
    });
    out.dedup();
    out
}

/// What every check reads, and where it writes.
struct Checker<'a> {
    file: &'a WorkflowFile,
    wf: &'a Workflow,
    catalog: &'a Catalog,
    out: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }

    fn error(&mut self, code: &'static str, pos: Pos, message: String, hint: impl Into<String>) {
        self.push(Diagnostic::error(code, pos, message).with_hint(hint));
    }

    fn warning(&mut self, code: &'static str, pos: Pos, message: String, hint: impl Into<String>) {
        self.push(Diagnostic::warning(code, pos, message).with_hint(hint));
    }

    fn variable(&self, name: &str) -> Option<&'a Variable> {
        self.wf.variables.get(name).map(|v| &v.value)
    }

    fn is_variable(&self, name: &str) -> bool {
        name == STARTED_ON || self.wf.variables.contains_key(name)
    }

    /// The position of a map key, found in the text: the nearest line at or before `near`
    /// that starts with `key:`. Map keys carry no position of their own in the model.
    fn key_pos(&self, key: &str, near: Pos) -> Pos {
        key_pos(&self.file.text, key, near)
    }

    /// The position of `key` inside the top-level mapping `section` (`roles`, `variables`).
    fn section_key_pos(&self, section: &str, key: &str) -> Option<Pos> {
        let header = format!("{section}:");
        let text = &self.file.text;
        let mut inside = false;
        for (i, line) in text.lines().enumerate() {
            if !line.starts_with([' ', '\t', '#']) && !line.is_empty() {
                inside = line.starts_with(&header);
                if inside && line.trim_end() != header {
                    // Flow style `roles: { a: A }`: point at the section.
                    return Some(Pos {
                        line: (i + 1) as u32,
                        column: 1,
                    });
                }
                continue;
            }
            if inside {
                let trimmed = line.trim_start();
                if trimmed.starts_with(&format!("{key}:")) {
                    return Some(Pos {
                        line: (i + 1) as u32,
                        column: (line.len() - trimmed.len() + 1) as u32,
                    });
                }
            }
        }
        None
    }

    /// "unknown variable `x`" with a did-you-mean among the declared variables.
    fn unknown_variable(&mut self, name: &str, pos: Pos, context: &str) {
        let candidates: Vec<&str> = self
            .wf
            .variables
            .keys()
            .map(String::as_str)
            .chain([STARTED_ON])
            .collect();
        let hint = suggest(name, &candidates).unwrap_or_else(|| {
            "declare it under `variables:` with its type, or fix the name".to_string()
        });
        self.error(
            "unknown-variable",
            pos,
            format!("{context} names `{name}`, which is not a declared variable"),
            hint,
        );
    }
}

/// See `Checker::key_pos`. Searches backwards from `near` (or from the end when unknown).
fn key_pos(text: &str, key: &str, near: Pos) -> Pos {
    let lines: Vec<&str> = text.lines().collect();
    let last = if near.line == 0 {
        lines.len()
    } else {
        (near.line as usize).min(lines.len())
    };
    let plain = format!("{key}:");
    let quoted = [format!("\"{key}\":"), format!("'{key}':")];
    for i in (0..last).rev() {
        let line = lines[i];
        let trimmed = line.trim_start().trim_start_matches("- ");
        if trimmed.starts_with(&plain) || quoted.iter().any(|q| trimmed.starts_with(q.as_str())) {
            let column = line.len() - trimmed.len() + 1;
            return Pos {
                line: (i + 1) as u32,
                column: column as u32,
            };
        }
    }
    near
}

/// Levenshtein distance, on characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// "did you mean `x`?" for the closest candidate, if close enough to be a typo.
pub fn suggest(name: &str, candidates: &[&str]) -> Option<String> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

/// `a`, `b`, `c` for messages and hints.
pub fn listed<'s>(names: impl IntoIterator<Item = &'s str>) -> String {
    let names: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}
