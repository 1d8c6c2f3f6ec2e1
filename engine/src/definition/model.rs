//! The workflow language: what an administrator writes in `workflows/<id>/workflow.yaml`.
//!
//! Every type here derives `Deserialize` (serde-saphyr, unknown keys refused) and `JsonSchema`
//! (`jalon schema`, `workflows/workflow.schema.json`). Doc comments are the schema's
//! descriptions: editors show them, so they are written for administrators.
//! Names that other parts refer to (states, roles, variables, timers, templates) are
//! `Located` so that the validator can say where a wrong one is.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::located::Located;
use crate::calendar::{DayOfYear, Length, Means, Unit};

/// A legal procedure, as a state machine.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "jalon workflow")]
pub struct Workflow {
    /// Identifier of the procedure: lowercase letters, digits and dashes (`recours-evaluation`).
    pub id: Located<String>,
    /// Title in French, shown to actors.
    pub title: String,
    /// What the procedure is for, in French.
    #[serde(default)]
    pub description: Option<String>,
    /// The text and articles the procedure comes from ("Décret du 13 septembre 2018, art. 40").
    pub legal_basis: String,
    /// The roles that act in this procedure: identifier → French label.
    pub roles: IndexMap<String, String>,
    /// The case's variables: identifier → type. Events fill them through their inputs.
    #[serde(default)]
    pub variables: IndexMap<String, Located<Variable>>,
    /// Who may start a case and what they must give.
    pub start: Start,
    /// The state a new case is in.
    pub initial: Located<String>,
    /// The states: identifier → definition.
    pub states: IndexMap<String, Located<State>>,
    /// Timers that run for the whole life of the case, from its start until a final state.
    #[serde(default)]
    pub timers: Vec<Located<Timer>>,
    /// Cron schedules that start cases (yearly campaigns), in Europe/Brussels time.
    #[serde(default)]
    pub schedules: Vec<Located<Schedule>>,
    /// Whether Art. 22, 2° of the decree moves the end of this workflow's periods to the next
    /// working day when it falls on a Saturday, a Sunday or a holiday. Default `true`: the
    /// periods of Title III of the decree (Art. 21-142). Give `false` for a procedure of
    /// another title or of the conventions, whose periods end where their text puts them; one
    /// delay can still say otherwise with its own `art_22`.
    #[serde(default)]
    pub art_22: Option<bool>,
    /// Who may change a running case outside its events: correct a recorded value, extend,
    /// suspend or resume a deadline, close the case. Each change needs a reason and is kept
    /// in the case's history. Without this block, corrections and deadlines are for the
    /// server's `admin` role, closing for `operator` or `admin`.
    #[serde(default)]
    pub administration: Option<Located<Administration>>,
}

/// The changes of a running case outside its events, and who may make them.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Administration {
    /// Correcting recorded values of the case's variables; the deadlines counted from a
    /// corrected date are counted again.
    #[serde(default)]
    pub corrections: Option<Located<Corrections>>,
    /// Extending, suspending and resuming the case's deadlines.
    #[serde(default)]
    pub deadlines: Option<Located<AdminRoles>>,
    /// Closing the case with an outcome before a final state.
    #[serde(default)]
    pub closing: Option<Located<AdminRoles>>,
}

/// Who may correct a case's recorded values, and who is told.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Corrections {
    /// Roles allowed: the workflow's roles, or the server's `admin` and `operator`.
    pub by: Vec<Located<String>>,
    /// Notices sent after each correction.
    #[serde(default)]
    pub notify: Vec<Located<Notice>>,
}

/// The roles allowed to make one kind of change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminRoles {
    /// Roles allowed: the workflow's roles, or the server's `admin` and `operator`.
    pub by: Vec<Located<String>>,
}

