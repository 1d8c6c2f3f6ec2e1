//! French wording of dates and deadline explanations, for what actors read.

use chrono::{Datelike, NaiveDate, Weekday};

use super::{Change, DayOff, Deadline, Decision, Length, Means, NonWorkingDay, Unit};

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

pub fn weekday(date: NaiveDate) -> &'static str {
    match date.weekday() {
        Weekday::Mon => "lundi",
        Weekday::Tue => "mardi",
        Weekday::Wed => "mercredi",
        Weekday::Thu => "jeudi",
        Weekday::Fri => "vendredi",
        Weekday::Sat => "samedi",
        Weekday::Sun => "dimanche",
    }
}

pub fn month(date: NaiveDate) -> &'static str {
    MONTHS[date.month0() as usize]
}

/// "lundi 5 janvier 2027" ("1er" for the first day of a month, as French usage wants).
pub fn long_date(date: NaiveDate) -> String {
    format!("{} {} {}", weekday(date), day_and_month(date), date.year())
}

/// "1er avril", "30 septembre".
pub fn day_and_month(date: NaiveDate) -> String {
    let day = match date.day() {
        1 => "1er".to_string(),
        d => d.to_string(),
    };
    format!("{day} {}", month(date))
}

/// "10 jours ouvrables", "1 mois", "2 ans".
pub fn length(l: Length) -> String {
    let plural = l.count > 1;
    let unit = match (l.unit, plural) {
        (Unit::WorkingDays, false) => "jour ouvrable",
        (Unit::WorkingDays, true) => "jours ouvrables",
        (Unit::CalendarDays, false) => "jour de calendrier",
        (Unit::CalendarDays, true) => "jours de calendrier",
        (Unit::Months, _) => "mois",
        (Unit::Years, false) => "an",
        (Unit::Years, true) => "ans",
    };
    format!("{} {unit}", l.count)
}

/// "samedi", "dimanche", "Noël (jour férié légal)".
pub fn day_off(off: &DayOff) -> String {
    match off {
        DayOff::Saturday => "samedi".to_string(),
        DayOff::Sunday => "dimanche".to_string(),
        DayOff::Holiday { name, source } => format!("{name} ({})", source.label_fr()),
    }
}

