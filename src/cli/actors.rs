//! `jalon actors`: add, list, revoke actors and turn their daily digest on or off.

use clap::{Args, Subcommand};

use super::Failure;
use super::data::{DataArgs, open, runtime};
use crate::clock::{Clock, SystemClock};

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

pub fn run(a: ActorsArgs) -> Result<(), Failure> {
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
