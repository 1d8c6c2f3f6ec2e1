//! What the tests share: an independent email parser (Python's `email` package) and a real
//! SMTP server on loopback (Python's `aiosmtpd`), both from the test virtualenv that
//! `scripts/test` installs and points `JALON_PYTHON` at.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use serde_json::Value;

pub fn python() -> String {
    std::env::var("JALON_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn script(name: &str) -> String {
    format!("{}/../scripts/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The message as Python's `email` reads it: `{headers, body: {content_type, parts|content}}`.
pub fn parse_eml(bytes: &[u8]) -> Value {
    let mut child = Command::new(python())
        .arg(script("eml_to_json.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run scripts/test", python()));
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "eml_to_json.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The leaf parts of a parsed message, depth first.
pub fn leaves(part: &Value) -> Vec<&Value> {
    match part["parts"].as_array() {
        Some(parts) => parts.iter().flat_map(leaves).collect(),
        None => vec![part],
    }
}

/// One message as the SMTP server received it.
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub data: Vec<u8>,
}

/// `scripts/smtp_sink.py`, listening on a free loopback port; killed on drop.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    lines: Receiver<String>,
}

/// Long enough for a slow start, short enough that a broken test does not hang.
const WAIT: Duration = Duration::from_secs(30);

impl SmtpSink {
    pub fn start() -> SmtpSink {
        SmtpSink::start_on(0)
    }

    /// On a given port (0: any free one), e.g. the port a server was sending to while down.
    pub fn start_on(port: u16) -> SmtpSink {
        SmtpSink::spawn(port, None)
    }

    /// One that requires SMTP AUTH as `jalon` / `secret` (without TLS: loopback only).
    pub fn start_with_auth() -> SmtpSink {
        SmtpSink::spawn(0, Some("auth".into()))
    }

    /// One that requires STARTTLS (`implicit`: TLS from the first byte instead), presenting the
    /// certificate of `certs` for 127.0.0.1.
    pub fn start_tls(certs: &TestCerts, implicit: bool) -> SmtpSink {
        let kind = if implicit { "tls" } else { "starttls" };
        let mode = format!(
            "{kind}:{}:{}",
            certs.server_cert.display(),
            certs.server_key.display()
        );
        SmtpSink::spawn(0, Some(mode))
    }

    fn spawn(port: u16, mode: Option<String>) -> SmtpSink {
        let mut args = vec![script("smtp_sink.py"), "120".to_string(), port.to_string()];
        args.extend(mode);
        let mut child = Command::new(python())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; run scripts/test", python()));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(WAIT).unwrap_or_else(|_| {
            panic!("the SMTP sink did not start (is aiosmtpd installed? run scripts/test)")
        });
        let port = serde_json::from_str::<Value>(&first).unwrap()["port"]
            .as_u64()
            .unwrap() as u16;
        SmtpSink { child, port, lines }
    }

    pub fn next_message(&self) -> Received {
        self.message_within(WAIT)
            .expect("the SMTP sink received no message")
    }

    /// The next message, or `None` if none arrives within `wait`.
    pub fn message_within(&self, wait: Duration) -> Option<Received> {
        let line = self.lines.recv_timeout(wait).ok()?;
        let v: Value = serde_json::from_str(&line).unwrap();
        // The sink sends the bytes as a latin-1 string: one char per byte.
        let data = v["data"]
            .as_str()
            .unwrap()
            .chars()
            .map(|c| c as u8)
            .collect();
        Some(Received {
            mail_from: v["mail_from"].as_str().unwrap().to_string(),
            rcpt_tos: v["rcpt_tos"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect(),
            data,
        })
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway certificate authority and a server certificate it signed for 127.0.0.1 and
/// localhost, made with the `openssl` command (Debian's, present on every machine here).
pub struct TestCerts {
    _dir: tempfile::TempDir,
    pub ca: std::path::PathBuf,
    pub server_cert: std::path::PathBuf,
    pub server_key: std::path::PathBuf,
}

impl TestCerts {
    pub fn generate() -> TestCerts {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=jalon test CA"];
        ca.extend(ec);
        ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
        openssl(&ca);
        let mut csr = vec!["req", "-subj", "/CN=localhost"];
        csr.extend(ec);
        csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
        openssl(&csr);
        std::fs::write(
            at("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]);
        TestCerts {
            ca: at("ca.pem"),
            server_cert: at("server.pem"),
            server_key: at("server.key"),
            _dir: dir,
        }
    }
}
