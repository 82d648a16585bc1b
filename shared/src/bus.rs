//! The NATS bus: connecting (with a clear message when NATS is unreachable), the versioned
//! subjects every role uses (declared here once, never inline), the message types, and the
//! chunked stream protocol between gateways and executors (`stream`, see docs/protocol.md).

pub mod messages;
pub mod stream;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream;

use crate::config::Settings;

/// Whether `s` can be one token of a subject or a stream name: letters, digits, `-`, `_`.
pub fn is_valid_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Subjects and stream names under one installation prefix (default `sg`). Tests use their
/// own prefix so they never see each other's traffic.
#[derive(Debug, Clone)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
        }
    }

    /// Agent HTTP requests for executors of `pool`: `<prefix>.v1.exec.<pool>.http`.
    pub fn exec_http(&self, pool: &str) -> String {
        format!("{}.v1.exec.{pool}.http", self.prefix)
    }

    /// Agent SSH commands for executors of `pool`: `<prefix>.v1.exec.<pool>.ssh`.
    pub fn exec_ssh(&self, pool: &str) -> String {
        format!("{}.v1.exec.{pool}.ssh", self.prefix)
    }

    /// The queue group of the executors of `pool` (one member answers each request).
    pub fn exec_queue(&self, pool: &str) -> String {
        format!("{}-executors-{pool}", self.prefix)
    }

    /// Token and permission changes; every gateway listens (no queue group).
    pub fn auth_events(&self) -> String {
        format!("{}.v1.events.auth", self.prefix)
    }

    /// Notifier changes made through the admin API; every approver listens (no queue group).
    pub fn notifier_events(&self) -> String {
        format!("{}.v1.events.notifiers", self.prefix)
    }

    /// Executors' heartbeats; every approver listens (no queue group).
    pub fn executor_heartbeats(&self) -> String {
        format!("{}.v1.executors.heartbeat", self.prefix)
    }

    /// Audit events of `kind` (`http`, `ssh`), captured by the audit stream.
    pub fn audit(&self, kind: &str) -> String {
        format!("{}.v1.audit.{kind}", self.prefix)
    }

    pub fn audit_wildcard(&self) -> String {
        format!("{}.v1.audit.>", self.prefix)
    }

    /// JetStream stream holding audit events until the approver has committed them.
    pub fn audit_stream(&self) -> String {
        format!("{}_AUDIT", self.prefix.to_ascii_uppercase().replace('-', "_"))
    }

    /// Events of one approval: `<prefix>.v1.approvals.<id>.<event>`.
    pub fn approval_event(&self, id: &str, event: &str) -> String {
        format!("{}.v1.approvals.{id}.{event}", self.prefix)
    }

    /// Every event of one approval (long-polling agents wait on this).
    pub fn approval_events_of(&self, id: &str) -> String {
        format!("{}.v1.approvals.{id}.>", self.prefix)
    }

    /// Every approval event (dashboards, notifiers).
    pub fn approval_events(&self) -> String {
        format!("{}.v1.approvals.>", self.prefix)
    }

    /// JetStream stream keeping approval events for notifiers.
    pub fn approval_stream(&self) -> String {
        format!("{}_APPROVALS", self.prefix.to_ascii_uppercase().replace('-', "_"))
    }

    /// Durable consumer of the audit writer (shared by approver replicas).
    pub fn audit_consumer(&self) -> &'static str {
        "audit-writer"
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error(
        "cannot reach NATS at {url}: {reason}. Start nats-server with JetStream (-js) there, or \
         point Shellgate elsewhere with SHELLGATE_NATS_URL=nats://host:port"
    )]
    Unreachable { url: String, reason: String },
    #[error("JetStream at {url}: {reason}. Is nats-server running with -js?")]
    JetStream { url: String, reason: String },
}

/// A connected client plus a counter bumped on every reconnect: caches that depend on NATS
/// invalidation messages compare it to know they may have missed some.
#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub subjects: Subjects,
    pub reconnects: Arc<AtomicU64>,
}

