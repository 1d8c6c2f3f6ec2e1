//! The daily digest's message: built-in French templates (`digest_mail/`), rendered against the
//! facts the store queued (`store::digest_queue`). When it is queued: [`due_day`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use engine::calendar::{Calendar, brussels};
use notifiers::{Rendered, TemplateSet};
use serde_json::Value;

/// Digests are queued from this Brussels wall time on each working day.
pub const AT: NaiveTime = NaiveTime::from_hms_opt(7, 0, 0).unwrap();

fn templates() -> &'static Result<TemplateSet, String> {
    static SET: OnceLock<Result<TemplateSet, String>> = OnceLock::new();
    SET.get_or_init(|| {
        let files = BTreeMap::from([
            (
                "digest.subject.hbs".to_string(),
                include_str!("digest_mail/digest.subject.hbs").to_string(),
            ),
            (
                "digest.text.hbs".to_string(),
                include_str!("digest_mail/digest.text.hbs").to_string(),
            ),
            (
                "digest.html.hbs".to_string(),
                include_str!("digest_mail/digest.html.hbs").to_string(),
            ),
        ]);
        TemplateSet::from_sources(files).map_err(|e| e.to_string())
    })
}

/// The digest of one actor, from the queued facts.
pub fn render(facts: &Value, to_name: &str, to_email: &str) -> Result<Rendered, String> {
    let set = templates().as_ref().map_err(Clone::clone)?;
    let mut context = facts.clone();
    context["recipient"] = serde_json::json!({ "name": to_name, "email": to_email });
    set.render("digest", &context).map_err(|e| e.to_string())
}

/// The day whose digest is due at `now`: today in Brussels, if it is a working day and
/// [`AT`] has passed. Weekends and holidays have no digest.
pub fn due_day(calendar: &Calendar, now: DateTime<Utc>) -> Option<NaiveDate> {
    let today = brussels::civil_date(now);
    let from = brussels::earliest(today.and_time(AT))?;
    (calendar.is_working_day(today) && now >= from).then_some(today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Europe::Brussels;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Brussels
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn due_on_working_days_from_seven() {
        let cal = Calendar::fwb();
        // Tuesday 1 December 2026.
        assert_eq!(due_day(&cal, at(2026, 12, 1, 6)), None);
        assert_eq!(
            due_day(&cal, at(2026, 12, 1, 7)),
            NaiveDate::from_ymd_opt(2026, 12, 1)
        );
        // Christmas (Friday) and the Saturday after: none.
        assert_eq!(due_day(&cal, at(2026, 12, 25, 9)), None);
        assert_eq!(due_day(&cal, at(2026, 12, 26, 9)), None);
    }

    #[test]
    fn renders_the_tasks_in_french() {
        let facts = serde_json::json!({
            "date": "2026-12-01",
            "date_long": "mardi 1er décembre 2026",
            "count": 1,
            "tasks": [{
                "title": "Rendre l'avis", "role": "chambre_secretaire",
                "workflow": "Chambre de recours", "case_key": "CR-1", "case_id": "c1",
                "due_date": "2026-11-30", "due_long": "lundi 30 novembre 2026",
                "overdue": true, "legal_basis": "Art. 131"
            }]
        });
        let r = render(&facts, "Greffe", "greffe@example.org").unwrap();
        assert_eq!(r.subject, "1 tâche(s) en cours au mardi 1er décembre 2026");
        assert!(r.text.contains("Bonjour Greffe,"), "{}", r.text);
        assert!(
            r.text
                .contains("À faire au plus tard le lundi 30 novembre 2026 (Art. 131)"),
            "{}",
            r.text
        );
        assert!(r.text.contains("EN RETARD"), "{}", r.text);
        assert!(r.html.unwrap().contains("Rendre l&#x27;avis"));
    }
}
