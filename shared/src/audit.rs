//! Audit events: one per agent action, published by the role that saw it to a JetStream stream
//! and written to Postgres by the approver (see `bus::AUDIT_*`). The event id makes the write
//! idempotent, so redelivery after a crash or a Postgres outage never duplicates a record.

pub mod publisher;

pub use crate::bus::messages::{AdminActor, AuditEvent};

crate::text_enum! {
    /// What became of an action.
    pub enum Outcome {
        /// Executed and completed (whatever status the upstream answered).
        Allowed => "allowed",
        /// Refused by Shellgate before execution (auth, permission, path safety, limits).
        Refused => "refused",
        /// Executed but failed in transit (upstream unreachable, timeout, executor lost).
        Failed => "failed",
        /// The agent went away before the response was complete.
        Cancelled => "cancelled",
        /// The guard asked for a human: an approval was created (202).
        ApprovalRequired => "approval_required",
        /// The guard blocked it; it never runs (403).
        Blocked => "blocked",
        /// Approval lifecycle: a human approved.
        Approved => "approved",
        /// Approval lifecycle: a human denied (or the agent re-sent a denied request).
        Denied => "denied",
        /// Approval lifecycle: nobody decided in time.
        Expired => "expired",
    }
}