/// The type of a variable; event inputs are checked against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VarType {
    Text,
    /// A civil date, `YYYY-MM-DD`.
    Date,
    Integer,
    Boolean,
    /// One of `values`.
    Enum,
    /// An email address (a person without an account, e.g. a member of staff or parents).
    Email,
    /// A document attached to the case: an event's input gives its id, and names a document
    /// of the case or is refused. At the start, before the case has documents, a reference to
    /// a document held elsewhere (file name, register number).
    Document,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    #[serde(rename = "type")]
    pub ty: VarType,
    /// French label, shown in forms and notices.
    #[serde(default)]
    pub label: Option<String>,
    /// The allowed values of an `enum`.
    #[serde(default)]
    pub values: Vec<String>,
    /// The French label of each value of an `enum`, as actors read it in pages and notices
    /// (`{ avis_favorable: "Avis favorable" }`); every value needs one.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

impl Variable {
    /// The French label of an enum value; the value itself when it has none.
    pub fn label_of(&self, value: &str) -> String {
        self.labels
            .get(value)
            .cloned()
            .unwrap_or_else(|| value.to_string())
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Start {
    /// Roles allowed to start a case.
    pub by: Vec<Located<String>>,
    /// Variables that must be given at the start.
    #[serde(default)]
    pub inputs: Vec<Located<String>>,
    /// Variables that may be given at the start.
    #[serde(default)]
    pub optional_inputs: Vec<Located<String>>,
    /// Notices sent when a case starts.
    #[serde(default)]
    pub notify: Vec<Located<Notice>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// French label of the state.
    pub label: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// A final state ends the case.
    #[serde(default, rename = "final")]
    pub is_final: bool,
    /// The outcome of a final state (defaults to the state's identifier); a parent case waiting
    /// for this case receives it.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Notices sent when the case enters this state.
    #[serde(default)]
    pub notify: Vec<Located<Notice>>,
    /// A case of another workflow started when the case enters this state.
    #[serde(default)]
    pub start_case: Option<Located<StartCase>>,
    /// Tasks opened when the case enters this state; closed when it leaves.
    #[serde(default)]
    pub tasks: Vec<Located<Task>>,
    /// Timers armed when the case enters this state; cancelled when it leaves.
    #[serde(default)]
    pub timers: Vec<Located<Timer>>,
    /// Events accepted in this state: identifier → definition.
    #[serde(default)]
    pub on: IndexMap<String, Located<Event>>,
    /// Where to go when a case started by this one ends: child outcome → state.
    #[serde(default)]
    pub on_child: IndexMap<String, Located<String>>,
    /// Operators see the case as stuck when it stays in this state longer than this, counted
    /// like a deadline from the day the case entered the state (or from `from`).
    #[serde(default)]
    pub stuck_after: Option<Located<Delay>>,
}

/// Something an actor does.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// French label (the button or form title).
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// Roles allowed to send this event.
    pub by: Vec<Located<String>>,
    /// Variables the actor must give; each must be declared in `variables`.
    #[serde(default)]
    pub inputs: Vec<Located<String>>,
    /// Variables the actor may give.
    #[serde(default)]
    pub optional_inputs: Vec<Located<String>>,
    /// The event is refused unless this holds. It reads the case's variables with the event's
    /// inputs applied, before `set`.
    #[serde(default)]
    pub when: Option<Located<Condition>>,
    /// Variables set to fixed values once the event is accepted (after `when` and `choose`
    /// are checked; notices and `start_case` see them).
    #[serde(default)]
    pub set: IndexMap<String, Located<Literal>>,
    /// The state to go to. Without `goto` or `choose`, the case stays where it is.
    #[serde(default)]
    pub goto: Option<Located<String>>,
    /// Conditional targets, tried in order; the first that holds wins. The last may have no
    /// `when`. Like `when`, they read the variables with the inputs applied, before `set`.
    /// Use instead of `goto`.
    #[serde(default)]
    pub choose: Vec<Located<Branch>>,
    #[serde(default)]
    pub notify: Vec<Located<Notice>>,
    #[serde(default)]
    pub start_case: Option<Located<StartCase>>,
    /// Timers of the current state (or of the case) to suspend; their remaining time is kept.
    #[serde(default)]
    pub suspend: Vec<Located<String>>,
    /// Suspended timers to resume with their remaining time.
    #[serde(default)]
    pub resume: Vec<Located<String>>,
    /// The date on which `suspend` and `resume` take effect, when it is not the day the event
    /// is recorded (an absence entered afterwards, from its first day): the period stops, or
    /// counts again, from that date. A date input of the event, or a date the case already
    /// holds that `when` requires (`{ set: true }`).
    #[serde(default)]
    pub effective: Option<Located<String>>,
    /// Timers to extend.
    #[serde(default)]
    pub extend: Vec<Located<Extension>>,
    /// The event records a letter sent by post (an appeal "introduit par envoi recommandé dans
    /// les dix jours"): it is on time when posted by the last day of the period, though it
    /// arrives later. The dispatch date is checked against the period's due date.
    #[serde(default)]
    pub posted: Option<Located<Posted>>,
    /// Dates the event's inputs may not take, where an article sets a minimum or a maximum
    /// (a hearing at least three working days after the convocation takes effect). Checked
    /// with the inputs applied; an input not given is not checked.
    #[serde(default)]
    pub constraints: Vec<Located<Constraint>>,
    /// Events sent, once this one is accepted, to the open linked cases of another workflow:
    /// this case's parent, its children, and the cases with the same business key (a
    /// disciplinary proposal reaching the preventive suspension of the same member). A linked
    /// case that does not accept the event then is left as it is.
    #[serde(default)]
    pub tell: Vec<Located<Tell>>,
}

/// An event sent to the linked cases of a workflow, with values of this case.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tell {
    /// The workflow of the cases told.
    pub workflow: Located<String>,
    /// The event they receive.
    pub event: Located<String>,
    /// Its inputs: variable of the told workflow → variable of this case.
    #[serde(default, rename = "with")]
    pub pass: IndexMap<String, Located<String>>,
}

