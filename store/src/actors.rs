//! Actors: people (or systems) with roles and a bearer token. Only the token's SHA-256 is
//! stored; the token itself is shown once, when the actor is added.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::entities::actor;
use super::{Error, Store};
use crate::clock::millis;

/// Roles that guard the server itself rather than a procedure.
pub const ADMIN: &str = "admin";
pub const OPERATOR: &str = "operator";

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ActorInfo {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub revoked: bool,
    /// Opted in to the daily digest of open tasks.
    pub digest: bool,
}

impl ActorInfo {
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Watches the whole server: the stuck list, every notice, every case (`operator` or
    /// `admin`). The one rule the API and the pages apply.
    pub fn oversees(&self) -> bool {
        self.has(OPERATOR) || self.has(ADMIN)
    }

    /// May read the cases of a workflow with these roles: one of them, or overseeing. The one
    /// rule the API and the pages apply; nobody sees a case of a workflow in which none of
    /// their roles appears.
    pub fn may_read<'r>(&self, mut workflow_roles: impl Iterator<Item = &'r String>) -> bool {
        self.oversees() || workflow_roles.any(|r| self.has(r))
    }

    pub fn engine(&self) -> engine::machine::Actor {
        engine::machine::Actor {
            id: self.id.clone(),
            roles: self.roles.clone(),
        }
    }
}

impl From<actor::Model> for ActorInfo {
    fn from(m: actor::Model) -> Self {
        ActorInfo {
            roles: m
                .roles
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
            revoked: m.revoked_at.is_some(),
            digest: m.digest,
            id: m.id,
            name: m.name,
            email: m.email,
        }
    }
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn valid_role(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 64
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The longest name an actor may have, in characters (it goes into the `To` of its notices).
pub const MAX_NAME: usize = 200;

/// A plausible address: one `@`, something on each side, a dot in the domain, no spaces.
pub fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.contains(char::is_whitespace)
        && !domain.contains('@')
        && e.len() <= 254
}

impl Store {
    /// Adds an actor; returns it with its bearer token (shown only now).
    pub async fn add_actor(
        &self,
        name: &str,
        email: &str,
        roles: &[String],
        now: DateTime<Utc>,
    ) -> Result<(ActorInfo, String), Error> {
        let invalid = |message: String| Error::Invalid {
            code: "invalid_actor",
            message,
        };
        if name.trim().is_empty() {
            return Err(invalid("the name is empty".into()));
        }
        if name.chars().count() > MAX_NAME {
            return Err(invalid(format!(
                "the name is longer than {MAX_NAME} characters"
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid(format!(
                "the name {name:?} has a line break or another control character"
            )));
        }
        // The same check as the notices' `To`, so that every actor added can be written to.
        if !valid_email(email) || notifiers::message::recipient(name.trim(), email).is_err() {
            return Err(invalid(format!("{email:?} is not an email address")));
        }
        if let Some(r) = roles.iter().find(|r| !valid_role(r)) {
            return Err(invalid(format!(
                "role '{r}' is not a role name (lowercase letters, digits, _)"
            )));
        }
        let token = format!("jalon_{}", hex::encode(rand::random::<[u8; 32]>()));
        let id = uuid::Uuid::now_v7().to_string();
        let m = actor::ActiveModel {
            id: Set(id.clone()),
            name: Set(name.trim().to_owned()),
            email: Set(email.to_owned()),
            roles: Set(format!(",{},", roles.join(","))),
            token_hash: Set(token_hash(&token)),
            digest: Set(false),
            created_at: Set(millis(now)),
            revoked_at: Set(None),
        };
        let row = actor::Entity::insert(m)
            .exec_with_returning(&self.db)
            .await?;
        Ok((row.into(), token))
    }

    pub async fn list_actors(&self) -> Result<Vec<ActorInfo>, Error> {
        Ok(actor::Entity::find()
            .order_by_asc(actor::Column::CreatedAt)
            .order_by_asc(actor::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Revokes an actor by id or email; its token and its browser sessions stop working at
    /// once (a session also checks its actor on every request).
    pub async fn revoke_actor(&self, who: &str, now: DateTime<Utc>) -> Result<usize, Error> {
        let ids: Vec<String> = actor::Entity::find()
            .filter(actor::Column::Id.eq(who).or(actor::Column::Email.eq(who)))
            .filter(actor::Column::RevokedAt.is_null())
            .all(&self.db)
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect();
        let revoked = self
            .update_active(who, actor::Column::RevokedAt, millis(now).into())
            .await?;
        self.end_sessions_of(ids, now).await?;
        Ok(revoked)
    }

    /// Opts an active actor (by id or email) in or out of the daily digest of open tasks.
    pub async fn set_digest(&self, who: &str, on: bool) -> Result<(), Error> {
        self.update_active(who, actor::Column::Digest, on.into())
            .await
            .map(drop)
    }

    /// Sets one column of the active actor(s) with this id or email; `actor_not_found` if none.
    async fn update_active(
        &self,
        who: &str,
        column: actor::Column,
        value: sea_orm::Value,
    ) -> Result<usize, Error> {
        let res = actor::Entity::update_many()
            .col_expr(column, Expr::value(value))
            .filter(actor::Column::Id.eq(who).or(actor::Column::Email.eq(who)))
            .filter(actor::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        if res.rows_affected == 0 {
            return Err(Error::not_found(
                "actor_not_found",
                format!("active actor '{who}'"),
            ));
        }
        Ok(res.rows_affected as usize)
    }

    /// The active actor holding this token.
    pub async fn authenticate(&self, token: &str) -> Result<Option<ActorInfo>, Error> {
        let q = by_token(token);
        Ok(self.read_one::<actor::Model>(&q).await?.map(Into::into))
    }
}

/// The active actor holding `token`: one row at most (`actors_token` is unique). No `LIMIT`:
/// SQLite prepares a statement with a bound `LIMIT` again at every run, and this one runs for
/// every request.
pub(crate) fn by_token(token: &str) -> sea_orm::Select<actor::Entity> {
    actor::Entity::find()
        .filter(actor::Column::TokenHash.eq(token_hash(token)))
        .filter(actor::Column::RevokedAt.is_null())
}
