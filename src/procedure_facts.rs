//! What the reference of a procedure says about its deadlines, as plain values: each timer and
//! each task with a due date, its state, its length in French, where it counts from, its legal
//! basis and what happens when it passes. `jalon docs` writes these rows as Markdown
//! (`docs/procedures.md`) and the "Procédures" pages as HTML, so the two cannot say different
//! things about a deadline.

use std::fmt::Write as _;

use engine::definition::{Delay, Letter, Located, Timer, Workflow};

/// One deadline of a workflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadlineRow {
    pub kind: Kind,
    /// The label of the state it belongs to, or "(toute la procédure)" for a case timer.
    pub state: String,
    /// "10 jours ouvrables", "tous les 1 mois, au plus 1 an", "prise d'effet de la lettre", or
    /// "—" for a timer with no length.
    pub length: String,
    /// Where it counts from; `None` for a timer with no length.
    pub from: Option<Origin>,
    /// The timer's or task's own legal basis, else its state's.
    pub legal_basis: Option<String>,
    /// What happens when it passes.
    pub effects: Vec<Effect>,
}

/// What kind of deadline a row is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A timer, by its label (its id when it has none).
    Timer(String),
    /// A task's due date, by the task's title.
    Task(String),
}

/// Where a deadline counts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub start: Start,
    /// How the act was notified, in French: "lettre recommandée : effet le 3e jour ouvrable
    /// suivant l'expédition" or "remise en main propre".
    pub letter: Option<&'static str>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// The day the case entered the state (or started, for a case timer).
    StateEntry,
    /// A date variable, with its label when it has one.
    Variable { id: String, label: Option<String> },
}

/// How a deadline counting from the state's entry says so.
pub const STATE_ENTRY: &str = "l'entrée dans l'état";

/// What a passing deadline does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The case moves to the state with this label.
    Goto(String),
    /// This notice template is sent.
    Notice(String),
    /// This many reminders are sent before the due date.
    Reminders(usize),
    /// The task of this role is late.
    TaskLate(String),
}

/// Every deadline of `wf`: its case timers first, then each state's timers and task due
/// dates, in file order.
pub fn deadlines(wf: &Workflow) -> Vec<DeadlineRow> {
    let mut rows = Vec::new();
    let state_label = |id: &str| {
        wf.states
            .get(id)
            .map_or_else(|| id.to_string(), |s| s.value.label.clone())
    };
    for t in &wf.timers {
        rows.push(timer_row(wf, t, "(toute la procédure)", None, &state_label));
    }
    for (sid, state) in &wf.states {
        let state = &state.value;
        for t in &state.timers {
            let basis = state.legal_basis.as_deref();
            rows.push(timer_row(wf, t, &state.label, basis, &state_label));
        }
        for task in &state.tasks {
            let Some(due) = &task.due else { continue };
            let basis = task.legal_basis.as_deref().or(state.legal_basis.as_deref());
            rows.push(DeadlineRow {
                kind: Kind::Task(task.title.clone()),
                state: state_label(sid),
                length: duration(&due.value),
                from: Some(origin(wf, &due.value)),
                legal_basis: basis.map(str::to_owned),
                effects: vec![Effect::TaskLate(task.role.value.clone())],
            });
        }
    }
    rows
}

fn timer_row(
    wf: &Workflow,
    t: &Located<Timer>,
    state: &str,
    state_basis: Option<&str>,
    state_label: &dyn Fn(&str) -> String,
) -> DeadlineRow {
    let t = &t.value;
    let label = t.label.clone().unwrap_or_else(|| t.id.value.clone());
    let (length, from) = match (&t.after, &t.every) {
        (Some(after), _) => (duration(&after.value), Some(origin(wf, &after.value))),
        (None, Some(every)) => {
            let mut d = format!("tous les {}", duration(&every.value));
            if let Some(until) = &t.until {
                let _ = write!(d, ", au plus {}", duration(&until.value));
            }
            (d, Some(origin(wf, &every.value)))
        }
        (None, None) => ("—".to_string(), None),
    };
    let mut effects = Vec::new();
    if let Some(goto) = &t.goto {
        effects.push(Effect::Goto(state_label(&goto.value)));
    }
    for n in &t.notify {
        effects.push(Effect::Notice(n.template.value.clone()));
    }
    if !t.reminders.is_empty() {
        effects.push(Effect::Reminders(t.reminders.len()));
    }
    DeadlineRow {
        kind: Kind::Timer(label),
        state: state.to_string(),
        length,
        from,
        legal_basis: t.legal_basis.as_deref().or(state_basis).map(str::to_owned),
        effects,
    }
}

