//! A headless Chromium driven through ChromeDriver's WebDriver protocol
//! (W3C, JSON over HTTP): what the dashboard's tests click, type and read
//! with, and the screenshots they keep.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::tool;

/// The key WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; the browser and its driver stop when it drops.
pub struct Browser {
    driver: Child,
    session: String,
    base: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium that accepts the node's
    /// own certificate; none (the test skipped, or failed under CI) when
    /// they are not installed.
    pub fn start() -> Option<Browser> {
        let driver_path = tool("chromedriver", "WASMJOB_CHROMEDRIVER")?;
        let chromium = tool("chromium", "WASMJOB_CHROMIUM")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let profile = tempfile::tempdir().expect("a profile directory");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": chromium,
                // As the machine's notes say: without the networking
                // flags Chromium knocks on a closed network at every start.
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let mut browser = Browser {
            driver,
            session: String::new(),
            base,
            agent,
            _profile: profile,
        };
        let answer = browser.call("POST", "/session", Some(capabilities));
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_owned();
        Some(browser)
    }

    /// One WebDriver command; its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self
                .agent
                .post(&url)
                .send_json(body.unwrap_or_else(|| json!({}))),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let answer: Value = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_json()
            .unwrap_or(Value::Null);
        answer["value"].clone()
    }

    fn session(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    /// Opens `url`.
    pub fn go(&self, url: &str) {
        self.call("POST", &self.session("/url"), Some(json!({"url": url})));
    }

    /// Runs `script` in the page (a returned promise is awaited); its value.
    pub fn run(&self, script: &str, args: Value) -> Value {
        let body = json!({"script": script, "args": args});
        self.call("POST", &self.session("/execute/sync"), Some(body))
    }

    /// The visible text of the first element `css` picks, if any.
    pub fn text(&self, css: &str) -> Option<String> {
        let found = self.run(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
            json!([css]),
        );
        found.as_str().map(str::to_owned)
    }

    /// Waits (at most `seconds`) until the element `css` picks has text
    /// that `wanted` accepts; the text.
    pub fn wait_text(&self, css: &str, seconds: u64, wanted: impl Fn(&str) -> bool) -> String {
        // A loaded machine's browser and node are slow: never less than 30 s.
        let deadline = Instant::now() + Duration::from_secs(seconds.max(30));
        loop {
            let text = self.text(css);
            if let Some(text) = &text
                && wanted(text)
            {
                return text.clone();
            }
            if Instant::now() > deadline {
                self.failed(&format!(
                    "{css} never showed what was wanted; last: {text:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (at most 60 s: a loaded machine's browser is slow) until the
    /// element `css` picks exists; its WebDriver id.
    pub fn wait_for(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let body = json!({"using": "css selector", "value": css});
            let found = self.call("POST", &self.session("/element"), Some(body));
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_owned();
            }
            if Instant::now() > deadline {
                self.failed(&format!("no {css} on the page"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Fails the test, keeping a screenshot of the page as it was and
    /// saying which page it was.
    fn failed(&self, what: &str) -> ! {
        let shot = self.screenshot("failure");
        let url = self.call("GET", &self.session("/url"), None);
        panic!("{what} (page {url}; screenshot {})", shot.display());
    }

    /// Clicks the element `css` picks, as a user would; found again if
    /// the page was drawn anew between finding and clicking it.
    pub fn click(&self, css: &str) {
        for _ in 0..5 {
            let id = self.wait_for(css);
            let path = self.session(&format!("/element/{id}/click"));
            let answer = self.call("POST", &path, Some(json!({})));
            if answer.get("error").is_none() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.failed(&format!("{css} could not be clicked"));
    }

    /// Types `text` into the element `css` picks.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.wait_for(css);
        self.call(
            "POST",
            &self.session(&format!("/element/{id}/clear")),
            Some(json!({})),
        );
        let path = self.session(&format!("/element/{id}/value"));
        self.call("POST", &path, Some(json!({"text": text})));
    }

    /// Accepts the dialog the page opened (`confirm`).
    pub fn accept_alert(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.call("GET", &self.session("/alert/text"), None);
            if text.is_string() {
                self.call("POST", &self.session("/alert/accept"), Some(json!({})));
                return;
            }
            assert!(Instant::now() < deadline, "no dialog opened");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The page's cookies, as WebDriver describes them.
    pub fn cookies(&self) -> Vec<Value> {
        let found = self.call("GET", &self.session("/cookie"), None);
        found.as_array().cloned().unwrap_or_default()
    }

    /// Forgets every cookie.
    pub fn clear_cookies(&self) {
        self.call("DELETE", &self.session("/cookie"), None);
    }

    /// Saves a screenshot of the page as `<target dir>/test-artefacts/
    /// dashboard/NAME.png`; its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let encoded = self.call("GET", &self.session("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        let dir = artefacts().join("dashboard");
        std::fs::create_dir_all(&dir).expect("the artefacts directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writing the screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = self.agent.delete(&format!("{}{path}", self.base)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where tests keep what they made for people to look at: the target
/// directory's `test-artefacts` (the test binary is in `<target>/debug/deps`).
pub fn artefacts() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    target.join("test-artefacts")
}
