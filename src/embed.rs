//! `up`'s own PostgreSQL and NATS, for a machine where none runs (docs/deploy.md, "First run").
//!
//! `SHELLGATE_EMBED=auto` (the default): for each of Postgres and NATS whose URL is not set and
//! where nothing answers at the default address, `up` starts a private instance from the
//! installed server programs and owns it; `always` embeds regardless (tests); `never` never
//! does. An explicit URL always wins.
//!
//! - PostgreSQL: a cluster under `<data dir>/postgres` (as the `postgres` system user when `up`
//!   runs as root — Postgres refuses root), listening on a private socket directory and a free
//!   loopback port only, password authentication over TCP (the password in
//!   `<data dir>/postgres.password`, 0600). `pg_ctl` starts it in its own session, so Ctrl-C
//!   reaches only `up`.
//! - NATS with JetStream storing under `<data dir>/nats`, on a free loopback port, in its own
//!   process group.
//!
//! Both are stopped when `up` stops, and reused with their data on the next start. After `up` was
//! killed, the next start adopts what it left running (its pid file and port) or, when that is
//! gone, clears the stale pid file and starts afresh.

use std::fs;
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use secrecy::SecretString;
use shellgate_shared::config::Settings;

/// What `up` started (or adopted) and stops when it stops.
#[derive(Default)]
pub struct Embedded {
    postgres: Option<Postgres>,
    nats: Option<Nats>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Auto,
    Always,
    Never,
}

impl Mode {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            other => bail!("SHELLGATE_EMBED must be auto, always or never (not {other:?})"),
        }
    }
}

/// Whether a setting was given (environment or the SHELLGATE_CONFIG file), not defaulted.
fn explicit(key: &str) -> bool {
    std::env::var_os(format!("SHELLGATE_{}", key.to_ascii_uppercase())).is_some()
        || std::env::var("SHELLGATE_CONFIG")
            .ok()
            .and_then(|p| fs::read_to_string(p).ok())
            .is_some_and(|text| text.contains(key))
}

fn answers(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(l.local_addr()?.port())
}

