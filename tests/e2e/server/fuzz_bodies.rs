//! Fuzzing the API's JSON bodies with a bounded budget: random JSON values and bodies shaped
//! like the real ones (right keys, wrong or edge values) for `POST /cases`,
//! `POST /cases/{id}/events` and `POST /workflows`. Whatever the body: never a 5xx, and every
//! refusal is the one error shape `{code, message, details}`. The seed is printed; set
//! `JALON_FUZZ_SEED` to replay a run.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};

use super::api::recours;
use super::harness::{Backend, TestApp, spawn_app, workflows_dir};
use crate::on_both_backends;

/// Requests per endpoint and backend.
const CASES: usize = 150;

/// Keys the real bodies use, beside random ones.
const KEYS: &[&str] = &[
    "workflow",
    "key",
    "inputs",
    "event",
    "reason",
    "expected_version",
    "source",
    "templates",
    "matiere",
    "recours_recu_le",
    "liste_recue_le",
    "votes_pour",
    "avis",
];

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z_\\-]{1,12}",
        "\\PC{0,40}",
        Just("2026-12-17".to_owned()),
        Just("2026-02-30".to_owned()),
        Just("1899-12-31".to_owned()),
        Just("99999-01-01".to_owned()),
        Just("evaluation".to_owned()),
        Just("chambre-recours".to_owned()),
        Just("x".repeat(5000)),
        Just("\u{0}".to_owned()),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!(i64::MAX)),
        Just(json!(u64::MAX)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => string(),
    ]
}

/// An object with some of `fields` (each a value that fits or does not), maybe one more key.
fn shaped(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> impl Strategy<Value = Value> {
    let parts: Vec<_> = fields
        .into_iter()
        .map(|(k, s)| {
            (any::<u8>(), s).prop_map(move |(keep, v)| (keep % 10 != 0).then_some((k, v)))
        })
        .collect();
    (parts, prop::option::weighted(0.1, (key(), json_value()))).prop_map(|(parts, extra)| {
        let mut m = Map::new();
        for (k, v) in parts.into_iter().flatten() {
            m.insert(k.to_owned(), v);
        }
        if let Some((k, v)) = extra {
            m.insert(k, v);
        }
        Value::Object(m)
    })
}

/// Inputs: `valid` with one of them replaced (or removed: null) or one added, or others.
fn inputs(valid: Value) -> BoxedStrategy<Value> {
    prop_oneof![
        // Inputs that fit, with one of them replaced, removed (null) or one added.
        2 => prop::option::of((
            prop::sample::select(&KEYS[8..]).prop_map(str::to_owned),
            json_value(),
        ))
        .prop_map(move |change| {
            let mut v = valid.clone();
            if let Some((k, x)) = change {
                v[k] = x;
            }
            v
        }),
        2 => prop::collection::vec(
            (prop::sample::select(&KEYS[8..]).prop_map(str::to_owned), json_value()),
            0..5
        )
        .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        1 => json_value(),
    ]
    .boxed()
}

fn of(values: &'static [&'static str]) -> BoxedStrategy<Value> {
    prop_oneof![
        3 => prop::sample::select(values).prop_map(Value::from),
        1 => json_value(),
    ]
    .boxed()
}

fn start_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => json_value(),
        3 => shaped(vec![
            ("workflow", of(&["chambre-recours", "ipt", "inconnu", ""])),
            ("key", string().prop_map(Value::String).boxed()),
            ("inputs", inputs(json!({"matiere": "evaluation", "recours_recu_le": "2026-12-17"}))),
        ]),
    ]
}

fn event_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => json_value(),
        3 => shaped(vec![
            (
                "event",
                of(&["communiquer_liste", "desister", "rendre_avis", "demander_recusation", "x"]),
            ),
            ("inputs", inputs(json!({"liste_recue_le": "2026-12-18"}))),
            ("reason", of(&["parce que", ""])),
            ("expected_version", number().boxed()),
        ]),
    ]
}

/// The text of the Chambre de recours workflow with a few words swapped for others of it.
fn source() -> impl Strategy<Value = Value> {
    let text = std::fs::read_to_string(workflows_dir().join("chambre-recours/workflow.yaml"))
        .expect("shipped workflow");
    let words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| w.len() > 1)
        .map(str::to_owned)
        .collect();
    prop::collection::vec(
        (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
        0..3,
    )
    .prop_map(move |swaps| {
        let mut t = text.clone();
        for (a, b) in swaps {
            t = t.replacen(a.get(&words).as_str(), b.get(&words).as_str(), 1);
        }
        Value::String(t)
    })
}