/// A delay's length in French ("10 jours ouvrables"), or "prise d'effet de la lettre" for a
/// delay that is only a letter's effect date.
pub fn duration(d: &Delay) -> String {
    d.summary_fr()
}

fn origin(wf: &Workflow, d: &Delay) -> Origin {
    // A deadline `on` a date variable falls on that date: the variable is its origin.
    let start = match d.from.as_ref().or(d.on.as_ref()) {
        None => Start::StateEntry,
        Some(var) => Start::Variable {
            id: var.value.clone(),
            label: wf
                .variables
                .get(&var.value)
                .and_then(|v| v.value.label.clone()),
        },
    };
    let letter = d.letter.map(|l| match l {
        Letter::Registered => "lettre recommandée : effet le 3e jour ouvrable suivant l'expédition",
        Letter::HandDelivered => "remise en main propre",
    });
    Origin { start, letter }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WF: &str = r#"
id: exemple
title: Exemple
legal_basis: Art. 1er
roles: { agent: Agent }
variables:
  notifie_le: { type: date, label: la notification }
  recu_le: { type: date }
start: { by: [agent], inputs: [notifie_le, recu_le] }
initial: ouvert
timers:
  - id: peremption
    after: { years: 1 }
    goto: fin
states:
  ouvert:
    label: Ouvert
    legal_basis: Art. 5
    timers:
      - id: delai
        label: Délai de réponse
        after: { working_days: 10, from: notifie_le, letter: registered }
        goto: fin
        reminders:
          - before: { working_days: 2 }
            notify: []
    tasks:
      - id: repondre
        role: agent
        title: Répondre
        legal_basis: Art. 6
        due: { calendar_days: 15, from: recu_le }
  fin:
    label: Clôturé
    final: true
"#;

    #[test]
    fn every_deadline_with_its_origin_basis_and_effects() {
        let wf = engine::definition::parse(WF).unwrap();
        let rows = deadlines(&wf);
        assert_eq!(
            rows,
            [
                DeadlineRow {
                    kind: Kind::Timer("peremption".into()),
                    state: "(toute la procédure)".into(),
                    length: "1 an".into(),
                    from: Some(Origin {
                        start: Start::StateEntry,
                        letter: None
                    }),
                    legal_basis: None,
                    effects: vec![Effect::Goto("Clôturé".into())],
                },
                DeadlineRow {
                    kind: Kind::Timer("Délai de réponse".into()),
                    state: "Ouvert".into(),
                    length: "10 jours ouvrables".into(),
                    from: Some(Origin {
                        start: Start::Variable {
                            id: "notifie_le".into(),
                            label: Some("la notification".into())
                        },
                        letter: Some(
                            "lettre recommandée : effet le 3e jour ouvrable suivant l'expédition"
                        ),
                    }),
                    legal_basis: Some("Art. 5".into()),
                    effects: vec![Effect::Goto("Clôturé".into()), Effect::Reminders(1)],
                },
                DeadlineRow {
                    kind: Kind::Task("Répondre".into()),
                    state: "Ouvert".into(),
                    length: "15 jours de calendrier".into(),
                    from: Some(Origin {
                        start: Start::Variable {
                            id: "recu_le".into(),
                            label: None
                        },
                        letter: None
                    }),
                    legal_basis: Some("Art. 6".into()),
                    effects: vec![Effect::TaskLate("agent".into())],
                },
            ]
        );
    }
}
