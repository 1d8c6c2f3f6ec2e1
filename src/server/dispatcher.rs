//! The outbox dispatcher: claims notices due for delivery, renders each with the templates of
//! the workflow version its case runs, builds the exact bytes once, hands them to the transport
//! and records the result (sent with Message-ID, reply and bytes; or failed and retried with
//! backoff; or dead).
//!
//! Delivery is **at least once**. A process that dies after the transport accepted a message
//! and before recording it leaves the row pending with a lease; once the lease expires another
//! pass sends it again. The second copy has the same bytes and the same Message-ID (both derive
//! from the notice id), so a mail server or a reader recognises it as the same message.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use notifiers::{BuiltMessage, Due, NoticeContext, Outgoing, Retry, Transport};
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::task::JoinError;
use tracing::Instrument;

use super::worker::{self, Claimed, Stop, Worker};
use crate::clock::{Clock, from_millis};
use store::entities::outbox;
use store::notice_facts::NoticeFacts;
use store::registry::Deployed;
use store::{Error, Store};

/// How long a claim holds a notice, at least: short enough that a crashed process's notices go
/// soon. It is lengthened to outlast two deliveries when the transport may take longer (an SMTP
/// timeout above a minute), so that no live delivery loses its lease.
pub const LEASE_SECS: i64 = 120;
const BATCH: u64 = 32;
/// At shutdown, the time a finished delivery has to be recorded (a write or two).
const RECORD_GRACE: StdDuration = StdDuration::from_secs(5);

/// What the notices of this server look like and where they go.
pub struct Delivery {
    /// The sender, e.g. `Jalon <jalon@ecoles.example.be>`; its domain names the Message-IDs.
    pub from: String,
    /// The public address of the server, for links in notices; without it, the address the
    /// server listens on ([`Dispatcher::listening_on`]).
    pub base_url: Option<String>,
    pub transport: Transport,
}

#[derive(Clone)]
pub struct Dispatcher {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Identifies this process in leases.
    pub owner: String,
    pub wake: Arc<Notify>,
    pub delivery: Arc<Delivery>,
    /// Test hook standing for a crash between delivery and its record: when set, a delivery
    /// ends right after the transport accepted the message, recording nothing.
    crash_after_delivery: Arc<AtomicBool>,
    /// The server's own address once it listens, for links when no public URL is configured
    /// (filled after the port is bound, which may be port 0), and whether it stays the same
    /// across restarts (a port chosen in the configuration, not by the system).
    listen_url: Arc<OnceLock<(String, bool)>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DispatchPass {
    pub sent: usize,
    /// Failed, to be retried later.
    pub retrying: usize,
    pub dead: usize,
    /// Sent, but the lease had passed to another process before the record (it will resend).
    pub lost_lease: usize,
    /// Not recorded (a database error, or the test's simulated crash): the notice keeps its
    /// lease and is tried again once the lease expires.
    pub errors: usize,
    /// Claimed but not finished when shutdown came (not started, or abandoned once
    /// [`Dispatcher::shutdown_bound`] passed): they keep their lease.
    pub left: usize,
}

impl DispatchPass {
    fn add(&mut self, o: DispatchPass) {
        self.sent += o.sent;
        self.retrying += o.retrying;
        self.dead += o.dead;
        self.lost_lease += o.lost_lease;
        self.errors += o.errors;
        self.left += o.left;
    }
}

/// Why a notice could not be made into a message: retrying sends the same thing.
struct Unbuildable(String);

impl Dispatcher {
    pub fn new(store: Store, clock: Arc<dyn Clock>, delivery: Delivery) -> Self {
        // Woken by the store when a commit queued a notice (`store::wakes`).
        let wake = store.wakes().notices();
        Dispatcher {
            store,
            clock,
            owner: format!("jalon-{}", uuid::Uuid::new_v4()),
            wake,
            delivery: Arc::new(delivery),
            crash_after_delivery: Arc::new(AtomicBool::new(false)),
            listen_url: Arc::new(OnceLock::new()),
        }
    }

    /// The server listens on `addr`: links in notices lead there unless a public URL is
    /// configured (an address of every interface becomes `localhost`). The first call wins.
    /// The address the server listens on; `stable` when its port was configured (not 0), so
    /// that links built from it are the same after a restart.
    pub fn listening_on(&self, addr: SocketAddr, stable: bool) {
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "localhost".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            std::net::IpAddr::V4(ip) => ip.to_string(),
        };
        let _ = self
            .listen_url
            .set((format!("http://{host}:{}", addr.port()), stable));
    }

