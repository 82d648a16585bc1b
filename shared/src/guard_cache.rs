//! The guard each target is judged by: the built-in pack plus the admin's global rules plus the
//! target's own, compiled once and cached briefly. Any rule change announced on NATS drops the
//! cache. When Postgres is unreachable a cached guard is used past its lifetime, and a target
//! with none fails closed (an admin's extra rule is never silently dropped).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::bus::Bus;
use crate::db::{DbPool, queries};
use crate::guard::{Guard, Rule};
use crate::ids::TargetId;

#[derive(Debug, thiserror::Error)]
pub enum GuardsError {
    #[error("guard rules unavailable")]
    Unavailable,
}

pub struct GuardCache {
    ttl: Duration,
    entries: Mutex<HashMap<TargetId, (Instant, Arc<Guard>)>>,
}

impl GuardCache {
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

    pub async fn for_target(&self, db: &DbPool, target: TargetId) -> Result<Arc<Guard>, GuardsError> {
        let cached = self.entries.lock().ok().and_then(|e| e.get(&target).cloned());
        if let Some((at, guard)) = &cached
            && at.elapsed() < self.ttl
        {
            return Ok(guard.clone());
        }
        match load(db, target).await {
            Ok(guard) => {
                let guard = Arc::new(guard);
                if let Ok(mut e) = self.entries.lock() {
                    if e.len() > 10_000 {
                        e.clear();
                    }
                    e.insert(target, (Instant::now(), guard.clone()));
                }
                Ok(guard)
            }
            Err(e) => {
                tracing::warn!(error = %e, target_id = %target, "cannot load guard rules");
                cached.map(|(_, g)| g).ok_or(GuardsError::Unavailable)
            }
        }
    }

    /// Drops cached guards on every change announcement, for as long as the process runs.
    pub async fn follow_changes(self: Arc<Self>, bus: Bus) -> Result<(), async_nats::Error> {
        let mut sub = bus.client.subscribe(bus.subjects.auth_events()).await?;
        tokio::spawn(async move {
            while sub.next().await.is_some() {
                self.clear();
            }
        });
        Ok(())
    }
}

async fn load(db: &DbPool, target: TargetId) -> anyhow::Result<Guard> {
    let rows = {
        let mut conn = db.get().await?;
        queries::guard_rules::rules_for_target(&mut conn, target).await?
    };
    if rows.is_empty() {
        return Ok(Guard::builtin());
    }
    let rules = rows
        .into_iter()
        .map(|r| serde_json::from_value::<Rule>(r.rule))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Guard::with_rules(&rules)?)
}
