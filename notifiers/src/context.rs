//! The JSON a notice template is rendered against, built from the pieces the server holds.
//!
//! ```text
//! workflow   { id, title, legal_basis }
//! case       { id, key, url }            url only with a base URL
//! state      { id, label }
//! vars       { <variable>: value }       dates as "mardi 5 janvier 2027"; unset: null
//! labels     { <enum variable>: label }  the French label of its value; unset: null
//! documents  { <document variable>: url } the download link of the case's document it names;
//!                                         null without one, or without a base URL
//! deadline   { date, long, legal_basis, explanation }   only when the notice has a deadline
//! recipient  { name, email }
//! task       { id, url }                 only for a notice about a task
//! ```
//!
//! Date variables are formatted here, once, as long French dates, because that is how every
//! notice shows them ("reçue le {{vars.reclamation_recue_le}}"). The ISO form of the deadline
//! stays available as `deadline.date`; `{{long_date x}}` formats any other ISO date.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use engine::calendar::{Deadline, french};
use engine::definition::VarType;
use engine::machine::{Definition, Value as CaseValue, Variables};
use serde_json::{Map, Value, json};

/// The pieces of one notice to one recipient. See the module documentation for the shape.
#[derive(Clone, Debug, Default)]
pub struct NoticeContext {
    workflow_id: String,
    workflow_title: String,
    workflow_legal_basis: String,
    case_id: String,
    case_key: String,
    state_id: String,
    state_label: String,
    vars: Map<String, Value>,
    labels: Map<String, Value>,
    /// `document` variable → the id of the case's document it names.
    documents: Map<String, Value>,
    deadline: Option<(Deadline, Option<String>)>,
    recipient: Option<(String, String)>,
    base_url: Option<String>,
    task_id: Option<String>,
}

impl NoticeContext {
    pub fn new(
        workflow_title: impl Into<String>,
        case_id: impl Into<String>,
        case_key: impl Into<String>,
        state_label: impl Into<String>,
    ) -> Self {
        NoticeContext {
            workflow_title: workflow_title.into(),
            case_id: case_id.into(),
            case_key: case_key.into(),
            state_label: state_label.into(),
            ..NoticeContext::default()
        }
    }

    pub fn workflow_id(mut self, id: impl Into<String>) -> Self {
        self.workflow_id = id.into();
        self
    }

    /// The workflow's `legal_basis`; also `deadline.legal_basis` when the deadline has none of
    /// its own (case timers fall under the workflow's article).
    pub fn workflow_legal_basis(mut self, legal_basis: impl Into<String>) -> Self {
        self.workflow_legal_basis = legal_basis.into();
        self
    }

    pub fn state_id(mut self, id: impl Into<String>) -> Self {
        self.state_id = id.into();
        self
    }

    /// Variables as JSON (`YYYY-MM-DD` strings for dates); those named in `dates` become long
    /// French dates. A value that is not an ISO date is kept as given.
    pub fn variables<'a>(
        mut self,
        values: &Map<String, Value>,
        dates: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let dates: BTreeSet<&str> = dates.into_iter().collect();
        for (name, value) in values {
            let shown = match value.as_str() {
                Some(s) if dates.contains(name.as_str()) => match parse_iso(s) {
                    Some(d) => Value::String(french::long_date(d)),
                    None => value.clone(),
                },
                _ => value.clone(),
            };
            self.vars.insert(name.clone(), shown);
        }
        self
    }

    /// Declared variables that have no value become `null`: they render as nothing and are
    /// false in `{{#if}}`, instead of failing in strict mode.
    pub fn declared<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        for name in names {
            self.vars.entry(name.to_string()).or_insert(Value::Null);
        }
        self
    }

    /// The case's typed variables, every variable of the workflow declared (see
    /// [`declared`](Self::declared)), dates as long French dates.
    pub fn case_variables(self, def: &Definition, values: &Variables) -> Self {
        let json: Map<String, Value> = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_json()))
            .collect();
        let dates: Vec<&str> = values
            .iter()
            .filter(|(_, v)| matches!(v, CaseValue::Date(_)))
            .map(|(k, _)| &**k)
            .chain(
                def.variables
                    .iter()
                    .filter(|(_, v)| v.ty == VarType::Date)
                    .map(|(k, _)| k.as_str()),
            )
            .collect();
        self.workflow_variables(def, &json, dates)
    }

    /// The case's variables as JSON (as a queued notice stores them), `dates` naming the date
    /// ones: every variable of the workflow declared, dates as long French dates, and under
    /// `labels` the French label of each enum variable's value. The one way both the server
    /// and the tests fill `vars` and `labels`.
    pub fn workflow_variables<'a>(
        mut self,
        def: &Definition,
        values: &Map<String, Value>,
        dates: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        for (name, var) in def.variables.iter().filter(|(_, v)| v.ty == VarType::Enum) {
            let label = values
                .get(name.as_str())
                .and_then(Value::as_str)
                .map(|value| Value::String(var.label_of(value)))
                .unwrap_or(Value::Null);
            self.labels.insert(name.clone(), label);
        }
        for name in def
            .variables
            .iter()
            .filter(|(_, v)| v.ty == VarType::Document)
            .map(|(k, _)| k)
        {
            let id = values.get(name.as_str()).cloned().unwrap_or(Value::Null);
            self.documents.insert(name.clone(), id);
        }
        self.variables(values, dates)
            .declared(def.variables.keys().map(String::as_str))
    }

    /// The deadline the notice announces, with the article it comes from.
    pub fn deadline(mut self, deadline: &Deadline, legal_basis: Option<&str>) -> Self {
        self.deadline = Some((deadline.clone(), legal_basis.map(str::to_string)));
        self
    }

    pub fn recipient(mut self, name: impl Into<String>, email: impl Into<String>) -> Self {
        self.recipient = Some((name.into(), email.into()));
        self
    }

    /// The public address of the server, e.g. `https://jalon.example.be`: links become
    /// `<base>/cases/<case id>` and `<base>/cases/<case id>/tasks/<task id>`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into().trim_end_matches('/').to_string());
        self
    }

    pub fn task(mut self, task_id: impl Into<String>) -> Self {
        self.task_id = Some(task_id.into());
        self
    }

    pub fn build(&self) -> Value {
        let mut case = json!({ "id": self.case_id, "key": self.case_key });
        let case_url = self
            .base_url
            .as_ref()
            .map(|base| format!("{base}/cases/{}", self.case_id));
        if let Some(url) = &case_url {
            case["url"] = Value::String(url.clone());
        }
        let mut out = json!({
            "workflow": {
                "id": self.workflow_id,
                "title": self.workflow_title,
                "legal_basis": self.workflow_legal_basis,
            },
            "case": case,
            "state": { "id": self.state_id, "label": self.state_label },
            "vars": self.vars,
            "labels": self.labels,
            "documents": self.document_links(case_url.as_deref()),
        });
        if let Some((deadline, legal_basis)) = &self.deadline {
            out["deadline"] = json!({
                "date": deadline.due.to_string(),
                "long": french::long_date(deadline.due),
                "legal_basis": legal_basis.as_deref().unwrap_or(&self.workflow_legal_basis),
                "explanation": deadline.explain_fr().join("\n"),
            });
        }
        if let Some((name, email)) = &self.recipient {
            out["recipient"] = json!({ "name": name, "email": email });
        }
        if let Some(task_id) = &self.task_id {
            let mut task = json!({ "id": task_id });
            if let Some(url) = &case_url {
                task["url"] = Value::String(format!("{url}/tasks/{task_id}"));
            }
            out["task"] = task;
        }
        out
    }
}

