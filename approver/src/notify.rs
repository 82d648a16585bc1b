//! Approval notifications: `delivery` sends one notifier's events (signed webhook, Slack) from its
//! durable JetStream consumer, with retries and dead letters; `registry` keeps the notifiers
//! admins add through the API (sealed rows) running on every replica. Their API is
//! `handlers::notifiers`, the dead letters' `handlers::dead_letters`.

pub mod delivery;
pub mod registry;