    /// Where links lead: the public URL, else the listening address, without a trailing
    /// slash. For sign-in mails, which are not evidence and must always carry a link.
    pub fn base_url(&self) -> Option<String> {
        self.delivery
            .base_url
            .as_deref()
            .or(self.listen_url.get().map(|(u, _)| u.as_str()))
            .map(|u| u.trim_end_matches('/').to_owned())
    }

    /// Where links in a case's notices lead: an address that is the same every time the
    /// notice is built (the public URL, or a configured listening port), since a notice
    /// delivered again must be the same bytes; none when the port was chosen by the system.
    fn case_base_url(&self) -> Option<String> {
        match (&self.delivery.base_url, self.listen_url.get()) {
            (Some(_), _) | (None, Some((_, true))) => self.base_url(),
            _ => None,
        }
    }

    #[doc(hidden)]
    pub fn simulate_crash_after_delivery(&self, on: bool) {
        self.crash_after_delivery.store(on, Ordering::SeqCst);
    }

    fn lease(&self) -> Duration {
        lease_for(self.delivery.transport.max_delivery_time())
    }

    /// How long the deliveries in flight may still take once shutdown is asked: one delivery
    /// (the SMTP timeout) and its record. After that they are abandoned to their lease.
    pub fn shutdown_bound(&self) -> StdDuration {
        self.delivery.transport.max_delivery_time() + RECORD_GRACE
    }

    /// Delivers every notice due now, oldest first.
    pub async fn run_due(&self) -> Result<DispatchPass, Error> {
        self.pass(&mut Stop::never()).await
    }

    /// One pass; once `stop` is asked, no other notice starts (the claimed ones keep their
    /// lease) and the deliveries in flight end within their transport's bound.
    async fn pass(&self, stop: &mut Stop) -> Result<DispatchPass, Error> {
        let mut pass = DispatchPass::default();
        let left = worker::claim_and_run(self, stop, &mut pass).await?;
        pass.left += left;
        if pass.left > 0 {
            tracing::info!(
                left = pass.left,
                "shutting down: notices left to their lease"
            );
        }
        Ok(pass)
    }

    async fn deliver(&self, n: outbox::Model, now: DateTime<Utc>) -> Result<DispatchPass, Error> {
        let mut pass = DispatchPass::default();
        let message = match self.build(&n).await? {
            Ok(m) => m,
            Err(Unbuildable(reason)) => {
                tracing::error!(%reason, "notice cannot be built; dead");
                self.store
                    .notice_failed(&n, &self.owner, now, &reason, true)
                    .await?;
                pass.dead += 1;
                return Ok(pass);
            }
        };
        match self.delivery.transport.deliver(&message).await {
            Ok(sent) => {
                if self.crash_after_delivery.load(Ordering::SeqCst) {
                    return Err(Error::Corrupt(format!(
                        "simulated crash after delivering notice {} and before recording it",
                        n.id
                    )));
                }
                let recorded = self
                    .store
                    .notice_sent(
                        &n,
                        &self.owner,
                        self.clock.now(),
                        &message.message_id,
                        &sent.response,
                        message.bytes,
                        &message.sha256,
                    )
                    .await?;
                if recorded {
                    tracing::info!(message_id = %message.message_id, "notice sent");
                    pass.sent += 1;
                } else {
                    tracing::warn!(
                        message_id = %message.message_id,
                        "notice sent after its lease passed to another process; it may arrive twice"
                    );
                    pass.lost_lease += 1;
                }
            }
            Err(e) => {
                let permanent = e.retry == Retry::Permanent;
                let status = self
                    .store
                    .notice_failed(&n, &self.owner, now, &e.message, permanent)
                    .await?;
                tracing::warn!(error = %e, status = status.as_str(), "notice not delivered");
                if status == outbox::Status::Dead {
                    pass.dead += 1;
                } else {
                    pass.retrying += 1;
                }
            }
        }
        Ok(pass)
    }

    /// The message of a notice: the outer error is the database's, the inner one the notice's.
    async fn build(&self, n: &outbox::Model) -> Result<Result<BuiltMessage, Unbuildable>, Error> {
        let deployed = match n.version_id {
            Some(version_id) => Some(self.store.version(version_id).await?),
            None => None,
        };
        // Rendering and building are bounded and return errors; should either panic all the
        // same, the notice goes dead with the reason rather than being claimed again after
        // every lease.
        let made = std::panic::catch_unwind(AssertUnwindSafe(|| self.compose(n, deployed)));
        Ok(made.unwrap_or_else(|panic| {
            Err(Unbuildable(format!(
                "building the notice failed: {}",
                notifiers::render::panic_message(&*panic)
            )))
        }))
    }

