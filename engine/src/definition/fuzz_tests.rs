//! Fuzzing the parser and the validator with a bounded budget (proptest, stable Rust; cargo-fuzz
//! needs a nightly compiler). Inputs: arbitrary bytes, YAML-flavoured text, and the shipped
//! workflows mutated line by line and word by word. Whatever the text: no panic, every
//! diagnostic points inside the text, and a workflow the validator passes without error
//! compiles (the validator is the only refusal an administrator sees).

use std::cell::Cell;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::load::{Catalog, WorkflowFile, discover};
use super::validate::validate;
use super::{Diagnostic, Pos, Severity, parse};
use crate::machine::Definition;

/// The shipped workflows.
fn shipped() -> Catalog {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows");
    let files = discover(&dir)
        .expect("workflows/ exists")
        .iter()
        .map(|p| WorkflowFile::load(p).expect("a shipped workflow parses"))
        .collect();
    Catalog::new(files)
}

/// The text's lines as YAML counts them (`\n`, `\r\n` and a lone `\r` end a line).
fn yaml_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['\n', '\r']) {
        out.push(&rest[..i]);
        let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[i + skip..];
    }
    out.push(rest);
    out
}

/// A position names a line of the text and a column on it, or just after its end.
fn inside(text: &str, pos: Pos) -> bool {
    let lines = yaml_lines(text);
    let Some(line) = (pos.line as usize)
        .checked_sub(1)
        .and_then(|i| lines.get(i))
    else {
        return false;
    };
    pos.column >= 1 && pos.column as usize <= line.chars().count() + 1
}

fn check_positions(text: &str, ds: &[Diagnostic]) -> Result<(), TestCaseError> {
    for d in ds {
        prop_assert!(
            inside(text, d.pos),
            "{} points outside the text ({} lines)",
            d.render("fuzz.yaml"),
            yaml_lines(text).len()
        );
    }
    Ok(())
}

/// Parses `text` as the workflow at `path`, validates it against the shipped catalog (where
/// the file at the same path is the original: cross-workflow checks see the others), and checks
/// the properties. Returns whether it parsed.
fn run_one(text: &str, path: &Path, catalog: &Catalog) -> Result<bool, TestCaseError> {
    let file = match WorkflowFile::from_text(path, text.to_owned()) {
        Ok(f) => f,
        Err(super::LoadError::Parse { diagnostic, .. }) => {
            check_positions(text, std::slice::from_ref(&diagnostic))?;
            return Ok(false);
        }
        Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
    };
    let ds = validate(&file, catalog);
    check_positions(text, &ds)?;
    if !ds.iter().any(|d| d.severity == Severity::Error) {
        let wf = parse(text).expect("parsed once already");
        if let Err(e) = Definition::compile(wf) {
            return Err(TestCaseError::fail(format!(
                "validated without error but the compiler refuses it: {e}"
            )));
        }
    }
    Ok(true)
}

/// Runs `strategy` for `cases` cases (in parallel runs of CI the budget is the same), prints
/// how many executions ran.
fn fuzz<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    body: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let runs = Cell::new(0u64);
    let parsed = Cell::new(0u64);
    // CI's budget by default; `JALON_FUZZ_SCALE=N` runs N times as many cases, for a longer hunt.
    let scale: u32 = std::env::var("JALON_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut runner = TestRunner::new(Config {
        cases: cases.saturating_mul(scale),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |v| {
        runs.set(runs.get() + 1);
        if body(v)? {
            parsed.set(parsed.get() + 1);
        }
        Ok(())
    });
    println!(
        "fuzz {name}: {} executions ({} parsed as a workflow)",
        runs.get(),
        parsed.get()
    );
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
}

#[test]
fn arbitrary_bytes_are_diagnosed_not_crashed_on() {
    let all = shipped();
    let path = all.files()[0].path.clone();
    fuzz(
        "parser/bytes",
        2000,
        prop::collection::vec(any::<u8>(), 0..600),
        |bytes| run_one(&String::from_utf8_lossy(&bytes), &path, &all),
    );
}

#[test]
fn yaml_flavoured_text_is_diagnosed_not_crashed_on() {
    let all = shipped();
    let path = all.files()[0].path.clone();
    let text = "[a-z_:\\- \n\t0-9.,'\"#&*!|>%@`{}\\[\\]?~é\r]{0,400}";
    fuzz("parser/yaml-text", 2000, text, |t| run_one(&t, &path, &all));
}

