//! Executors announce themselves (`Subjects::executor_heartbeats`, core NATS, no queue group)
//! every `HEARTBEAT_EVERY`: which pool they serve and how busy they are. Approvers keep the ones
//! heard from lately, for the dashboard's overview; nothing depends on them for correctness.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How often an executor announces itself.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// An executor is shown as alive while its last heartbeat is younger than this (three missed).
pub const ALIVE_WITHIN: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutorHeartbeat {
    /// The executor's id (`SHELLGATE_EXECUTOR_ID`, or host and process).
    pub id: String,
    pub pool: String,
    /// Shellgate's version.
    pub version: String,
    /// HTTP worker threads.
    pub workers: usize,
    /// Requests and commands being served right now.
    pub in_flight: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
}