fn templates() -> BoxedStrategy<Value> {
    let dir = workflows_dir().join("chambre-recours");
    let shipped = serde_json::to_value(store::deploy::read_templates(&dir).unwrap()).unwrap();
    let text = prop_oneof![
        Just(Value::from("{{vars.matiere}}")),
        Just(Value::from("{{#if}}")),
        Just(Value::from("{{{vars.x}}}")),
        string().prop_map(Value::String),
        json_value(),
    ];
    let name = prop_oneof![
        Just("avis.text".to_owned()),
        Just("avis.subject".to_owned()),
        Just("avis.html".to_owned()),
        string(),
    ];
    prop_oneof![
        1 => json_value(),
        // The shipped templates, one of them replaced or added.
        2 => prop::option::of((any::<prop::sample::Index>(), name.clone(), text.clone())).prop_map(
            move |change| {
                let mut t = shipped.clone();
                if let Some((which, name, text)) = change {
                    let m = t.as_object_mut().unwrap();
                    let key = if which.index(3) == 0 {
                        name
                    } else {
                        let keys: Vec<String> = m.keys().cloned().collect();
                        which.get(&keys).clone()
                    };
                    m.insert(key, text);
                }
                t
            }
        ),
        1 => prop::collection::vec((name, text), 0..4)
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
    ]
    .boxed()
}

fn workflow_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => json_value(),
        3 => shaped(vec![
            ("source", prop_oneof![3 => source(), 1 => json_value()].boxed()),
            ("templates", templates()),
        ]),
    ]
}

/// The run's seed: `JALON_FUZZ_SEED` (to replay) or a fresh one.
fn seed() -> u64 {
    std::env::var("JALON_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

fn runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// Sends `CASES` bodies from `strategy` to `path` and checks each answer.
async fn send_all<S: Strategy<Value = Value>>(
    app: &TestApp,
    token: &str,
    path: &str,
    strategy: S,
    runner: &mut TestRunner,
) -> std::collections::BTreeMap<String, usize> {
    let mut by_code = std::collections::BTreeMap::new();
    // `JALON_FUZZ_SCALE=N` sends N times as many, for a longer hunt.
    let scale: usize = std::env::var("JALON_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    for _ in 0..CASES * scale {
        let body = strategy.new_tree(runner).expect("a value").current();
        // Now and then the body is not even JSON.
        let raw = match &body {
            Value::String(s) if s.len() % 7 == 0 => s.clone(),
            _ => body.to_string(),
        };
        let r = app
            .http
            .post(format!("{}{path}", app.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(raw.clone())
            .send()
            .await
            .expect("request sent");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        let shown = || raw.chars().take(2000).collect::<String>();
        assert!(
            status < 500,
            "{path} answered {status} to {}: {text}",
            shown()
        );
        let reply: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{path}: {status} is not JSON ({text}) for {}", shown()));
        if status >= 400 {
            let shape = reply.as_object().is_some_and(|o| {
                o.len() == 4
                    && o.get("code")
                        .and_then(Value::as_str)
                        .is_some_and(|c| !c.is_empty())
                    && o.get("message").is_some_and(Value::is_string)
                    && o.get("message_fr").is_some_and(Value::is_string)
                    && o.contains_key("details")
            });
            assert!(
                shape,
                "{path}: {status} {text} is not the error shape, for {}",
                shown()
            );
        }
        let code = match reply["code"].as_str() {
            Some(c) if status >= 400 => format!("{status} {c}"),
            _ => status.to_string(),
        };
        *by_code.entry(code).or_insert(0) += 1;
    }
    by_code
}

async fn random_bodies_never_5xx(backend: Backend) {
    let seed = seed();
    println!("fuzz api bodies ({backend:?}): seed {seed} (JALON_FUZZ_SEED={seed} replays it)");
    let mut runner = runner(seed);
    let app = spawn_app(backend).await;
    let secretaire = app
        .actor("Secrétaire", &["chambre_secretaire", "requerant"])
        .await;
    let id = recours(&app, &secretaire, "CR-FUZZ").await;

    let starts = send_all(
        &app,
        &secretaire,
        "/api/v1/cases",
        start_body(),
        &mut runner,
    )
    .await;
    let events = send_all(
        &app,
        &secretaire,
        &format!("/api/v1/cases/{id}/events"),
        event_body(),
        &mut runner,
    )
    .await;
    let deploys = send_all(
        &app,
        &app.admin,
        "/api/v1/workflows",
        workflow_body(),
        &mut runner,
    )
    .await;
    for (what, codes) in [
        ("cases", starts),
        ("events", events),
        ("workflows", deploys),
    ] {
        println!(
            "fuzz api bodies ({backend:?}) POST {what}: {} executions: {codes:?}",
            codes.values().sum::<usize>()
        );
    }
}

on_both_backends!(random_bodies_never_5xx);
