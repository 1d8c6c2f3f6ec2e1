//! Fuzzing the template check with a bounded budget (proptest, stable Rust; cargo-fuzz needs a
//! nightly compiler): arbitrary text, and handlebars-shaped text built from the constructs
//! notice templates use, nested (blocks, `else`, sub-expressions, comments, raw output) and
//! broken (unclosed, mismatched closers). Whatever the text: no panic, no stack overflow, and
//! every diagnostic points inside the text.

use std::cell::Cell;
use std::collections::BTreeMap;

use engine::definition::{Diagnostic, Pos, Severity, parse};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::check_sources;
use super::tests::WORKFLOW;
use crate::render::MAX_DEPTH;

/// A position names a line of the text and a column on it, or just after its end.
fn inside(text: &str, pos: Pos) -> bool {
    let lines: Vec<&str> = text.split('\n').collect();
    let Some(line) = (pos.line as usize)
        .checked_sub(1)
        .and_then(|i| lines.get(i))
    else {
        return false;
    };
    pos.column >= 1 && pos.column as usize <= line.chars().count() + 1
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("vars.ecole".to_owned()),
        Just("vars.recue_le".to_owned()),
        Just("vars.inconnue".to_owned()),
        Just("vars.ecole.nom".to_owned()),
        Just("case.id".to_owned()),
        Just("deadline.long".to_owned()),
        Just("recipient.name".to_owned()),
        Just("this".to_owned()),
        Just("../vars.ecole".to_owned()),
        Just("@index".to_owned()),
        Just("vars.[ecole]".to_owned()),
        Just("\"texte\"".to_owned()),
        Just("42".to_owned()),
        "[a-z_@.\\[\\]/-]{1,12}",
    ]
}

fn helper() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "if",
        "unless",
        "each",
        "with",
        "lookup",
        "long_date",
        "eq",
        "not",
        "inconnu",
        "log",
        ">",
        "else",
        "",
    ])
}

/// Handlebars-shaped text: leaves, then blocks and sequences of them up to `depth` levels.
fn template(depth: u32) -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "[a-zA-Zé ,.:\n]{0,20}",
        path().prop_map(|p| format!("{{{{{p}}}}}")),
        path().prop_map(|p| format!("{{{{{{{p}}}}}}}")),
        (helper(), path(), path()).prop_map(|(h, a, b)| format!("{{{{{h} {a} {b}}}}}")),
        (helper(), helper(), path()).prop_map(|(h, g, a)| format!("{{{{{h} ({g} {a})}}}}")),
        (helper(), path()).prop_map(|(h, a)| format!("{{{{{h} x={a}}}}}")),
        Just("{{!-- un commentaire --}}".to_owned()),
        Just("{{! court }}".to_owned()),
        Just("{{else}}".to_owned()),
        Just("{{/if}}".to_owned()),
        Just("{{#if".to_owned()),
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("\\{{vars.ecole}}".to_owned()),
        Just("{{~vars.ecole~}}".to_owned()),
        Just("{{> partiel}}".to_owned()),
        Just("{{*deco}}".to_owned()),
        Just("{{& vars.ecole}}".to_owned()),
    ];
    leaf.prop_recursive(depth, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
            (helper(), path(), inner.clone(), helper()).prop_map(|(h, p, body, close)| {
                // Usually closed by its own name; sometimes by another.
                format!("{{{{#{h} {p}}}}}{body}{{{{/{close}}}}}")
            }),
            (helper(), path(), inner.clone(), inner.clone()).prop_map(|(h, p, a, b)| {
                format!("{{{{#{h} {p}}}}}{a}{{{{else}}}}{b}{{{{/{h}}}}}")
            }),
            (path(), inner.clone(), path(), inner.clone()).prop_map(|(p, a, q, b)| {
                format!("{{{{#if {p}}}}}{a}{{{{else if {q}}}}}{b}{{{{/if}}}}")
            }),
        ]
    })
}

fn file_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("avis.text.hbs".to_owned()),
        2 => Just("avis.html.hbs".to_owned()),
        2 => Just("avis.subject.hbs".to_owned()),
        1 => "[a-zA-Z.\\-_ /]{0,16}",
    ]
}

/// Runs the check on one file and verifies the properties; returns the diagnostics.
fn run_one(name: &str, text: &str) -> Result<Vec<Diagnostic>, TestCaseError> {
    let wf = parse(WORKFLOW).expect("the fixture parses");
    let sources = BTreeMap::from([(name.to_owned(), text.to_owned())]);
    let found = check_sources(&wf, &sources);
    for (file, d) in &found {
        prop_assert_eq!(file.as_str(), name);
        prop_assert!(
            inside(text, d.pos),
            "{} points outside the text",
            d.render(file)
        );
    }
    Ok(found.into_iter().map(|(_, d)| d).collect())
}

fn fuzz<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    body: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let runs = Cell::new(0u64);
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
        body(v)
    });
    println!("fuzz {name}: {} executions", runs.get());
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
}

#[test]
fn arbitrary_text_is_diagnosed_not_crashed_on() {
    fuzz(
        "templates/text",
        3000,
        (file_name(), "[{}#/!>&~^*a-z. \n\"'()=@\\[\\]\\\\é]{0,300}"),
        |(name, text)| run_one(&name, &text).map(drop),
    );
}

#[test]
fn nested_handlebars_is_diagnosed_not_crashed_on() {
    fuzz(
        "templates/nested",
        1500,
        (file_name(), template(8)),
        |(name, text)| run_one(&name, &text).map(drop),
    );
}

/// Nesting far deeper than any template needs: refused with a diagnostic, not a stack
/// overflow (which no test harness could catch: the process aborts).
#[test]
fn deep_nesting_is_refused_not_overflowed() {
    fuzz(
        "templates/deep",
        40,
        (
            1usize..5000,
            prop::sample::select(vec![
                ("", "{{#if vars.ecole}}", "{{/if}}", ""),
                ("", "{{#each vars.ecole}}", "{{/each}}", ""),
                ("", "{{#if a}}x{{else if b}}", "{{/if}}", ""),
                ("{{long_date ", "(lookup ", " vars)", "}}"),
                ("", "{{#if (not ", ")}}", ""),
            ]),
        ),
        |(depth, (prefix, open, close, suffix))| {
            let text = format!(
                "{prefix}{}x{}{suffix}",
                open.repeat(depth),
                close.repeat(depth)
            );
            let found = run_one("avis.text.hbs", &text)?;
            if depth > MAX_DEPTH {
                prop_assert!(
                    found.iter().any(|d| d.severity == Severity::Error),
                    "nested {depth} deep, past the limit of {MAX_DEPTH}, yet accepted"
                );
            }
            Ok(())
        },
    );
}
