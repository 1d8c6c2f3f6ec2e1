//! What the store refuses or fails with. Each variant has a stable code; the HTTP layer maps
//! them to statuses, the CLI to messages.

use engine::machine::Refusal;
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("{what} not found")]
    NotFound { code: &'static str, what: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// Refused input, with structured details (a deployment's diagnostics).
    #[error("{message}")]
    Rejected {
        code: &'static str,
        message: String,
        details: serde_json::Value,
    },
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Refused(r) => r.code(),
            Error::NotFound { code, .. }
            | Error::Conflict { code, .. }
            | Error::Invalid { code, .. }
            | Error::Rejected { code, .. } => code,
            Error::Db(e) if is_storage_full(e) => "storage_full",
            Error::Db(e) if is_unreachable(e) => "database_unavailable",
            Error::Db(_) => "database_error",
            Error::Corrupt(_) => "corrupt_data",
        }
    }

    pub fn not_found(code: &'static str, what: impl Into<String>) -> Self {
        Error::NotFound {
            code,
            what: what.into(),
        }
    }

    /// The database cannot answer now (unreachable, or its disk is full): the same request
    /// may succeed later, and nothing was changed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Db(e) if is_unreachable(e) || is_storage_full(e))
    }

    /// A write that lost a race on the case's row version.
    pub fn is_stale(&self) -> bool {
        matches!(
            self,
            Error::Conflict {
                code: "stale_version",
                ..
            }
        )
    }
}

/// The sqlx error under a sea-orm one, if any.
fn sqlx_error(e: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    use sea_orm::RuntimeErr;
    match e {
        DbErr::Conn(RuntimeErr::SqlxError(s))
        | DbErr::Exec(RuntimeErr::SqlxError(s))
        | DbErr::Query(RuntimeErr::SqlxError(s)) => Some(s),
        _ => None,
    }
}

/// The database's own error code (SQLSTATE on PostgreSQL, the result code on SQLite).
pub(crate) fn db_code(e: &DbErr) -> Option<String> {
    sqlx_error(e)?
        .as_database_error()?
        .code()
        .map(|c| c.into_owned())
}

/// The database server is away: no connection within the pool's acquire timeout, or the
/// connection broke under a statement. Not a fault of the request.
pub(crate) fn is_unreachable(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    if matches!(e, DbErr::ConnectionAcquire(_)) {
        return true;
    }
    let io = sqlx_error(e).is_some_and(|s| {
        matches!(
            s,
            Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::Tls(_)
        )
    });
    // PostgreSQL shutting down or refusing connections (classes 57P and 08).
    io || db_code(e).is_some_and(|c| c.starts_with("57P") || c.starts_with("08"))
}

/// No space left to write: SQLite's SQLITE_FULL (13; the writer's own connection and a
/// failed COMMIT give it as SQLite's message) or PostgreSQL's `disk_full` (53100).
pub(crate) fn is_storage_full(e: &DbErr) -> bool {
    matches!(db_code(e).as_deref(), Some("13" | "53100")) || e.to_string().contains(FULL_MESSAGE)
}

/// SQLite's text for SQLITE_FULL (`sqlite3_errstr(13)`).
pub(crate) const FULL_MESSAGE: &str = "database or disk is full";
