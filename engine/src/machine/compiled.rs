//! A workflow compiled once into an indexed form: states, timers and tasks by number, names
//! shared (`Arc<str>`) so that a transition copies no text, literals already typed.
//! Compiling refuses broken references, so the machine can rely on them.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use indexmap::IndexMap;

use super::schedule::ScheduleDef;
use super::value::{self, Guard, Value};
use chrono::NaiveDate;

use crate::calendar::{Calendar, CalendarError, DayOfYear, Deadline, EndRule, Length, Means, Unit};
use crate::definition::{
    Administration, Condition, Constraint, Delay, Literal, Located, MAX_GRACE, Notice, Posted,
    Reminder, Schedule, StartCase, Task, Tell, Timer, VarType, Variable, Workflow,
};

/// FNV-1a: the maps below are keyed by short names from a trusted definition, looked up on
/// every transition; SipHash's protection against crafted keys buys nothing here and costs
/// more than the rest of a lookup.
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub type FastHash = BuildHasherDefault<Fnv>;
type Names = HashMap<String, usize, FastHash>;

/// Where a delay counts from and how long it is.
#[derive(Clone, Debug)]
pub struct DelayDef {
    /// A date variable; `None` means the day the case entered the state (or started).
    pub from: Option<Arc<str>>,
    pub means: Option<Means>,
    pub length: Option<Length>,
    /// A day and month fixed by the text, in the year of `from` (`false`) or the first one
    /// after `from` (`true`).
    pub fixed: Option<(DayOfYear, bool)>,
    /// Whether Art. 22 moves the end to a working day.
    pub rule: EndRule,
}

impl DelayDef {
    /// The deadline this delay sets when counted from `from`: the one way a declared delay
    /// becomes a date.
    pub fn count(&self, cal: &Calendar, from: NaiveDate) -> Result<Deadline, CalendarError> {
        match self.fixed {
            Some((day, false)) => cal.fixed_date(from, day),
            Some((day, true)) => cal.next_date(from, day),
            None => cal.deadline_under(from, self.means, self.length, self.rule),
        }
    }
}

#[derive(Debug)]
pub struct NoticeDef {
    pub template: Arc<str>,
    pub to_roles: Vec<Arc<str>>,
    /// `email` variables whose value receives the notice.
    pub to_email_vars: Vec<Arc<str>>,
    /// The timer or task (by id) whose due date the notice announces, when named explicitly.
    pub deadline: Option<Arc<str>>,
}

#[derive(Debug)]
pub struct ReminderDef {
    pub before: Length,
    pub notify: Vec<NoticeDef>,
}

#[derive(Debug)]
pub struct TimerDef {
    pub id: Arc<str>,
    pub label: Option<Arc<str>>,
    pub legal_basis: Option<Arc<str>>,
    pub after: Option<DelayDef>,
    pub every: Option<DelayDef>,
    pub until: Option<DelayDef>,
    pub goto: Option<usize>,
    pub set: Vec<(Arc<str>, Value)>,
    pub notify: Vec<NoticeDef>,
    pub reminders: Vec<ReminderDef>,
    /// Working days the consequence waits after the due date for letters posted in time.
    pub grace: Option<u32>,
    /// The state it belongs to, whose leaving cancels it; `None` for a workflow-level timer
    /// and for a state's timer with `persist` (armed on entering its state, kept until it
    /// fires or the case ends).
    pub state: Option<usize>,
}

#[derive(Debug)]
pub struct TaskDef {
    pub id: Arc<str>,
    pub role: Arc<str>,
    pub title: Arc<str>,
    pub instructions: Option<Arc<str>>,
    pub legal_basis: Option<Arc<str>>,
    pub due: Option<DelayDef>,
    pub closes_on: Vec<Arc<str>>,
    pub reminders: Vec<ReminderDef>,
    pub state: usize,
}

#[derive(Debug)]
pub struct StartCaseDef {
    pub workflow: Arc<str>,
    /// (child variable, variable of this case).
    pub pass: Vec<(Arc<str>, Arc<str>)>,
}

#[derive(Debug)]
pub enum Target {
    Stay,
    Goto(usize),
    Choose(Vec<(Option<Guard>, usize)>),
}