/// One edit of a workflow's lines; the numbers are reduced modulo what they index.
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize),
    Duplicate(usize, usize),
    Swap(usize, usize),
    /// Replace the n-th word of a line with a word of the dictionary.
    Word(usize, usize, usize),
    Indent(usize, usize),
    Dedent(usize, usize),
    Truncate(usize, usize),
    Insert(usize, usize, String),
    /// Copy a block of lines elsewhere.
    Block(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let i = any::<usize>;
    prop_oneof![
        1 => i().prop_map(Edit::Delete),
        1 => (i(), i()).prop_map(|(a, b)| Edit::Duplicate(a, b)),
        1 => (i(), i()).prop_map(|(a, b)| Edit::Swap(a, b)),
        4 => (i(), i(), i()).prop_map(|(a, b, c)| Edit::Word(a, b, c)),
        1 => (i(), 1..5usize).prop_map(|(a, b)| Edit::Indent(a, b)),
        1 => (i(), 1..5usize).prop_map(|(a, b)| Edit::Dedent(a, b)),
        1 => (i(), i()).prop_map(|(a, b)| Edit::Truncate(a, b)),
        1 => (i(), i(), "[-:#&*!|>'\"{}\\[\\], 0-9a-z\t]{1,6}")
            .prop_map(|(a, b, c)| Edit::Insert(a, b, c)),
        1 => (i(), 1..12usize, i()).prop_map(|(a, b, c)| Edit::Block(a, b, c)),
    ]
}

/// Values that sit at the edges of what the language accepts, beside every word of the
/// shipped workflows.
const EDGE_WORDS: &[&str] = &[
    "0",
    "-1",
    "1",
    "366",
    "99999999999999999999",
    "1.5",
    "''",
    "\"\"",
    "~",
    "null",
    "[]",
    "{}",
    "true",
    "2026-02-30",
    "2026-02-28",
    "1899-12-31",
    "2301-01-01",
    "&a",
    "*a",
    "!!binary",
    "<<",
    "* * * * *",
    "0 0 31 2 *",
    "working_days",
    "calendar_days",
    "months",
    "registered",
    "{{",
    "}}",
    "é",
    "\u{2028}",
    "-",
    "?",
    "|",
    ">",
];

fn apply(lines: &mut Vec<String>, e: &Edit, words: &[&str]) {
    if lines.is_empty() {
        return;
    }
    let n = lines.len();
    match e {
        Edit::Delete(a) => {
            lines.remove(a % n);
        }
        Edit::Duplicate(a, b) => {
            let l = lines[a % n].clone();
            lines.insert(b % (n + 1), l);
        }
        Edit::Swap(a, b) => lines.swap(a % n, b % n),
        Edit::Word(a, b, c) => {
            let line = &lines[a % n];
            let spans: Vec<(usize, usize)> = word_spans(line);
            if let Some(&(s, t)) = spans.get(b % spans.len().max(1)) {
                let w = words[c % words.len()];
                lines[a % n] = format!("{}{w}{}", &line[..s], &line[t..]);
            }
        }
        Edit::Indent(a, k) => lines[a % n].insert_str(0, &" ".repeat(*k)),
        Edit::Dedent(a, k) => {
            let l = &lines[a % n];
            let strip = l.len() - l.trim_start_matches(' ').len();
            lines[a % n] = l[strip.min(*k)..].to_owned();
        }
        Edit::Truncate(a, b) => {
            let l = &mut lines[a % n];
            let cut = l.char_indices().map(|(i, _)| i).nth(b % (l.len() + 1));
            l.truncate(cut.unwrap_or(l.len()));
        }
        Edit::Insert(a, b, s) => {
            let l = &mut lines[a % n];
            let at = l
                .char_indices()
                .map(|(i, _)| i)
                .nth(b % (l.chars().count() + 1))
                .unwrap_or(l.len());
            l.insert_str(at, s);
        }
        Edit::Block(a, k, b) => {
            let from = a % n;
            let block: Vec<String> = lines[from..(from + k).min(n)].to_vec();
            let to = b % (n + 1);
            lines.splice(to..to, block);
        }
    }
}

