use chrono::{NaiveDate, TimeZone, Utc};
use engine::calendar::{Calendar, Length, Unit};

use super::*;
use crate::ics::Due;
use crate::message::{self, Outgoing};
use crate::render::Rendered;
use crate::test_support::{SmtpSink, TestCerts, leaves, parse_eml};

fn built(id: &str, to: &str) -> BuiltMessage {
    let deadline = Calendar::fwb()
        .deadline(
            NaiveDate::from_ymd_opt(2027, 2, 1).unwrap(),
            None,
            Some(Length::new(1, Unit::Months)),
        )
        .unwrap();
    let due = Due::from_deadline(&deadline, Some("art. 40"));
    let content = Rendered {
        subject: "Avis attendu au plus tard le lundi 1er mars 2027".into(),
        text: "Madame, Monsieur,\n\nÉchéance : lundi 1er mars 2027.\n".into(),
        html: None,
    };
    message::build(&Outgoing {
        notice_id: id,
        from: "Jalon <jalon@ecoles.example.be>",
        to_name: "Jean Lambert",
        to_email: to,
        date: Utc.with_ymd_and_hms(2027, 2, 1, 9, 0, 0).unwrap(),
        content: &content,
        due: Some(&due),
        url: None,
    })
    .unwrap()
}

/// A test that waits on a timeout must not hang if the timeout is broken.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(20), f)
        .await
        .expect("the SMTP transport's own timeout did not fire")
}

fn smtp_config(port: u16) -> SmtpConfig {
    serde_json::from_value(serde_json::json!({
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "from": "Jalon <jalon@ecoles.example.be>",
        "timeout_secs": 10,
        "pool_size": 2,
    }))
    .unwrap()
}

#[tokio::test]
async fn file_drop_writes_a_parseable_eml_and_rewrites_it_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let drop = Transport::FileDrop(FileDrop::new(dir.path().join("outbox")));
    let m = built("n-7", "jean.lambert@example.be");
    let sent = drop.deliver(&m).await.unwrap();
    let path = dir.path().join("outbox/n-7.eml");
    assert_eq!(sent.response, format!("written {}", path.display()));
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes, m.bytes);
    let parsed = parse_eml(&bytes);
    assert_eq!(
        parsed["headers"]["Message-ID"],
        "<notice-n-7@ecoles.example.be>"
    );
    assert_eq!(
        parsed["headers"]["Subject"],
        "Avis attendu au plus tard le lundi 1er mars 2027"
    );
    assert_eq!(leaves(&parsed["body"])[1]["content_type"], "text/calendar");

    drop.deliver(&m).await.unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["n-7.eml"], "no temporary file is left behind");
    assert_eq!(std::fs::read(&path).unwrap(), m.bytes);
}

#[test]
fn abandoned_temporary_files_are_not_notices_and_are_swept() {
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().unwrap();
    let drop = FileDrop::new(dir.path());
    assert_eq!(
        drop.remove_abandoned(SystemTime::now()).unwrap(),
        0,
        "no folder yet"
    );
    drop.deliver_blocking(&built("n-1", "jean.lambert@example.be"))
        .unwrap();
    // What a process killed between creating and renaming its temporary file leaves.
    let old = dir.path().join(".tmp-killed.part");
    let fresh = dir.path().join(".tmp-writing.part");
    std::fs::write(&old, b"half a mess").unwrap();
    std::fs::write(&fresh, b"being writ").unwrap();
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(hour_ago - Duration::from_secs(60))
        .unwrap();
    let emls: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    assert_eq!(emls, ["n-1.eml"], "a reader of *.eml sees only notices");

    assert_eq!(drop.remove_abandoned(hour_ago).unwrap(), 1);
    assert!(!old.exists());
    assert!(fresh.exists(), "a write that may be in progress is kept");
    assert!(dir.path().join("n-1.eml").exists());
}