#[derive(Debug)]
pub struct EventDef {
    pub name: Arc<str>,
    pub label: Option<Arc<str>>,
    pub by: Vec<Arc<str>>,
    pub inputs: Vec<Arc<str>>,
    pub optional_inputs: Vec<Arc<str>>,
    pub when: Option<Guard>,
    pub set: Vec<(Arc<str>, Value)>,
    pub target: Target,
    pub notify: Vec<NoticeDef>,
    pub start_case: Option<StartCaseDef>,
    pub suspend: Vec<usize>,
    pub resume: Vec<usize>,
    /// The date variable on which suspend/resume take effect (default: the event's day).
    pub effective: Option<Arc<str>>,
    pub extend: Vec<(usize, Length)>,
    /// The letter's dispatch date (a date variable among the inputs) and the timer of the
    /// period it must be posted within.
    pub posted: Option<(Arc<str>, usize)>,
    pub constraints: Vec<ConstraintDef>,
    /// Events sent to linked cases (see `Tell` in the language).
    pub tell: Vec<TellDef>,
}

#[derive(Debug)]
pub struct TellDef {
    pub workflow: Arc<str>,
    pub event: Arc<str>,
    /// (variable of the told case, variable of this case).
    pub pass: Vec<(Arc<str>, Arc<str>)>,
}

/// A date input bounded by deadlines (see `Constraint` in the language).
#[derive(Debug)]
pub struct ConstraintDef {
    pub var: Arc<str>,
    pub not_before: Option<DelayDef>,
    pub not_after: Option<DelayDef>,
    pub message: Arc<str>,
}

#[derive(Debug)]
pub struct StateDef {
    pub id: Arc<str>,
    pub label: Arc<str>,
    pub legal_basis: Option<Arc<str>>,
    pub is_final: bool,
    pub outcome: Arc<str>,
    pub notify: Vec<NoticeDef>,
    pub start_case: Option<StartCaseDef>,
    pub tasks: Vec<usize>,
    pub timers: Vec<usize>,
    pub events: Vec<EventDef>,
    /// (child outcome, target state).
    pub on_child: Vec<(String, usize)>,
    /// How long a case may stay in this state before operators see it as stuck, counted from
    /// the day it entered the state unless `from` names a date variable; see
    /// [`super::stuck_limit`].
    pub stuck_after: Option<DelayDef>,
}

impl StateDef {
    pub fn event(&self, name: &str) -> Option<&EventDef> {
        self.events.iter().find(|e| &*e.name == name)
    }
}

#[derive(Debug)]
pub struct StartDef {
    pub by: Vec<Arc<str>>,
    pub inputs: Vec<Arc<str>>,
    pub optional_inputs: Vec<Arc<str>>,
    pub notify: Vec<NoticeDef>,
}

/// Who may change a running case outside its events (`administration`), and the notices of a
/// correction.
#[derive(Debug)]
pub struct AdminDef {
    pub corrections_by: Vec<Arc<str>>,
    pub corrections_notify: Vec<NoticeDef>,
    pub deadlines_by: Vec<Arc<str>>,
    pub closing_by: Vec<Arc<str>>,
}

/// The server's own roles, which an `administration` block may name besides the workflow's.
pub const SERVER_ROLES: [&str; 2] = ["admin", "operator"];

/// A compiled workflow.
#[derive(Debug)]
pub struct Definition {
    pub id: Arc<str>,
    pub title: String,
    pub legal_basis: String,
    pub roles: IndexMap<String, String>,
    pub variables: IndexMap<String, Variable, FastHash>,
    /// The names of `variables`, same order, shared by every case's variable map.
    var_names: Vec<Arc<str>>,
    /// The values of each `enum` variable (same order as `variables`), shared by every case
    /// that holds one.
    enum_values: Vec<Vec<Arc<str>>>,
    pub start: StartDef,
    pub initial: usize,
    pub states: Vec<StateDef>,
    pub timers: Vec<TimerDef>,
    pub tasks: Vec<TaskDef>,
    /// Timers armed at start that live until a final state.
    pub case_timers: Vec<usize>,
    /// Cron schedules that start cases; see [`super::next_runs`].
    pub schedules: Vec<ScheduleDef>,
    pub admin: AdminDef,
    state_index: Names,
    timer_index: Names,
    task_index: Names,
}

impl Definition {
    pub fn state_index(&self, id: &str) -> Option<usize> {
        self.state_index.get(id).copied()
    }

    pub fn state(&self, id: &str) -> Option<&StateDef> {
        self.state_index(id).map(|i| &self.states[i])
    }

    pub fn timer(&self, id: &str) -> Option<&TimerDef> {
        self.timer_index.get(id).map(|&i| &self.timers[i])
    }

