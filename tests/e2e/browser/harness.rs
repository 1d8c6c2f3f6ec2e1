//! `Browser`: Debian's chromium, headless, driven through its own chromedriver on a free
//! loopback port, with a throw-away profile. Helpers find fields by their visible label (the
//! way a person does, and so a field without a label cannot be filled), write screenshots under
//! `target/screenshots/`, and run axe-core for WCAG 2.1 AA.
//!
//! The tools come from `scripts/setup-browser` (`scripts/test` runs it). Without them the tests
//! fail and say so; `JALON_SKIP_BROWSER=1` is the only way to skip them.

// A toolkit for the scenarios: some helpers wait for the scenario that needs them.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Bound of every single wait: start of chromedriver, session creation, page load, script,
/// one command. A hung browser fails the test instead of hanging the suite.
const WAIT: Duration = Duration::from_secs(20);

pub const DESKTOP: (u32, u32) = (1280, 900);
/// An ordinary phone in portrait (CSS pixels).
pub const PHONE: (u32, u32) = (390, 844);

/// The WCAG levels the pages promise (A and AA of 2.0 and 2.1), as axe-core's tags.
const WCAG_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tool_path(var: &str, default: PathBuf) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or(default)
}

fn chromium_path() -> PathBuf {
    tool_path("JALON_CHROMIUM", "/usr/bin/chromium".into())
}

fn chromedriver_path() -> PathBuf {
    tool_path("JALON_CHROMEDRIVER", "/usr/bin/chromedriver".into())
}

fn axe_path() -> PathBuf {
    tool_path(
        "JALON_AXE",
        manifest_dir().join("target/browser-tools/node_modules/axe-core/axe.min.js"),
    )
}

/// Where `screenshot(name)` writes `name.png`.
pub fn screenshots_dir() -> PathBuf {
    manifest_dir().join("target/screenshots")
}

/// One rule axe-core found broken, with the elements that break it.
#[derive(Debug, Clone)]
pub struct Violation {
    /// axe-core's rule id, e.g. `image-alt`, `label`, `color-contrast`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: String,
    pub help: String,
    pub help_url: String,
    pub nodes: Vec<ViolationNode>,
}

#[derive(Debug, Clone)]
pub struct ViolationNode {
    /// CSS selector(s) of the element (one per frame level).
    pub target: Vec<String>,
    /// The element's opening HTML, as axe-core quotes it.
    pub html: String,
    /// axe-core's "Fix any of the following" text.
    pub failure_summary: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "[{}] {} ({}) {}",
            self.impact, self.id, self.help, self.help_url
        )?;
        for node in &self.nodes {
            writeln!(f, "    at {}: {}", node.target.join(" "), node.html)?;
            for line in node.failure_summary.lines() {
                writeln!(f, "      {line}")?;
            }
        }
        Ok(())
    }
}

/// A headless chromium with its chromedriver. Dropping it kills both (and chromium's helper
/// processes): they run in a process group of their own, killed by its id.
pub struct Browser {
    pub client: Client,
    /// Whether the pages' scripts run (`start`) or not (`start_without_javascript`).
    pub javascript: bool,
    driver: Child,
    /// chromium's profile and chromedriver's log; removed after the processes are killed.
    dir: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver was started as the leader of a new process group, which chromium and its
        // helpers inherit: one signal to the group reaches exactly the processes this test began.
        kill_browser(&mut self.driver, self.dir.path());
    }
}

/// Fails the test with what to do: missing tools are a broken setup, not a reason to skip.
/// Returns false when the browser tests are explicitly switched off.
fn tools_present() -> bool {
    if std::env::var("JALON_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("browser test skipped: JALON_SKIP_BROWSER=1");
        return false;
    }
    let missing: Vec<String> = [chromium_path(), chromedriver_path(), axe_path()]
        .into_iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "the browser tests need {}: run scripts/setup-browser \
         (or set JALON_CHROMIUM / JALON_CHROMEDRIVER / JALON_AXE; JALON_SKIP_BROWSER=1 skips them)",
        missing.join(", ")
    );
    true
}

