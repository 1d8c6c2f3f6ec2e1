use chrono::{NaiveDate, TimeZone};
use engine::calendar::{Calendar, Length, Unit};

use super::*;
use crate::test_support::{leaves, parse_eml};

fn content(html: bool) -> Rendered {
    Rendered {
        subject: "Réclamation possible jusqu'au vendredi 15 janvier 2027".into(),
        text: "Madame, Monsieur Marie Dupont,\n\nVotre réclamation est à introduire au plus tard le vendredi 15 janvier 2027.\n".into(),
        html: html.then(|| "<p>Au plus tard le <strong>vendredi 15 janvier 2027</strong>.</p>".into()),
    }
}

fn due() -> Due {
    let d = Calendar::fwb()
        .deadline(
            NaiveDate::from_ymd_opt(2026, 12, 18).unwrap(),
            Some(engine::calendar::Means::RegisteredLetter),
            Some(Length::new(15, Unit::WorkingDays)),
        )
        .unwrap();
    Due::from_deadline(&d, Some("art. 39"))
}

fn outgoing<'a>(id: &'a str, content: &'a Rendered, due: Option<&'a Due>) -> Outgoing<'a> {
    Outgoing {
        notice_id: id,
        from: "Jalon <jalon@ecoles.example.be>",
        to_name: "Marie Dupont",
        to_email: "marie.dupont@example.be",
        date: Utc.with_ymd_and_hms(2026, 12, 18, 11, 30, 0).unwrap(),
        content,
        due,
        url: Some("https://jalon.example.be/cases/7"),
    }
}

/// Text travels with CRLF line ends (RFC 5322); lettre converts them.
fn crlf(s: &str) -> String {
    s.trim_end().replace('\n', "\r\n")
}

fn text_of(part: &serde_json::Value) -> &str {
    part["content"].as_str().unwrap().trim_end()
}

#[test]
fn a_text_notice_is_one_plain_part_with_the_headers() {
    let c = content(false);
    let m = build(&outgoing("42", &c, None)).unwrap();
    assert_eq!(m.message_id, "<notice-42@ecoles.example.be>");
    assert_eq!(m.envelope_from, "jalon@ecoles.example.be");
    assert_eq!(m.envelope_to, "marie.dupont@example.be");
    let parsed = parse_eml(&m.bytes);
    let h = &parsed["headers"];
    assert_eq!(h["From"], "Jalon <jalon@ecoles.example.be>");
    assert_eq!(h["To"], "Marie Dupont <marie.dupont@example.be>");
    assert_eq!(h["Subject"], c.subject.as_str());
    assert_eq!(h["Message-ID"], "<notice-42@ecoles.example.be>");
    assert_eq!(h["Date"], "Fri, 18 Dec 2026 11:30:00 +0000");
    assert_eq!(h["Auto-Submitted"], "auto-generated");
    let body = &parsed["body"];
    assert_eq!(body["content_type"], "text/plain");
    assert_eq!(body["params"]["charset"], "utf-8");
    assert_eq!(text_of(body), crlf(&c.text));
    assert_eq!(body["defects"], serde_json::json!([]));
}

#[test]
fn html_and_deadline_make_alternative_parts_and_an_ics() {
    let c = content(true);
    let d = due();
    let m = build(&outgoing("42", &c, Some(&d))).unwrap();
    let parsed = parse_eml(&m.bytes);
    let body = &parsed["body"];
    assert_eq!(body["content_type"], "multipart/mixed");
    assert_eq!(body["parts"][0]["content_type"], "multipart/alternative");
    let parts = leaves(body);
    let kinds: Vec<&str> = parts
        .iter()
        .map(|p| p["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["text/plain", "text/html", "text/calendar"]);
    assert_eq!(text_of(parts[0]), crlf(&c.text));
    assert_eq!(text_of(parts[1]), crlf(c.html.as_deref().unwrap()));
    let ics = parts[2];
    assert_eq!(ics["params"]["method"], "PUBLISH");
    assert_eq!(ics["filename"], "echeance.ics");
    assert_eq!(ics["disposition"], "attachment");
    let text = ics["content"].as_str().unwrap().replace("\r\n ", "");
    assert!(text.contains("UID:notice-42@ecoles.example.be"), "{text}");
    assert!(text.contains("DTSTART;VALUE=DATE:20270115"), "{text}");
    assert!(text.contains("DTSTAMP:20261218T113000Z"), "{text}");
    assert!(text.contains(&format!("SUMMARY:{}", c.subject)), "{text}");
    for p in &parts {
        assert_eq!(p["defects"], serde_json::json!([]));
    }
}

#[test]
fn the_same_notice_gives_the_same_bytes_and_hash() {
    let c = content(true);
    let d = due();
    let a = build(&outgoing("42", &c, Some(&d))).unwrap();
    let b = build(&outgoing("42", &c, Some(&d))).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.sha256, sha256_hex(&a.bytes));
    assert_eq!(a.sha256.len(), 64);
    let other = build(&outgoing("43", &c, Some(&d))).unwrap();
    assert_eq!(other.message_id, "<notice-43@ecoles.example.be>");
    assert_ne!(other.sha256, a.sha256);
}

#[test]
fn sha256_is_the_standard_one() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn unusable_ids_and_addresses_are_refused() {
    let c = content(false);
    for id in ["", "../x", "a b", "<42>", ".hidden"] {
        assert_eq!(
            build(&outgoing(id, &c, None)),
            Err(MessageError::NoticeId(id.to_string())),
            "{id:?}"
        );
    }
    let mut o = outgoing("42", &c, None);
    o.to_email = "marie.dupont";
    assert!(matches!(build(&o), Err(MessageError::To { .. })));
    let mut o = outgoing("42", &c, None);
    o.from = "Jalon";
    assert!(matches!(build(&o), Err(MessageError::From { .. })));
}

#[test]
fn a_recipient_without_name_is_a_bare_address() {
    let c = content(false);
    let mut o = outgoing("42", &c, None);
    o.to_name = " ";
    let parsed = parse_eml(&build(&o).unwrap().bytes);
    assert_eq!(parsed["headers"]["To"], "marie.dupont@example.be");
}

/// A line break in the recipient's name made lettre panic (the notice stayed pending forever);
/// it is an error that names the problem.
#[test]
fn a_control_character_in_the_name_is_an_error_not_a_panic() {
    let c = content(false);
    for name in [
        "a\r\nBcc: x@y",
        "Marie\nDupont",
        "Marie\u{0}",
        "Marie\u{7f}",
    ] {
        let mut o = outgoing("42", &c, None);
        o.to_name = name;
        assert_eq!(
            build(&o),
            Err(MessageError::ToName(name.to_string())),
            "{name:?}"
        );
    }
    assert!(recipient("Marie Dupont", "marie.dupont@example.be").is_ok());
    assert!(matches!(
        recipient("Marie", "marie@example.be\r\nBcc: x@y"),
        Err(MessageError::To { .. })
    ));
}

/// A subject with control characters (however it was made) is one clean line.
#[test]
fn the_subject_header_is_one_line_without_controls() {
    let mut c = content(false);
    c.subject = "Objet\r\nBcc: x@example.org\u{7}fin".into();
    let m = build(&outgoing("42", &c, None)).unwrap();
    let parsed = parse_eml(&m.bytes);
    assert_eq!(parsed["headers"]["Subject"], "Objet Bcc: x@example.org fin");
    assert!(parsed["headers"].get("Bcc").is_none());
}
