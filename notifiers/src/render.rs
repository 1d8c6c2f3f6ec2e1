//! The templates of one workflow, and their rendering against a notice context.
//!
//! A template named `n` is up to three files: `n.subject.hbs` (one line), `n.text.hbs` (the
//! plain-text body) and, optionally, `n.html.hbs`. They are registered under their file names,
//! so every error names the file. Subject and text are rendered without escaping (they are not
//! HTML); the HTML body escapes every `{{value}}`. Strict mode is on in all three: a path that
//! is not in the context is an error with its line and column, never an empty string.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::path::Path;

use chrono::NaiveDate;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderErrorReason, ScopedJson, Template,
};
use serde_json::Value;

/// Which file of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    Subject,
    Text,
    Html,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Subject, Part::Text, Part::Html];

    pub fn as_str(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Text => "text",
            Part::Html => "html",
        }
    }

    /// `<name>.<part>.hbs`
    pub fn file_name(self, name: &str) -> String {
        format!("{name}.{}.hbs", self.as_str())
    }
}

/// Splits `reclamation-recue.text.hbs` into the template name and its part.
pub fn parse_file_name(file: &str) -> Option<(&str, Part)> {
    let stem = file.strip_suffix(".hbs")?;
    let (name, part) = stem.rsplit_once('.')?;
    let part = Part::ALL.into_iter().find(|p| p.as_str() == part)?;
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    plain.then_some((name, part))
}

/// A template file that cannot be used: its name, or its syntax.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error(
        "{file}: not a template file name (expected `<name>.subject.hbs`, `<name>.text.hbs` or `<name>.html.hbs`, with a lowercase name)"
    )]
    FileName { file: String },
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{file}:{line}:{column}: blocks, `else if` links and sub-expressions nest more than {} deep here",
        shape::MAX_DEPTH
    )]
    TooDeep {
        file: String,
        line: usize,
        column: usize,
    },
    #[error(
        "{file}:{line}:{column}: partials and decorators are not available in notice templates"
    )]
    Partial {
        file: String,
        line: usize,
        column: usize,
    },
}

/// A template that failed to render, with the position of the failing expression.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RenderError {
    /// The template file, e.g. `reclamation-recue.text.hbs`.
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// What a template produced for one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// One line: line breaks of the subject template are folded into spaces.
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

impl Rendered {
    /// The notice ends with the link to its page (`what` says which, in French): every notice
    /// of a case leads to it, whatever its template says, so that the actor can act on it.
    pub fn with_link(mut self, what: &str, url: &str) -> Rendered {
        if !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        self.text.push_str(&format!("\n{what} : {url}\n"));
        if let Some(html) = &mut self.html {
            let url = handlebars::html_escape(url);
            let what = handlebars::html_escape(what);
            let link = format!("<p><a href=\"{url}\">{what}</a></p>");
            match html.rfind("</body>") {
                Some(at) => html.insert_str(at, &link),
                None => html.push_str(&link),
            }
        }
        self
    }
}

/// The templates of one workflow, compiled once and rendered many times.
pub struct TemplateSet {
    /// Subject and text: nothing is escaped.
    plain: Handlebars<'static>,
    html: Handlebars<'static>,
    /// Template name → which parts it has.
    parts: BTreeMap<String, BTreeSet<Part>>,
}

impl fmt::Debug for TemplateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateSet")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl TemplateSet {
    /// Every `*.hbs` file of `dir` (e.g. `workflows/<id>/templates`). Other files are ignored.
    pub fn load_dir(dir: &Path) -> Result<TemplateSet, LoadError> {
        TemplateSet::from_sources(read_sources(dir)?)
    }

    /// File name (`<name>.<part>.hbs`) → template text, as the server keeps deployed
    /// templates. A name may lack a part; rendering it then fails (the validator's
    /// `missing-template` catches that for the templates a workflow uses).
    pub fn from_sources(sources: BTreeMap<String, String>) -> Result<TemplateSet, LoadError> {
        let mut plain = registry();
        plain.register_escape_fn(handlebars::no_escape);
        let mut html = registry();
        html.register_escape_fn(handlebars::html_escape);
        let mut parts: BTreeMap<String, BTreeSet<Part>> = BTreeMap::new();
        for (file, text) in sources {
            let Some((name, part)) = parse_file_name(&file) else {
                return Err(LoadError::FileName { file });
            };
            let mut template = compile(&file, &text)?;
            if let Some((shape::Finding::Partial, (line, column))) = shape::first_finding(&template)
            {
                return Err(LoadError::Partial { file, line, column });
            }
            if part == Part::Html {
                shape::escape_everything(&mut template);
            }
            parts.entry(name.to_string()).or_default().insert(part);
            match part {
                Part::Html => html.register_template(&file, template),
                Part::Subject | Part::Text => plain.register_template(&file, template),
            }
        }
        Ok(TemplateSet { plain, html, parts })
    }

    /// Template names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.parts.keys().map(String::as_str)
    }

    pub fn has(&self, name: &str, part: Part) -> bool {
        self.parts.get(name).is_some_and(|p| p.contains(&part))
    }

    /// Renders template `name` against a context built by
    /// [`NoticeContext`](crate::context::NoticeContext).
    pub fn render(&self, name: &str, context: &Value) -> Result<Rendered, RenderError> {
        let ctx = Context::wraps(context).map_err(|e| RenderError {
            file: name.to_string(),
            line: None,
            column: None,
            message: e.to_string(),
        })?;
        let subject = self.part(name, Part::Subject, &ctx)?;
        let text = self.part(name, Part::Text, &ctx)?;
        let html = if self.has(name, Part::Html) {
            Some(self.part(name, Part::Html, &ctx)?)
        } else {
            None
        };
        Ok(Rendered {
            subject: one_line(&subject),
            text,
            html,
        })
    }

    fn part(&self, name: &str, part: Part, ctx: &Context) -> Result<String, RenderError> {
        let file = part.file_name(name);
        if !self.has(name, part) {
            return Err(RenderError {
                message: format!("no template `{file}`"),
                file,
                line: None,
                column: None,
            });
        }
        let registry = match part {
            Part::Html => &self.html,
            Part::Subject | Part::Text => &self.plain,
        };
        // Templates are bounded (`shape`), so nothing here should panic; if a helper or
        // handlebars itself does, the notice fails with the reason instead of the thread.
        let rendered = std::panic::catch_unwind(AssertUnwindSafe(|| {
            registry.render_with_context(&file, ctx)
        }));
        match rendered {
            Ok(r) => r.map_err(|e| RenderError {
                message: e.reason().to_string(),
                line: e.line_no,
                column: e.column_no,
                file,
            }),
            Err(panic) => Err(RenderError {
                message: format!("rendering failed: {}", panic_message(&*panic)),
                file,
                line: None,
                column: None,
            }),
        }
    }
}

