//! Where notices go and what they say about their sender: the configuration file
//! (`config/jalon.yaml` when it exists, or `--config`) overridden by `JALON_*` variables.
//! With nothing configured, notices are written as `.eml` files under `<data>/outbox/`.
//!
//! ```yaml
//! from: "Jalon <jalon@ecoles.example.be>"   # sender of every notice (JALON_FROM)
//! public_url: https://jalon.example.be      # links in notices (JALON_PUBLIC_URL)
//! session_idle_hours: 8                      # pages' sessions end after this idle time
//!                                            # (JALON_SESSION_IDLE_HOURS)
//! smtp:                                      # absent: file drop (JALON_SMTP_HOST enables it)
//!   host: smtp.example.be                    # JALON_SMTP_HOST
//!   port: 587                                # JALON_SMTP_PORT (default after tls)
//!   tls: starttls                            # none | starttls | tls (JALON_SMTP_TLS)
//!   username: jalon                          # JALON_SMTP_USERNAME
//!   password: secret                         # JALON_SMTP_PASSWORD
//!   timeout_secs: 30                         # JALON_SMTP_TIMEOUT_SECS
//!   pool_size: 4                             # JALON_SMTP_POOL_SIZE
//!   ca_file: /etc/jalon/ca.pem               # extra trusted CAs (JALON_SMTP_CA_FILE)
//! ```

use std::path::{Path, PathBuf};

use notifiers::{SmtpConfig, TlsMode};
use serde::Deserialize;

/// The default sender: a domain that is nobody's, until an administrator sets one.
pub const DEFAULT_FROM: &str = "Jalon <jalon@localhost>";

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeConfig {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    /// A page session not used for this many hours is over (default
    /// [`DEFAULT_SESSION_IDLE_HOURS`]).
    #[serde(default)]
    pub session_idle_hours: Option<u32>,
}

/// Idle hours after which a page session ends, unless configured.
pub const DEFAULT_SESSION_IDLE_HOURS: u32 = 8;

/// At most a year: a longer idle period is a typo, not a policy.
const MAX_SESSION_IDLE_HOURS: u32 = 24 * 366;

impl NoticeConfig {
    pub fn from(&self) -> &str {
        self.from.as_deref().unwrap_or(DEFAULT_FROM)
    }

    /// How long a page session may stay unused.
    pub fn session_idle(&self) -> chrono::Duration {
        chrono::Duration::hours(
            self.session_idle_hours
                .unwrap_or(DEFAULT_SESSION_IDLE_HOURS)
                .into(),
        )
    }

