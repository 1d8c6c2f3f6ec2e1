//! The checker that catches administrators' mistakes before anything runs. Each submodule
//! checks one family of mistakes; codes are stable and listed in `docs/diagnostics.md`.

mod administration;
mod children;
mod dataflow;
mod delays;
mod names;
mod notices;
mod persist;
mod posted;
mod schedules;
mod states;
mod types;

#[cfg(test)]
mod tests;

use std::cell::{Cell, OnceCell};
use std::collections::{BTreeSet, HashMap};

use super::load::{Catalog, WorkflowFile};
use super::model::{Variable, Workflow};
use super::{Diagnostic, Pos};

pub use dataflow::definitely_set;
pub use states::reachable;

/// The built-in date variable: the day the case started. Always set.
pub const STARTED_ON: &str = "started_on";

/// Every problem of `file`, sorted by position. Never panics: the model is walked as written,
/// and each check tolerates what other checks report (unknown names, missing states). A
/// workflow over a limit (`definition::limits`) gets only those diagnostics: the other checks
/// are not run on it.
pub fn validate(file: &WorkflowFile, catalog: &Catalog) -> Vec<Diagnostic> {
    run(file, catalog, None)
}

/// `validate`, with the workflow's template files given by name (`<name>.<part>.hbs`) instead
/// of looked for next to the file: a deployment holds them in memory.
pub fn validate_with_templates(
    file: &WorkflowFile,
    catalog: &Catalog,
    templates: &BTreeSet<String>,
) -> Vec<Diagnostic> {
    run(file, catalog, Some(templates))
}

fn run(
    file: &WorkflowFile,
    catalog: &Catalog,
    templates: Option<&BTreeSet<String>>,
) -> Vec<Diagnostic> {
    let over = super::limits::check(&file.workflow);
    if !over.is_empty() {
        return over;
    }
    let mut c = Checker {
        file,
        wf: &file.workflow,
        catalog,
        templates,
        out: Vec::new(),
        keys: OnceCell::new(),
        suggestions: Cell::new(SUGGESTION_BUDGET),
    };
    names::check(&mut c);
    types::check(&mut c);
    states::check(&mut c);
    dataflow::check(&mut c);
    delays::check(&mut c);
    posted::check(&mut c);
    persist::check(&mut c);
    notices::check(&mut c);
    children::check(&mut c);
    schedules::check(&mut c);
    administration::check(&mut c);
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
    /// The template files, when given rather than looked for on disk.
    templates: Option<&'a BTreeSet<String>>,
    out: Vec<Diagnostic>,
    /// Where map keys are written, indexed on first use: a search of the text per key made
    /// validation grow with the square of the workflow's size.
    keys: OnceCell<KeyIndex<'a>>,
    /// Candidates `suggest` may still compare: each unknown name is compared with every
    /// declared one, so thousands of wrong names among thousands of states would be quadratic.
    suggestions: Cell<usize>,
}

