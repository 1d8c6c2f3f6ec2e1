//! sea-orm entities, one module per table of `migrations/`. Columns follow the migration's
//! conventions: instants in epoch milliseconds, dates as `YYYY-MM-DD`, JSON as text.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

/// A boolean as SQLite stores it (0 or 1), for the rows the store decodes itself
/// (`conn.rs`); `true`/`false` are read too.
fn stored_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Int(i64),
        Bool(bool),
    }
    Ok(match serde::Deserialize::deserialize(d)? {
        Stored::Int(n) => n != 0,
        Stored::Bool(b) => b,
    })
}

pub mod workflow_version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
    #[sea_orm(table_name = "workflow_versions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub workflow_id: String,
        pub version: i32,
        pub hash: String,
        pub title: String,
        pub source: String,
        pub templates: String,
        pub deployed_at: i64,
        pub deployed_by: Option<String>,
    }
    no_relations!();
}

pub mod case {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
    #[sea_orm(table_name = "cases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub workflow_id: String,
        pub version_id: i64,
        pub business_key: String,
        pub state: String,
        pub status: Status,
        pub outcome: Option<String>,
        pub data: String,
        pub row_version: i64,
        pub parent_id: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        pub entered_at: i64,
        pub last_hash: String,
        /// Since when (epoch ms) the open case has had no armed timer and no open task; NULL
        /// otherwise (`store::watch`, the stuck list's `nothing_pending`).
        pub idle_since: Option<i64>,
        /// When (epoch ms) its state's `stuck_after` limit passes; NULL when none applies or
        /// the case is closed (`store::watch`, the stuck list's `idle_too_long`).
        pub stuck_at: Option<i64>,
    }
    no_relations!();

    /// A case's status, stored as its lowercase name.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, serde::Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "Text")]
    #[serde(rename_all = "lowercase")]
    pub enum Status {
        /// Its machine can still move.
        #[sea_orm(string_value = "open")]
        Open,
        /// Ended with an outcome.
        #[sea_orm(string_value = "closed")]
        Closed,
    }

    impl Status {
        pub const fn as_str(self) -> &'static str {
            match self {
                Status::Open => "open",
                Status::Closed => "closed",
            }
        }
    }
}

pub mod history {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "history")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub case_id: String,
        pub seq: i64,
        pub at: i64,
        pub actor_id: Option<String>,
        pub trigger: String,
        pub from_state: Option<String>,
        pub to_state: String,
        pub inputs: String,
        pub reason: Option<String>,
        pub detail: String,
        pub late_ms: Option<i64>,
        pub prev_hash: String,
        pub hash: String,
    }
    no_relations!();
}

pub mod timer {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
    #[sea_orm(table_name = "timers")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub case_id: String,
        pub timer_key: String,
        pub timer_id: String,
        pub kind: String,
        pub label: Option<String>,
        pub due_date: String,
        pub fire_at: i64,
        pub explanation: String,
        pub legal_basis: Option<String>,
        pub status: Status,
        pub attempts: i32,
        pub lease_owner: Option<String>,
        pub lease_until: Option<i64>,
        pub fired_at: Option<i64>,
        pub last_error: Option<String>,
        pub created_at: i64,
    }
    no_relations!();

    /// A timer row's status, stored as its lowercase name.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, serde::Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "Text")]
    #[serde(rename_all = "lowercase")]
    pub enum Status {
        /// Waiting for its instant (claimed with a lease when due).
        #[sea_orm(string_value = "armed")]
        Armed,
        /// Its transition was written.
        #[sea_orm(string_value = "fired")]
        Fired,
        /// Its state was left before it fired.
        #[sea_orm(string_value = "cancelled")]
        Cancelled,
        /// The engine refused it when it fired (its arming was gone).
        #[sea_orm(string_value = "stale")]
        Stale,
    }

    impl Status {
        pub const fn as_str(self) -> &'static str {
            match self {
                Status::Armed => "armed",
                Status::Fired => "fired",
                Status::Cancelled => "cancelled",
                Status::Stale => "stale",
            }
        }
    }
}

pub mod task {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
    #[sea_orm(table_name = "tasks")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub case_id: String,
        pub task_id: String,
        pub role: String,
        pub title: String,
        pub instructions: Option<String>,
        pub due_date: Option<String>,
        pub explanation: Option<String>,
        pub legal_basis: Option<String>,
        pub status: Status,
        pub opened_at: i64,
        pub closed_at: Option<i64>,
        pub close_reason: Option<String>,
    }
    no_relations!();

    /// A task's status, stored as its lowercase name.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, serde::Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "Text")]
    #[serde(rename_all = "lowercase")]
    pub enum Status {
        /// Waiting for its role.
        #[sea_orm(string_value = "open")]
        Open,
        /// Its state was left.
        #[sea_orm(string_value = "closed")]
        Closed,
    }

    impl Status {
        pub const fn as_str(self) -> &'static str {
            match self {
                Status::Open => "open",
                Status::Closed => "closed",
            }
        }
    }
}