fn listed(days: &[NonWorkingDay]) -> String {
    days.iter()
        .map(|d| format!("{} {}", d.date, day_off(&d.reason)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn push_holidays_skipped(lines: &mut Vec<String>, d: &Deadline) {
    if !d.holidays_skipped.is_empty() {
        lines.push(format!(
            "Jours fériés non comptés comme jours ouvrables : {}.",
            listed(&d.holidays_skipped)
        ));
    }
}

/// One line per step of the computation, then one per decision that moved the deadline; see
/// [`Deadline::explain_fr`].
pub(super) fn explain(d: &Deadline) -> Vec<String> {
    let mut lines = counting(d);
    lines.extend(d.decisions.iter().map(decision));
    lines
}

/// "Délai prolongé de 10 jours ouvrables par décision du lundi 6 avril 2026 (admin-1 : motif)
/// ; échéance précédente : …".
pub fn decision(x: &Decision) -> String {
    let what = match &x.change {
        Change::Extension { by } => format!("Délai prolongé de {}", length(*by)),
        Change::Suspension { from, remaining } => format!(
            "Délai suspendu à partir du {} ({})",
            long_date(*from),
            match remaining {
                Some(l) => format!("{} restants", length(*l)),
                None => "aucun jour restant".to_string(),
            }
        ),
        Change::Resumption { on } => format!(
            "Délai repris le {} pour le temps qui restait à courir",
            long_date(*on)
        ),
        Change::Correction { variable } => {
            format!("Délai recompté après correction de « {variable} »")
        }
    };
    let mut line = format!("{what}, décision du {}", long_date(x.on));
    match (&x.by, &x.event) {
        (Some(by), Some(event)) => line.push_str(&format!(" (« {event} », par {by})")),
        (Some(by), None) => line.push_str(&format!(" (par {by})")),
        (None, Some(event)) => line.push_str(&format!(" (« {event} »)")),
        (None, None) => {}
    }
    if let Some(reason) = x.reason.as_deref().filter(|r| !r.trim().is_empty()) {
        line.push_str(&format!(" : {}", reason.trim()));
    }
    if let Some(prev) = x.previous_due {
        line.push_str(&format!(" ; échéance précédente : {}", long_date(prev)));
    }
    line.push('.');
    line
}

fn counting(d: &Deadline) -> Vec<String> {
    let mut lines = Vec::new();
    if d.fixed.is_some() {
        lines.push(if d.fixed_next {
            format!(
                "Date fixée : le premier {} qui suit le {} ({}).",
                day_and_month(d.due),
                d.from,
                long_date(d.from)
            )
        } else {
            format!(
                "Date fixée par le texte : le {} de l'année du dossier ouvert le {} ({}).",
                day_and_month(d.due),
                d.from,
                long_date(d.from)
            )
        });
        lines.push(format!(
            "Échéance : {} ({}), jusqu'à la fin de ce jour (heure de Bruxelles) ; une date fixée \
             n'est pas reportée, même un samedi, un dimanche ou un jour férié.",
            d.due,
            long_date(d.due)
        ));
        return lines;
    }
    // No length, no letter, no day of the year: the deadline is a date entered in the case
    // (the day the Government fixes for an urgent advice, art. 117, al. 2).
    if d.notification.is_none() && d.length.is_none() {
        lines.push(format!(
            "Date fixée par décision et saisie dans le dossier : {} ({}).",
            d.due,
            long_date(d.due)
        ));
        lines.push(format!(
            "Échéance : {} ({}), jusqu'à la fin de ce jour (heure de Bruxelles) ; une date fixée \
             n'est pas reportée, même un samedi, un dimanche ou un jour férié : aucun délai du \
             texte ne prend fin ce jour-là (art. 22, 2°).",
            d.due,
            long_date(d.due)
        ));
        return lines;
    }
    match d.notification {
        Some(n) if n.means == Means::RegisteredLetter => {
            lines.push(format!(
                "Lettre recommandée expédiée le {} ({}).",
                n.on,
                long_date(n.on)
            ));
            lines.push(format!(
                "Prise d'effet : {} ({}), le troisième jour ouvrable suivant l'expédition.",
                n.effective,
                long_date(n.effective)
            ));
        }
        Some(n) => lines.push(format!(
            "Lettre remise de la main à la main, reçue le {} ({}) : prise d'effet à cette date.",
            n.on,
            long_date(n.on)
        )),
        None => lines.push(format!("Acte du {} ({}).", d.from, long_date(d.from))),
    }
    let (not_counted, counted) = if d.outside_art_22 {
        ("", "")
    } else {
        (" (art. 22, 1°)", " (art. 22, 2°)")
    };
    if let Some(l) = d.length {
        lines.push(format!(
            "Délai de {} à partir du {} ; le jour de l'acte n'est pas compris{not_counted}.",
            length(l),
            d.counted_from
        ));
        match l.unit {
            Unit::WorkingDays => {
                lines.push(
                    "Seuls les jours ouvrables sont comptés : du lundi au vendredi, hors jours \
                     fériés (art. 1er, 12°)."
                        .to_string(),
                );
            }
            Unit::CalendarDays => {}
            Unit::Months | Unit::Years => {
                if let Some(day) = d.clamped_from_day {
                    lines.push(format!(
                        "Le {day} n'existe pas en {} {} : fin au dernier jour du mois.",
                        month(d.raw_end),
                        d.raw_end.year()
                    ));
                }
            }
        }
        push_holidays_skipped(&mut lines, d);
        lines.push(format!(
            "Fin du délai : {} ({}) ; le jour de l'échéance est compté{counted}.",
            d.raw_end,
            long_date(d.raw_end)
        ));
    }
    if d.length.is_none() {
        push_holidays_skipped(&mut lines, d);
    }
    if d.not_moved {
        lines.push(format!(
            "Fin du délai un jour non ouvrable ({}), sans report : l'art. 22 du décret régit les \
             délais de son titre III, pas celui-ci.",
            long_date(d.raw_end)
        ));
    }
    if let Some(m) = &d.moved {
        let (first, rest) = m
            .skipped
            .split_first()
            .expect("a move skips at least one day");
        let mut line = format!(
            "Report au jour ouvrable suivant (art. 22, 2°) : {} {} → {}",
            first.date,
            day_off(&first.reason),
            m.to
        );
        if !rest.is_empty() {
            line.push_str(&format!(" ; également non ouvrables : {}", listed(rest)));
        }
        line.push('.');
        lines.push(line);
    }
    if d.length.is_none() {
        lines.push(format!(
            "Date de prise d'effet : {} ({}), sans report : l'art. 22, 2° ne reporte que la fin \
             d'un délai.",
            d.due,
            long_date(d.due)
        ));
        return lines;
    }
    lines.push(format!(
        "Échéance : {} ({}), jusqu'à la fin de ce jour (heure de Bruxelles).",
        d.due,
        long_date(d.due)
    ));
    lines
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use crate::calendar::{Calendar, EndRule};

    /// A date entered in the case (the Government's date for an urgent advice) is explained as
    /// that date, kept even on a holiday, and not as the effect of a letter.
    #[test]
    fn a_date_held_by_the_case_is_explained_as_fixed_and_never_moved() {
        let christmas = NaiveDate::from_ymd_opt(2028, 12, 25).unwrap();
        let d = Calendar::fwb()
            .deadline_under(christmas, None, None, EndRule::Kept)
            .unwrap();
        assert_eq!(d.due, christmas);
        let lines = d.explain_fr();
        assert_eq!(
            lines[0],
            "Date fixée par décision et saisie dans le dossier : 2028-12-25 (lundi 25 décembre 2028)."
        );
        assert!(lines[1].contains("n'est pas reportée"), "{lines:?}");
        assert!(
            !lines.iter().any(|l| l.contains("prise d'effet")),
            "{lines:?}"
        );
    }
}
