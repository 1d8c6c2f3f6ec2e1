//! The calendar attachment of a notice that announces a deadline: one all-day event on the due
//! date (RFC 5545, `METHOD:PUBLISH`), so that the recipient's calendar shows it.

use chrono::{DateTime, Days, NaiveDate, Utc};
use engine::calendar::Deadline;
use icalendar::{Calendar, Component, EventLike, Property};

/// The due date of a notice and how to explain it, as the `.ics` event shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub date: NaiveDate,
    /// The French explanation, one line per step ([`Deadline::explain_fr`]).
    pub explanation: Vec<String>,
    /// The article the deadline comes from.
    pub legal_basis: Option<String>,
}

impl Due {
    pub fn from_deadline(deadline: &Deadline, legal_basis: Option<&str>) -> Due {
        Due {
            date: deadline.due,
            explanation: deadline.explain_fr(),
            legal_basis: legal_basis.map(str::to_string),
        }
    }

    /// The event's description: the explanation, then the article.
    pub fn description(&self) -> String {
        let mut lines = self.explanation.clone();
        if let Some(basis) = &self.legal_basis {
            lines.push(format!("Base légale : {basis}."));
        }
        lines.join("\n")
    }
}

/// `notice-<id>@<domain>`: the event of a notice keeps its identity if the notice is sent again.
pub fn uid(notice_id: &str, domain: &str) -> String {
    format!("notice-{notice_id}@{domain}")
}

/// The `.ics` text: an all-day event on `due.date` (DTEND is the next day: the end of an
/// all-day event is exclusive). `stamp` is the DTSTAMP, given so that the same notice always
/// gives the same bytes.
pub fn due_date_event(
    uid: &str,
    summary: &str,
    due: &Due,
    url: Option<&str>,
    stamp: DateTime<Utc>,
) -> String {
    let mut event = icalendar::Event::new();
    event
        .uid(uid)
        .timestamp(stamp)
        .summary(summary)
        .description(&due.description())
        .starts(due.date)
        .ends(due.date + Days::new(1))
        .add_property("TRANSP", "TRANSPARENT");
    if let Some(url) = url {
        event.url(url);
    }
    let mut calendar = Calendar::empty();
    for (key, value) in [
        ("VERSION", "2.0"),
        ("PRODID", "-//jalon//notices//FR"),
        ("CALSCALE", "GREGORIAN"),
        ("METHOD", "PUBLISH"),
    ] {
        calendar.append_property(Property::new(key, value));
    }
    calendar.push(event.done());
    calendar.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use engine::calendar::{Calendar as Legal, Length, Means, Unit};

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn sample() -> (Due, String) {
        // Registered letter sent Friday 18 December 2026, 15 working days: the letter takes
        // effect on Wednesday 23 December; the count skips Christmas and New Year's Day and
        // ends on Friday 15 January 2027 (checked with `jalon deadline --explain`).
        let deadline = Legal::fwb()
            .deadline(
                date("2026-12-18"),
                Some(Means::RegisteredLetter),
                Some(Length::new(15, Unit::WorkingDays)),
            )
            .unwrap();
        let due = Due::from_deadline(&deadline, Some("Décret du 13 septembre 2018, art. 39"));
        let stamp = Utc.with_ymd_and_hms(2026, 12, 18, 11, 0, 0).unwrap();
        let text = due_date_event(
            &uid("42", "ecoles.example.be"),
            "Réclamation possible jusqu'au vendredi 15 janvier 2027",
            &due,
            Some("https://jalon.example.be/cases/7"),
            stamp,
        );
        (due, text)
    }

    /// RFC 5545 folds long lines with CRLF + space; unfold them to read properties.
    fn unfolded(text: &str) -> String {
        text.replace("\r\n ", "")
    }

    #[test]
    fn an_all_day_event_on_the_due_date() {
        let (due, text) = sample();
        assert_eq!(due.date, date("2027-01-15"));
        let text = unfolded(&text);
        let lines: Vec<&str> = text.split("\r\n").collect();
        for expected in [
            "BEGIN:VCALENDAR",
            "METHOD:PUBLISH",
            "PRODID:-//jalon//notices//FR",
            "BEGIN:VEVENT",
            "UID:notice-42@ecoles.example.be",
            "DTSTAMP:20261218T110000Z",
            "DTSTART;VALUE=DATE:20270115",
            "DTEND;VALUE=DATE:20270116",
            "SUMMARY:Réclamation possible jusqu'au vendredi 15 janvier 2027",
            "URL:https://jalon.example.be/cases/7",
            "END:VEVENT",
            "END:VCALENDAR",
        ] {
            assert!(lines.contains(&expected), "{expected} missing in\n{text}");
        }
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("DTSTAMP")).count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn the_description_explains_the_count_and_cites_the_article() {
        let (_, text) = sample();
        let text = unfolded(&text);
        let description = text
            .split("\r\n")
            .find_map(|l| l.strip_prefix("DESCRIPTION:"))
            .unwrap();
        // Text values escape line breaks as `\n` and commas as `\,`.
        assert!(description.contains("Lettre recommandée expédiée le 2026-12-18"));
        assert!(
            description.contains("Noël (jour férié légal)"),
            "{description}"
        );
        assert!(description.contains("\\nBase légale : Décret du 13 septembre 2018\\, art. 39."));
        assert!(!description.contains('\n'));
    }

    #[test]
    fn long_lines_are_folded_within_75_octets() {
        let (_, text) = sample();
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
        }
    }

    #[test]
    fn the_same_notice_gives_the_same_bytes() {
        assert_eq!(sample().1, sample().1);
    }
}