    pub fn task(&self, id: &str) -> Option<&TaskDef> {
        self.task_index.get(id).map(|&i| &self.tasks[i])
    }

    pub fn var_type(&self, name: &str) -> Option<VarType> {
        self.variables.get(name).map(|v| v.ty)
    }

    /// A variable's declaration and its shared name.
    pub fn var(&self, name: &str) -> Option<(&Arc<str>, &Variable)> {
        let (i, _, v) = self.variables.get_full(name)?;
        Some((&self.var_names[i], v))
    }

    /// Types an input of variable `name`; an `enum` value is the definition's own text.
    pub fn coerce(&self, name: &str, raw: &serde_json::Value) -> Option<Result<Value, String>> {
        let (i, _, var) = self.variables.get_full(name)?;
        if let serde_json::Value::String(s) = raw
            && let Some(v) = self.enum_values[i].iter().find(|v| ***v == **s)
        {
            return Some(Ok(Value::Text(v.clone())));
        }
        Some(value::coerce(var, raw))
    }

    /// Compiles a parsed workflow, refusing any reference the machine could not follow.
    pub fn compile(wf: Workflow) -> Result<Definition, String> {
        Compiler::default().run(wf)
    }
}

pub const STARTED_ON: &str = "started_on";

#[derive(Default)]
struct Compiler {
    roles: IndexMap<String, String>,
    variables: IndexMap<String, Variable, FastHash>,
    state_index: Names,
    timers: Vec<TimerDef>,
    tasks: Vec<TaskDef>,
    timer_index: Names,
    task_index: Names,
    names: HashMap<String, Arc<str>, FastHash>,
    /// The workflow's `art_22` (default true).
    art_22: bool,
}

fn at<T>(what: &Located<T>) -> String {
    format!("{}", what.pos)
}