fn wait_until_answers(port: u16, what: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while !answers(&format!("127.0.0.1:{port}")) {
        if Instant::now() > deadline {
            bail!(
                "{what} did not answer on 127.0.0.1:{port} within {} s",
                within.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// This process's user id, as `id -u` says (u32::MAX when it cannot tell).
fn our_uid() -> u32 {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(u32::MAX)
}

fn is_root() -> bool {
    our_uid() == 0
}

/// Whether process `pid` runs the program `comm` (where there is no /proc, as on macOS, `ps`
/// says).
fn alive(pid: u32, comm: &str) -> bool {
    if Path::new("/proc/self").exists() {
        return fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm);
    }
    Command::new("ps")
        .args(["-o", "comm=", "-p", &pid.to_string()])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim().ends_with(comm))
}

/// A path as one word for the shell `pg_ctl` passes server options through.
fn shell_quoted(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

impl Embedded {
    /// Starts (or adopts) what `settings` needs and points `settings` at it.
    pub fn prepare(settings: &mut Settings) -> anyhow::Result<Self> {
        let mode = Mode::parse(&settings.embed)?;
        let mut out = Self::default();
        if mode == Mode::Never {
            return Ok(out);
        }
        let data = absolute(&settings.data_dir)?;
        let wanted = |key: &str, default: &str| mode == Mode::Always || (!explicit(key) && !answers(default));
        if wanted("nats_url", "127.0.0.1:4222") {
            let nats = Nats::start(&data.join("nats"))?;
            settings.nats_url = format!("nats://shellgate:{}@127.0.0.1:{}", nats.password, nats.port);
            out.nats = Some(nats);
        }
        if wanted("database_url", "127.0.0.1:5432") {
            let (pg, url) = Postgres::start(&data)?;
            settings.database_url = SecretString::from(url);
            out.postgres = Some(pg);
        }
        Ok(out)
    }

    /// A database error at start, with what to do when Postgres answered at the default address
    /// but refused the default login (e.g. a distribution's cluster with password logins).
    pub fn explain(&self, settings: &Settings, e: anyhow::Error) -> anyhow::Error {
        let refused = format!("{e:#}").contains("authentication");
        if !refused
            || self.postgres.is_some()
            || explicit("database_url")
            || Mode::parse(&settings.embed).ok() == Some(Mode::Never)
        {
            return e;
        }
        e.context(
            "something answers at 127.0.0.1:5432 but refused Shellgate's login (user postgres, no \
             password). Give its URL with a password in SHELLGATE_DATABASE_URL, or set \
             SHELLGATE_EMBED=always to let up run its own PostgreSQL",
        )
    }

    /// What `up` says about its data and the services it runs.
    pub fn describe(&self, settings: &Settings) {
        let data = settings
            .data_dir
            .canonicalize()
            .unwrap_or_else(|_| settings.data_dir.clone());
        println!(
            "  data:     {} (the vault key, session and notifier keys{}: back it up)",
            data.display(),
            if self.postgres.is_some() { ", the database" } else { "" }
        );
        if let Some(pg) = &self.postgres {
            println!(
                "  postgres: started by up, on 127.0.0.1:{} (loopback only); data in {}",
                pg.port,
                pg.dir.display()
            );
            println!("            back it up with pg_dump, or copy the folder while up is stopped");
        }
        if let Some(n) = &self.nats {
            println!(
                "  nats:     started by up, on 127.0.0.1:{} (loopback only); JetStream data in {}",
                n.port,
                n.dir.display()
            );
        }
    }

    /// Stops what `up` runs (after its roles have finished their work).
    pub fn stop(&mut self) {
        if let Some(pg) = self.postgres.take() {
            pg.stop();
        }
        if let Some(n) = self.nats.take() {
            n.stop();
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.stop();
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(p).with_context(|| format!("creating the data directory {}", p.display()))?;
    p.canonicalize()
        .with_context(|| format!("reading the data directory {}", p.display()))
}

/// A PostgreSQL server this `up` owns.
struct Postgres {
    bin: PathBuf,
    /// `<data dir>/postgres`: the cluster (`data/`), its socket directory and its log.
    dir: PathBuf,
    port: u16,
    /// The system user it runs as (`up` as root).
    run_as: Option<String>,
}

/// Where Debian and others keep the server programs: on PATH, else under
/// `/usr/lib/postgresql/<version>/bin` (the newest), `/usr/pgsql-<version>/bin` (Fedora/RHEL
/// packages) or Homebrew's prefix.
fn pg_bin_dir() -> Option<PathBuf> {
    let has = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(d) = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| has(d))
    {
        return Some(d);
    }
    let mut found: Vec<PathBuf> = ["/usr/lib/postgresql", "/usr"]
        .iter()
        .filter_map(|root| fs::read_dir(root).ok())
        .flat_map(|rd| rd.filter_map(Result::ok).map(|e| e.path()))
        .filter(|p| {
            p.starts_with("/usr/lib/postgresql")
                || p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("pgsql-"))
        })
        .map(|p| p.join("bin"))
        .filter(|d| has(d))
        .collect();
    // Newest version last (numeric, so 9 sorts before 16).
    found.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|n| n.to_string_lossy().trim_start_matches("pgsql-").parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().or_else(|| {
        ["/opt/homebrew/bin", "/usr/local/bin"]
            .iter()
            .map(PathBuf::from)
            .find(|d| has(d))
    })
}

const INSTALL_POSTGRES: &str = "PostgreSQL's server programs (initdb, pg_ctl) are not installed. \
     Install them (Debian/Ubuntu: apt install postgresql; Fedora: dnf install postgresql-server; \
     macOS: brew install postgresql@16), or set SHELLGATE_DATABASE_URL to a running server";

impl Postgres {
    fn command(&self, program: &str) -> Command {
        let bin = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(bin);
                c
            }
            None => Command::new(bin),
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {program}"))?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!("{program} failed: {}", said.trim());
        }
        Ok(said)
    }

    fn cluster(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The socket directory: inside the data folder unless that path is too long for a Unix
    /// socket (about 107 bytes with `/.s.PGSQL.<port>`), then a short one under /tmp.
    fn socket_dir(&self) -> PathBuf {
        let inside = self.dir.join("run");
        if inside.as_os_str().len() + 20 < 100 {
            return inside;
        }
        use sha2::Digest as _;
        let tag = hex::encode(&sha2::Sha256::digest(inside.as_os_str().as_encoded_bytes())[..6]);
        PathBuf::from(format!("/tmp/shellgate-pg-{tag}"))
    }

    fn start(data: &Path) -> anyhow::Result<(Self, String)> {
        let bin = pg_bin_dir().context(INSTALL_POSTGRES)?;
        let run_as = if is_root() {
            let exists = Command::new("id")
                .args(["-u", "postgres"])
                .output()
                .is_ok_and(|o| o.status.success());
            if !exists {
                bail!(
                    "up runs as root and PostgreSQL refuses to: create a `postgres` system user (the Debian \
                     package does), run up as another user, or set SHELLGATE_DATABASE_URL"
                );
            }
            Some("postgres".to_string())
        } else {
            None
        };
        let mut pg = Self {
            bin,
            dir: data.join("postgres"),
            port: 0,
            run_as,
        };
        fs::create_dir_all(&pg.dir).with_context(|| format!("creating {}", pg.dir.display()))?;
        let sockets = pg.socket_dir();
        fs::create_dir_all(&sockets)?;
        // Under /tmp anyone could have made it first: only a real folder of ours will do.
        let meta = fs::symlink_metadata(&sockets)?;
        let ours = std::os::unix::fs::MetadataExt::uid(&meta) == our_uid() || pg.run_as.is_some() && is_root();
        if meta.file_type().is_symlink() || !meta.is_dir() || !ours {
            bail!(
                "{} is not a folder of this user's: remove it, or choose a shorter SHELLGATE_DATA_DIR",
                sockets.display()
            );
        }
        fs::set_permissions(&sockets, fs::Permissions::from_mode(0o700))?;
        if let Some(user) = &pg.run_as {
            for d in [&pg.dir, &sockets] {
                let ok = Command::new("chown").args(["-R", user]).arg(d).status()?.success();
                if !ok {
                    bail!("cannot give {} to the {user} user", d.display());
                }
            }
            let reach = Command::new("runuser")
                .args(["-u", user, "--", "test", "-w"])
                .arg(&pg.dir)
                .status()?;
            if !reach.success() {
                bail!(
                    "the {user} user cannot reach {} (a parent folder is closed to it): set \
                     SHELLGATE_DATA_DIR to a folder it can reach, e.g. /var/lib/shellgate",
                    pg.dir.display()
                );
            }
        }
        let password_file = data.join("postgres.password");
        if !pg.cluster().join("PG_VERSION").exists() {
            let password = hex::encode(rand_bytes()?);
            write_private(&password_file, &password)?;
            // initdb reads the password from a file its user can read, removed right after.
            let handoff = pg.dir.join("initdb.pw");
            write_private(&handoff, &password)?;
            if let Some(user) = &pg.run_as {
                Command::new("chown").arg(user).arg(&handoff).status()?;
            }
            let cluster = pg.cluster().display().to_string();
            let handoff_arg = format!("--pwfile={}", handoff.display());
            let made = pg.run(
                "initdb",
                &[
                    "-D",
                    &cluster,
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    &handoff_arg,
                ],
            );
            let _ = fs::remove_file(&handoff);
            made.context("initialising the embedded PostgreSQL cluster")?;
        }
        let password = fs::read_to_string(&password_file).with_context(|| {
            format!(
                "reading {} (delete the postgres folder to start afresh)",
                password_file.display()
            )
        })?;
        pg.port = match pg.adopt() {
            Some(port) => port,
            None => pg.launch(&sockets)?,
        };
        let url = format!(
            "postgres://postgres:{}@127.0.0.1:{}/shellgate",
            password.trim(),
            pg.port
        );
        Ok((pg, url))
    }

    /// The port of the server a previous `up` left running on this cluster, if it still answers;
    /// a stale pid file (its process gone) is removed.
    fn adopt(&self) -> Option<u16> {
        let pid_file = self.cluster().join("postmaster.pid");
        let text = fs::read_to_string(&pid_file).ok()?;
        let mut lines = text.lines();
        let pid: u32 = lines.next()?.trim().parse().ok()?;
        let port: u16 = lines.nth(2)?.trim().parse().ok()?;
        if alive(pid, "postgres") && answers(&format!("127.0.0.1:{port}")) {
            tracing::info!(port, "adopted the PostgreSQL server a previous up left running");
            return Some(port);
        }
        if !alive(pid, "postgres") {
            let _ = fs::remove_file(&pid_file);
        }
        None
    }

    fn launch(&self, sockets: &Path) -> anyhow::Result<u16> {
        let port = free_port()?;
        let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1", shell_quoted(sockets));
        let cluster = self.cluster().display().to_string();
        let log = self.dir.join("postgres.log").display().to_string();
        // pg_ctl starts the server in its own session and waits until it accepts connections.
        self.run(
            "pg_ctl",
            &[
                "start", "-D", &cluster, "-l", &log, "-o", &options, "-w", "-t", "60", "-s",
            ],
        )
        .with_context(|| format!("starting the embedded PostgreSQL (its log: {log})"))?;
        wait_until_answers(port, "PostgreSQL", Duration::from_secs(30))?;
        Ok(port)
    }

    fn stop(self) {
        let cluster = self.cluster().display().to_string();
        if let Err(e) = self.run(
            "pg_ctl",
            &["stop", "-D", &cluster, "-m", "fast", "-w", "-t", "30", "-s"],
        ) {
            tracing::warn!(error = %e, "stopping the embedded PostgreSQL");
        }
    }
}

fn rand_bytes() -> anyhow::Result<[u8; 16]> {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(b)
}

/// A NATS server this `up` owns.
struct Nats {
    dir: PathBuf,
    port: u16,
    pid: u32,
    /// Of the `shellgate` user the server accepts.
    password: String,
    /// `None` when adopted from a previous `up`.
    child: Option<std::process::Child>,
}

impl Nats {
    fn start(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        if let Some(adopted) = Self::adopt(dir) {
            return Ok(adopted);
        }
        let port = free_port()?;
        let pid_file = dir.join("nats.pid");
        // A password, so other users of this machine cannot publish work to the executors; in a
        // 0600 configuration file, never in the process's arguments.
        let password_file = dir.join("password");
        let password = match fs::read_to_string(&password_file) {
            Ok(p) if !p.trim().is_empty() => p.trim().to_string(),
            _ => {
                let p = hex::encode(rand_bytes()?);
                write_private(&password_file, &p)?;
                p
            }
        };
        let config = dir.join("nats.conf");
        let store = dir.join("store");
        write_private(
            &config,
            &format!(
                "listen: \"127.0.0.1:{port}\"\njetstream {{ store_dir: {store:?} }}\n\
                 authorization {{ user: shellgate, password: \"{password}\" }}\npid_file: {pid:?}\n\
                 log_file: {log:?}\n",
                store = store.display().to_string(),
                pid = pid_file.display().to_string(),
                log = dir.join("nats.log").display().to_string(),
            ),
        )?;
        let mut child = Command::new("nats-server")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: Ctrl-C in the terminal reaches only `up`.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot start nats-server ({e}). Install it (Debian/Ubuntu: apt install nats-server; \
                     Fedora: dnf install nats-server; macOS: brew install nats-server), or set SHELLGATE_NATS_URL"
                )
            })?;
        wait_until_answers(port, "nats-server", Duration::from_secs(20))
            .with_context(|| format!("see {}", dir.join("nats.log").display()))?;
        // Another process may have taken the port between our probe and the server's bind.
        if let Ok(Some(status)) = child.try_wait() {
            bail!("nats-server stopped ({status}); see {}", dir.join("nats.log").display());
        }
        write_private(&dir.join("port"), &port.to_string())?;
        Ok(Self {
            dir: dir.to_path_buf(),
            port,
            pid: child.id(),
            password,
            child: Some(child),
        })
    }

    /// The server a previous `up` left running on this folder, if it still answers.
    fn adopt(dir: &Path) -> Option<Self> {
        let pid: u32 = fs::read_to_string(dir.join("nats.pid")).ok()?.trim().parse().ok()?;
        let port: u16 = fs::read_to_string(dir.join("port")).ok()?.trim().parse().ok()?;
        if !(alive(pid, "nats-server") && answers(&format!("127.0.0.1:{port}"))) {
            let _ = fs::remove_file(dir.join("nats.pid"));
            return None;
        }
        let password = fs::read_to_string(dir.join("password")).ok()?.trim().to_string();
        tracing::info!(port, "adopted the NATS server a previous up left running");
        Some(Self {
            dir: dir.to_path_buf(),
            port,
            pid,
            password,
            child: None,
        })
    }

    fn stop(mut self) {
        // An adopted server's pid may have been reused since: only a nats-server is signalled.
        if self.child.is_none() && !alive(self.pid, "nats-server") {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let gone = match self.child.as_mut() {
                Some(c) => c.try_wait().ok().flatten().is_some(),
                None => !alive(self.pid, "nats-server"),
            };
            if gone {
                break;
            }
            if Instant::now() > deadline {
                let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = fs::remove_file(self.dir.join("nats.pid"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_refuse_others() {
        assert_eq!(Mode::parse("auto").unwrap(), Mode::Auto);
        assert_eq!(Mode::parse(" Always ").unwrap(), Mode::Always);
        assert_eq!(Mode::parse("never").unwrap(), Mode::Never);
        assert!(
            Mode::parse("sometimes")
                .unwrap_err()
                .to_string()
                .contains("auto, always or never")
        );
    }

    #[test]
    fn paths_reach_pg_ctl_s_shell_as_one_word() {
        assert_eq!(shell_quoted(Path::new("/a b/c")), "'/a b/c'");
        assert_eq!(shell_quoted(Path::new("/x'$(id)")), "'/x'\\''$(id)'");
    }
}
