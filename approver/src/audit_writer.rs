//! The audit writer: a durable JetStream pull consumer that inserts audit events into Postgres in
//! batches and acknowledges them only after the insert committed. While Postgres is down the
//! batch is retried (and JetStream keeps everything not acknowledged), so a restart loses
//! nothing; the unique event id makes redelivery harmless.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, Consumer, pull};
use futures_util::StreamExt;
use shellgate_shared::audit::AuditEvent;
use shellgate_shared::bus::Bus;
use shellgate_shared::db::{DbPool, queries};
use shellgate_shared::metrics::Metrics;
use tokio::sync::watch;

pub struct AuditWriterSettings {
    pub batch_size: usize,
    pub flush: Duration,
}

/// Creates the stream and consumer; returns once both exist.
pub async fn prepare(bus: &Bus, nats_url: &str) -> anyhow::Result<Consumer<pull::Config>> {
    let stream = bus.ensure_audit_stream(nats_url).await?;
    let name = bus.subjects.audit_consumer();
    let consumer = stream
        .get_or_create_consumer(
            name,
            pull::Config {
                durable_name: Some(name.to_string()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                max_ack_pending: 20_000,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the audit consumer: {e}"))?;
    Ok(consumer)
}

pub async fn run(
    mut consumer: Consumer<pull::Config>,
    db: DbPool,
    settings: AuditWriterSettings,
    metrics: Metrics,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut lag_checked = std::time::Instant::now() - Duration::from_secs(60);
    loop {
        if lag_checked.elapsed() >= Duration::from_secs(1) {
            lag_checked = std::time::Instant::now();
            match consumer.info().await {
                Ok(info) => {
                    let pending = info.num_pending + info.num_ack_pending as u64;
                    metrics
                        .approver
                        .audit_pending
                        .set(i64::try_from(pending).unwrap_or(i64::MAX));
                }
                Err(e) => tracing::debug!(error = %e, "audit consumer info unavailable"),
            }
        }
        if *shutdown.borrow() {
            return;
        }
        let batch = consumer
            .fetch()
            .max_messages(settings.batch_size)
            .expires(settings.flush)
            .messages()
            .await;
        let mut batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "audit fetch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut messages = Vec::new();
        while let Some(m) = batch.next().await {
            match m {
                Ok(m) => messages.push(m),
                Err(e) => tracing::warn!(error = %e, "audit fetch interrupted"),
            }
        }
        if messages.is_empty() {
            continue;
        }
        let mut rows = Vec::with_capacity(messages.len());
        for m in &messages {
            // A message holds one event or a batch of them (the gateway's publisher batches).
            let parsed = if m.payload.first() == Some(&b'[') {
                serde_json::from_slice::<Vec<AuditEvent>>(&m.payload)
            } else {
                serde_json::from_slice::<AuditEvent>(&m.payload).map(|e| vec![e])
            };
            match parsed {
                Ok(events) => rows.extend(events.into_iter().map(AuditEvent::into_row)),
                // A malformed message can never be written; keeping it would block the stream.
                Err(e) => tracing::error!(error = %e, subject = %m.subject, "dropping malformed audit message"),
            }
        }
        let mut delay = Duration::from_millis(100);
        let started = std::time::Instant::now();
        loop {
            match insert(&db, &rows).await {
                Ok(n) => {
                    metrics.approver.audit_events_written.inc_by(n as u64);
                    metrics
                        .approver
                        .audit_batch_duration
                        .observe(started.elapsed().as_secs_f64());
                    tracing::debug!(inserted = n, batch = rows.len(), "audit batch committed");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, batch = rows.len(), "audit insert failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => return,
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        for m in &messages {
            if let Err(e) = m.ack().await {
                tracing::warn!(error = %e, "audit ack failed; the event will be redelivered (harmless)");
            }
        }
    }
}

async fn insert(db: &DbPool, rows: &[shellgate_shared::db::models::AuditRow]) -> anyhow::Result<usize> {
    let mut conn = db.get().await?;
    Ok(queries::audit::insert_audit_batch(&mut conn, rows).await?)
}
