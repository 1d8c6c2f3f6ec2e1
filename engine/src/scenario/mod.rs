//! Scenarios: a case's life written as dated steps with expectations
//! (`workflows/<id>/scenarios/*.yaml`), run on a simulated clock against the pure machine.
//! Nothing here reads files or the clock: the CLI hands in the texts.

mod render;
mod run;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::definition::{Located, Pos, VarType};
use crate::machine::Definition;

pub use render::render_fr;
pub use run::{Failure, Item, Moment, Refused, Report, TriggerInfo, run};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// French: what the scenario shows.
    pub title: String,
    pub start: Located<StartStep>,
    #[serde(default)]
    pub steps: Vec<Located<Step>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartStep {
    pub on: NaiveDate,
    pub by: String,
    #[serde(default)]
    pub inputs: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// One step: an event, a child case's end, or a fast-forward (`until`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub on: Option<NaiveDate>,
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub inputs: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub child_ended: Option<ChildEnded>,
    #[serde(default)]
    pub until: Option<NaiveDate>,
    #[serde(default)]
    pub expect: Option<Expect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildEnded {
    pub workflow: String,
    pub outcome: String,
}

/// What must hold after a step. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub entered_on: Option<NaiveDate>,
    /// Timer or task id → due date.
    #[serde(default)]
    pub due: Option<BTreeMap<String, NaiveDate>>,
    /// The exact set of open task ids.
    #[serde(default)]
    pub tasks: Option<Vec<String>>,
    /// Templates sent during the step, in order.
    #[serde(default)]
    pub notices: Option<Vec<String>>,
    /// Timer ids fired during the step, in order (reminders excluded).
    #[serde(default)]
    pub fired: Option<Vec<String>>,
    /// A subset of the variables.
    #[serde(default)]
    pub variables: Option<BTreeMap<String, serde_json::Value>>,
    /// The step must be refused with this code.
    #[serde(default)]
    pub refused: Option<String>,
    /// The case is closed with this outcome.
    #[serde(default)]
    pub outcome: Option<String>,
}

/// A scenario file that cannot be used, with where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Parses a scenario and checks its shape (each step is exactly one kind).
pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    let scenario: Scenario = serde_saphyr::from_str(text).map_err(|e| {
        let (pos, message) = crate::definition::yaml_error(&e);
        ScenarioError { pos, message }
    })?;
    for step in &scenario.steps {
        let kinds = [
            step.event.is_some(),
            step.child_ended.is_some(),
            step.until.is_some(),
        ];
        let err = |message: &str| ScenarioError {
            pos: step.pos,
            message: message.to_string(),
        };
        match kinds.iter().filter(|k| **k).count() {
            1 => {}
            0 => return Err(err("a step needs one of `event`, `child_ended` or `until`")),
            _ => {
                return Err(err(
                    "a step has only one of `event`, `child_ended` or `until`",
                ));
            }
        }
        if step.until.is_some() && step.on.is_some() {
            return Err(err("an `until` step has no `on` date"));
        }
        if step.until.is_none() && step.on.is_none() {
            return Err(err("this step needs an `on` date"));
        }
        if step.event.is_some() && step.by.is_none() {
            return Err(err("an event step needs `by` (a role)"));
        }
        if step.event.is_none() && (step.by.is_some() || !step.inputs.is_empty()) {
            return Err(err("`by` and `inputs` belong to event steps"));
        }
    }
    Ok(scenario)
}

/// A scenario with no expectations: start on `on` by `by`, then fast-forward to `until`.
pub fn quick(
    on: NaiveDate,
    by: String,
    inputs: BTreeMap<String, serde_json::Value>,
    until: NaiveDate,
) -> Scenario {
    Scenario {
        title: "Simulation".to_string(),
        start: Located::unplaced(StartStep {
            on,
            by,
            inputs,
            expect: None,
        }),
        steps: vec![Located::unplaced(Step {
            until: Some(until),
            ..Step::default()
        })],
    }
}

/// A command-line input `name=text` as the JSON value its variable's type expects.
pub fn input_from_text(def: &Definition, name: &str, text: &str) -> serde_json::Value {
    match def.var_type(name) {
        Some(VarType::Integer) => text
            .parse::<i64>()
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| text.into()),
        Some(VarType::Boolean) => match text {
            "true" => true.into(),
            "false" => false.into(),
            _ => text.into(),
        },
        _ => text.into(),
    }
}