    /// Renders the notice with its version's templates (none for a digest) and builds its bytes.
    fn compose(
        &self,
        n: &outbox::Model,
        deployed: Option<Arc<Deployed>>,
    ) -> Result<BuiltMessage, Unbuildable> {
        let Some(to_email) = n.recipient_email.as_deref() else {
            return Err(Unbuildable("the notice has no recipient address".into()));
        };
        let unreadable =
            |e: serde_json::Error| Unbuildable(format!("unreadable notice context: {e}"));
        let to_name = n.recipient_name.as_deref().unwrap_or("");
        let (rendered, due, base_url) = match deployed {
            Some(deployed) => {
                let facts = NoticeFacts::from_text(&n.context).map_err(unreadable)?;
                let templates = deployed
                    .template_set()
                    .map_err(|e| Unbuildable(format!("templates: {e}")))?;
                let (context, due) = case_context(&deployed.def, &facts, to_name, to_email);
                let base_url = self.case_base_url();
                let context = match &base_url {
                    Some(url) => context.base_url(url.clone()),
                    None => context,
                };
                let rendered = templates
                    .render(&n.template, &context.build())
                    .map_err(|e| Unbuildable(e.to_string()))?;
                // The page to act on: the task's when the notice is about one, else the case's.
                let rendered = match (&base_url, &n.case_id) {
                    (Some(base), Some(case)) => match facts
                        .deadline
                        .as_ref()
                        .filter(|d| deployed.def.task(&d.of).is_some())
                    {
                        Some(d) => rendered.with_link(
                            "Faire la tâche dans jalon",
                            &format!("{base}/cases/{case}/tasks/{}", d.of),
                        ),
                        None => rendered.with_link(
                            "Voir le dossier dans jalon",
                            &format!("{base}/cases/{case}"),
                        ),
                    },
                    _ => rendered,
                };
                (rendered, due, base_url)
            }
            None => {
                let facts: Value = serde_json::from_str(&n.context).map_err(unreadable)?;
                let base_url = self.base_url();
                let rendered = if n.template == store::sessions::TEMPLATE {
                    let Some(base) = &base_url else {
                        return Err(Unbuildable(
                            "a sign-in link needs the server's address (public_url)".into(),
                        ));
                    };
                    super::sign_in_mail::render(&facts, base, to_name, to_email)
                } else {
                    super::digest_mail::render(&facts, to_name, to_email)
                };
                (rendered.map_err(Unbuildable)?, None, base_url)
            }
        };
        let notice_id = notice_id(n);
        let url = match (&base_url, &n.case_id) {
            (Some(base), Some(case)) => Some(format!("{base}/cases/{case}")),
            _ => None,
        };
        notifiers::message::build(&Outgoing {
            notice_id: &notice_id,
            from: &self.delivery.from,
            to_name,
            to_email,
            date: from_millis(n.created_at),
            content: &rendered,
            due: due.as_ref(),
            url: url.as_deref(),
        })
        .map_err(|e| Unbuildable(e.to_string()))
    }

    /// Runs until `shutdown` turns true. A pass in progress then starts no other notice and
    /// ends within [`Dispatcher::shutdown_bound`]; the notices it claimed and did not finish
    /// keep their lease and are sent once it expires.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        worker::run(self, shutdown).await
    }
}

impl Worker for Dispatcher {
    type Unit = outbox::Model;
    type Tally = DispatchPass;
    const NAME: &'static str = "outbox";

    fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    fn wake(&self) -> &Notify {
        &self.wake
    }

    fn side_by_side(&self) -> usize {
        self.delivery.transport.side_by_side()
    }

    fn shutdown_bound(&self) -> Option<StdDuration> {
        Some(Dispatcher::shutdown_bound(self))
    }

    fn claims_lease(&self) -> bool {
        true
    }

    async fn claim(&self, now: DateTime<Utc>) -> Result<Claimed<outbox::Model>, Error> {
        let units = self
            .store
            .claim_notices(&self.owner, now, self.lease(), BATCH)
            .await?;
        let full = units.len() as u64 >= BATCH;
        Ok(Claimed { units, full })
    }

    /// One notice's failure never stops the others (an aborted delivery would only be sent
    /// again later, but there is no reason to).
    async fn run_one(self, n: outbox::Model, now: DateTime<Utc>) -> Result<DispatchPass, Error> {
        let span = tracing::info_span!("notice", id = n.id, template = %n.template);
        self.deliver(n, now).instrument(span).await
    }

    fn settle(r: Result<Result<DispatchPass, Error>, JoinError>) -> Result<DispatchPass, Error> {
        Ok(settle(r))
    }

    /// Counted as each notice ends: under a steady flow of notices a pass lasts.
    fn add(tally: &mut DispatchPass, other: DispatchPass) {
        metrics::counter!("jalon_notices_sent_total").increment(other.sent as u64);
        metrics::counter!("jalon_notices_dead_total").increment(other.dead as u64);
        tally.add(other);
    }