    /// The file (if any) then the environment. `file` is `--config`/`JALON_CONFIG`; without
    /// it, `config/jalon.yaml` is read when it exists.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<NoticeConfig, String> {
        let default = PathBuf::from("config/jalon.yaml");
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None => default.is_file().then_some(default),
        };
        let mut cfg = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                serde_saphyr::from_str::<NoticeConfig>(&text).map_err(|e| {
                    let (pos, message) = engine::definition::yaml_error(&e);
                    format!("{}:{}:{}: {message}", p.display(), pos.line, pos.column)
                })?
            }
            None => NoticeConfig::default(),
        };
        cfg.apply_env(env)?;
        if let Some(h) = cfg.session_idle_hours
            && !(1..=MAX_SESSION_IDLE_HOURS).contains(&h)
        {
            return Err(format!(
                "session_idle_hours: {h} is not between 1 and {MAX_SESSION_IDLE_HOURS}"
            ));
        }
        if let Some(smtp) = &mut cfg.smtp {
            smtp.from = cfg.from.clone().unwrap_or_else(|| DEFAULT_FROM.to_owned());
            smtp.check().map_err(|e| e.to_string())?;
        }
        Ok(cfg)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(v) = env("JALON_FROM") {
            self.from = Some(v);
        }
        if let Some(v) = env("JALON_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = env("JALON_SESSION_IDLE_HOURS") {
            self.session_idle_hours = Some(v.parse().map_err(|_| {
                format!("JALON_SESSION_IDLE_HOURS: `{v}` is not a number of hours")
            })?);
        }
        if let Some(host) = env("JALON_SMTP_HOST") {
            let smtp = self.smtp.get_or_insert_with(|| SmtpConfig {
                host: host.clone(),
                port: None,
                tls: TlsMode::default(),
                username: None,
                password: None,
                from: String::new(),
                timeout_secs: 30,
                pool_size: 4,
                ca_file: None,
            });
            smtp.host = host;
        }
        let Some(smtp) = &mut self.smtp else {
            return Ok(());
        };
        fn number<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{name}: `{v}` is not a number"))
        }
        if let Some(v) = env("JALON_SMTP_PORT") {
            smtp.port = Some(number("JALON_SMTP_PORT", v)?);
        }
        if let Some(v) = env("JALON_SMTP_TLS") {
            smtp.tls = match v.as_str() {
                "none" => TlsMode::None,
                "starttls" => TlsMode::Starttls,
                "tls" => TlsMode::Tls,
                _ => {
                    return Err(format!(
                        "JALON_SMTP_TLS: `{v}` is not none, starttls or tls"
                    ));
                }
            };
        }
        if let Some(v) = env("JALON_SMTP_USERNAME") {
            smtp.username = Some(v);
        }
        if let Some(v) = env("JALON_SMTP_PASSWORD") {
            smtp.password = Some(v);
        }
        if let Some(v) = env("JALON_SMTP_TIMEOUT_SECS") {
            smtp.timeout_secs = number("JALON_SMTP_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = env("JALON_SMTP_POOL_SIZE") {
            smtp.pool_size = number("JALON_SMTP_POOL_SIZE", v)?;
        }
        if let Some(v) = env("JALON_SMTP_CA_FILE") {
            smtp.ca_file = Some(v.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn nothing_configured_means_file_drop() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.yaml");
        std::fs::write(&missing, "{}").unwrap();
        let cfg = NoticeConfig::load(Some(&missing), env(&[])).unwrap();
        assert!(cfg.smtp.is_none());
        assert_eq!(cfg.from(), DEFAULT_FROM);
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jalon.yaml");
        std::fs::write(
            &path,
            "from: \"Jalon <jalon@ecoles.example.be>\"\nsmtp:\n  host: smtp.example.be\n  tls: tls\n",
        )
        .unwrap();
        let cfg = NoticeConfig::load(
            Some(&path),
            env(&[
                ("JALON_SMTP_PORT", "2465"),
                ("JALON_PUBLIC_URL", "https://j.example.be"),
            ]),
        )
        .unwrap();
        let smtp = cfg.smtp.unwrap();
        assert_eq!(smtp.host, "smtp.example.be");
        assert_eq!(smtp.port(), 2465);
        assert_eq!(smtp.tls, TlsMode::Tls);
        assert_eq!(smtp.from, "Jalon <jalon@ecoles.example.be>");
        assert_eq!(cfg.public_url.as_deref(), Some("https://j.example.be"));
        assert_eq!(cfg.session_idle_hours, None);
    }

    #[test]
    fn session_idle_hours_from_file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jalon.yaml");
        std::fs::write(&path, "session_idle_hours: 2\n").unwrap();
        let cfg = NoticeConfig::load(Some(&path), env(&[])).unwrap();
        assert_eq!(cfg.session_idle(), chrono::Duration::hours(2));
        let cfg =
            NoticeConfig::load(Some(&path), env(&[("JALON_SESSION_IDLE_HOURS", "12")])).unwrap();
        assert_eq!(cfg.session_idle(), chrono::Duration::hours(12));
        let err = NoticeConfig::load(Some(&path), env(&[("JALON_SESSION_IDLE_HOURS", "huit")]))
            .unwrap_err();
        assert_eq!(
            err,
            "JALON_SESSION_IDLE_HOURS: `huit` is not a number of hours"
        );
        let err =
            NoticeConfig::load(Some(&path), env(&[("JALON_SESSION_IDLE_HOURS", "0")])).unwrap_err();
        assert!(
            err.starts_with("session_idle_hours: 0 is not between 1 and"),
            "{err}"
        );
    }

    #[test]
    fn the_shipped_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/jalon.example.yaml");
        let cfg = NoticeConfig::load(Some(&path), env(&[])).unwrap();
        assert_eq!(cfg.from(), "Jalon <jalon@ecoles.example.be>");
        assert!(cfg.smtp.is_none());
    }

    #[test]
    fn refusals_say_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jalon.yaml");
        std::fs::write(&path, "from: x\nsmpt:\n  host: a\n").unwrap();
        let err = NoticeConfig::load(Some(&path), env(&[])).unwrap_err();
        assert!(
            err.starts_with(&format!("{}:2:1:", path.display())),
            "{err}"
        );
        let err = NoticeConfig::load(
            None,
            env(&[
                ("JALON_SMTP_HOST", "mail.example.be"),
                ("JALON_SMTP_PORT", "x"),
            ]),
        )
        .unwrap_err();
        assert_eq!(err, "JALON_SMTP_PORT: `x` is not a number");
        // Credentials in clear to a remote relay are refused at start.
        let err = NoticeConfig::load(
            None,
            env(&[
                ("JALON_SMTP_HOST", "mail.example.be"),
                ("JALON_SMTP_TLS", "none"),
                ("JALON_SMTP_USERNAME", "u"),
                ("JALON_SMTP_PASSWORD", "p"),
            ]),
        )
        .unwrap_err();
        assert!(err.contains("in clear"), "{err}");
    }
}
