//! A small W3C WebDriver client for the browser tests.
//!
//! The HTML report and the registry's web UI are tested in a real browser:
//! Debian's `chromium` driven by its `chromedriver` over the W3C WebDriver
//! protocol (<https://www.w3.org/TR/webdriver2/>). The tests need a dozen
//! commands (open a page, find elements, read text and attributes, click,
//! type, run a script, take a screenshot), each one JSON request to the
//! driver, so this crate speaks them over the blocking `reqwest` client the
//! workspace already builds, rather than pull in a full async client and
//! its protocol crate.
//!
//! [`Browser::start`] starts `chromedriver` on a free port of 127.0.0.1
//! and one headless Chromium session with a throw-away profile and the
//! flags a closed network needs (no background networking, no component
//! updates). When either program is missing it returns
//! [`Start::Missing`]; [`Browser::for_test`] turns that into a printed
//! skip outside CI and a panic when `CI=true`, where a browser test must
//! run.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The W3C key of an element reference in a response.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// What went wrong talking to the browser.
#[derive(Debug)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;

fn err(what: impl Into<String>) -> Error {
    Error(what.into())
}

/// The outcome of [`Browser::start`].
#[derive(Debug)]
pub enum Start {
    /// A browser session, ready.
    Ready(Browser),
    /// A program is not installed; the string says which and how to get it.
    Missing(String),
}

/// One headless Chromium session behind its own chromedriver.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
    profile: tempfile::TempDir,
}

/// An element found on the page.
#[derive(Debug, Clone)]
pub struct Element {
    id: String,
}

