//! `jalon serve`, `jalon migrate` and `jalon actors`: the commands that open the database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::{Failure, args};
use crate::clock::{Clock, SystemClock};
use crate::server::{self, Config};
use store::{self, Store};

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

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "JALON_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Folder of workflows to deploy at start (`<id>/workflow.yaml`).
    #[arg(long, env = "JALON_WORKFLOWS", default_value = "workflows")]
    workflows: PathBuf,
    /// Extra closure days (see config/calendar.yaml).
    #[arg(long, env = "JALON_CALENDAR")]
    calendar: Option<PathBuf>,
    /// Notice sender and SMTP relay (see config/jalon.example.yaml); default:
    /// config/jalon.yaml if it exists. Without SMTP, notices are .eml files under DATA/outbox.
    #[arg(long, env = "JALON_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Args)]
pub struct ActorsArgs {
    #[command(subcommand)]
    command: ActorsCommand,
}

#[derive(Subcommand)]
enum ActorsCommand {
    /// Add an actor; prints its bearer token alone on the last line (shown only once).
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// Comma-separated roles: workflow roles (dco, chambre_secretaire…), `admin`, `operator`.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Send this actor a daily digest of the open tasks of its roles (working days, 07:00).
        #[arg(long)]
        digest: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Turn an actor's daily digest of open tasks on or off (by id or email).
    Digest {
        who: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List actors and their roles.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke an actor (by id or email): its token stops working.
    Revoke {
        who: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Run(e.into()))
}

pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("JALON_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
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

pub fn serve(a: ServeArgs) -> Result<(), Failure> {
    init_tracing();
    let cfg = Config {
        listen: a.listen,
        data_dir: a.data.data_dir,
        workflows: a.workflows,
        database_url: a.data.database_url,
        calendar: args::calendar(a.calendar.as_ref())?,
        notices: server::notice_config::NoticeConfig::load(a.config.as_deref(), |k| {
            std::env::var(k).ok()
        })
        .map_err(Failure::Usage)?,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    runtime()?.block_on(server::serve(cfg, clock))?;
    Ok(())
}

pub fn migrate(a: MigrateArgs) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let s = open(&a.data).await?;
        s.close().await.map_err(|e| Failure::Run(e.into()))?;
        println!("database is up to date");
        Ok(())
    })
}

pub fn actors(a: ActorsArgs) -> Result<(), Failure> {
    let now = SystemClock.now();
    runtime()?.block_on(async {
        match a.command {
            ActorsCommand::Add {
                name,
                email,
                roles,
                digest,
                data,
            } => {
                let s = open(&data).await?;
                let (actor, token) =
                    s.add_actor(&name, &email, &roles, now)
                        .await
                        .map_err(|e| match e {
                            store::Error::Invalid { message, .. } => Failure::Usage(message),
                            e => Failure::Run(e.into()),
                        })?;
                println!(
                    "added {} <{}> ({}) with roles {}",
                    actor.name,
                    actor.email,
                    actor.id,
                    actor.roles.join(",")
                );
                if digest {
                    s.set_digest(&actor.id, true)
                        .await
                        .map_err(|e| Failure::Run(e.into()))?;
                    println!("daily digest of open tasks: on");
                }
                println!("bearer token (shown once):");
                println!("{token}");
            }
            ActorsCommand::List { data } => {
                let s = open(&data).await?;
                for a in s.list_actors().await.map_err(|e| Failure::Run(e.into()))? {
                    println!(
                        "{}\t{}\t{}\t{}{}{}",
                        a.id,
                        a.name,
                        a.email,
                        a.roles.join(","),
                        if a.digest { "\tdigest" } else { "" },
                        if a.revoked { "\trevoked" } else { "" }
                    );
                }
            }
            ActorsCommand::Digest { who, state, data } => {
                let s = open(&data).await?;
                s.set_digest(&who, state == "on")
                    .await
                    .map_err(|e| match e {
                        store::Error::NotFound { what, .. } => {
                            Failure::Run(anyhow::anyhow!("{what} not found"))
                        }
                        e => Failure::Run(e.into()),
                    })?;
                println!("daily digest of {who}: {state}");
            }
            ActorsCommand::Revoke { who, data } => {
                let s = open(&data).await?;
                s.revoke_actor(&who, now).await.map_err(|e| match e {
                    store::Error::NotFound { what, .. } => {
                        Failure::Run(anyhow::anyhow!("{what} not found"))
                    }
                    e => Failure::Run(e.into()),
                })?;
                println!("revoked {who}");
            }
        }
        Ok(())
    })
}
