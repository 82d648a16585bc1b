//! Target lookups for executors, cached briefly and dropped on the approver's change events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use shellgate_shared::bus::Bus;
use shellgate_shared::db::models::{SshHostKey, Target, TargetCredential};
use shellgate_shared::db::{DbPool, queries};
use shellgate_shared::ids::TargetId;
use shellgate_shared::states::TargetKind;

#[derive(Debug)]
pub struct ResolvedTarget {
    pub target: Target,
    pub credential: Option<TargetCredential>,
    /// SSH targets: the host keys an admin accepted.
    pub host_keys: Vec<SshHostKey>,
}

/// A cached lookup: when it was made, under which NATS reconnect epoch, and what it found.
type Entry = (Instant, u64, Arc<ResolvedTarget>);

pub struct TargetCache {
    ttl: Duration,
    entries: Mutex<HashMap<TargetId, Entry>>,
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("database unavailable")]
    Db,
}

impl TargetCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn clear(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.clear();
        }
    }

    pub async fn get(&self, db: &DbPool, bus: &Bus, id: TargetId) -> Result<Option<Arc<ResolvedTarget>>, LookupError> {
        let epoch = bus.reconnect_epoch();
        if let Ok(entries) = self.entries.lock()
            && let Some((at, e, t)) = entries.get(&id)
            && at.elapsed() < self.ttl
            && *e == epoch
        {
            return Ok(Some(t.clone()));
        }
        let mut conn = db.get().await.map_err(|_| LookupError::Db)?;
        let found = queries::credentials::find_target_with_credential(&mut conn, id)
            .await
            .map_err(|_| LookupError::Db)?;
        let Some((target, credential)) = found else {
            return Ok(None);
        };
        let host_keys = if target.kind == TargetKind::Ssh {
            queries::host_keys::accepted_for_target(&mut conn, id)
                .await
                .map_err(|_| LookupError::Db)?
        } else {
            Vec::new()
        };
        drop(conn);
        let resolved = Arc::new(ResolvedTarget {
            target,
            credential,
            host_keys,
        });
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(id, (Instant::now(), epoch, resolved.clone()));
        }
        Ok(Some(resolved))
    }

    /// Drops everything on each change event (targets change rarely).
    pub async fn follow_changes(self: Arc<Self>, bus: Bus) {
        let mut sub = match bus.client.subscribe(bus.subjects.auth_events()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot subscribe to change events; target cache relies on its TTL");
                return;
            }
        };
        while sub.next().await.is_some() {
            self.clear();
        }
    }
}