impl Bus {
    pub async fn connect(settings: &Settings, name: &str) -> Result<Self, BusError> {
        let reconnects = Arc::new(AtomicU64::new(0));
        let counter = reconnects.clone();
        let url = settings.nats_url.clone();
        // `nats://user:password@host:port`: the credentials go in the options, the address alone
        // to the connector.
        let (options, address) = match url::Url::parse(&url) {
            Ok(mut u) if !u.username().is_empty() && u.password().is_some() => {
                let user = u.username().to_string();
                let password = u.password().unwrap_or_default().to_string();
                let _ = u.set_username("");
                let _ = u.set_password(None);
                (
                    async_nats::ConnectOptions::with_user_and_password(user, password),
                    u.to_string(),
                )
            }
            _ => (async_nats::ConnectOptions::new(), url.clone()),
        };
        let client = options
            .name(name)
            .connection_timeout(Duration::from_millis(settings.nats_connect_timeout_ms))
            .event_callback(move |event| {
                let counter = counter.clone();
                async move {
                    match event {
                        // Connecting is ordinary; losing the connection is worth a warning.
                        async_nats::Event::Connected => {
                            counter.fetch_add(1, Ordering::SeqCst);
                            tracing::info!("NATS connected");
                        }
                        async_nats::Event::Disconnected => {
                            counter.fetch_add(1, Ordering::SeqCst);
                            tracing::warn!("NATS connection lost; reconnecting");
                        }
                        async_nats::Event::SlowConsumer(sid) => {
                            tracing::warn!(sid, "NATS slow consumer: messages dropped");
                        }
                        other => tracing::info!(event = ?other, "NATS event"),
                    }
                }
            })
            .connect(address.as_str())
            .await
            .map_err(|e| BusError::Unreachable {
                url: crate::db::redacted_url(&url),
                reason: e.to_string(),
            })?;
        Ok(Self {
            client,
            subjects: Subjects::new(&settings.nats_prefix),
            reconnects,
        })
    }

    pub fn jetstream(&self) -> jetstream::Context {
        jetstream::new(self.client.clone())
    }

    pub fn reconnect_epoch(&self) -> u64 {
        self.reconnects.load(Ordering::SeqCst)
    }

    /// Creates the audit stream if missing (file storage: it survives a NATS restart).
    pub async fn ensure_audit_stream(&self, url: &str) -> Result<jetstream::stream::Stream, BusError> {
        self.ensure_stream(url, self.subjects.audit_stream(), self.subjects.audit_wildcard())
            .await
    }

    /// Creates the approval events stream if missing.
    pub async fn ensure_approval_stream(&self, url: &str) -> Result<jetstream::stream::Stream, BusError> {
        self.ensure_stream(url, self.subjects.approval_stream(), self.subjects.approval_events())
            .await
    }

    /// A file-backed stream kept a week, deduplicating by `Nats-Msg-Id` for two minutes.
    async fn ensure_stream(
        &self,
        url: &str,
        name: String,
        subject: String,
    ) -> Result<jetstream::stream::Stream, BusError> {
        self.jetstream()
            .get_or_create_stream(jetstream::stream::Config {
                name,
                subjects: vec![subject],
                storage: jetstream::stream::StorageType::File,
                retention: jetstream::stream::RetentionPolicy::Limits,
                max_age: Duration::from_secs(7 * 24 * 3600),
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map_err(|e| BusError::JetStream {
                url: crate::db::redacted_url(url),
                reason: e.to_string(),
            })
    }

    /// Publishes an approval event to JetStream (and so to every core subscriber), waiting for
    /// the stream to store it.
    pub async fn publish_approval_event(
        &self,
        event: &crate::approval::ApprovalEvent,
    ) -> Result<(), async_nats::Error> {
        let subject = self
            .subjects
            .approval_event(&event.approval.id.to_string(), event.event.as_str());
        let payload = serde_json::to_vec(event)?;
        // Whoever handles the event (notifiers, dashboards) continues the trace of the request
        // or decision that caused it.
        let mut headers = async_nats::HeaderMap::new();
        {
            use tracing_opentelemetry::OpenTelemetrySpanExt as _;
            crate::telemetry::inject(&tracing::Span::current().context(), &mut headers);
        }
        headers.insert("Nats-Msg-Id", format!("{}.{}", event.approval.id, event.event).as_str());
        self.jetstream()
            .publish_with_headers(subject, headers, payload.into())
            .await?
            .await?;
        Ok(())
    }

    /// Whether the connection is up now (readiness).
    pub fn is_connected(&self) -> bool {
        matches!(self.client.connection_state(), async_nats::connection::State::Connected)
    }
}
