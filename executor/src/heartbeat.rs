//! Announces this executor on NATS every few seconds (pool, version, in-flight work), so the
//! dashboard can show which executors are alive per pool.

use std::sync::Arc;

use shellgate_shared::bus::messages::{ExecutorHeartbeat, HEARTBEAT_EVERY};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::context::ExecutorContext;

pub async fn run(ctx: Arc<ExecutorContext>, workers: usize, mut shutdown: watch::Receiver<bool>) {
    let subject = ctx.bus.subjects.executor_heartbeats();
    let started_at = OffsetDateTime::now_utc();
    loop {
        let beat = ExecutorHeartbeat {
            id: ctx.id.clone(),
            pool: ctx.pool_name.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            workers,
            in_flight: ctx.metrics.executor.inflight.get(),
            started_at,
        };
        match serde_json::to_vec(&beat) {
            Ok(payload) => {
                if let Err(e) = ctx.bus.client.publish(subject.clone(), payload.into()).await {
                    tracing::debug!(error = %e, "heartbeat not sent");
                }
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat not encoded"),
        }
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}
