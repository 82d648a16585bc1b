//! Approval events, published to JetStream for notifiers, dashboards and waiting agents.

use serde::{Deserialize, Serialize};

use crate::approval::{ApprovalEventKind, ApprovalView};

/// Published on `<p>.v1.approvals.<id>.<event>` (JetStream stream `<P>_APPROVALS`): `requested`,
/// `approved`, `denied`, `expired`, `used`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalEvent {
    pub event: ApprovalEventKind,
    pub approval: ApprovalView,
}

impl ApprovalEvent {
    pub fn new(event: ApprovalEventKind, approval: ApprovalView) -> Self {
        Self { event, approval }
    }
}
