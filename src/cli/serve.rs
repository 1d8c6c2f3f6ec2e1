//! `jalon serve`: the server in this process until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::data::{DataArgs, runtime};
use super::{Failure, args};
use crate::clock::{Clock, SystemClock};
use crate::server::changes::WaitLimits;
use crate::server::{self, Config};

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
    /// The largest document a case accepts, in bytes; a larger one is refused (413
    /// `document_too_large`).
    #[arg(long, env = "JALON_MAX_DOCUMENT_BYTES", default_value_t = Config::DEFAULT_MAX_DOCUMENT_BYTES)]
    max_document_bytes: usize,
    /// Notice sender and SMTP relay (see config/jalon.example.yaml); default:
    /// config/jalon.yaml if it exists. Without SMTP, notices are .eml files under DATA/outbox.
    #[arg(long, env = "JALON_CONFIG")]
    config: Option<PathBuf>,
    /// Requests waiting for a case to change (`?after_version=&wait=`, `/changes`) open at
    /// once, in all; more are refused (429 `too_many_waits`).
    #[arg(long, env = "JALON_MAX_WAITS", default_value_t = WaitLimits::default().total)]
    max_waits: usize,
    /// The same bound per actor.
    #[arg(long, env = "JALON_MAX_WAITS_PER_ACTOR", default_value_t = WaitLimits::default().per_actor)]
    max_waits_per_actor: usize,
    /// On PostgreSQL, batches of transitions this process commits at once (1 to 8). Several
    /// processes on one database share what it does best with: on two cores, about eight
    /// batches in flight in all (four for one process, two each for three).
    #[arg(long, env = "JALON_POSTGRES_LANES", default_value_t = store::Options::default().postgres_lanes,
          value_parser = args::postgres_lanes)]
    postgres_lanes: usize,
    #[command(flatten)]
    data: DataArgs,
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("JALON_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn serve(a: ServeArgs) -> Result<(), Failure> {
    init_tracing();
    let cfg = Config {
        listen: a.listen,
        data_dir: a.data.data_dir,
        workflows: a.workflows,
        database_url: a.data.database_url,
        max_document_bytes: a.max_document_bytes,
        calendar: args::calendar(a.calendar.as_ref())?,
        notices: server::notice_config::NoticeConfig::load(a.config.as_deref(), |k| {
            std::env::var(k).ok()
        })
        .map_err(Failure::Usage)?,
        waits: WaitLimits {
            total: a.max_waits,
            per_actor: a.max_waits_per_actor,
            ..WaitLimits::default()
        },
        store: store::Options {
            postgres_lanes: a.postgres_lanes,
        },
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    runtime()?.block_on(server::serve(cfg, clock))?;
    Ok(())
}