impl Compiler {
    fn run(mut self, wf: Workflow) -> Result<Definition, String> {
        self.roles = wf.roles;
        self.art_22 = wf.art_22.unwrap_or(true);
        if self.roles.is_empty() {
            return Err("the workflow declares no role".into());
        }
        for (name, var) in wf.variables {
            if name == STARTED_ON {
                return Err(format!("{}: variable '{STARTED_ON}' is built in", at(&var)));
            }
            if var.ty == VarType::Enum && var.values.is_empty() {
                return Err(format!(
                    "{}: enum variable '{name}' has no values",
                    at(&var)
                ));
            }
            self.variables.insert(name, var.value);
        }
        self.variables.insert(
            STARTED_ON.to_string(),
            Variable {
                ty: VarType::Date,
                label: Some("Date de début".into()),
                values: Vec::new(),
                labels: Default::default(),
            },
        );
        for name in self.variables.keys() {
            self.names.insert(name.clone(), Arc::from(name.as_str()));
        }
        for (i, name) in wf.states.keys().enumerate() {
            self.state_index.insert(name.clone(), i);
        }
        let initial = self.state_ref(&wf.initial)?;
        // Timer and task ids first, so that events can refer to any of them. Indices follow
        // declaration order (case timers, then each state's), as the definitions are pushed.
        for t in &wf.timers {
            self.claim_timer(&t.id)?;
        }
        for state in wf.states.values() {
            for t in &state.timers {
                self.claim_timer(&t.id)?;
            }
            for t in &state.tasks {
                if self.task_index.contains_key(t.id.as_str())
                    || self.timer_index.contains_key(t.id.as_str())
                {
                    return Err(format!("{}: id '{}' is used twice", at(&t.id), *t.id));
                }
                self.task_index
                    .insert(t.id.value.clone(), self.task_index.len());
            }
        }
        let mut case_timers = Vec::new();
        for t in wf.timers {
            case_timers.push(self.timers.len());
            let def = self.timer(t.value, None)?;
            self.timers.push(def);
        }
        let start = StartDef {
            by: self.roles_of(&wf.start.by)?,
            inputs: self.vars_of(&wf.start.inputs)?,
            optional_inputs: self.vars_of(&wf.start.optional_inputs)?,
            notify: self.notices(wf.start.notify)?,
        };
        let mut states = Vec::with_capacity(wf.states.len());
        for (si, (id, state)) in wf.states.into_iter().enumerate() {
            let s = state.value;
            let mut timers = Vec::new();
            for t in s.timers {
                timers.push(self.timers.len());
                let def = self.timer(t.value, Some(si))?;
                self.timers.push(def);
            }
            let mut tasks = Vec::new();
            for t in s.tasks {
                tasks.push(self.tasks.len());
                let def = self.task(t.value, si, &s.on)?;
                self.tasks.push(def);
            }
            let mut events = Vec::with_capacity(s.on.len());
            for (name, ev) in s.on {
                let pos = ev.pos;
                let e = ev.value;
                if e.goto.is_some() && !e.choose.is_empty() {
                    return Err(format!("{pos}: event '{name}' has both goto and choose"));
                }
                let target = if let Some(g) = &e.goto {
                    Target::Goto(self.state_ref(g)?)
                } else if !e.choose.is_empty() {
                    let mut branches = Vec::new();
                    for b in e.choose {
                        let b = b.value;
                        let when = b.when.map(|c| self.condition(c)).transpose()?;
                        branches.push((when, self.state_ref(&b.goto)?));
                    }
                    Target::Choose(branches)
                } else {
                    Target::Stay
                };
                let mut extend = Vec::new();
                for x in &e.extend {
                    let delay = self.delay(&x.by)?;
                    let Some(length) = delay.length else {
                        return Err(format!("{}: an extension needs a length", at(&x.by)));
                    };
                    extend.push((self.timer_ref(&x.timer)?, length));
                }
                events.push(EventDef {
                    name: Arc::from(name.as_str()),
                    label: e.label.as_deref().map(Arc::from),
                    by: self.roles_of(&e.by)?,
                    inputs: self.vars_of(&e.inputs)?,
                    optional_inputs: self.vars_of(&e.optional_inputs)?,
                    when: e.when.map(|c| self.condition(c)).transpose()?,
                    set: self.sets(e.set)?,
                    target,
                    notify: self.notices(e.notify)?,
                    start_case: e.start_case.map(|s| self.start_case(s.value)).transpose()?,
                    suspend: e
                        .suspend
                        .iter()
                        .map(|t| self.timer_ref(t))
                        .collect::<Result<_, _>>()?,
                    resume: e
                        .resume
                        .iter()
                        .map(|t| self.timer_ref(t))
                        .collect::<Result<_, _>>()?,
                    effective: match &e.effective {
                        Some(v) => {
                            if self.var(v)?.ty != VarType::Date {
                                return Err(format!("{}: '{}' is not a date variable", at(v), **v));
                            }
                            Some(self.name(v))
                        }
                        None => None,
                    },
                    extend,
                    posted: e
                        .posted
                        .as_ref()
                        .map(|p| self.posted(p, &e.inputs))
                        .transpose()?,
                    constraints: e
                        .constraints
                        .iter()
                        .map(|c| self.constraint(c))
                        .collect::<Result<_, _>>()?,
                    tell: e
                        .tell
                        .into_iter()
                        .map(|t| self.tell(t.value))
                        .collect::<Result<_, _>>()?,
                });
            }
            let mut on_child = Vec::new();
            for (outcome, target) in s.on_child {
                on_child.push((outcome, self.state_ref(&target)?));
            }
            states.push(StateDef {
                outcome: Arc::from(s.outcome.as_deref().unwrap_or(id.as_str())),
                id: Arc::from(id.as_str()),
                label: Arc::from(s.label.as_str()),
                legal_basis: s.legal_basis.as_deref().map(Arc::from),
                is_final: s.is_final,
                notify: self.notices(s.notify)?,
                start_case: s.start_case.map(|c| self.start_case(c.value)).transpose()?,
                tasks,
                timers,
                events,
                on_child,
                stuck_after: s.stuck_after.as_ref().map(|d| self.delay(d)).transpose()?,
            });
        }
        let schedules = wf
            .schedules
            .into_iter()
            .map(|s| self.schedule(s.value))
            .collect::<Result<_, _>>()?;
        let admin = self.admin(wf.administration.map(|a| a.value).unwrap_or_default())?;
        Ok(Definition {
            id: Arc::from(wf.id.as_str()),
            title: wf.title,
            legal_basis: wf.legal_basis,
            roles: self.roles,
            var_names: self
                .variables
                .keys()
                .map(|k| {
                    self.names
                        .get(k)
                        .cloned()
                        .unwrap_or_else(|| Arc::from(k.as_str()))
                })
                .collect(),
            enum_values: self
                .variables
                .values()
                .map(|v| match v.ty {
                    VarType::Enum => v.values.iter().map(|x| Arc::from(x.as_str())).collect(),
                    _ => Vec::new(),
                })
                .collect(),
            variables: self.variables,
            start,
            initial,
            states,
            timers: self.timers,
            tasks: self.tasks,
            case_timers,
            schedules,
            admin,
            state_index: self.state_index,
            timer_index: self.timer_index,
            task_index: self.task_index,
        })
    }

