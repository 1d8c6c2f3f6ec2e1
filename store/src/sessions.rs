//! Sign-in for people in a browser, without passwords: a single-use link sent through the
//! outbox (so it is delivered, retried and kept like any notice), and the server-side session
//! it opens. Only SHA-256 hashes of the link and session secrets are stored, as for API tokens
//! (`actors.rs`). A session ends when its actor signs out, when it has not been used for the
//! idle period, or when its actor is revoked: the actor is checked on every request.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait,
};
use serde_json::json;

use super::actors::{ActorInfo, token_hash};
use super::entities::{actor, outbox, sign_in_link, web_session};
use super::{Error, Store};
use crate::clock::millis;

/// The template name recorded on the outbox rows of sign-in links.
pub const TEMPLATE: &str = "sign_in";

/// How long a sign-in link may be used.
pub const LINK_VALIDITY: Duration = Duration::minutes(15);

/// At most this many links per actor within [`LINK_VALIDITY`]: more requests are answered the
/// same way but send nothing (a mailbox cannot be flooded through the sign-in page).
pub const LINKS_PER_WINDOW: u64 = 5;

/// A session's `last_seen_at` is written at most this often (a page view is otherwise a read).
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// The secret of a link or a session: 256 random bits, hex.
fn secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// What a request for a sign-in link did. The page answers the same in every case.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkRequest {
    /// A link was queued for this actor.
    Queued { actor_id: String },
    /// No active actor has this address.
    UnknownAddress,
    /// The actor already received [`LINKS_PER_WINDOW`] links in the window.
    TooMany,
}

/// An open session: who, and the token its forms must echo.
#[derive(Clone, Debug)]
pub struct WebSession {
    pub actor: ActorInfo,
    pub csrf_token: String,
}

/// A path of this server to go to after sign-in: absolute, without a scheme or host, so that a
/// link can never lead to another site (`//evil.example` and `/\evil` are refused too).
pub fn safe_next_path(p: &str) -> Option<&str> {
    let ok = p.starts_with('/')
        && !p.starts_with("//")
        && !p.starts_with("/\\")
        && p.len() <= 1000
        && !p.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then_some(p)
}

