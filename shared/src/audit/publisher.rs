//! Publishes audit events to JetStream off the request path. Each publish waits for the
//! stream's acknowledgement and is retried (with the event id as `Nats-Msg-Id`, so JetStream
//! drops duplicates) until it is stored or the retry budget is spent.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;

use super::AuditEvent;
use crate::bus::Bus;

#[derive(Clone)]
pub struct AuditPublisher {
    js: jetstream::Context,
    bus: Bus,
}

/// How long a publish keeps retrying while JetStream is unreachable.
const RETRY_BUDGET: Duration = Duration::from_secs(120);

impl AuditPublisher {
    pub fn new(bus: &Bus) -> Self {
        Self {
            js: bus.jetstream(),
            bus: bus.clone(),
        }
    }

    /// Fire and forget: the event is stored in the background.
    pub fn publish(&self, event: AuditEvent) {
        let this = self.clone();
        tokio::spawn(async move { this.publish_now(event).await });
    }

    /// Stores one event, retrying with backoff; returns whether it was stored.
    pub async fn publish_now(&self, event: AuditEvent) -> bool {
        let subject = self.bus.subjects.audit(&event.kind);
        let payload = match serde_json::to_vec(&event) {
            Ok(p) => bytes::Bytes::from(p),
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize audit event");
                return false;
            }
        };
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.id.to_string().as_str());
            let attempt = async {
                self.js
                    .publish_with_headers(subject.clone(), headers, payload.clone())
                    .await?
                    .await
                    .map_err(|e| async_nats::Error::from(e.to_string()))
                    .map(|_| ())
            };
            match attempt.await {
                Ok(()) => return true,
                Err(e) if started.elapsed() < RETRY_BUDGET => {
                    tracing::warn!(error = %e, event_id = %event.id, "audit publish failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(error = %e, event_id = %event.id, "audit event lost after retries");
                    return false;
                }
            }
        }
    }
}
