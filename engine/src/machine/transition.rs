//! One transition under construction: a copy of the case that is changed step by step while
//! the effects are recorded. Only built once every check has passed, so it never refuses.

use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, Utc};

use super::case::{ArmedTimer, Case, OpenTask, Status, TimerKey, TimerKind, TimerStatus};
use super::civil::brussels_at;
use super::compiled::{
    Definition, DelayDef, NoticeDef, ReminderDef, StartCaseDef, StateDef, TellDef, TimerDef,
};
use super::effect::{Cause, CloseReason, DedupeKey, Detail, Effect, History, NoticeDeadline};
use super::value::Variables;
use crate::calendar::{
    Calendar, Change, DayOfYear, Deadline, Decision, EndRule, Length, Means, Unit,
};

/// A reminder is sent at this hour (Brussels) on its date.
const REMINDER_HOUR: u32 = 8;

/// What an `ArmTimer` effect says about the timer, shared by timers and task reminders.
#[derive(Clone, Copy)]
struct Meta<'d> {
    id: &'d Arc<str>,
    label: Option<&'d Arc<str>>,
    legal_basis: Option<&'d Arc<str>>,
    of_state: bool,
}

impl<'d> Meta<'d> {
    fn timer(t: &'d TimerDef) -> Self {
        Meta {
            id: &t.id,
            label: t.label.as_ref(),
            legal_basis: t.legal_basis.as_ref(),
            of_state: t.state.is_some(),
        }
    }
}

/// Who moved a deadline, and why: the event of the workflow that did it, or the actor's
/// decision (`administration`). Recorded in the deadline's explanation.
#[derive(Clone, Debug, Default)]
pub struct Decider {
    pub by: Option<String>,
    pub event: Option<String>,
    pub reason: Option<String>,
}

/// Whether two declared delays count the same period: a task due and the timer that enforces
/// it, which then move together.
fn same_delay(a: &DelayDef, b: &DelayDef) -> bool {
    a.from == b.from
        && a.means == b.means
        && a.length == b.length
        && a.fixed == b.fixed
        && a.rule == b.rule
}

pub struct Tx<'a> {
    pub def: &'a Definition,
    pub cal: &'a Calendar,
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
    pub case: Case,
    pub effects: Vec<Effect>,
    pub detail: Vec<Detail>,
    notices: u32,
    counted: Vec<(CountArgs, Arc<Deadline>)>,
}

type CountArgs = (
    NaiveDate,
    Option<Means>,
    Option<Length>,
    Option<(DayOfYear, bool)>,
    EndRule,
);

impl<'a> Tx<'a> {
    pub fn new(def: &'a Definition, cal: &'a Calendar, now: DateTime<Utc>, mut case: Case) -> Self {
        case.transitions += 1;
        Tx {
            def,
            cal,
            now,
            today: super::civil::civil_date(now),
            case,
            effects: Vec::with_capacity(8),
            detail: Vec::new(),
            notices: 0,
            counted: Vec::new(),
        }
    }

    pub fn finish(
        mut self,
        actor: Option<String>,
        trigger: Cause,
        from_state: Option<Arc<str>>,
        inputs: Variables,
        reason: Option<String>,
    ) -> (Case, Vec<Effect>) {
        self.effects.push(Effect::History(Box::new(History {
            at: self.now,
            actor,
            trigger,
            from_state,
            to_state: self.case.state.clone(),
            inputs,
            reason,
            detail: self.detail,
        })));
        (self.case, self.effects)
    }

    fn next_key(&mut self, timer: Arc<str>) -> TimerKey {
        self.case.arming_seq += 1;
        TimerKey {
            timer,
            seq: self.case.arming_seq,
        }
    }

    fn start_date(&self, delay: &DelayDef, default_from: NaiveDate) -> Result<NaiveDate, String> {
        match &delay.from {
            None => Ok(default_from),
            Some(var) => self
                .case
                .variables
                .get(var)
                .and_then(|v| v.as_date())
                .ok_or_else(|| format!("la variable « {var} » n'est pas renseignée")),
        }
    }

