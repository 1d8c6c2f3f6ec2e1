//! Runs a scenario on a simulated clock: events at 12:00 Brussels on their date, every timer
//! due before a step fired first, in order; `until` fires everything up to the end of its day.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Serialize;

use super::{Expect, Scenario};
use crate::calendar::Calendar;
use crate::machine::civil::{brussels_at, brussels_midnight, civil_date};
use crate::machine::{
    Actor, Case, CloseReason, Definition, Effect, StartRequest, TimerKind, Trigger, start, step,
};

/// Firings allowed in one step before the run is declared runaway (a recurring timer with no
/// end fires at most a few hundred times in the supported years).
const MAX_FIRINGS: usize = 100_000;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TriggerInfo {
    Start {
        by: String,
    },
    Event {
        name: String,
        by: String,
        reason: Option<String>,
    },
    Timer {
        id: String,
        label: Option<String>,
        reminder: bool,
    },
    ChildEnded {
        workflow: String,
        outcome: String,
    },
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Item {
    Deadline {
        id: String,
        label: Option<String>,
        due: NaiveDate,
        legal_basis: Option<String>,
        explanation: Vec<String>,
    },
    Reminder {
        of: String,
        on: NaiveDate,
    },
    TaskOpened {
        id: String,
        title: String,
        role: String,
        due: Option<NaiveDate>,
    },
    TaskClosed {
        id: String,
        reason: CloseReason,
    },
    Notice {
        template: String,
        to: Vec<String>,
        deadline: Option<NaiveDate>,
    },
    ChildStarted {
        workflow: String,
    },
    /// Linked cases of `workflow` were told `event`.
    Told {
        workflow: String,
        event: String,
    },
    Detail {
        text: String,
    },
    Closed {
        outcome: String,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct Refused {
    pub code: String,
    pub message: String,
}

/// One trigger applied (or refused) at one instant.
#[derive(Clone, Debug, Serialize)]
pub struct Moment {
    pub date: NaiveDate,
    pub at: DateTime<Utc>,
    /// 0 for the start, then the step number from 1.
    pub step: usize,
    pub trigger: TriggerInfo,
    pub from_state: Option<String>,
    pub to_state: String,
    pub refused: Option<Refused>,
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// "start" or "step N".
    pub step: String,
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub title: String,
    pub workflow: String,
    pub timeline: Vec<Moment>,
    pub failures: Vec<Failure>,
    pub case: Option<Case>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// What one step did, for its expectations.
#[derive(Default)]
struct Observed {
    notices: Vec<String>,
    fired: Vec<String>,
    refused: Option<String>,
}

struct Runner<'a> {
    def: &'a Definition,
    cal: &'a Calendar,
    case: Case,
    now: DateTime<Utc>,
    timeline: Vec<Moment>,
    failures: Vec<Failure>,
}

fn actor(role: &str) -> Actor {
    Actor {
        id: format!("scenario:{role}"),
        roles: vec![role.to_string()],
    }
}

fn label(step: usize) -> String {
    if step == 0 {
        "start".to_string()
    } else {
        format!("step {step}")
    }
}

/// Runs `scenario` against `def`; expectations that fail are listed, the run goes on.
pub fn run(def: &Definition, cal: &Calendar, scenario: &Scenario) -> Report {
    let mut report = Report {
        title: scenario.title.clone(),
        workflow: def.id.to_string(),
        timeline: Vec::new(),
        failures: Vec::new(),
        case: None,
    };
    let s = &scenario.start;
    let now = brussels_at(s.on, 12, 0);
    let (case, effects) = match start(
        def,
        cal,
        StartRequest {
            by: actor(&s.by),
            inputs: s.inputs.clone(),
            now,
        },
    ) {
        Ok(ok) => ok,
        Err(refusal) => {
            report.failures.push(Failure {
                step: label(0),
                message: format!("the case could not start: {}: {refusal}", refusal.code()),
            });
            return report;
        }
    };
    let mut runner = Runner {
        def,
        cal,
        case,
        now,
        timeline: Vec::new(),
        failures: Vec::new(),
    };
    let mut seen = Observed::default();
    runner.record(
        0,
        TriggerInfo::Start { by: s.by.clone() },
        None,
        &effects,
        &mut seen,
    );
    if let Some(expect) = &s.expect {
        runner.check(0, expect, &seen);
    }
    for (i, st) in scenario.steps.iter().enumerate() {
        let n = i + 1;
        let mut seen = Observed::default();
        let limit = match (st.until, st.on) {
            (Some(until), _) => match until.checked_add_days(Days::new(1)) {
                Some(next) => brussels_midnight(next),
                None => runner.now.max(brussels_midnight(until)),
            },
            (None, Some(on)) => brussels_at(on, 12, 0),
            (None, None) => runner.now,
        };
        if limit < runner.now {
            runner.failures.push(Failure {
                step: label(n),
                message: format!(
                    "steps must follow each other in time; this one is before {}",
                    civil_date(runner.now)
                ),
            });
            break;
        }
        if let Err(message) = runner.fire_until(n, limit, st.until.is_some(), &mut seen) {
            runner.failures.push(Failure {
                step: label(n),
                message,
            });
            break;
        }
        runner.now = limit;
        let trigger = if let Some(name) = &st.event {
            let by = st.by.clone().unwrap_or_default();
            Some((
                Trigger::Event {
                    name: name.clone(),
                    by: actor(&by),
                    inputs: st.inputs.clone(),
                    reason: st.reason.clone(),
                },
                TriggerInfo::Event {
                    name: name.clone(),
                    by,
                    reason: st.reason.clone(),
                },
            ))
        } else {
            st.child_ended.as_ref().map(|c| {
                (
                    Trigger::ChildEnded {
                        workflow: c.workflow.clone(),
                        outcome: c.outcome.clone(),
                    },
                    TriggerInfo::ChildEnded {
                        workflow: c.workflow.clone(),
                        outcome: c.outcome.clone(),
                    },
                )
            })
        };
        if let Some((trigger, info)) = trigger {
            runner.apply(n, trigger, info, &mut seen);
        }
        match &st.expect {
            Some(expect) => runner.check(n, expect, &seen),
            None => {
                if let Some(code) = &seen.refused {
                    runner.failures.push(Failure {
                        step: label(n),
                        message: format!(
                            "the step was refused ({code}) and no refusal was expected"
                        ),
                    });
                }
            }
        }
    }
    report.timeline = runner.timeline;
    report.failures = runner.failures;
    report.case = Some(runner.case);
    report
}

impl Runner<'_> {
    /// Fires, in order, every armed timer due at `limit` (strictly before it for `until`,
    /// whose limit is the next midnight).
    fn fire_until(
        &mut self,
        n: usize,
        limit: DateTime<Utc>,
        exclusive: bool,
        seen: &mut Observed,
    ) -> Result<(), String> {
        for _ in 0..MAX_FIRINGS {
            let Some(t) = self.case.next_timer() else {
                return Ok(());
            };
            let due = if exclusive {
                t.fire_at < limit
            } else {
                t.fire_at <= limit
            };
            if !due {
                return Ok(());
            }
            let key = t.key.clone();
            let reminder = matches!(t.kind, TimerKind::Reminder { .. });
            let at = t.fire_at.max(self.now);
            let label = self
                .def
                .timer(&key.timer)
                .and_then(|d| d.label.as_deref().map(str::to_string));
            let info = TriggerInfo::Timer {
                id: key.timer.to_string(),
                label,
                reminder,
            };
            self.now = at;
            if !reminder {
                seen.fired.push(key.timer.to_string());
            }
            self.apply(n, Trigger::Timer { key }, info, seen);
        }
        Err(format!("more than {MAX_FIRINGS} timers fired in one step"))
    }

    fn apply(&mut self, n: usize, trigger: Trigger, info: TriggerInfo, seen: &mut Observed) {
        match step(self.def, self.cal, &self.case, trigger, self.now) {
            Ok((case, effects)) => {
                let from = Some(self.case.state.to_string());
                self.case = case;
                self.record(n, info, from, &effects, seen);
            }
            Err(refusal) => {
                seen.refused = Some(refusal.code().to_string());
                self.timeline.push(Moment {
                    date: civil_date(self.now),
                    at: self.now,
                    step: n,
                    trigger: info,
                    from_state: Some(self.case.state.to_string()),
                    to_state: self.case.state.to_string(),
                    refused: Some(Refused {
                        code: refusal.code().to_string(),
                        message: refusal.to_string(),
                    }),
                    items: Vec::new(),
                });
            }
        }
    }

    fn record(
        &mut self,
        n: usize,
        trigger: TriggerInfo,
        from_state: Option<String>,
        effects: &[Effect],
        seen: &mut Observed,
    ) {
        let mut items = Vec::new();
        for e in effects {
            match e {
                Effect::ArmTimer {
                    timer_id,
                    kind,
                    deadline,
                    fire_at,
                    legal_basis,
                    label,
                    ..
                } => items.push(match kind {
                    TimerKind::Reminder { .. } => Item::Reminder {
                        of: label.as_deref().unwrap_or(timer_id).to_string(),
                        on: civil_date(*fire_at),
                    },
                    _ => Item::Deadline {
                        id: timer_id.to_string(),
                        label: label.as_deref().map(str::to_string),
                        due: deadline.due,
                        legal_basis: legal_basis.as_deref().map(str::to_string),
                        explanation: deadline.explain_fr(),
                    },
                }),
                Effect::OpenTask {
                    task_id,
                    role,
                    title,
                    due,
                    ..
                } => items.push(Item::TaskOpened {
                    id: task_id.to_string(),
                    title: title.to_string(),
                    role: role.to_string(),
                    due: due.as_ref().map(|d| d.due),
                }),
                Effect::CloseTask { task_id, reason } => items.push(Item::TaskClosed {
                    id: task_id.to_string(),
                    reason: *reason,
                }),
                Effect::SendNotice {
                    template,
                    to_roles,
                    to_emails,
                    deadline,
                    ..
                } => {
                    seen.notices.push(template.to_string());
                    items.push(Item::Notice {
                        template: template.to_string(),
                        to: to_roles
                            .iter()
                            .map(|r| r.to_string())
                            .chain(to_emails.iter().map(|e| e.to_string()))
                            .collect(),
                        deadline: deadline.as_ref().map(|d| d.deadline.due),
                    });
                }
                Effect::StartChild { workflow, .. } => items.push(Item::ChildStarted {
                    workflow: workflow.to_string(),
                }),
                Effect::Tell {
                    workflow, event, ..
                } => items.push(Item::Told {
                    workflow: workflow.to_string(),
                    event: event.to_string(),
                }),
                Effect::History(h) => {
                    items.extend(h.detail.iter().map(|d| Item::Detail { text: d.fr() }));
                }
                Effect::CancelTimer { .. } | Effect::MoveTask { .. } => {}
            }
        }
        if let Some(outcome) = self.case.outcome() {
            items.push(Item::Closed {
                outcome: outcome.to_string(),
            });
        }
        self.timeline.push(Moment {
            date: civil_date(self.now),
            at: self.now,
            step: n,
            trigger,
            from_state,
            to_state: self.case.state.to_string(),
            refused: None,
            items,
        });
    }

    fn fail(&mut self, n: usize, message: String) {
        self.failures.push(Failure {
            step: label(n),
            message,
        });
    }

    fn check(&mut self, n: usize, expect: &Expect, seen: &Observed) {
        let case = &self.case;
        let mut out = Vec::new();
        match (&expect.refused, &seen.refused) {
            (Some(want), Some(got)) if want != got => {
                out.push(format!("expected refusal {want}, got refusal {got}"));
            }
            (Some(want), None) => {
                out.push(format!("expected refusal {want}, the step was accepted"));
            }
            (None, Some(got)) => out.push(format!("the step was refused ({got})")),
            _ => {}
        }
        if let Some(want) = &expect.state
            && **want != *case.state
        {
            out.push(format!("expected state {want}, got {}", case.state));
        }
        if let Some(want) = expect.entered_on
            && want != case.entered_on
        {
            out.push(format!(
                "expected entered_on {want}, got {}",
                case.entered_on
            ));
        }
        if let Some(due) = &expect.due {
            for (id, want) in due {
                let got = case
                    .timer(id)
                    .filter(|t| t.is_armed())
                    .map(|t| t.due.due)
                    .or_else(|| case.task(id).and_then(|t| t.due.as_ref().map(|d| d.due)));
                match got {
                    Some(got) if got == *want => {}
                    Some(got) => out.push(format!("expected {id} due {want}, got {got}")),
                    None if case.timer(id).is_some() => {
                        out.push(format!("expected {id} due {want}, but it is suspended"))
                    }
                    None => out.push(format!(
                        "expected {id} due {want}, but no such timer is armed nor task open"
                    )),
                }
            }
        }
        if let Some(want) = &expect.tasks {
            let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
            let mut got: Vec<&str> = case.tasks.iter().map(|t| &*t.id).collect();
            want.sort_unstable();
            got.sort_unstable();
            if want != got {
                out.push(format!(
                    "expected tasks [{}], got [{}]",
                    want.join(", "),
                    got.join(", ")
                ));
            }
        }
        if let Some(want) = &expect.notices
            && *want != seen.notices
        {
            out.push(format!(
                "expected notices [{}], got [{}]",
                want.join(", "),
                seen.notices.join(", ")
            ));
        }
        if let Some(want) = &expect.fired
            && *want != seen.fired
        {
            out.push(format!(
                "expected fired [{}], got [{}]",
                want.join(", "),
                seen.fired.join(", ")
            ));
        }
        if let Some(vars) = &expect.variables {
            for (name, want) in vars {
                let got = case.variables.get(name.as_str()).map(|v| v.to_json());
                if got.as_ref() != Some(want) {
                    let got = got.map_or_else(|| "unset".to_string(), |g| g.to_string());
                    out.push(format!("expected variable {name} = {want}, got {got}"));
                }
            }
        }
        if let Some(want) = &expect.outcome {
            match case.outcome() {
                Some(got) if got == want => {}
                Some(got) => out.push(format!("expected outcome {want}, got {got}")),
                None => out.push(format!(
                    "expected outcome {want}, but the case is still open in state {}",
                    case.state
                )),
            }
        }
        for message in out {
            self.fail(n, message);
        }
    }
}
