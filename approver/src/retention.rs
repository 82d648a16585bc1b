//! Audit retention: with `SHELLGATE_AUDIT_RETENTION_DAYS` set, events older than that are deleted
//! at start and then every hour, in batches so no statement holds locks for long. Every approver
//! replica runs it; their deletes do not conflict (a row deleted twice is deleted once).

use std::time::Duration;

use shellgate_shared::db::{DbPool, queries};
use time::OffsetDateTime;
use tokio::sync::watch;

/// How often old events are looked for.
const EVERY: Duration = Duration::from_secs(60 * 60);
/// Events deleted per statement.
const BATCH: i64 = 5_000;

pub async fn run(db: DbPool, days: u32, mut shutdown: watch::Receiver<bool>) {
    loop {
        match prune(&db, days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, days, "audit events past their retention deleted"),
            Err(e) => tracing::warn!(error = %e, "audit retention pass failed; retrying later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Deletes every event older than `days`; how many.
async fn prune(db: &DbPool, days: u32) -> anyhow::Result<usize> {
    let cutoff = OffsetDateTime::now_utc() - time::Duration::days(i64::from(days));
    let mut conn = db.get().await?;
    let mut total = 0;
    loop {
        let n = queries::audit::delete_older_than(&mut conn, cutoff, BATCH).await?;
        total += n;
        if (n as i64) < BATCH {
            return Ok(total);
        }
    }
}
