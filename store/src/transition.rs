//! Writes the outcome of one engine call — and of everything it sets off (child cases started,
//! a parent told that its child ended) — inside the caller's transaction: case row, history
//! (hash-chained), timers, tasks and outbox rows. Nothing here commits; the caller does, once.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use engine::calendar::{Calendar, Deadline};
use engine::machine::{Case, Effect, History, NoticeDeadline, Status, TimerKind, Variables};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryTrait};

use super::Error;
use super::changes::Change;
use super::conn::Conn;
use super::entities::{case, history, outbox, task, timer};
use super::notice_facts::{CaseFacts, DeadlineFacts, NoticeFacts, StateFacts, WorkflowFacts};
use super::registry::Deployed;
use super::verify::{Hashed, row_hash};
use super::wakes::Due;
use super::watch::{Watch, watch};
use super::write_set::{CaseWrite, WriteSet};
use crate::clock::millis;

/// Where a case row comes from: a new case, or the row as read (for its version check).
pub(super) enum Row<'a> {
    New {
        id: String,
        key: String,
        parent_id: Option<String>,
    },
    Existing(&'a case::Model),
}

/// What a written transition sets off, for `drive.rs` to run in the same transaction: the
/// Writer only writes rows and never runs the engine.
pub(super) enum Followup {
    StartChild {
        parent_id: String,
        parent_key: String,
        workflow: Arc<str>,
        variables: Variables,
    },
    ChildEnded {
        parent_id: String,
        workflow: String,
        outcome: String,
    },
    /// Send `event` to the open cases of `workflow` linked to the case that told them.
    Tell {
        from_id: String,
        from_key: String,
        from_parent: Option<String>,
        workflow: Arc<str>,
        event: Arc<str>,
        inputs: Variables,
    },
}

pub(super) struct Writer<'a> {
    pub txn: Conn<'a>,
    pub now: DateTime<Utc>,
    /// The calendar that counts `stuck_after` limits (`watch.rs`); a Writer made without it
    /// (a write that moves no state, e.g. a document's history row) keeps `stuck_at`.
    calendar: Option<&'a Calendar>,
    followups: VecDeque<Followup>,
    /// Every case row written, to tell once the transaction commits (`changes.rs`).
    pub changed: Vec<Change>,
    /// The timers armed and notices queued, to wake the loops once it commits (`wakes.rs`).
    pub due: Due,
}

fn explanation(d: &Deadline) -> String {
    d.explain_fr().join("\n")
}

fn vars_json(v: &Variables) -> serde_json::Value {
    serde_json::Value::Object(
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_json()))
            .collect(),
    )
}

impl<'a> Writer<'a> {
    pub fn new(txn: Conn<'a>, now: DateTime<Utc>) -> Self {
        Writer {
            txn,
            now,
            calendar: None,
            followups: VecDeque::new(),
            changed: Vec::new(),
            due: Due::default(),
        }
    }

    /// Counts the stuck limits of what it writes over `calendar` (the store's).
    pub fn with_calendar(mut self, calendar: &'a Calendar) -> Self {
        self.calendar = Some(calendar);
        self
    }

    /// The next child to start or parent to tell, set off by what was written.
    pub fn next_followup(&mut self) -> Option<Followup> {
        self.followups.pop_front()
    }

