//! Configuration: defaults that work on a developer machine, overridden by an optional TOML file
//! (`SHELLGATE_CONFIG`) and then by `SHELLGATE_*` environment variables (`SHELLGATE_DATABASE_URL`
//! sets `database_url`). Read once in `main`; each role receives the typed settings it needs.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Every setting of every role, flat, as read from file and environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Postgres URL; the database is created by `up`/`migrate` when missing.
    pub database_url: SecretString,
    pub database_pool_size: usize,
    pub database_statement_timeout_ms: u64,
    pub database_connect_timeout_ms: u64,

    pub nats_url: String,
    /// Prefix of every NATS subject and JetStream stream name (isolates installations and tests).
    pub nats_prefix: String,
    pub nats_connect_timeout_ms: u64,

    /// Where `up` keeps generated state (the vault key pair when none is configured).
    pub data_dir: PathBuf,
    /// `up` only: `auto` starts its own PostgreSQL and NATS where none answers at the default
    /// address and no URL is set; `always` does regardless; `never` does not.
    pub embed: String,
    /// `text` or `json`.
    pub log_format: String,

    /// Proxies (IP addresses, CIDR blocks; comma-separated) whose `X-Forwarded-For`,
    /// `-Proto` and `-Host` every role believes; from anyone else they are dropped.
    pub trusted_proxies: String,

    pub gateway_listen: String,
    pub approver_listen: String,
    pub executor_listen: String,
    /// HTTP worker threads of the gateway (0: one per CPU).
    pub gateway_workers: usize,
    pub approver_workers: usize,

    /// The pool (network zone) this executor serves.
    pub executor_pool: String,
    /// Name reported in audit records; default: host name + random suffix.
    pub executor_id: Option<String>,
    /// Executor worker threads, each with its own HTTP client (0: one per CPU).
    pub executor_workers: usize,
    /// Concurrent requests per executor worker thread.
    pub executor_max_in_flight: usize,

    /// Base64 X25519 public key credentials are sealed to (approver).
    pub vault_public_key: Option<String>,
    /// Base64 X25519 secret key that opens credentials (executors only).
    pub vault_secret_key: Option<SecretString>,
    /// An admin API key (`sga_…`) the approver registers at start if missing, for automated
    /// installs (Helm, compose) that cannot run `shellgate admin-key create` first.
    pub admin_bootstrap_key: Option<SecretString>,
    /// Base64 key (at least 32 bytes) for dashboard session cookies, shared by approver replicas.
    pub session_secret: Option<SecretString>,
    /// A dashboard session unused this long ends (seconds).
    pub session_idle_secs: u64,
    /// A dashboard session ends this long after login, used or not (seconds).
    pub session_max_secs: u64,
    /// Deciding approvals from the dashboard needs TOTP and a recent step-up (a fresh code), and
    /// admin API keys need the `approvals` scope.
    pub require_mfa_for_approvals: bool,
    /// How long a step-up lets a session decide approvals (seconds).
    pub step_up_secs: u64,

    /// Largest request body an agent may send through the gateway.
    pub max_body_bytes: u64,
    /// Bodies up to this size travel inside the first NATS message.
    pub inline_body_bytes: usize,
    /// How long an upstream may take to answer with its response head.
    pub upstream_timeout_ms: u64,
    /// Largest response an executor decodes (a compressed answer from a target with a credential
    /// is decoded to be scrubbed); a bigger one is cut off with `upstream_response_too_large`.
    pub max_decoded_response_bytes: u64,
    /// How long a gateway waits for an executor to accept a request.
    pub executor_accept_timeout_ms: u64,
    /// An executor answers a small request with the response itself when the upstream is this
    /// fast, and sends a separate `accepted` frame only when it is slower (saves a message).
    pub executor_accept_grace_ms: u64,
    /// Largest chunk of a body in one NATS message.
    pub stream_chunk_bytes: usize,
    /// Unacknowledged bytes a stream sender may have in flight.
    pub stream_window_bytes: usize,
    /// Liveness pings between the two ends of a stream; a vanished peer is noticed within this.
    pub stream_heartbeat_ms: u64,
    /// A stream with no frame at all for this long is ended with an error.
    pub stream_idle_timeout_ms: u64,

    /// SSH: the largest `timeout` an agent may ask for (seconds).
    pub ssh_max_timeout_secs: u64,
    /// SSH: output kept per stream (stdout, stderr); beyond it the answer says `truncated`.
    pub ssh_output_cap_bytes: u64,
    /// SSH: largest `POST /ssh/:target/exec` body (command, stdin and env together).
    pub ssh_max_request_bytes: usize,
    /// SSH: TCP connect, key exchange and authentication together.
    pub ssh_connect_timeout_ms: u64,
    /// SSH: a pooled connection unused for this long is closed.
    pub ssh_idle_timeout_secs: u64,
    /// SSH: commands multiplexed on one connection at most (OpenSSH's MaxSessions is 10; a
    /// server that allows fewer is detected and more connections are opened).
    pub ssh_max_sessions_per_connection: usize,
    /// SSH: connections an executor keeps to one target at most.
    pub ssh_max_connections_per_target: usize,
    /// SSH: keepalive interval on pooled connections (a dead one is noticed and replaced).
    pub ssh_keepalive_secs: u64,
    /// SSH: commands one executor runs at once (across all targets).
    pub ssh_max_in_flight: usize,

    /// Approval notifications: a generic webhook (JSON, HMAC-SHA256 signed with
    /// `notify_webhook_secret`, which it requires).
    pub notify_webhook_url: Option<String>,
    pub notify_webhook_secret: Option<SecretString>,
    /// A Slack-compatible incoming webhook (its URL is a secret).
    pub notify_slack_url: Option<SecretString>,
    /// Where humans review approvals (the dashboard's public URL); notifications link there, and
    /// the page asks them to log in.
    pub notify_dashboard_url: Option<String>,
    /// Deliveries of one event to one notifier before it goes to the dead-letter record.
    pub notify_max_attempts: u32,
    /// First retry delay; doubles each attempt, at most 5 minutes.
    pub notify_retry_base_ms: u64,
    pub notify_timeout_ms: u64,
    /// Base64 key (32 bytes) that seals the notifiers added through the API (their URLs and
    /// signing secrets) in Postgres; approver only, the same on every replica. `up` keeps one in
    /// `data_dir` when unset. Without it, the approver runs only the notifiers set here.
    pub notifier_key: Option<SecretString>,
    /// How often an approver re-reads the notifiers from Postgres even without a change
    /// announcement (one that was missed while NATS was away).
    pub notify_reload_secs: u64,

    /// How long an approval stays valid before it expires.
    pub approval_ttl_secs: u64,
    /// Longest wait an agent may ask for (`GET /approvals/:id?wait=`, `X-Shellgate-Wait`).
    pub approval_max_wait_secs: u64,
    /// Largest body of an HTTP request that needs an approval (held in memory and hashed).
    pub approval_max_body_bytes: usize,

    /// How long a gateway may serve a token lookup from memory (revocations invalidate at once).
    pub auth_cache_ttl_ms: u64,

    /// `Host` values the MCP endpoint answers (comma-separated `host` or `host:port`; empty: any).
    pub mcp_allowed_hosts: String,
    /// Browser origins allowed to call the MCP endpoint (comma-separated `scheme://host[:port]`);
    /// a request with any other `Origin` is 403. Requests without `Origin` (agents) pass.
    pub mcp_allowed_origins: String,
    /// Largest JSON-RPC request body the MCP endpoint reads.
    pub mcp_max_request_bytes: usize,
    /// Longest response body an MCP tool returns (longer ones are cut and marked `truncated`).
    pub mcp_max_response_bytes: usize,
    /// The gateway's URL as agents reach it (`https://shellgate.example.com`), written into the
    /// install scripts; without it, the URL the script was fetched from.
    pub public_url: Option<String>,

    pub audit_batch_size: usize,
    pub audit_flush_ms: u64,
    /// Audit events older than this many days are deleted (by the approver, in batches); unset:
    /// kept forever.
    pub audit_retention_days: Option<u32>,
    /// Graceful shutdown: how long in-flight work may take after SIGTERM.
    pub shutdown_grace_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: SecretString::from("postgres://postgres@127.0.0.1:5432/shellgate"),
            database_pool_size: 16,
            database_statement_timeout_ms: 5_000,
            database_connect_timeout_ms: 5_000,
            nats_url: "nats://127.0.0.1:4222".into(),
            nats_prefix: "sg".into(),
            nats_connect_timeout_ms: 5_000,
            data_dir: PathBuf::from(".shellgate"),
            embed: "auto".into(),
            log_format: "text".into(),
            gateway_listen: "127.0.0.1:8080".into(),
            approver_listen: "127.0.0.1:8081".into(),
            executor_listen: "127.0.0.1:8082".into(),
            trusted_proxies: String::new(),
            gateway_workers: 0,
            approver_workers: 1,
            executor_pool: "default".into(),
            executor_id: None,
            executor_workers: 0,
            executor_max_in_flight: 512,
            vault_public_key: None,
            vault_secret_key: None,
            admin_bootstrap_key: None,
            session_secret: None,
            session_idle_secs: 30 * 60,
            audit_retention_days: None,
            session_max_secs: 12 * 60 * 60,
            require_mfa_for_approvals: false,
            step_up_secs: 5 * 60,
            max_body_bytes: 256 * 1024 * 1024,
            inline_body_bytes: 64 * 1024,
            upstream_timeout_ms: 30_000,
            max_decoded_response_bytes: 1024 * 1024 * 1024,
            executor_accept_timeout_ms: 5_000,
            executor_accept_grace_ms: 100,
            stream_chunk_bytes: 128 * 1024,
            stream_window_bytes: 4 * 1024 * 1024,
            stream_heartbeat_ms: 1_000,
            stream_idle_timeout_ms: 300_000,
            auth_cache_ttl_ms: 30_000,
            ssh_max_timeout_secs: 60,
            ssh_output_cap_bytes: 1024 * 1024,
            ssh_max_request_bytes: 512 * 1024,
            ssh_connect_timeout_ms: 10_000,
            ssh_idle_timeout_secs: 300,
            ssh_max_sessions_per_connection: 8,
            ssh_max_connections_per_target: 8,
            ssh_keepalive_secs: 15,
            ssh_max_in_flight: 256,
            notify_webhook_url: None,
            notify_webhook_secret: None,
            notify_slack_url: None,
            notify_dashboard_url: None,
            notify_max_attempts: 8,
            notify_retry_base_ms: 2_000,
            notify_timeout_ms: 10_000,
            notifier_key: None,
            notify_reload_secs: 30,
            approval_ttl_secs: 15 * 60,
            approval_max_wait_secs: 120,
            approval_max_body_bytes: 512 * 1024,
            mcp_allowed_hosts: String::new(),
            mcp_allowed_origins: String::new(),
            mcp_max_request_bytes: 4 * 1024 * 1024,
            mcp_max_response_bytes: 1024 * 1024,
            public_url: None,
            audit_batch_size: 500,
            audit_flush_ms: 200,
            shutdown_grace_ms: 25_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Defaults, then the TOML file named by `SHELLGATE_CONFIG` (if any), then `SHELLGATE_*`.
    pub fn load() -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        if let Ok(path) = std::env::var("SHELLGATE_CONFIG") {
            builder = builder.add_source(config::File::with_name(&path).required(true));
        }
        let env = config::Environment::with_prefix("SHELLGATE")
            .prefix_separator("_")
            .try_parsing(true);
        let config = builder.add_source(env.source(Some(env_without_config_var()))).build()?;
        // Unknown keys are reported, not fatal: an older binary must start with the settings a
        // newer chart already sets (and a typo should still be visible).
        let mut unknown = Vec::new();
        let settings: Settings = serde_ignored::deserialize(config, |path| unknown.push(path.to_string()))?;
        for key in unknown {
            eprintln!(
                "warning: unknown setting {key:?} (SHELLGATE_{}) ignored",
                key.to_ascii_uppercase()
            );
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |what: &str| Err(ConfigError::Invalid(what.to_string()));
        if !crate::bus::is_valid_token(&self.nats_prefix) {
            return bad("SHELLGATE_NATS_PREFIX must be letters, digits, '-' or '_'");
        }
        if !crate::ids::is_valid_slug(&self.executor_pool) {
            return bad("SHELLGATE_EXECUTOR_POOL must be lowercase letters, digits or '-'");
        }
        if self.stream_chunk_bytes < 1024 || self.stream_chunk_bytes > 512 * 1024 {
            return bad("SHELLGATE_STREAM_CHUNK_BYTES must be between 1024 and 524288");
        }
        if self.stream_window_bytes < self.stream_chunk_bytes {
            return bad("SHELLGATE_STREAM_WINDOW_BYTES must be at least one chunk");
        }
        if self.approval_max_body_bytes > 768 * 1024 {
            return bad("SHELLGATE_APPROVAL_MAX_BODY_BYTES must be at most 786432 (it travels in one NATS message)");
        }
        if self.ssh_max_request_bytes > 768 * 1024 {
            return bad("SHELLGATE_SSH_MAX_REQUEST_BYTES must be at most 786432 (it travels in one NATS message)");
        }
        if self.ssh_max_timeout_secs == 0 || self.ssh_max_timeout_secs > 24 * 3600 {
            return bad("SHELLGATE_SSH_MAX_TIMEOUT_SECS must be between 1 and 86400");
        }
        if self.ssh_max_sessions_per_connection == 0 || self.ssh_max_connections_per_target == 0 {
            return bad(
                "SHELLGATE_SSH_MAX_SESSIONS_PER_CONNECTION and SHELLGATE_SSH_MAX_CONNECTIONS_PER_TARGET must be at least 1",
            );
        }
        let http_url = |u: &str| u.starts_with("https://") || u.starts_with("http://");
        if let Some(u) = &self.notify_webhook_url {
            if !http_url(u) {
                return bad("SHELLGATE_NOTIFY_WEBHOOK_URL must be an http(s) URL");
            }
            if self
                .notify_webhook_secret
                .as_ref()
                .is_none_or(|s| s.expose_secret().len() < 16)
            {
                return bad(
                    "SHELLGATE_NOTIFY_WEBHOOK_URL needs SHELLGATE_NOTIFY_WEBHOOK_SECRET (at least 16 characters) to sign with",
                );
            }
        }
        if self
            .notify_slack_url
            .as_ref()
            .is_some_and(|u| !http_url(u.expose_secret()))
        {
            return bad("SHELLGATE_NOTIFY_SLACK_URL must be an http(s) URL");
        }
        if self
            .notifier_key
            .as_ref()
            .is_some_and(|k| crate::crypto::NotifierKey::from_base64(k).is_err())
        {
            return bad("SHELLGATE_NOTIFIER_KEY must be base64 of 32 bytes (create one with 'shellgate keygen')");
        }
        if self.notify_reload_secs == 0 {
            return bad("SHELLGATE_NOTIFY_RELOAD_SECS must be at least 1");
        }
        if self.notify_max_attempts == 0 {
            return bad("SHELLGATE_NOTIFY_MAX_ATTEMPTS must be at least 1");
        }
        if let Err(e) = self.trusted_proxies.parse::<crate::client_addr::TrustedProxies>() {
            return bad(&format!("SHELLGATE_TRUSTED_PROXIES: {e}"));
        }
        if self.mcp_max_request_bytes == 0 {
            return bad("SHELLGATE_MCP_MAX_REQUEST_BYTES must be at least 1");
        }
        if self.mcp_max_response_bytes == 0 {
            return bad("SHELLGATE_MCP_MAX_RESPONSE_BYTES must be at least 1");
        }
        if let Some(o) = list(&self.mcp_allowed_origins)
            .into_iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")))
        {
            return bad(&format!(
                "SHELLGATE_MCP_ALLOWED_ORIGINS: {o:?} is not an origin (scheme://host[:port])"
            ));
        }
        if let Some(url) = &self.public_url
            && !is_plain_base_url(url)
        {
            return bad(&format!(
                "SHELLGATE_PUBLIC_URL: {url:?} must be http:// or https:// followed by a host, optional port and path"
            ));
        }
        if self.max_decoded_response_bytes == 0 {
            return bad("SHELLGATE_MAX_DECODED_RESPONSE_BYTES must be at least 1");
        }
        if self.inline_body_bytes > 512 * 1024 {
            return bad("SHELLGATE_INLINE_BODY_BYTES must be at most 524288");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return bad("SHELLGATE_LOG_FORMAT must be 'text' or 'json'");
        }
        if self.executor_accept_grace_ms * 2 > self.executor_accept_timeout_ms {
            return bad(
                "SHELLGATE_EXECUTOR_ACCEPT_GRACE_MS must be at most half of SHELLGATE_EXECUTOR_ACCEPT_TIMEOUT_MS",
            );
        }
        if let Some(key) = &self.admin_bootstrap_key
            && !crate::crypto::is_well_formed_secret(crate::crypto::ADMIN_KEY_PREFIX, key.expose_secret())
        {
            return bad("SHELLGATE_ADMIN_BOOTSTRAP_KEY must be sga_ followed by 64 lowercase hex digits");
        }
        if let Some(secret) = &self.session_secret {
            use base64::Engine as _;
            let decoded = base64::engine::general_purpose::STANDARD.decode(secret.expose_secret().trim());
            if decoded.map_or(true, |d| d.len() < 32) {
                return bad("SHELLGATE_SESSION_SECRET must be base64 of at least 32 bytes");
            }
        }
        if self.audit_retention_days == Some(0) {
            return bad("SHELLGATE_AUDIT_RETENTION_DAYS must be at least 1 (leave it unset to keep every event)");
        }
        if self.session_idle_secs == 0 || self.session_max_secs < self.session_idle_secs {
            return bad("SHELLGATE_SESSION_IDLE_SECS must be positive and at most SHELLGATE_SESSION_MAX_SECS");
        }
        if !matches!(
            self.embed.trim().to_ascii_lowercase().as_str(),
            "auto" | "always" | "never"
        ) {
            return bad("SHELLGATE_EMBED must be auto, always or never");
        }
        if self.step_up_secs == 0 {
            return bad("SHELLGATE_STEP_UP_SECS must be positive");
        }
        if self.database_pool_size == 0 || self.executor_max_in_flight == 0 {
            return bad("pool sizes must be positive");
        }
        Ok(())
    }

    pub fn stream(&self) -> StreamSettings {
        StreamSettings {
            chunk_bytes: self.stream_chunk_bytes,
            window_bytes: self.stream_window_bytes,
            heartbeat: Duration::from_millis(self.stream_heartbeat_ms.max(10)),
            idle_timeout: Duration::from_millis(self.stream_idle_timeout_ms.max(100)),
        }
    }

    pub fn gateway_workers(&self) -> usize {
        workers_or_cpus(self.gateway_workers)
    }

    pub fn executor_workers(&self) -> usize {
        workers_or_cpus(self.executor_workers)
    }
}

