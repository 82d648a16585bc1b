//! A private Postgres server for fault tests that stop and restart it (the machine's shared
//! server is never touched). Runs as the `postgres` user when the tests run as root.

use std::path::PathBuf;
use std::process::Command;

pub struct PrivatePg {
    pub port: u16,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// `bin` from PATH, else from Debian's versioned PostgreSQL directory.
fn pg_binary(bin: &str) -> String {
    let on_path = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| std::path::Path::new(d).join(bin).exists());
    if on_path {
        return bin.to_string();
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    versions.sort();
    versions
        .last()
        .map(|v| v.join("bin").join(bin).display().to_string())
        .unwrap_or_else(|| bin.to_string())
}

fn pg_command(bin: &str, args: &[&str]) -> std::process::Output {
    let bin = &pg_binary(bin);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", bin]);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args).output().unwrap_or_else(|e| panic!("run {bin}: {e}"))
}

impl PrivatePg {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("sg-pg-").tempdir().expect("tempdir");
        if is_root() {
            let _ = Command::new("chown")
                .args(["-R", "postgres", &dir.path().display().to_string()])
                .status();
        }
        let data = dir.path().join("data");
        let out = pg_command(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        );
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let pg = Self {
            port: free_port(),
            data,
            _dir: dir,
        };
        pg.start_server();
        pg
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    pub fn start_server(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.data.display()
        );
        let log = self.data.join("server.log").display().to_string();
        let out = pg_command(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-o",
                &opts,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn stop_server(&self) {
        let out = pg_command(
            "pg_ctl",
            &["-D", &self.data.display().to_string(), "-m", "fast", "-w", "stop"],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = pg_command(
            "pg_ctl",
            &["-D", &self.data.display().to_string(), "-m", "immediate", "-w", "stop"],
        );
    }
}
