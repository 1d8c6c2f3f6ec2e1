//! jalon's notices: from a workflow's templates and a case to the exact bytes of an email, and
//! their delivery. No database here: the outbox (in the store) calls these functions.
//!
//! The path of one notice to one recipient:
//!
//! 1. [`context::NoticeContext`] builds the JSON the template reads (`workflow`, `case`,
//!    `state`, `vars`, `deadline`, `recipient`, `task`). **Date variables are formatted by the
//!    context builder** as long French dates ("mardi 5 janvier 2027", via
//!    `engine::calendar::french`), so templates write `{{vars.recue_le}}`; unset declared
//!    variables are `null` (render as nothing, false in `{{#if}}`); the deadline gives
//!    `deadline.date` (ISO), `deadline.long`, `deadline.legal_basis` and
//!    `deadline.explanation` (one line per step of the count).
//! 2. [`render::TemplateSet`] (from `workflows/<id>/templates/` or from file name → text)
//!    renders `<name>.subject.hbs`, `<name>.text.hbs` and the optional `<name>.html.hbs` in
//!    strict mode: a missing value is an error naming the file, line and column. Subject and
//!    text are not escaped; HTML is, `{{{x}}}` included. The helper `{{long_date x}}` formats
//!    an ISO date. Templates nest at most [`render::MAX_DEPTH`] deep and have no partials, so
//!    rendering cannot exhaust a thread's stack; a panic while rendering is an error.
//! 3. [`message::build`] makes the RFC 5322 bytes: From (configured), one To, the UTF-8
//!    subject, `Message-ID: <notice-<id>@<from domain>>`, the given `Date`, text (and HTML as
//!    `multipart/alternative`), and an `echeance.ics` attachment ([`ics`]) when the notice
//!    announces a deadline. Same inputs, same bytes; the SHA-256 comes with them.
//! 4. [`transport::Transport`] delivers: [`transport::FileDrop`] writes `<dir>/<id>.eml`
//!    atomically; [`transport::Smtp`] sends the bytes to a relay. Failures say whether a retry
//!    can help ([`transport::Retry`]).
//!
//! [`check`] is the static check of templates behind `jalon validate` (codes
//! `template-syntax`, `template-unknown-variable`, `template-unknown-helper`,
//! `template-file-name`, `template-too-deep`, `template-raw-html`). [`mod@bench`] measures rendering and file-drop delivery.
//!
//! Nothing here reads the clock: dates come in as arguments.

pub mod bench;
pub mod check;
pub mod context;
pub mod ics;
pub mod message;
pub mod render;
pub mod transport;

/// Real helpers for tests (here and in the server's): Python's `email` parser and a loopback
/// SMTP server. Compiled for tests, or with the `testing` feature.
#[cfg(any(test, feature = "testing"))]
pub mod test_support;

pub use context::NoticeContext;
pub use ics::Due;
pub use message::{BuiltMessage, MessageError, Outgoing};
pub use render::{Rendered, TemplateSet};
pub use transport::{DeliveryError, FileDrop, Retry, Sent, Smtp, SmtpConfig, TlsMode, Transport};