    fn admin(&self, a: Administration) -> Result<AdminDef, String> {
        let roles = |given: Option<&[Located<String>]>, default: &[&str]| match given {
            None => Ok(default.iter().map(|r| Arc::from(*r)).collect()),
            Some([]) => Err("an `administration` entry lists no role in `by`".to_string()),
            Some(rs) => rs
                .iter()
                .map(|r| {
                    if self.roles.contains_key(r.as_str()) || SERVER_ROLES.contains(&r.as_str()) {
                        Ok(Arc::from(r.as_str()))
                    } else {
                        Err(format!("{}: unknown role '{}'", at(r), **r))
                    }
                })
                .collect(),
        };
        let (corrections_by, corrections_notify) = match a.corrections {
            Some(c) => {
                let c = c.value;
                (roles(Some(&c.by), &[])?, self.notices(c.notify)?)
            }
            None => (roles(None, &["admin"])?, Vec::new()),
        };
        Ok(AdminDef {
            corrections_by,
            corrections_notify,
            deadlines_by: roles(a.deadlines.as_ref().map(|d| &d.by[..]), &["admin"])?,
            closing_by: roles(a.closing.as_ref().map(|d| &d.by[..]), &SERVER_ROLES)?,
        })
    }

    fn claim_timer(&mut self, id: &Located<String>) -> Result<(), String> {
        if self.timer_index.contains_key(id.as_str()) {
            return Err(format!("{}: timer id '{}' is used twice", at(id), **id));
        }
        let n = self.timer_index.len();
        self.timer_index.insert(id.value.clone(), n);
        Ok(())
    }

    fn state_ref(&self, s: &Located<String>) -> Result<usize, String> {
        self.state_index
            .get(s.as_str())
            .copied()
            .ok_or_else(|| format!("{}: unknown state '{}'", at(s), **s))
    }

    fn timer_ref(&self, t: &Located<String>) -> Result<usize, String> {
        self.timer_index
            .get(t.as_str())
            .copied()
            .ok_or_else(|| format!("{}: unknown timer '{}'", at(t), **t))
    }

    fn roles_of(&self, roles: &[Located<String>]) -> Result<Vec<Arc<str>>, String> {
        if roles.is_empty() {
            return Err("an action lists no role in `by`".into());
        }
        roles
            .iter()
            .map(|r| {
                if self.roles.contains_key(r.as_str()) {
                    Ok(Arc::from(r.as_str()))
                } else {
                    Err(format!("{}: unknown role '{}'", at(r), **r))
                }
            })
            .collect()
    }

    /// The shared name of a declared variable (interned once per compilation).
    fn name(&self, v: &str) -> Arc<str> {
        match self.names.get(v) {
            Some(n) => n.clone(),
            None => Arc::from(v),
        }
    }

    fn var(&self, v: &Located<String>) -> Result<&Variable, String> {
        self.variables
            .get(v.as_str())
            .ok_or_else(|| format!("{}: unknown variable '{}'", at(v), **v))
    }

    fn vars_of(&self, vars: &[Located<String>]) -> Result<Vec<Arc<str>>, String> {
        vars.iter()
            .map(|v| {
                if v.as_str() == STARTED_ON {
                    return Err(format!("{}: '{STARTED_ON}' cannot be an input", at(v)));
                }
                self.var(v).map(|_| self.name(v))
            })
            .collect()
    }

    fn sets(
        &self,
        set: IndexMap<String, Located<Literal>>,
    ) -> Result<Vec<(Arc<str>, Value)>, String> {
        set.into_iter()
            .map(|(name, lit)| {
                let var = self
                    .variables
                    .get(&name)
                    .ok_or_else(|| format!("{}: unknown variable '{name}'", at(&lit)))?;
                let v = value::from_literal(var.ty, &lit)
                    .map_err(|e| format!("{}: variable '{name}': {e}", at(&lit)))?;
                if var.ty == VarType::Enum
                    && let Value::Text(s) = &v
                    && !var.values.iter().any(|x| **x == **s)
                {
                    return Err(format!("{}: '{s}' is not a value of '{name}'", at(&lit)));
                }
                Ok((self.name(&name), v))
            })
            .collect()
    }

    fn condition(&self, c: Located<Condition>) -> Result<Guard, String> {
        Guard::compile(&c, |name| {
            let ty = self.variables.get(name)?.ty;
            Some((self.names.get(name)?, ty))
        })
        .map_err(|e| format!("{}: {e}", at(&c)))
    }

