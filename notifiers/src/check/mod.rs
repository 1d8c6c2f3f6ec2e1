//! The static check of a workflow's templates, for `jalon validate` and for deployment: every
//! template parses, nests at most `render::MAX_DEPTH` deep (deeper could exhaust the stack that
//! renders it), uses no partial (a partial can include itself), escapes every value in HTML,
//! and every path it reads can exist in the notice context (a declared
//! variable under `vars`, a known key elsewhere). Diagnostics use the validator's type, with
//! the template file's line and column; codes are listed in `docs/diagnostics.md`.
//!
//! Paths inside `{{#each}}` and `{{#with}}` are relative to another object and are not checked
//! (no shipped template uses them); `{{deadline.long}}` in a notice without a deadline is
//! allowed (use `{{#if deadline}}` around it when the notice can be sent either way).

use std::collections::BTreeMap;
use std::path::PathBuf;

use engine::definition::validate::{STARTED_ON, listed, suggest};
use engine::definition::{Diagnostic, Pos, Workflow, WorkflowFile};
use handlebars::template::{HelperTemplate, Parameter, TemplateElement};
use handlebars::{Path as HbPath, Template};

use crate::context::KNOWN_KEYS;
use crate::render::{self, BUILTIN_HELPERS, HELPERS, LoadError, MAX_DEPTH, Part};

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;

/// The diagnostics of every `templates/*.hbs` file next to the workflow file, by file path
/// (files without findings are left out). No `templates/` folder: nothing to report here
/// (`missing-template` reports the templates the workflow uses).
pub fn check_workflow_templates(file: &WorkflowFile) -> Vec<(PathBuf, Vec<Diagnostic>)> {
    let dir = file.dir().join("templates");
    if !dir.is_dir() {
        return Vec::new();
    }
    let sources = match render::read_sources(&dir) {
        Ok(s) => s,
        Err(e) => {
            let d = Diagnostic::error("template-syntax", Pos { line: 1, column: 1 }, e.to_string());
            return vec![(dir, vec![d])];
        }
    };
    let mut by_file: BTreeMap<String, Vec<Diagnostic>> = BTreeMap::new();
    for (name, d) in check_sources(&file.workflow, &sources) {
        by_file.entry(name).or_default().push(d);
    }
    by_file
        .into_iter()
        .map(|(name, ds)| (dir.join(name), ds))
        .collect()
}

/// The diagnostics of templates given as file name → text (what the server deploys), each
/// with the file name it is about, sorted by file then position.
pub fn check_sources(
    wf: &Workflow,
    sources: &BTreeMap<String, String>,
) -> Vec<(String, Diagnostic)> {
    let mut variables: Vec<&str> = wf.variables.keys().map(String::as_str).collect();
    variables.push(STARTED_ON);
    let enums: Vec<&str> = wf
        .variables
        .iter()
        .filter(|(_, v)| v.ty == engine::definition::VarType::Enum)
        .map(|(k, _)| k.as_str())
        .collect();
    let documents: Vec<&str> = wf
        .variables
        .iter()
        .filter(|(_, v)| v.ty == engine::definition::VarType::Document)
        .map(|(k, _)| k.as_str())
        .collect();
    let mut out = Vec::new();
    for (file, text) in sources {
        let mut found = Vec::new();
        if render::parse_file_name(file).is_none() {
            found.push(
                Diagnostic::error(
                    "template-file-name",
                    Pos { line: 1, column: 1 },
                    format!("`{file}` is not a template file name"),
                )
                .with_hint(
                    "name it `<name>.subject.hbs`, `<name>.text.hbs` or `<name>.html.hbs`, with \
                     lowercase letters, digits and dashes",
                ),
            );
        }
        match render::compile(file, text) {
            Ok(template) => {
                let mut walk = Walk {
                    variables: &variables,
                    enums: &enums,
                    documents: &documents,
                    html: render::parse_file_name(file).is_some_and(|(_, p)| p == Part::Html),
                    out: &mut found,
                };
                walk.template(&template, false);
            }
            Err(LoadError::TooDeep { line, column, .. }) => found.push(
                Diagnostic::error(
                    "template-too-deep",
                    pos(line, column),
                    format!(
                        "blocks, `else if` links and sub-expressions nest more than {MAX_DEPTH} \
                         deep here"
                    ),
                )
                .with_hint("split the text into fewer nested `{{#if}}`/`{{#each}}` blocks"),
            ),
            Err(LoadError::Syntax {
                line,
                column,
                message,
                ..
            }) => found.push(
                Diagnostic::error("template-syntax", pos(line, column), message).with_hint(
                    "check that every `{{` is closed and every block `{{#x}}` has its `{{/x}}`",
                ),
            ),
            Err(e) => found.push(Diagnostic::error(
                "template-syntax",
                Pos { line: 1, column: 1 },
                e.to_string(),
            )),
        }
        found.sort_by(|a, b| (a.pos, &a.message).cmp(&(b.pos, &b.message)));
        found.dedup();
        out.extend(found.into_iter().map(|d| (file.clone(), d)));
    }
    out
}

