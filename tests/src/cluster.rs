//! A Shellgate installation for one test: its database, NATS prefix, vault keys, admin key and
//! processes, with helpers for the management API.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use shellgate_shared::crypto::VaultSecretKey;

use crate::client::{Client, read_body};
use crate::db::TestDb;
use crate::process::{Proc, run_command};

pub fn nats_url() -> String {
    std::env::var("SHELLGATE_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

pub struct Cluster {
    /// Dropped first: processes stop before their database goes.
    pub procs: Vec<Proc>,
    pub env: Vec<(String, String)>,
    pub prefix: String,
    pub admin_key: String,
    pub http: Client,
    pub vault: VaultSecretKey,
    pub db: TestDb,
    _data: tempfile::TempDir,
}

impl Cluster {
    /// Database, keys and admin key, no process yet.
    pub async fn prepare(extra: &[(&str, &str)]) -> Self {
        Self::prepare_on(TestDb::create().await, &nats_url(), extra)
    }

    pub fn prepare_on(db: TestDb, nats: &str, extra: &[(&str, &str)]) -> Self {
        let prefix = format!(
            "t{}x{}",
            crate::now_secs(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let data = tempfile::tempdir().expect("tempdir");
        let vault = VaultSecretKey::generate();
        let mut env: Vec<(String, String)> = [
            ("SHELLGATE_DATABASE_URL", db.url.clone()),
            ("SHELLGATE_NATS_URL", nats.to_string()),
            ("SHELLGATE_NATS_PREFIX", prefix.clone()),
            ("SHELLGATE_DATA_DIR", data.path().display().to_string()),
            ("SHELLGATE_GATEWAY_LISTEN", "127.0.0.1:0".into()),
            ("SHELLGATE_APPROVER_LISTEN", "127.0.0.1:0".into()),
            ("SHELLGATE_EXECUTOR_LISTEN", "127.0.0.1:0".into()),
            ("SHELLGATE_GATEWAY_WORKERS", "1".into()),
            ("SHELLGATE_EXECUTOR_WORKERS", "1".into()),
            ("SHELLGATE_STREAM_HEARTBEAT_MS", "200".into()),
            ("SHELLGATE_AUDIT_FLUSH_MS", "50".into()),
            ("SHELLGATE_SHUTDOWN_GRACE_MS", "2000".into()),
            ("SHELLGATE_VAULT_PUBLIC_KEY", vault.public_key().to_base64()),
            (
                "SHELLGATE_VAULT_SECRET_KEY",
                vault.to_base64().expose_secret().to_string(),
            ),
            ("SHELLGATE_LOG_FORMAT", "json".into()),
            ("RUST_LOG", "info".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in extra {
            env.retain(|(ek, _)| ek != k);
            env.push((k.to_string(), v.to_string()));
        }
        let admin_key = run_command(&["admin-key", "create", "--name", "test"], &env)
            .trim()
            .to_string();
        Self {
            procs: Vec::new(),
            env,
            prefix,
            admin_key,
            http: Client::new(),
            vault,
            db,
            _data: data,
        }
    }

    /// All roles in one `shellgate up` process.
    pub async fn up() -> Self {
        Self::up_with(&[]).await
    }

    pub async fn up_with(extra: &[(&str, &str)]) -> Self {
        let mut c = Self::prepare(extra).await;
        c.start("up", &[]);
        c
    }

    /// Starts a process (`up`, `gateway`, `executor`, `approver`) with the cluster's
    /// environment plus `extra`; returns its index in `procs`.
    pub fn start(&mut self, role: &str, extra: &[(&str, &str)]) -> usize {
        let mut env = self.env.clone();
        // Each role gets only the vault key it needs: gateways none, the approver the public
        // half, executors the secret half (`up` runs both).
        let keep = |k: &str| {
            !matches!(
                (role, k),
                ("gateway", "SHELLGATE_VAULT_PUBLIC_KEY" | "SHELLGATE_VAULT_SECRET_KEY")
                    | ("approver", "SHELLGATE_VAULT_SECRET_KEY")
                    | ("executor", "SHELLGATE_VAULT_PUBLIC_KEY")
            )
        };
        env.retain(|(k, _)| keep(k));
        for (k, v) in extra {
            env.retain(|(ek, _)| ek != k);
            env.push((k.to_string(), v.to_string()));
        }
        self.procs.push(Proc::spawn(role, &env));
        self.procs.len() - 1
    }

    fn first_url(&self, role: &str) -> String {
        self.procs
            .iter()
            .find_map(|p| p.urls.get(role).cloned())
            .unwrap_or_else(|| panic!("no process serves {role}"))
    }

    pub fn gateway(&self) -> String {
        self.first_url("gateway")
    }

    /// Every gateway's URL, in the order the processes started.
    pub fn gateways(&self) -> Vec<String> {
        self.procs
            .iter()
            .filter_map(|p| p.urls.get("gateway").cloned())
            .collect()
    }

    pub fn approver(&self) -> String {
        self.first_url("approver")
    }

    /// Prints every warning and error the processes logged (for failing tests).
    pub fn dump_warnings(&self) {
        for line in self
            .logs()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        {
            eprintln!("LOG {line}");
        }
    }

    /// Everything every process has logged so far.
    pub fn logs(&self) -> String {
        self.procs.iter().map(Proc::logs).collect::<Vec<_>>().join("\n")
    }

    /// A management API call with the admin key: status and JSON body (Null when empty).
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let req = self
            .http
            .request(method, &format!("{}{path}", self.approver()))
            .insert_header(("authorization", format!("Bearer {}", self.admin_key)));
        let mut res = match body {
            Some(b) => req.send_json(&b).await,
            None => req.send().await,
        }
        .expect("admin request");
        let status = res.status().as_u16();
        let bytes = read_body(&mut res).await;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    /// Creates an http target; returns its id.
    pub async fn create_http_target(&self, slug: &str, base_url: &str, credential: Option<Value>) -> String {
        let mut body = json!({"name": slug, "slug": slug, "baseUrl": base_url});
        if let Some(c) = credential {
            body["credential"] = c;
        }
        let (status, v) = self.admin("POST", "/api/targets", Some(body)).await;
        assert_eq!(status, 201, "create target: {v}");
        v["id"].as_str().expect("id").to_string()
    }

    /// Creates an ssh target for a test server with this credential; returns its id.
    pub async fn create_ssh_target(&self, sshd: &crate::sshd::Sshd, slug: &str, credential: Value) -> String {
        let mut body = sshd.target_body(slug);
        body["credential"] = credential;
        let (status, v) = self.admin("POST", "/api/targets", Some(body)).await;
        assert_eq!(status, 201, "create ssh target: {v}");
        v["id"].as_str().expect("id").to_string()
    }

    /// Creates an ssh target for a test server that logs in with a new ed25519 key (authorized on
    /// the server) and has the server's host key pinned; returns its id.
    pub async fn create_pinned_ssh_target(&self, sshd: &crate::sshd::Sshd, slug: &str) -> String {
        let (private, public) = crate::sshd::user_key(sshd.dir.path(), "ed25519", None);
        sshd.authorize(&public);
        let id = self
            .create_ssh_target(sshd, slug, json!({"type": "ssh_key", "privateKey": private}))
            .await;
        self.pin_host_key(&id, &sshd.host_key()).await;
        id
    }

    /// Starts `POST /ssh/<slug>/exec` with `Accept: text/event-stream` over a raw socket (dropping
    /// the socket really closes the connection, as an agent hanging up does) and returns it.
    pub async fn ssh_exec_raw_stream(&self, slug: &str, token: &str, body: &Value) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt as _;
        let body = body.to_string();
        let addr = self.gateway().trim_start_matches("http://").to_string();
        let mut sock = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect to the gateway");
        let request = format!(
            "POST /ssh/{slug}/exec HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Accept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(request.as_bytes()).await.expect("send the request");
        sock
    }

    /// Pins the test server's host key for a target.
    pub async fn pin_host_key(&self, target_id: &str, public_key: &str) {
        let (status, v) = self
            .admin(
                "POST",
                &format!("/api/targets/{target_id}/host-keys"),
                Some(json!({"publicKey": public_key})),
            )
            .await;
        assert_eq!(status, 200, "pin host key: {v}");
    }

    /// `POST /ssh/<slug>/exec` with `body`: (status, JSON answer).
    pub async fn ssh_exec(&self, slug: &str, token: &str, body: Value) -> (u16, Value) {
        self.ssh_exec_with(slug, token, body, None).await
    }

    /// `POST /ssh/<slug>/exec`, naming an approval (`X-Shellgate-Approval`) when given.
    pub async fn ssh_exec_with(&self, slug: &str, token: &str, body: Value, approval: Option<&str>) -> (u16, Value) {
        let url = format!("{}/ssh/{slug}/exec", self.gateway());
        let mut req = self.http.agent("POST", &url, token).timeout(Duration::from_secs(120));
        if let Some(id) = approval {
            req = req.insert_header(("x-shellgate-approval", id));
        }
        let mut res = req.send_json(&body).await.expect("ssh exec request");
        let bytes = read_body(&mut res).await;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (res.status().as_u16(), value)
    }

    /// Creates a token allowed to use `targets`; returns (id, plaintext token).
    pub async fn create_token(&self, targets: &[&str]) -> (String, String) {
        let (status, v) = self
            .admin(
                "POST",
                "/api/tokens",
                Some(json!({"name": "agent", "targetIds": targets})),
            )
            .await;
        assert_eq!(status, 201, "create token: {v}");
        (
            v["id"].as_str().expect("id").to_string(),
            v["token"].as_str().expect("token").to_string(),
        )
    }

    /// An agent GET, body read to the end: (status, body).
    pub async fn agent_get(&self, url: &str, token: &str) -> (u16, Vec<u8>) {
        let mut res = self.http.agent("GET", url, token).send().await.expect("agent request");
        let body = read_body(&mut res).await;
        (res.status().as_u16(), body)
    }

    /// Polls an agent GET until it answers `expected` or `within` has passed (changes reach
    /// gateway caches over NATS, not synchronously); returns the last status.
    pub async fn agent_status_within(&self, url: &str, token: &str, expected: u16, within: Duration) -> u16 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let status = self
                .http
                .agent("GET", url, token)
                .send()
                .await
                .expect("agent request")
                .status()
                .as_u16();
            if status == expected || tokio::time::Instant::now() > deadline {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The approval a held (202) answer names, as the admin API shows it.
    pub async fn held_approval(&self, held: &Value) -> Value {
        let id = held["approval_id"].as_str().expect("approval_id in a held answer");
        let (status, v) = self.admin("GET", &format!("/api/approvals/{id}"), None).await;
        assert_eq!(status, 200, "approval {id}: {v}");
        v
    }

    /// Audit events matching `query` (e.g. `tokenId=…`), newest first. Without `kind=` in the
    /// query, the records of the test's own admin changes (kind `admin`) are left out.
    pub async fn audit(&self, query: &str) -> Vec<Value> {
        let (status, v) = self.admin("GET", &format!("/api/audit?limit=1000&{query}"), None).await;
        assert_eq!(status, 200, "audit: {v}");
        let events = v["events"].as_array().cloned().unwrap_or_default();
        if query.contains("kind=") {
            return events;
        }
        events.into_iter().filter(|e| e["kind"] != "admin").collect()
    }

    /// Waits (up to `within`) until at least `n` audit events match.
    pub async fn wait_for_audit(&self, query: &str, n: usize, within: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let events = self.audit(query).await;
            if events.len() >= n || tokio::time::Instant::now() > deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.procs.clear();
        let stream = format!("{}_AUDIT", self.prefix.to_ascii_uppercase());
        let url = self
            .env
            .iter()
            .find(|(k, _)| k == "SHELLGATE_NATS_URL")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(nats_url);
        crate::block_on_thread(async move {
            let Ok(client) = async_nats::connect(url).await else {
                return;
            };
            let js = async_nats::jetstream::new(client);
            let _ = js.delete_stream(&stream).await;
            sweep_streams(&js).await;
        });
    }
}

/// Deletes audit streams of crashed test runs (their names carry their creation time).
async fn sweep_streams(js: &async_nats::jetstream::Context) {
    use futures_util::StreamExt;
    let mut names = js.stream_names();
    let now = crate::now_secs();
    let mut stale = Vec::new();
    while let Some(Ok(name)) = names.next().await {
        let created = name
            .strip_prefix('T')
            .and_then(|r| r.split('X').next())
            .and_then(|t| t.parse::<u64>().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > crate::STALE_AFTER_SECS) {
            stale.push(name);
        }
    }
    for name in stale {
        let _ = js.delete_stream(&name).await;
    }
}
