//! The workflow language: its model, parsing with positions, and diagnostics.

#[cfg(test)]
mod fuzz_tests;
pub mod graph;
pub mod limits;
pub mod load;
mod located;
pub mod model;
pub mod sample;
#[cfg(test)]
mod shipped_tests;
pub mod validate;

use std::fmt;

pub use load::{Catalog, LoadError, WorkflowFile};
pub use located::{Located, Pos};
pub use model::*;
pub use validate::validate;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// A problem found in a workflow file. `code` is stable: tools and documentation refer to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
    /// For `limit-exceeded`: which limit, its maximum and the value found.
    pub exceeded: Option<Box<limits::Exceeded>>,
}

impl Diagnostic {
    pub fn error(code: &'static str, pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            pos,
            message: message.into(),
            hint: None,
            exceeded: None,
        }
    }

    pub fn warning(code: &'static str, pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Self::error(code, pos, message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `file:line:column: error[code]: message`, then `  = hint: …` on a second line.
    pub fn render(&self, file: &str) -> String {
        let mut out = format!("{file}:{}: {self}", self.pos);
        if let Some(hint) = &self.hint {
            out.push_str(&format!("\n  = hint: {hint}"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}[{}]: {}", self.code, self.message)
    }
}

/// The position and one-line message of a serde-saphyr error (its "line N column M: " prefix
/// removed, since the position is printed separately).
pub fn yaml_error(e: &serde_saphyr::Error) -> (Pos, String) {
    let pos = e
        .location()
        .map(|l| Pos {
            line: l.line().try_into().unwrap_or(u32::MAX),
            column: l.column().try_into().unwrap_or(u32::MAX),
        })
        .unwrap_or(Pos { line: 1, column: 1 });
    // The library's own advice ("set DuplicateKeyPolicy in Options") speaks to programmers.
    if let serde_saphyr::Error::DuplicateMappingKey { key, .. } = e.without_snippet() {
        let message = match key {
            Some(key) => format!("the key `{key}` is written twice in the same mapping"),
            None => "a key is written twice in the same mapping".to_string(),
        };
        return (pos, message);
    }
    let full = e.to_string();
    let first = full
        .lines()
        .next()
        .unwrap_or(&full)
        .trim()
        .trim_start_matches("error: ");
    let message = match first.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest.to_string(),
        _ => first.to_string(),
    };
    (pos, message)
}

/// Parses workflow YAML. Syntax errors, unknown keys, wrong types and duplicate keys come back
/// as one diagnostic with the position serde-saphyr reports; a text over the size or nesting
/// limits (`limits`) as `limit-exceeded`.
pub fn parse(text: &str) -> Result<Workflow, Diagnostic> {
    if let Some(d) = limits::check_text(text) {
        return Err(d);
    }
    serde_saphyr::from_str_with_options::<Workflow>(text, limits::yaml_options()).map_err(|e| {
        let (pos, message) = yaml_error(&e);
        if let Some(d) = limits::yaml_breach(&e, pos) {
            return d;
        }
        let hint = if matches!(
            e.without_snippet(),
            serde_saphyr::Error::DuplicateMappingKey { .. }
        ) {
            "keep one of them: YAML mappings cannot repeat a key"
        } else {
            "check the spelling of keys and the type of values against workflows/workflow.schema.json"
        };
        Diagnostic::error("yaml", pos, message).with_hint(hint)
    })
}

/// Reads workflow bytes as text: bytes that are not UTF-8 are an `invalid-encoding` diagnostic at the
/// line and column (in characters) of the first invalid byte, like any other mistake.
pub fn decode(bytes: Vec<u8>) -> Result<String, Diagnostic> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let valid = std::str::from_utf8(valid).unwrap_or_default();
        let line = valid.matches('\n').count() + 1;
        let column = valid.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        let byte = e.as_bytes()[e.utf8_error().valid_up_to()];
        Diagnostic::error(
            "invalid-encoding",
            Pos {
                line: line.try_into().unwrap_or(u32::MAX),
                column: column.try_into().unwrap_or(u32::MAX),
            },
            format!(
                "the file is not UTF-8 text: byte 0x{byte:02x} cannot start or continue a character"
            ),
        )
        .with_hint("save the file as UTF-8 (editors offer it under \"encoding\")")
    })
}

/// The JSON Schema of the language, as checked in at `workflows/workflow.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Workflow);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_byte_that_is_not_utf8_is_placed_in_characters() {
        let d = decode(b"id: a\ntitle: \xc3\xa9t\xe9\n".to_vec()).unwrap_err();
        assert_eq!(
            (d.code, d.pos),
            (
                "invalid-encoding",
                Pos {
                    line: 2,
                    column: 10
                }
            )
        );
        assert_eq!(decode(b"id: a\n".to_vec()).unwrap(), "id: a\n");
    }

    #[test]
    fn a_duplicate_key_is_named_without_the_library_s_advice() {
        let d = parse("id: a\nid: b\n").unwrap_err();
        assert_eq!(
            (d.code, d.pos.line, d.message.as_str()),
            (
                "yaml",
                2,
                "the key `id` is written twice in the same mapping"
            )
        );
    }
}