impl Store {
    /// Queues a single-use sign-in link for the active actor with this address (compared
    /// without case), leading to `next` once used. The link row and its notice are written in
    /// one transaction: a link exists only if its mail will be sent.
    pub async fn request_sign_in(
        &self,
        email: &str,
        next: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<LinkRequest, Error> {
        let email = email.trim();
        let Some(a) = actor::Entity::find()
            .filter(
                Expr::expr(Func::lower(Expr::col(actor::Column::Email))).eq(email.to_lowercase()),
            )
            .filter(actor::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?
        else {
            return Ok(LinkRequest::UnknownAddress);
        };
        let recent = sign_in_link::Entity::find()
            .filter(sign_in_link::Column::ActorId.eq(&a.id))
            .filter(sign_in_link::Column::CreatedAt.gt(millis(now - LINK_VALIDITY)))
            .count(&self.db)
            .await?;
        if recent >= LINKS_PER_WINDOW {
            return Ok(LinkRequest::TooMany);
        }
        // 128 bits are plenty for a secret that works once within 15 minutes, and keep the
        // link one short line: mail bodies are quoted-printable, which breaks lines over 76
        // characters and writes `=` as `=3D`, so a long link could not be copied from an
        // `.eml` file. Where to go afterwards is kept with the link, not in it.
        let token = hex::encode(rand::random::<[u8; 16]>());
        let hash = token_hash(&token);
        let expires = now + LINK_VALIDITY;
        let next = next.and_then(safe_next_path);
        let path = format!("/connexion/lien/{token}");
        let facts = json!({
            "path": path,
            "minutes": LINK_VALIDITY.num_minutes(),
            "expires_at": expires.to_rfc3339(),
            "expires_long": long_instant(expires),
        });
        let txn = self.db.begin().await?;
        sign_in_link::Entity::insert(sign_in_link::ActiveModel {
            token_hash: Set(hash.clone()),
            actor_id: Set(a.id.clone()),
            next_path: Set(next.map(str::to_owned)),
            created_at: Set(millis(now)),
            expires_at: Set(millis(expires)),
            used_at: Set(None),
        })
        .exec(&txn)
        .await?;
        outbox::Entity::insert(outbox::ActiveModel {
            case_id: Set(None),
            dedupe_key: Set(format!("sign_in:{hash}")),
            version_id: Set(None),
            template: Set(TEMPLATE.into()),
            recipient_actor: Set(Some(a.id.clone())),
            recipient_name: Set(Some(a.name.clone())),
            recipient_email: Set(Some(a.email.clone())),
            context: Set(facts.to_string()),
            status: Set(outbox::Status::Pending),
            attempts: Set(0),
            next_attempt_at: Set(millis(now)),
            created_at: Set(millis(now)),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::column(outbox::Column::DedupeKey)
                .target_and_where(outbox::Column::CaseId.is_null())
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        self.wakes.notice_due();
        Ok(LinkRequest::Queued { actor_id: a.id })
    }

    /// Uses a sign-in link: if it is unused, unexpired and its actor active, marks it used and
    /// opens a session. Returns the session's secret (for the cookie), the session and where
    /// to go. A link works once: two uses racing see one `used_at` update succeed.
    pub async fn redeem_sign_in(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, WebSession, Option<String>)>, Error> {
        let hash = token_hash(token);
        let txn = self.db.begin().await?;
        let used = sign_in_link::Entity::update_many()
            .col_expr(sign_in_link::Column::UsedAt, Expr::value(millis(now)))
            .filter(sign_in_link::Column::TokenHash.eq(&hash))
            .filter(sign_in_link::Column::UsedAt.is_null())
            .filter(sign_in_link::Column::ExpiresAt.gt(millis(now)))
            .exec(&txn)
            .await?
            .rows_affected;
        if used != 1 {
            txn.rollback().await.ok();
            return Ok(None);
        }
        let Some(link) = sign_in_link::Entity::find_by_id(&hash).one(&txn).await? else {
            txn.rollback().await.ok();
            return Ok(None);
        };
        let Some(a) = actor::Entity::find_by_id(&link.actor_id)
            .filter(actor::Column::RevokedAt.is_null())
            .one(&txn)
            .await?
        else {
            txn.rollback().await.ok();
            return Ok(None);
        };
        let secret = secret();
        let csrf_token = self::secret();
        web_session::Entity::insert(web_session::ActiveModel {
            id_hash: Set(token_hash(&secret)),
            actor_id: Set(a.id.clone()),
            csrf_token: Set(csrf_token.clone()),
            created_at: Set(millis(now)),
            last_seen_at: Set(millis(now)),
            ended_at: Set(None),
        })
        .exec(&txn)
        .await?;
        txn.commit().await?;
        let session = WebSession {
            actor: a.into(),
            csrf_token,
        };
        Ok(Some((secret, session, link.next_path)))
    }

    /// The open session with this secret, if it was used within `idle` and its actor is
    /// active; records the use (at most once a minute).
    pub async fn web_session(
        &self,
        secret: &str,
        idle: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<WebSession>, Error> {
        let hash = token_hash(secret);
        let Some(s) = web_session::Entity::find_by_id(&hash)
            .filter(web_session::Column::EndedAt.is_null())
            .filter(web_session::Column::LastSeenAt.gt(millis(now - idle)))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let Some(a) = actor::Entity::find_by_id(&s.actor_id)
            .filter(actor::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        if millis(now) - s.last_seen_at >= TOUCH_EVERY.num_milliseconds() {
            let q = web_session::Entity::update_many()
                .col_expr(web_session::Column::LastSeenAt, Expr::value(millis(now)))
                .filter(web_session::Column::IdHash.eq(hash));
            self.exec_statement(q).await?;
        }
        Ok(Some(WebSession {
            actor: a.into(),
            csrf_token: s.csrf_token,
        }))
    }

    /// Ends the session with this secret (sign-out). Ending an ended session does nothing.
    pub async fn end_web_session(&self, secret: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let q = web_session::Entity::update_many()
            .col_expr(web_session::Column::EndedAt, Expr::value(millis(now)))
            .filter(web_session::Column::IdHash.eq(token_hash(secret)))
            .filter(web_session::Column::EndedAt.is_null());
        self.exec_statement(q).await.map(drop)
    }

    /// Ends every open session of these actors (their revocation).
    pub(crate) async fn end_sessions_of(
        &self,
        actor_ids: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<u64, Error> {
        let q = web_session::Entity::update_many()
            .col_expr(web_session::Column::EndedAt, Expr::value(millis(now)))
            .filter(web_session::Column::ActorId.is_in(actor_ids))
            .filter(web_session::Column::EndedAt.is_null());
        self.exec_statement(q).await
    }
}

/// "lundi 7 décembre 2026 à 14:05", in Brussels time.
fn long_instant(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&chrono_tz::Europe::Brussels);
    format!(
        "{} à {}",
        engine::calendar::french::long_date(local.date_naive()),
        local.format("%H:%M")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_server_are_followed() {
        for ok in ["/", "/cases/abc", "/cases/abc/tasks/t?x=1"] {
            assert_eq!(safe_next_path(ok), Some(ok));
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "cases",
            "/a b",
            "/a\nb",
        ] {
            assert_eq!(safe_next_path(bad), None, "{bad:?}");
        }
    }
}