fn find_program(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| err(format!("cannot bind: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| err(format!("no local address: {e}")))
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session at a 1280×900
    /// window. `PORTCULLIS_CHROMIUM` and `PORTCULLIS_CHROMEDRIVER` override
    /// the programs' paths (default `/usr/bin/chromium`,
    /// `/usr/bin/chromedriver`).
    ///
    /// # Errors
    /// The driver does not start within 20 s or refuses the session.
    pub fn start() -> Result<Start> {
        let Some(chromium) = find_program(
            "PORTCULLIS_CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        ) else {
            return Ok(Start::Missing(
                "chromium is not installed (apt-get install chromium chromium-driver)".into(),
            ));
        };
        let Some(driver_path) = find_program("PORTCULLIS_CHROMEDRIVER", &["/usr/bin/chromedriver"]) else {
            return Ok(Start::Missing(
                "chromedriver is not installed (apt-get install chromium-driver)".into(),
            ));
        };
        let port = free_port()?;
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| err(format!("cannot start {}: {e}", driver_path.display())))?;
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| err(format!("http client: {e}")))?;
        let profile = tempfile::tempdir().map_err(|e| err(format!("profile dir: {e}")))?;
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            http,
            profile,
        };
        browser.wait_ready()?;
        browser.new_session(&chromium)?;
        Ok(Start::Ready(browser))
    }

    /// A browser for a test: `None` (after printing why) when Chromium is
    /// not installed and `CI` is not `true`.
    ///
    /// # Panics
    /// When the browser cannot start, or is missing under `CI=true`.
    pub fn for_test(test: &str) -> Option<Browser> {
        match Browser::start() {
            Ok(Start::Ready(b)) => Some(b),
            Ok(Start::Missing(why)) => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("{test}: {why}; browser tests must run in CI");
                }
                eprintln!("skipping {test}: {why}");
                None
            }
            Err(e) => panic!("{test}: cannot start the browser: {e}"),
        }
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self.http.get(format!("{}/status", self.base)).send() {
                if let Ok(v) = r.json::<Value>() {
                    if v.pointer("/value/ready") == Some(&Value::Bool(true)) {
                        return Ok(());
                    }
                }
            }
            if let Ok(Some(status)) = self.driver.try_wait() {
                return Err(err(format!("chromedriver exited: {status}")));
            }
            if Instant::now() > deadline {
                return Err(err("chromedriver did not become ready within 20 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn new_session(&mut self, chromium: &Path) -> Result<()> {
        let profile = self.profile.path().display().to_string();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    "--hide-scrollbars", format!("--user-data-dir={profile}"),
                ],
            },
        }}});
        let v = self.request(reqwest::Method::POST, "/session", Some(caps))?;
        let id = v
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| err(format!("no session id in {v}")))?;
        self.session = id.to_string();
        Ok(())
    }

    fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        // Every POST carries a JSON body, `{}` when the command takes none.
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().map_err(|e| err(format!("{url}: {e}")))?;
        let status = resp.status();
        let v: Value = resp.json().map_err(|e| err(format!("{url}: not JSON: {e}")))?;
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = value.get("message").and_then(Value::as_str).unwrap_or("");
            let code = value.get("error").and_then(Value::as_str).unwrap_or("");
            return Err(err(format!("{path}: {status} {code}: {msg}")));
        }
        Ok(value)
    }

    fn session_cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        self.request(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Opens `url` and waits for the page to load.
    ///
    /// # Errors
    /// The driver refuses.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.session_cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .map(drop)
    }

    /// Opens a local file.
    ///
    /// # Errors
    /// The path is not absolute-able or the driver refuses.
    pub fn open_file(&self, path: &Path) -> Result<()> {
        let abs = std::fs::canonicalize(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        self.goto(&format!("file://{}", abs.display()))
    }

    /// The current page's URL.
    ///
    /// # Errors
    /// The driver refuses.
    pub fn url(&self) -> Result<String> {
        let v = self.session_cmd(reqwest::Method::GET, "/url", None)?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// The page title.
    ///
    /// # Errors
    /// The driver refuses.
    pub fn title(&self) -> Result<String> {
        let v = self.session_cmd(reqwest::Method::GET, "/title", None)?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Sets the window's size in CSS pixels.
    ///
    /// # Errors
    /// The driver refuses.
    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        self.session_cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .map(drop)
    }

    fn element_of(v: &Value) -> Result<Element> {
        v.get(ELEMENT_KEY)
            .and_then(Value::as_str)
            .map(|id| Element { id: id.to_string() })
            .ok_or_else(|| err(format!("not an element reference: {v}")))
    }

    /// The first element matching a CSS selector.
    ///
    /// # Errors
    /// None matches.
    pub fn find(&self, css: &str) -> Result<Element> {
        let v = self
            .session_cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .map_err(|e| err(format!("no element matches `{css}`: {e}")))?;
        Self::element_of(&v)
    }

    /// The first element matching a CSS selector, waiting up to 15 s for
    /// it to appear: after a click that submits a form or follows a link,
    /// the driver may answer before the next page has loaded.
    ///
    /// # Errors
    /// None appears in time.
    pub fn wait_for(&self, css: &str) -> Result<Element> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.find(css) {
                Ok(e) => return Ok(e),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Every element matching a CSS selector, in document order.
    ///
    /// # Errors
    /// The driver refuses.
    pub fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        let v = self.session_cmd(
            reqwest::Method::POST,
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        v.as_array()
            .map(|a| a.iter().map(Self::element_of).collect())
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    /// An element's rendered text.
    ///
    /// # Errors
    /// The element is gone.
    pub fn text(&self, el: &Element) -> Result<String> {
        let v = self.session_cmd(reqwest::Method::GET, &format!("/element/{}/text", el.id), None)?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// An element's attribute, `None` when it has none.
    ///
    /// # Errors
    /// The element is gone.
    pub fn attr(&self, el: &Element, name: &str) -> Result<Option<String>> {
        let v = self.session_cmd(
            reqwest::Method::GET,
            &format!("/element/{}/attribute/{name}", el.id),
            None,
        )?;
        Ok(v.as_str().map(str::to_string))
    }

    /// Clicks an element.
    ///
    /// # Errors
    /// The element is not interactable.
    pub fn click(&self, el: &Element) -> Result<()> {
        self.session_cmd(
            reqwest::Method::POST,
            &format!("/element/{}/click", el.id),
            Some(json!({})),
        )
        .map(drop)
    }

    /// Types `text` into an element.
    ///
    /// # Errors
    /// The element is not editable.
    pub fn type_text(&self, el: &Element, text: &str) -> Result<()> {
        self.session_cmd(
            reqwest::Method::POST,
            &format!("/element/{}/value", el.id),
            Some(json!({ "text": text })),
        )
        .map(drop)
    }

    /// Runs a script in the page and returns its value.
    ///
    /// # Errors
    /// The script throws.
    pub fn script(&self, js: &str) -> Result<Value> {
        self.session_cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": js, "args": []})),
        )
    }

    /// Saves a PNG screenshot of the viewport; `full_page` first sizes the
    /// window to the document's height (up to 8000 px) so the whole page is
    /// in the picture.
    ///
    /// # Errors
    /// The driver refuses or the file cannot be written.
    pub fn screenshot(&self, path: &Path, full_page: bool) -> Result<()> {
        if full_page {
            let size = self.script(
                "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight, window.innerWidth];",
            )?;
            let h = size
                .get(1)
                .and_then(Value::as_u64)
                .unwrap_or(900)
                .clamp(300, 8000);
            let w = size
                .get(2)
                .and_then(Value::as_u64)
                .unwrap_or(1280)
                .clamp(300, 4000);
            self.resize(
                u32::try_from(w).unwrap_or(1280),
                u32::try_from(h + 140).unwrap_or(900),
            )?;
        }
        let v = self.session_cmd(reqwest::Method::GET, "/screenshot", None)?;
        let b64 = v.as_str().ok_or_else(|| err("screenshot: no data"))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| err(format!("screenshot: {e}")))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        }
        std::fs::write(path, png).map_err(|e| err(format!("{}: {e}", path.display())))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.request(
                reqwest::Method::DELETE,
                &format!("/session/{}", self.session),
                None,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
