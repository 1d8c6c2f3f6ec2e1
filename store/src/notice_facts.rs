//! What a case notice needs to be rendered later exactly as the case was at its transition:
//! written on the outbox row (`context`) by the Writer, read back by the dispatcher. One type for
//! both sides, so the compiler checks the contract. The JSON is the value the string-keyed
//! `json!` of before stored (rows queued before read the same; no migration).

use engine::calendar::Deadline;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoticeFacts {
    pub case: CaseFacts,
    /// The variables holding a date (formatted as long French dates in the template context).
    pub date_vars: Vec<String>,
    /// The deadline the notice is about, if any (also the `.ics` event).
    pub deadline: Option<DeadlineFacts>,
    pub state: StateFacts,
    /// The case's variables as JSON.
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub workflow: WorkflowFacts,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseFacts {
    pub id: String,
    /// The business key.
    pub key: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateFacts {
    pub id: String,
    pub label: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowFacts {
    pub id: String,
    pub title: String,
    pub version: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadlineFacts {
    pub deadline: Deadline,
    pub legal_basis: Option<String>,
    /// The timer or task the deadline belongs to.
    pub of: String,
}

impl NoticeFacts {
    /// As stored on the outbox row.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_text(text: &str) -> Result<NoticeFacts, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::calendar::{Calendar, Length, Means, Unit};
    use serde_json::json;

    /// The text the Writer stored before this type existed: built by string keys with `json!`
    /// (as `transition.rs` did), with a real deadline across a holiday and a date variable.
    fn stored_before(deadline: &Deadline) -> String {
        json!({
            "workflow": { "id": "recours", "title": "Recours", "version": 3 },
            "case": { "id": "0193-abc", "key": "R-2027-001" },
            "state": { "id": "instruction", "label": "En instruction" },
            "vars": { "eleve": "Léa", "notifiee_le": "2027-04-26", "jours": 15 },
            "date_vars": ["notifiee_le"],
            "deadline": {
                "of": "decision",
                "legal_basis": "Art. 102",
                "deadline": deadline,
            },
        })
        .to_string()
    }

    #[test]
    fn rows_stored_before_read_and_write_back_the_same() {
        let deadline = Calendar::fwb()
            .deadline(
                "2027-04-26".parse().unwrap(),
                Some(Means::RegisteredLetter),
                Some(Length::new(15, Unit::WorkingDays)),
            )
            .unwrap();
        let old = stored_before(&deadline);
        let facts = NoticeFacts::from_text(&old).unwrap();
        assert_eq!(facts.case.key, "R-2027-001");
        assert_eq!(facts.state.label.as_deref(), Some("En instruction"));
        assert_eq!(facts.date_vars, ["notifiee_le"]);
        let d = facts.deadline.as_ref().unwrap();
        assert_eq!(
            (d.of.as_str(), d.legal_basis.as_deref()),
            ("decision", Some("Art. 102"))
        );
        assert_eq!(d.deadline, deadline);
        // Written back: the same JSON value (key order aside, as before).
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&facts.to_text()).unwrap(),
            serde_json::from_str::<serde_json::Value>(&old).unwrap()
        );
    }

    #[test]
    fn a_notice_without_deadline_or_label_reads_as_null() {
        let old = json!({
            "workflow": { "id": "w", "title": "W", "version": 1 },
            "case": { "id": "c", "key": "k" },
            "state": { "id": "s", "label": null },
            "vars": {},
            "date_vars": [],
            "deadline": null,
        })
        .to_string();
        let facts = NoticeFacts::from_text(&old).unwrap();
        assert!(facts.deadline.is_none() && facts.state.label.is_none());
        assert_eq!(facts.to_text(), old);
    }
}
