//! The approver role: the human side. It serves the management REST API (admin keys), seals
//! target credentials with the vault *public* key (it cannot open them), announces token and
//! target changes on NATS so gateways drop their caches, and writes audit events from JetStream
//! into Postgres. It keeps the approval queue (decisions, expiry, a live feed) and sends approval
//! notifications (signed webhook, Slack). Later: the dashboard.

pub mod admin_audit;
pub mod audit_writer;
pub mod auth;
pub mod context;
pub mod error;
pub mod events;
pub mod handlers;
pub mod notify;
pub mod routes;
pub mod sweeper;
pub mod validate;
pub mod views;

pub use context::ApproverContext;