    /// Writes one engine outcome (case row, history, timers, tasks, outbox rows); what it
    /// sets off is queued for [`Writer::next_followup`]. Returns the case's new row.
    pub async fn write(
        &mut self,
        deployed: &Deployed,
        row: Row<'_>,
        case: &Case,
        effects: Vec<Effect>,
        late_ms: Option<i64>,
    ) -> Result<case::Model, Error> {
        let now = millis(self.now);
        let data = serde_json::to_string(case).map_err(|e| Error::Corrupt(e.to_string()))?;
        let (status, outcome) = row_status(case);
        // The history row comes first: its hash is stored on the case row.
        let prev_hash = match &row {
            Row::New { .. } => String::new(),
            Row::Existing(before) => before.last_hash.clone(),
        };
        let mut last_hash = prev_hash.clone();
        let mut history_row = None;
        for e in &effects {
            if let Effect::History(h) = e {
                let m = history_model(&row_id(&row), case.transitions, h, late_ms, &last_hash);
                last_hash = m.hash.clone().unwrap();
                history_row = Some(m);
            }
        }
        let before = match &row {
            Row::New { .. } => Watch::default(),
            Row::Existing(b) => Watch {
                idle_since: b.idle_since,
                stuck_at: b.stuck_at,
            },
        };
        let w = watch(&deployed.def, self.calendar, case, before, self.now);
        let (written, case_write) = match row {
            Row::New { id, key, parent_id } => {
                let written = case::Model {
                    id,
                    workflow_id: deployed.workflow_id.clone(),
                    version_id: deployed.version_id,
                    business_key: key,
                    state: case.state.to_string(),
                    status,
                    outcome,
                    data,
                    row_version: 1,
                    parent_id,
                    created_at: now,
                    updated_at: now,
                    entered_at: millis(case.entered_at),
                    last_hash: last_hash.clone(),
                    idle_since: w.idle_since,
                    stuck_at: w.stuck_at,
                };
                let insert = CaseWrite::Insert {
                    row: case::ActiveModel::from(written.clone()),
                    on_duplicate: Error::Conflict {
                        code: "duplicate_business_key",
                        message: "a case with this business key already exists for this workflow"
                            .into(),
                    },
                };
                (written, insert)
            }
            Row::Existing(before) => {
                let mut update = case::Entity::update_many()
                    .col_expr(case::Column::Outcome, Expr::value(outcome.clone()))
                    .col_expr(case::Column::Data, Expr::value(data.clone()))
                    .col_expr(
                        case::Column::RowVersion,
                        Expr::value(before.row_version + 1),
                    )
                    .col_expr(case::Column::UpdatedAt, Expr::value(now))
                    .col_expr(case::Column::LastHash, Expr::value(last_hash.clone()));
                // An indexed column is set only when it changes: SQLite rewrites the index
                // entries of every column an UPDATE sets, even to the value it had, and
                // those are pages of their own in the WAL.
                let (state, entered_at) = (case.state.to_string(), millis(case.entered_at));
                if state != before.state || entered_at != before.entered_at {
                    update = update
                        .col_expr(case::Column::State, Expr::value(state))
                        .col_expr(case::Column::EnteredAt, Expr::value(entered_at));
                }
                if status != before.status {
                    update = update.col_expr(case::Column::Status, Expr::value(status));
                }
                if w.idle_since != before.idle_since {
                    update = update.col_expr(case::Column::IdleSince, Expr::value(w.idle_since));
                }
                if w.stuck_at != before.stuck_at {
                    update = update.col_expr(case::Column::StuckAt, Expr::value(w.stuck_at));
                }
                let update = update
                    .filter(case::Column::Id.eq(&before.id))
                    .filter(case::Column::RowVersion.eq(before.row_version))
                    .into_query();
                let written = case::Model {
                    state: case.state.to_string(),
                    status,
                    outcome,
                    data,
                    row_version: before.row_version + 1,
                    updated_at: now,
                    entered_at: millis(case.entered_at),
                    last_hash,
                    idle_since: w.idle_since,
                    stuck_at: w.stuck_at,
                    ..before.clone()
                };
                (written, CaseWrite::Update(update))
            }
        };
        // Every transition has its history row (the machine's last effect); its notices are
        // filed under it.
        let mut set = WriteSet::new(case_write, history_row);
        for effect in effects {
            self.effect(&mut set, deployed, &written, case, effect)
                .await?;
        }
        if !set.send(self.txn).await? {
            return Err(Error::Conflict {
                code: "stale_version",
                message: format!(
                    "case {} changed since version {} was read",
                    written.id,
                    written.row_version - 1
                ),
            });
        }
        if let (Status::Closed { outcome }, Some(parent)) = (&case.status, &written.parent_id) {
            self.followups.push_back(Followup::ChildEnded {
                parent_id: parent.clone(),
                workflow: written.workflow_id.clone(),
                outcome: outcome.to_string(),
            });
        }
        let change = Change::row(&written.id, written.row_version);
        // For the notification of the PostgreSQL batch this transition commits in.
        super::changes::note(&change);
        self.changed.push(change);
        Ok(written)
    }

