//! What every command that opens the database shares: where the data lives, opening it (which
//! migrates it), and the runtime to do so.

use std::path::PathBuf;

use clap::Args;
use store::Store;

use super::Failure;

/// Where the data lives; shared by every command that opens the database.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// Folder of the embedded SQLite database (`jalon.db`) and of the notices written as files.
    #[arg(long = "data", env = "JALON_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// A PostgreSQL URL (`postgres://user@host/db`) instead of the embedded SQLite database.
    #[arg(long, env = "JALON_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl DataArgs {
    fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| store::sqlite_url(&self.data_dir))
    }
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Run(e.into()))
}

pub(super) async fn open(data: &DataArgs) -> Result<Store, Failure> {
    if data.database_url.is_none() {
        store::ensure_dir(&data.data_dir).map_err(|e| {
            Failure::Usage(format!("cannot create {}: {e}", data.data_dir.display()))
        })?;
    }
    Store::open(&data.url(), engine::calendar::Calendar::fwb())
        .await
        .map_err(|e| Failure::Run(anyhow::anyhow!("cannot open the database: {e}")))
}
