//! `jalon serve`: the store, the scheduler and the HTTP API in one process.

pub mod api;
mod app;
pub mod changes;
mod config;
pub mod digest_mail;
pub mod dispatcher;
mod metrics;
pub mod notice_config;
mod probes;
mod router;
pub mod scheduler;
mod serve;
pub mod sign_in_mail;
pub mod web;
mod worker;

pub use app::{App, AppState};
pub use config::Config;
pub use router::{BODY_LIMIT, UPLOAD_FORM_OVERHEAD, router};
pub use serve::serve;