/// A date input bounded by a deadline counted from another date of the case.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    /// The date variable checked, an input of the event.
    pub date: Located<String>,
    /// The earliest day allowed: the due date of this delay (counted like a deadline; `from`
    /// defaults to the day of the event).
    #[serde(default)]
    pub not_before: Option<Located<Delay>>,
    /// The latest day allowed: the due date of this delay.
    #[serde(default)]
    pub not_after: Option<Located<Delay>>,
    /// Why, in French, for the actor whose input is refused ("L'audition doit avoir lieu trois
    /// jours ouvrables au moins après la prise d'effet de la convocation (art. 138, § 2).").
    pub message: String,
}

/// The longest grace a period met by posting may give letters in the post, in working days.
pub const MAX_GRACE: u32 = 30;

/// How an event's letter is checked against the period it must be posted within.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Posted {
    /// The date variable, among the event's required `inputs`, holding the dispatch date
    /// (the post office's date on the registered letter).
    pub date: Located<String>,
    /// The timer of the period (with a `grace`): a letter posted after its due date is refused.
    pub within: Located<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    #[serde(default)]
    pub when: Option<Located<Condition>>,
    pub goto: Located<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// The timer to extend.
    pub timer: Located<String>,
    /// By how much: one of `working_days`, `calendar_days`, `months`, `years`.
    pub by: Located<Delay>,
}

/// A condition on variables: every listed variable must pass its test.
/// `{ mention: defavorable }` means equality; `{ votes: { at_least: 4 } }` uses an operator.
pub type Condition = IndexMap<String, Located<Test>>;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Test {
    Operators(Operators),
    Equals(Literal),
}

/// Operators of a test; all given ones must hold.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Operators {
    /// The variable is set (`true`) or not (`false`).
    #[serde(default)]
    pub set: Option<bool>,
    #[serde(default)]
    pub equals: Option<Literal>,
    #[serde(default)]
    pub not: Option<Literal>,
    #[serde(default)]
    pub one_of: Option<Vec<Literal>>,
    /// Integer or date lower bound (inclusive).
    #[serde(default)]
    pub at_least: Option<Literal>,
    /// Integer or date upper bound (inclusive).
    #[serde(default)]
    pub at_most: Option<Literal>,
}

/// A fixed value: text, integer, boolean, or a date written `YYYY-MM-DD`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Literal {
    Boolean(bool),
    Integer(i64),
    Text(String),
}

