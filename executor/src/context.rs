//! What every executor worker shares.

use std::sync::Arc;

use shellgate_shared::bus::Bus;
use shellgate_shared::config::{Settings, StreamSettings};
use shellgate_shared::crypto::VaultSecretKey;
use shellgate_shared::db::DbPool;
use shellgate_shared::guard_cache::GuardCache;
use shellgate_shared::metrics::Metrics;

use crate::scrub::PatternCache;
use crate::targets::TargetCache;

pub struct ExecutorContext {
    pub id: String,
    pub pool_name: String,
    pub bus: Bus,
    pub db: DbPool,
    pub vault: VaultSecretKey,
    pub targets: Arc<TargetCache>,
    /// Compiled scrubber patterns per credential version.
    pub scrub_patterns: PatternCache,
    pub guard_cache: Arc<GuardCache>,
    pub stream: StreamSettings,
    pub settings: Settings,
    pub metrics: Metrics,
}

impl ExecutorContext {
    pub fn new(settings: &Settings, bus: Bus, db: DbPool, vault: VaultSecretKey, metrics: Metrics) -> Arc<Self> {
        let id = settings.executor_id.clone().unwrap_or_else(default_executor_id);
        Arc::new(Self {
            id,
            pool_name: settings.executor_pool.clone(),
            bus,
            db,
            vault,
            guard_cache: Arc::new(GuardCache::new(std::time::Duration::from_millis(
                settings.auth_cache_ttl_ms,
            ))),
            targets: Arc::new(TargetCache::new(std::time::Duration::from_millis(
                settings.auth_cache_ttl_ms,
            ))),
            scrub_patterns: PatternCache::default(),
            stream: settings.stream(),
            settings: settings.clone(),
            metrics,
        })
    }
}

fn default_executor_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "executor".to_string());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}", &suffix[..6])
}
