//! Delivery of built messages: to a folder of `.eml` files (development, single node without
//! SMTP) or to an SMTP relay. Delivery is at least once: the outbox may deliver a message
//! again after a crash, and both transports make that harmless (same file, same Message-ID).

mod file_drop;
mod smtp;

pub use file_drop::FileDrop;
pub use smtp::{ConfigError, Smtp, SmtpConfig, TlsMode};

use crate::message::BuiltMessage;

/// Where messages go. One enum rather than a trait object: there are two ways, both known.
#[derive(Debug)]
pub enum Transport {
    FileDrop(FileDrop),
    Smtp(Smtp),
}

/// A message accepted by the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The SMTP server's reply (`250 2.0.0 Ok: queued as ...`) or the file written.
    pub response: String,
}

/// Whether a failed delivery is worth retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Connection refused, timeout, 4xx reply, disk error: try again later.
    Transient,
    /// 5xx reply, unusable address: retrying sends the same thing and fails the same way.
    Permanent,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} delivery failure: {message}", match .retry { Retry::Transient => "transient", Retry::Permanent => "permanent" })]
pub struct DeliveryError {
    pub retry: Retry,
    pub message: String,
}

impl DeliveryError {
    pub fn transient(message: impl Into<String>) -> Self {
        DeliveryError {
            retry: Retry::Transient,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        DeliveryError {
            retry: Retry::Permanent,
            message: message.into(),
        }
    }

    pub fn is_transient(&self) -> bool {
        self.retry == Retry::Transient
    }
}

impl Transport {
    pub async fn deliver(&self, message: &BuiltMessage) -> Result<Sent, DeliveryError> {
        match self {
            Transport::FileDrop(t) => t.deliver(message).await,
            Transport::Smtp(t) => t.deliver(message).await,
        }
    }

    /// Deliveries worth running side by side: one per pooled SMTP connection (more would
    /// only wait for a connection, inside their own timeout); for files, enough to keep
    /// their disk syncs overlapping.
    pub fn side_by_side(&self) -> usize {
        match self {
            Transport::FileDrop(_) => 32,
            Transport::Smtp(t) => t.pool_size(),
        }
    }

    /// The longest one delivery can take before it fails: the SMTP exchange is bounded by its
    /// timeout; writing a file has no bound of its own (a second is generous).
    pub fn max_delivery_time(&self) -> std::time::Duration {
        match self {
            Transport::FileDrop(_) => std::time::Duration::from_secs(1),
            Transport::Smtp(t) => t.timeout(),
        }
    }
}

#[cfg(test)]
mod tests;