    /// The deadline of a delay. A task due and the timer that enforces it usually count the
    /// same delay: the second one shares the first's record.
    fn count(
        &mut self,
        delay: &DelayDef,
        default_from: NaiveDate,
    ) -> Result<Arc<Deadline>, String> {
        let from = self.start_date(delay, default_from)?;
        let args = (from, delay.means, delay.length, delay.fixed, delay.rule);
        if let Some((_, d)) = self.counted.iter().find(|(a, _)| *a == args) {
            return Ok(d.clone());
        }
        let d = Arc::new(delay.count(self.cal, from).map_err(|e| e.to_string())?);
        self.counted.push((args, d.clone()));
        Ok(d)
    }

    fn push_timer(
        &mut self,
        t: Meta<'_>,
        key: TimerKey,
        kind: TimerKind,
        due: Arc<Deadline>,
        fire_at: DateTime<Utc>,
    ) {
        self.effects.push(Effect::ArmTimer {
            key: key.clone(),
            timer_id: t.id.clone(),
            kind,
            deadline: due.clone(),
            fire_at,
            legal_basis: t.legal_basis.cloned(),
            label: t.label.cloned(),
        });
        self.case.timers.push(ArmedTimer {
            key,
            kind,
            due,
            fire_at,
            status: TimerStatus::Armed,
            of_state: t.of_state,
        });
    }

    /// Arms a timer of the definition, counted from `default_from` unless it names a date
    /// variable. A deadline that cannot be counted is noted in history, not armed.
    pub fn arm_timer(&mut self, ti: usize, default_from: NaiveDate) {
        let def = self.def;
        let t = &def.timers[ti];
        let armed = if let Some(after) = &t.after {
            self.count(after, default_from)
                .map(|d| Some((TimerKind::Deadline, d)))
        } else if let Some(every) = &t.every {
            self.start_date(every, default_from).map(|base| {
                self.next_occurrence(t, base, 1)
                    .map(|(n, d)| (TimerKind::Recurring { n, base }, Arc::new(d)))
            })
        } else {
            Ok(None)
        };
        match armed {
            Ok(Some((kind, due))) => {
                let key = self.next_key(t.id.clone());
                self.push_timer(Meta::timer(t), key, kind, due.clone(), due.expires_at());
                self.arm_reminders(&t.reminders, &due, Meta::timer(t));
            }
            Ok(None) => {}
            Err(why) => self.detail.push(Detail::NotCounted {
                name: t.label.clone().unwrap_or_else(|| t.id.clone()),
                task: false,
                why,
            }),
        }
    }

    /// Occurrence `n` of a recurring timer, or `None` once it would end after `until`.
    /// The limit is `until` counted from the same start, Art. 22 applied (its due date): an
    /// occurrence whose raw end falls on that day still fires.
    fn occurrence(&self, t: &TimerDef, base: NaiveDate, n: u32) -> Option<Deadline> {
        let every = t.every.as_ref()?;
        let step = every.length?;
        let count = step.count.checked_mul(n)?;
        if count > Length::max(step.unit) {
            return None;
        }
        let d = self
            .cal
            .deadline_under(
                base,
                every.means,
                Some(Length::new(count, step.unit)),
                every.rule,
            )
            .ok()?;
        if let Some(until) = &t.until {
            let limit = until.count(self.cal, base).ok()?;
            if d.raw_end > limit.due {
                return None;
            }
        }
        Some(d)
    }

