//! The exact bytes of a notice email (RFC 5322), built once and delivered as they are.
//!
//! Nothing here reads a clock or a random source: the `Date` header is given, the Message-ID
//! and the MIME boundaries derive from the notice id. Building the same notice twice gives the
//! same bytes, so a retried delivery sends the same message and its hash identifies it.
//! What cannot be made into a message is an error, never a panic: a header never carries a
//! line break from a name or a subject.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use sha2::{Digest, Sha256};

use crate::ics::{self, Due};
use crate::render::Rendered;

/// Everything one email is made of. One recipient per message.
#[derive(Clone, Debug)]
pub struct Outgoing<'a> {
    /// The outbox id: letters, digits, `.`, `-`, `_` (it names the Message-ID and the file).
    pub notice_id: &'a str,
    /// The configured sender, e.g. `Jalon <jalon@ecoles.example.be>`.
    pub from: &'a str,
    pub to_name: &'a str,
    pub to_email: &'a str,
    /// The `Date` header: when the notice was queued, so that a retry keeps it.
    pub date: DateTime<Utc>,
    pub content: &'a Rendered,
    /// The deadline announced: adds a `text/calendar` attachment (`echeance.ics`).
    pub due: Option<&'a Due>,
    /// A link for the calendar event (the case page).
    pub url: Option<&'a str>,
}

/// A message ready to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltMessage {
    pub notice_id: String,
    /// `<notice-<id>@<domain of From>>`
    pub message_id: String,
    /// The envelope: the bare addresses of From and To.
    pub envelope_from: String,
    pub envelope_to: String,
    pub bytes: Vec<u8>,
    /// Lowercase hex SHA-256 of `bytes`.
    pub sha256: String,
}

/// Why a message cannot be built. Retrying will not help: the notice must be fixed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error(
        "notice id `{0}` must be 1 to 128 letters, digits, `.`, `-` or `_` (it names the Message-ID and the file)"
    )]
    NoticeId(String),
    #[error("invalid sender address `{address}`: {reason}")]
    From { address: String, reason: String },
    #[error("invalid recipient address `{address}`: {reason}")]
    To { address: String, reason: String },
    #[error("recipient name {0:?} has a line break or another control character")]
    ToName(String),
    #[error("cannot build the message: {0}")]
    Build(String),
}

pub fn is_valid_notice_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && !id.starts_with('.')
}

/// The Message-ID of a notice: `<notice-<id>@<domain>>`.
pub fn message_id(notice_id: &str, domain: &str) -> String {
    format!("<{}>", ics::uid(notice_id, domain))
}

/// The `To` mailbox of a name and an address. A control character in the name is refused
/// (lettre would panic on a line break in a header); the actors' store checks names with this
/// too, so that what it accepts can be sent.
pub fn recipient(name: &str, email: &str) -> Result<Mailbox, MessageError> {
    if name.chars().any(char::is_control) {
        return Err(MessageError::ToName(name.to_string()));
    }
    let address = email.parse().map_err(|e| MessageError::To {
        address: email.to_string(),
        reason: format!("{e}"),
    })?;
    let name = name.trim();
    Ok(Mailbox::new(
        (!name.is_empty()).then(|| name.to_string()),
        address,
    ))
}

/// Builds the message: `multipart/alternative` (text, HTML) when there is an HTML body, a
/// single `text/plain` part otherwise, inside `multipart/mixed` with the `.ics` when the notice
/// announces a deadline.
pub fn build(o: &Outgoing<'_>) -> Result<BuiltMessage, MessageError> {
    if !is_valid_notice_id(o.notice_id) {
        return Err(MessageError::NoticeId(o.notice_id.to_string()));
    }
    let from: Mailbox = o.from.parse().map_err(|e| MessageError::From {
        address: o.from.to_string(),
        reason: format!("{e}"),
    })?;
    let to = recipient(o.to_name, o.to_email)?;
    let subject = crate::render::one_line(&o.content.subject);
    let domain = from.email.domain().to_string();
    let message_id = message_id(o.notice_id, &domain);

    let body = match &o.content.html {
        Some(html) => Body::Multi(
            MultiPart::alternative()
                .boundary(boundary(o.notice_id, "alt"))
                .singlepart(SinglePart::plain(o.content.text.clone()))
                .singlepart(SinglePart::html(html.clone())),
        ),
        None => Body::Single(SinglePart::plain(o.content.text.clone())),
    };
    let body = match o.due {
        Some(due) => {
            let calendar = ics::due_date_event(
                &ics::uid(o.notice_id, &domain),
                &subject,
                due,
                o.url,
                o.date,
            );
            let kind = ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH")
                .map_err(|e| MessageError::Build(e.to_string()))?;
            let mixed = MultiPart::mixed().boundary(boundary(o.notice_id, "mixed"));
            let mixed = match body {
                Body::Multi(m) => mixed.multipart(m),
                Body::Single(s) => mixed.singlepart(s),
            };
            Body::Multi(
                mixed.singlepart(Attachment::new("echeance.ics".into()).body(calendar, kind)),
            )
        }
        None => body,
    };

    let builder = lettre::Message::builder()
        .from(from.clone())
        .to(to.clone())
        .subject(subject)
        .date(SystemTime::from(o.date))
        .message_id(Some(message_id.clone()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ));
    let message = match body {
        Body::Multi(m) => builder.multipart(m),
        Body::Single(s) => builder.singlepart(s),
    }
    .map_err(|e| MessageError::Build(e.to_string()))?;
    let bytes = message.formatted();
    Ok(BuiltMessage {
        notice_id: o.notice_id.to_string(),
        message_id,
        envelope_from: from.email.to_string(),
        envelope_to: to.email.to_string(),
        sha256: sha256_hex(&bytes),
        bytes,
    })
}

enum Body {
    Single(SinglePart),
    Multi(MultiPart),
}

/// A MIME boundary derived from the notice id: stable across builds, unlikely in a body
/// (bodies are quoted-printable or base64, and the hash part never repeats a sentence).
fn boundary(notice_id: &str, kind: &str) -> String {
    let hash = sha256_hex(format!("{kind}:{notice_id}").as_bytes());
    format!("=_jalon_{kind}_{}", &hash[..24])
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
