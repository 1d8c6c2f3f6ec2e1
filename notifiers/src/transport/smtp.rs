//! Delivery to an SMTP relay with lettre: pooled connections, TLS through rustls, the message
//! sent as the exact bytes that were built (and hashed), with an explicit envelope.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{AsyncTransport, Tokio1Executor};
use serde::Deserialize;

use super::{DeliveryError, Sent};
use crate::message::BuiltMessage;

/// How the connection to the relay is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain SMTP (port 25): for a relay on this machine. Credentials are refused unless the
    /// host is a loopback address.
    None,
    /// STARTTLS required (port 587); the certificate is checked against webpki roots.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
}

/// The `smtp` section of the configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default: 25, 587 or 465 after `tls`.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// The sender of every notice, e.g. `Jalon <jalon@ecoles.example.be>` (the server fills
    /// it from its top-level `from`).
    #[serde(default)]
    pub from: String,
    /// Bound on connecting, and on the whole exchange of one message.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Connections kept open to the relay, and so the deliveries the dispatcher runs side by
    /// side (`Transport::side_by_side`). Raise it for a slow relay or large mailings.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// PEM file of certificate authorities trusted besides the public roots, for a relay whose
    /// certificate an internal authority signed.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_timeout() -> u64 {
    30
}

fn default_pool_size() -> u32 {
    4
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("timeout_secs", &self.timeout_secs)
            .field("pool_size", &self.pool_size)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl SmtpConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::None => 25,
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
        })
    }
}

/// A configuration that cannot work; said at startup rather than at the first notice.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("smtp.from `{0}` is not an address (e.g. `Jalon <jalon@ecoles.example.be>`)")]
    From(String),
    #[error("smtp.username and smtp.password go together")]
    HalfCredentials,
    #[error(
        "smtp.tls is `none` but credentials are set for {0}, which is not a loopback address: they would travel in clear"
    )]
    ClearCredentials(String),
    #[error("smtp.timeout_secs must be between 1 and 600, got {0}")]
    Timeout(u64),
    #[error("smtp.pool_size must be between 1 and 64, got {0}")]
    PoolSize(u32),
    #[error("smtp.host `{host}`: {message}")]
    Tls { host: String, message: String },
    #[error("the SMTP transport needs a tokio runtime")]
    NoRuntime,
}

/// A pooled SMTP client. Clones share the pool.
#[derive(Clone)]
pub struct Smtp {
    /// Replaced by a fresh pool when an exchange times out (see [`Smtp::deliver`]).
    transport: Arc<RwLock<AsyncSmtpTransport<Tokio1Executor>>>,
    config: Arc<SmtpConfig>,
    relay: String,
}

impl fmt::Debug for Smtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Smtp")
            .field("relay", &self.relay)
            .finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl SmtpConfig {
    /// Refuses a configuration that cannot work, without connecting.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.from
            .parse::<Mailbox>()
            .map_err(|_| ConfigError::From(self.from.clone()))?;
        let credentials = match (&self.username, &self.password) {
            (Some(_), Some(_)) => true,
            (None, None) => false,
            _ => return Err(ConfigError::HalfCredentials),
        };
        if self.tls == TlsMode::None && credentials && !is_loopback(&self.host) {
            return Err(ConfigError::ClearCredentials(self.host.clone()));
        }
        if !(1..=600).contains(&self.timeout_secs) {
            return Err(ConfigError::Timeout(self.timeout_secs));
        }
        if !(1..=64).contains(&self.pool_size) {
            return Err(ConfigError::PoolSize(self.pool_size));
        }
        Ok(())
    }
}

impl Smtp {
    /// Checks the configuration and prepares the pool; connects at the first delivery. Must be
    /// called inside a tokio runtime (the pool runs a task that closes idle connections).
    pub fn new(cfg: &SmtpConfig) -> Result<Smtp, ConfigError> {
        cfg.check()?;
        Ok(Smtp {
            transport: Arc::new(RwLock::new(pool(cfg)?)),
            config: Arc::new(cfg.clone()),
            relay: format!("{}:{}", cfg.host, cfg.port()),
        })
    }

    fn current(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        self.transport
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub async fn deliver(&self, message: &BuiltMessage) -> Result<Sent, DeliveryError> {
        let address = |a: &str| {
            a.parse::<Address>()
                .map_err(|e| DeliveryError::permanent(format!("unusable address `{a}`: {e}")))
        };
        let envelope = Envelope::new(
            Some(address(&message.envelope_from)?),
            vec![address(&message.envelope_to)?],
        )
        .map_err(|e| DeliveryError::permanent(format!("unusable envelope: {e}")))?;
        let transport = self.current();
        // lettre bounds connecting by the timeout, not a relay that accepts and then stays
        // silent: the whole exchange is bounded here.
        let limit = Duration::from_secs(self.config.timeout_secs);
        let sent = tokio::time::timeout(limit, transport.send_raw(&envelope, &message.bytes)).await;
        match sent {
            Err(_) => {
                // The abandoned connection may be mid-exchange; a fresh pool never reuses it.
                if let Ok(fresh) = pool(&self.config) {
                    let old = std::mem::replace(
                        &mut *self
                            .transport
                            .write()
                            .unwrap_or_else(|poisoned| poisoned.into_inner()),
                        fresh,
                    );
                    tokio::spawn(async move { old.shutdown().await });
                }
                Err(DeliveryError::transient(format!(
                    "{}: no answer within {} s",
                    self.relay, self.config.timeout_secs
                )))
            }
            Ok(Ok(response)) => Ok(Sent {
                response: format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ),
            }),
            Ok(Err(e)) => Err(classify(&self.relay, &e)),
        }
    }

    /// Connections the pool keeps open at most.
    pub fn pool_size(&self) -> usize {
        self.config.pool_size as usize
    }

    /// The bound on connecting and on the exchange of one message.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs)
    }

    /// Closes the pooled connections.
    pub async fn shutdown(&self) {
        self.current().shutdown().await;
    }
}

fn pool(cfg: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, ConfigError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(ConfigError::NoRuntime);
    }
    let tls_error = |message: String| ConfigError::Tls {
        host: cfg.host.clone(),
        message,
    };
    let tls = |wrap: fn(TlsParameters) -> Tls| {
        let mut params = TlsParameters::builder(cfg.host.clone());
        if let Some(path) = &cfg.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| tls_error(format!("cannot read {}: {e}", path.display())))?;
            let ca = Certificate::from_pem(&pem)
                .map_err(|e| tls_error(format!("{}: {e}", path.display())))?;
            params = params.add_root_certificate(ca);
        }
        params
            .build()
            .map(wrap)
            .map_err(|e| tls_error(e.to_string()))
    };
    let tls = match cfg.tls {
        TlsMode::None => Tls::None,
        TlsMode::Starttls => tls(Tls::Required)?,
        TlsMode::Tls => tls(Tls::Wrapper)?,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
        .port(cfg.port())
        .tls(tls)
        .timeout(Some(Duration::from_secs(cfg.timeout_secs)))
        .pool_config(PoolConfig::new().max_size(cfg.pool_size));
    if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    Ok(builder.build())
}

/// 5xx replies are permanent; everything else (4xx, refused or dropped connections, timeouts,
/// TLS and authentication set-up) may succeed later, once the relay or its configuration is
/// back.
fn classify(relay: &str, e: &lettre::transport::smtp::Error) -> DeliveryError {
    let message = format!("{relay}: {e}");
    if e.is_permanent() {
        DeliveryError::permanent(message)
    } else {
        DeliveryError::transient(message)
    }
}
