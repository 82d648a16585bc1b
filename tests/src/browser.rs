//! Real headless Chromium for the dashboard's tests: Debian's `chromium` driven through its
//! `chromedriver` (scripts/test installs both) with thirtyfour. Each `Browser` runs its own
//! chromedriver on a free port and a fresh profile, and saves screenshots of the pages it visits
//! under `target/screenshots/` (git-ignored) for a person to look at.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thirtyfour::{ChromiumLikeCapabilities as _, DesiredCapabilities, WebDriver};

pub struct Browser {
    /// `None` once quit.
    driver: Option<WebDriver>,
    chromedriver: Child,
    _profile: tempfile::TempDir,
    /// Screenshots are named `<name>-<n>-<page>.png`.
    name: String,
    shots: usize,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; `name` prefixes the screenshots.
    pub async fn start(name: &str) -> Self {
        let port = free_port();
        let chromedriver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            // Its own process group: stopping it stops the browsers it started too.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (scripts/test installs Debian's chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = DesiredCapabilities::chrome();
        // No network of its own (this machine refuses it), a fresh profile each time.
        let profile = tempfile::tempdir().expect("a browser profile folder");
        let profile_arg = format!("--user-data-dir={}", profile.path().display());
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            &profile_arg,
        ] {
            caps.add_arg(arg).expect("chrome argument");
        }
        let driver = WebDriver::new(&url, caps).await.expect("a Chromium session");
        Self {
            driver: Some(driver),
            chromedriver,
            _profile: profile,
            name: name.to_string(),
            shots: 0,
        }
    }

    pub fn driver(&self) -> &WebDriver {
        self.driver.as_ref().expect("the browser is running")
    }

    /// Waits (up to 10 s) until the page's HTML contains `needle` — after a click or a navigation,
    /// so the next step acts on the new page, never on the one it replaces. Returns the HTML.
    pub async fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The page source needs no element reference, so a navigation in progress cannot
            // make it stale.
            let html = self.driver().source().await.unwrap_or_default();
            if html.contains(needle) {
                return html;
            }
            assert!(Instant::now() < deadline, "the page never showed {needle:?}:\n{html}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a screenshot of the current page as `target/screenshots/<name>-<n>-<page>.png`.
    pub async fn screenshot(&mut self, page: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        self.shots += 1;
        let path = dir.join(format!("{}-{:02}-{page}.png", self.name, self.shots));
        self.driver().screenshot(&path).await.expect("screenshot");
    }

    /// Ends the browser session (chromedriver stops when this is dropped).
    pub async fn quit(mut self) {
        if let Some(driver) = self.driver.take() {
            let _ = driver.quit().await;
        }
    }
}

impl Drop for Browser {
    /// Stops chromedriver's whole process group: the browsers too, even after a failed test.
    /// (`pkill --pgroup` names the group unambiguously; `kill -KILL -<pid>` may be read as a
    /// signal option by procps' kill.)
    fn drop(&mut self) {
        // After a failed test the session was not quit: thirtyfour would then block this
        // (single-threaded) runtime on a synchronous quit. Killing chromedriver ends it anyway.
        if let Some(driver) = self.driver.take() {
            let _ = driver.leak();
        }
        let group = self.chromedriver.id();
        if group > 1 {
            let _ = Command::new("pkill")
                .args(["--signal", "KILL", "--pgroup", &group.to_string()])
                .status();
        }
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}