    async fn effect(
        &mut self,
        set: &mut WriteSet,
        deployed: &Deployed,
        row: &case::Model,
        case: &Case,
        effect: Effect,
    ) -> Result<(), Error> {
        let now = millis(self.now);
        match effect {
            Effect::History(_) => {}
            Effect::ArmTimer {
                key,
                timer_id,
                kind,
                deadline,
                fire_at,
                legal_basis,
                label,
            } => {
                let m = timer::ActiveModel {
                    case_id: Set(row.id.clone()),
                    timer_key: Set(key.to_string()),
                    timer_id: Set(timer_id.to_string()),
                    kind: Set(TimerKind::name(&kind).to_owned()),
                    label: Set(label.map(|l| l.to_string())),
                    due_date: Set(deadline.due.to_string()),
                    fire_at: Set(millis(fire_at)),
                    explanation: Set(explanation(&deadline)),
                    legal_basis: Set(legal_basis.map(|l| l.to_string())),
                    status: Set(timer::Status::Armed),
                    attempts: Set(0),
                    created_at: Set(now),
                    ..Default::default()
                };
                set.insert(key.to_string(), m);
                self.due.timer(millis(fire_at));
            }
            Effect::CancelTimer { key } => {
                let key = key.to_string();
                let cancel = timer::Entity::update_many()
                    .col_expr(timer::Column::Status, Expr::value(timer::Status::Cancelled))
                    .filter(timer::Column::CaseId.eq(&row.id))
                    .filter(timer::Column::TimerKey.eq(&key))
                    .filter(timer::Column::Status.eq(timer::Status::Armed));
                set.update::<timer::Entity>(key, cancel.into_query());
            }
            Effect::OpenTask {
                task_id,
                role,
                title,
                instructions,
                due,
                legal_basis,
            } => {
                let m = task::ActiveModel {
                    case_id: Set(row.id.clone()),
                    task_id: Set(task_id.to_string()),
                    role: Set(role.to_string()),
                    title: Set(title.to_string()),
                    instructions: Set(instructions.map(|i| i.to_string())),
                    due_date: Set(due.as_ref().map(|d| d.due.to_string())),
                    explanation: Set(due.as_deref().map(explanation)),
                    legal_basis: Set(legal_basis.map(|l| l.to_string())),
                    status: Set(task::Status::Open),
                    opened_at: Set(now),
                    ..Default::default()
                };
                set.insert(task_id.to_string(), m);
            }
            Effect::CloseTask { task_id, reason } => {
                let reason = serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned));
                let close = task::Entity::update_many()
                    .col_expr(task::Column::Status, Expr::value(task::Status::Closed))
                    .col_expr(task::Column::ClosedAt, Expr::value(now))
                    .col_expr(task::Column::CloseReason, Expr::value(reason))
                    .filter(task::Column::CaseId.eq(&row.id))
                    .filter(task::Column::TaskId.eq(task_id.to_string()))
                    .filter(task::Column::Status.eq(task::Status::Open));
                set.update::<task::Entity>(task_id.to_string(), close.into_query());
            }
            Effect::MoveTask { task_id, due } => {
                // The task keeps its row: only its due date and explanation follow the deadline.
                let moved = task::Entity::update_many()
                    .col_expr(
                        task::Column::DueDate,
                        Expr::value(due.as_ref().map(|d| d.due.to_string())),
                    )
                    .col_expr(
                        task::Column::Explanation,
                        Expr::value(due.as_deref().map(explanation)),
                    )
                    .filter(task::Column::CaseId.eq(&row.id))
                    .filter(task::Column::TaskId.eq(task_id.to_string()))
                    .filter(task::Column::Status.eq(task::Status::Open));
                set.update::<task::Entity>(task_id.to_string(), moved.into_query());
            }
            Effect::SendNotice {
                template,
                to_roles,
                to_emails,
                deadline,
                dedupe_key,
            } => {
                let facts = notice_facts(deployed, row, case, deadline.as_ref());
                let mut recipients: Vec<(Option<String>, Option<String>, String)> = Vec::new();
                for role in &to_roles {
                    let holders = self.txn.holders(role).await?;
                    for a in holders {
                        if !recipients.iter().any(|r| r.2 == a.email) {
                            recipients.push((Some(a.id), Some(a.name), a.email));
                        }
                    }
                }
                for e in &to_emails {
                    if !recipients.iter().any(|r| *r.2 == **e) {
                        recipients.push((None, None, e.to_string()));
                    }
                }
                // Unique within its transition: the outbox's unique index is
                // (history_id, dedupe_key).
                let base = dedupe_key.to_string();
                if recipients.is_empty() {
                    // Kept, not dropped: the operator sees a notice nobody could receive.
                    let roles: Vec<&str> = to_roles.iter().map(|r| &**r).collect();
                    self.outbox_row(
                        set,
                        deployed,
                        row,
                        &template,
                        &facts,
                        base.clone(),
                        (None, None, None),
                        Some(format!(
                            "no active actor holds the role(s) {} and no address was given",
                            roles.join(", ")
                        )),
                    );
                }
                for (actor_id, name, email) in recipients {
                    let key = format!("{base}:{email}");
                    self.outbox_row(
                        set,
                        deployed,
                        row,
                        &template,
                        &facts,
                        key,
                        (actor_id, name, Some(email)),
                        None,
                    );
                }
            }
            Effect::StartChild {
                workflow,
                variables,
            } => self.followups.push_back(Followup::StartChild {
                parent_id: row.id.clone(),
                parent_key: row.business_key.clone(),
                workflow,
                variables,
            }),
            Effect::Tell {
                workflow,
                event,
                inputs,
            } => self.followups.push_back(Followup::Tell {
                from_id: row.id.clone(),
                from_key: row.business_key.clone(),
                from_parent: row.parent_id.clone(),
                workflow,
                event,
                inputs,
            }),
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn outbox_row(
        &mut self,
        set: &mut WriteSet,
        deployed: &Deployed,
        row: &case::Model,
        template: &str,
        facts: &NoticeFacts,
        dedupe_key: String,
        (actor_id, name, email): (Option<String>, Option<String>, Option<String>),
        dead: Option<String>,
    ) {
        let now = millis(self.now);
        let pending = dead.is_none();
        let m = outbox::ActiveModel {
            case_id: Set(Some(row.id.clone())),
            dedupe_key: Set(dedupe_key),
            version_id: Set(Some(deployed.version_id)),
            template: Set(template.to_owned()),
            recipient_actor: Set(actor_id),
            recipient_name: Set(name),
            recipient_email: Set(email),
            context: Set(facts.to_text()),
            status: Set(if dead.is_some() {
                outbox::Status::Dead
            } else {
                outbox::Status::Pending
            }),
            attempts: Set(0),
            next_attempt_at: Set(now),
            created_at: Set(now),
            last_error: Set(dead),
            ..Default::default()
        };
        set.notice(m);
        if pending {
            self.due.notice();
        }
    }
}