fn pos(line: usize, column: usize) -> Pos {
    Pos {
        line: line.try_into().unwrap_or(u32::MAX),
        column: column.try_into().unwrap_or(u32::MAX),
    }
}

struct Walk<'a> {
    variables: &'a [&'a str],
    /// The `enum` variables, whose French labels are under `labels`.
    enums: &'a [&'a str],
    /// The `document` variables, whose download links are under `documents`.
    documents: &'a [&'a str],
    /// An `.html.hbs` file: every value must be escaped.
    html: bool,
    out: &'a mut Vec<Diagnostic>,
}

fn is_helper(name: &str) -> bool {
    HELPERS.contains(&name) || BUILTIN_HELPERS.contains(&name)
}

impl Walk<'_> {
    /// `scoped`: inside `each`/`with`, where plain paths are relative to another object.
    fn template(&mut self, t: &Template, scoped: bool) {
        for (i, element) in t.elements.iter().enumerate() {
            let at = t
                .mapping
                .get(i)
                .map_or(Pos { line: 1, column: 1 }, |m| pos(m.0, m.1));
            match element {
                TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
                TemplateElement::Expression(h) => self.helper(h, at, scoped),
                TemplateElement::HtmlExpression(h) => {
                    if self.html {
                        self.out.push(
                            Diagnostic::error(
                                "template-raw-html",
                                at,
                                "`{{{...}}}` and `{{&...}}` would put a value in the HTML \
                                 unescaped (a case input could carry a `<script>`)",
                            )
                            .with_hint("write `{{...}}`: the value is escaped"),
                        );
                    }
                    self.helper(h, at, scoped)
                }
                TemplateElement::HelperBlock(h) => self.helper(h, at, scoped),
                TemplateElement::DecoratorExpression(_)
                | TemplateElement::DecoratorBlock(_)
                | TemplateElement::PartialExpression(_)
                | TemplateElement::PartialBlock(_) => self.out.push(
                    Diagnostic::error(
                        "template-syntax",
                        at,
                        "partials and decorators are not available in notice templates",
                    )
                    .with_hint("write the text in the template itself"),
                ),
                // Newer handlebars elements: nothing known to check.
                _ => {}
            }
        }
    }

    fn helper(&mut self, h: &HelperTemplate, at: Pos, scoped: bool) {
        let name = match &h.name {
            Parameter::Name(n) => Some(n.as_str()),
            Parameter::Path(p) => Some(raw(p)),
            Parameter::Literal(_) => None,
            Parameter::Subexpression(s) => {
                self.subexpression(&s.element, at, scoped);
                None
            }
            _ => None,
        };
        let called = h.block || !h.params.is_empty() || !h.hash.is_empty();
        match name {
            Some(n) if called && !is_helper(n) => self.out.push(
                Diagnostic::error(
                    "template-unknown-helper",
                    at,
                    format!("`{n}` is not a helper notice templates can call"),
                )
                .with_hint(
                    suggest(n, &all_helpers())
                        .unwrap_or_else(|| format!("helpers: {}", listed(all_helpers()))),
                ),
            ),
            Some(n) if !called && !is_helper(n) => self.path(n, at, scoped),
            _ => {}
        }
        for p in h.params.iter().chain(h.hash.values()) {
            self.parameter(p, at, scoped);
        }
        let inner = scoped || matches!(name, Some("each" | "with"));
        if let Some(t) = &h.template {
            self.template(t, inner);
        }
        if let Some(t) = &h.inverse {
            self.template(t, scoped);
        }
    }

    fn parameter(&mut self, p: &Parameter, at: Pos, scoped: bool) {
        match p {
            Parameter::Path(path) => self.path(raw(path), at, scoped),
            Parameter::Name(n) => self.path(n, at, scoped),
            Parameter::Subexpression(s) => self.subexpression(&s.element, at, scoped),
            _ => {}
        }
    }

    fn subexpression(&mut self, e: &TemplateElement, at: Pos, scoped: bool) {
        if let TemplateElement::Expression(h) = e {
            self.helper(h, at, scoped);
        }
    }

    /// Checks `vars.x`, `deadline.long`, `@root.case.key`... against the context's shape.
    fn path(&mut self, raw: &str, at: Pos, scoped: bool) {
        let (absolute, rest) = match raw
            .strip_prefix("@root.")
            .or_else(|| raw.strip_prefix("@root/"))
        {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        if rest.starts_with('@') || rest.starts_with("../") || (scoped && !absolute) {
            return;
        }
        let rest = ["this.", "this/", "./"]
            .iter()
            .find_map(|p| rest.strip_prefix(p))
            .unwrap_or(rest);
        if rest.is_empty() || rest == "this" {
            return;
        }
        let segments: Vec<&str> = rest
            .split(['.', '/'])
            .map(|s| s.trim_start_matches('[').trim_end_matches(']'))
            .collect();
        let top = segments[0];
        let Some((_, keys)) = KNOWN_KEYS.iter().find(|(k, _)| *k == top) else {
            let tops: Vec<&str> = KNOWN_KEYS.iter().map(|(k, _)| *k).collect();
            self.unknown(
                raw,
                at,
                format!("the notice context has no `{top}`"),
                suggest(top, &tops).unwrap_or_else(|| format!("the context has {}", listed(tops))),
            );
            return;
        };
        let Some(key) = segments.get(1) else {
            return;
        };
        let known: &[&str] = match top {
            "vars" => self.variables,
            "labels" => self.enums,
            "documents" => self.documents,
            _ => keys,
        };
        if !known.contains(key) {
            let (message, fallback) = if top == "vars" {
                (
                    format!("`{key}` is not a variable of the workflow"),
                    "declare it under `variables:` in workflow.yaml, or fix the name".to_string(),
                )
            } else if top == "labels" {
                (
                    format!("`{key}` is not an `enum` variable of the workflow"),
                    "`labels` gives the French label of an enum variable's value; use `vars` for the others".to_string(),
                )
            } else if top == "documents" {
                (
                    format!("`{key}` is not a `document` variable of the workflow"),
                    "`documents` gives the download link of a document variable's document"
                        .to_string(),
                )
            } else {
                (
                    format!("`{top}` has no `{key}`"),
                    format!("`{top}` has {}", listed(keys.iter().copied())),
                )
            };
            let hint = suggest(key, known).unwrap_or(fallback);
            self.unknown(raw, at, message, hint);
        } else if let Some(extra) = segments.get(2) {
            self.unknown(
                raw,
                at,
                format!("`{top}.{key}` is a single value, it has no `{extra}`"),
                format!("write `{{{{{top}.{key}}}}}`"),
            );
        }
    }

    fn unknown(&mut self, raw: &str, at: Pos, message: String, hint: String) {
        self.out.push(
            Diagnostic::error(
                "template-unknown-variable",
                at,
                format!("`{{{{{raw}}}}}`: {message}"),
            )
            .with_hint(hint),
        );
    }
}

fn raw(p: &HbPath) -> &str {
    match p {
        HbPath::Relative((_, raw)) => raw,
        HbPath::Local((_, _, raw)) => raw,
    }
}

fn all_helpers() -> Vec<&'static str> {
    HELPERS
        .iter()
        .chain(BUILTIN_HELPERS.iter())
        .copied()
        .collect()
}