/// A length of time and where it counts from. Exactly one of `working_days`, `calendar_days`,
/// `months`, `years`, unless `letter` is given alone (the deadline is then the letter's effect
/// date), or `date`, `next_date` or `on` alone. A length is at least 1: Art. 22 never counts
/// the day of the act.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Delay {
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub working_days: Option<u32>,
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub calendar_days: Option<u32>,
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub months: Option<u32>,
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub years: Option<u32>,
    /// A date variable to count from (the day of the act, not counted). Default: the day the
    /// case entered the state (or started, for case timers).
    #[serde(default)]
    pub from: Option<Located<String>>,
    /// How the act of `from` was notified: `registered` (takes effect the third working day
    /// after dispatch) or `hand_delivered` (takes effect on receipt).
    #[serde(default)]
    pub letter: Option<Letter>,
    /// A date the text fixes by day and month, `MM-DD` ("pour le 1er avril" → `04-01`), in
    /// the year of `from` (default: the day the case entered the state or started). Given
    /// alone, without a length or a letter. Never moved: it is a date, not the end of a period,
    /// and a case opened after it is late from the start.
    #[serde(default)]
    pub date: Option<Located<String>>,
    /// A day and month, `MM-DD`: the first such day strictly after `from` (a yearly step of
    /// a case that runs for years, e.g. the yearly review of an integration opened on the
    /// first 1st of June after it started). Given alone, never moved.
    #[serde(default)]
    pub next_date: Option<Located<String>>,
    /// A date variable holding the deadline itself: a date an authority sets case by case
    /// ("le Gouvernement peut demander un avis d'urgence", art. 117, al. 2, the day it fixes).
    /// Given alone, only in a deadline (`after`, `due`). Never moved: Art. 22 moves the end of
    /// a period counted by the text, and no such period ends there; bound the date with the
    /// event's `constraints` where the text sets a minimum or a maximum.
    #[serde(default)]
    pub on: Option<Located<String>>,
    /// Whether Art. 22, 2° moves the end of this period to the next working day when it falls
    /// on a Saturday, a Sunday or a holiday. Default: the workflow's `art_22`.
    #[serde(default)]
    pub art_22: Option<bool>,
}

impl Delay {
    /// The lengths given, in declaration order; a valid delay has at most one.
    pub fn lengths(&self) -> Vec<Length> {
        [
            (self.working_days, Unit::WorkingDays),
            (self.calendar_days, Unit::CalendarDays),
            (self.months, Unit::Months),
            (self.years, Unit::Years),
        ]
        .into_iter()
        .filter_map(|(n, unit)| n.map(|n| Length::new(n, unit)))
        .collect()
    }

    /// The single length of a valid delay.
    pub fn length(&self) -> Option<Length> {
        self.lengths().into_iter().next()
    }

    /// What the delay is, in French, for pages and documentation: "10 jours ouvrables", "le
    /// 1er avril de l'année", "date fixée (« avis_pour »), sans report", or "prise d'effet de
    /// la lettre".
    pub fn summary_fr(&self) -> String {
        if let Some(day) = self.date.as_deref().and_then(|d| DayOfYear::parse(d)) {
            let date = day.in_year(2023).expect("a day of every year");
            return format!(
                "le {} de l'année",
                crate::calendar::french::day_and_month(date)
            );
        }
        if let Some(day) = self.next_date.as_deref().and_then(|d| DayOfYear::parse(d)) {
            let date = day.in_year(2023).expect("a day of every year");
            return format!(
                "le {} suivant",
                crate::calendar::french::day_and_month(date)
            );
        }
        if let Some(var) = &self.on {
            return format!("date fixée (« {} »), sans report", var.value);
        }
        match self.length() {
            Some(l) => crate::calendar::french::length(l),
            None => "prise d'effet de la lettre".to_string(),
        }
    }

