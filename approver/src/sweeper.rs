//! Expires pending approvals on time even when nobody looks, and announces each expiry.

use std::time::Duration;

use shellgate_shared::approval::{ApprovalEvent, ApprovalEventKind, ApprovalView};
use shellgate_shared::audit::publisher::AuditPublisher;
use shellgate_shared::audit::{AuditEvent, Outcome};
use shellgate_shared::bus::Bus;
use shellgate_shared::db::{DbPool, queries};
use shellgate_shared::metrics::Metrics;
use tokio::sync::watch;

/// How often due approvals are looked for.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

pub async fn run(db: DbPool, bus: Bus, audit: AuditPublisher, metrics: Metrics, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = shutdown.changed() => return,
        }
        let expired = match db.get().await {
            Ok(mut conn) => {
                if let Ok(n) = queries::approvals::count_pending(&mut conn).await {
                    metrics.approver.approvals_pending.set(n);
                }
                queries::approvals::expire_due(&mut conn).await
            }
            Err(e) => {
                tracing::debug!(error = %e, "approval sweep skipped: database unavailable");
                continue;
            }
        };
        match expired {
            Ok(rows) => {
                for row in rows {
                    let view = ApprovalView::from(row);
                    audit.publish(AuditEvent::for_approval(&view, Outcome::Expired, None));
                    let event = ApprovalEvent::new(ApprovalEventKind::Expired, view);
                    if let Err(e) = bus.publish_approval_event(&event).await {
                        tracing::warn!(error = %e, "cannot announce approval expiry");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "approval sweep failed"),
        }
    }
}
