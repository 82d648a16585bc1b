//! A real OpenSSH server per test: Debian's `sshd` on a free loopback port with a generated host
//! key, its own config, authorized_keys and log in a temp dir, logging in the test user
//! [`SSH_USER`] (created on first use, with password [`SSH_PASSWORD`] for password auth).
//!
//! It runs as root (as tests here do) because password authentication reads /etc/shadow; it
//! listens on 127.0.0.1 only and accepts only the test user.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSH_USER: &str = "sgtest";
pub const SSH_PASSWORD: &str = "Sg-test-PASSWORD-canary-7c1f";

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    max_sessions: u32,
    /// Connections the harness itself made (readiness probes), not counted as clients'.
    probes: usize,
}

fn run(cmd: &mut Command) -> std::process::Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// The test user exists and has the test password (several test processes may race here).
pub fn ensure_user() {
    for _ in 0..50 {
        let exists = run(Command::new("id").args(["-u", SSH_USER])).status.success();
        if !exists {
            let _ = run(Command::new("useradd").args(["-m", "-s", "/bin/sh", SSH_USER]));
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let shadow = run(Command::new("getent").args(["shadow", SSH_USER]));
        let has_password = String::from_utf8_lossy(&shadow.stdout)
            .split(':')
            .nth(1)
            .is_some_and(|p| p.starts_with('$'));
        if has_password {
            return;
        }
        let mut child = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .expect("chpasswd");
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{SSH_USER}:{SSH_PASSWORD}\n").as_bytes());
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("cannot create the SSH test user {SSH_USER}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A user key pair made by ssh-keygen: (private key text, public key line).
pub fn user_key(dir: &Path, kind: &str, passphrase: Option<&str>) -> (String, String) {
    let path = dir.join(format!("user_{kind}_{}", uuid::Uuid::new_v4().simple()));
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-C", "", "-N", passphrase.unwrap_or(""), "-f"])
        .arg(&path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let private = std::fs::read_to_string(&path).expect("private key");
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("public key");
    (private, public.trim().to_string())
}

impl Sshd {
    pub fn start() -> Self {
        Self::start_with(10)
    }

    /// A server allowing `max_sessions` channels per connection (OpenSSH's MaxSessions).
    pub fn start_with(max_sessions: u32) -> Self {
        ensure_user();
        std::fs::create_dir_all("/run/sshd").expect("privilege separation directory");
        let dir = tempfile::Builder::new().prefix("sg-sshd-").tempdir().expect("temp dir");
        // The test user reads authorized_keys from here.
        set_mode(dir.path(), 0o755);
        let mut sshd = Self {
            dir,
            port: free_port(),
            child: None,
            max_sessions,
            probes: 0,
        };
        sshd.generate_host_key();
        std::fs::write(sshd.path("authorized_keys"), "").expect("authorized_keys");
        set_mode(&sshd.path("authorized_keys"), 0o644);
        sshd.spawn();
        sshd
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn generate_host_key(&self) {
        let key = self.path("host_ed25519");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(key.with_extension("pub"));
        let out = run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "", "-f"])
            .arg(&key));
        assert!(
            out.status.success(),
            "host key: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn spawn(&mut self) {
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_ed25519\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication yes\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin no\nAllowUsers {user}\nMaxSessions {max}\nMaxStartups 100:30:200\n\
             LogLevel VERBOSE\n",
            port = self.port,
            dir = self.dir.path().display(),
            user = SSH_USER,
            max = self.max_sessions,
        );
        std::fs::write(self.path("sshd_config"), config).expect("sshd_config");
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(self.path("sshd_config"))
            .arg("-E")
            .arg(self.path("sshd.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd (is openssh-server installed? scripts/test installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not start:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        self.probes += 1;
    }

    pub fn authorize(&self, public_key_line: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.path("authorized_keys"))
            .expect("authorized_keys");
        writeln!(f, "{public_key_line}").expect("write authorized_keys");
    }

    /// The server's host public key, `ssh-ed25519 AAAA…`.
    pub fn host_key(&self) -> String {
        std::fs::read_to_string(self.path("host_ed25519.pub"))
            .expect("host key")
            .trim()
            .to_string()
    }

    /// The host key's SHA-256 fingerprint as ssh-keygen prints it (`SHA256:…`).
    pub fn host_fingerprint(&self) -> String {
        let out = run(Command::new("ssh-keygen")
            .arg("-l")
            .arg("-f")
            .arg(self.path("host_ed25519.pub")));
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .expect("fingerprint")
            .to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }

    /// TCP connections the server has accepted so far.
    pub fn connections(&self) -> usize {
        // A probe's line may lag behind it: wait until the log has at least the probes.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let n = self.log().matches("Connection from ").count();
            if n >= self.probes || Instant::now() > deadline {
                return n.saturating_sub(self.probes);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills every per-connection server process (the whole tree below the listener):
    /// established connections drop.
    pub fn kill_connections(&self) {
        let Some(child) = &self.child else { return };
        let mut pids = vec![child.id().to_string()];
        let mut all = Vec::new();
        while let Some(pid) = pids.pop() {
            let out = run(Command::new("pgrep").args(["-P", &pid]));
            for p in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                pids.push(p.to_string());
                all.push(p.to_string());
            }
        }
        if !all.is_empty() {
            let _ = run(Command::new("kill").arg("-KILL").args(&all));
        }
    }

    /// Restarts the server with a new host key on the same port.
    pub fn change_host_key(&mut self) {
        self.stop();
        self.generate_host_key();
        self.spawn();
    }

    fn stop(&mut self) {
        self.kill_connections();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn target_body(&self, slug: &str) -> serde_json::Value {
        serde_json::json!({
            "name": slug,
            "slug": slug,
            "kind": "ssh",
            "host": "127.0.0.1",
            "port": self.port,
            "username": SSH_USER,
        })
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Whether a process whose command line contains `needle` is running.
pub fn process_running(needle: &str) -> bool {
    run(Command::new("pgrep").args(["-f", needle])).status.success()
}