    fn delay(&self, d: &Located<Delay>) -> Result<DelayDef, String> {
        let lengths = d.lengths();
        if lengths.len() > 1 {
            return Err(format!("{}: a delay has more than one length", at(d)));
        }
        let length = lengths.first().copied();
        if let Some(l) = length
            && (l.count == 0 || l.count > Length::max(l.unit))
        {
            return Err(format!(
                "{}: a length must be between 1 and {} {}",
                at(d),
                Length::max(l.unit),
                l.unit
            ));
        }
        if let Some(on) = &d.on {
            return self.on_date(d, on);
        }
        let fixed = match (&d.date, &d.next_date) {
            (Some(date), None) | (None, Some(date)) => {
                if length.is_some() || d.letter.is_some() {
                    return Err(format!("{}: a fixed date stands alone", at(date)));
                }
                let day = DayOfYear::parse(date).ok_or_else(|| {
                    format!("{}: '{}' is not a day written MM-DD", at(date), **date)
                })?;
                Some((day, d.next_date.is_some()))
            }
            (Some(date), Some(_)) => {
                return Err(format!("{}: a fixed date stands alone", at(date)));
            }
            (None, None) => None,
        };
        if length.is_none() && d.letter.is_none() && fixed.is_none() {
            return Err(format!("{}: a delay needs a length or a letter", at(d)));
        }
        let from = match &d.from {
            Some(v) => {
                if self.var(v)?.ty != VarType::Date {
                    return Err(format!("{}: '{}' is not a date variable", at(v), **v));
                }
                Some(self.name(v))
            }
            None => None,
        };
        Ok(DelayDef {
            from,
            means: d.means(),
            length,
            fixed,
            rule: if d.art_22.unwrap_or(self.art_22) {
                EndRule::Art22
            } else {
                EndRule::Kept
            },
        })
    }

    /// A deadline on the date a variable holds: counted as the date itself with no length and
    /// no letter, and kept where it falls (no period of the text ends there, Art. 22 does not
    /// move it).
    fn on_date(&self, d: &Located<Delay>, on: &Located<String>) -> Result<DelayDef, String> {
        let alone = d.lengths().is_empty()
            && d.letter.is_none()
            && d.from.is_none()
            && d.date.is_none()
            && d.next_date.is_none()
            && d.art_22.is_none();
        if !alone {
            return Err(format!("{}: a deadline `on` a date stands alone", at(on)));
        }
        if self.var(on)?.ty != VarType::Date {
            return Err(format!("{}: '{}' is not a date variable", at(on), **on));
        }
        Ok(DelayDef {
            from: Some(self.name(on)),
            means: None,
            length: None,
            fixed: None,
            rule: EndRule::Kept,
        })
    }

    fn reminders(&self, rs: Vec<Located<Reminder>>) -> Result<Vec<ReminderDef>, String> {
        rs.into_iter()
            .map(|r| {
                let d = self.delay(&r.before)?;
                match d.length {
                    Some(l) if matches!(l.unit, Unit::WorkingDays | Unit::CalendarDays) => {
                        Ok(ReminderDef {
                            before: l,
                            notify: self.notices(r.value.notify)?,
                        })
                    }
                    _ => Err(format!(
                        "{}: a reminder counts working_days or calendar_days before the due date",
                        at(&r.before)
                    )),
                }
            })
            .collect()
    }

    fn timer(&self, t: Timer, state: Option<usize>) -> Result<TimerDef, String> {
        let after = t.after.as_ref().map(|d| self.delay(d)).transpose()?;
        let every = t.every.as_ref().map(|d| self.delay(d)).transpose()?;
        let until = t.until.as_ref().map(|d| self.delay(d)).transpose()?;
        if after.is_some() == every.is_some() {
            return Err(format!(
                "{}: timer '{}' needs exactly one of after and every",
                at(&t.id),
                *t.id
            ));
        }
        if every.as_ref().is_some_and(|e| e.length.is_none()) {
            return Err(format!("{}: `every` needs a length", at(&t.id)));
        }
        let grace = match &t.grace {
            None => None,
            Some(g) => match (g.lengths().as_slice(), &after) {
                ([l], Some(_))
                    if l.unit == Unit::WorkingDays && (1..=MAX_GRACE).contains(&l.count) =>
                {
                    Some(l.count)
                }
                _ => {
                    return Err(format!(
                        "{}: a grace is 1 to {MAX_GRACE} working days, on a timer with `after`",
                        at(g)
                    ));
                }
            },
        };
        Ok(TimerDef {
            id: Arc::from(t.id.as_str()),
            label: t.label.as_deref().map(Arc::from),
            legal_basis: t.legal_basis.as_deref().map(Arc::from),
            after,
            every,
            until,
            goto: t.goto.as_ref().map(|g| self.state_ref(g)).transpose()?,
            set: self.sets(t.set)?,
            notify: self.notices(t.notify)?,
            reminders: self.reminders(t.reminders)?,
            grace,
            // A persistent timer outlives its state: at run time it is kept like a case timer.
            state: if t.persist { None } else { state },
        })
    }

