//! Every message type carried on the bus, JSON and camelCase: agent requests to executors and
//! their frames (`exec`), change announcements (`invalidation`), approval events (published to
//! JetStream for notifiers and dashboards) and audit events (JetStream, for the audit writer).
//! Subjects are declared once, in `Subjects`.

mod exec;
mod invalidation;

pub use crate::approval::ApprovalEvent;
pub use crate::audit::AuditEvent;
pub use exec::*;
pub use invalidation::{AuthInvalidation, NotifiersChanged};
