//! The French pages driven in a real headless chromium (Debian's, through chromedriver),
//! against the real server on loopback: what a person sees and does, checked for WCAG 2.1 AA
//! with axe-core. Tools: `scripts/setup-browser`.

pub mod harness;
mod scenarios;

use crate::server::harness::{Backend, spawn_app};
use harness::{Browser, DESKTOP, PHONE};

/// A page axe-core must pass: language, title, landmark, heading, an image with its text.
const CLEAN_PAGE: &str = "data:text/html;charset=utf-8,<!doctype html><html lang=fr><head>\
    <title>Essai</title></head><body><main><h1>Bonjour</h1>\
    <img src='data:image/gif;base64,R0lGODlhAQABAAAAACw=' alt='Logo'></main></body></html>";

/// The same page with the image's text taken away: WCAG 1.1.1, axe-core's `image-alt`.
const IMAGE_WITHOUT_ALT: &str = "data:text/html;charset=utf-8,<!doctype html><html lang=fr><head>\
    <title>Essai</title></head><body><main><h1>Bonjour</h1>\
    <img src='data:image/gif;base64,R0lGODlhAQABAAAAACw='></main></body></html>";

/// A PNG's width and height (its IHDR chunk, big-endian, right after the signature).
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

/// The check can fail: the page that lacks an `alt` is reported, at that image, and the page
/// that differs only by the `alt` is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_reports_an_image_without_text_and_passes_the_same_page_with_it() {
    let Some(b) = Browser::start().await else {
        return;
    };

    b.goto(IMAGE_WITHOUT_ALT).await;
    let found = b.axe().await;
    let ids: Vec<&str> = found.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["image-alt"], "{found:#?}");
    assert_eq!(found[0].nodes.len(), 1, "{found:#?}");
    assert_eq!(found[0].nodes[0].target, ["img"], "{found:#?}");
    assert_eq!(found[0].impact, "critical");

    let report = b
        .check_accessible("harness-image-without-alt")
        .await
        .expect_err("the check must fail on a page axe-core rejects");
    assert!(report.contains("image-alt"), "{report}");
    assert!(report.contains("<img src="), "{report}");
    assert!(
        std::path::Path::new(&harness::screenshots_dir())
            .join("harness-image-without-alt-axe.png")
            .is_file()
    );

    b.goto(CLEAN_PAGE).await;
    assert_eq!(b.axe().await.len(), 0);
    b.assert_accessible("harness-clean-page").await;
}

/// The browser reaches the real server on loopback, reads the page, screenshots it at desktop
/// and phone size (the phone viewport really is 390 CSS pixels wide).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_reads_and_screenshots_a_page_of_the_real_server() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;

    b.goto(&format!("{}/healthz", app.base)).await;
    assert_eq!(b.text_of("body").await, "ok");

    let shot = b.screenshot("harness-healthz").await;
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(png_size(&png), DESKTOP, "{}", shot.display());

    assert_eq!(b.viewport().await, DESKTOP);
    b.phone().await;
    assert_eq!(b.viewport().await, PHONE);
    let (inner, scroll) = b.layout_widths().await;
    assert_eq!(inner, u64::from(PHONE.0));
    assert_eq!(scroll, u64::from(PHONE.0));
    b.assert_fits_width("harness-healthz-phone").await;
    let phone_png = std::fs::read(b.screenshot("harness-healthz-phone").await).unwrap();
    assert_eq!(png_size(&phone_png), PHONE);
}

/// The sign-in page as a person meets it: accessible at desktop and phone size, the empty
/// request refused next to the field, a filled one answered with the neutral message. The
/// form is posted by the browser itself, so the server's same-origin check sees a real
/// `Origin` header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_page_is_accessible_and_its_form_works_in_the_browser() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;

    b.goto(&format!("{}/connexion", app.base)).await;
    assert_eq!(b.text_of("h1").await, "Connexion");
    b.assert_accessible("connexion").await;
    b.screenshot("connexion").await;
    b.phone().await;
    b.assert_fits_width("connexion-phone").await;
    b.screenshot("connexion-phone").await;
    b.desktop().await;

    b.submit("Recevoir un lien de connexion").await;
    assert_eq!(
        b.text_of("#email-erreur").await,
        "Indiquez votre adresse électronique."
    );
    let email = b.field("Adresse électronique (obligatoire)").await;
    assert_eq!(
        email.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    b.assert_accessible("connexion-erreur").await;

    b.fill(
        "Adresse électronique (obligatoire)",
        "personne@ecoles.example.be",
    )
    .await;
    b.submit("Recevoir un lien de connexion").await;
    assert!(
        b.current_url().await.ends_with("/connexion?envoye=1"),
        "{}",
        b.current_url().await
    );
    assert!(
        b.text_of("[role=status]").await.starts_with(
            "Si cette adresse est connue, un lien de connexion vient d'y être envoyé."
        ),
        "{}",
        b.text_of("main").await
    );
    b.assert_accessible("connexion-envoye").await;
}

/// A page whose script would rename it: with JavaScript on it does, with it off it does not;
/// the harness's sizes and screenshots still work in the browser without JavaScript.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_without_javascript_runs_no_page_script_but_still_checks_the_page() {
    const SCRIPTED: &str = "data:text/html;charset=utf-8,<!doctype html><html lang=fr><head>\
        <title>Sans script</title></head><body><main><h1>Titre</h1>\
        <script>document.title = 'Avec script'</script></main></body></html>";
    let Some(on) = Browser::start().await else {
        return;
    };
    on.goto(SCRIPTED).await;
    assert_eq!(on.title().await, "Avec script");
    drop(on);

    let Some(off) = Browser::start_without_javascript().await else {
        return;
    };
    off.goto(SCRIPTED).await;
    assert_eq!(off.title().await, "Sans script");
    assert_eq!(off.viewport().await, DESKTOP);
    let shot = std::fs::read(off.screenshot("harness-sans-javascript").await).unwrap();
    assert_eq!(png_size(&shot), DESKTOP);
}
