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

/// A hint for a PostgreSQL URL that reaches this machine over TCP with TLS left to the
/// driver's default (`sslmode=prefer`): Debian's PostgreSQL offers TLS, so every statement is
/// encrypted to loopback, about a fifth of the transitions a second (docs/performance.md, "The
/// connection"). `None` for SQLite, another host, the Unix socket or a chosen `sslmode`.
pub(crate) fn loopback_tls_hint(url: &str) -> Option<&'static str> {
    let url = url::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return None;
    }
    // A `postgres:` URL's host is not parsed as an address (not a special scheme to `url`).
    let loopback = match url.host()? {
        url::Host::Domain(d) => {
            d == "localhost"
                || d.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    let chosen = url
        .query_pairs()
        .any(|(k, v)| k == "host" && v.starts_with('/') || k == "sslmode" && v != "prefer");
    (loopback && !chosen).then_some(
        "PostgreSQL on this machine over TCP: the connection negotiates TLS; the Unix socket \
         (`?host=/var/run/postgresql`) or `?sslmode=disable` spares that cost",
    )
}

#[cfg(test)]
mod tests {
    use super::loopback_tls_hint;

    #[test]
    fn only_a_loopback_tcp_url_with_tls_by_default_gets_the_hint() {
        for (url, hint) in [
            ("postgres://postgres@127.0.0.1:5432/jalon", true),
            ("postgresql://u:p@localhost/jalon", true),
            ("postgres://postgres@[::1]/jalon?sslmode=prefer", true),
            (
                "postgres://postgres@localhost/jalon?host=/var/run/postgresql",
                false,
            ),
            ("postgres://postgres@127.0.0.1/jalon?sslmode=disable", false),
            ("postgres://postgres@127.0.0.1/jalon?sslmode=require", false),
            ("postgres://postgres@db.example.be/jalon", false),
            ("sqlite:///var/lib/jalon/jalon.db?mode=rwc", false),
            ("not a url", false),
        ] {
            assert_eq!(loopback_tls_hint(url).is_some(), hint, "{url}");
        }
    }
}