#[tokio::test]
async fn file_drop_refuses_an_id_that_is_not_a_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = built("1", "jean.lambert@example.be");
    m.notice_id = "../escape".into();
    let e = FileDrop::new(dir.path()).deliver(&m).await.unwrap_err();
    assert_eq!(e.retry, Retry::Permanent);
    assert!(!dir.path().join("../escape.eml").exists());
}

#[tokio::test]
async fn smtp_delivers_the_exact_bytes_to_a_real_server() {
    let sink = SmtpSink::start();
    let smtp = Transport::Smtp(Smtp::new(&smtp_config(sink.port)).unwrap());
    let m = built("n-8", "jean.lambert@example.be");
    let sent = smtp.deliver(&m).await.unwrap();
    assert!(sent.response.starts_with("250 "), "{}", sent.response);
    assert!(sent.response.contains("queued as 1"), "{}", sent.response);

    let received = sink.next_message();
    assert_eq!(received.mail_from, "jalon@ecoles.example.be");
    assert_eq!(received.rcpt_tos, ["jean.lambert@example.be"]);
    let parsed = parse_eml(&received.data);
    let h = &parsed["headers"];
    assert_eq!(h["To"], "Jean Lambert <jean.lambert@example.be>");
    assert_eq!(
        h["Subject"],
        "Avis attendu au plus tard le lundi 1er mars 2027"
    );
    assert_eq!(h["Message-ID"], "<notice-n-8@ecoles.example.be>");
    let parts = leaves(&parsed["body"]);
    assert!(
        parts[0]["content"]
            .as_str()
            .unwrap()
            .contains("Échéance : lundi 1er mars 2027.")
    );
    let ics = parts[1]["content"].as_str().unwrap().replace("\r\n ", "");
    assert!(ics.contains("DTSTART;VALUE=DATE:20270301"), "{ics}");
    assert!(ics.contains("UID:notice-n-8@ecoles.example.be"), "{ics}");
    if let Transport::Smtp(s) = &smtp {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn smtp_authenticates_and_a_refused_login_is_permanent() {
    let sink = SmtpSink::start_with_auth();
    let with = |user: Option<&str>, password: Option<&str>| {
        let mut cfg = smtp_config(sink.port);
        cfg.username = user.map(str::to_string);
        cfg.password = password.map(str::to_string);
        Smtp::new(&cfg).unwrap()
    };
    let good = with(Some("jalon"), Some("secret"));
    let sent = good
        .deliver(&built("n-auth", "jean.lambert@example.be"))
        .await
        .unwrap();
    assert!(sent.response.starts_with("250 "), "{}", sent.response);
    assert_eq!(sink.next_message().rcpt_tos, ["jean.lambert@example.be"]);
    good.shutdown().await;

    let bad = with(Some("jalon"), Some("wrong"));
    let e = bad
        .deliver(&built("n-auth-2", "jean.lambert@example.be"))
        .await
        .unwrap_err();
    assert_eq!(e.retry, Retry::Permanent, "{e}");
    assert!(e.message.contains("535"), "{e}");
    bad.shutdown().await;

    // No credentials for a relay that requires them: refused, and said so.
    let none = with(None, None);
    let e = none
        .deliver(&built("n-auth-3", "jean.lambert@example.be"))
        .await
        .unwrap_err();
    assert_eq!(e.retry, Retry::Permanent, "{e}");
    assert!(e.message.contains("530"), "{e}");
    none.shutdown().await;
    assert!(
        sink.message_within(std::time::Duration::from_millis(300))
            .is_none()
    );
}

#[tokio::test]
async fn smtp_over_starttls_and_tls_checks_the_relay_certificate() {
    let certs = TestCerts::generate();
    for implicit in [false, true] {
        let sink = SmtpSink::start_tls(&certs, implicit);
        let mut cfg = smtp_config(sink.port);
        cfg.tls = if implicit {
            TlsMode::Tls
        } else {
            TlsMode::Starttls
        };
        // Signed by an authority that is not a public root: refused, and retried later.
        let untrusted = Smtp::new(&cfg).unwrap();
        let e = untrusted
            .deliver(&built("n-tls-0", "jean.lambert@example.be"))
            .await
            .unwrap_err();
        assert_eq!(e.retry, Retry::Transient, "{e}");
        assert!(e.message.to_lowercase().contains("certificate"), "{e}");
        untrusted.shutdown().await;
        // With the authority trusted (`ca_file`), delivered over TLS.
        cfg.ca_file = Some(certs.ca.clone());
        let trusted = Smtp::new(&cfg).unwrap();
        let sent = trusted
            .deliver(&built("n-tls-1", "jean.lambert@example.be"))
            .await
            .unwrap_or_else(|e| panic!("implicit={implicit}: {e}"));
        assert!(sent.response.starts_with("250 "), "{}", sent.response);
        let m = sink.next_message();
        assert_eq!(m.rcpt_tos, ["jean.lambert@example.be"]);
        trusted.shutdown().await;
    }
    // STARTTLS required but the relay does not offer it: nothing is sent in clear.
    let plain = SmtpSink::start();
    let mut cfg = smtp_config(plain.port);
    cfg.tls = TlsMode::Starttls;
    let smtp = Smtp::new(&cfg).unwrap();
    assert!(
        smtp.deliver(&built("n-tls-2", "jean.lambert@example.be"))
            .await
            .is_err()
    );
    assert!(
        plain
            .message_within(std::time::Duration::from_millis(300))
            .is_none()
    );
    smtp.shutdown().await;
    // An unreadable authority file is said at start.
    cfg.ca_file = Some("/nonexistent/ca.pem".into());
    let e = Smtp::new(&cfg).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
}

#[tokio::test]
async fn smtp_replies_are_classified() {
    let sink = SmtpSink::start();
    let smtp = Smtp::new(&smtp_config(sink.port)).unwrap();
    let e = smtp
        .deliver(&built("n-9", "reject@example.be"))
        .await
        .unwrap_err();
    assert_eq!(e.retry, Retry::Permanent, "{e}");
    assert!(e.message.contains("550"), "{e}");
    let e = smtp
        .deliver(&built("n-10", "defer@example.be"))
        .await
        .unwrap_err();
    assert_eq!(e.retry, Retry::Transient, "{e}");
    assert!(e.message.contains("451"), "{e}");
    // The pool still works after refusals.
    smtp.deliver(&built("n-11", "ok@example.be")).await.unwrap();
    assert_eq!(sink.next_message().rcpt_tos, ["ok@example.be"]);
    smtp.shutdown().await;
}

#[tokio::test]
async fn smtp_down_is_transient() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let smtp = Smtp::new(&smtp_config(port)).unwrap();
    let e = smtp
        .deliver(&built("n-12", "jean.lambert@example.be"))
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(e.message.starts_with(&format!("127.0.0.1:{port}: ")), "{e}");
}

#[tokio::test]
async fn a_silent_server_times_out_as_transient() {
    // Accepts the connection and never greets: lettre gives up after `timeout_secs`.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || listener.accept().map(|(socket, _)| socket));
    let mut config = smtp_config(port);
    config.timeout_secs = 1;
    let smtp = Smtp::new(&config).unwrap();
    let e = bounded(smtp.deliver(&built("n-13", "jean.lambert@example.be")))
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert_eq!(e.message, format!("127.0.0.1:{port}: no answer within 1 s"));
    drop(holder.join().unwrap());
}

/// After a timeout the transport starts a fresh pool, and it delivers again.
#[tokio::test]
async fn the_transport_recovers_after_a_timeout() {
    let sink = SmtpSink::start();
    let mut config = smtp_config(sink.port);
    config.timeout_secs = 1;
    config.pool_size = 1;
    let smtp = Smtp::new(&config).unwrap();
    smtp.deliver(&built("n-14", "a@example.be")).await.unwrap();
    assert_eq!(sink.next_message().rcpt_tos, ["a@example.be"]);
    // The sink holds `slow@` recipients past the timeout.
    let e = bounded(smtp.deliver(&built("n-15", "slow@example.be")))
        .await
        .unwrap_err();
    assert!(
        e.is_transient() && e.message.contains("no answer within 1 s"),
        "{e}"
    );
    smtp.deliver(&built("n-16", "b@example.be")).await.unwrap();
    assert_eq!(sink.next_message().rcpt_tos, ["b@example.be"]);
    smtp.shutdown().await;
}

#[test]
fn smtp_configuration_is_checked() {
    let base = smtp_config(2525);
    let with = |f: &dyn Fn(&mut SmtpConfig)| {
        let mut c = base.clone();
        f(&mut c);
        c.check()
    };
    assert_eq!(with(&|_| {}), Ok(()));
    assert_eq!(
        with(&|c| c.from = "nobody".into()),
        Err(ConfigError::From("nobody".into()))
    );
    assert_eq!(
        with(&|c| c.username = Some("u".into())),
        Err(ConfigError::HalfCredentials)
    );
    assert_eq!(
        with(&|c| {
            c.host = "smtp.example.be".into();
            c.username = Some("u".into());
            c.password = Some("p".into());
        }),
        Err(ConfigError::ClearCredentials("smtp.example.be".into()))
    );
    assert_eq!(
        with(&|c| {
            c.username = Some("u".into());
            c.password = Some("p".into());
        }),
        Ok(()),
        "credentials in clear are fine on loopback"
    );
    assert_eq!(with(&|c| c.timeout_secs = 0), Err(ConfigError::Timeout(0)));
    assert_eq!(with(&|c| c.pool_size = 0), Err(ConfigError::PoolSize(0)));
    assert_eq!(
        with(&|c| {
            c.host = "smtp.example.be".into();
            c.tls = TlsMode::Starttls;
        }),
        Ok(())
    );
}

#[tokio::test]
async fn smtp_transports_are_built_in_a_runtime_only() {
    let plain = smtp_config(2525);
    assert!(Smtp::new(&plain).is_ok());
    let mut tls = plain.clone();
    tls.host = "smtp.example.be".into();
    tls.tls = TlsMode::Tls;
    assert!(Smtp::new(&tls).is_ok());
    let outside = std::thread::spawn(move || Smtp::new(&plain).map(|_| ()))
        .join()
        .unwrap();
    assert_eq!(outside, Err(ConfigError::NoRuntime));
}

#[test]
fn smtp_config_reads_with_defaults_and_hides_the_password() {
    let c: SmtpConfig = serde_json::from_value(serde_json::json!({
        "host": "smtp.example.be",
        "from": "jalon@example.be",
        "username": "jalon",
        "password": "s3cret",
    }))
    .unwrap();
    assert_eq!(c.tls, TlsMode::Starttls);
    assert_eq!(c.port(), 587);
    assert_eq!((c.timeout_secs, c.pool_size), (30, 4));
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("s3cret") && shown.contains("<redacted>"),
        "{shown}"
    );
    let tls: SmtpConfig = serde_json::from_value(serde_json::json!({
        "host": "smtp.example.be", "from": "jalon@example.be", "tls": "tls"
    }))
    .unwrap();
    assert_eq!(tls.port(), 465);
    assert!(
        serde_json::from_value::<SmtpConfig>(serde_json::json!({
            "host": "h", "from": "f@x.be", "tsl": "none"
        }))
        .is_err(),
        "unknown keys are refused"
    );
}

/// The dispatcher runs this many deliveries at once: with SMTP no more than the pool's
/// connections, so that none waits for a connection inside its own timeout.
#[tokio::test]
async fn deliveries_side_by_side_follow_the_smtp_pool() {
    let mut cfg = smtp_config(2525);
    cfg.pool_size = 6;
    assert_eq!(Transport::Smtp(Smtp::new(&cfg).unwrap()).side_by_side(), 6);
    let dir = tempfile::tempdir().unwrap();
    let files = Transport::FileDrop(FileDrop::new(dir.path().to_path_buf()));
    assert!(files.side_by_side() > 6);
}
