//! The readable French timeline of `jalon simulate`.

use std::fmt::Write;

use super::run::{Item, Moment, Report, TriggerInfo};
use crate::calendar::french::long_date;
use crate::machine::CloseReason;

/// The timeline, one block per trigger, then the failed expectations if any.
pub fn render_fr(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Scénario : {} ({})", report.title, report.workflow);
    for m in &report.timeline {
        out.push('\n');
        moment(&mut out, m);
    }
    if !report.failures.is_empty() {
        let _ = writeln!(out, "\nAttentes non remplies :");
        for f in &report.failures {
            let _ = writeln!(out, "  {}: {}", f.step, f.message);
        }
    }
    out
}

fn moment(out: &mut String, m: &Moment) {
    let what = match &m.trigger {
        TriggerInfo::Start { by } => format!("ouverture du dossier par {by}"),
        TriggerInfo::Event { name, by, .. } => format!("{name} par {by}"),
        TriggerInfo::Timer {
            id,
            label,
            reminder: true,
        } => format!("rappel : « {} »", label.as_deref().unwrap_or(id)),
        TriggerInfo::Timer { id, label, .. } => {
            format!("délai expiré : « {} »", label.as_deref().unwrap_or(id))
        }
        TriggerInfo::ChildEnded { workflow, outcome } => {
            format!("dossier enfant {workflow} terminé : {outcome}")
        }
    };
    let state = match (&m.refused, &m.from_state) {
        (Some(r), _) => format!("refusé : {} ({})", r.code, r.message),
        (None, Some(from)) if *from != m.to_state => format!("état : {from} → {}", m.to_state),
        (None, Some(_)) => format!("état : {} (inchangé)", m.to_state),
        (None, None) => format!("état : {}", m.to_state),
    };
    let _ = writeln!(out, "{} — {state} — {what}", m.date);
    if let TriggerInfo::Event {
        reason: Some(reason),
        ..
    } = &m.trigger
    {
        let _ = writeln!(out, "  motif : {reason}");
    }
    for item in &m.items {
        match item {
            Item::Deadline {
                id,
                label,
                due,
                legal_basis,
                explanation,
            } => {
                let _ = writeln!(
                    out,
                    "  délai « {} » : échéance le {} ({due})",
                    label.as_deref().unwrap_or(id),
                    long_date(*due)
                );
                for line in explanation {
                    let _ = writeln!(out, "    {line}");
                }
                if let Some(basis) = legal_basis {
                    let _ = writeln!(out, "    base légale : {basis}");
                }
            }
            Item::Reminder { of, on } => {
                let _ = writeln!(out, "  rappel prévu le {} pour « {of} »", long_date(*on));
            }
            Item::TaskOpened {
                title, role, due, ..
            } => {
                let due = due.map_or(String::new(), |d| {
                    format!(", échéance le {} ({d})", long_date(d))
                });
                let _ = writeln!(out, "  tâche ouverte : « {title} » pour {role}{due}");
            }
            Item::TaskClosed { id, reason } => {
                let why = match reason {
                    CloseReason::Completed => "accomplie",
                    CloseReason::StateLeft => "l'état a changé",
                    CloseReason::CaseClosed => "dossier clos",
                    CloseReason::Migrated => "nouvelle version de la procédure",
                };
                let _ = writeln!(out, "  tâche fermée : {id} ({why})");
            }
            Item::Notice {
                template,
                to,
                deadline,
            } => {
                let to = if to.is_empty() {
                    "personne".to_string()
                } else {
                    to.join(", ")
                };
                let deadline = deadline.map_or(String::new(), |d| format!(", délai annoncé : {d}"));
                let _ = writeln!(out, "  avis à : {to}, modèle : {template}{deadline}");
            }
            Item::ChildStarted { workflow } => {
                let _ = writeln!(out, "  dossier enfant ouvert : {workflow}");
            }
            Item::Told { workflow, event } => {
                let _ = writeln!(out, "  dossiers liés « {workflow} » informés : {event}");
            }
            Item::Detail { text } => {
                let _ = writeln!(out, "  {text}");
            }
            Item::Closed { outcome } => {
                let _ = writeln!(out, "  dossier clos : {outcome}");
            }
        }
    }
}