    /// The first occurrence, from number `n` on, that is still ahead of `now`: a state
    /// re-entered long after the base date, or a firing handled late, arms the next occurrence
    /// to come rather than one already past (which would fire at once). Occurrences never go
    /// backwards as `n` grows, so the first one ahead is found by bisection.
    fn next_occurrence(&self, t: &TimerDef, base: NaiveDate, n: u32) -> Option<(u32, Deadline)> {
        let every = t.every.as_ref()?;
        let step = every.length?;
        let last = Length::max(step.unit).checked_div(step.count)?;
        let ahead = |n: u32| {
            self.cal
                .deadline_under(
                    base,
                    every.means,
                    Some(Length::new(step.count * n, step.unit)),
                    every.rule,
                )
                .is_ok_and(|d| d.expires_at() > self.now)
        };
        if n > last {
            return None;
        }
        let first = if ahead(n) {
            n
        } else {
            // Invariant: occurrence `lo` has passed, occurrence `hi` is ahead.
            let (mut lo, mut hi) = (n, last);
            if !ahead(hi) {
                return None;
            }
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if ahead(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            hi
        };
        self.occurrence(t, base, first).map(|d| (first, d))
    }

    /// The date of a reminder `before` ahead of `due`, on a working day.
    fn reminder_date(&self, due: NaiveDate, before: Length) -> Option<NaiveDate> {
        let mut date = due;
        match before.unit {
            Unit::WorkingDays => {
                let mut left = before.count;
                while left > 0 {
                    date = date.checked_sub_days(Days::new(1))?;
                    if self.cal.is_working_day(date) {
                        left -= 1;
                    }
                }
            }
            _ => date = date.checked_sub_days(Days::new(before.count.into()))?,
        }
        // Bounded: a run of non-working days is short.
        for _ in 0..60 {
            if self.cal.is_working_day(date) {
                return Some(date);
            }
            date = date.checked_sub_days(Days::new(1))?;
        }
        None
    }

    fn arm_reminders(&mut self, reminders: &[ReminderDef], due: &Arc<Deadline>, t: Meta<'_>) {
        for (i, r) in reminders.iter().enumerate() {
            let Some(date) = self.reminder_date(due.due, r.before) else {
                continue;
            };
            let fire_at = brussels_at(date, REMINDER_HOUR, 0);
            if fire_at <= self.now {
                continue;
            }
            let key = self.next_key(t.id.clone());
            self.push_timer(
                t,
                key,
                TimerKind::Reminder { index: i as u32 },
                due.clone(),
                fire_at,
            );
        }
    }

    pub fn open_task(&mut self, ki: usize, default_from: NaiveDate) {
        let def = self.def;
        let task = &def.tasks[ki];
        let due = match &task.due {
            None => None,
            Some(delay) => match self.count(delay, default_from) {
                Ok(d) => Some(d),
                Err(why) => {
                    self.detail.push(Detail::NotCounted {
                        name: task.title.clone(),
                        task: true,
                        why,
                    });
                    None
                }
            },
        };
        self.effects.push(Effect::OpenTask {
            task_id: task.id.clone(),
            role: task.role.clone(),
            title: task.title.clone(),
            instructions: task.instructions.clone(),
            due: due.clone(),
            legal_basis: task.legal_basis.clone(),
        });
        self.case.tasks.push(OpenTask {
            id: task.id.clone(),
            role: task.role.clone(),
            title: task.title.clone(),
            due: due.clone(),
        });
        if let Some(due) = due {
            let meta = Meta {
                id: &task.id,
                label: Some(&task.title),
                legal_basis: task.legal_basis.as_ref(),
                of_state: true,
            };
            self.arm_reminders(&task.reminders, &due, meta);
        }
    }

    /// Removes the timers that match and records their cancellation.
    fn cancel_timers(&mut self, mut pred: impl FnMut(&ArmedTimer) -> bool) {
        let effects = &mut self.effects;
        self.case.timers.retain(|t| {
            let cancel = pred(t);
            if cancel && t.is_armed() {
                effects.push(Effect::CancelTimer { key: t.key.clone() });
            }
            !cancel
        });
    }

    fn cancel_reminders_of(&mut self, owner: &str) {
        self.cancel_timers(|t| {
            matches!(t.kind, TimerKind::Reminder { .. }) && &*t.key.timer == owner
        });
    }

    pub fn close_task(&mut self, at: usize, reason: CloseReason) {
        let task = self.case.tasks.remove(at);
        self.cancel_reminders_of(&task.id);
        self.effects.push(Effect::CloseTask {
            task_id: task.id,
            reason,
        });
    }

    /// Closes the open tasks that `event` completes.
    pub fn complete_tasks(&mut self, event: &str) {
        let def = self.def;
        let mut i = 0;
        while i < self.case.tasks.len() {
            let completes = def
                .task(&self.case.tasks[i].id)
                .is_some_and(|t| t.closes_on.iter().any(|e| &**e == event));
            if completes {
                self.close_task(i, CloseReason::Completed);
            } else {
                i += 1;
            }
        }
    }

    /// Leaving the current state: its timers are cancelled and its tasks closed.
    pub fn leave(&mut self) {
        self.cancel_timers(|t| t.of_state);
        while !self.case.tasks.is_empty() {
            self.close_task(0, CloseReason::StateLeft);
        }
    }

    /// First half of entering a state: the case is in it, its timers and tasks are armed.
    pub fn arm_state(&mut self, si: usize) {
        let def = self.def;
        let state = &def.states[si];
        self.case.state = state.id.clone();
        self.case.entered_on = self.today;
        self.case.entered_at = self.now;
        if state.is_final {
            return;
        }
        for &ti in &state.timers {
            self.arm_timer(ti, self.today);
        }
        for &ki in &state.tasks {
            self.open_task(ki, self.today);
        }
    }

    /// Second half: the state's notices and child case, then the case closes if it is final.
    pub fn announce_state(&mut self, si: usize) {
        let def = self.def;
        let state: &StateDef = &def.states[si];
        for n in &state.notify {
            self.notice(n, None);
        }
        if let Some(s) = &state.start_case {
            self.start_child(s);
        }
        if state.is_final {
            self.close_case(state.outcome.clone());
        }
    }

    /// The case ends with `outcome`: its timers are cancelled and its tasks closed.
    pub fn close_case(&mut self, outcome: Arc<str>) {
        self.cancel_timers(|_| true);
        while !self.case.tasks.is_empty() {
            self.close_task(0, CloseReason::CaseClosed);
        }
        self.case.status = Status::Closed { outcome };
    }

    /// The deadline announced by default for a notice of timer or task `of`.
    pub fn deadline_of(&self, of: &str) -> Option<NoticeDeadline> {
        deadline_in(self.def, &self.case, of)
    }

    pub fn notice(&mut self, n: &NoticeDef, own: Option<&NoticeDeadline>) {
        let deadline = match &n.deadline {
            Some(of) => self.deadline_of(of),
            None => own.cloned(),
        };
        self.push_notice(n, deadline);
    }

    /// An event's notice. Its `deadline` is looked up in the case as the event leaves it (the
    /// target state's timers and tasks armed), then in the case as it was before the event: a
    /// deadline of the state just left, cancelled by the move ("reçue dans le délai qui
    /// expirait le …").
    pub fn event_notice(&mut self, n: &NoticeDef, before: &Case) {
        let deadline = n.deadline.as_ref().and_then(|of| {
            self.deadline_of(of)
                .or_else(|| deadline_in(self.def, before, of))
        });
        self.push_notice(n, deadline);
    }

    fn push_notice(&mut self, n: &NoticeDef, deadline: Option<NoticeDeadline>) {
        let to_emails = n
            .to_email_vars
            .iter()
            .filter_map(|v| match self.case.variables.get(v) {
                Some(super::value::Value::Text(s)) => Some(s.clone()),
                _ => None,
            })
            .collect();
        let dedupe_key = DedupeKey {
            transition: self.case.transitions,
            index: self.notices,
        };
        self.notices += 1;
        self.effects.push(Effect::SendNotice {
            template: n.template.clone(),
            to_roles: n.to_roles.clone(),
            to_emails,
            deadline,
            dedupe_key,
        });
    }

    pub fn start_child(&mut self, s: &StartCaseDef) {
        let variables = s
            .pass
            .iter()
            .filter_map(|(child, ours)| {
                self.case
                    .variables
                    .get(ours)
                    .map(|v| (child.clone(), v.clone()))
            })
            .collect();
        self.effects.push(Effect::StartChild {
            workflow: s.workflow.clone(),
            variables,
        });
    }

    /// Tells the linked cases of another workflow, with this case's values as they are now.
    pub fn tell(&mut self, t: &TellDef) {
        let inputs = t
            .pass
            .iter()
            .filter_map(|(theirs, ours)| {
                self.case
                    .variables
                    .get(ours)
                    .map(|v| (theirs.clone(), v.clone()))
            })
            .collect();
        self.effects.push(Effect::Tell {
            workflow: t.workflow.clone(),
            event: t.event.clone(),
            inputs,
        });
    }

    fn timer_name(&self, ti: usize) -> Arc<str> {
        let t = &self.def.timers[ti];
        t.label.clone().unwrap_or_else(|| t.id.clone())
    }

    fn live_timer(&self, ti: usize) -> Option<usize> {
        let id = &self.def.timers[ti].id;
        self.case
            .timers
            .iter()
            .position(|t| t.key.timer == *id && !matches!(t.kind, TimerKind::Reminder { .. }))
    }

    /// Suspends a timer as of `on` (the day of the event, or the date an input gives): it
    /// stops counting and keeps the budget it had left that day.
    pub fn suspend(&mut self, ti: usize, on: NaiveDate, who: &Decider) {
        let Some(at) = self.live_timer(ti) else {
            return;
        };
        let t = &self.case.timers[at];
        if !t.is_armed() {
            return;
        }
        let remaining = self.remaining_at(on, &t.due);
        let key = t.key.clone();
        let owner = key.timer.clone();
        let mut due = (*t.due).clone();
        due.decisions.push(self.decision(
            Change::Suspension {
                from: on,
                remaining,
            },
            who,
            Some(t.due.due),
        ));
        self.effects.push(Effect::CancelTimer { key });
        self.case.timers[at].status = TimerStatus::Suspended {
            since: on,
            remaining,
            extensions: Vec::new(),
        };
        self.case.timers[at].due = Arc::new(due);
        self.cancel_reminders_of(&owner);
        self.move_linked_tasks(ti, None);
        self.detail.push(Detail::Suspended {
            timer: self.timer_name(ti),
            remaining,
        });
    }

    /// What is left of `due` as of `on`, in its own unit (working days stay working days;
    /// other units are counted in calendar days); `None` when nothing is left.
    fn remaining_at(&self, on: NaiveDate, due: &Deadline) -> Option<Length> {
        let remaining = match due.length.map(|l| l.unit) {
            Some(Unit::WorkingDays) => Length::new(
                self.cal.working_days_between(on, due.due),
                Unit::WorkingDays,
            ),
            _ => Length::new(
                (due.raw_end - on).num_days().max(0) as u32,
                Unit::CalendarDays,
            ),
        };
        (remaining.count > 0).then_some(remaining)
    }

    /// A deadline counted again (after a correction) with the decisions that moved it before,
    /// replayed in order through the same calendar steps as `extend`, `suspend` and `resume`.
    /// Returns it, and the length left when it is still suspended.
    fn replay(
        &self,
        ti: usize,
        base: Deadline,
        decisions: &[Decision],
    ) -> Result<(Deadline, Option<Option<Length>>), String> {
        let rule = self.end_rule(ti);
        let mut due = base;
        let mut kept = Vec::with_capacity(decisions.len());
        let mut suspended: Option<Option<Length>> = None;
        let mut pending = Vec::new();
        for x in decisions {
            let mut x = x.clone();
            match &mut x.change {
                Change::Extension { by } if suspended.is_some() => pending.push(*by),
                Change::Extension { by } => {
                    due = self
                        .cal
                        .extended(&due, *by, rule)
                        .map_err(|e| e.to_string())?;
                }
                Change::Suspension { from, remaining } => {
                    *remaining = self.remaining_at(*from, &due);
                    suspended = Some(*remaining);
                }
                Change::Resumption { on } => {
                    if let Some(left) = suspended.take() {
                        due = self
                            .cal
                            .deadline_under(*on, None, left, rule)
                            .map_err(|e| e.to_string())?;
                        for by in pending.drain(..) {
                            due = self
                                .cal
                                .extended(&due, by, rule)
                                .map_err(|e| e.to_string())?;
                        }
                    }
                }
                Change::Correction { .. } => {}
            }
            kept.push(x);
        }
        due.decisions = kept;
        Ok((due, suspended))
    }

    /// Whether open task `task` is due when one of the case's live timers expires (and so
    /// moves with it).
    fn task_follows_a_timer(&self, task: &str) -> bool {
        let def = self.def;
        let Some(k) = def.task(task) else {
            return false;
        };
        let Some(due) = &k.due else {
            return false;
        };
        self.case.timers.iter().any(|live| {
            live.kind == TimerKind::Deadline
                && def.timer(&live.key.timer).is_some_and(|t| {
                    t.after.as_ref().is_some_and(|a| same_delay(a, due))
                        && (due.from.is_some() || t.state == Some(k.state))
                })
        })
    }

    /// The period of timer `ti` (just fired, as `fired`) has ended: its consequence waits
    /// `days` working days for letters posted by its last day, under the same deadline.
    pub fn start_grace(&mut self, ti: usize, fired: &ArmedTimer, days: u32) {
        let t = &self.def.timers[ti];
        let Some(until) = self.cal.add_working_days(fired.due.due, days) else {
            return;
        };
        let key = self.next_key(t.id.clone());
        let fire_at = crate::calendar::brussels::midnight(until + chrono::Days::new(1));
        self.push_timer(
            Meta::timer(t),
            key,
            TimerKind::Grace,
            fired.due.clone(),
            fire_at,
        );
        self.detail.push(Detail::Grace {
            timer: self.timer_name(ti),
            due: fired.due.due,
            until,
        });
    }

    /// Whether Art. 22 moves the end of timer `ti`'s period (what its `after` declares).
    fn end_rule(&self, ti: usize) -> EndRule {
        self.def.timers[ti]
            .after
            .as_ref()
            .map(|d| d.rule)
            .unwrap_or_default()
    }

    /// Resumes a suspended timer: its remaining budget counts again from `on` (the day of the
    /// event, or the date an input gives), Art. 22 applied.
    pub fn resume(&mut self, ti: usize, on: NaiveDate, who: &Decider) {
        let Some(at) = self.live_timer(ti) else {
            return;
        };
        let TimerStatus::Suspended {
            remaining,
            extensions,
            ..
        } = self.case.timers[at].status.clone()
        else {
            return;
        };
        let rule = self.end_rule(ti);
        let mut due = match self.cal.deadline_under(on, None, remaining, rule) {
            Ok(d) => d,
            Err(e) => {
                self.detail.push(Detail::Failed {
                    timer: self.timer_name(ti),
                    resume: true,
                    why: e.to_string(),
                });
                return;
            }
        };
        for ext in extensions {
            if let Ok(d) = self.cal.extended(&due, ext, rule) {
                due = d;
            }
        }
        due.decisions = self.case.timers[at].due.decisions.clone();
        due.decisions
            .push(self.decision(Change::Resumption { on }, who, None));
        self.rearm(ti, at, due);
        let due = self.case.timers.last().map(|t| t.due.due);
        if let Some(due) = due {
            self.detail.push(Detail::Resumed {
                timer: self.timer_name(ti),
                due,
            });
        }
    }

    /// Extends a timer's deadline by `by` counted from its raw end (Art. 22 applies again).
    pub fn extend(&mut self, ti: usize, by: Length, who: &Decider) {
        let Some(at) = self.live_timer(ti) else {
            return;
        };
        let decision = self.decision(Change::Extension { by }, who, None);
        let timer = &mut self.case.timers[at];
        if let TimerStatus::Suspended { extensions, .. } = &mut timer.status {
            extensions.push(by);
            Arc::make_mut(&mut timer.due).decisions.push(decision);
            self.detail.push(Detail::Extended {
                timer: self.timer_name(ti),
                by,
                due: None,
            });
            return;
        }
        let rule = self.end_rule(ti);
        let t = &self.case.timers[at];
        let due = match self.cal.extended(&t.due, by, rule) {
            Ok(d) => d,
            Err(e) => {
                self.detail.push(Detail::Failed {
                    timer: self.timer_name(ti),
                    resume: false,
                    why: e.to_string(),
                });
                return;
            }
        };
        let mut due = due;
        due.decisions = t.due.decisions.clone();
        due.decisions.push(Decision {
            previous_due: Some(t.due.due),
            ..decision
        });
        let old = t.key.clone();
        self.effects.push(Effect::CancelTimer { key: old.clone() });
        self.cancel_reminders_of(&old.timer);
        let Some(at) = self.live_timer(ti) else {
            return;
        };
        let due_date = due.due;
        self.rearm(ti, at, due);
        self.detail.push(Detail::Extended {
            timer: self.timer_name(ti),
            by,
            due: Some(due_date),
        });
    }

    /// Replaces timer record `at` by a fresh arming (new key) due at `due`.
    fn rearm(&mut self, ti: usize, at: usize, due: Deadline) {
        let def = self.def;
        let t = &def.timers[ti];
        let old = self.case.timers.remove(at);
        let due = Arc::new(due);
        let key = self.next_key(t.id.clone());
        self.push_timer(Meta::timer(t), key, old.kind, due.clone(), due.expires_at());
        if old.kind == TimerKind::Deadline {
            self.arm_reminders(&t.reminders, &due, Meta::timer(t));
            self.move_linked_tasks(ti, Some(due));
        }
    }

    fn decision(&self, change: Change, who: &Decider, previous_due: Option<NaiveDate>) -> Decision {
        Decision {
            change,
            on: self.today,
            by: who.by.clone(),
            event: who.event.clone(),
            reason: who.reason.clone(),
            previous_due,
        }
    }

    /// The open tasks due when timer `ti` expires (their `due` counts the timer's `after`):
    /// they move with it, and lose their due date while it is suspended.
    fn move_linked_tasks(&mut self, ti: usize, due: Option<Arc<Deadline>>) {
        let def = self.def;
        let t = &def.timers[ti];
        let Some(after) = &t.after else {
            return;
        };
        let linked: Vec<Arc<str>> = self
            .case
            .tasks
            .iter()
            .filter(|open| {
                def.task(&open.id).is_some_and(|k| {
                    k.due.as_ref().is_some_and(|d| same_delay(d, after))
                        && (after.from.is_some() || t.state == Some(k.state))
                })
            })
            .map(|open| open.id.clone())
            .collect();
        for id in linked {
            self.set_task_due(&id, due.clone());
        }
    }

    /// Gives open task `id` a new due date: its reminders are counted again from it.
    fn set_task_due(&mut self, id: &Arc<str>, due: Option<Arc<Deadline>>) {
        let def = self.def;
        let Some(open) = self.case.tasks.iter_mut().find(|t| t.id == *id) else {
            return;
        };
        open.due = due.clone();
        self.cancel_reminders_of(id);
        self.effects.push(Effect::MoveTask {
            task_id: id.clone(),
            due: due.clone(),
        });
        if let (Some(due), Some(task)) = (due, def.task(id)) {
            let meta = Meta {
                id: &task.id,
                label: Some(&task.title),
                legal_basis: task.legal_basis.as_ref(),
                of_state: true,
            };
            self.arm_reminders(&task.reminders, &due, meta);
        }
    }

    /// After a correction of `vars`: every armed deadline counted from one of them is counted
    /// again through the calendar, with its task and reminders; so is every open task due
    /// from one of them.
    pub fn recount(&mut self, vars: &[Arc<str>], who: &Decider) {
        let def = self.def;
        let depends = |d: &DelayDef| d.from.as_ref().filter(|f| vars.contains(f)).cloned();
        let live: Vec<TimerKey> = self
            .case
            .timers
            .iter()
            .filter(|t| t.kind == TimerKind::Deadline)
            .map(|t| t.key.clone())
            .collect();
        for key in live {
            let Some(ti) = def.timers.iter().position(|t| t.id == key.timer) else {
                continue;
            };
            let Some(after) = &def.timers[ti].after else {
                continue;
            };
            let Some(variable) = depends(after) else {
                continue;
            };
            let Some(old) = self.case.timers.iter().find(|t| t.key == key) else {
                continue;
            };
            let old = old.due.clone();
            let counted = self
                .count(after, self.today)
                .and_then(|d| self.replay(ti, (*d).clone(), &old.decisions));
            match counted {
                Ok((d, _)) if d.due == old.due && d.raw_end == old.raw_end => {}
                Ok((mut d, still_suspended)) => {
                    d.decisions.push(self.decision(
                        Change::Correction {
                            variable: variable.to_string(),
                        },
                        who,
                        Some(old.due),
                    ));
                    let to = d.due;
                    let Some(at) = self.case.timers.iter().position(|t| t.key == key) else {
                        continue;
                    };
                    let since = match &self.case.timers[at].status {
                        TimerStatus::Suspended { since, .. } => Some(*since),
                        TimerStatus::Armed => None,
                    };
                    match since {
                        // Still suspended: only what it will have left when resumed changes
                        // (counted from its suspension if no decision recorded it).
                        Some(since) => {
                            let left =
                                still_suspended.unwrap_or_else(|| self.remaining_at(since, &d));
                            if let TimerStatus::Suspended { remaining, .. } =
                                &mut self.case.timers[at].status
                            {
                                *remaining = left;
                            }
                            self.case.timers[at].due = Arc::new(d);
                        }
                        None => {
                            self.effects.push(Effect::CancelTimer { key: key.clone() });
                            self.cancel_reminders_of(&key.timer);
                            self.rearm(ti, at, d);
                        }
                    }
                    self.detail.push(Detail::Recounted {
                        name: self.timer_name(ti),
                        task: false,
                        from: Some(old.due),
                        to,
                    });
                }
                Err(why) => self.detail.push(Detail::NotCounted {
                    name: self.timer_name(ti),
                    task: false,
                    why,
                }),
            }
        }
        let open: Vec<Arc<str>> = self.case.tasks.iter().map(|t| t.id.clone()).collect();
        for id in open {
            let Some(task) = def.task(&id) else {
                continue;
            };
            let Some(delay) = &task.due else {
                continue;
            };
            let Some(variable) = depends(delay) else {
                continue;
            };
            // A task due with a live timer moved with it, decisions included.
            if self.task_follows_a_timer(&id) {
                continue;
            }
            let old = self.case.task(&id).and_then(|t| t.due.clone());
            match self.count(delay, self.today) {
                // Unchanged, or already moved with the timer it shares.
                Ok(d) if old.as_ref().is_some_and(|o| o.due == d.due) => {}
                Ok(d) => {
                    let mut d = (*d).clone();
                    if let Some(o) = &old {
                        d.decisions = o.decisions.clone();
                    }
                    d.decisions.push(self.decision(
                        Change::Correction {
                            variable: variable.to_string(),
                        },
                        who,
                        old.as_ref().map(|o| o.due),
                    ));
                    let to = d.due;
                    self.set_task_due(&id, Some(Arc::new(d)));
                    self.detail.push(Detail::Recounted {
                        name: task.title.clone(),
                        task: true,
                        from: old.map(|o| o.due),
                        to,
                    });
                }
                Err(why) => self.detail.push(Detail::NotCounted {
                    name: task.title.clone(),
                    task: true,
                    why,
                }),
            }
        }
    }

    /// Arms the next occurrence to come of a recurring timer that just fired (occurrence `n`).
    pub fn rearm_recurring(&mut self, ti: usize, n: u32, base: NaiveDate) {
        let def = self.def;
        let t = &def.timers[ti];
        if let Some((next, d)) = self.next_occurrence(t, base, n + 1) {
            let due = Arc::new(d);
            let key = self.next_key(t.id.clone());
            self.push_timer(
                Meta::timer(t),
                key,
                TimerKind::Recurring { n: next, base },
                due.clone(),
                due.expires_at(),
            );
            self.arm_reminders(&t.reminders, &due, Meta::timer(t));
        }
    }
}

/// The deadline of timer or task `of` as `case` holds it.
fn deadline_in(def: &Definition, case: &Case, of: &str) -> Option<NoticeDeadline> {
    if let Some(t) = case.timer(of) {
        return Some(NoticeDeadline {
            of: t.key.timer.clone(),
            deadline: t.due.clone(),
            legal_basis: def.timer(of).and_then(|d| d.legal_basis.clone()),
        });
    }
    let task = case.task(of)?;
    Some(NoticeDeadline {
        of: task.id.clone(),
        deadline: task.due.clone()?,
        legal_basis: def.task(of).and_then(|d| d.legal_basis.clone()),
    })
}
