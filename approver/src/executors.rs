//! The executors this approver heard from lately (their NATS heartbeats), for the dashboard's
//! overview: which pools have a live executor, and how busy each is.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use futures_util::StreamExt as _;
use shellgate_shared::bus::Bus;
use shellgate_shared::bus::messages::{ALIVE_WITHIN, ExecutorHeartbeat};
use tokio::sync::watch;

/// At most this many executors are remembered (past it, the oldest are forgotten first).
const MAX_KNOWN: usize = 10_000;

#[derive(Default)]
pub struct Executors {
    seen: Mutex<HashMap<String, (ExecutorHeartbeat, Instant)>>,
}

impl Executors {
    pub fn record(&self, beat: ExecutorHeartbeat) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.retain(|_, (_, at)| at.elapsed() < ALIVE_WITHIN);
            if seen.len() < MAX_KNOWN || seen.contains_key(&beat.id) {
                seen.insert(beat.id.clone(), (beat, Instant::now()));
            }
        }
    }

    /// The executors heard from within `ALIVE_WITHIN`, by pool then id.
    pub fn alive(&self) -> Vec<ExecutorHeartbeat> {
        let mut alive: Vec<ExecutorHeartbeat> = self
            .seen
            .lock()
            .map(|seen| {
                seen.values()
                    .filter(|(_, at)| at.elapsed() < ALIVE_WITHIN)
                    .map(|(beat, _)| beat.clone())
                    .collect()
            })
            .unwrap_or_default();
        alive.sort_by(|a, b| (&a.pool, &a.id).cmp(&(&b.pool, &b.id)));
        alive
    }
}

/// Listens to the heartbeats until `stop`.
pub async fn follow(bus: Bus, executors: std::sync::Arc<Executors>, mut stop: watch::Receiver<bool>) {
    let mut sub = match bus.client.subscribe(bus.subjects.executor_heartbeats()).await {
        Ok(sub) => sub,
        Err(e) => {
            tracing::warn!(error = %e, "cannot follow executor heartbeats; the overview will list none");
            return;
        }
    };
    loop {
        tokio::select! {
            msg = sub.next() => match msg {
                Some(msg) => match serde_json::from_slice::<ExecutorHeartbeat>(&msg.payload) {
                    Ok(beat) => executors.record(beat),
                    Err(e) => tracing::debug!(error = %e, "unreadable heartbeat ignored"),
                },
                None => return,
            },
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(id: &str, pool: &str) -> ExecutorHeartbeat {
        ExecutorHeartbeat {
            id: id.into(),
            pool: pool.into(),
            version: "0".into(),
            workers: 1,
            in_flight: 0,
            started_at: time::OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn the_latest_beat_of_each_executor_is_kept_in_pool_order() {
        let e = Executors::default();
        e.record(beat("b", "gpu"));
        e.record(beat("a", "default"));
        let mut again = beat("b", "gpu");
        again.in_flight = 3;
        e.record(again);
        let alive = e.alive();
        assert_eq!(
            alive
                .iter()
                .map(|b| (b.pool.as_str(), b.id.as_str(), b.in_flight))
                .collect::<Vec<_>>(),
            [("default", "a", 0), ("gpu", "b", 3)]
        );
    }
}
