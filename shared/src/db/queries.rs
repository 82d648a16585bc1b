//! Query functions. Each takes `&mut AsyncPgConnection` and returns `QueryResult`; the caller
//! owns the checkout (and never holds it across a NATS, HTTP or SSH await).

pub mod admin_keys;
pub mod approvals;
pub mod audit;
pub mod credentials;
pub mod guard_rules;
pub mod host_keys;
pub mod notifications;
pub mod org_policy;
pub mod permissions;
pub mod targets;
pub mod tokens;
pub mod users;
