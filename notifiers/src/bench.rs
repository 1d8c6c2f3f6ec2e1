//! Throughput of the notice path, for `jalon bench notices`: context + rendering + message
//! building, file-drop delivery, and (when given a relay) SMTP delivery. Numbers are printed by
//! the caller; nothing here asserts a speed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use engine::calendar::{Calendar, Deadline, Length, Means, Unit};
use serde_json::{Map, Value};

use crate::context::NoticeContext;
use crate::ics::Due;
use crate::message::{self, BuiltMessage, Outgoing};
use crate::render::TemplateSet;
use crate::transport::{Smtp, SmtpConfig};

/// A notice as the disciplinary procedure sends it: a deadline, its explanation, variables.
const SUBJECT: &str =
    "Proposition de sanction disciplinaire : réclamation possible jusqu'au {{deadline.long}}\n";
const TEXT: &str = "Madame, Monsieur {{recipient.name}},

Une proposition de sanction disciplinaire ({{vars.sanction_proposee}}) vous a été soumise pour visa le {{vars.soumise_visa_le}}.

Vous pouvez introduire une réclamation écrite devant la Chambre de recours au plus tard le {{deadline.long}} ({{deadline.legal_basis}}).

Calcul du délai :
{{deadline.explanation}}

Dossier : {{case.key}} — {{case.url}}
";
const HTML: &str = "<p>Madame, Monsieur {{recipient.name}},</p>
<p>Réclamation possible au plus tard le <strong>{{deadline.long}}</strong> ({{deadline.legal_basis}}).</p>
<pre>{{deadline.explanation}}</pre>
<p><a href=\"{{case.url}}\">Dossier {{case.key}}</a></p>
";

const FROM: &str = "Jalon <jalon@ecoles.example.be>";

/// The bench's fixed inputs.
pub struct Sample {
    templates: TemplateSet,
    deadline: Deadline,
    vars: Map<String, Value>,
    date: DateTime<Utc>,
}

impl Sample {
    pub fn new() -> Result<Sample, String> {
        let sources: BTreeMap<String, String> = [
            ("proposition.subject.hbs", SUBJECT),
            ("proposition.text.hbs", TEXT),
            ("proposition.html.hbs", HTML),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let templates = TemplateSet::from_sources(sources).map_err(|e| e.to_string())?;
        let day = NaiveDate::from_ymd_opt(2026, 12, 18).ok_or("bad date")?;
        let deadline = Calendar::fwb()
            .deadline(
                day,
                Some(Means::RegisteredLetter),
                Some(Length::new(20, Unit::WorkingDays)),
            )
            .map_err(|e| e.to_string())?;
        let mut vars = Map::new();
        vars.insert("sanction_proposee".into(), "la réprimande".into());
        vars.insert("soumise_visa_le".into(), "2026-12-18".into());
        let date = Utc
            .with_ymd_and_hms(2026, 12, 18, 11, 0, 0)
            .single()
            .ok_or("bad instant")?;
        Ok(Sample {
            templates,
            deadline,
            vars,
            date,
        })
    }

    /// Context, rendering and message of notice number `n`.
    pub fn message(&self, n: u64) -> Result<BuiltMessage, String> {
        let id = n.to_string();
        let context = NoticeContext::new("Procédure disciplinaire", &id, "DISC-2026-0042", "Visa")
            .variables(&self.vars, ["soumise_visa_le"])
            .deadline(
                &self.deadline,
                Some("Décret du 13 septembre 2018, art. 120"),
            )
            .recipient("Marie Dupont", "marie.dupont@example.be")
            .base_url("https://jalon.example.be")
            .build();
        let rendered = self
            .templates
            .render("proposition", &context)
            .map_err(|e| e.to_string())?;
        let due = Due::from_deadline(&self.deadline, Some("art. 120"));
        message::build(&Outgoing {
            notice_id: &id,
            from: FROM,
            to_name: "Marie Dupont",
            to_email: "marie.dupont@example.be",
            date: self.date,
            content: &rendered,
            due: Some(&due),
            url: None,
        })
        .map_err(|e| e.to_string())
    }
}

/// Notices rendered and built per second (context, three templates, MIME, `.ics`, hash).
pub fn renders_per_second(sample: &Sample, budget: Duration) -> Result<f64, String> {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            std::hint::black_box(sample.message(n)?);
            n += 1;
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// `.eml` files written per second (each synced and renamed) into a temporary folder next to
/// the system's others, removed afterwards; messages are built outside the timed part.
pub fn file_drops_per_second(sample: &Sample, budget: Duration) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let drop = crate::transport::FileDrop::new(dir.path());
    let mut timed = Duration::ZERO;
    let mut n = 0u64;
    while timed < budget {
        let batch = (n..n + 64)
            .map(|i| sample.message(i))
            .collect::<Result<Vec<_>, _>>()?;
        let started = Instant::now();
        for m in &batch {
            drop.deliver_blocking(m).map_err(|e| e.to_string())?;
        }
        timed += started.elapsed();
        n += batch.len() as u64;
    }
    Ok(n as f64 / timed.as_secs_f64())
}

/// Messages accepted per second by the relay of `config`, `config.pool_size` sends at a time.
pub fn smtp_per_second(
    sample: &Sample,
    config: &SmtpConfig,
    budget: Duration,
) -> Result<f64, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let workers = config.pool_size.max(1) as u64;
    let messages = (0..256)
        .map(|i| sample.message(i))
        .collect::<Result<Vec<_>, _>>()?;
    runtime.block_on(async {
        let smtp = Smtp::new(config).map_err(|e| e.to_string())?;
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for w in 0..workers {
            let smtp = smtp.clone();
            let messages = messages.clone();
            set.spawn(async move {
                let mut sent = 0u64;
                let mut i = w as usize;
                while start.elapsed() < budget {
                    smtp.deliver(&messages[i % messages.len()])
                        .await
                        .map_err(|e| e.to_string())?;
                    sent += 1;
                    i += workers as usize;
                }
                Ok::<u64, String>(sent)
            });
        }
        let mut total = 0;
        while let Some(done) = set.join_next().await {
            total += done.map_err(|e| e.to_string())??;
        }
        smtp.shutdown().await;
        Ok(total as f64 / start.elapsed().as_secs_f64())
    })
}