    async fn pass(&self, stop: &mut Stop) -> Result<(), Error> {
        Dispatcher::pass(self, stop).await.map(drop)
    }

    async fn next_wake(&self) -> Result<Option<DateTime<Utc>>, Error> {
        self.store.next_notice_at(self.clock.now()).await
    }
}

/// The lease of a claim when one delivery may take up to `slowest`.
fn lease_for(slowest: StdDuration) -> Duration {
    let slowest = i64::try_from(slowest.as_secs()).unwrap_or(i64::MAX / 4);
    Duration::seconds(LEASE_SECS.max(2 * slowest + 30))
}

/// A delivery task's outcome as counts; an error is logged and counted, the notice stays
/// leased and is retried after the lease.
fn settle(r: Result<Result<DispatchPass, Error>, JoinError>) -> DispatchPass {
    match r {
        Ok(Ok(pass)) => pass,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "notice not recorded; retried after its lease");
            DispatchPass {
                errors: 1,
                ..DispatchPass::default()
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "notice delivery task failed; retried after its lease");
            DispatchPass {
                errors: 1,
                ..DispatchPass::default()
            }
        }
    }
}

/// The notice id behind the Message-ID and the file name: the outbox row id, prefixed by the
/// case so that two databases sending from one domain do not collide.
pub fn notice_id(n: &outbox::Model) -> String {
    match &n.case_id {
        Some(case) => format!("{case}-{}", n.id),
        None if n.template == store::sessions::TEMPLATE => format!("sign-in-{}", n.id),
        None => format!("digest-{}", n.id),
    }
}

/// The template context of a case notice from the facts the transition stored, and the
/// deadline for the `.ics` event.
fn case_context(
    def: &engine::machine::Definition,
    facts: &NoticeFacts,
    to_name: &str,
    to_email: &str,
) -> (NoticeContext, Option<Due>) {
    let mut ctx = NoticeContext::new(
        def.title.clone(),
        facts.case.id.clone(),
        facts.case.key.clone(),
        facts.state.label.clone().unwrap_or_default(),
    )
    .workflow_id(def.id.to_string())
    .workflow_legal_basis(def.legal_basis.clone())
    .state_id(facts.state.id.clone())
    .workflow_variables(def, &facts.vars, facts.date_vars.iter().map(String::as_str))
    .recipient(to_name, to_email);
    let mut due = None;
    if let Some(d) = &facts.deadline {
        let legal_basis = d.legal_basis.as_deref();
        ctx = ctx.deadline(&d.deadline, legal_basis);
        if def.task(&d.of).is_some() {
            ctx = ctx.task(&*d.of);
        }
        due = Some(Due::from_deadline(
            &d.deadline,
            legal_basis.or(Some(def.legal_basis.as_str())),
        ));
    }
    (ctx, due)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_outlasts_two_deliveries() {
        assert_eq!(lease_for(StdDuration::from_secs(1)), Duration::seconds(120));
        assert_eq!(
            lease_for(StdDuration::from_secs(30)),
            Duration::seconds(120)
        );
        // An SMTP timeout of ten minutes (the most the configuration allows).
        assert_eq!(
            lease_for(StdDuration::from_secs(600)),
            Duration::seconds(1230)
        );
    }

    /// A queued notice reads an enum's French label: the shipped CPEONS template that shows
    /// the supervisory measure renders it from the facts the Writer stores.
    #[test]
    fn queued_facts_give_templates_the_labels_of_enum_values() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("workflows/convention-accompagnement-cpeons");
        let text = std::fs::read_to_string(dir.join("workflow.yaml")).unwrap();
        let def = engine::machine::Definition::compile(engine::definition::parse(&text).unwrap())
            .unwrap();
        let deployed = Deployed::new(
            1,
            "convention-accompagnement-cpeons".into(),
            1,
            String::new(),
            def,
            store::deploy::read_templates(&dir).unwrap(),
        );
        let templates = deployed.template_set().unwrap();
        let def = &deployed.def;
        let facts: NoticeFacts = serde_json::from_value(serde_json::json!({
            "case": { "id": "c1", "key": "École 1" },
            "date_vars": [],
            "deadline": null,
            "state": { "id": "resolue", "label": "Résolue" },
            "vars": { "mesure_tutelle": "annulation" },
            "workflow": { "id": "convention-accompagnement-cpeons", "title": "t", "version": 1 },
        }))
        .unwrap();
        let (ctx, _) = case_context(def, &facts, "Marie", "m@example.be");
        let r = templates
            .render("convention-resolue", &ctx.build())
            .unwrap();
        assert!(
            r.text.contains("Annulation de la délibération"),
            "{}",
            r.text
        );
    }
}