    pub fn means(&self) -> Option<Means> {
        self.letter.map(|l| match l {
            Letter::Registered => Means::RegisteredLetter,
            Letter::HandDelivered => Means::HandDelivered,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Letter {
    Registered,
    HandDelivered,
}

/// A legal deadline that fires when it has passed (at midnight after the due date, Brussels
/// time), or a recurring one.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timer {
    /// Identifier, unique in the workflow.
    pub id: Located<String>,
    /// French label ("Délai de réclamation").
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// When it fires. Use `after` or `every`.
    #[serde(default)]
    pub after: Option<Located<Delay>>,
    /// Fires repeatedly, each time this long after the start (1×, 2×, 3×… the length). Only
    /// occurrences still to come are armed: a state entered (or re-entered) after some have
    /// passed waits for the next one.
    #[serde(default)]
    pub every: Option<Located<Delay>>,
    /// A recurring timer stops when its next firing would come later than this, counted from
    /// the same start.
    #[serde(default)]
    pub until: Option<Located<Delay>>,
    /// The state to go to when it fires.
    #[serde(default)]
    pub goto: Option<Located<String>>,
    /// Variables set when it fires.
    #[serde(default)]
    pub set: IndexMap<String, Located<Literal>>,
    #[serde(default)]
    pub notify: Vec<Located<Notice>>,
    /// Notices sent before the due date.
    #[serde(default)]
    pub reminders: Vec<Located<Reminder>>,
    /// For a period met by posting a letter (see an event's `posted`): once the period has
    /// ended, its consequence waits this many working days for letters posted in time and
    /// still in the post; an event recorded meanwhile with a dispatch date within the period
    /// is accepted. `{ working_days: 5 }`.
    #[serde(default)]
    pub grace: Option<Located<Delay>>,
    /// On a state's timer: `true` keeps it when the case leaves the state. It runs on across
    /// the following states until it fires (its `goto` then applies from wherever the case
    /// is), an event suspends it, or the case ends; events of those states can suspend and
    /// resume it. For one period that an appeal interrupts without restarting it (the two
    /// years of a stage, counted in services effectively performed: Art. 65, § 3). Its state
    /// can be entered only once.
    #[serde(default)]
    pub persist: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reminder {
    /// How long before the due date: `working_days` or `calendar_days`.
    pub before: Located<Delay>,
    pub notify: Vec<Located<Notice>>,
}

/// Work asked of a role, with a due date.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Identifier, unique in the workflow.
    pub id: Located<String>,
    pub role: Located<String>,
    /// French title ("Rendre l'avis de la Chambre de recours").
    pub title: String,
    /// What to do, in French.
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// Due date, counted like a timer.
    #[serde(default)]
    pub due: Option<Located<Delay>>,
    /// Events of the state that complete the task. Default: any event that leaves the state.
    #[serde(default)]
    pub closes_on: Vec<Located<String>>,
    /// Notices sent before the due date.
    #[serde(default)]
    pub reminders: Vec<Located<Reminder>>,
}

/// A notice (email) to roles and/or to addresses held in `email` variables.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// Roles and `email` variables.
    pub to: Vec<Located<String>>,
    /// Template name: `templates/<name>.subject.hbs` and `templates/<name>.text.hbs` next to
    /// the workflow file.
    pub template: Located<String>,
    /// The timer or task whose due date the notice announces (default: the timer or task the
    /// notice belongs to, if any). On an event that moves the case, a timer or task of the
    /// state it leads to (armed when the notice is sent) or of the state it leaves (as it stood
    /// before the move).
    #[serde(default)]
    pub deadline: Option<Located<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartCase {
    /// The workflow of the new case.
    pub workflow: Located<String>,
    /// Variables passed on: child variable → variable of this case.
    #[serde(default, rename = "with")]
    pub pass: IndexMap<String, Located<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub id: Located<String>,
    #[serde(default)]
    pub label: Option<String>,
    /// Quartz-style cron with seconds: `sec min hour day month weekday [year]`, Europe/Brussels.
    /// Avoid 02:00-03:00 (skipped or doubled on daylight-saving days).
    /// At most once a minute: the seconds field has one value (`0 */10 * * * *`).
    pub cron: Located<String>,
    /// Start variables of the new case.
    #[serde(default, rename = "with")]
    pub pass: IndexMap<String, Located<Literal>>,
}
