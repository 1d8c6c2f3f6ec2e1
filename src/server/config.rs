//! What `jalon serve` is told: address, folders, database, calendar, notices.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use engine::calendar::Calendar;

use super::changes::WaitLimits;
use super::notice_config::NoticeConfig;

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub workflows: PathBuf,
    /// `None`: SQLite under `data_dir`.
    pub database_url: Option<String>,
    /// The largest document a case accepts (`POST /cases/{id}/documents`), in bytes.
    pub max_document_bytes: usize,
    pub calendar: Arc<Calendar>,
    /// Sender and transport of notices; by default `.eml` files under `<data_dir>/outbox`.
    pub notices: NoticeConfig,
    /// Bounds of the requests that wait for a case to change (`changes.rs`).
    pub waits: WaitLimits,
    /// How the store carries its writes (PostgreSQL lanes).
    pub store: store::Options,
}

impl Config {
    /// 20 MB: a scanned decision or report of a few dozen pages.
    pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 20 * 1024 * 1024;

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| store::sqlite_url(&self.data_dir))
    }
}

/// The URL without its credentials, for logs and errors.
pub(crate) fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((head, tail)) if head.contains("://") => {
            let scheme = head.split("://").next().unwrap_or("");
            format!("{scheme}://…@{tail}")
        }
        _ => url.to_owned(),
    }
}
