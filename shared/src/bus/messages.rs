//! Every message type carried on the bus, JSON and camelCase: agent requests to executors and
//! their frames (`exec`), executors' heartbeats (`heartbeat`), change announcements (`invalidation`), approval events (`approval`,
//! JetStream, for notifiers and dashboards) and audit events (`audit`, JetStream, for the audit
//! writer). Each module defines its messages; the domain modules (`approval`, `audit`) re-export
//! them.
//! Subjects are declared once, in `Subjects`.

mod approval;
mod audit;
mod exec;
mod heartbeat;
mod invalidation;

pub use approval::ApprovalEvent;
pub use audit::{AdminActor, AuditEvent};
pub use exec::*;
pub use heartbeat::{ALIVE_WITHIN, ExecutorHeartbeat, HEARTBEAT_EVERY};
pub use invalidation::{AuthInvalidation, NotifiersChanged};
