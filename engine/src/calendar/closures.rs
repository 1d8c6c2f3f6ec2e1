//! Extra closure days, read from a YAML file written by an administrator.
//!
//! ```yaml
//! closures:
//!   - date: 2027-05-07
//!     label: Pont de l'Ascension
//! ```
//!
//! A closure is only ever what the file says: a date that is already not a working day
//! (weekend, statutory holiday) or appears twice is refused, so that the file stays an exact
//! record of the days the administration added.

use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClosureFile {
    #[serde(default)]
    closures: Vec<ClosureEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClosureEntry {
    date: Spanned<NaiveDate>,
    label: String,
}

/// One extra non-working day, with where it was declared (for error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closure {
    pub date: NaiveDate,
    pub label: String,
    pub line: u64,
    pub column: u64,
}

/// A closure file that cannot be used, with `file:line:column` in its message.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ClosureError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// Parses closure days from YAML text; `file` names the source in errors.
pub fn parse_closures(file: &str, text: &str) -> Result<Vec<Closure>, ClosureError> {
    let parsed: ClosureFile = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        ClosureError {
            file: file.to_string(),
            line,
            column,
            message: first_line(&e.to_string()),
        }
    })?;
    let mut out = Vec::with_capacity(parsed.closures.len());
    for entry in parsed.closures {
        if entry.label.trim().is_empty() {
            return Err(ClosureError {
                file: file.to_string(),
                line: entry.date.referenced.line(),
                column: entry.date.referenced.column(),
                message: "closure day without a label: say why the administration is closed"
                    .to_string(),
            });
        }
        out.push(Closure {
            date: entry.date.value,
            label: entry.label,
            line: entry.date.referenced.line(),
            column: entry.date.referenced.column(),
        });
    }
    Ok(out)
}

/// Reads and parses a closure file.
pub fn load_closures(path: &Path) -> Result<Vec<Closure>, ClosureError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ClosureError {
        file: name.clone(),
        line: 0,
        column: 0,
        message: format!("cannot read the file: {e}"),
    })?;
    parse_closures(&name, &text)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_string()
}