/// How many name comparisons the "did you mean" hints of one file may make in all.
const SUGGESTION_BUDGET: usize = 1_000_000;

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

    /// Whether the template file `templates/<file>` exists.
    fn has_template(&self, file: &str) -> bool {
        match self.templates {
            Some(names) => names.contains(file),
            None => self.file.dir().join("templates").join(file).is_file(),
        }
    }

    fn keys(&self) -> &KeyIndex<'a> {
        self.keys.get_or_init(|| KeyIndex::new(&self.file.text))
    }

    /// The position of a map key, found in the text: the nearest line at or before `near`
    /// that starts with `key:`. Map keys carry no position of their own in the model.
    fn key_pos(&self, key: &str, near: Pos) -> Pos {
        self.keys().key_pos(key, near)
    }

    /// The position of `key` inside the top-level mapping `section` (`roles`, `variables`).
    fn section_key_pos(&self, section: &str, key: &str) -> Option<Pos> {
        self.keys().section_key_pos(section, key)
    }

    /// `suggest` within the file's budget of comparisons; past it, no suggestion.
    fn suggest(&self, name: &str, candidates: &[&str]) -> Option<String> {
        let left = self.suggestions.get();
        if candidates.len() > left {
            self.suggestions.set(0);
            return None;
        }
        self.suggestions.set(left - candidates.len());
        suggest(name, candidates)
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
        let hint = self.suggest(name, &candidates).unwrap_or_else(|| {
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

/// Every line that starts with a map key (`key:`, `- key:`, `"key":`), by key, read once.
struct KeyIndex<'t> {
    lines: Vec<&'t str>,
    /// Key → the 0-based numbers of the lines it starts, ascending.
    starts: HashMap<&'t str, Vec<usize>>,
    /// (top-level section, key) → where the key is first written inside the section.
    in_section: HashMap<(&'t str, &'t str), Pos>,
    /// Sections written in flow style (`roles: { a: A }`): their keys point at the section.
    flow_sections: HashMap<&'t str, Pos>,
}

impl<'t> KeyIndex<'t> {
    fn new(text: &'t str) -> Self {
        let mut index = KeyIndex {
            lines: text.lines().collect(),
            starts: HashMap::new(),
            in_section: HashMap::new(),
            flow_sections: HashMap::new(),
        };
        let mut section: Option<&str> = None;
        for (i, line) in index.lines.iter().enumerate() {
            let trimmed = without_properties(line.trim_start().trim_start_matches("- "));
            if let Some(key) = leading_key(trimmed) {
                index.starts.entry(key).or_default().push(i);
            }
            let at = |column: usize| Pos {
                line: (i + 1) as u32,
                column: column as u32,
            };
            if !line.starts_with([' ', '\t', '#']) && !line.is_empty() {
                section = line.split_once(':').map(|(name, _)| name);
                if let Some(name) = section
                    && line.trim_end() != format!("{name}:")
                {
                    index.flow_sections.entry(name).or_insert(at(1));
                }
                continue;
            }
            if let Some(name) = section {
                let trimmed = without_properties(line.trim_start());
                if let Some(key) = leading_key(trimmed) {
                    let column = line.len() - trimmed.len() + 1;
                    index.in_section.entry((name, key)).or_insert(at(column));
                }
            }
        }
        index
    }

    /// See `Checker::key_pos`: the last line before `near` (or of the text, when `near` is
    /// unknown) that starts with `key:`; `near` itself when there is none.
    fn key_pos(&self, key: &str, near: Pos) -> Pos {
        let end = if near.line == 0 {
            self.lines.len()
        } else {
            (near.line as usize).min(self.lines.len())
        };
        let Some(lines) = self.starts.get(key) else {
            return near;
        };
        let before = lines.partition_point(|&i| i < end);
        let Some(&i) = before.checked_sub(1).and_then(|b| lines.get(b)) else {
            return near;
        };
        let line = self.lines[i];
        let trimmed = without_properties(line.trim_start().trim_start_matches("- "));
        Pos {
            line: (i + 1) as u32,
            column: (line.len() - trimmed.len() + 1) as u32,
        }
    }

    fn section_key_pos(&self, section: &str, key: &str) -> Option<Pos> {
        self.flow_sections
            .get(section)
            .or_else(|| self.in_section.get(&(section, key)))
            .copied()
    }
}

/// A key may carry YAML node properties before it, an anchor (`&a key:`) or a tag
/// (`!!str key:`): the key starts after them.
fn without_properties(mut trimmed: &str) -> &str {
    while trimmed.starts_with(['&', '!']) {
        match trimmed.split_once(char::is_whitespace) {
            Some((_, rest)) => trimmed = rest.trim_start(),
            None => break,
        }
    }
    trimmed
}

/// The key a (trimmed) line starts with: `key:`, `"key":` or `'key':`. As in YAML, a plain key
/// ends at the first colon followed by a space or the end of the line (`a:b` is one word), and
/// spaces before that colon are not part of it.
fn leading_key(trimmed: &str) -> Option<&str> {
    for quote in ['"', '\''] {
        if let Some(rest) = trimmed.strip_prefix(quote) {
            let (key, after) = rest.split_once(quote)?;
            return after.trim_start().starts_with(':').then_some(key);
        }
    }
    let end = trimmed.match_indices(':').map(|(i, _)| i).find(|&i| {
        trimmed[i + 1..]
            .chars()
            .next()
            .is_none_or(char::is_whitespace)
    })?;
    Some(trimmed[..end].trim_end())
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

/// How many names `listed` writes: a hint that listed thousands of states for each mistake
/// would make the report grow with the square of the workflow.
const LISTED_AT_MOST: usize = 20;

/// `a`, `b`, `c` for messages and hints (the first `LISTED_AT_MOST`, then how many more).
pub fn listed<'s>(names: impl IntoIterator<Item = &'s str>) -> String {
    let mut names = names.into_iter();
    let shown: Vec<String> = names
        .by_ref()
        .take(LISTED_AT_MOST)
        .map(|n| format!("`{n}`"))
        .collect();
    let more = names.count();
    if shown.is_empty() {
        "none".to_string()
    } else if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}
