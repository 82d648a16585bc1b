//! Prometheus metrics, served at `/metrics` by every role (OpenMetrics text). One registry per
//! process; in `shellgate up` every role's endpoint shows all of them. Label values are bounded:
//! kinds, outcomes, status codes and target slugs an admin created — never raw paths, commands
//! or anything an agent can vary at will.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Latency buckets from 0.25 ms to about 65 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 19))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `http` or `ssh`.
    pub kind: String,
    /// The target's slug, or `unknown` when the request named no target the token may use.
    pub target: String,
    pub status: u16,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

/// Rule ids are bounded: the built-in pack plus the rules admins created.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub kind: String,
    pub verdict: String,
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: String,
}

/// Gateway: what agents asked and how it went.
#[derive(Clone)]
pub struct GatewayMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<KindLabels, Histogram, fn() -> Histogram>,
    /// From publishing a request to the executor's first frame (the NATS hop plus, for small
    /// answers, the upstream).
    pub executor_first_frame: Histogram,
    pub inflight_streams: Gauge,
    pub guard_verdicts: Family<VerdictLabels, Counter>,
}

/// Executor: upstream calls and capacity.
#[derive(Clone)]
pub struct ExecutorMetrics {
    pub upstream_duration: Family<KindLabels, Histogram, fn() -> Histogram>,
    pub inflight: Gauge,
    pub workers: Family<PoolLabels, Gauge>,
    /// SSH connections held open in the executor's pool.
    pub ssh_connections: Gauge,
    /// SSH exec channels in use.
    pub ssh_channels: Gauge,
    /// SSH connection attempts by outcome (`ok`, `host_key_unknown`, `ssh_auth_failed`, …).
    pub ssh_connects: Family<OutcomeLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

/// Approver: the audit pipeline.
#[derive(Clone)]
pub struct ApproverMetrics {
    pub audit_events_written: Counter,
    pub audit_batch_duration: Histogram,
    /// Audit events stored in JetStream but not yet written to Postgres.
    pub audit_pending: Gauge,
    /// Approvals waiting for a human.
    pub approvals_pending: Gauge,
    /// From an approval's creation to a human's decision.
    pub approval_decision: Histogram,
    /// Approval notifications by notifier and outcome (`delivered`, `retry`, `dead_letter`).
    pub notifications: Family<NotifyLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifyLabels {
    pub notifier: String,
    pub outcome: String,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub gateway: GatewayMetrics,
    pub executor: ExecutorMetrics,
    pub approver: ApproverMetrics,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("shellgate");
        let gateway = GatewayMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            executor_first_frame: latency_histogram(),
            inflight_streams: Gauge::default(),
            guard_verdicts: Family::default(),
        };
        let executor = ExecutorMetrics {
            upstream_duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            inflight: Gauge::default(),
            workers: Family::default(),
            ssh_connections: Gauge::default(),
            ssh_channels: Gauge::default(),
            ssh_connects: Family::default(),
        };
        let approver = ApproverMetrics {
            audit_events_written: Counter::default(),
            audit_batch_duration: latency_histogram(),
            audit_pending: Gauge::default(),
            approvals_pending: Gauge::default(),
            approval_decision: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            notifications: Family::default(),
        };
        let g = registry.sub_registry_with_prefix("gateway");
        g.register(
            "requests",
            "Agent requests by kind, target, status and outcome",
            gateway.requests.clone(),
        );
        g.register(
            "request_duration_seconds",
            "Agent request duration, to the last byte",
            gateway.duration.clone(),
        );
        g.register(
            "executor_first_frame_seconds",
            "Time from publishing a request to the executor's first frame",
            gateway.executor_first_frame.clone(),
        );
        g.register(
            "inflight_streams",
            "Responses being streamed to agents",
            gateway.inflight_streams.clone(),
        );
        g.register(
            "guard_verdicts",
            "Guard verdicts by kind, verdict and rule",
            gateway.guard_verdicts.clone(),
        );
        let e = registry.sub_registry_with_prefix("executor");
        e.register(
            "upstream_duration_seconds",
            "Time for the upstream to answer with its response head",
            executor.upstream_duration.clone(),
        );
        e.register(
            "inflight_requests",
            "Requests being executed",
            executor.inflight.clone(),
        );
        e.register("workers", "Executor worker threads by pool", executor.workers.clone());
        e.register(
            "ssh_connections",
            "SSH connections held open in the pool",
            executor.ssh_connections.clone(),
        );
        e.register(
            "ssh_channels",
            "SSH exec channels in use",
            executor.ssh_channels.clone(),
        );
        e.register(
            "ssh_connects",
            "SSH connection attempts by outcome",
            executor.ssh_connects.clone(),
        );
        let a = registry.sub_registry_with_prefix("audit");
        a.register(
            "events_written",
            "Audit events written to Postgres",
            approver.audit_events_written.clone(),
        );
        a.register(
            "batch_duration_seconds",
            "Time to write one batch of audit events",
            approver.audit_batch_duration.clone(),
        );
        a.register(
            "pending_events",
            "Audit events in JetStream not yet written to Postgres",
            approver.audit_pending.clone(),
        );
        let ap = registry.sub_registry_with_prefix("approvals");
        ap.register(
            "pending",
            "Approvals waiting for a human",
            approver.approvals_pending.clone(),
        );
        ap.register(
            "decision_seconds",
            "Time from an approval's creation to a human's decision",
            approver.approval_decision.clone(),
        );
        ap.register(
            "notifications",
            "Approval notifications by notifier and outcome",
            approver.notifications.clone(),
        );
        Self {
            registry: Arc::new(registry),
            gateway,
            executor,
            approver,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Content type of `Metrics::encode`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
