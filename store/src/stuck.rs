//! The operator's stuck list, a page at a time: every reason is an indexed range read in its
//! own order and counted in SQL, so that a page costs the same with 100 cases or a million.
//!
//! | reason | rows | since ("stuck since") |
//! |---|---|---|
//! | `task_overdue` | open tasks whose due date is before today (`tasks_open_by_due`) | when the due date passed (midnight after it, Brussels) |
//! | `timer_not_fired` | armed timers due more than `grace` ago (`timers_due`) | the timer's due instant |
//! | `notice_failing` | notices dead, or pending after a failed attempt, of any case | when the notice was queued |
//! | `nothing_pending` | `cases.idle_since` set (`cases_idle_since`, kept by the Writer: see `watch.rs`) | `idle_since` |
//! | `idle_too_long` | `cases.stuck_at` passed (`cases_stuck_at`, kept by the Writer) | `stuck_at` |
//! | `schedule_failing` | schedule occurrences whose case could not start (few; read whole) | the occurrence's instant |
//!
//! `nothing_pending` keeps its meaning: an open case with no armed timer and no open task.
//! It became cheap, not narrower: the Writer records when a case enters that condition, so the
//! list reads an index range instead of searching every open case.
//!
//! The list's order is `since`, then business key, then procedure (the key breaks ties so
//! that pages do not shuffle between visits), then reason, then the task, timer or notice id.
//! A page at `offset` reads at most `offset + limit` rows from each reason in that order and
//! merges them. Keys are compared byte by byte (Rust's order; `COLLATE "C"` on PostgreSQL) so
//! that every source sorts as the merge does. `cases_idle_since` and `cases_stuck_at` hold
//! their keys in that order on both backends (on PostgreSQL since
//! `m20261214_000001_case_watch_bytewise`): cases share a `stuck_at` (a midnight), and an index
//! in another order made every page read and sort all the cases of that instant. The key
//! filter is a case-insensitive substring (`LOWER(key) LIKE`; SQLite folds ASCII letters only).

use chrono::{DateTime, Days, Duration, NaiveDate, Utc};
use engine::machine::civil::civil_date;
use sea_orm::sea_query::{
    Alias, Cond, Expr, ExprTrait, Func, LikeExpr, Order, Query, SelectStatement,
};
use sea_orm::{DbBackend, FromQueryResult, Statement};
use serde::Serialize;

use super::entities::{case, outbox, task, timer};
use super::{Error, Store};
use crate::clock::{from_millis, millis};

/// Why a case is on the list, in the order the summary shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    TaskOverdue,
    TimerNotFired,
    NoticeFailing,
    NothingPending,
    IdleTooLong,
    ScheduleFailing,
}

impl Reason {
    pub const ALL: [Reason; 6] = [
        Reason::TaskOverdue,
        Reason::TimerNotFired,
        Reason::NoticeFailing,
        Reason::NothingPending,
        Reason::IdleTooLong,
        Reason::ScheduleFailing,
    ];

    /// The stable code of the API and the pages.
    pub const fn code(self) -> &'static str {
        match self {
            Reason::TaskOverdue => "task_overdue",
            Reason::TimerNotFired => "timer_not_fired",
            Reason::NoticeFailing => "notice_failing",
            Reason::NothingPending => "nothing_pending",
            Reason::IdleTooLong => "idle_too_long",
            Reason::ScheduleFailing => "schedule_failing",
        }
    }

    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }
}