    fn constraint(&self, c: &Located<Constraint>) -> Result<ConstraintDef, String> {
        if self.var(&c.date)?.ty != VarType::Date {
            return Err(format!(
                "{}: '{}' is not a date variable",
                at(&c.date),
                *c.date
            ));
        }
        if c.not_before.is_none() && c.not_after.is_none() {
            return Err(format!(
                "{}: a constraint needs `not_before` or `not_after`",
                at(c)
            ));
        }
        Ok(ConstraintDef {
            var: self.name(&c.date),
            not_before: c.not_before.as_ref().map(|d| self.delay(d)).transpose()?,
            not_after: c.not_after.as_ref().map(|d| self.delay(d)).transpose()?,
            message: Arc::from(c.message.as_str()),
        })
    }

    /// An event's `posted`: a required date input and a timer with a grace.
    fn posted(
        &self,
        p: &Located<Posted>,
        inputs: &[Located<String>],
    ) -> Result<(Arc<str>, usize), String> {
        if !inputs.iter().any(|i| i.as_str() == p.date.as_str()) {
            return Err(format!(
                "{}: '{}' must be a required input of the event",
                at(&p.date),
                *p.date
            ));
        }
        if self.var(&p.date)?.ty != VarType::Date {
            return Err(format!(
                "{}: '{}' is not a date variable",
                at(&p.date),
                *p.date
            ));
        }
        // Timers are compiled before events, so the grace can be checked here.
        let ti = self.timer_ref(&p.within)?;
        if self.timers.get(ti).is_some_and(|t| t.grace.is_none()) {
            return Err(format!(
                "{}: timer '{}' has no `grace`",
                at(&p.within),
                *p.within
            ));
        }
        Ok((self.name(&p.date), ti))
    }

    fn task<E>(
        &self,
        t: Task,
        state: usize,
        events: &IndexMap<String, E>,
    ) -> Result<TaskDef, String> {
        if !self.roles.contains_key(t.role.as_str()) {
            return Err(format!("{}: unknown role '{}'", at(&t.role), *t.role));
        }
        let mut closes_on = Vec::new();
        for e in &t.closes_on {
            if !events.contains_key(e.as_str()) {
                return Err(format!("{}: the state has no event '{}'", at(e), **e));
            }
            closes_on.push(Arc::from(e.as_str()));
        }
        Ok(TaskDef {
            id: Arc::from(t.id.as_str()),
            role: Arc::from(t.role.as_str()),
            title: Arc::from(t.title.as_str()),
            instructions: t.instructions.as_deref().map(Arc::from),
            legal_basis: t.legal_basis.as_deref().map(Arc::from),
            due: t.due.as_ref().map(|d| self.delay(d)).transpose()?,
            closes_on,
            reminders: self.reminders(t.reminders)?,
            state,
        })
    }

    fn notices(&self, ns: Vec<Located<Notice>>) -> Result<Vec<NoticeDef>, String> {
        ns.into_iter()
            .map(|n| {
                let n = n.value;
                let mut to_roles = Vec::new();
                let mut to_email_vars = Vec::new();
                for to in &n.to {
                    if self.roles.contains_key(to.as_str()) {
                        to_roles.push(Arc::from(to.as_str()));
                    } else if self
                        .variables
                        .get(to.as_str())
                        .is_some_and(|v| v.ty == VarType::Email)
                    {
                        to_email_vars.push(self.name(to));
                    } else {
                        return Err(format!(
                            "{}: '{}' is neither a role nor an email variable",
                            at(to),
                            **to
                        ));
                    }
                }
                if n.template.is_empty() {
                    return Err(format!("{}: empty template name", at(&n.template)));
                }
                let deadline = match &n.deadline {
                    Some(d) => {
                        if !self.timer_index.contains_key(d.as_str())
                            && !self.task_index.contains_key(d.as_str())
                        {
                            return Err(format!("{}: unknown timer or task '{}'", at(d), **d));
                        }
                        Some(Arc::from(d.as_str()))
                    }
                    None => None,
                };
                Ok(NoticeDef {
                    template: Arc::from(n.template.as_str()),
                    to_roles,
                    to_email_vars,
                    deadline,
                })
            })
            .collect()
    }

