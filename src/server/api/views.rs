//! What the API promises (its OpenAPI schemas): the store's read models, as sent. Each view has
//! the fields of its store model in the same order with the same serde attributes, so the JSON is
//! the store's; the store itself knows no OpenAPI.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use store::{outbox, queries, verify};

/// A list of store models as the API sends them.
pub fn all<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(B::from).collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlineView {
    /// The timer (or, for a reminder, the timer or task it reminds of).
    pub timer: String,
    pub label: Option<String>,
    /// `deadline`, `recurring` or `reminder`.
    pub kind: String,
    /// `armed` or `suspended`.
    pub status: String,
    /// The last day allowed (Europe/Brussels), `YYYY-MM-DD`.
    pub due_date: NaiveDate,
    /// "lundi 5 janvier 2027".
    pub due_long: String,
    /// When the timer fires (UTC); absent while suspended.
    pub fire_at: Option<DateTime<Utc>>,
    /// How the date was counted, in French, one line per step.
    pub explanation: Vec<String>,
    pub legal_basis: Option<String>,
}

impl From<queries::DeadlineView> for DeadlineView {
    fn from(d: queries::DeadlineView) -> Self {
        DeadlineView {
            timer: d.timer,
            label: d.label,
            kind: d.kind,
            status: d.status,
            due_date: d.due_date,
            due_long: d.due_long,
            fire_at: d.fire_at,
            explanation: d.explanation,
            legal_basis: d.legal_basis,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    pub case_id: String,
    pub task_id: String,
    pub role: String,
    pub title: String,
    pub instructions: Option<String>,
    pub due_date: Option<String>,
    pub explanation: Option<String>,
    pub legal_basis: Option<String>,
    pub status: String,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub overdue: bool,
}

impl From<queries::TaskView> for TaskView {
    fn from(t: queries::TaskView) -> Self {
        TaskView {
            case_id: t.case_id,
            task_id: t.task_id,
            role: t.role,
            title: t.title,
            instructions: t.instructions,
            due_date: t.due_date,
            explanation: t.explanation,
            legal_basis: t.legal_basis,
            status: t.status,
            opened_at: t.opened_at,
            closed_at: t.closed_at,
            overdue: t.overdue,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub name: String,
    pub label: Option<String>,
    pub by: Vec<String>,
    pub inputs: Vec<String>,
    pub optional_inputs: Vec<String>,
}

impl From<queries::EventView> for EventView {
    fn from(e: queries::EventView) -> Self {
        EventView {
            name: e.name,
            label: e.label,
            by: e.by,
            inputs: e.inputs,
            optional_inputs: e.optional_inputs,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    pub id: String,
    pub workflow: String,
    pub version: i32,
    pub key: String,
    pub state: String,
    pub state_label: Option<String>,
    /// `open` or `closed`.
    pub status: String,
    pub outcome: Option<String>,
    /// Send it back as `expected_version` to refuse an event if the case changed meanwhile.
    pub row_version: i64,
    pub parent_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub entered_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub variables: serde_json::Value,
    pub deadlines: Vec<DeadlineView>,
    pub tasks: Vec<TaskView>,
    /// The events the current state accepts.
    pub events: Vec<EventView>,
}

impl From<queries::CaseView> for CaseView {
    fn from(c: queries::CaseView) -> Self {
        CaseView {
            id: c.id,
            workflow: c.workflow,
            version: c.version,
            key: c.key,
            state: c.state,
            state_label: c.state_label,
            status: c.status,
            outcome: c.outcome,
            row_version: c.row_version,
            parent_id: c.parent_id,
            created_at: c.created_at,
            updated_at: c.updated_at,
            entered_at: c.entered_at,
            variables: c.variables,
            deadlines: all(c.deadlines),
            tasks: all(c.tasks),
            events: all(c.events),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseSummary {
    pub id: String,
    pub workflow: String,
    pub key: String,
    pub state: String,
    pub status: String,
    pub outcome: Option<String>,
    pub row_version: i64,
    pub updated_at: DateTime<Utc>,
}

impl From<queries::CaseSummary> for CaseSummary {
    fn from(c: queries::CaseSummary) -> Self {
        CaseSummary {
            id: c.id,
            workflow: c.workflow,
            key: c.key,
            state: c.state,
            status: c.status,
            outcome: c.outcome,
            row_version: c.row_version,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryView {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: Option<String>,
    pub trigger: String,
    pub from_state: Option<String>,
    pub to_state: String,
    #[schema(value_type = Object)]
    pub inputs: serde_json::Value,
    pub reason: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub detail: serde_json::Value,
    /// For a timer: how long after its due instant it fired.
    pub late_ms: Option<i64>,
    pub hash: String,
}

impl From<queries::HistoryView> for HistoryView {
    fn from(h: queries::HistoryView) -> Self {
        HistoryView {
            seq: h.seq,
            at: h.at,
            actor: h.actor,
            trigger: h.trigger,
            from_state: h.from_state,
            to_state: h.to_state,
            inputs: h.inputs,
            reason: h.reason,
            detail: h.detail,
            late_ms: h.late_ms,
            hash: h.hash,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StuckCase {
    /// Absent for `schedule_failing` (no case was started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    pub workflow: String,
    /// The case's business key; for `schedule_failing`, the key its case will have.
    pub key: String,
    /// Absent for `schedule_failing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Stable code: `task_overdue`, `timer_not_fired`, `notice_failing`, `nothing_pending`,
    /// `idle_too_long`, `schedule_failing` (a schedule occurrence whose case could not start;
    /// retried with backoff).
    pub reason: String,
    /// A French sentence for the operator.
    pub detail: String,
    pub since: DateTime<Utc>,
    /// For `notice_failing`: the notice to retry (`POST /operator/notices/{id}/retry`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice_id: Option<i64>,
    /// For `schedule_failing`: the schedule's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

impl From<queries::StuckCase> for StuckCase {
    fn from(s: queries::StuckCase) -> Self {
        StuckCase {
            case_id: s.case_id,
            workflow: s.workflow,
            key: s.key,
            state: s.state,
            reason: s.reason,
            detail: s.detail,
            since: s.since,
            notice_id: s.notice_id,
            schedule: s.schedule,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeView {
    pub id: i64,
    /// None for a daily digest.
    pub case_id: Option<String>,
    pub template: String,
    pub recipient_name: Option<String>,
    pub recipient_email: Option<String>,
    /// `pending` (to send or to retry), `sent`, `dead`.
    pub status: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
    /// The SMTP server's reply, or the file written.
    pub response: Option<String>,
    pub last_error: Option<String>,
    /// SHA-256 of the bytes sent.
    pub eml_sha256: Option<String>,
    /// The operator's last retry: actor id, when, and the reason given.
    pub retried_by: Option<String>,
    pub retried_at: Option<DateTime<Utc>>,
    pub retry_reason: Option<String>,
}

impl From<outbox::NoticeView> for NoticeView {
    fn from(n: outbox::NoticeView) -> Self {
        NoticeView {
            id: n.id,
            case_id: n.case_id,
            template: n.template,
            recipient_name: n.recipient_name,
            recipient_email: n.recipient_email,
            status: n.status,
            attempts: n.attempts,
            created_at: n.created_at,
            next_attempt_at: n.next_attempt_at,
            sent_at: n.sent_at,
            message_id: n.message_id,
            response: n.response,
            last_error: n.last_error,
            eml_sha256: n.eml_sha256,
            retried_by: n.retried_by,
            retried_at: n.retried_at,
            retry_reason: n.retry_reason,
        }
    }
}

/// The first place a case's chain does not hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct BrokenRow {
    pub case_id: String,
    /// The history row's `seq` (for `case_last_hash`, the last row's; null without rows).
    pub seq: Option<i64>,
    /// `hash`: the row's content does not give its stored hash; `prev_hash`: the row does not
    /// follow the row before it (one removed, reordered or inserted); `case_last_hash`: the
    /// case row does not end on the last history row (newest rows removed).
    #[schema(value_type = String)]
    pub problem: &'static str,
    /// What the chain requires.
    pub expected: String,
    /// What is stored.
    pub stored: String,
}

impl From<verify::BrokenRow> for BrokenRow {
    fn from(b: verify::BrokenRow) -> Self {
        BrokenRow {
            case_id: b.case_id,
            seq: b.seq,
            problem: b.problem,
            expected: b.expected,
            stored: b.stored,
        }
    }
}