#[derive(Debug, Serialize)]
pub struct StuckCase {
    /// Absent for `schedule_failing` (no case was started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    pub workflow: String,
    /// The case's business key; for `schedule_failing`, the key its case will have.
    pub key: String,
    /// Absent for `schedule_failing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Stable code: `task_overdue`, `timer_not_fired`, `notice_failing`, `nothing_pending`,
    /// `idle_too_long`, `schedule_failing` (a schedule occurrence whose case could not start;
    /// retried with backoff).
    pub reason: String,
    /// A French sentence for the operator.
    pub detail: String,
    /// Since when it is stuck (see the module's table).
    pub since: DateTime<Utc>,
    /// For `notice_failing`: the notice to retry (`POST /operator/notices/{id}/retry`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice_id: Option<i64>,
    /// For `schedule_failing`: the schedule's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// Which part of the list: `reason` narrows the rows (and `total`), `workflow` and `key`
/// narrow rows and counts alike.
#[derive(Clone, Debug, Default)]
pub struct StuckFilter {
    pub reason: Option<Reason>,
    /// Only this procedure (workflow id).
    pub workflow: Option<String>,
    /// Only business keys containing this, whatever the case of letters.
    pub key: Option<String>,
    pub limit: u64,
    pub offset: u64,
}

/// The counts of a filter's scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StuckCounts {
    /// Every reason, in [`Reason::ALL`] order, counted within `workflow` and `key`.
    pub counts: Vec<(Reason, u64)>,
    /// The rows the filter pages over (its reason's count, or every count).
    pub total: u64,
}

