//! The approver role: the human side. It serves the management REST API (admin keys), seals
//! target credentials with the vault *public* key (it cannot open them), announces token and
//! target changes on NATS so gateways drop their caches, and writes audit events from JetStream
//! into Postgres. It keeps the approval queue (decisions, expiry, a live feed) and sends approval
//! notifications (signed webhook, Slack), and serves the dashboard (`dashboard`, docs/dashboard.md).

mod admin_audit;
mod audit_writer;
mod auth;
mod background;
mod context;
pub mod dashboard;
mod error;
mod events;
mod executors;
mod handlers;
mod notify;
mod retention;
mod routes;
mod sweeper;
mod validate;
mod views;

pub use background::start_background;
pub use context::ApproverContext;
pub use routes::configure;