    fn schedule(&self, s: Schedule) -> Result<ScheduleDef, String> {
        let cron = s
            .cron
            .trim()
            .parse::<cron::Schedule>()
            .map_err(|e| format!("{}: schedule '{}': invalid cron: {e}", at(&s.cron), *s.id))?;
        // A stored version that predates the validator's check must not run either.
        if super::schedule::more_than_once_a_minute(&cron) {
            return Err(format!(
                "{}: schedule '{}': cron runs more than once a minute",
                at(&s.cron),
                *s.id
            ));
        }
        let mut inputs = super::Inputs::new();
        for (name, lit) in s.pass {
            self.variables
                .get(&name)
                .ok_or_else(|| format!("{}: unknown variable '{name}'", at(&lit)))?;
            let json = match lit.value {
                Literal::Boolean(b) => serde_json::Value::Bool(b),
                Literal::Integer(n) => serde_json::Value::from(n),
                Literal::Text(t) => serde_json::Value::String(t),
            };
            inputs.insert(name, json);
        }
        Ok(ScheduleDef {
            id: Arc::from(s.id.as_str()),
            label: s.label.as_deref().map(Arc::from),
            expr: Arc::from(s.cron.as_str()),
            inputs,
            cron,
        })
    }

    fn tell(&self, t: Tell) -> Result<TellDef, String> {
        let mut pass = Vec::new();
        for (theirs, ours) in t.pass {
            self.var(&ours)?;
            pass.push((Arc::from(theirs.as_str()), self.name(&ours)));
        }
        Ok(TellDef {
            workflow: Arc::from(t.workflow.as_str()),
            event: Arc::from(t.event.as_str()),
            pass,
        })
    }

    fn start_case(&self, s: StartCase) -> Result<StartCaseDef, String> {
        let mut pass = Vec::new();
        for (child, ours) in s.pass {
            self.var(&ours)?;
            pass.push((Arc::from(child.as_str()), self.name(&ours)));
        }
        Ok(StartCaseDef {
            workflow: Arc::from(s.workflow.as_str()),
            pass,
        })
    }
}

#[cfg(test)]
mod on_date_tests {
    use chrono::NaiveDate;

    use super::Definition;
    use crate::calendar::Calendar;
    use crate::definition;

    fn compiled(after: &str) -> Result<Definition, String> {
        let yaml = format!(
            r#"
id: avis
title: Avis
legal_basis: Art. 117
roles: {{ gouvernement: Gouvernement }}
variables:
  pour: {{ type: date, label: Date fixée }}
  motif: {{ type: text, label: Motif }}
start: {{ by: [gouvernement], inputs: [pour, motif] }}
initial: attendu
states:
  attendu:
    label: Attendu
    timers:
      - {{ id: echeance, after: {after}, goto: clos }}
  clos: {{ label: Clos, final: true }}
"#
        );
        Definition::compile(definition::parse(&yaml).expect("parses"))
    }

    /// The deadline is the date the variable holds, kept on a Sunday: no period of the text
    /// ends there.
    #[test]
    fn a_deadline_on_a_date_variable_is_that_date_never_moved() {
        let def = compiled("{ on: pour }").expect("compiles");
        let timer = def.timers.iter().find(|t| &*t.id == "echeance").unwrap();
        let delay = timer.after.as_ref().unwrap();
        assert_eq!(delay.from.as_deref(), Some("pour"));
        let sunday = NaiveDate::from_ymd_opt(2028, 12, 24).unwrap();
        let d = delay.count(&Calendar::fwb(), sunday).unwrap();
        assert_eq!((d.due, d.moved.is_some()), (sunday, false));
    }

    #[test]
    fn a_deadline_on_a_date_variable_stands_alone_on_a_date() {
        let err = compiled("{ on: pour, months: 1 }").map(|_| ()).unwrap_err();
        assert!(err.contains("stands alone"), "{err}");
        let err = compiled("{ on: motif }").map(|_| ()).unwrap_err();
        assert!(err.contains("not a date variable"), "{err}");
    }
}
