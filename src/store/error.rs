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
            | Error::Invalid { code, .. } => code,
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
