//! Shared library of every Shellgate role: typed configuration, the Postgres schema and
//! queries, NATS subjects and message types (with the chunked stream protocol between gateways
//! and executors), credential sealing, HTTP path safety and header policy, audit events and
//! telemetry setup. Nothing here serves requests; the role crates do.

pub mod approval;
pub mod audit;
pub mod bus;
pub mod client_addr;
pub mod config;
pub mod credential;
pub mod crypto;
pub mod db;
pub mod error;
pub mod guard_cache;
pub mod headers;
pub mod health;
pub mod ids;
pub mod metrics;
pub mod ssh;
pub mod states;
pub mod telemetry;
pub mod text_enum;

/// The guard engine (crate `shellgate-guard`).
pub use shellgate_guard as guard;
/// Path safety for the agent HTTP path (in the guard crate, which judges paths too).
pub use shellgate_guard::http_path;