/// Kills what one `Browser` started, by process id: the process group chromedriver leads
/// (chromium and most of its helpers inherit it), then any process left whose command line
/// names this browser's own temporary directory (chromium's crash handler starts a session of
/// its own; its database lives under the `HOME` the browser was given, in that directory).
fn kill_browser(leader: &mut Child, dir: &Path) {
    // dash's `kill` takes a negative id as a process group (and no `--`).
    let _ = Command::new("sh")
        .args(["-c", "kill -9 -$1", "sh", &leader.id().to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = leader.kill();
    let _ = leader.wait();
    let marker = dir.as_os_str().as_encoded_bytes();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    let left: Vec<String> = procs
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if !left.is_empty() {
        let _ = Command::new("sh")
            .args(["-c", "kill -9 \"$@\"", "sh"])
            .args(&left)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The port chromedriver says it listens on, from its standard output (`--port=0`: it binds
/// a free port itself, so no other process can take the port between choosing and binding
/// it). The rest of its output is read and dropped, so that it never blocks on a full pipe.
fn announced_port(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<u16> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let port = line
                .strip_prefix("ChromeDriver was started successfully on port ")
                .and_then(|p| p.trim_end_matches('.').parse::<u16>().ok());
            if let Some(port) = port {
                let _ = tx.send(port);
            }
        }
    });
    rx
}

/// Runs one browser step within `WAIT`, failing the test with `what` otherwise.
async fn bounded<T, E: std::fmt::Debug>(
    what: &str,
    step: impl std::future::Future<Output = Result<T, E>>,
) -> T {
    match tokio::time::timeout(WAIT, step).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("browser: {what}: {e:?}"),
        Err(_) => panic!("browser: {what}: no answer within {WAIT:?}"),
    }
}

/// An XPath 1.0 string literal for any text (French labels contain apostrophes).
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

impl Browser {
    /// Starts chromedriver and a headless chromium at desktop size (`DESKTOP`).
    /// `None` only when `JALON_SKIP_BROWSER=1`; missing tools fail the test.
    pub async fn start() -> Option<Browser> {
        Self::launch(true).await
    }

    /// Like `start`, with JavaScript switched off in the pages (the pages must work without
    /// it). The harness's synchronous scripts (sizes, screenshots) still run, but axe-core
    /// cannot: it waits on timers, which do not fire there. Check accessibility in a `start`
    /// browser (the pages have no script of their own, so they are the same there).
    pub async fn start_without_javascript() -> Option<Browser> {
        Self::launch(false).await
    }

    async fn launch(javascript: bool) -> Option<Browser> {
        if !tools_present() {
            return None;
        }
        let began = Instant::now();
        let dir = tempfile::tempdir().expect("temporary directory for the browser");
        let log = dir.path().join("chromedriver.log");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("browser home directory");
        let mut driver = Command::new(chromedriver_path())
            .arg("--port=0")
            .arg(format!("--log-path={}", log.display()))
            // chromium writes its crash database and settings under HOME: keep them in this
            // browser's directory, out of the user's and findable at the end.
            .env("HOME", &home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver_path().display()));
        let announced = announced_port(driver.stdout.take().expect("piped"));
        // From here on, a failure must still kill chromedriver: hold it in a guard until the
        // Browser owns it.
        struct Guard<'a>(Option<Child>, &'a Path);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                if let Some(mut c) = self.0.take() {
                    kill_browser(&mut c, self.1);
                }
            }
        }
        let mut guard = Guard(Some(driver), dir.path());
        let log_tail = || std::fs::read_to_string(&log).unwrap_or_default();
        let deadline = Instant::now() + WAIT;
        let port = loop {
            if let Ok(port) = announced.try_recv() {
                break port;
            }
            if let Some(status) = guard.0.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("chromedriver exited at start ({status}):\n{}", log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver not listening after {WAIT:?}:\n{}",
                log_tail()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        let url = format!("http://127.0.0.1:{port}");

        let profile = dir.path().join("profile");
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            // French pages, French browser: what a user of the Fédération gets.
            "--lang=fr-BE",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push(format!("--window-size={},{}", DESKTOP.0, DESKTOP.1));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium_path(),
                "args": args,
                // 1 allows, 2 blocks: the profile setting a person flips in the settings page.
                "prefs": { "profile.managed_default_content_settings.javascript":
                           if javascript { 1 } else { 2 } },
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = match tokio::time::timeout(
            WAIT,
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&url),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!("chromium session: {e}\n{}", log_tail()),
            Err(_) => panic!(
                "chromium session not created within {WAIT:?}\n{}",
                log_tail()
            ),
        };
        driver = guard.0.take().expect("chromedriver still guarded");
        drop(guard);
        let browser = Browser {
            client,
            javascript,
            driver,
            dir,
        };
        bounded(
            "set timeouts",
            browser.client.update_timeouts(TimeoutConfiguration::new(
                Some(WAIT),
                Some(WAIT),
                Some(Duration::ZERO),
            )),
        )
        .await;
        browser.resize(DESKTOP).await;
        eprintln!("browser started in {:?}", began.elapsed());
        Some(browser)
    }

    /// chromedriver's log so far (for a failure message).
    pub fn driver_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// Navigates and waits for the load (bounded).
    pub async fn goto(&self, url: &str) {
        bounded(&format!("open {url}"), self.client.goto(url)).await;
    }

    pub async fn current_url(&self) -> String {
        bounded("current url", self.client.current_url())
            .await
            .to_string()
    }

    pub async fn title(&self) -> String {
        bounded("title", self.client.title()).await
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        bounded("page source", self.client.source()).await
    }

    /// The one element matching a CSS selector (fails the test if none).
    pub async fn find(&self, css: &str) -> Element {
        bounded(&format!("find {css}"), self.client.find(Locator::Css(css))).await
    }

    /// Every element matching a CSS selector (possibly none).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        bounded(
            &format!("find all {css}"),
            self.client.find_all(Locator::Css(css)),
        )
        .await
    }

    /// Whether any element matches a CSS selector.
    pub async fn exists(&self, css: &str) -> bool {
        !self.find_all(css).await.is_empty()
    }

    /// The visible text of the first element matching a CSS selector.
    pub async fn text_of(&self, css: &str) -> String {
        let el = self.find(css).await;
        bounded(&format!("text of {css}"), el.text()).await
    }

    /// The visible texts of every element matching a CSS selector, in page order.
    pub async fn texts_of(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for el in self.find_all(css).await {
            out.push(bounded(&format!("text of {css}"), el.text()).await);
        }
        out
    }

    /// The form control whose `<label>` reads exactly `label` (whitespace collapsed): by the
    /// label's `for`, or the control inside the label.
    pub async fn field(&self, label: &str) -> Element {
        let lit = xpath_literal(label);
        let xpath = format!(
            "//*[@id=//label[normalize-space(.)={lit}]/@for] \
             | //label[normalize-space(.)={lit}]//*[self::input or self::select or self::textarea]"
        );
        let found = bounded(
            &format!("field labelled {label:?}"),
            self.client.find_all(Locator::XPath(&xpath)),
        )
        .await;
        match found.len() {
            1 => found.into_iter().next().unwrap(),
            0 => panic!(
                "no field labelled {label:?} on {}; labels there: {:?}",
                self.current_url().await,
                self.texts_of("label").await
            ),
            n => panic!(
                "{n} fields labelled {label:?} on {}",
                self.current_url().await
            ),
        }
    }

    /// Types `value` into the field labelled `label` (replacing what it held), or picks the
    /// option whose text is `value` in a `<select>`.
    pub async fn fill(&self, label: &str, value: &str) {
        let el = self.field(label).await;
        self.fill_element(&el, label, value).await;
    }

    /// Like `fill`, for a field found by CSS selector (for fields a test must reach without a
    /// label, e.g. to prove the server rejects a tampered hidden input).
    pub async fn fill_css(&self, css: &str, value: &str) {
        let el = self.find(css).await;
        self.fill_element(&el, css, value).await;
    }

    async fn fill_element(&self, el: &Element, what: &str, value: &str) {
        let tag = bounded("tag name", el.tag_name()).await;
        if tag.eq_ignore_ascii_case("select") {
            bounded(
                &format!("choose {value:?} in {what}"),
                el.select_by_label(value),
            )
            .await;
        } else {
            bounded(&format!("clear {what}"), el.clear()).await;
            bounded(&format!("type into {what}"), el.send_keys(value)).await;
        }
    }

    /// Ticks or unticks the checkbox labelled `label`.
    pub async fn set_checked(&self, label: &str, checked: bool) {
        let el = self.field(label).await;
        let now = bounded("checkbox state", el.is_selected()).await;
        if now != checked {
            bounded(&format!("click {label}"), el.click()).await;
        }
    }

    /// Clicks the button (or submit input) whose text is `button` and waits for the page it
    /// leads to. With JavaScript-free forms this is the form's POST and the GET it redirects to.
    pub async fn submit(&self, button: &str) {
        let lit = xpath_literal(button);
        let xpath = format!(
            "//button[normalize-space(.)={lit}] | //input[(@type='submit' or @type='button') and @value={lit}]"
        );
        let found = bounded(
            &format!("button {button:?}"),
            self.client.find_all(Locator::XPath(&xpath)),
        )
        .await;
        let Some(el) = found.into_iter().next() else {
            panic!("no button {button:?} on {}", self.current_url().await);
        };
        let page = self.find("html").await;
        bounded(&format!("click {button:?}"), el.click()).await;
        self.wait_replaced(&page, &format!("button {button:?}"))
            .await;
    }

    /// Clicks the link whose text is `text` and waits for the page.
    pub async fn click_link(&self, text: &str) {
        let lit = xpath_literal(text);
        let el = bounded(
            &format!("link {text:?}"),
            self.client
                .find(Locator::XPath(&format!("//a[normalize-space(.)={lit}]"))),
        )
        .await;
        let page = self.find("html").await;
        bounded(&format!("click link {text:?}"), el.click()).await;
        self.wait_replaced(&page, &format!("link {text:?}")).await;
    }

    /// Waits (bounded) until the document `page` (its `html` element, taken before a click) is
    /// gone and the next one has loaded. A click returns before the navigation it starts: the
    /// old document is still there, "complete", for a moment.
    async fn wait_replaced(&self, page: &Element, what: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            // While the navigation runs, chromedriver may answer other errors for a moment:
            // only "stale" says the old document is gone; the rest are tried again.
            let last = match page.tag_name().await {
                Err(e) if e.is_stale_element_reference() => break,
                Err(e) => format!("{e:?}"),
                Ok(_) => "the old page is still shown".to_owned(),
            };
            assert!(
                Instant::now() < deadline,
                "{what} led to no new page within {WAIT:?} ({}): {last}",
                self.current_url().await
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.wait_loaded().await;
    }

    /// Waits (bounded) until the current document has finished loading.
    pub async fn wait_loaded(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let state = bounded(
                "document state",
                self.client.execute("return document.readyState", vec![]),
            )
            .await;
            if state == "complete" {
                return;
            }
            assert!(Instant::now() < deadline, "page not loaded after {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sets the viewport (the page's area, what CSS media queries see) to `width` x `height`
    /// CSS pixels. The window is larger by headless chromium's invisible frame (143 px high in
    /// chromium 156): measured and made up for, so the viewport is exact.
    pub async fn resize(&self, (width, height): (u32, u32)) {
        bounded("resize", self.client.set_window_size(width, height)).await;
        let (inner_w, inner_h) = self.viewport().await;
        if (inner_w, inner_h) != (width, height) {
            let frame_w = width.saturating_sub(inner_w);
            let frame_h = height.saturating_sub(inner_h);
            bounded(
                "resize",
                self.client
                    .set_window_size(width + frame_w, height + frame_h),
            )
            .await;
        }
    }

    /// The viewport's size in CSS pixels.
    pub async fn viewport(&self) -> (u32, u32) {
        let v = bounded(
            "viewport size",
            self.client
                .execute("return [window.innerWidth, window.innerHeight]", vec![]),
        )
        .await;
        let dim = |i: usize| v[i].as_u64().and_then(|n| u32::try_from(n).ok());
        (dim(0).expect("innerWidth"), dim(1).expect("innerHeight"))
    }

    /// Phone size (`PHONE`), for the responsive checks.
    pub async fn phone(&self) {
        self.resize(PHONE).await;
    }

    /// Back to `DESKTOP`.
    pub async fn desktop(&self) {
        self.resize(DESKTOP).await;
    }

    /// The viewport's inner size in CSS pixels and the page's scroll width (wider than the
    /// viewport means a horizontal scroll bar: the layout does not fit).
    pub async fn layout_widths(&self) -> (u64, u64) {
        let v = bounded(
            "layout widths",
            self.client.execute(
                "return [window.innerWidth, document.documentElement.scrollWidth]",
                vec![],
            ),
        )
        .await;
        (
            v[0].as_u64().expect("innerWidth"),
            v[1].as_u64().expect("scrollWidth"),
        )
    }

    /// Asserts the page fits the current viewport's width (no horizontal scrolling), e.g. after
    /// `phone()`; WCAG 1.4.10 reflow.
    pub async fn assert_fits_width(&self, name: &str) {
        let (inner, scroll) = self.layout_widths().await;
        if scroll > inner {
            self.screenshot(&format!("{name}-overflow")).await;
            panic!(
                "{name}: the page is {scroll}px wide in a {inner}px viewport ({}); screenshot {}",
                self.current_url().await,
                screenshots_dir()
                    .join(format!("{name}-overflow.png"))
                    .display()
            );
        }
    }

    /// Writes a PNG of the whole page (not only the viewport) to
    /// `target/screenshots/<name>.png` and returns its path. The viewport is stretched to the
    /// page's height for the shot, then restored.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let (w, h) = self.viewport().await;
        let full = bounded(
            "page height",
            self.client.execute(
                "return Math.ceil(document.documentElement.scrollHeight)",
                vec![],
            ),
        )
        .await
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(h);
        let tall = full.clamp(h, 10_000);
        if tall != h {
            self.resize((w, tall)).await;
        }
        let png = bounded("screenshot", self.client.screenshot()).await;
        if tall != h {
            self.resize((w, h)).await;
        }
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("create target/screenshots");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Runs axe-core (WCAG 2.0/2.1 A and AA rules) on the current page and returns what it
    /// finds broken. Empty means axe found nothing; it does not prove the page accessible.
    pub async fn axe(&self) -> Vec<Violation> {
        assert!(
            self.javascript,
            "axe-core needs timers, which do not run without JavaScript: check accessibility \
             in a Browser::start() browser"
        );
        axe(&self.client).await
    }

    /// Fails the test, listing every violation, if axe-core finds any on the current page; a
    /// screenshot `<name>-axe.png` is written then, for the report.
    pub async fn assert_accessible(&self, name: &str) {
        if let Err(report) = self.check_accessible(name).await {
            panic!("{report}");
        }
    }

    /// `assert_accessible` without the panic: the report of the violations, if any.
    pub async fn check_accessible(&self, name: &str) -> Result<(), String> {
        let violations = self.axe().await;
        if violations.is_empty() {
            return Ok(());
        }
        let shot = self.screenshot(&format!("{name}-axe")).await;
        let list: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
        Err(format!(
            "{name} ({}): {} accessibility violation(s) (axe-core, WCAG 2.1 AA); screenshot {}\n{}",
            self.current_url().await,
            violations.len(),
            shot.display(),
            list.join("")
        ))
    }
}

/// Runs axe-core on the page `client` shows. The script is injected on every call: a
/// navigation loses it.
pub async fn axe(client: &Client) -> Vec<Violation> {
    let source = std::fs::read_to_string(axe_path()).unwrap_or_else(|e| {
        panic!(
            "read {}: {e}; run scripts/setup-browser",
            axe_path().display()
        )
    });
    let began = Instant::now();
    bounded("inject axe-core", client.execute(&source, vec![])).await;
    let run = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, { runOnly: { type: 'tag', values: arguments[0] }, resultTypes: ['violations'] })
          .then(r => done({ violations: r.violations.map(v => ({
              id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
              nodes: v.nodes.map(n => ({ target: n.target.map(String), html: n.html,
                                         failureSummary: n.failureSummary || '' })) })) }))
          .catch(e => done({ error: String(e) }));
    "#;
    let out = bounded("axe.run", client.execute_async(run, vec![json!(WCAG_TAGS)])).await;
    if let Some(e) = out.get("error") {
        panic!("axe.run failed: {e}");
    }
    let str_of = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let violations: Vec<Violation> = out["violations"]
        .as_array()
        .unwrap_or_else(|| panic!("axe.run answered {out}"))
        .iter()
        .map(|v| Violation {
            id: str_of(v, "id"),
            impact: str_of(v, "impact"),
            help: str_of(v, "help"),
            help_url: str_of(v, "helpUrl"),
            nodes: v["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| ViolationNode {
                    target: n["target"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|t| t.as_str().unwrap_or_default().to_string())
                        .collect(),
                    html: str_of(n, "html"),
                    failure_summary: str_of(n, "failureSummary"),
                })
                .collect(),
        })
        .collect();
    eprintln!("axe-core ran in {:?}", began.elapsed());
    violations
}