/// An `http(s)://host[:port][/path]` URL made only of characters that are inert in a shell
/// word and in JSON, TOML and YAML strings (so it can be written into a script or a config file
/// without quoting surprises): letters, digits and `-._~:/[]%`.
pub fn is_plain_base_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or("");
    let host = rest.split('/').next().unwrap_or("");
    !host.is_empty()
        && url.len() <= 2048
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:/[]%".contains(c))
}

fn workers_or_cpus(n: usize) -> usize {
    if n > 0 {
        n
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }
}

/// The environment minus `SHELLGATE_CONFIG` (the file's path, not a setting).
fn env_without_config_var() -> config::Map<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("SHELLGATE_") && k != "SHELLGATE_CONFIG")
        .collect()
}

/// Flow-control settings of the chunked stream protocol (see docs/protocol.md).
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    pub chunk_bytes: usize,
    pub window_bytes: usize,
    pub heartbeat: Duration,
    pub idle_timeout: Duration,
}

/// The entries of a comma-separated setting, trimmed, empty ones dropped.
pub fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
    }

    #[test]
    fn rejects_bad_prefix() {
        let s = Settings {
            nats_prefix: "a.b".into(),
            ..Settings::default()
        };
        assert!(s.validate().is_err());
    }

    #[test]
    fn public_urls_must_be_plain() {
        for ok in [
            "https://sg.example.com",
            "http://10.0.0.1:8080/",
            "http://[::1]:8080/shellgate",
        ] {
            assert!(is_plain_base_url(ok), "{ok}");
        }
        for bad in [
            "",
            "sg.example.com",
            "ftp://x",
            "https://",
            "https://x/$(id)",
            "https://x/'",
            "https://x y",
            "https://x/?a=b",
            "https://x\n",
        ] {
            assert!(!is_plain_base_url(bad), "{bad}");
        }
    }
}
