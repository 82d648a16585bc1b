//! Running the real `shellgate` binary as a child process.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test: SHELLGATE_BIN, else `<target>/debug/shellgate` of this workspace.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("SHELLGATE_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug/shellgate");
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build --workspace`; scripts/test does this)",
        path.display()
    );
    path
}

/// Runs a one-shot subcommand and returns its stdout.
pub fn run_command(args: &[&str], env: &[(String, String)]) -> String {
    let out = Command::new(binary())
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run shellgate");
    assert!(
        out.status.success(),
        "shellgate {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running role (or `up`): its announced URLs and its log file.
pub struct Proc {
    child: Child,
    /// `gateway` / `approver` / `executor` → `http://127.0.0.1:port`.
    pub urls: HashMap<String, String>,
    pub log: PathBuf,
    _logdir: tempfile::TempDir,
}

impl Proc {
    /// Starts `shellgate <role>` and waits until it has announced its URLs.
    pub fn spawn(role: &str, env: &[(String, String)]) -> Self {
        let logdir = tempfile::tempdir().expect("tempdir");
        let log = logdir.path().join(format!("{role}.log"));
        let logfile = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(binary())
            .arg(role)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(logfile))
            .spawn()
            .expect("spawn shellgate");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut urls = HashMap::new();
            let mut announced = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let trimmed = line.trim();
                if let Some((name, rest)) = trimmed.split_once(':')
                    && let Some(url) = rest.split_whitespace().next().filter(|u| u.starts_with("http://"))
                {
                    urls.insert(name.to_string(), url.to_string());
                }
                if trimmed.starts_with("Stop with") && !announced {
                    announced = true;
                    let _ = tx.send(urls.clone());
                }
            }
            if !announced {
                let _ = tx.send(HashMap::new());
            }
        });
        let urls = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        if urls.is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "shellgate {role} did not start:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Self {
            child,
            urls,
            log,
            _logdir: logdir,
        }
    }

    pub fn url(&self, role: &str) -> String {
        self.urls
            .get(role)
            .cloned()
            .unwrap_or_else(|| panic!("no {role} URL announced"))
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process gets no chance to clean up (a crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a graceful exit; returns whether it exited in time.
    pub fn terminate(&mut self, within: Duration) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