impl StuckCounts {
    pub fn of(&self, reason: Reason) -> u64 {
        self.counts
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// Every reason together (within `workflow` and `key`).
    pub fn in_scope(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

#[derive(Debug)]
pub struct StuckPage {
    pub counts: StuckCounts,
    pub rows: Vec<StuckCase>,
}

/// What a source's rows are read against.
struct At {
    today: NaiveDate,
    now: i64,
    /// Timers due before this are late.
    late_before: i64,
    backend: DbBackend,
}

#[derive(FromQueryResult)]
struct N {
    n: i64,
}

/// The case columns every row has.
#[derive(FromQueryResult)]
struct CaseCols {
    case_id: String,
    workflow: String,
    business_key: String,
    state: String,
}

#[derive(FromQueryResult)]
struct TaskRow {
    #[sea_orm(nested)]
    c: CaseCols,
    sub_id: i64,
    title: String,
    role: String,
    due_date: Option<String>,
}

#[derive(FromQueryResult)]
struct TimerRow {
    #[sea_orm(nested)]
    c: CaseCols,
    sub_id: i64,
    timer_key: String,
    due_date: String,
    fire_at: i64,
    last_error: Option<String>,
}

#[derive(FromQueryResult)]
struct NoticeRow {
    #[sea_orm(nested)]
    c: CaseCols,
    sub_id: i64,
    template: String,
    recipient_email: Option<String>,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    created_at: i64,
}

#[derive(FromQueryResult)]
struct IdleRow {
    #[sea_orm(nested)]
    c: CaseCols,
    idle_since: i64,
}

#[derive(FromQueryResult)]
struct LimitRow {
    #[sea_orm(nested)]
    c: CaseCols,
    stuck_at: i64,
    entered_at: i64,
}

/// A row with the key it is merged by: since (ms), key, procedure, reason, row id.
type Sorted = ((i64, String, String, Reason, i64), StuckCase);

fn case_col(c: case::Column) -> Expr {
    Expr::col((case::Entity, c))
}

/// A text column of `cases` in byte order (see the module).
fn bytewise(c: case::Column, backend: DbBackend) -> Expr {
    use sea_orm::sea_query::Iden;
    match backend {
        DbBackend::Postgres => Expr::cust(format!("\"cases\".\"{}\" COLLATE \"C\"", c.to_string())),
        _ => case_col(c),
    }
}

/// `%text%` for LIKE, its wildcards escaped with `\`.
fn contains_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

impl StuckFilter {
    fn scope(&self) -> Cond {
        let mut c = Cond::all();
        if let Some(w) = &self.workflow {
            c = c.add(case_col(case::Column::WorkflowId).eq(w.as_str()));
        }
        if let Some(k) = &self.key {
            c = c.add(
                Expr::expr(Func::lower(case_col(case::Column::BusinessKey)))
                    .like(LikeExpr::new(contains_pattern(k)).escape('\\')),
            );
        }
        c
    }

    /// Whether a row outside SQL (a schedule occurrence) is in scope.
    fn keeps(&self, workflow: &str, key: &str) -> bool {
        self.workflow.as_deref().is_none_or(|w| w == workflow)
            && self
                .key
                .as_ref()
                .is_none_or(|k| key.to_lowercase().contains(&k.to_lowercase()))
    }
}

/// The rows of a reason read from the database (FROM, joins and conditions; no columns).
/// `with_case` joins the case row of a task or timer, which a count without procedure or key
/// does not need: a closing case closes its tasks and cancels its timers in the same
/// transition (`close_case` in the machine), so an open task or armed timer is always of an
/// open case.
fn source(reason: Reason, at: &At, f: &StuckFilter, with_case: bool) -> SelectStatement {
    let mut q = Query::select();
    match reason {
        Reason::TaskOverdue => {
            q.from(task::Entity)
                .and_where(
                    Expr::col((task::Entity, task::Column::Status)).eq(task::Status::Open.as_str()),
                )
                .and_where(
                    Expr::col((task::Entity, task::Column::DueDate)).lt(at.today.to_string()),
                );
            if with_case {
                q.inner_join(
                    case::Entity,
                    case_col(case::Column::Id).equals((task::Entity, task::Column::CaseId)),
                );
            }
        }
        Reason::TimerNotFired => {
            q.from(timer::Entity)
                .and_where(
                    Expr::col((timer::Entity, timer::Column::Status))
                        .eq(timer::Status::Armed.as_str()),
                )
                .and_where(Expr::col((timer::Entity, timer::Column::FireAt)).lt(at.late_before));
            if with_case {
                q.inner_join(
                    case::Entity,
                    case_col(case::Column::Id).equals((timer::Entity, timer::Column::CaseId)),
                );
            }
        }
        Reason::NoticeFailing => {
            // A notice of a closed case counts too: the final decision may be the one that
            // did not leave. Digests (no case) are listed by `GET /operator/notices`. The
            // condition is the partial index `outbox_failing`'s, literally (see `statement`).
            q.from(outbox::Entity)
                .inner_join(
                    case::Entity,
                    case_col(case::Column::Id).equals((outbox::Entity, outbox::Column::CaseId)),
                )
                .and_where(Expr::cust(migrations::NOTICE_FAILING));
        }
        Reason::NothingPending => {
            q.from(case::Entity)
                .and_where(case_col(case::Column::IdleSince).is_not_null());
        }
        Reason::IdleTooLong => {
            q.from(case::Entity)
                .and_where(case_col(case::Column::StuckAt).lte(at.now));
        }
        Reason::ScheduleFailing => unreachable!("schedule occurrences are not read here"),
    }
    q.cond_where(f.scope());
    q
}

/// The case columns every row has (see [`CaseCols`]).
fn case_cols(q: &mut SelectStatement) {
    q.expr_as(case_col(case::Column::Id), "case_id")
        .expr_as(case_col(case::Column::WorkflowId), "workflow")
        .expr_as(case_col(case::Column::BusinessKey), "business_key")
        .expr_as(case_col(case::Column::State), "state");
}

/// The list's order after `since` (`first`): key, then procedure, byte by byte.
fn in_list_order(q: &mut SelectStatement, first: Expr, backend: DbBackend) {
    q.order_by_expr(first, Order::Asc)
        .order_by_expr(bytewise(case::Column::BusinessKey, backend), Order::Asc)
        .order_by_expr(bytewise(case::Column::WorkflowId, backend), Order::Asc);
}

/// The rows of a reason read from `cases` alone (`nothing_pending`, `idle_too_long`). With a
/// procedure or key filter, in two steps: the page's cases are found in the reason's index
/// alone (its columns are `since`, key and procedure, so the filters are checked on its
/// entries), then only their rows are read, through `cases_business_key`; in one step,
/// PostgreSQL read the row of every case of the range to test a key that few of them match.
/// Without a filter the range's first `n` entries are the page: one step, one row each.
fn case_rows(reason: Reason, at: &At, f: &StuckFilter, n: u64) -> SelectStatement {
    let since = match reason {
        Reason::NothingPending => case::Column::IdleSince,
        Reason::IdleTooLong => case::Column::StuckAt,
        _ => unreachable!("{reason:?} is not read from cases alone"),
    };
    let mut q = if f.workflow.is_some() || f.key.is_some() {
        let mut keys = source(reason, at, f, true);
        keys.column((case::Entity, case::Column::WorkflowId))
            .column((case::Entity, case::Column::BusinessKey));
        in_list_order(&mut keys, case_col(since), at.backend);
        keys.limit(n);
        let page = Alias::new("page");
        let mut q = Query::select();
        q.from_subquery(keys, page.clone()).inner_join(
            case::Entity,
            Cond::all()
                .add(
                    case_col(case::Column::WorkflowId)
                        .equals((page.clone(), case::Column::WorkflowId)),
                )
                .add(case_col(case::Column::BusinessKey).equals((page, case::Column::BusinessKey))),
        );
        q
    } else {
        let mut q = source(reason, at, f, true);
        q.limit(n);
        q
    };
    case_cols(&mut q);
    q.expr(case_col(since));
    if reason == Reason::IdleTooLong {
        q.expr(case_col(case::Column::EnteredAt));
    }
    in_list_order(&mut q, case_col(since), at.backend);
    q
}

/// The columns and order of a reason's rows (see the module for the order).
fn rows_of(reason: Reason, at: &At, f: &StuckFilter, n: u64) -> SelectStatement {
    if matches!(reason, Reason::NothingPending | Reason::IdleTooLong) {
        return case_rows(reason, at, f, n);
    }
    let mut q = source(reason, at, f, true);
    case_cols(&mut q);
    let (first, sub) = match reason {
        Reason::TaskOverdue => {
            for c in [
                task::Column::Title,
                task::Column::Role,
                task::Column::DueDate,
            ] {
                q.expr(Expr::col((task::Entity, c)));
            }
            (
                Expr::col((task::Entity, task::Column::DueDate)),
                Expr::col((task::Entity, task::Column::Id)),
            )
        }
        Reason::TimerNotFired => {
            for c in [
                timer::Column::TimerKey,
                timer::Column::DueDate,
                timer::Column::FireAt,
                timer::Column::LastError,
            ] {
                q.expr(Expr::col((timer::Entity, c)));
            }
            (
                Expr::col((timer::Entity, timer::Column::FireAt)),
                Expr::col((timer::Entity, timer::Column::Id)),
            )
        }
        Reason::NoticeFailing => {
            for c in [
                outbox::Column::Template,
                outbox::Column::RecipientEmail,
                outbox::Column::Status,
                outbox::Column::Attempts,
                outbox::Column::LastError,
                outbox::Column::CreatedAt,
            ] {
                q.expr(Expr::col((outbox::Entity, c)));
            }
            (
                Expr::col((outbox::Entity, outbox::Column::CreatedAt)),
                Expr::col((outbox::Entity, outbox::Column::Id)),
            )
        }
        Reason::NothingPending | Reason::IdleTooLong => unreachable!("read by case_rows"),
        Reason::ScheduleFailing => unreachable!("schedule occurrences are not read here"),
    };
    in_list_order(&mut q, first, at.backend);
    q.expr_as(sub.clone(), "sub_id")
        .order_by_expr(sub, Order::Asc);
    q.limit(n);
    q
}

/// The SQL of a reason's query. SQLite is told to read failing notices through
/// `outbox_failing`: without statistics (`ANALYZE`) its planner prefers walking every pending
/// notice through `outbox_due`; PostgreSQL chooses the partial index itself.
fn statement(reason: Reason, at: &At, q: &SelectStatement) -> Statement {
    let mut stmt = at.backend.build(q);
    if reason == Reason::NoticeFailing && at.backend == DbBackend::Sqlite {
        stmt.sql = stmt.sql.replacen(
            r#"FROM "outbox""#,
            r#"FROM "outbox" INDEXED BY "outbox_failing""#,
            1,
        );
    }
    stmt
}

fn stuck_case(c: CaseCols, reason: Reason, detail: String, since: DateTime<Utc>) -> StuckCase {
    StuckCase {
        case_id: Some(c.case_id),
        workflow: c.workflow,
        key: c.business_key,
        state: Some(c.state),
        reason: reason.code().into(),
        detail,
        since,
        notice_id: None,
        schedule: None,
    }
}

fn sorted(s: StuckCase, reason: Reason, sub: i64) -> Sorted {
    let k = (
        millis(s.since),
        s.key.clone(),
        s.workflow.clone(),
        reason,
        sub,
    );
    (k, s)
}

impl Store {
    /// One page of the stuck list and the counts of its scope (see the module). `grace` is
    /// how late a timer may be before it counts as not fired. A `limit` of 0 reads the counts
    /// only.
    pub async fn stuck_page(
        &self,
        f: &StuckFilter,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Result<StuckPage, Error> {
        let (counts, rows) = futures_util::future::try_join(
            self.stuck_counts(f, now, grace),
            self.stuck_rows(f, now, grace),
        )
        .await?;
        Ok(StuckPage { counts, rows })
    }

    /// The whole list in its order (for `jalon bench server`, which times it).
    pub async fn stuck(
        &self,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Result<Vec<StuckCase>, Error> {
        let mut f = StuckFilter::default();
        f.limit = self.stuck_counts(&f, now, grace).await?.total;
        self.stuck_rows(&f, now, grace).await
    }

    fn stuck_clock(&self, now: DateTime<Utc>, grace: Duration) -> At {
        At {
            today: civil_date(now),
            now: millis(now),
            late_before: millis(now - grace),
            backend: self.db.get_database_backend(),
        }
    }

    /// Every reason counted within the filter's procedure and key, and the filter's total.
    pub async fn stuck_counts(
        &self,
        f: &StuckFilter,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Result<StuckCounts, Error> {
        let at = self.stuck_clock(now, grace);
        // Side by side: on PostgreSQL each count is a query of its own on another connection.
        let counts = futures_util::future::try_join_all(
            Reason::ALL.map(|reason| self.stuck_count(reason, &at, f)),
        )
        .await?;
        let counts: Vec<(Reason, u64)> = Reason::ALL.into_iter().zip(counts).collect();
        let total = match f.reason {
            Some(r) => counts.iter().find(|(c, _)| *c == r).map_or(0, |(_, n)| *n),
            None => counts.iter().map(|(_, n)| n).sum(),
        };
        Ok(StuckCounts { counts, total })
    }

    async fn stuck_count(&self, reason: Reason, at: &At, f: &StuckFilter) -> Result<u64, Error> {
        if reason == Reason::ScheduleFailing {
            let runs = self.failing_schedule_runs().await?;
            return Ok(runs
                .iter()
                .filter(|r| f.keeps(&r.workflow_id, &r.key))
                .count() as u64);
        }
        let scoped = f.workflow.is_some() || f.key.is_some();
        let mut q = source(reason, at, f, scoped);
        q.expr_as(Expr::cust("COUNT(*)"), "n");
        Ok(N::find_by_statement(statement(reason, at, &q))
            .one(&self.db)
            .await?
            .map_or(0, |r| u64::try_from(r.n).unwrap_or(0)))
    }

    /// The filter's page of rows, in the list's order.
    pub async fn stuck_rows(
        &self,
        f: &StuckFilter,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Result<Vec<StuckCase>, Error> {
        if f.limit == 0 {
            return Ok(Vec::new());
        }
        let at = self.stuck_clock(now, grace);
        let n = std::cmp::min(f.offset.saturating_add(f.limit), i64::MAX as u64);
        let reasons = Reason::ALL
            .into_iter()
            .filter(|r| f.reason.is_none_or(|only| only == *r));
        let read = futures_util::future::try_join_all(
            reasons.map(|reason| self.stuck_source(reason, &at, f, n)),
        )
        .await?;
        let mut all: Vec<Sorted> = read.into_iter().flatten().collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all
            .into_iter()
            .skip(usize::try_from(f.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(f.limit).unwrap_or(usize::MAX))
            .map(|(_, s)| s)
            .collect())
    }

    /// The first `n` rows of one reason, in the list's order.
    async fn stuck_source(
        &self,
        reason: Reason,
        at: &At,
        f: &StuckFilter,
        n: u64,
    ) -> Result<Vec<Sorted>, Error> {
        let mut out = Vec::new();
        if reason == Reason::ScheduleFailing {
            let runs = self.failing_schedule_runs().await?;
            let runs = runs.into_iter().filter(|r| f.keeps(&r.workflow_id, &r.key));
            out.extend(runs.map(|r| sorted(stuck_run(r), reason, 0)));
            return Ok(out);
        }
        let stmt = statement(reason, at, &rows_of(reason, at, f, n));
        match reason {
            Reason::TaskOverdue => {
                for t in TaskRow::find_by_statement(stmt).all(&self.db).await? {
                    let due = t.due_date.as_deref().unwrap_or("?");
                    // The due date passes at midnight after it (Brussels).
                    let since = NaiveDate::parse_from_str(due, "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.checked_add_days(Days::new(1)))
                        .map_or(from_millis(at.now), engine::calendar::brussels::midnight);
                    let detail = format!(
                        "la tâche « {} » ({}) devait être faite au plus tard le {due}",
                        t.title, t.role
                    );
                    out.push(sorted(
                        stuck_case(t.c, reason, detail, since),
                        reason,
                        t.sub_id,
                    ));
                }
            }
            Reason::TimerNotFired => {
                for t in TimerRow::find_by_statement(stmt).all(&self.db).await? {
                    let detail = format!(
                        "le délai {} (échéance le {}) n'a pas été traité{}",
                        t.timer_key,
                        t.due_date,
                        t.last_error
                            .as_deref()
                            .map(|e| format!(" : {e}"))
                            .unwrap_or_default()
                    );
                    let s = stuck_case(t.c, reason, detail, from_millis(t.fire_at));
                    out.push(sorted(s, reason, t.sub_id));
                }
            }
            Reason::NoticeFailing => {
                for n in NoticeRow::find_by_statement(stmt).all(&self.db).await? {
                    let detail = format!(
                        "l'avis « {} » à {} n'est pas parti ({}, {} tentative(s)) : {}",
                        n.template,
                        n.recipient_email.as_deref().unwrap_or("personne"),
                        n.status,
                        n.attempts,
                        n.last_error.as_deref().unwrap_or("?")
                    );
                    let mut s = stuck_case(n.c, reason, detail, from_millis(n.created_at));
                    s.notice_id = Some(n.sub_id);
                    out.push(sorted(s, reason, n.sub_id));
                }
            }
            Reason::NothingPending => {
                for c in IdleRow::find_by_statement(stmt).all(&self.db).await? {
                    let detail =
                        "le dossier n'est pas clôturé mais n'attend aucun délai ni aucune tâche";
                    let s = stuck_case(c.c, reason, detail.into(), from_millis(c.idle_since));
                    out.push(sorted(s, reason, 0));
                }
            }
            Reason::IdleTooLong => {
                for c in LimitRow::find_by_statement(stmt).all(&self.db).await? {
                    let stuck_at = from_millis(c.stuck_at);
                    // `stuck_at` is the midnight after the limit's due date.
                    let due = civil_date(stuck_at)
                        .pred_opt()
                        .unwrap_or(civil_date(stuck_at));
                    let detail = format!(
                        "le dossier est dans l'état « {} » depuis le {} ; limite dépassée le {}",
                        c.c.state,
                        engine::calendar::french::long_date(civil_date(from_millis(c.entered_at))),
                        engine::calendar::french::long_date(due)
                    );
                    out.push(sorted(stuck_case(c.c, reason, detail, stuck_at), reason, 0));
                }
            }
            Reason::ScheduleFailing => {}
        }
        Ok(out)
    }
}

/// A schedule occurrence whose case could not start, on the operator's list.
fn stuck_run(r: super::schedules::FailingRun) -> StuckCase {
    let next = r
        .next_attempt_at
        .map(|t| {
            format!(
                " ; prochain essai le {}",
                t.with_timezone(&chrono_tz::Europe::Brussels)
                    .format("%d/%m/%Y à %H:%M:%S")
            )
        })
        .unwrap_or_default();
    StuckCase {
        case_id: None,
        workflow: r.workflow_id,
        key: r.key,
        state: None,
        reason: Reason::ScheduleFailing.code().into(),
        detail: format!(
            "la planification « {} » n'a pas pu ouvrir le dossier prévu ({} tentative(s)) : {}{next}",
            r.schedule, r.attempts, r.last_error
        ),
        since: r.at,
        notice_id: None,
        schedule: Some(r.schedule),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_back_from_their_codes() {
        for r in Reason::ALL {
            assert_eq!(Reason::from_code(r.code()), Some(r));
        }
        assert_eq!(Reason::from_code("stuck"), None);
    }

    /// How the database would run `stmt`: SQLite's query plan, or PostgreSQL's with table
    /// scans priced out (so that an empty table does not hide which index could serve).
    async fn plan(store: &Store, stmt: Statement) -> String {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        // (An `if`, not a `match`: the API's test of store codes reads match arms' strings.)
        let sqlite = stmt.db_backend == DbBackend::Sqlite;
        let (prefix, column) = if sqlite {
            ("EXPLAIN QUERY PLAN ", "detail")
        } else {
            ("EXPLAIN ", "QUERY PLAN")
        };
        let txn = store.db.begin().await.unwrap();
        if stmt.db_backend == DbBackend::Postgres {
            txn.execute_unprepared("SET LOCAL enable_seqscan = off")
                .await
                .unwrap();
        }
        let explain = Statement {
            sql: format!("{prefix}{}", stmt.sql),
            ..stmt
        };
        let rows = txn.query_all_raw(explain).await.unwrap();
        txn.rollback().await.unwrap();
        rows.iter()
            .map(|r| r.try_get::<String>("", column).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `cases_idle_since` and `cases_stuck_at` leave out the cases whose column is NULL (most
    /// of them; m20261216): the list's pages and counts of `nothing_pending` and
    /// `idle_too_long` must still be read through them, on both backends.
    #[tokio::test]
    async fn idle_and_overdue_cases_are_read_through_their_partial_indexes() {
        let dir = tempfile::tempdir().unwrap();
        crate::ensure_dir(dir.path()).unwrap();
        let calendar = engine::calendar::Calendar::fwb();
        let sqlite = Store::open(&crate::sqlite_url(dir.path()), calendar)
            .await
            .unwrap();
        let (postgres, _) = crate::testing::pg_store().await;
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 7, 11, 0, 0).unwrap();
        // The whole list (with a procedure's filter the planners, on empty tables, choose
        // other indexes whatever these are: what is checked is that these can be used).
        let f = StuckFilter {
            limit: 50,
            ..Default::default()
        };
        for store in [&sqlite, &postgres] {
            let at = store.stuck_clock(now, Duration::minutes(5));
            for (reason, index) in [
                (Reason::NothingPending, "cases_idle_since"),
                (Reason::IdleTooLong, "cases_stuck_at"),
            ] {
                let page = statement(reason, &at, &rows_of(reason, &at, &f, 50));
                let mut count = source(reason, &at, &f, false);
                count.expr_as(Expr::cust("COUNT(*)"), "n");
                for stmt in [page, statement(reason, &at, &count)] {
                    let sql = stmt.sql.clone();
                    let plan = plan(store, stmt).await;
                    assert!(plan.contains(index), "{sql}\n{plan}");
                }
            }
        }
    }

    #[test]
    fn key_search_escapes_like_wildcards() {
        assert_eq!(contains_pattern("CR-1"), "%cr-1%");
        assert_eq!(contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
