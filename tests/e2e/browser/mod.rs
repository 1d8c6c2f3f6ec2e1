//! The French pages driven in a real headless chromium (Debian's, through chromedriver),
//! against the real server on loopback: what a person sees and does, checked for WCAG 2.1 AA
//! with axe-core. Tools: `scripts/setup-browser`.

pub mod harness;

use crate::server::harness::{Backend, spawn_app};
use harness::{Browser, PHONE};

/// A page axe-core must pass: language, title, landmark, heading, an image with its text.
const CLEAN_PAGE: &str = "data:text/html;charset=utf-8,<!doctype html><html lang=fr><head>\
    <title>Essai</title></head><body><main><h1>Bonjour</h1>\
    <img src='data:image/gif;base64,R0lGODlhAQABAAAAACw=' alt='Logo'></main></body></html>";

/// The same page with the image's text taken away: WCAG 1.1.1, axe-core's `image-alt`.
const IMAGE_WITHOUT_ALT: &str = "data:text/html;charset=utf-8,<!doctype html><html lang=fr><head>\
    <title>Essai</title></head><body><main><h1>Bonjour</h1>\
    <img src='data:image/gif;base64,R0lGODlhAQABAAAAACw='></main></body></html>";

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
    let app = spawn_app(Backend::Sqlite).await;
    let Some(b) = Browser::start().await else {
        return;
    };

    b.goto(&format!("{}/healthz", app.base)).await;
    assert_eq!(b.text_of("body").await, "ok");

    let shot = b.screenshot("harness-healthz").await;
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{}", shot.display());
    // The PNG's width (IHDR, big-endian at byte 16) is the desktop viewport's.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 1280);

    b.phone().await;
    let (inner, scroll) = b.layout_widths().await;
    assert_eq!(inner, u64::from(PHONE.0));
    assert_eq!(scroll, u64::from(PHONE.0));
    b.assert_fits_width("harness-healthz-phone").await;
    let phone_png = std::fs::read(b.screenshot("harness-healthz-phone").await).unwrap();
    assert_eq!(
        u32::from_be_bytes(phone_png[16..20].try_into().unwrap()),
        PHONE.0
    );
}
