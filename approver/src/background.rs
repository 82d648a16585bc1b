//! The approver's work besides serving the API, started once per process: the audit writer
//! (JetStream → Postgres), the approval expiry sweeper, audit retention, the notifiers the
//! settings configure and those admins add through the API. All stop when `stop` turns true.

use std::sync::Arc;
use std::time::Duration;

use shellgate_shared::bus::Bus;
use shellgate_shared::config::Settings;
use shellgate_shared::crypto::{NotifierKey, VaultPublicKey};
use shellgate_shared::db::DbPool;
use shellgate_shared::metrics::Metrics;
use tokio::sync::watch;

use crate::audit_writer::{self, AuditWriterSettings};
use crate::context::ApproverContext;
use crate::notify::{delivery, registry};
use crate::sweeper;

/// Starts the background tasks and returns the context the API serves with. Runs on an actix
/// runtime: notification delivery uses awc.
pub async fn start_background(
    settings: &Settings,
    bus: Bus,
    db: DbPool,
    vault: VaultPublicKey,
    notifier_key: Option<NotifierKey>,
    metrics: Metrics,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Arc<ApproverContext>> {
    let consumer = audit_writer::prepare(&bus, &settings.nats_url).await?;
    let writer_settings = AuditWriterSettings {
        batch_size: settings.audit_batch_size,
        flush: Duration::from_millis(settings.audit_flush_ms.max(10)),
    };
    tokio::spawn(audit_writer::run(
        consumer,
        db.clone(),
        writer_settings,
        metrics.clone(),
        stop.clone(),
    ));
    bus.ensure_approval_stream(&settings.nats_url).await?;
    let ctx = ApproverContext::new(settings, bus, db, vault, notifier_key, metrics);
    crate::dashboard::start(ctx.clone()).await;
    tokio::spawn(crate::executors::follow(
        ctx.bus.clone(),
        ctx.executors.clone(),
        stop.clone(),
    ));
    tokio::spawn(sweeper::run(
        ctx.db.clone(),
        ctx.bus.clone(),
        ctx.audit.clone(),
        ctx.metrics.clone(),
        stop.clone(),
    ));
    for notifier in delivery::configured(settings) {
        let notify = delivery::NotifySettings::from_settings(settings);
        let consumer = delivery::prepare(&ctx.bus, &settings.nats_url, &notifier.consumer, notify.ack_wait()).await?;
        tracing::info!(notifier = %notifier.name, "approval notifications on");
        actix_rt::spawn(delivery::run(
            notifier,
            consumer,
            notify,
            ctx.db.clone(),
            ctx.metrics.clone(),
            stop.clone(),
        ));
    }
    if let Some(days) = settings.audit_retention_days {
        tokio::spawn(crate::retention::run(ctx.db.clone(), days, stop.clone()));
    }
    // The notifiers added through the API.
    actix_rt::spawn(registry::supervise(ctx.clone(), stop));
    Ok(ctx)
}