/// Reads the `*.hbs` files of `dir` into a file name → text map.
pub fn read_sources(dir: &Path) -> Result<BTreeMap<String, String>, LoadError> {
    let io = |e: std::io::Error, path: &Path| LoadError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(e, dir))? {
        let path = entry.map_err(|e| io(e, dir))?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        if !file.ends_with(".hbs") || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| io(e, &path))?;
        sources.insert(file.to_string(), text);
    }
    Ok(sources)
}

/// Compiles one template file; syntax errors carry the file, line and column. A template
/// nested deeper than [`MAX_DEPTH`] is refused, before the parser when its text shows it.
pub fn compile(file: &str, text: &str) -> Result<Template, LoadError> {
    let too_deep = |(line, column)| LoadError::TooDeep {
        file: file.to_string(),
        line,
        column,
    };
    if let Some(at) = shape::too_deep_in_text(text) {
        return Err(too_deep(at));
    }
    let template = Template::compile_with_name(text, file.to_string()).map_err(|e| {
        let (line, column) = e.pos().unwrap_or((1, 1));
        LoadError::Syntax {
            file: file.to_string(),
            line,
            column,
            message: plain_syntax_message(&e.reason().to_string()),
        }
    })?;
    match shape::first_finding(&template) {
        Some((shape::Finding::TooDeep, at)) => Err(too_deep(at)),
        _ => Ok(template),
    }
}

/// The text of a panic's payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Says in words what the grammar's "expected <rule>, <rule>..." means, for the usual slips.
fn plain_syntax_message(message: &str) -> String {
    let Some(expected) = message.strip_prefix("invalid handlebars syntax: expected ") else {
        return message.to_string();
    };
    let said = if expected.contains("helper_block_end") {
        "a block opened with `{{#...}}` is not closed: `{{/...}}` is missing"
    } else if expected.contains("trailing_tilde_to_omit_whitespace") {
        "`}}` expected: the expression is not closed, or has a stray character"
    } else if expected.contains("identifier") {
        "a name or a path is expected after `{{`"
    } else {
        return message.to_string();
    };
    said.to_string()
}

/// The helpers templates may call, besides handlebars' built-in ones.
pub const HELPERS: [&str; 1] = ["long_date"];

/// Handlebars' built-in helpers (block and inline).
pub(crate) const BUILTIN_HELPERS: [&str; 17] = [
    "if", "unless", "each", "with", "lookup", "raw", "log", "eq", "ne", "gt", "gte", "lt", "lte",
    "and", "or", "not", "len",
];

fn registry() -> Handlebars<'static> {
    let mut r = Handlebars::new();
    r.set_strict_mode(true);
    r.register_helper("long_date", Box::new(LongDate));
    r
}

/// `{{long_date deadline.date}}`: "mardi 5 janvier 2027" from `2027-01-05`.
struct LongDate;

impl HelperDef for LongDate {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, handlebars::RenderError> {
        let param = h
            .param(0)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("long_date", 0))?;
        if param.is_value_missing() {
            let path = param.relative_path().cloned().unwrap_or_default();
            return Err(RenderErrorReason::MissingVariable(Some(path)).into());
        }
        let date = param
            .value()
            .as_str()
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .ok_or_else(|| {
                RenderErrorReason::Other(format!(
                    "long_date expects a date as YYYY-MM-DD, got {}",
                    param.value()
                ))
            })?;
        Ok(ScopedJson::Derived(Value::String(
            engine::calendar::french::long_date(date),
        )))
    }
}

/// A subject is one line of text: line breaks and every other control character (a case
/// variable may hold any) become spaces, and runs of spaces one.
pub fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

mod shape;
pub use shape::MAX_DEPTH;

#[cfg(test)]
mod tests;
