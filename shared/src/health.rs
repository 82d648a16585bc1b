//! Liveness and readiness bodies shared by every role's `/health` and `/ready`.

use serde_json::{Value, json};

use crate::bus::Bus;
use crate::db::{self, DbPool};

/// `/health`: the process is up; no dependency is checked.
pub fn ok() -> Value {
    json!({"status": "ok"})
}

/// `/ready`: whether this role's Postgres and NATS connections work now.
pub async fn readiness(pool: &DbPool, bus: &Bus) -> (bool, Value) {
    let postgres = db::ping(pool).await;
    let nats = bus.is_connected();
    let ok = postgres && nats;
    let body = json!({
        "status": if ok { "ready" } else { "not_ready" },
        "postgres": if postgres { "ok" } else { "unavailable" },
        "nats": if nats { "ok" } else { "unavailable" },
    });
    (ok, body)
}