/// What a notice needs to be rendered later exactly as the case was at this transition.
fn notice_facts(
    deployed: &Deployed,
    row: &case::Model,
    case: &Case,
    deadline: Option<&NoticeDeadline>,
) -> NoticeFacts {
    let def = &deployed.def;
    let serde_json::Value::Object(vars) = vars_json(&case.variables) else {
        unreachable!("vars_json builds an object")
    };
    NoticeFacts {
        workflow: WorkflowFacts {
            id: deployed.workflow_id.to_string(),
            title: def.title.to_string(),
            version: deployed.version,
        },
        case: CaseFacts {
            id: row.id.clone(),
            key: row.business_key.clone(),
        },
        state: StateFacts {
            id: case.state.to_string(),
            label: def.state(&case.state).map(|s| s.label.to_string()),
        },
        vars,
        date_vars: case
            .variables
            .iter()
            .filter(|(_, v)| v.as_date().is_some())
            .map(|(k, _)| k.to_string())
            .collect(),
        deadline: deadline.map(|d| DeadlineFacts {
            of: d.of.to_string(),
            legal_basis: d.legal_basis.as_deref().map(str::to_owned),
            deadline: (*d.deadline).clone(),
        }),
    }
}

fn row_status(case: &Case) -> (case::Status, Option<String>) {
    match &case.status {
        Status::Open => (case::Status::Open, None),
        Status::Closed { outcome } => (case::Status::Closed, Some(outcome.to_string())),
    }
}

fn row_id(row: &Row<'_>) -> String {
    match row {
        Row::New { id, .. } => id.clone(),
        Row::Existing(m) => m.id.clone(),
    }
}

/// The history row of a transition, chained to `prev` (the case's last hash).
fn history_model(
    case_id: &str,
    seq: u64,
    h: &History,
    late_ms: Option<i64>,
    prev: &str,
) -> history::ActiveModel {
    let inputs = vars_json(&h.inputs).to_string();
    // Structured, with the French sentence beside it for readers of the history.
    let detail = serde_json::Value::Array(
        h.detail
            .iter()
            .map(|d| {
                let mut v = serde_json::to_value(d).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("text".into(), d.fr().into());
                }
                v
            })
            .collect(),
    )
    .to_string();
    let trigger = h.trigger.to_string();
    let at = millis(h.at);
    let hash = row_hash(&Hashed {
        prev,
        case_id,
        seq: seq as i64,
        at,
        actor: h.actor.as_deref().unwrap_or(""),
        trigger: &trigger,
        from_state: h.from_state.as_deref().unwrap_or(""),
        to_state: &h.to_state,
        inputs: &inputs,
        reason: h.reason.as_deref().unwrap_or(""),
        detail: &detail,
    });
    history::ActiveModel {
        case_id: Set(case_id.to_owned()),
        seq: Set(seq as i64),
        at: Set(at),
        actor_id: Set(h.actor.clone()),
        trigger: Set(trigger),
        from_state: Set(h.from_state.as_ref().map(|s| s.to_string())),
        to_state: Set(h.to_state.to_string()),
        inputs: Set(inputs),
        reason: Set(h.reason.clone()),
        detail: Set(detail),
        late_ms: Set(late_ms),
        prev_hash: Set(prev.to_owned()),
        hash: Set(hash),
        ..Default::default()
    }
}
