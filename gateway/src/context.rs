//! What every gateway worker shares.

use std::sync::Arc;
use std::time::Duration;

use shellgate_shared::audit::publisher::AuditPublisher;
use shellgate_shared::bus::Bus;
use shellgate_shared::config::{Settings, StreamSettings};
use shellgate_shared::db::DbPool;
use shellgate_shared::guard_cache::GuardCache;
use shellgate_shared::metrics::Metrics;

use crate::auth::AuthCache;

pub struct GatewayContext {
    pub bus: Bus,
    pub db: DbPool,
    pub auth: Arc<AuthCache>,
    pub audit: AuditPublisher,
    pub stream: StreamSettings,
    pub max_body_bytes: u64,
    pub inline_body_bytes: usize,
    pub accept_timeout: Duration,
    pub head_timeout: Duration,
    pub metrics: Metrics,
    /// How long an approval stays valid.
    pub approval_ttl: Duration,
    /// Longest `?wait=` / `X-Shellgate-Wait` an agent may ask for.
    pub max_approval_wait: Duration,
    /// Largest body of a request that needs an approval (it is held and hashed).
    pub approval_max_body_bytes: usize,
    pub guard_cache: Arc<GuardCache>,
    pub ssh: SshLimits,
    /// Browser origins that may call `/mcp` (`SHELLGATE_MCP_ALLOWED_ORIGINS`).
    pub mcp_allowed_origins: Vec<String>,
    /// Longest response body an MCP tool returns.
    pub mcp_max_response_bytes: usize,
    /// The URL agents reach this gateway at (`SHELLGATE_PUBLIC_URL`), for install scripts.
    pub public_url: Option<String>,
}

/// What the gateway enforces on `POST /ssh/:target/exec` (the executor enforces the rest).
#[derive(Debug, Clone, Copy)]
pub struct SshLimits {
    pub max_timeout_secs: u64,
    pub max_request_bytes: usize,
    /// How long an executor may take to connect before the command starts.
    pub connect_timeout: Duration,
}

impl GatewayContext {
    pub fn new(settings: &Settings, bus: Bus, db: DbPool, metrics: Metrics) -> Arc<Self> {
        let accept_timeout = Duration::from_millis(settings.executor_accept_timeout_ms);
        Arc::new(Self {
            audit: AuditPublisher::new(&bus),
            auth: Arc::new(AuthCache::new(Duration::from_millis(settings.auth_cache_ttl_ms))),
            bus,
            db,
            stream: settings.stream(),
            max_body_bytes: settings.max_body_bytes,
            inline_body_bytes: settings.inline_body_bytes,
            accept_timeout,
            // The executor enforces the upstream timeout and reports it; this is the backstop.
            head_timeout: Duration::from_millis(settings.upstream_timeout_ms) + accept_timeout,
            metrics,
            approval_ttl: Duration::from_secs(settings.approval_ttl_secs),
            mcp_allowed_origins: shellgate_shared::config::list(&settings.mcp_allowed_origins),
            mcp_max_response_bytes: settings.mcp_max_response_bytes,
            public_url: settings
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
            max_approval_wait: Duration::from_secs(settings.approval_max_wait_secs),
            approval_max_body_bytes: settings.approval_max_body_bytes,
            guard_cache: Arc::new(GuardCache::new(Duration::from_millis(settings.auth_cache_ttl_ms))),
            ssh: SshLimits {
                max_timeout_secs: settings.ssh_max_timeout_secs,
                max_request_bytes: settings.ssh_max_request_bytes,
                connect_timeout: Duration::from_millis(settings.ssh_connect_timeout_ms),
            },
        })
    }

    /// Starts following token/permission change events (cache invalidation).
    pub async fn start_background(self: &Arc<Self>) -> Result<(), async_nats::Error> {
        self.guard_cache.clone().follow_changes(self.bus.clone()).await?;
        self.auth.clone().follow_changes(self.bus.clone()).await
    }
}