impl NoticeContext {
    /// Each `document` variable's download link on the case's page (the id is the one the
    /// transition recorded, so a notice built again links the same document).
    fn document_links(&self, case_url: Option<&str>) -> Map<String, Value> {
        self.documents
            .iter()
            .map(|(name, id)| {
                let link = match (case_url, id.as_str()) {
                    (Some(url), Some(id)) if is_document_id(id) => {
                        Value::String(format!("{url}/documents/{id}"))
                    }
                    _ => Value::Null,
                };
                (name.clone(), link)
            })
            .collect()
    }
}

/// A document's id as the server gives it (a UUID); anything else is a reference to a document
/// held elsewhere (a start input), which has no link.
fn is_document_id(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn parse_iso(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Every key the context can have below each top-level key; `vars` is the workflow's own.
pub const KNOWN_KEYS: [(&str, &[&str]); 9] = [
    ("workflow", &["id", "title", "legal_basis"]),
    ("labels", &[]),
    ("documents", &[]),
    ("case", &["id", "key", "url"]),
    ("state", &["id", "label"]),
    ("vars", &[]),
    ("deadline", &["date", "long", "legal_basis", "explanation"]),
    ("recipient", &["name", "email"]),
    ("task", &["id", "url"]),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::NoticeContext;

    const WORKFLOW: &str = r#"
id: modele
title: Modèle
legal_basis: "Art. 5"
roles: { dc: Délégué }
variables:
  modele: { type: document }
  reference: { type: document }
  note: { type: text }
start: { by: [dc], optional_inputs: [reference] }
initial: ouvert
states:
  ouvert: { label: Ouvert, final: true }
"#;

    /// A `document` variable's notice link is the case page's download of the document it
    /// names; a reference to a paper held elsewhere, or no public address, gives none.
    #[test]
    fn a_document_variable_links_its_download() {
        let def =
            engine::machine::Definition::compile(engine::definition::parse(WORKFLOW).unwrap())
                .unwrap();
        let id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let values = serde_json::json!({ "modele": id, "reference": "PV 2026/12", "note": "n" });
        let values = values.as_object().unwrap();
        let with_base = NoticeContext::new(&def.title, "c-1", "K-1", "Ouvert")
            .base_url("https://jalon.example.be/")
            .workflow_variables(&def, values, [])
            .build();
        assert_eq!(
            with_base["documents"],
            serde_json::json!({
                "modele": format!("https://jalon.example.be/cases/c-1/documents/{id}"),
                "reference": null,
            })
        );
        let without = NoticeContext::new(&def.title, "c-1", "K-1", "Ouvert")
            .workflow_variables(&def, values, [])
            .build();
        assert_eq!(
            without["documents"],
            serde_json::json!({ "modele": null, "reference": null })
        );

        let wf = engine::definition::parse(WORKFLOW).unwrap();
        let sources: BTreeMap<String, String> = [(
            "n.text.hbs".to_owned(),
            "{{documents.modele}} {{documents.note}}".to_owned(),
        )]
        .into_iter()
        .collect();
        let found = crate::check::check_sources(&wf, &sources);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .1
                .message
                .contains("`note` is not a `document` variable"),
            "{found:?}"
        );
    }
}