pub mod actor {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
    #[sea_orm(table_name = "actors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub email: String,
        /// `,role1,role2,`: the delimiters let `LIKE '%,role,%'` find the holders of a role on
        /// both backends.
        pub roles: String,
        pub token_hash: String,
        #[serde(deserialize_with = "super::stored_bool")]
        pub digest: bool,
        pub created_at: i64,
        pub revoked_at: Option<i64>,
    }
    no_relations!();
}

pub mod outbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub case_id: Option<String>,
        pub dedupe_key: String,
        pub version_id: Option<i64>,
        pub template: String,
        /// The history row of the transition that queued it (none for a digest).
        pub history_id: Option<i64>,
        pub recipient_actor: Option<String>,
        pub recipient_name: Option<String>,
        pub recipient_email: Option<String>,
        pub context: String,
        pub status: Status,
        pub attempts: i32,
        pub next_attempt_at: i64,
        pub lease_owner: Option<String>,
        pub lease_until: Option<i64>,
        pub created_at: i64,
        pub sent_at: Option<i64>,
        pub message_id: Option<String>,
        pub response: Option<String>,
        pub last_error: Option<String>,
        pub eml: Option<Vec<u8>>,
        pub eml_hash: Option<String>,
        pub retried_by: Option<String>,
        pub retried_at: Option<i64>,
        pub retry_reason: Option<String>,
    }
    no_relations!();

    /// A notice's status, stored as its lowercase name.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, serde::Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "Text")]
    #[serde(rename_all = "lowercase")]
    pub enum Status {
        /// To send, or to send again after its backoff.
        #[sea_orm(string_value = "pending")]
        Pending,
        /// The transport accepted it.
        #[sea_orm(string_value = "sent")]
        Sent,
        /// Given up (attempts exhausted, or retrying cannot help); the operator may retry it.
        #[sea_orm(string_value = "dead")]
        Dead,
    }

    impl Status {
        pub const fn as_str(self) -> &'static str {
            match self {
                Status::Pending => "pending",
                Status::Sent => "sent",
                Status::Dead => "dead",
            }
        }
    }
}

pub mod idempotency {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub actor_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub request_hash: String,
        pub status: i32,
        pub body: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod schedule_run {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "schedule_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workflow_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub schedule: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub at: i64,
        pub case_id: Option<String>,
        pub ran_at: i64,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub next_attempt_at: Option<i64>,
        pub schedule_id: Option<String>,
    }
    no_relations!();
}

#[cfg(test)]
mod tests {
    use super::{case, outbox, task, timer};
    use sea_orm::{ActiveEnum, Iterable};

    /// The statuses are stored as the strings written before they were enums (no migration),
    /// and the writer thread's serde mapping of rows reads the same strings.
    #[test]
    fn statuses_are_stored_as_before() {
        let timers: Vec<String> = timer::Status::iter().map(|s| s.to_value()).collect();
        assert_eq!(timers, ["armed", "fired", "cancelled", "stale"]);
        let notices: Vec<String> = outbox::Status::iter().map(|s| s.to_value()).collect();
        assert_eq!(notices, ["pending", "sent", "dead"]);
        let cases: Vec<String> = case::Status::iter().map(|s| s.to_value()).collect();
        assert_eq!(cases, ["open", "closed"]);
        let tasks: Vec<String> = task::Status::iter().map(|s| s.to_value()).collect();
        assert_eq!(tasks, ["open", "closed"]);
        for s in case::Status::iter() {
            let read: case::Status = serde_json::from_value(s.as_str().into()).unwrap();
            assert_eq!((read, s.to_value()), (s, s.as_str().to_owned()));
        }
        for s in task::Status::iter() {
            let read: task::Status = serde_json::from_value(s.as_str().into()).unwrap();
            assert_eq!((read, s.to_value()), (s, s.as_str().to_owned()));
        }
        for s in timer::Status::iter() {
            assert_eq!(s.to_value(), s.as_str());
            let read: timer::Status = serde_json::from_value(s.as_str().into()).unwrap();
            assert_eq!(read, s);
        }
        for s in outbox::Status::iter() {
            assert_eq!(s.to_value(), s.as_str());
            let read: outbox::Status = serde_json::from_value(s.as_str().into()).unwrap();
            assert_eq!(read, s);
        }
    }
}

pub mod sign_in_link {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sign_in_links")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub actor_id: String,
        pub next_path: Option<String>,
        pub created_at: i64,
        pub expires_at: i64,
        pub used_at: Option<i64>,
    }
    no_relations!();
}

pub mod web_session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "web_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id_hash: String,
        pub actor_id: String,
        pub csrf_token: String,
        pub created_at: i64,
        pub last_seen_at: i64,
        pub ended_at: Option<i64>,
    }
    no_relations!();
}

pub mod document {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "documents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub case_id: String,
        pub file_name: String,
        pub content_type: String,
        pub size: i64,
        pub sha256: String,
        pub uploaded_by: String,
        pub uploaded_at: i64,
        pub bytes: Vec<u8>,
    }
    no_relations!();
}