/// Byte ranges of the words (names, numbers, dates) of a line.
fn word_spans(line: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices().chain([(line.len(), ' ')]) {
        let in_word = c.is_alphanumeric() || c == '_' || c == '-';
        match (start, in_word) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    out
}

#[test]
fn mutated_shipped_workflows_are_diagnosed_not_crashed_on() {
    let all = shipped();
    let mut dictionary: Vec<String> = all
        .files()
        .iter()
        .flat_map(|f| {
            word_spans_text(&f.text)
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    dictionary.sort();
    dictionary.dedup();
    dictionary.extend(EDGE_WORDS.iter().map(|w| w.to_string()));
    let words: Vec<&str> = dictionary.iter().map(String::as_str).collect();
    fuzz(
        "validator/mutated-shipped",
        600,
        (
            any::<prop::sample::Index>(),
            prop::collection::vec(edit(), 1..4),
        ),
        |(which, edits)| {
            let f = &all.files()[which.index(all.files().len())];
            let (path, text) = (&f.path, &f.text);
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            for e in &edits {
                apply(&mut lines, e, &words);
            }
            let mut mutated = lines.join("\n");
            mutated.push('\n');
            run_one(&mutated, path, &all).map_err(|e| {
                TestCaseError::fail(format!(
                    "{e}\nin {} changed so:\n{}",
                    path.display(),
                    changed_lines(text, &mutated)
                ))
            })
        },
    );
}

/// The first lines where `after` differs from `before`, numbered as in `after`.
fn changed_lines(before: &str, after: &str) -> String {
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    (0..a.len().max(b.len()))
        .filter(|&i| a.get(i) != b.get(i))
        .take(8)
        .map(|i| format!("{:>4}: {:?} (was {:?})", i + 1, a.get(i), b.get(i)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn word_spans_text(text: &str) -> Vec<&str> {
    text.lines()
        .flat_map(|l| word_spans(l).into_iter().map(move |(s, t)| &l[s..t]))
        .collect()
}

#[test]
fn positions_are_checked_against_yaml_lines() {
    assert_eq!(yaml_lines("a\r\nb\rc\n"), ["a", "b", "c", ""]);
    assert!(inside("ab\ncd", Pos { line: 2, column: 3 }));
    assert!(!inside("ab\ncd", Pos { line: 2, column: 4 }));
    assert!(!inside("ab\ncd", Pos { line: 3, column: 1 }));
    assert!(!inside("ab", Pos { line: 0, column: 1 }));
    assert!(!inside("ab", Pos { line: 1, column: 0 }));
}

/// Found by the mutation fuzzer: YAML drops the spaces before a key's colon and reads `a:b` as
/// one word; the search for the key in the text did neither, and the diagnostic fell back to
/// line 0, column 0.
#[test]
fn a_key_with_spaces_before_its_colon_is_placed() {
    let text = "id: t\ntitle: T\nlegal_basis: Art. 1\nroles:\n  agent: A\n  Agent : B\n  a:b: C\n\
                \x20 &anchor Chef-Service: D\n  !!str Sous-Chef: E\n\
                start: { by: [agent] }\ninitial: ouvert\nstates:\n\
                \x20 ouvert: { label: O, on: { clore: { by: [agent], goto: clos } } }\n\
                \x20 clos: { label: C, final: true }\n";
    let file = WorkflowFile::from_text("t.yaml", text.to_owned()).expect("parses");
    let ds = validate(&file, &Catalog::new(Vec::new()));
    let placed: Vec<(String, Pos)> = ds
        .iter()
        .filter(|d| d.code == "invalid-identifier")
        .map(|d| (d.message.clone(), d.pos))
        .collect();
    assert_eq!(
        placed,
        [
            (
                "role id `Agent` is not a lowercase identifier".to_owned(),
                Pos { line: 6, column: 3 }
            ),
            (
                "role id `a:b` is not a lowercase identifier".to_owned(),
                Pos { line: 7, column: 3 }
            ),
            // Found by the mutation fuzzer: a key after an anchor or a tag was placed at 0:0.
            (
                "role id `Chef-Service` is not a lowercase identifier".to_owned(),
                Pos {
                    line: 8,
                    column: 11
                }
            ),
            (
                "role id `Sous-Chef` is not a lowercase identifier".to_owned(),
                Pos { line: 9, column: 9 }
            ),
        ]
    );
}
