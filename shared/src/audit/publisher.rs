//! Publishes audit events to JetStream off the request path. Events queue in memory and a
//! background task publishes them in batches: whatever is waiting when it wakes (so nothing is
//! delayed when traffic is light, and a busy gateway sends one message per batch instead of one
//! per request). Each batch waits for the stream's acknowledgement and is retried with its batch
//! id as `Nats-Msg-Id` (JetStream drops duplicates) until stored or the retry budget is spent;
//! the approver's writer is idempotent per event id.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::mpsc;

use super::AuditEvent;
use crate::bus::Bus;

#[derive(Clone)]
pub struct AuditPublisher {
    tx: mpsc::UnboundedSender<AuditEvent>,
}

/// How long a batch keeps retrying while JetStream is unreachable.
const RETRY_BUDGET: Duration = Duration::from_secs(120);
/// Largest batch payload (NATS refuses messages over `max_payload`, 1 MiB by default).
const MAX_BATCH_BYTES: usize = 512 * 1024;
/// Most events in one batch.
const MAX_BATCH_EVENTS: usize = 1000;

impl AuditPublisher {
    /// Starts the background publisher on the current runtime.
    pub fn new(bus: &Bus) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, bus.jetstream(), bus.subjects.audit("batch")));
        Self { tx }
    }

    /// Queues an event; it is stored in the background.
    pub fn publish(&self, event: AuditEvent) {
        if self.tx.send(event).is_err() {
            tracing::error!("audit publisher stopped; event lost");
        }
    }
}

async fn run(mut rx: mpsc::UnboundedReceiver<AuditEvent>, js: jetstream::Context, subject: String) {
    while let Some(first) = rx.recv().await {
        let mut buf = BytesMut::new();
        buf.put_u8(b'[');
        let mut count = 0;
        let mut next = Some(first);
        while let Some(event) = next.take() {
            match serde_json::to_vec(&event) {
                Ok(json) => {
                    if count > 0 {
                        buf.put_u8(b',');
                    }
                    buf.put_slice(&json);
                    count += 1;
                }
                Err(e) => tracing::error!(error = %e, "cannot serialize audit event"),
            }
            if count < MAX_BATCH_EVENTS && buf.len() < MAX_BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        buf.put_u8(b']');
        if count > 0 {
            tokio::spawn(publish_batch(js.clone(), subject.clone(), buf.freeze(), count));
        }
    }
}

async fn publish_batch(js: jetstream::Context, subject: String, payload: Bytes, count: usize) -> bool {
    let batch_id = uuid::Uuid::now_v7().to_string();
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", batch_id.as_str());
        let attempt = async {
            js.publish_with_headers(subject.clone(), headers, payload.clone())
                .await?
                .await
                .map_err(|e| async_nats::Error::from(e.to_string()))
                .map(|_| ())
        };
        match attempt.await {
            Ok(()) => return true,
            Err(e) if started.elapsed() < RETRY_BUDGET => {
                tracing::warn!(error = %e, batch = %batch_id, count, "audit publish failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                tracing::error!(error = %e, batch = %batch_id, count, "audit events lost after retries");
                return false;
            }
        }
    }
}
